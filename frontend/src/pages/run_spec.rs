//! The run page's Spec tab: what the run was made from at every stage, from the Polyaxonfile
//! as submitted to the objects Kubernetes would receive, each to copy or save; and the way back
//! to the editor with a copy of it.

use leptos::prelude::*;
use leptos_router::components::A;
use shared::api::{Run, RunSpec};

use crate::api;
use crate::components::tabs::tab_buttons;
use crate::components::yaml_view::{documents, yaml_view};

/// The Spec tab.
#[component]
pub fn RunSpecView(run: Run) -> impl IntoView {
    let spec = LocalResource::new({
        let (project, uuid) = (run.project.clone(), run.uuid.clone());
        move || {
            let (project, uuid) = (project.clone(), uuid.clone());
            async move { api::run_spec(&project, &uuid).await }
        }
    });
    let stage = RwSignal::new(Stage::Polyaxonfile);
    let edit = format!("/new?project={}&copy={}", run.project, run.uuid);
    view! {
        <section class="panel" aria-label="Spec">
            <div class="spec-tools">
                <div class="tabs" role="tablist" aria-label="Stages">
                    {tab_buttons(Stage::ALL, Stage::title, move || stage.get(), move |each| stage.set(each))}
                </div>
                {run.raw_content.is_some().then(|| view! { <A href=edit attr:class="button">"Copy to the editor"</A> })}
            </div>
            {move || match spec.get() {
                None => view! { <p class="muted">"Loading…"</p> }.into_any(),
                Some(Err(error)) => view! { <p class="problem" role="alert">{error.to_string()}</p> }.into_any(),
                Some(Ok(spec)) => shown(stage.get(), spec),
            }}
        </section>
    }
}

/// The stages a run goes through before Kubernetes runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Polyaxonfile,
    Operation,
    Resource,
    Kubernetes,
}

impl Stage {
    const ALL: [Stage; 4] = [
        Stage::Polyaxonfile,
        Stage::Operation,
        Stage::Resource,
        Stage::Kubernetes,
    ];

    fn title(self) -> &'static str {
        match self {
            Stage::Polyaxonfile => "Polyaxonfile",
            Stage::Operation => "Compiled operation",
            Stage::Resource => "Polyaxon resource",
            Stage::Kubernetes => "Kubernetes objects",
        }
    }
}

fn shown(stage: Stage, spec: RunSpec) -> AnyView {
    let none = || Some("Its client ran this run: nothing was submitted or compiled.".to_owned());
    match stage {
        Stage::Polyaxonfile => yaml_view(spec.content, "polyaxonfile.yaml", none()),
        Stage::Operation => yaml_view(
            spec.compiled.as_ref().map(shared::yaml::emit),
            "operation.yaml",
            none(),
        ),
        Stage::Resource => yaml_view(
            spec.resource.as_ref().map(shared::yaml::emit),
            "resource.yaml",
            none(),
        ),
        Stage::Kubernetes => yaml_view(
            (!spec.native.is_empty()).then(|| documents(&spec.native)),
            "kubernetes.yaml",
            spec.native_error.or_else(none),
        ),
    }
}
