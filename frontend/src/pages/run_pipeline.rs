//! A pipeline's Runs tab: a DAG as a graph whose operations take their runs' statuses as they
//! change, a matrix's results as one input against one metric with the best run marked, and
//! the children in the runs table, filtered to this pipeline.

use frontend::pipeline_view;
use frontend::runs_view::Scope;
use leptos::prelude::*;
use serde_json::Value as Json;
use shared::api::{ListResponse, Run};

use crate::api::{self, RunsWindow};
use crate::components::dag_graph::DagGraph;
use crate::components::runs_table::{Reply, RunsTable};
use crate::pages::runs::{settled_changes, source};

/// The most children the graph and the chart read.
const SHOWN: usize = 1_000;

/// The Runs tab of a pipeline run.
#[component]
pub fn RunPipeline(run: Run) -> impl IntoView {
    let project = run.project.clone();
    let pipeline = run.uuid.clone();
    let changes = settled_changes(&project);

    let filter = format!("pipeline:{pipeline}");
    let children = {
        let (project, filter) = (project.clone(), filter.clone());
        LocalResource::new(move || {
            changes.track();
            let window = RunsWindow {
                query: filter.clone(),
                sort: "created_at".to_owned(),
                offset: 0,
                limit: SHOWN,
            };
            let project = project.clone();
            async move { api::runs(&project, &window).await }
        })
    };
    let compiled: Json = run
        .content
        .as_deref()
        .and_then(|content| serde_json::from_str(content).ok())
        .unwrap_or_default();
    let graph = (run.kind == "dag").then(|| {
        let nodes = frontend::preview::dag_nodes(&compiled["run"]);
        let project = project.clone();
        view! {
            <section class="panel" aria-label="Graph">
                <h2>"Graph"</h2>
                {move || {
                    let runs = children
                        .get()
                        .and_then(Result::ok)
                        .map(|list| pipeline_view::runs_by_op(&list.results))
                        .unwrap_or_default();
                    view! { <DagGraph nodes=nodes.clone() runs=runs project=project.clone() /> }
                }}
            </section>
        }
    });
    let chart = (run.kind == "matrix").then(|| view! { <ResultsChart children=children /> });

    let listed = (project.clone(), filter);
    let list = move |window: RunsWindow| -> Reply<ListResponse<Run>> {
        let (project, filter) = listed.clone();
        let query = if window.query.trim().is_empty() {
            filter
        } else {
            format!("{filter}, {}", window.query)
        };
        Box::pin(async move { api::runs(&project, &RunsWindow { query, ..window }).await })
    };
    view! {
        {graph}
        {chart}
        <section class="panel pipeline-runs" aria-label="Pipeline runs">
            <h2>"Runs"</h2>
            <RunsTable
                source=source(list)
                scope=Scope::Project
                changes=changes
                export_name=format!("{pipeline}-runs.csv")
                empty=|| "No runs yet."
            />
        </section>
    }
}

/// A matrix's results: an input chosen across, a metric's last value up, the best run ringed.
#[component]
fn ResultsChart(
    children: LocalResource<Result<ListResponse<Run>, api::ApiError>>,
) -> impl IntoView {
    let input = RwSignal::new(None::<String>);
    let metric = RwSignal::new(None::<String>);
    let maximize = RwSignal::new(false);
    let listed = move || {
        children
            .get()
            .and_then(Result::ok)
            .map(|list| list.results)
            .unwrap_or_default()
    };
    let axes = Memo::new(move |_| pipeline_view::axes(&listed()));
    let chosen = move || {
        let (inputs, metrics) = axes.get();
        let input = input.get().or_else(|| inputs.first().cloned())?;
        let metric = metric.get().or_else(|| metrics.first().cloned())?;
        Some((input, metric))
    };
    let select = |label: &'static str, options: Vec<String>, signal: RwSignal<Option<String>>| {
        view! {
            <label>
                {label}" "
                <select
                    aria-label=label
                    on:change=move |event| signal.set(Some(event_target_value(&event)))
                >
                    {options
                        .into_iter()
                        .map(|option| {
                            let selected = signal.get_untracked().as_deref() == Some(option.as_str());
                            view! { <option selected=selected>{option.clone()}</option> }
                        })
                        .collect_view()}
                </select>
            </label>
        }
    };
    view! {
        <section class="panel results" aria-label="Results">
            <h2>"Results"</h2>
            {move || {
                let (inputs, metrics) = axes.get();
                if inputs.is_empty() || metrics.is_empty() {
                    return view! {
                        <p class="muted">
                            "The chart shows an input against a metric once runs have logged one."
                        </p>
                    }
                    .into_any();
                }
                let Some((x, y)) = chosen() else {
                    return ().into_any();
                };
                let results = pipeline_view::results(&listed(), &x, &y, maximize.get());
                view! {
                    <div class="results-controls">
                        {select("Input", inputs, input)}
                        {select("Metric", metrics, metric)}
                        <label>
                            <input
                                type="checkbox"
                                prop:checked=move || maximize.get()
                                on:change=move |event| maximize.set(event_target_checked(&event))
                            />
                            " Higher is better"
                        </label>
                    </div>
                    <div class="scatter-box" inner_html=pipeline_view::scatter_svg(&results, &x, &y) />
                }
                .into_any()
            }}
        </section>
    }
}
