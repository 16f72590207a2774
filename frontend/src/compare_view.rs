//! The compare view as data: which runs, which one is the baseline, how they are grouped and
//! how the charts are drawn, read from and written to the URL's query, so a link shows a
//! colleague the same view; the table of values that differ, the groups, and the lines each
//! chart draws. Being pure, it is tested without a browser.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as Json;
use shared::api::{DEFAULT_SERIES_BUCKETS, MetricSummary, Run, Series, XAxis};
use shared::downsample::{Alignment, Point, aggregate_runs, smooth_ema};

/// At most this many runs are compared at once: the link and the requests stay bounded.
pub const MAX_RUNS: usize = 1_000;

/// The runs list and the values table show this many runs (and the baseline) until asked for
/// all: a thousand runs are thousands of rows and cells for the page to lay out before it
/// draws anything, and no one reads a thousand columns.
pub const FIRST_RUNS: usize = 50;

/// Which runs of `count` a list shows: every one with `all`, else the first [`FIRST_RUNS`] and
/// the baseline, in order.
pub fn shown_runs(count: usize, all: bool, baseline: Option<usize>) -> Vec<usize> {
    (0..count)
        .filter(|&index| all || index < FIRST_RUNS || Some(index) == baseline)
        .collect()
}

/// How runs are put together into lines.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Grouping {
    /// One line per run.
    #[default]
    None,
    /// One line per combination of these inputs' values.
    By(Vec<String>),
    /// One line per combination of every input but these (e.g. every seed of a setting).
    AllBut(Vec<String>),
}

/// Everything the compare view shows, as the URL says it.
#[derive(Debug, Clone, PartialEq)]
pub struct CompareState {
    /// The runs, in the order they were chosen.
    pub runs: Vec<String>,
    /// The run others are measured against.
    pub baseline: Option<String>,
    /// Only the rows whose values differ between runs.
    pub differs: bool,
    pub grouping: Grouping,
    pub axis: XAxis,
    /// The EMA weight, 0 for none.
    pub smoothing: f64,
    pub log: bool,
    /// Runs hidden from the charts.
    pub hidden: BTreeSet<String>,
}

impl Default for CompareState {
    fn default() -> Self {
        Self {
            runs: Vec::new(),
            baseline: None,
            differs: false,
            grouping: Grouping::None,
            axis: XAxis::Step,
            smoothing: 0.0,
            log: false,
            hidden: BTreeSet::new(),
        }
    }
}

/// Splits a comma list, dropping blanks and repeats.
fn list(text: Option<&str>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    text.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty() && seen.insert(item.to_owned()))
        .map(str::to_owned)
        .collect()
}

impl CompareState {
    /// The view a query names; what it does not say takes its default, what it says wrongly
    /// is ignored (a link must open, even an edited one).
    pub fn from_query(query: &BTreeMap<String, String>) -> Self {
        let get = |key: &str| query.get(key).map(String::as_str);
        let mut runs = list(get("runs"));
        runs.truncate(MAX_RUNS);
        let baseline = get("baseline")
            .map(str::to_owned)
            .filter(|baseline| runs.contains(baseline));
        let grouping = match (get("group"), get("group_but")) {
            (Some(by), _) if !list(Some(by)).is_empty() => Grouping::By(list(Some(by))),
            (_, Some(but)) if !list(Some(but)).is_empty() => Grouping::AllBut(list(Some(but))),
            _ => Grouping::None,
        };
        let axis = match get("x") {
            Some("time") => XAxis::Time,
            Some("relative") => XAxis::Relative,
            _ => XAxis::Step,
        };
        let smoothing = get("smooth")
            .and_then(|weight| weight.parse::<f64>().ok())
            .filter(|weight| (0.0..1.0).contains(weight))
            .unwrap_or(0.0);
        Self {
            hidden: list(get("hidden"))
                .into_iter()
                .filter(|uuid| runs.contains(uuid))
                .collect(),
            runs,
            baseline,
            differs: get("differs") == Some("1"),
            grouping,
            axis,
            smoothing,
            log: get("log") == Some("1"),
        }
    }

    /// The query that reopens this view: only what differs from the defaults.
    pub fn to_query(&self) -> Vec<(&'static str, String)> {
        let mut query = vec![("runs", self.runs.join(","))];
        if let Some(baseline) = &self.baseline {
            query.push(("baseline", baseline.clone()));
        }
        if self.differs {
            query.push(("differs", "1".to_owned()));
        }
        match &self.grouping {
            Grouping::None => {}
            Grouping::By(inputs) => query.push(("group", inputs.join(","))),
            Grouping::AllBut(inputs) => query.push(("group_but", inputs.join(","))),
        }
        match self.axis {
            XAxis::Step => {}
            XAxis::Time => query.push(("x", "time".to_owned())),
            XAxis::Relative => query.push(("x", "relative".to_owned())),
        }
        if self.smoothing > 0.0 {
            query.push(("smooth", format!("{}", self.smoothing)));
        }
        if self.log {
            query.push(("log", "1".to_owned()));
        }
        if !self.hidden.is_empty() {
            let hidden: Vec<&str> = self.hidden.iter().map(String::as_str).collect();
            query.push(("hidden", hidden.join(",")));
        }
        query
    }
}

/// A run's colour, the same in every chart and table of the view.
pub fn color(index: usize) -> String {
    // Hues spread by the golden angle stay apart for any number of runs.
    let hue = (index as f64 * 137.508) % 360.0;
    format!("hsl({hue:.0}, 65%, 45%)")
}

/// Where a row of the table comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    Input,
    Output,
    /// A metric's summary (`last`, `min`, `max`).
    Metric,
}

/// One row of the compare table: a value of every run.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub section: Section,
    /// `lr`, or `loss · min` for a metric.
    pub name: String,
    /// Each run's value, in the view's run order; `None` when the run has none.
    pub values: Vec<Option<Json>>,
    /// Not every run has the same value.
    pub differs: bool,
}

impl Row {
    /// The difference of each run's value from the baseline's, where both are numbers.
    pub fn deltas(&self, baseline: usize) -> Vec<Option<f64>> {
        let base = self
            .values
            .get(baseline)
            .and_then(|value| value.as_ref()?.as_f64());
        self.values
            .iter()
            .map(|value| Some(value.as_ref()?.as_f64()? - base?))
            .collect()
    }
}

/// The rows of the compare table: every input, output and metric summary any run has, each
/// marked when the runs disagree on it.
pub fn rows(
    runs: &[&Run],
    summaries: &BTreeMap<String, BTreeMap<String, MetricSummary>>,
) -> Vec<Row> {
    let mut rows = Vec::new();
    type Values = fn(&Run) -> Option<&serde_json::Map<String, Json>>;
    let sections: [(Section, Values); 2] = [
        (Section::Input, |run| run.inputs.as_ref()),
        (Section::Output, |run| run.outputs.as_ref()),
    ];
    let empty = serde_json::Map::new();
    for (section, values) in sections {
        let maps: Vec<&serde_json::Map<String, Json>> = runs
            .iter()
            .map(|run| values(run).unwrap_or(&empty))
            .collect();
        let names: BTreeSet<&String> = maps.iter().flat_map(|map| map.keys()).collect();
        for name in names {
            let values = maps.iter().map(|map| map.get(name).cloned()).collect();
            rows.push(row(section, name.clone(), values));
        }
    }
    let metric_names: BTreeSet<&String> = runs
        .iter()
        .filter_map(|run| summaries.get(&run.uuid))
        .flat_map(BTreeMap::keys)
        .collect();
    for name in metric_names {
        for (stat, pick) in [
            (
                "last",
                (|summary: &MetricSummary| summary.last) as fn(&MetricSummary) -> Option<f64>,
            ),
            ("min", |summary| summary.min),
            ("max", |summary| summary.max),
        ] {
            let values = runs
                .iter()
                .map(|run| {
                    let value = pick(summaries.get(&run.uuid)?.get(name)?)?;
                    serde_json::Number::from_f64(value).map(Json::Number)
                })
                .collect();
            rows.push(row(Section::Metric, format!("{name} · {stat}"), values));
        }
    }
    rows
}

fn row(section: Section, name: String, values: Vec<Option<Json>>) -> Row {
    let differs = values.windows(2).any(|pair| pair[0] != pair[1]);
    Row {
        section,
        name,
        values,
        differs,
    }
}

/// A group of runs drawn as one line: the inputs they share and who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// `lr=0.1, batch=32`; the run's name when runs are not grouped.
    pub label: String,
    /// Indexes into the view's runs.
    pub members: Vec<usize>,
}

/// The runs put together as `grouping` says, in the order their first member comes.
pub fn groups(runs: &[&Run], grouping: &Grouping) -> Vec<Group> {
    let inputs: BTreeSet<String> = runs
        .iter()
        .flat_map(|run| run.inputs.iter().flat_map(|inputs| inputs.keys().cloned()))
        .collect();
    let keys: Vec<String> = match grouping {
        Grouping::None => {
            return runs
                .iter()
                .enumerate()
                .map(|(index, run)| Group {
                    label: run_label(run),
                    members: vec![index],
                })
                .collect();
        }
        Grouping::By(names) => names.clone(),
        Grouping::AllBut(names) => inputs
            .into_iter()
            .filter(|name| !names.contains(name))
            .collect(),
    };
    let mut groups: Vec<Group> = Vec::new();
    for (index, run) in runs.iter().enumerate() {
        let label = keys
            .iter()
            .map(|key| {
                let value = run
                    .inputs
                    .as_ref()
                    .and_then(|inputs| inputs.get(key))
                    .map_or_else(|| "–".to_owned(), show);
                format!("{key}={value}")
            })
            .collect::<Vec<_>>()
            .join(", ");
        match groups.iter_mut().find(|group| group.label == label) {
            Some(group) => group.members.push(index),
            None => groups.push(Group {
                label,
                members: vec![index],
            }),
        }
    }
    groups
}

/// A run's name, or its uuid's start.
pub fn run_label(run: &Run) -> String {
    run.name
        .clone()
        .unwrap_or_else(|| run.uuid.chars().take(8).collect())
}

/// A value as the table shows it: text without quotes, numbers as JSON writes them.
pub fn show(value: &Json) -> String {
    match value {
        Json::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// One line of a chart, with the band drawn around it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartLine {
    pub label: String,
    pub color: String,
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    /// The spread around the line: each downsampled bucket's min and max for one run, the
    /// members' min and max for a group.
    pub band: Option<ChartBand>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChartBand {
    pub x: Vec<f64>,
    pub low: Vec<f64>,
    pub high: Vec<f64>,
}

/// What one chart draws: a metric of every shown run or group.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartSpec {
    pub title: String,
    /// `step`, `time` (milliseconds since the epoch) or `relative` (seconds).
    pub axis: &'static str,
    pub log: bool,
    pub lines: Vec<ChartLine>,
}

fn axis_name(axis: XAxis) -> &'static str {
    match axis {
        XAxis::Step => "step",
        XAxis::Time => "time",
        XAxis::Relative => "relative",
    }
}

/// A run's own band (its downsampled buckets' min–max) is drawn when a chart has at most this
/// many runs: past that, the bands hide one another and the lines, and each doubles the
/// chart's work.
pub const MAX_RUN_BANDS: usize = 20;

/// The chart of metric `name`: a line per run (or per group, the mean of its members with
/// their min–max as the band), smoothed as the view says; hidden runs are left out.
pub fn chart(name: &str, runs: &[&Run], series: &[Series], state: &CompareState) -> ChartSpec {
    let by_run: BTreeMap<&str, &Series> = series
        .iter()
        .filter(|series| series.name == name)
        .map(|series| (series.run.as_str(), series))
        .collect();
    let of_run = |uuid: &str| by_run.get(uuid).copied();
    let run_bands = by_run.len() <= MAX_RUN_BANDS;
    let smooth = |values: &[f64]| {
        if state.smoothing > 0.0 {
            smooth_ema(values, state.smoothing)
        } else {
            values.to_vec()
        }
    };
    let mut lines = Vec::new();
    for group in groups(runs, &state.grouping) {
        let shown: Vec<usize> = group
            .members
            .iter()
            .copied()
            .filter(|index| !state.hidden.contains(&runs[*index].uuid))
            .collect();
        let color = color(group.members[0]);
        match (&state.grouping, shown.as_slice()) {
            (_, []) => {}
            (Grouping::None, [index]) => {
                let Some(series) = of_run(&runs[*index].uuid) else {
                    continue;
                };
                let band = series
                    .band
                    .as_ref()
                    .filter(|_| run_bands)
                    .map(|band| ChartBand {
                        x: band
                            .x_start
                            .iter()
                            .zip(&band.x_end)
                            .map(|(start, end)| (start + end) / 2.0)
                            .collect(),
                        low: band.min.clone(),
                        high: band.max.clone(),
                    });
                lines.push(ChartLine {
                    label: group.label.clone(),
                    color,
                    x: series.x.clone(),
                    y: smooth(&series.y),
                    band,
                });
            }
            (_, members) => {
                let points: Vec<Vec<Point>> = members
                    .iter()
                    .filter_map(|index| of_run(&runs[*index].uuid))
                    .map(|series| {
                        series
                            .x
                            .iter()
                            .zip(smooth(&series.y))
                            .map(|(x, y)| Point { x: *x, y })
                            .collect()
                    })
                    .collect();
                if points.is_empty() {
                    continue;
                }
                let borrowed: Vec<&[Point]> = points.iter().map(Vec::as_slice).collect();
                // Downsampled runs rarely share an x: their points meet in buckets.
                let aggregated = aggregate_runs(
                    &borrowed,
                    Alignment::Buckets {
                        range: None,
                        count: DEFAULT_SERIES_BUCKETS as usize / 4,
                    },
                );
                lines.push(ChartLine {
                    label: format!("{} ({} runs)", group.label, members.len()),
                    color,
                    x: aggregated.x.clone(),
                    y: aggregated.mean,
                    band: Some(ChartBand {
                        x: aggregated.x,
                        low: aggregated.min,
                        high: aggregated.max,
                    }),
                });
            }
        }
    }
    ChartSpec {
        title: name.to_owned(),
        axis: axis_name(state.axis),
        log: state.log,
        lines,
    }
}

/// One axis of the parallel-coordinates chart: an input, or the chosen metric last.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    pub name: String,
    /// Numbers map linearly onto the axis; anything else is spread as ordered categories.
    pub scale: Scale,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Scale {
    Linear { min: f64, max: f64 },
    Categories(Vec<String>),
}

impl Axis {
    /// Where `value` sits on the axis, from 0 (bottom) to 1 (top); `None` without a value.
    pub fn position(&self, value: Option<&Json>) -> Option<f64> {
        let value = value?;
        match &self.scale {
            Scale::Linear { min, max } => {
                let number = value.as_f64()?;
                Some(if max > min {
                    (number - min) / (max - min)
                } else {
                    0.5
                })
            }
            Scale::Categories(categories) => {
                let index = categories
                    .iter()
                    .position(|category| *category == show(value))?;
                Some(if categories.len() > 1 {
                    index as f64 / (categories.len() - 1) as f64
                } else {
                    0.5
                })
            }
        }
    }
}

/// The axes for the runs' inputs and metric `metric`'s `last`: one per input any run has.
pub fn parallel_axes(
    runs: &[&Run],
    summaries: &BTreeMap<String, BTreeMap<String, MetricSummary>>,
    metric: Option<&str>,
) -> Vec<(Axis, Vec<Option<Json>>)> {
    let names: BTreeSet<String> = runs
        .iter()
        .flat_map(|run| run.inputs.iter().flat_map(|inputs| inputs.keys().cloned()))
        .collect();
    let mut columns: Vec<(String, Vec<Option<Json>>)> = names
        .into_iter()
        .map(|name| {
            let values = runs
                .iter()
                .map(|run| run.inputs.as_ref()?.get(&name).cloned())
                .collect();
            (name, values)
        })
        .collect();
    if let Some(metric) = metric {
        let values = runs
            .iter()
            .map(|run| {
                let last = summaries.get(&run.uuid)?.get(metric)?.last?;
                serde_json::Number::from_f64(last).map(Json::Number)
            })
            .collect();
        columns.push((metric.to_owned(), values));
    }
    columns
        .into_iter()
        .map(|(name, values)| {
            let numbers: Vec<f64> = values.iter().flatten().filter_map(Json::as_f64).collect();
            let all_numbers = values.iter().flatten().all(Json::is_number);
            let scale = if all_numbers && !numbers.is_empty() {
                Scale::Linear {
                    min: numbers.iter().copied().fold(f64::INFINITY, f64::min),
                    max: numbers.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                }
            } else {
                let categories: BTreeSet<String> = values.iter().flatten().map(show).collect();
                Scale::Categories(categories.into_iter().collect())
            };
            (Axis { name, scale }, values)
        })
        .collect()
}

/// The runs as points of a scatter of input `input` (x) against the metric, the last of `axes`
/// as [`parallel_axes`] makes them with a metric (y): each run's index and its positions on the
/// two axes (0 to 1). A run lacking either value is left out.
pub fn scatter(axes: &[(Axis, Vec<Option<Json>>)], input: &str) -> Vec<(usize, f64, f64)> {
    let Some(((y_axis, ys), inputs)) = axes.split_last() else {
        return Vec::new();
    };
    let Some((x_axis, xs)) = inputs.iter().find(|(axis, _)| axis.name == input) else {
        return Vec::new();
    };
    xs.iter()
        .zip(ys)
        .enumerate()
        .filter_map(|(run, (x, y))| {
            Some((
                run,
                x_axis.position(x.as_ref())?,
                y_axis.position(y.as_ref())?,
            ))
        })
        .collect()
}

/// A brush on an axis: the runs whose position there is inside `[low, high]` (0 to 1) stay.
pub fn brushed(
    axes: &[(Axis, Vec<Option<Json>>)],
    brushes: &BTreeMap<String, (f64, f64)>,
    run: usize,
) -> bool {
    brushes.iter().all(|(name, (low, high))| {
        axes.iter()
            .find(|(axis, _)| axis.name == *name)
            .and_then(|(axis, values)| axis.position(values.get(run)?.as_ref()))
            .is_some_and(|position| (*low..=*high).contains(&position))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(uuid: &str, inputs: Json) -> Run {
        let mut run = crate::runs_view::tests::run(inputs, Json::Null);
        run.uuid = uuid.to_owned();
        run.name = Some(format!("run-{uuid}"));
        run
    }

    fn query(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect()
    }

    #[test]
    fn a_view_reads_back_from_the_query_it_writes() {
        let state = CompareState {
            runs: vec!["a".into(), "b".into(), "c".into()],
            baseline: Some("b".into()),
            differs: true,
            grouping: Grouping::AllBut(vec!["seed".into()]),
            axis: XAxis::Relative,
            smoothing: 0.6,
            log: true,
            hidden: ["c".to_owned()].into(),
        };
        let written: BTreeMap<String, String> = state
            .to_query()
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value))
            .collect();
        assert_eq!(CompareState::from_query(&written), state);
    }

    #[test]
    fn a_wrong_query_opens_on_defaults() {
        let state = CompareState::from_query(&query(&[
            ("runs", "a,,b,a"),
            ("baseline", "z"),
            ("smooth", "7"),
            ("x", "sideways"),
            ("hidden", "q"),
        ]));
        assert_eq!(state.runs, ["a", "b"]);
        assert_eq!(state.baseline, None);
        assert_eq!(state.smoothing, 0.0);
        assert_eq!(state.axis, XAxis::Step);
        assert!(state.hidden.is_empty());
        assert_eq!(
            CompareState::from_query(&query(&[])),
            CompareState::default()
        );
    }

    #[test]
    fn rows_say_which_values_differ_and_by_how_much_from_the_baseline() {
        let runs = [
            run("a", json!({"lr": 0.1, "epochs": 3})),
            run("b", json!({"lr": 0.01, "epochs": 3})),
            run("c", json!({"lr": 0.001, "epochs": 3})),
        ];
        let refs: Vec<&Run> = runs.iter().collect();
        let mut summaries = BTreeMap::new();
        for (uuid, last) in [("a", 0.5), ("b", 0.25), ("c", 0.25)] {
            let summary = MetricSummary {
                last: Some(last),
                min: Some(0.1),
                max: Some(1.0),
                ..MetricSummary::default()
            };
            summaries.insert(
                uuid.to_owned(),
                BTreeMap::from([("loss".to_owned(), summary)]),
            );
        }
        let rows = rows(&refs, &summaries);
        let names: Vec<(&str, bool)> = rows
            .iter()
            .map(|row| (row.name.as_str(), row.differs))
            .collect();
        assert_eq!(
            names,
            [
                ("epochs", false),
                ("lr", true),
                ("loss · last", true),
                ("loss · min", false),
                ("loss · max", false),
            ]
        );
        assert_eq!(rows[2].deltas(1), [Some(0.25), Some(0.0), Some(0.0)]);
        assert_eq!(rows[0].deltas(0), [Some(0.0), Some(0.0), Some(0.0)]);
    }

    #[test]
    fn runs_group_by_inputs_or_by_all_inputs_but_some() {
        let runs = [
            run("a", json!({"lr": 0.1, "seed": 1})),
            run("b", json!({"lr": 0.1, "seed": 2})),
            run("c", json!({"lr": 0.01, "seed": 1})),
        ];
        let refs: Vec<&Run> = runs.iter().collect();
        let by_lr = groups(&refs, &Grouping::By(vec!["lr".into()]));
        let all_but_seed = groups(&refs, &Grouping::AllBut(vec!["seed".into()]));
        assert_eq!(by_lr, all_but_seed);
        assert_eq!(
            by_lr,
            [
                Group {
                    label: "lr=0.1".into(),
                    members: vec![0, 1]
                },
                Group {
                    label: "lr=0.01".into(),
                    members: vec![2]
                },
            ]
        );
        let single = groups(&refs, &Grouping::None);
        assert_eq!(single.len(), 3);
        assert_eq!(single[2].label, "run-c");
    }

    fn series(run: &str, points: &[(f64, f64)]) -> Series {
        Series {
            run: run.to_owned(),
            name: "loss".to_owned(),
            x: points.iter().map(|point| point.0).collect(),
            y: points.iter().map(|point| point.1).collect(),
            band: None,
            total: points.len() as u64,
            returned: points.len() as u64,
            non_finite: 0,
            without_x: 0,
            summary: None,
        }
    }

    #[test]
    fn a_chart_draws_a_line_per_run_or_a_mean_per_group_with_its_spread() {
        let runs = [
            run("a", json!({"lr": 0.1, "seed": 1})),
            run("b", json!({"lr": 0.1, "seed": 2})),
            run("c", json!({"lr": 0.01, "seed": 1})),
        ];
        let refs: Vec<&Run> = runs.iter().collect();
        let data = [
            series("a", &[(0.0, 1.0), (1.0, 3.0)]),
            series("b", &[(0.0, 3.0), (1.0, 5.0)]),
            series("c", &[(0.0, 2.0), (1.0, 2.0)]),
        ];
        let mut state = CompareState::default();
        let each = chart("loss", &refs, &data, &state);
        assert_eq!(each.lines.len(), 3);
        assert_eq!(each.lines[1].y, [3.0, 5.0]);
        assert_ne!(each.lines[0].color, each.lines[1].color);

        state.hidden.insert("c".into());
        assert_eq!(chart("loss", &refs, &data, &state).lines.len(), 2);

        state.hidden.clear();
        state.grouping = Grouping::By(vec!["lr".into()]);
        let grouped = chart("loss", &refs, &data, &state);
        assert_eq!(grouped.lines.len(), 2);
        let pair = &grouped.lines[0];
        assert_eq!(pair.label, "lr=0.1 (2 runs)");
        let band = pair.band.as_ref().expect("a group has a spread");
        // The members' first points meet in the first bucket, their last in the last.
        assert_eq!((pair.y[0], band.low[0], band.high[0]), (2.0, 1.0, 3.0));
        let last = pair.y.len() - 1;
        assert_eq!(
            (pair.y[last], band.low[last], band.high[last]),
            (4.0, 3.0, 5.0)
        );
    }

    #[test]
    fn long_lists_show_their_first_runs_and_the_baseline_until_asked_for_all() {
        assert_eq!(shown_runs(3, false, None), [0, 1, 2]);
        let first: Vec<usize> = (0..FIRST_RUNS).collect();
        assert_eq!(shown_runs(1_000, false, None), first);
        let with_baseline = shown_runs(1_000, false, Some(700));
        assert_eq!(with_baseline.len(), FIRST_RUNS + 1);
        assert_eq!(with_baseline.last(), Some(&700));
        assert_eq!(shown_runs(1_000, false, Some(3)), first);
        assert_eq!(shown_runs(1_000, true, None).len(), 1_000);
    }

    #[test]
    fn runs_keep_their_own_bands_only_while_a_chart_has_few_of_them() {
        let banded = |run: &str| Series {
            band: Some(shared::api::SeriesBand {
                x_start: vec![0.0],
                x_end: vec![1.0],
                min: vec![1.0],
                max: vec![3.0],
            }),
            ..series(run, &[(0.0, 1.0), (1.0, 3.0)])
        };
        for count in [MAX_RUN_BANDS, MAX_RUN_BANDS + 1] {
            let runs: Vec<Run> = (0..count)
                .map(|index| run(&format!("r{index}"), json!({"seed": index})))
                .collect();
            let refs: Vec<&Run> = runs.iter().collect();
            let data: Vec<Series> = runs.iter().map(|run| banded(&run.uuid)).collect();
            let drawn = chart("loss", &refs, &data, &CompareState::default());
            assert_eq!(drawn.lines.len(), count);
            let bands = drawn
                .lines
                .iter()
                .filter(|line| line.band.is_some())
                .count();
            assert_eq!(bands, if count <= MAX_RUN_BANDS { count } else { 0 });
        }
    }

    #[test]
    fn a_scatter_places_each_run_with_both_values_by_its_input_and_its_metric() {
        let runs = [
            run("a", json!({"lr": 0.1, "opt": "adam"})),
            run("b", json!({"lr": 0.3, "opt": "sgd"})),
            run("c", json!({"opt": "sgd"})),
            run("d", json!({"lr": 0.2})),
        ];
        let refs: Vec<&Run> = runs.iter().collect();
        let summary = |last: f64| MetricSummary {
            last: Some(last),
            ..MetricSummary::default()
        };
        let summaries = BTreeMap::from([
            (
                "a".to_owned(),
                BTreeMap::from([("loss".to_owned(), summary(0.5))]),
            ),
            (
                "b".to_owned(),
                BTreeMap::from([("loss".to_owned(), summary(0.1))]),
            ),
            (
                "c".to_owned(),
                BTreeMap::from([("loss".to_owned(), summary(0.3))]),
            ),
        ]);
        let axes = parallel_axes(&refs, &summaries, Some("loss"));
        // Run c has no lr and run d no loss.
        assert_eq!(scatter(&axes, "lr"), [(0, 0.0, 1.0), (1, 1.0, 0.0)]);
        let by_opt = scatter(&axes, "opt");
        assert_eq!(by_opt[..2], [(0, 0.0, 1.0), (1, 1.0, 0.0)]);
        let (run, x, y) = by_opt[2];
        assert_eq!((run, x), (2, 1.0));
        assert!((y - 0.5).abs() < 1e-12, "{y}");
        assert_eq!(scatter(&axes, "missing"), []);
        assert_eq!(scatter(&[], "lr"), []);
    }

    #[test]
    fn parallel_axes_scale_numbers_and_spread_categories_and_brushes_filter_runs() {
        let runs = [
            run("a", json!({"lr": 0.1, "opt": "adam"})),
            run("b", json!({"lr": 0.3, "opt": "sgd"})),
        ];
        let refs: Vec<&Run> = runs.iter().collect();
        let axes = parallel_axes(&refs, &BTreeMap::new(), None);
        assert_eq!(axes.len(), 2);
        let (lr, lr_values) = &axes[0];
        assert_eq!(lr.position(lr_values[0].as_ref()), Some(0.0));
        assert_eq!(lr.position(lr_values[1].as_ref()), Some(1.0));
        let (opt, opt_values) = &axes[1];
        assert_eq!(
            opt.scale,
            Scale::Categories(vec!["adam".into(), "sgd".into()])
        );
        assert_eq!(opt.position(opt_values[1].as_ref()), Some(1.0));
        let brushes = BTreeMap::from([("lr".to_owned(), (0.5, 1.0))]);
        assert!(!brushed(&axes, &brushes, 0));
        assert!(brushed(&axes, &brushes, 1));
    }
}
