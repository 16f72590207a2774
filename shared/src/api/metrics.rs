//! Run metrics for charts: a request for several runs' metric series, the series downsampled
//! for drawing, and what a metric's whole history comes to ([`MetricSummary`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::downsample::Downsampled;
use crate::events::MetricRow;
use crate::time::Timestamp;

/// How many buckets a series is cut into when the request does not say: about a chart's width
/// in pixels, each bucket keeping at most four points.
pub const DEFAULT_SERIES_BUCKETS: u32 = 1_000;

/// The most points a chart asks for, all its lines together: a thousand runs stay a chart the
/// browser draws at once, not four million points.
pub const CHART_POINTS: u32 = 200_000;

/// Buckets per line for a chart of `lines` lines: [`DEFAULT_SERIES_BUCKETS`] for a few, fewer
/// for many (each bucket brings up to four points), never under 50. Fewer buckets hide no
/// extreme: each still keeps its lowest and highest point, only less precisely placed.
pub fn chart_buckets(lines: usize) -> u32 {
    let lines = u32::try_from(lines.max(1)).unwrap_or(u32::MAX);
    (CHART_POINTS / 4 / lines).clamp(50, DEFAULT_SERIES_BUCKETS)
}

/// The most runs one series or summaries request names.
pub const MAX_SERIES_RUNS: usize = 2_000;

/// The most metric names one series request names.
pub const MAX_SERIES_NAMES: usize = 50;

/// The most buckets a series is cut into: several times the widest screen's pixels.
pub const MAX_SERIES_BUCKETS: u32 = 10_000;

/// Which of a run's series: what its code logged, or what its machine measured.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum MetricKind {
    /// What the run's code logged (`tracking.log_metrics`), in `events/metric/NAME.plx`.
    #[default]
    Metric,
    /// The CPU, memory and GPU use the tracking client measured, in
    /// `resources/metric/NAME.plx`: Polyaxon's `system` events.
    System,
}

impl MetricKind {
    /// The name Polyaxon's routes give the kind: `metric` or `system`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Metric => "metric",
            Self::System => "system",
        }
    }
}

/// What a series' x is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum XAxis {
    /// The step the value was logged at; values logged without one are left out.
    #[default]
    Step,
    /// When the value was logged, in milliseconds since the Unix epoch.
    Time,
    /// When the value was logged, in seconds since the run's first value (or since an origin
    /// the server chooses, such as the run's start).
    Relative,
}

/// A stretch of the x axis, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct XRange {
    /// The lowest x in range.
    pub from: f64,
    /// The highest x in range.
    pub to: f64,
}

/// A request for the series of some metrics of some runs, as a chart draws them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesRequest {
    /// The runs' uuids.
    pub runs: Vec<String>,
    /// The metrics' names.
    pub names: Vec<String>,
    /// Whether the names are logged metrics or system resources.
    #[serde(default)]
    pub kind: MetricKind,
    /// What x is.
    #[serde(default)]
    pub axis: XAxis,
    /// How many buckets to cut the x range into; a series with more than four points per
    /// bucket comes back downsampled.
    #[serde(default = "default_series_buckets")]
    pub buckets: u32,
    /// The part of the x axis to show; all of it when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<XRange>,
}

fn default_series_buckets() -> u32 {
    DEFAULT_SERIES_BUCKETS
}

/// The series a [`SeriesRequest`] asked for. A run without the metric has no series, as
/// Polyaxon skips a missing event file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SeriesResponse {
    /// One entry per run and metric found.
    pub series: Vec<Series>,
}

/// One metric of one run, as columns: the points to draw, and how many points they stand for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// The run's uuid.
    pub run: String,
    /// The metric's name.
    pub name: String,
    /// The points' x, ascending.
    pub x: Vec<f64>,
    /// The points' values, all finite.
    pub y: Vec<f64>,
    /// The spread of values around the drawn line, when the series was downsampled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub band: Option<SeriesBand>,
    /// How many points lie in range, those not drawn included: "1,000 of 1,000,000 points".
    pub total: u64,
    /// How many points are drawn: the length of `x` and `y`.
    pub returned: u64,
    /// How many points in range have a `NaN` or infinite value, which cannot be drawn.
    pub non_finite: u64,
    /// How many values have no x on the requested axis (no step, or no time), and so are in no
    /// range.
    pub without_x: u64,
    /// What the metric's whole history comes to, whatever the range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<MetricSummary>,
}

impl Series {
    /// The series of metric `name` of run `run` from its downsampled points; `without_x` and
    /// `summary` are the caller's to fill in.
    pub fn new(run: impl Into<String>, name: impl Into<String>, downsampled: Downsampled) -> Self {
        let Downsampled {
            points,
            bands,
            total,
            non_finite,
        } = downsampled;
        let band = (!bands.is_empty()).then(|| SeriesBand {
            x_start: bands.iter().map(|band| band.x_start).collect(),
            x_end: bands.iter().map(|band| band.x_end).collect(),
            min: bands.iter().map(|band| band.min).collect(),
            max: bands.iter().map(|band| band.max).collect(),
        });
        Self {
            run: run.into(),
            name: name.into(),
            returned: points.len() as u64,
            x: points.iter().map(|point| point.x).collect(),
            y: points.iter().map(|point| point.y).collect(),
            band,
            total: total as u64,
            non_finite: non_finite as u64,
            without_x: 0,
            summary: None,
        }
    }
}

/// A request for what some runs' metrics come to, for choosing among them: a table's metric
/// columns, a chart's metrics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummariesRequest {
    /// The runs' uuids.
    pub runs: Vec<String>,
    /// Logged metrics or system resources.
    #[serde(default)]
    pub kind: MetricKind,
}

/// What a [`SummariesRequest`] asked for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricSummaries {
    /// Every name some of the runs logged, sorted.
    pub names: Vec<String>,
    /// Per run found (by uuid), its metrics' summaries by name; a run that logged nothing has
    /// an empty map, and an unknown uuid no entry.
    pub runs: BTreeMap<String, BTreeMap<String, MetricSummary>>,
}

/// Per bucket of a downsampled series, as columns: where the bucket's points lie and the
/// lowest and highest of their values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesBand {
    /// The x of each bucket's first point.
    pub x_start: Vec<f64>,
    /// The x of each bucket's last point.
    pub x_end: Vec<f64>,
    /// Each bucket's lowest value.
    pub min: Vec<f64>,
    /// Each bucket's highest value.
    pub max: Vec<f64>,
}

/// What a metric's values come to, kept up to date by [`MetricSummary::add`] as rows are read,
/// so a runs table can show a run's last loss without reading its history again. The fields
/// are Polyaxon's metric summary (`count`, `min`, `max`, `last`; the first and last step and
/// time).
///
/// A value that is `NaN` or infinite is counted and becomes `last`, but is neither `min` nor
/// `max`: one diverged step would otherwise hide every other value. On the wire such a `last`
/// is `null`, as JSON has no `NaN`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricSummary {
    /// How many values were logged.
    pub count: u64,
    /// How many of them are `NaN` or infinite.
    pub non_finite: u64,
    /// The last value logged.
    pub last: Option<f64>,
    /// The lowest finite value.
    pub min: Option<f64>,
    /// The highest finite value.
    pub max: Option<f64>,
    /// The step of the first value logged with one.
    pub first_step: Option<i64>,
    /// The step of the last value logged with one.
    pub last_step: Option<i64>,
    /// When the first value was logged.
    pub first_time: Option<Timestamp>,
    /// When the last value was logged.
    pub last_time: Option<Timestamp>,
}

impl MetricSummary {
    /// Folds in the next row of the metric's file.
    pub fn add(&mut self, row: &MetricRow) {
        self.count += 1;
        self.last = Some(row.value);
        if row.value.is_finite() {
            self.min = Some(self.min.map_or(row.value, |min| min.min(row.value)));
            self.max = Some(self.max.map_or(row.value, |max| max.max(row.value)));
        } else {
            self.non_finite += 1;
        }
        if let Some(step) = row.step {
            self.first_step.get_or_insert(step);
            self.last_step = Some(step);
        }
        if let Some(time) = row.timestamp {
            self.first_time.get_or_insert(time);
            self.last_time = Some(time);
        }
    }
}
