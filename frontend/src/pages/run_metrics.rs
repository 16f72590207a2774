//! A run's metrics: a chart of each metric it logged (the compare view's charts, for one run),
//! read again while it runs, and its outputs and metric summaries.

use std::time::Duration;

use frontend::compare_view::{self, CompareState};
use leptos::prelude::*;
use shared::api::Run;

use crate::api;
use crate::pages::compare::Charts;

/// How often a running run's metrics are read again.
const LIVE: Duration = Duration::from_secs(2);

/// The Metrics tab of a run's page.
#[component]
pub fn RunMetrics(run: Run) -> impl IntoView {
    let uuid = run.uuid.clone();
    let running = !run.status.is_done();
    let tick = RwSignal::new(0_u64);
    if running
        && let Ok(handle) = set_interval_with_handle(move || tick.update(|tick| *tick += 1), LIVE)
    {
        on_cleanup(move || handle.clear());
    }
    let summaries = LocalResource::new({
        let uuid = uuid.clone();
        move || {
            tick.track();
            let uuids = vec![uuid.clone()];
            async move { api::metric_summaries(&uuids).await }
        }
    });
    let names = Memo::new(move |_| {
        summaries
            .get()
            .and_then(Result::ok)
            .map(|summaries| summaries.names)
            .unwrap_or_default()
    });
    let state = Memo::new({
        let uuid = uuid.clone();
        move |_| CompareState {
            runs: vec![uuid.clone()],
            ..CompareState::default()
        }
    });
    let runs = Memo::new(move |_| vec![run.clone()]);
    let outputs = runs.with_untracked(|runs| runs[0].outputs.clone().unwrap_or_default());
    view! {
        <Charts state=state runs=runs names=names tick=tick />
        <section class="panel run-summaries" aria-label="Metric summaries">
            <h2>"Summaries"</h2>
            {move || match summaries.get() {
                None => view! { <p class="muted">"Reading the metrics…"</p> }.into_any(),
                Some(Err(error)) => view! { <p class="problem" role="alert">{error.to_string()}</p> }.into_any(),
                Some(Ok(found)) => {
                    let rows = found.runs.get(&uuid).cloned().unwrap_or_default();
                    if rows.is_empty() {
                        return view! { <p class="muted">"No metrics logged yet."</p> }.into_any();
                    }
                    let number = |value: Option<f64>| value.map(|value| format!("{value}")).unwrap_or_default();
                    view! {
                        <table class="listing">
                            <thead><tr><th scope="col">"Metric"</th><th scope="col">"Last"</th><th scope="col">"Min"</th><th scope="col">"Max"</th><th scope="col">"Points"</th><th scope="col">"Last step"</th></tr></thead>
                            <tbody>
                                {rows.into_iter().map(|(name, summary)| view! {
                                    <tr>
                                        <th scope="row">{name}</th>
                                        <td>{number(summary.last)}</td>
                                        <td>{number(summary.min)}</td>
                                        <td>{number(summary.max)}</td>
                                        <td>{summary.count}</td>
                                        <td>{summary.last_step.map(|step| step.to_string()).unwrap_or_default()}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any()
                }
            }}
        </section>
        <section class="panel run-outputs" aria-label="Outputs">
            <h2>"Outputs"</h2>
            {if outputs.is_empty() {
                view! { <p class="muted">"The run recorded no outputs."</p> }.into_any()
            } else {
                view! {
                    <table class="listing">
                        <tbody>
                            {outputs.into_iter().map(|(name, value)| view! {
                                <tr><th scope="row">{name}</th><td>{compare_view::show(&value)}</td></tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        </section>
    }
}
