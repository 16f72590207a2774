//! A project's runs: the runs table ([`RunsTable`]) of this project, read again as the server
//! pushes each change to them, and the project's versions below it.

use std::time::Duration;

use frontend::runs_view::Scope;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use shared::api::{ListResponse, Run};

use crate::api::{self, RunsWindow};
use crate::components::runs_table::{Reply, RunsTable};
use crate::pages::project_versions::ProjectVersions;
use crate::pages::runs::source;

/// Changes pushed by the server are gathered for this long before the rows are read again:
/// a burst of submissions costs one read, not one per run.
const SETTLE: Duration = Duration::from_millis(300);

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
    let changes = RwSignal::new(0_u64);
    let settling = StoredValue::new(false);
    let watching = api::watch_runs(&project, move |_| {
        if settling.try_get_value() != Some(false) {
            return;
        }
        settling.set_value(true);
        set_timeout(
            move || {
                settling.try_set_value(false);
                changes.try_update(|changes| *changes += 1);
            },
            SETTLE,
        );
    });
    let watch = StoredValue::new_local(watching.ok());
    on_cleanup(move || watch.set_value(None));

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
