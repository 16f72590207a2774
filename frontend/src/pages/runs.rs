//! Every project's runs in one table (`/runs`): the project's table with a project column,
//! filtered and sorted on the server across projects, metric summaries included
//! (`metrics.loss.min:<0.1`), exported as CSV or compared.

use std::rc::Rc;
use std::time::Duration;

use frontend::runs_view::Scope;
use leptos::prelude::*;
use leptos_router::components::A;
use shared::api::{ListResponse, Run};

use crate::api::{self, RunsWindow};
use crate::components::page_header::PageHeader;
use crate::components::runs_table::{BulkAction, Reply, RunsSource, RunsTable};

/// How often the rows in view are read again. The server pushes changes one project at a
/// time, and a stream per project would take up the few connections a browser opens to one
/// server, so this page asks instead, and not while it is hidden.
const REFRESH: Duration = Duration::from_secs(5);

/// The runs page across projects.
#[component]
pub fn Runs() -> impl IntoView {
    let changes = RwSignal::new(0_u64);
    let ticking = set_interval_with_handle(
        move || {
            if !document().hidden() {
                changes.try_update(|changes| *changes += 1);
            }
        },
        REFRESH,
    )
    .ok();
    on_cleanup(move || {
        if let Some(ticking) = ticking {
            ticking.clear();
        }
    });
    let list = |window: RunsWindow| -> Reply<ListResponse<Run>> {
        Box::pin(async move { api::all_runs(&window).await })
    };
    view! {
        <PageHeader
            title="Runs"
            summary="Every project's runs: filter and sort them by their inputs and metrics, compare them, export them."
        />
        <RunsTable
            source=source(list)
            scope=Scope::AllProjects
            changes=changes
            export_name="runs.csv".to_owned()
            empty=|| view! { "No runs match. " <A href="/new">"Start one"</A> "." }
        />
    }
}

/// The server behind a runs table: `list` reads its rows; actions go to each run's project.
pub fn source(list: impl Fn(RunsWindow) -> Reply<ListResponse<Run>> + 'static) -> RunsSource {
    RunsSource {
        list: Rc::new(list),
        act: Rc::new(|action, project, uuids| {
            Box::pin(async move {
                match action {
                    BulkAction::Stop => api::stop_runs(&project, &uuids).await,
                    BulkAction::Tag(tags) => api::tag_runs(&project, &uuids, &tags).await,
                    BulkAction::Delete => api::delete_runs(&project, &uuids).await,
                }
            })
        }),
    }
}

/// Changes pushed by the server are gathered for this long before the rows are read again:
/// a burst of submissions costs one read, not one per run.
const SETTLE: Duration = Duration::from_millis(300);

/// A counter bumped once per burst of the server's changes to `project`'s runs: what a runs
/// table's `changes` follows. The watch ends with the view that asked for it.
pub fn settled_changes(project: &str) -> RwSignal<u64> {
    let changes = RwSignal::new(0_u64);
    let settling = StoredValue::new(false);
    let watching = api::watch_runs(project, move |_| {
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
    changes
}
