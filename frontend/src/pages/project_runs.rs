//! A project's runs: the runs table ([`RunsTable`]) of this project, read again as the server
//! pushes each change to them, and the project's versions below it.

use frontend::runs_view::Scope;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use shared::api::{ListResponse, Run};

use crate::api::{self, RunsWindow};
use crate::components::runs_table::{Reply, RunsTable};
use crate::pages::project_versions::ProjectVersions;
use crate::pages::runs::{settled_changes, source};

/// The runs page of one project.
#[component]
pub fn ProjectRuns() -> impl IntoView {
    let params = use_params_map();
    let project = Memo::new(move |_| params.read().get("name").unwrap_or_default());
    view! {
        <header class="page-header">
            <h1>{move || project.get()}</h1>
            <p>"The project's runs. Statuses update as the server records them."</p>
        </header>
        // Another project is another table, read and watched anew.
        {move || view! { <ProjectTable project=project.get() /> }}
        <ProjectVersions project=project />
    }
}

/// The table of `project`'s runs, following the server's changes to them.
#[component]
fn ProjectTable(project: String) -> impl IntoView {
    let changes = settled_changes(&project);

    let listed = project.clone();
    let list = move |window: RunsWindow| -> Reply<ListResponse<Run>> {
        let project = listed.clone();
        Box::pin(async move { api::runs(&project, &window).await })
    };
    let export_name = format!("{project}-runs.csv");
    let empty = move || {
        view! {
            "No runs match. Submit one with "
            <code>"polyaxon run -f polyaxonfile.yaml -p "{project.clone()}</code>
            "."
        }
    };
    view! {
        <RunsTable
            source=source(list)
            scope=Scope::Project
            changes=changes
            export_name=export_name
            empty=empty
        />
    }
}
