//! Runs side by side: what differs between them (inputs, outputs, metric summaries, and the
//! compiled specs themselves), their metrics overlaid or grouped, and inputs against a
//! metric. The whole view lives in the URL, so a link shows a colleague exactly this.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use frontend::compare_view::{self, Axis, ChartSpec, CompareState, Grouping, Row, Section};
use frontend::diff;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::NavigateOptions;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_query_map};
use shared::api::{MetricSummary, Run, Series, SeriesRequest, XAxis, XRange};

use crate::api;
use crate::components::chart::MetricChart;
use crate::components::status_badge::StatusBadge;

/// How often running runs' metrics are read again.
const LIVE: Duration = Duration::from_secs(3);
/// At most this many metrics get a chart; the rest are in the table.
const MAX_CHARTS: usize = 24;
/// At most this many runs get a spec diff.
const MAX_DIFFS: usize = 20;

/// The button that shows every run of a list that shows only some.
fn show_all(count: usize, all: RwSignal<bool>) -> impl IntoView {
    (!all.get() && count > compare_view::FIRST_RUNS).then(|| {
        view! {
            <button type="button" class="link" on:click=move |_| all.set(true)>
                {format!("Show all {count} runs")}
            </button>
        }
    })
}

type Summaries = BTreeMap<String, BTreeMap<String, MetricSummary>>;

/// The compare page.
#[component]
pub fn Compare() -> impl IntoView {
    let query = use_query_map();
    let state = Memo::new(move |_| {
        let pairs: BTreeMap<String, String> = query.with(|query| {
            [
                "runs",
                "baseline",
                "differs",
                "group",
                "group_but",
                "x",
                "smooth",
                "log",
                "hidden",
            ]
            .into_iter()
            .filter_map(|key| Some((key.to_owned(), query.get(key)?)))
            .collect()
        });
        CompareState::from_query(&pairs)
    });
    let navigate = use_navigate();
    let set_state = Callback::new(move |next: CompareState| {
        let query = next
            .to_query()
            .into_iter()
            .map(|(key, value)| format!("{key}={}", api::percent_encode(&value)))
            .collect::<Vec<_>>()
            .join("&");
        navigate(
            &format!("/compare?{query}"),
            NavigateOptions {
                replace: true,
                scroll: false,
                ..NavigateOptions::default()
            },
        );
    });
    let change = move |edit: &dyn Fn(&mut CompareState)| {
        let mut next = state.get_untracked();
        edit(&mut next);
        set_state.run(next);
    };

    let uuids = Memo::new(move |_| state.with(|state| state.runs.clone()));
    // Runs and their summaries are read again while any of them runs: metrics arrive as they
    // are logged, not with a change of status.
    let tick = RwSignal::new(0_u64);
    let loaded = LocalResource::new(move || {
        tick.track();
        let uuids = uuids.get();
        async move {
            // Neither waits for the other.
            let (runs, summaries) = futures_util::future::join(
                api::runs_by_uuid(&uuids),
                api::metric_summaries(&uuids),
            )
            .await;
            let (mut runs, summaries) = (runs?, summaries?);
            // In the order they were chosen, which fixes their colours.
            let order: std::collections::HashMap<&String, usize> = uuids
                .iter()
                .enumerate()
                .map(|(index, uuid)| (uuid, index))
                .collect();
            runs.sort_by_key(|run| order.get(&run.uuid).copied());
            Ok::<_, api::ApiError>((runs, summaries))
        }
    });
    let runs = Memo::new(move |_| {
        loaded
            .get()
            .and_then(Result::ok)
            .map(|(runs, _)| runs)
            .unwrap_or_default()
    });
    let summaries = Memo::new(move |_| {
        loaded
            .get()
            .and_then(Result::ok)
            .map(|(_, summaries)| summaries.runs)
            .unwrap_or_default()
    });
    let names = Memo::new(move |_| {
        loaded
            .get()
            .and_then(Result::ok)
            .map(|(_, summaries)| summaries.names)
            .unwrap_or_default()
    });
    let live = Memo::new(move |_| runs.with(|runs| runs.iter().any(|run| !run.status.is_done())));
    let poll = StoredValue::new(None::<IntervalHandle>);
    Effect::new(move |_| {
        if let Some(handle) = poll.get_value() {
            handle.clear();
        }
        let handle = live
            .get()
            .then(|| set_interval_with_handle(move || tick.update(|tick| *tick += 1), LIVE).ok())
            .flatten();
        poll.set_value(handle);
    });
    on_cleanup(move || {
        if let Some(Some(handle)) = poll.try_get_value() {
            handle.clear();
        }
    });

    // The charts are drawn first: the panels below them (a line or a point per run, the specs)
    // are made once every chart has had its first answer and been painted, so that with many
    // runs their layout does not hold up the charts.
    let drawn = RwSignal::new(0_usize);
    let charts_drawn =
        Memo::new(move |_| drawn.get() >= names.with(|names| names.len().min(MAX_CHARTS)));
    view! {
        <header class="page-header">
            <h1>"Compare"</h1>
            <p>
                {move || match uuids.with(Vec::len) {
                    0 => "Select runs in a runs table and press Compare.".to_owned(),
                    count => format!("{count} runs side by side. This view is in the address: share it to show the same."),
                }}
            </p>
        </header>
        {move || match loaded.get() {
            None if !uuids.with(Vec::is_empty) => view! { <p class="muted">"Loading the runs…"</p> }.into_any(),
            Some(Err(error)) => view! { <p class="problem" role="alert">{error.to_string()}</p> }.into_any(),
            _ => ().into_any(),
        }}
        {move || (!runs.with(Vec::is_empty)).then(|| view! {
            <Controls state=state runs=runs change=change />
            <RunsLegend state=state runs=runs change=change />
            <ValuesTable state=state runs=runs summaries=summaries />
            <Charts state=state runs=runs names=names tick=tick drawn=drawn />
            {move || charts_drawn.get().then(|| view! {
                <ParallelCoordinates state=state runs=runs summaries=summaries names=names />
                <Scatter state=state runs=runs summaries=summaries names=names />
                <SpecDiff state=state runs=runs />
            })}
        })}
    }
}

/// Baseline, "only what differs", grouping and the charts' axis, smoothing and scale. Drawn
/// anew from the view on each change: every change goes through the URL anyway.
#[component]
fn Controls(
    state: Memo<CompareState>,
    runs: Memo<Vec<Run>>,
    change: impl Fn(&dyn Fn(&mut CompareState)) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    move || {
        let now = state.get();
        let runs = runs.get();
        let inputs: BTreeSet<String> = runs
            .iter()
            .flat_map(|run| run.inputs.iter().flat_map(|inputs| inputs.keys().cloned()))
            .collect();
        let (grouped, but) = match &now.grouping {
            Grouping::None => (Vec::new(), false),
            Grouping::By(names) => (names.clone(), false),
            Grouping::AllBut(names) => (names.clone(), true),
        };
        let regroup = move |names: Vec<String>, but: bool| {
            change(&|state| {
                state.grouping = match (names.is_empty(), but) {
                    (true, _) => Grouping::None,
                    (false, true) => Grouping::AllBut(names.clone()),
                    (false, false) => Grouping::By(names.clone()),
                };
            });
        };
        let baselines = runs
            .iter()
            .map(|run| {
                let chosen = now.baseline.as_deref() == Some(run.uuid.as_str());
                view! { <option value=run.uuid.clone() selected=chosen>{compare_view::run_label(run)}</option> }
            })
            .collect_view();
        let group_boxes = inputs
            .into_iter()
            .map(|name| {
                let checked = grouped.contains(&name);
                let mut without = grouped.clone();
                without.retain(|chosen| *chosen != name);
                let mut with = without.clone();
                with.push(name.clone());
                let toggle = move |event: leptos::ev::Event| {
                    let next = if event_target_checked(&event) { with.clone() } else { without.clone() };
                    regroup(next, but);
                };
                view! { <label><input type="checkbox" checked=checked on:change=toggle />{name}</label> }
            })
            .collect_view();
        let axes = [(XAxis::Step, "step", "Step"), (XAxis::Relative, "relative", "Relative time"), (XAxis::Time, "time", "Wall time")]
            .into_iter()
            .map(|(axis, value, label)| view! { <option value=value selected=now.axis == axis>{label}</option> })
            .collect_view();
        view! {
            <section class="panel compare-controls" aria-label="View">
                <div class="fields">
                    <label>
                        "Baseline"
                        <select aria-label="Baseline" on:change=move |event| {
                            let chosen = event_target_value(&event);
                            change(&|state| state.baseline = Some(chosen.clone()).filter(|chosen| !chosen.is_empty()));
                        }>
                            <option value="" selected=now.baseline.is_none()>"None"</option>
                            {baselines}
                        </select>
                    </label>
                    <label class="switch">
                        <input type="checkbox" aria-label="Only what differs" checked=now.differs on:change=move |event| {
                            let on = event_target_checked(&event);
                            change(&|state| state.differs = on);
                        } />
                        "Only what differs"
                    </label>
                    <label>
                        "Group"
                        <select aria-label="Group mode" on:change={
                            let grouped = grouped.clone();
                            move |event| regroup(grouped.clone(), event_target_value(&event) == "but")
                        }>
                            <option value="by" selected=!but>"by"</option>
                            <option value="but" selected=but>"by all inputs but"</option>
                        </select>
                    </label>
                    <fieldset class="group-inputs" aria-label="Group inputs">{group_boxes}</fieldset>
                    <label>
                        "X axis"
                        <select aria-label="X axis" on:change=move |event| {
                            let axis = match event_target_value(&event).as_str() {
                                "time" => XAxis::Time,
                                "relative" => XAxis::Relative,
                                _ => XAxis::Step,
                            };
                            change(&|state| state.axis = axis);
                        }>{axes}</select>
                    </label>
                    <label>
                        "Smoothing"
                        <input type="range" aria-label="Smoothing" min="0" max="0.99" step="0.01"
                            value=now.smoothing.to_string()
                            on:change=move |event| {
                                let weight = event_target_value(&event).parse::<f64>().unwrap_or(0.0);
                                change(&|state| state.smoothing = weight);
                            } />
                    </label>
                    <label class="switch">
                        <input type="checkbox" aria-label="Log scale" checked=now.log on:change=move |event| {
                            let on = event_target_checked(&event);
                            change(&|state| state.log = on);
                        } />
                        "Log scale"
                    </label>
                </div>
            </section>
        }
        .into_any()
    }
}

/// The runs, each with its colour and a switch that shows or hides it in the charts.
#[component]
fn RunsLegend(
    state: Memo<CompareState>,
    runs: Memo<Vec<Run>>,
    change: impl Fn(&dyn Fn(&mut CompareState)) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let all = RwSignal::new(false);
    move || {
        let hidden = state.with(|state| state.hidden.clone());
        let runs = runs.get();
        let count = runs.len();
        let shown = compare_view::shown_runs(count, all.get(), None);
        let items = shown
            .into_iter()
            .map(|index| (index, runs[index].clone()))
            .map(|(index, run)| {                let uuid = run.uuid.clone();
                let shown = !hidden.contains(&uuid);
                let toggle = move |event: leptos::ev::Event| {
                    let on = event_target_checked(&event);
                    change(&|state| {
                        if on {
                            state.hidden.remove(&uuid);
                        } else {
                            state.hidden.insert(uuid.clone());
                        }
                    });
                };
                let label = compare_view::run_label(&run);
                let href = format!("/projects/{}/runs/{}", run.project, run.uuid);
                view! {
                    <li>
                        <input type="checkbox" aria-label=format!("Show {label}") checked=shown on:change=toggle />
                        <span class="swatch" style=format!("background:{}", compare_view::color(index))></span>
                        <A href=href>{label}</A>
                        <span class="muted">{run.project.clone()}</span>
                        <StatusBadge status=run.status />
                    </li>
                }
            })
            .collect_view();
        view! {
            <section class="panel compare-runs" aria-label="Runs">
                <ul>{items}</ul>
                {show_all(count, all)}
            </section>
        }
        .into_any()
    }
}

/// Inputs, outputs and metric summaries of every run; differing rows are marked, and with
/// "only what differs" the others are left out; against a baseline, numbers show their delta.
#[component]
fn ValuesTable(
    state: Memo<CompareState>,
    runs: Memo<Vec<Run>>,
    summaries: Memo<Summaries>,
) -> impl IntoView {
    let rows = Memo::new(move |_| {
        runs.with(|runs| {
            let refs: Vec<&Run> = runs.iter().collect();
            summaries.with(|summaries| compare_view::rows(&refs, summaries))
        })
    });
    let all = RwSignal::new(false);
    let baseline = Memo::new(move |_| {
        let uuid = state.with(|state| state.baseline.clone())?;
        runs.with(|runs| runs.iter().position(|run| run.uuid == uuid))
    });
    let columns = Memo::new(move |_| {
        compare_view::shown_runs(runs.with(Vec::len), all.get(), baseline.get())
    });
    view! {
        <section class="panel compare-values" aria-label="Values">
            <div class="table-scroll">
                <table class="listing compare">
                    <thead>
                        <tr>
                            <th scope="col">"Value"</th>
                            {move || {
                                let baseline = baseline.get();
                                runs.with(|runs| columns.get().into_iter().map(|index| {
                                    let run = &runs[index];
                                    let is_baseline = baseline == Some(index);
                                    view! {
                                        <th scope="col" class:baseline=is_baseline>
                                            <span class="swatch" style=format!("background:{}", compare_view::color(index))></span>
                                            {compare_view::run_label(run)}
                                            {is_baseline.then(|| view! { <span class="tag">"baseline"</span> })}
                                        </th>
                                    }
                                }).collect_view())
                            }}
                        </tr>
                    </thead>
                    <tbody>
                        {move || {
                            let differs_only = state.with(|state| state.differs);
                            let (base, columns) = (baseline.get(), columns.get());
                            rows.get()
                                .into_iter()
                                .filter(|row| !differs_only || row.differs)
                                .map(|row| value_row(row, base, &columns))
                                .collect_view()
                        }}
                    </tbody>
                </table>
            </div>
            {move || show_all(runs.with(Vec::len), all)}
        </section>
    }
}

/// A row of the values table, with a cell for each run of `columns`.
fn value_row(row: Row, baseline: Option<usize>, columns: &[usize]) -> impl IntoView + use<> {
    let deltas = baseline.map(|base| row.deltas(base));
    let section = match row.section {
        Section::Input => "input",
        Section::Output => "output",
        Section::Metric => "metric",
    };
    let cells = columns
        .iter()
        .map(|&index| (index, &row.values[index]))
        .map(|(index, value)| {
            let full = value.as_ref().map(compare_view::show).unwrap_or_default();
            let text = match value.as_ref().and_then(serde_json::Value::as_f64) {
                Some(number) => frontend::runs_view::short_number(number),
                None => full.clone(),
            };
            let delta = deltas
                .as_ref()
                .and_then(|deltas| deltas[index])
                .filter(|delta| *delta != 0.0 && Some(index) != baseline)
                .map(|delta| format!(" ({delta:+.4})"));
            view! { <td title=full>{text}{delta.map(|delta| view! { <span class="delta">{delta}</span> })}</td> }
        })
        .collect_view();
    view! {
        <tr class:differs=row.differs data-section=section>
            <th scope="row"><span class="section">{section}</span>" "{row.name.clone()}</th>
            {cells}
        </tr>
    }
}

/// One chart per metric: the runs' series, fetched for the range shown.
#[component]
pub fn Charts(
    state: Memo<CompareState>,
    runs: Memo<Vec<Run>>,
    names: Memo<Vec<String>>,
    tick: RwSignal<u64>,
    /// Counts the charts drawn with their first answer, for a page that waits for them.
    #[prop(optional)]
    drawn: Option<RwSignal<usize>>,
) -> impl IntoView {
    view! {
        <section class="panel compare-charts" aria-label="Metrics">
            {move || {
                let names = names.get();
                if names.is_empty() {
                    return view! { <p class="muted">"These runs logged no metrics."</p> }.into_any();
                }
                names.into_iter().take(MAX_CHARTS).map(|name| view! {
                    <MetricPanel name=name state=state runs=runs tick=tick drawn=drawn />
                }).collect_view().into_any()
            }}
        </section>
    }
}

/// A metric's chart: its series read for the range shown (all of it until someone zooms).
#[component]
fn MetricPanel(
    name: String,
    state: Memo<CompareState>,
    runs: Memo<Vec<Run>>,
    tick: RwSignal<u64>,
    drawn: Option<RwSignal<usize>>,
) -> impl IntoView {
    // Told once, after the frame that paints the first answer (or its problem).
    let told = StoredValue::new(false);
    let tell_drawn = move || {
        if let Some(drawn) = drawn
            && !told.get_value()
        {
            told.set_value(true);
            request_animation_frame(move || {
                set_timeout(move || drawn.update(|drawn| *drawn += 1), Duration::ZERO);
            });
        }
    };
    let range = RwSignal::new(None::<XRange>);
    let series = RwSignal::new(Vec::<Series>::new());
    let problem = RwSignal::new(None::<String>);
    let title = name.clone();
    let axis = Memo::new(move |_| state.with(|state| state.axis));
    Effect::new({
        let name = name.clone();
        move |_| {
            tick.track();
            let request = SeriesRequest {
                runs: state.with(|state| state.runs.clone()),
                names: vec![name.clone()],
                kind: shared::api::MetricKind::Metric,
                axis: axis.get(),
                buckets: shared::api::chart_buckets(state.with(|state| state.runs.len())),
                range: range.get(),
            };
            spawn_local(async move {
                match api::series(&request).await {
                    Ok(answer) => {
                        series.try_set(answer.series);
                        problem.try_set(None);
                    }
                    Err(error) => {
                        problem.try_set(Some(error.to_string()));
                    }
                }
                tell_drawn();
            });
        }
    });
    // A new axis is a new range (the first axis already asks for the whole range).
    Effect::new(move |previous: Option<XAxis>| {
        let now = axis.get();
        if previous.is_some_and(|previous| previous != now) {
            range.set(None);
        }
        now
    });
    let spec = Signal::derive(move || -> ChartSpec {
        runs.with(|runs| {
            let refs: Vec<&Run> = runs.iter().collect();
            series
                .with(|series| state.with(|state| compare_view::chart(&name, &refs, series, state)))
        })
    });
    let counts = move || {
        series.with(|series| {
            let total: u64 = series.iter().map(|series| series.total).sum();
            let returned: u64 = series.iter().map(|series| series.returned).sum();
            (total > returned)
                .then(|| format!("{returned} of {total} points; drag to zoom in for detail"))
        })
    };
    view! {
        <figure class="metric" aria-label=format!("Chart of {title}")>
            <figcaption>
                <strong>{title.clone()}</strong>
                <span class="muted">{counts}</span>
            </figcaption>
            <MetricChart
                spec=spec
                on_zoom=Callback::new(move |chosen| range.set(chosen))
                zoomed=Signal::derive(move || range.get().is_some())
            />
            {move || problem.get().map(|text| view! { <p class="problem" role="alert">{text}</p> })}
        </figure>
    }
}

/// Inputs against a metric, a vertical axis each, a line per run; dragging along an axis
/// keeps the runs that pass through the dragged stretch.
#[component]
fn ParallelCoordinates(
    state: Memo<CompareState>,
    runs: Memo<Vec<Run>>,
    summaries: Memo<Summaries>,
    names: Memo<Vec<String>>,
) -> impl IntoView {
    let metric = RwSignal::new(None::<String>);
    let chosen = chosen_or_first(metric, names);
    let axes = Memo::new(move |_| {
        let metric = chosen.get();
        runs.with(|runs| {
            let refs: Vec<&Run> = runs.iter().collect();
            summaries
                .with(|summaries| compare_view::parallel_axes(&refs, summaries, metric.as_deref()))
        })
    });
    let brushes = RwSignal::new(BTreeMap::<String, (f64, f64)>::new());
    let dragging = RwSignal::new(None::<(String, f64)>);
    const WIDTH: f64 = 900.0;
    const HEIGHT: f64 = 280.0;
    const PAD: f64 = 30.0;
    let x_of = move |index: usize, count: usize| {
        if count <= 1 {
            WIDTH / 2.0
        } else {
            PAD + (WIDTH - 2.0 * PAD) * index as f64 / (count - 1) as f64
        }
    };
    let y_of = |position: f64| HEIGHT - PAD - (HEIGHT - 2.0 * PAD) * position;
    let position_at = move |event: &leptos::ev::MouseEvent| {
        let y = f64::from(event.offset_y());
        ((HEIGHT - PAD - y) / (HEIGHT - 2.0 * PAD)).clamp(0.0, 1.0)
    };
    view! {
        <section class="panel parallel" aria-label="Parallel coordinates">
            <div class="fields">
                <label>
                    "Metric"
                    <select aria-label="Parallel metric" on:change=move |event| metric.set(Some(event_target_value(&event)))>
                        {move || options(names.get(), chosen)}
                    </select>
                </label>
                <button type="button" class="secondary" on:click=move |_| brushes.set(BTreeMap::new())>"Clear the brushes"</button>
            </div>
            <svg viewBox=format!("0 0 {WIDTH} {HEIGHT}") role="img" aria-label="Inputs against the metric, a line per run">
                {move || {
                    let axes = axes.get();
                    let count = axes.len();
                    let brushes_now = brushes.get();
                    let hidden = state.with(|state| state.hidden.clone());
                    let lines = runs.with(|runs| {
                        runs.iter().enumerate().filter(|(_, run)| !hidden.contains(&run.uuid)).map(|(index, run)| {
                            let points: Vec<String> = axes.iter().enumerate().filter_map(|(at, (axis, values))| {
                                let position = axis.position(values.get(index)?.as_ref())?;
                                Some(format!("{:.1},{:.1}", x_of(at, count), y_of(position)))
                            }).collect();
                            let kept = compare_view::brushed(&axes, &brushes_now, index);
                            view! {
                                <polyline
                                    class="run-line"
                                    class:faded=!kept
                                    data-run=run.uuid.clone()
                                    points=points.join(" ")
                                    stroke=compare_view::color(index)
                                    fill="none"
                                >
                                    <title>{compare_view::run_label(run)}</title>
                                </polyline>
                            }
                        }).collect_view()
                    });
                    let drawn_axes = axes.iter().enumerate().map(|(at, (axis, _))| {
                        let x = x_of(at, count);
                        let name = axis.name.clone();
                        let brush = brushes_now.get(&name).copied();
                        let press = {
                            let name = name.clone();
                            move |event: leptos::ev::MouseEvent| dragging.set(Some((name.clone(), position_at(&event))))
                        };
                        let release = {
                            let name = name.clone();
                            move |event: leptos::ev::MouseEvent| {
                                if let Some((from, start)) = dragging.get_untracked()
                                    && from == name
                                {
                                    let end = position_at(&event);
                                    brushes.update(|brushes| {
                                        if (end - start).abs() < 0.01 {
                                            brushes.remove(&name);
                                        } else {
                                            brushes.insert(name.clone(), (start.min(end), start.max(end)));
                                        }
                                    });
                                }
                                dragging.set(None);
                            }
                        };
                        view! {
                            <g class="axis" data-axis=name.clone()>
                                <line x1=x x2=x y1=PAD y2=HEIGHT - PAD />
                                {brush.map(|(low, high)| view! {
                                    <rect class="brush" x=x - 6.0 width="12" y=y_of(high) height=(y_of(low) - y_of(high)).max(1.0) />
                                })}
                                <rect class="grab" x=x - 12.0 width="24" y=PAD height=HEIGHT - 2.0 * PAD on:mousedown=press on:mouseup=release />
                                <text x=x y=PAD - 10.0 text-anchor="middle">{name.clone()}</text>
                                {axis_ends(axis, x)}
                            </g>
                        }
                    }).collect_view();
                    view! { {lines} {drawn_axes} }
                }}
            </svg>
        </section>
    }
}

/// One input against one metric's last value, a point per run.
#[component]
fn Scatter(
    state: Memo<CompareState>,
    runs: Memo<Vec<Run>>,
    summaries: Memo<Summaries>,
    names: Memo<Vec<String>>,
) -> impl IntoView {
    let metric = RwSignal::new(None::<String>);
    let input = RwSignal::new(None::<String>);
    let chosen_metric = chosen_or_first(metric, names);
    let axes = Memo::new(move |_| {
        let Some(metric) = chosen_metric.get() else {
            return Vec::new();
        };
        runs.with(|runs| {
            let refs: Vec<&Run> = runs.iter().collect();
            summaries.with(|summaries| compare_view::parallel_axes(&refs, summaries, Some(&metric)))
        })
    });
    let inputs = Memo::new(move |_| {
        axes.with(|axes| {
            let inputs = axes.split_last().map_or(&[][..], |(_, inputs)| inputs);
            inputs
                .iter()
                .map(|(axis, _)| axis.name.clone())
                .collect::<Vec<_>>()
        })
    });
    let chosen_input = chosen_or_first(input, inputs);
    const WIDTH: f64 = 900.0;
    const HEIGHT: f64 = 280.0;
    const PAD: f64 = 40.0;
    let x_of = |position: f64| PAD + (WIDTH - 2.0 * PAD) * position;
    let y_of = |position: f64| HEIGHT - PAD - (HEIGHT - 2.0 * PAD) * position;
    view! {
        <section class="panel parallel scatter" aria-label="Scatter">
            <div class="fields">
                <label>
                    "Input"
                    <select aria-label="Scatter input" on:change=move |event| input.set(Some(event_target_value(&event)))>
                        {move || options(inputs.get(), chosen_input)}
                    </select>
                </label>
                <label>
                    "Metric"
                    <select aria-label="Scatter metric" on:change=move |event| metric.set(Some(event_target_value(&event)))>
                        {move || options(names.get(), chosen_metric)}
                    </select>
                </label>
            </div>
            <svg viewBox=format!("0 0 {WIDTH} {HEIGHT}") role="img" aria-label="An input against a metric, a point per run">
                {move || {
                    let (Some(input), Some(metric)) = (chosen_input.get(), chosen_metric.get()) else {
                        return ().into_any();
                    };
                    let hidden = state.with(|state| state.hidden.clone());
                    let points = axes.with(|axes| compare_view::scatter(axes, &input));
                    let dots = runs.with(|runs| {
                        points
                            .into_iter()
                            .filter(|(index, _, _)| !hidden.contains(&runs[*index].uuid))
                            .map(|(index, x, y)| view! {
                                <circle class="run-dot" cx=x_of(x) cy=y_of(y) r="5" fill=compare_view::color(index) data-run=runs[index].uuid.clone()>
                                    <title>{compare_view::run_label(&runs[index])}</title>
                                </circle>
                            })
                            .collect_view()
                    });
                    let ends = axes.with(|axes| {
                        let end = |name: &str| axes.iter().rev().find(|(axis, _)| axis.name == name).map(|(axis, _)| axis_range(axis));
                        (end(&input), axes.last().map(|(axis, _)| axis_range(axis)))
                    });
                    let ((x_low, x_high), (y_low, y_high)) = (ends.0.unwrap_or_default(), ends.1.unwrap_or_default());
                    view! {
                        <g class="axis">
                            <line x1=PAD x2=WIDTH - PAD y1=HEIGHT - PAD y2=HEIGHT - PAD />
                            <line x1=PAD x2=PAD y1=PAD y2=HEIGHT - PAD />
                            <text x=WIDTH / 2.0 y=HEIGHT - 8.0 text-anchor="middle">{input}</text>
                            <text x=12.0 y=HEIGHT / 2.0 text-anchor="middle" transform=format!("rotate(-90 12 {})", HEIGHT / 2.0)>{metric}</text>
                            <text class="end" x=PAD y=HEIGHT - PAD + 14.0 text-anchor="start">{x_low}</text>
                            <text class="end" x=WIDTH - PAD y=HEIGHT - PAD + 14.0 text-anchor="end">{x_high}</text>
                            <text class="end" x=PAD - 4.0 y=HEIGHT - PAD text-anchor="end">{y_low}</text>
                            <text class="end" x=PAD - 4.0 y=PAD + 4.0 text-anchor="end">{y_high}</text>
                        </g>
                        {dots}
                    }
                    .into_any()
                }}
            </svg>
        </section>
    }
}

/// The name `picked` holds while it is one of `names`, else the first of them.
fn chosen_or_first(
    picked: RwSignal<Option<String>>,
    names: Memo<Vec<String>>,
) -> Memo<Option<String>> {
    Memo::new(move |_| {
        picked
            .get()
            .filter(|name| names.with(|names| names.contains(name)))
            .or_else(|| names.with(|names| names.first().cloned()))
    })
}

/// A `<select>`'s options, one per name, the `chosen` one selected.
fn options(names: Vec<String>, chosen: Memo<Option<String>>) -> impl IntoView {
    names
        .into_iter()
        .map(|name| {
            let selected = {
                let name = name.clone();
                move || chosen.get().as_deref() == Some(name.as_str())
            };
            view! { <option value=name.clone() selected=selected>{name.clone()}</option> }
        })
        .collect_view()
}

/// An axis's lowest and highest value, as text.
fn axis_range(axis: &Axis) -> (String, String) {
    match &axis.scale {
        compare_view::Scale::Linear { min, max } => (
            frontend::runs_view::short_number(*min),
            frontend::runs_view::short_number(*max),
        ),
        compare_view::Scale::Categories(categories) => (
            categories.first().cloned().unwrap_or_default(),
            categories.last().cloned().unwrap_or_default(),
        ),
    }
}

/// An axis's lowest and highest value, written at its ends.
fn axis_ends(axis: &Axis, x: f64) -> impl IntoView + use<> {
    let (low, high) = axis_range(axis);
    view! {
        <text class="end" x=x y=278.0 text-anchor="middle">{low}</text>
        <text class="end" x=x y=38.0 text-anchor="middle" dy="-1em">{high}</text>
    }
}

/// What was really run differently: each run's compiled spec against the baseline's (the
/// first run's without one), only the lines that differ.
#[component]
fn SpecDiff(state: Memo<CompareState>, runs: Memo<Vec<Run>>) -> impl IntoView {
    // The baseline first, then the others: who they are, read again only when that changes.
    let chosen = Memo::new(move |_| {
        let baseline = state.with(|state| state.baseline.clone());
        runs.with(|runs| {
            let first = baseline
                .and_then(|uuid| runs.iter().position(|run| run.uuid == uuid))
                .unwrap_or(0);
            let mut order: Vec<(String, String)> = runs
                .iter()
                .map(|run| (run.project.clone(), run.uuid.clone()))
                .collect();
            if first < order.len() {
                let base = order.remove(first);
                order.insert(0, base);
            }
            order.truncate(MAX_DIFFS + 1);
            order
        })
    });
    // Lists leave the specs out: each run is read whole.
    let specs = LocalResource::new(move || {
        let chosen = chosen.get();
        async move {
            let mut specs = Vec::with_capacity(chosen.len());
            for (project, uuid) in chosen {
                let run = api::run(&project, &uuid).await?;
                specs.push((compare_view::run_label(&run), spec_text(&run)));
            }
            Ok::<_, api::ApiError>(specs)
        }
    });
    view! {
        <section class="panel spec-diff" aria-label="Spec differences">
            <h2>"Compiled specs"</h2>
            {move || match specs.get() {
                None => view! { <p class="muted">"Reading the specs…"</p> }.into_any(),
                Some(Err(error)) => view! { <p class="problem" role="alert">{error.to_string()}</p> }.into_any(),
                Some(Ok(specs)) => {
                    let Some(((base_label, base_text), others)) = specs.split_first() else {
                        return ().into_any();
                    };
                    others.iter().map(|(label, text)| {
                        let changed: Vec<_> = diff::lines(base_text, text)
                            .into_iter()
                            .filter_map(|line| match line {
                                diff::Line::Same(_) => None,
                                diff::Line::Removed(line) => Some(("removed", format!("- {line}"))),
                                diff::Line::Added(line) => Some(("added", format!("+ {line}"))),
                            })
                            .collect();
                        let heading = format!("{label} against {base_label}");
                        view! {
                            <div class="spec-change">
                                <h3>{heading}</h3>
                                {if changed.is_empty() {
                                    view! { <p class="muted">"The same spec."</p> }.into_any()
                                } else {
                                    view! {
                                        <pre class="diff"><code>{changed.into_iter().map(|(kind, line)| view! {
                                            <span class=kind>{line}"\n"</span>
                                        }).collect_view()}</code></pre>
                                    }.into_any()
                                }}
                            </div>
                        }
                    }).collect_view().into_any()
                }
            }}
        </section>
    }
}

/// A run's compiled operation, one setting a line, so a diff is readable. (Pretty JSON: the
/// YAML writer is the compiler's, which only the editor's worker loads.)
fn spec_text(run: &Run) -> String {
    run.content
        .as_deref()
        .and_then(|content| serde_json::from_str::<serde_json::Value>(content).ok())
        .and_then(|value| serde_json::to_string_pretty(&value).ok())
        .unwrap_or_default()
}
