//! One run: its status with every condition's reason and message, and its logs, streamed live
//! from the server and then kept as the archive.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use leptos_router::hooks::{query_signal, use_navigate, use_params_map};
use shared::api::{Run, Status};

use crate::api;
use crate::components::status_badge::StatusBadge;
use crate::components::tabs::tab_buttons;
use crate::format::{minute, seconds};
use crate::pages::run_artifacts::RunArtifacts;
use crate::pages::run_logs::LogsView;
use crate::pages::run_metrics::RunMetrics;
use crate::pages::run_pipeline::RunPipeline;
use crate::pages::run_spec::RunSpecView;
use crate::pages::run_terminal::RunTerminal;
use frontend::log_view::LogBook;

/// The run page.
#[component]
pub fn RunPage() -> impl IntoView {
    let params = use_params_map();
    let project = move || params.read().get("name").unwrap_or_default();
    let uuid = move || params.read().get("uuid").unwrap_or_default();
    // Loaded again when the log stream ends, so the header shows the final status and times.
    let reload = RwSignal::new(0_u32);
    let run = LocalResource::new(move || {
        reload.track();
        let (project, uuid) = (project(), uuid());
        async move { api::run(&project, &uuid).await }
    });
    // The server pushes this run's changes: the header follows its status as it happens.
    let watch = StoredValue::new_local(None::<api::RunWatch>);
    Effect::new(move |_| {
        let (project, own) = (project(), uuid());
        let watching = api::watch_runs(&project, move |changed| {
            if changed.as_deref().is_none_or(|changed| changed == own) {
                reload.update(|count| *count += 1);
            }
        });
        watch.set_value(watching.ok());
    });
    on_cleanup(move || watch.set_value(None));
    let book = RwSignal::new(LogBook::default());
    let ended = RwSignal::new(None::<Status>);
    let stream_problem = RwSignal::new(None::<String>);
    // The run whose logs are shown: the page stays when the route moves to another run (a
    // restart), and its logs must not mix with the next run's.
    let streaming = StoredValue::new(None::<String>);
    Effect::new(move || {
        let Some(Ok(run)) = run.get() else {
            return;
        };
        // A pipeline prints nothing itself: its runs do.
        if PIPELINE_KINDS.contains(&run.kind.as_str()) {
            return;
        }
        if streaming.with_value(|shown| shown.as_deref() == Some(run.uuid.as_str())) {
            return;
        }
        streaming.set_value(Some(run.uuid.clone()));
        book.set(LogBook::default());
        ended.set(None);
        stream_problem.set(None);
        spawn_local(async move {
            let own = run.uuid.clone();
            let current =
                move || streaming.with_value(|shown| shown.as_deref() == Some(own.as_str()));
            let followed = api::follow_logs(&run, |batch| {
                if !current() {
                    return;
                }
                book.update(|book| book.push(batch.lines));
                if let Some(status) = batch.done {
                    ended.set(Some(status));
                }
            })
            .await;
            if !current() {
                return;
            }
            if let Err(error) = followed {
                stream_problem.set(Some(error.to_string()));
            }
            reload.update(|count| *count += 1);
        });
    });
    let (tab_query, set_tab_query) = query_signal::<String>("tab");
    // A pipeline's page is about its runs; a run's, about its logs.
    let pipeline = Memo::new(move |_| {
        run.get()
            .and_then(Result::ok)
            .is_some_and(|run| PIPELINE_KINDS.contains(&run.kind.as_str()))
    });
    let tab = Memo::new(move |_| Tab::from_query(tab_query.get().as_deref(), pipeline.get()));
    // The terminal depends only on which run it is and whether it runs: a status reload that
    // changes neither must not close the session.
    let live = Memo::new(move |_| {
        run.get()
            .and_then(Result::ok)
            .map(|run| (run.uuid.clone(), run.status == Status::Running))
    });
    // The run as first loaded, changing only when the page moves to another run.
    let shown = Memo::new(move |before: Option<&Option<Run>>| {
        let now = run.get().and_then(Result::ok);
        match (before.cloned().flatten(), now) {
            (Some(before), Some(now)) if before.uuid == now.uuid => Some(before),
            (before, now) => now.or(before),
        }
    });
    view! {
        {move || match run.get() {
            None => view! { <p class="muted">"Loading the run…"</p> }.into_any(),
            Some(Err(error)) => {
                view! { <p class="problem" role="alert">{error.to_string()}</p> }.into_any()
            }
            Some(Ok(run)) => header(run).into_any(),
        }}
        <nav class="run-tabs" role="tablist" aria-label="Run sections">
            {move || tab_buttons(Tab::shown(pipeline.get()), Tab::title, move || tab.get(), move |each| set_tab_query.set(Some(each.key().to_owned())))}
        </nav>
        {move || match (tab.get(), run.get()) {
            (Tab::Overview, Some(Ok(run))) => overview(run).into_any(),
            _ => ().into_any(),
        }}
        // Read once per visit of the tab, not again on every status change.
        {move || (tab.get() == Tab::Runs).then(|| {
            shown.get().map(|run| view! { <RunPipeline run=run /> })
        })}
        {move || (tab.get() == Tab::Spec).then(|| {
            shown.get().map(|run| view! { <RunSpecView run=run /> })
        })}
        {move || (tab.get() == Tab::Artifacts).then(|| {
            shown.get().map(|run| view! { <RunArtifacts run=run /> })
        })}
        // Made again when the run ends, so a finished run stops reading its metrics.
        {move || (tab.get() == Tab::Metrics).then(|| {
            live.get().and_then(|_| run.get_untracked()?.ok()).map(|run| view! { <RunMetrics run=run /> })
        })}
        {move || (tab.get() == Tab::Terminal).then(|| match live.get() {
            Some((_, true)) => {
                shown.get_untracked().map(|run| view! { <RunTerminal run=run /> }).into_any()
            }
            Some((_, false)) => view! {
                <section class="panel" aria-label="Terminal">
                    <p class="muted">"A terminal opens inside a running run; this one is not running."</p>
                </section>
            }
                .into_any(),
            None => ().into_any(),
        })}
        <div hidden=move || tab.get() != Tab::Logs>
            <LogsView book=book ended=ended problem=stream_problem />
        </div>
    }
}

/// The kinds of run whose children a scheduler makes.
const PIPELINE_KINDS: &[&str] = &["matrix", "dag", "schedule"];

/// The sections of a run's page; the URL's `tab` names the one shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tab {
    Runs,
    Overview,
    Logs,
    Terminal,
    Spec,
    Artifacts,
    Metrics,
}

impl Tab {
    const ALL: [Tab; 6] = [
        Tab::Overview,
        Tab::Logs,
        Tab::Metrics,
        Tab::Terminal,
        Tab::Spec,
        Tab::Artifacts,
    ];

    /// A pipeline's tabs: it has no logs, terminal or artifacts of its own.
    const PIPELINE: [Tab; 3] = [Tab::Runs, Tab::Overview, Tab::Spec];

    fn shown(pipeline: bool) -> Vec<Tab> {
        if pipeline {
            Tab::PIPELINE.to_vec()
        } else {
            Tab::ALL.to_vec()
        }
    }

    fn key(self) -> &'static str {
        match self {
            Tab::Runs => "runs",
            Tab::Overview => "overview",
            Tab::Logs => "logs",
            Tab::Terminal => "terminal",
            Tab::Spec => "spec",
            Tab::Artifacts => "artifacts",
            Tab::Metrics => "metrics",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Tab::Runs => "Runs",
            Tab::Overview => "Overview",
            Tab::Logs => "Logs",
            Tab::Terminal => "Terminal",
            Tab::Spec => "Spec",
            Tab::Artifacts => "Artifacts",
            Tab::Metrics => "Metrics",
        }
    }

    /// The tab a URL names; the first one shown when it names none.
    fn from_query(key: Option<&str>, pipeline: bool) -> Tab {
        let shown = Tab::shown(pipeline);
        shown
            .iter()
            .copied()
            .find(|tab| Some(tab.key()) == key)
            .unwrap_or(if pipeline { Tab::Runs } else { Tab::Logs })
    }
}

fn header(run: Run) -> impl IntoView {
    let name = run.name.clone().unwrap_or_else(|| run.uuid.clone());
    let timing = match (run.started_at, run.duration) {
        (Some(started), Some(duration)) => {
            format!(
                "started {}, took {}",
                minute(&started.to_string()),
                seconds(duration)
            )
        }
        (Some(started), None) => format!("started {}", minute(&started.to_string())),
        _ => format!("created {}", minute(&run.created_at.to_string())),
    };
    let (project, uuid, done) = (run.project.clone(), run.uuid.clone(), run.status.is_done());
    let service = run.service_path();
    view! {
        <header class="page-header run-header">
            <div>
                <h1>{name}" "<StatusBadge status=run.status /></h1>
                <p>
                    <code>{run.uuid.clone()}</code>" · "{run.kind.clone()}" · runtime "
                    {run.settings.runtime.clone()}" · "{timing}
                </p>
            </div>
            <RunActions project=project uuid=uuid done=done service=service />
        </header>
    }
}

/// What the run is: its description, tags, inputs and outputs, and every status it went
/// through with the reason and message.
fn overview(run: Run) -> impl IntoView {
    let values = |values: Option<serde_json::Map<String, serde_json::Value>>| {
        let values = values.unwrap_or_default();
        if values.is_empty() {
            return view! { <p class="muted">"None."</p> }.into_any();
        }
        view! {
            <dl class="values">
                {values
                    .into_iter()
                    .map(|(name, value)| {
                        let value = match value {
                            serde_json::Value::String(text) => text,
                            other => other.to_string(),
                        };
                        view! {
                            <dt>{name}</dt>
                            <dd><code>{value}</code></dd>
                        }
                    })
                    .collect_view()}
            </dl>
        }
        .into_any()
    };
    let original = run.original.clone().map(|original| {
        let href = format!("/projects/{}/runs/{}", run.project, original.uuid);
        let name = original.name.unwrap_or_else(|| original.uuid.clone());
        view! { <p>{format!("A {} of ", original.kind)}<A href=href>{name}</A>"."</p> }
    });
    view! {
        <section class="panel overview" aria-label="Overview">
            <div class="overview-grid">
                <div>
                    <h2>"Description"</h2>
                    <p>{run.description.clone().unwrap_or_else(|| "No description.".to_owned())}</p>
                    {original}
                    <h2>"Tags"</h2>
                    <p class="tags">
                        {if run.tags.is_empty() {
                            view! { <span class="muted">"None."</span> }.into_any()
                        } else {
                            run.tags
                                .iter()
                                .map(|tag| view! { <span class="tag">{tag.clone()}</span> })
                                .collect_view()
                                .into_any()
                        }}
                    </p>
                </div>
                <div>
                    <h2>"Inputs"</h2>
                    {values(run.inputs.clone())}
                </div>
                <div>
                    <h2>"Outputs"</h2>
                    {values(run.outputs.clone())}
                </div>
            </div>
        </section>
        <section class="panel" aria-label="Status history">
            <h2>"Status history"</h2>
            <table class="listing conditions">
                <thead>
                    <tr>
                        <th scope="col">"Status"</th>
                        <th scope="col">"Reason"</th>
                        <th scope="col">"Message"</th>
                        <th scope="col">"Since"</th>
                    </tr>
                </thead>
                <tbody>
                    {run
                        .status_conditions
                        .into_iter()
                        .map(|condition| {
                            view! {
                                <tr>
                                    <th scope="row">
                                        <StatusBadge status=condition.kind />
                                    </th>
                                    <td>{condition.reason.unwrap_or_default()}</td>
                                    <td>{condition.message.unwrap_or_default()}</td>
                                    <td>
                                        {condition
                                            .last_transition_time
                                            .map(|at| at.to_string()[11..19].to_owned())
                                            .unwrap_or_default()}
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </section>
    }
}

/// Open (a service's page, in a new tab), stop, restart and delete; what a run allows depends on
/// whether it ended. A service opened early shows the proxy's "starting" page, which reloads
/// itself until the service answers.
#[component]
fn RunActions(project: String, uuid: String, done: bool, service: Option<String>) -> impl IntoView {
    // Held by the closure, not by the component: a status change while the request is out
    // renders the header (and these buttons) again, and the navigation must still happen.
    let navigate = use_navigate();
    let problem = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let act = {
        let (project, uuid) = (project.clone(), uuid.clone());
        move |action: &'static str| {
            let (project, uuid, navigate) = (project.clone(), uuid.clone(), navigate.clone());
            if action == "delete"
                && !window()
                    .confirm_with_message(&format!(
                        "Delete run {uuid} with its logs and artifacts? This cannot be undone."
                    ))
                    .unwrap_or(false)
            {
                return;
            }
            busy.set(true);
            spawn_local(async move {
                let outcome = match action {
                    "stop" => api::stop_run(&project, &uuid).await.map(|()| None),
                    "restart" => api::restart_run(&project, &uuid)
                        .await
                        .map(|run| Some(format!("/projects/{project}/runs/{}", run.uuid))),
                    _ => api::delete_run(&project, &uuid)
                        .await
                        .map(|()| Some(format!("/projects/{project}"))),
                };
                match outcome {
                    Ok(Some(path)) => navigate(&path, Default::default()),
                    Ok(None) => problem.set(None),
                    Err(error) => problem.set(Some(error.to_string())),
                }
                busy.set(false);
            });
        }
    };
    let (stop, restart, delete) = (act.clone(), act.clone(), act);
    view! {
        <div class="actions" role="group" aria-label="Run actions">
            {service.filter(|_| !done).map(|path| view! {
                <a class="button" href=path target="_blank" rel="noopener">"Open"</a>
            })}
            {(!done).then(|| view! {
                <button type="button" disabled=move || busy.get() on:click=move |_| stop("stop")>"Stop"</button>
            })}
            {done.then(|| view! {
                <button type="button" disabled=move || busy.get() on:click=move |_| restart("restart")>"Restart"</button>
            })}
            <button type="button" class="secondary" disabled=move || busy.get() on:click=move |_| delete("delete")>"Delete"</button>
            {move || problem.get().map(|text| view! { <p class="problem" role="alert">{text}</p> })}
        </div>
    }
}
