//! One run: its status with every condition's reason and message, and its logs, streamed live
//! from the server and then kept as the archive.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::{use_navigate, use_params_map};
use shared::api::{LogLine, Run, Status};

use crate::api;
use crate::components::status_badge::StatusBadge;
use crate::format::{minute, seconds};

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
    let lines = RwSignal::new(Vec::<LogLine>::new());
    let ended = RwSignal::new(None::<Status>);
    let stream_problem = RwSignal::new(None::<String>);
    // The run whose logs are shown: the page stays when the route moves to another run (a
    // restart), and its logs must not mix with the next run's.
    let streaming = StoredValue::new(None::<String>);
    Effect::new(move || {
        let Some(Ok(run)) = run.get() else {
            return;
        };
        if streaming.with_value(|shown| shown.as_deref() == Some(run.uuid.as_str())) {
            return;
        }
        streaming.set_value(Some(run.uuid.clone()));
        lines.set(Vec::new());
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
                lines.update(|lines| lines.extend(batch.lines));
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
    view! {
        {move || match run.get() {
            None => view! { <p class="muted">"Loading the run…"</p> }.into_any(),
            Some(Err(error)) => {
                view! { <p class="problem" role="alert">{error.to_string()}</p> }.into_any()
            }
            Some(Ok(run)) => header(run).into_any(),
        }}
        <section class="panel logs" aria-label="Logs">
            <h2>"Logs"</h2>
            <pre class="log-lines">
                {move || {
                    lines
                        .get()
                        .into_iter()
                        .map(|line| view! { <div class="log-line">{styled(&line.value)}</div> })
                        .collect_view()
                }}
            </pre>
            {move || {
                ended
                    .get()
                    .map(|status| {
                        view! {
                            <p class="muted log-end">
                                "The run ended: "<StatusBadge status=status />
                            </p>
                        }
                    })
            }}
            {move || stream_problem.get().map(|text| view! { <p class="problem" role="alert">{text}</p> })}
        </section>
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
    view! {
        <header class="page-header run-header">
            <div>
                <h1>{name}" "<StatusBadge status=run.status /></h1>
                <p>
                    <code>{run.uuid.clone()}</code>" · "{run.kind.clone()}" · runtime "
                    {run.settings.runtime.clone()}" · "{timing}
                </p>
            </div>
            <RunActions project=project uuid=uuid done=done />
        </header>
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

/// Stop, restart and delete; what a run allows depends on whether it ended.
#[component]
fn RunActions(project: String, uuid: String, done: bool) -> impl IntoView {
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

/// A log line with its terminal colours.
fn styled(line: &str) -> impl IntoView + use<> {
    frontend::ansi::segments(line)
        .into_iter()
        .map(|segment| {
            if segment.classes.is_empty() && segment.colours.is_empty() {
                segment.text.into_any()
            } else {
                view! { <span class=segment.classes style=segment.colours>{segment.text}</span> }
                    .into_any()
            }
        })
        .collect_view()
}
