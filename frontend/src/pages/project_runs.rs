//! A project's runs: a table that refreshes itself, filtered with Polyaxon's query language.

use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::{query_signal, use_params_map};
use shared::api::Run;

use crate::api;
use crate::components::status_badge::StatusBadge;
use crate::format::{minute, seconds};

/// The runs page of one project.
#[component]
pub fn ProjectRuns() -> impl IntoView {
    let params = use_params_map();
    let project = move || params.read().get("name").unwrap_or_default();
    // The filter lives in the URL (`?query=…`), so a view can be shared or reopened.
    let (query, set_query) = query_signal::<String>("query");
    let typed = RwSignal::new(query.get_untracked().unwrap_or_default());
    let tick = RwSignal::new(0_u32);
    let runs = LocalResource::new(move || {
        tick.track();
        let (project, query) = (project(), query.get().unwrap_or_default());
        async move { api::runs(&project, &query).await }
    });
    // The server pushes every change to the project's runs: the table reads again on each.
    let watch = StoredValue::new_local(None::<api::RunWatch>);
    Effect::new(move |_| {
        let project = project();
        let watching = api::watch_runs(&project, move |_| tick.update(|count| *count += 1));
        watch.set_value(watching.ok());
    });
    on_cleanup(move || watch.set_value(None));
    let filter = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let typed = typed.get_untracked().trim().to_owned();
        set_query.set(Some(typed).filter(|typed| !typed.is_empty()));
    };
    view! {
        <header class="page-header">
            <h1>{project}</h1>
            <p>"The project's runs, newest first. Statuses update as the server records them."</p>
        </header>
        <form class="panel filter" aria-label="Filter runs" on:submit=filter>
            <div class="fields">
                <label>
                    "Query"
                    <input
                        name="query"
                        placeholder="status:running, inputs.lr:>0.01"
                        bind:value=typed
                    />
                </label>
                <button type="submit">"Filter"</button>
            </div>
        </form>
        <section class="panel" aria-label="Runs">
            {move || match runs.get() {
                None => view! { <p class="muted">"Loading the runs…"</p> }.into_any(),
                Some(Err(error)) => {
                    view! { <p class="problem" role="alert">{error.to_string()}</p> }.into_any()
                }
                Some(Ok(list)) if list.results.is_empty() => {
                    view! {
                        <p class="muted">
                            "No runs match. Submit one with "
                            <code>"polyaxon run -f polyaxonfile.yaml -p "{project()}</code>"."
                        </p>
                    }
                        .into_any()
                }
                Some(Ok(list)) => {
                    let count = list.count;
                    view! {
                        <p class="muted count">
                            {format!("{count} {}", if count == 1 { "run" } else { "runs" })}
                        </p>
                        <table class="listing">
                            <thead>
                                <tr>
                                    <th scope="col">"Name"</th>
                                    <th scope="col">"Status"</th>
                                    <th scope="col">"Kind"</th>
                                    <th scope="col">"Created"</th>
                                    <th scope="col">"Duration"</th>
                                    <th scope="col">"UUID"</th>
                                </tr>
                            </thead>
                            <tbody>{list.results.into_iter().map(row).collect_view()}</tbody>
                        </table>
                    }
                        .into_any()
                }
            }}
        </section>
    }
}

fn row(run: Run) -> impl IntoView {
    let href = format!("/projects/{}/runs/{}", run.project, run.uuid);
    let name = run.name.clone().unwrap_or_else(|| run.uuid[..8].to_owned());
    view! {
        <tr>
            <th scope="row">
                <A href=href>{name}</A>
            </th>
            <td>
                <StatusBadge status=run.status />
            </td>
            <td>{run.kind}</td>
            <td>{minute(&run.created_at.to_string())}</td>
            <td>{run.duration.map(seconds).unwrap_or_default()}</td>
            <td>
                <code>{run.uuid[..8].to_owned()}</code>
            </td>
        </tr>
    }
}
