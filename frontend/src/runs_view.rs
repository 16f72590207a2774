//! The runs table's view as data: which columns show, how rows sort, which rows a scroll
//! position needs, the rows as CSV and the compare page's link for the chosen runs. It reads
//! from and writes to the URL's query (`?query=…&sort=…&columns=…`), so a link reproduces a
//! view exactly; being pure, it is tested without a browser.

use std::borrow::Cow;
use std::ops::Range;

use shared::api::{MetricSummary, Run};

use crate::rows::FixedRows;

/// A column of the runs table.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Column {
    /// The run's name (its uuid's start when it has none), linking to its page.
    Name,
    /// The whole uuid.
    Uuid,
    /// The status badge.
    Status,
    /// `job`, `service`, `dag`, …
    Kind,
    /// What executed it (`process`, `kubernetes`).
    Runtime,
    /// Who submitted it.
    User,
    /// When it was created.
    Created,
    /// When it started.
    Started,
    /// How long it ran.
    Duration,
    /// Its tags.
    Tags,
    /// One of its inputs (`inputs.lr`).
    Input(String),
    /// One of its outputs (`outputs.loss`).
    Output(String),
    /// Its project, linking to the project's page: in tables across projects.
    Project,
    /// A part of what a metric it logged comes to (`metrics.loss.min`).
    Metric {
        /// The metric's name.
        name: String,
        /// Which part.
        stat: Stat,
    },
}

/// Which part of a metric's summary a column shows: the parts the server filters and sorts on
/// (`metrics.loss.min:<0.1`, `sort=-metrics.acc.max`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stat {
    /// The last value logged.
    Last,
    /// The lowest value.
    Min,
    /// The highest value.
    Max,
}

/// Every part, in the order the chooser offers them.
pub const STATS: [Stat; 3] = [Stat::Last, Stat::Min, Stat::Max];

impl Stat {
    /// How the part is named after the metric in a key (`metrics.loss.min`).
    pub fn key(self) -> &'static str {
        match self {
            Stat::Last => "last",
            Stat::Min => "min",
            Stat::Max => "max",
        }
    }

    /// The part's value in `summary`, when it has one. A last value that is `NaN` or infinite
    /// has none (JSON has no such numbers), nor have min and max of values none finite.
    pub fn of(self, summary: &MetricSummary) -> Option<f64> {
        match self {
            Stat::Last => summary.last,
            Stat::Min => summary.min,
            Stat::Max => summary.max,
        }
    }
}

/// Which runs a table lists: the columns it offers and shows by default differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// One project's runs.
    Project,
    /// The runs of every project, each with its project.
    AllProjects,
}

impl Scope {
    /// The columns every table of this scope offers, in their usual order.
    pub fn fixed(self) -> Vec<Column> {
        with_project(self, &FIXED)
    }

    /// The columns shown when the URL does not say, before the discovered ones.
    fn default(self) -> Vec<Column> {
        with_project(self, &DEFAULT)
    }
}

/// `columns`, with the project's after the name across projects.
fn with_project(scope: Scope, columns: &[Column]) -> Vec<Column> {
    let mut columns = columns.to_vec();
    if scope == Scope::AllProjects {
        columns.insert(1, Column::Project);
    }
    columns
}

/// The columns every project has, in their usual order.
pub const FIXED: [Column; 10] = [
    Column::Name,
    Column::Status,
    Column::Kind,
    Column::Runtime,
    Column::User,
    Column::Created,
    Column::Started,
    Column::Duration,
    Column::Tags,
    Column::Uuid,
];

/// What shows when the URL does not say: the columns a glance needs, then every input and
/// output the loaded runs have and the last value of their metrics.
const DEFAULT: [Column; 6] = [
    Column::Name,
    Column::Status,
    Column::Kind,
    Column::Created,
    Column::Duration,
    Column::Tags,
];

impl Column {
    /// How the column is named in the URL and in Polyaxon's query language.
    pub fn key(&self) -> String {
        match self {
            Column::Name => "name".into(),
            Column::Uuid => "uuid".into(),
            Column::Status => "status".into(),
            Column::Kind => "kind".into(),
            Column::Runtime => "runtime".into(),
            Column::User => "user".into(),
            Column::Created => "created_at".into(),
            Column::Started => "started_at".into(),
            Column::Duration => "duration".into(),
            Column::Tags => "tags".into(),
            Column::Input(name) => format!("inputs.{name}"),
            Column::Output(name) => format!("outputs.{name}"),
            Column::Project => "project".into(),
            Column::Metric { name, stat } => format!("metrics.{name}.{}", stat.key()),
        }
    }

    /// The column a URL key names, if any. `metrics.NAME` alone is the last value, as in
    /// Polyaxon's query language.
    pub fn parse(key: &str) -> Option<Column> {
        if key == "project" {
            return Some(Column::Project);
        }
        if let Some(rest) = key.strip_prefix("metrics.").filter(|rest| !rest.is_empty()) {
            let (name, stat) = rest
                .rsplit_once('.')
                .and_then(|(name, part)| {
                    let stat = STATS.into_iter().find(|stat| stat.key() == part)?;
                    (!name.is_empty()).then_some((name, stat))
                })
                .unwrap_or((rest, Stat::Last));
            return Some(Column::Metric {
                name: name.to_owned(),
                stat,
            });
        }
        if let Some(name) = key.strip_prefix("inputs.").filter(|name| !name.is_empty()) {
            return Some(Column::Input(name.to_owned()));
        }
        if let Some(name) = key.strip_prefix("outputs.").filter(|name| !name.is_empty()) {
            return Some(Column::Output(name.to_owned()));
        }
        FIXED.into_iter().find(|column| column.key() == key)
    }

    /// Its header.
    pub fn title(&self) -> String {
        match self {
            Column::Name => "Name".into(),
            Column::Uuid => "UUID".into(),
            Column::Status => "Status".into(),
            Column::Kind => "Kind".into(),
            Column::Runtime => "Runtime".into(),
            Column::User => "User".into(),
            Column::Created => "Created".into(),
            Column::Started => "Started".into(),
            Column::Duration => "Duration".into(),
            Column::Tags => "Tags".into(),
            Column::Input(name) => format!("in: {name}"),
            Column::Output(name) => format!("out: {name}"),
            Column::Project => "Project".into(),
            Column::Metric { name, stat } => format!("{name} ({})", stat.key()),
        }
    }

    /// Whether the server sorts by it. The runtime column shows Myelin's runtime, which the
    /// server's `runtime` field (Polyaxon's, the kind) is not; tags have no order; the server
    /// does not sort by project.
    pub fn sortable(&self) -> bool {
        !matches!(self, Column::Runtime | Column::Tags | Column::Project)
    }

    /// The cell's text, for the columns that are plain text: times to the minute, durations
    /// as people read them, a metric's value to six significant digits ([`short_number`]).
    pub fn text(&self, run: &Run) -> String {
        match self {
            Column::Created => crate::format::minute(&run.created_at.to_string()),
            Column::Started => run
                .started_at
                .map(|at| crate::format::minute(&at.to_string()))
                .unwrap_or_default(),
            Column::Duration => run.duration.map(crate::format::seconds).unwrap_or_default(),
            Column::Metric { name, stat } => match metric_value(run, name, *stat) {
                MetricValue::Number(value) => short_number(value),
                other => other.text(),
            },
            _ => self.exported(run),
        }
    }

    /// The cell's value in an export: as shown, but times in full (ISO 8601), durations in
    /// seconds and metrics to their last digit ([`full_number`]).
    pub fn exported(&self, run: &Run) -> String {
        let value =
            |values: &Option<serde_json::Map<String, serde_json::Value>>, name: &str| match values
                .as_ref()
                .and_then(|values| values.get(name))
            {
                None | Some(serde_json::Value::Null) => String::new(),
                Some(serde_json::Value::String(text)) => text.clone(),
                Some(other) => other.to_string(),
            };
        match self {
            Column::Name => run.name.clone().unwrap_or_else(|| short(&run.uuid)),
            Column::Uuid => run.uuid.clone(),
            Column::Status => run.status.as_str().to_owned(),
            Column::Kind => run.kind.clone(),
            Column::Runtime => run.settings.runtime.clone(),
            Column::User => run.user.clone().unwrap_or_default(),
            Column::Created => run.created_at.to_string(),
            Column::Started => run.started_at.map(|at| at.to_string()).unwrap_or_default(),
            Column::Duration => run.duration.map(full_number).unwrap_or_default(),
            Column::Tags => run.tags.join(", "),
            Column::Input(name) => value(&run.inputs, name),
            Column::Output(name) => value(&run.outputs, name),
            Column::Project => run.project.clone(),
            Column::Metric { name, stat } => metric_value(run, name, *stat).text(),
        }
    }
}

/// What a run's metric column holds.
#[derive(Debug, Clone, PartialEq)]
enum MetricValue {
    /// A number.
    Number(f64),
    /// The metric's last value is `NaN` or infinite, which the summary cannot carry.
    NotFinite,
    /// An output's value, for the last value of a metric the run logged no series of: the
    /// server filters and sorts `metrics.NAME` on it then, as Polyaxon does.
    Output(String),
    /// Nothing.
    Missing,
}

impl MetricValue {
    fn text(&self) -> String {
        match self {
            MetricValue::Number(value) => full_number(*value),
            MetricValue::NotFinite => "not finite".to_owned(),
            MetricValue::Output(text) => text.clone(),
            MetricValue::Missing => String::new(),
        }
    }
}

fn metric_value(run: &Run, name: &str, stat: Stat) -> MetricValue {
    let summary = run.metrics.as_ref().and_then(|metrics| metrics.get(name));
    match summary {
        Some(summary) => match stat.of(summary) {
            Some(value) => MetricValue::Number(value),
            None if stat == Stat::Last && summary.non_finite > 0 => MetricValue::NotFinite,
            None => MetricValue::Missing,
        },
        None if stat == Stat::Last => {
            let text = Column::Output(name.to_owned()).exported(run);
            if text.is_empty() {
                MetricValue::Missing
            } else {
                MetricValue::Output(text)
            }
        }
        None => MetricValue::Missing,
    }
}

/// A number to the last digit that tells it apart (as it reads back the same), without a
/// trailing `.0`, in exponent form when tiny or huge: `0.1`, `3`, `1e-7`, `1.5e20`.
pub fn full_number(value: f64) -> String {
    // Debug prints the shortest digits that read back the same, switching to an exponent
    // below 1e-4 and from 1e16 on, where Display would print every zero.
    let text = format!("{value:?}");
    match text.strip_suffix(".0") {
        Some(whole) => whole.to_owned(),
        None => text,
    }
}

/// A number to six significant digits, as a table cell shows it (`printf`'s `%g`): `0.123457`,
/// `12`, `1.5e-07` is `1.5e-7`, `1234570` is `1.23457e6`.
pub fn short_number(value: f64) -> String {
    const DIGITS: i32 = 6;
    if !value.is_finite() {
        return full_number(value);
    }
    // The exponent after rounding to the digits kept: 999999.7 is 1e6.
    let scientific = format!("{value:.*e}", (DIGITS - 1) as usize);
    let (mantissa, exponent) = scientific
        .split_once('e')
        .expect("`{:e}` writes an exponent");
    let exponent: i32 = exponent.parse().expect("the exponent is a number");
    if (-4..DIGITS).contains(&exponent) {
        let decimals = (DIGITS - 1 - exponent).max(0) as usize;
        trim_fraction(&format!("{value:.decimals$}")).to_owned()
    } else {
        format!("{}e{exponent}", trim_fraction(mantissa))
    }
}

/// `1.500` as `1.5`, `2.000` as `2`; text without a point as it is.
fn trim_fraction(text: &str) -> &str {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text
    }
}

/// A uuid's first eight digits, as a name for a run without one.
pub fn short(uuid: &str) -> String {
    uuid.get(..8).unwrap_or(uuid).to_owned()
}

/// Who made the runs, when some person did (a server with people); then every input, output
/// and metric the runs have, inputs first, each in order of first sight; a metric with its
/// last value, lowest and highest.
pub fn discovered<'a>(runs: impl IntoIterator<Item = &'a Run>) -> Vec<Column> {
    let mut inputs = Vec::new();
    let mut outputs = Vec::new();
    let mut metrics: Vec<&str> = Vec::new();
    let mut by_people = false;
    for run in runs {
        by_people |= run.user.is_some();
        for name in run.metrics.iter().flat_map(|metrics| metrics.keys()) {
            if !metrics.contains(&name.as_str()) {
                metrics.push(name);
            }
        }
        for (values, found, make) in [
            (
                &run.inputs,
                &mut inputs,
                Column::Input as fn(String) -> Column,
            ),
            (&run.outputs, &mut outputs, Column::Output),
        ] {
            for name in values.iter().flat_map(|values| values.keys()) {
                let column = make(name.clone());
                if !found.contains(&column) {
                    found.push(column);
                }
            }
        }
    }
    inputs.extend(outputs);
    inputs.extend(metrics.into_iter().flat_map(|name| {
        STATS.map(|stat| Column::Metric {
            name: name.to_owned(),
            stat,
        })
    }));
    if by_people {
        inputs.insert(0, Column::User);
    }
    inputs
}

/// The most metrics whose last value shows by default; the chooser offers the others.
pub const DEFAULT_METRICS: usize = 10;

/// The columns shown: those the URL lists (`columns=name,status,inputs.lr`), in its order,
/// or the default ones with the discovered inputs and outputs and the last value of the
/// discovered metrics (the first [`DEFAULT_METRICS`]). An output named as a metric is left
/// out then: Polyaxon's tracking client copies each metric's last value into the outputs.
/// Unknown keys are skipped.
pub fn shown(listed: Option<&str>, discovered: &[Column], scope: Scope) -> Vec<Column> {
    match listed.filter(|listed| !listed.trim().is_empty()) {
        Some(listed) => {
            let mut columns: Vec<Column> = Vec::new();
            for column in listed
                .split(',')
                .filter_map(|key| Column::parse(key.trim()))
            {
                if !columns.contains(&column) {
                    columns.push(column);
                }
            }
            columns
        }
        None => {
            let is_metric = |name: &str| {
                discovered.iter().any(|column| {
                    matches!(column, Column::Metric { name: metric, .. } if metric == name)
                })
            };
            let lasts = discovered
                .iter()
                .filter(|column| {
                    matches!(
                        column,
                        Column::Metric {
                            stat: Stat::Last,
                            ..
                        }
                    )
                })
                .take(DEFAULT_METRICS);
            let values = discovered.iter().filter(|column| match column {
                Column::Input(_) => true,
                Column::Output(name) => !is_metric(name),
                _ => false,
            });
            let mut columns = scope.default();
            // Who made each run, beside its status, once people make them.
            if discovered.contains(&Column::User)
                && let Some(at) = columns.iter().position(|column| *column == Column::Status)
            {
                columns.insert(at + 1, Column::User);
            }
            columns
                .into_iter()
                .chain(values.chain(lasts).cloned())
                .collect()
        }
    }
}

/// Every column the chooser offers: the fixed ones, then the discovered and listed ones.
pub fn offered(shown: &[Column], discovered: &[Column], scope: Scope) -> Vec<Column> {
    let mut columns: Vec<Column> = scope.fixed();
    for column in discovered.iter().chain(shown) {
        if !columns.contains(column) {
            columns.push(column.clone());
        }
    }
    columns
}

/// The URL's `columns` value after showing or hiding `column`: shown ones keep their order, a
/// newly shown one goes where the chooser lists it.
pub fn toggled(shown: &[Column], offered: &[Column], column: &Column) -> String {
    let keep: Vec<&Column> = if shown.contains(column) {
        shown.iter().filter(|c| *c != column).collect()
    } else {
        offered
            .iter()
            .filter(|c| shown.contains(c) || *c == column)
            .collect()
    };
    keep.iter()
        .map(|column| column.key())
        .collect::<Vec<_>>()
        .join(",")
}

/// Which way a column sorts the rows, if it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Smallest first.
    Ascending,
    /// Largest first.
    Descending,
}

/// The direction `sort` (the URL's `sort`, e.g. `-created_at`) puts on `column`, when it is the
/// first key.
pub fn sorted_by(sort: Option<&str>, column: &Column) -> Option<Direction> {
    let first = sort?.split(',').next()?.trim();
    let key = column.key();
    match first.strip_prefix('-') {
        Some(name) if name == key => Some(Direction::Descending),
        None if first == key => Some(Direction::Ascending),
        _ => None,
    }
}

/// The `sort` after a click on `column`'s header: largest first, then smallest first, then the
/// server's order (newest first) again.
pub fn next_sort(sort: Option<&str>, column: &Column) -> Option<String> {
    match sorted_by(sort, column) {
        None => Some(format!("-{}", column.key())),
        Some(Direction::Descending) => Some(column.key()),
        Some(Direction::Ascending) => None,
    }
}

/// Every row is this tall (CSS keeps it so).
pub const ROWS: FixedRows = FixedRows(36.0);
/// Rows a request asks for.
pub const PAGE: usize = 100;

/// The pages (of [`PAGE`] rows) to read for `rows`: those that hold them, or the first one
/// when there are none, since its answer says whether there are rows now.
pub fn pages(rows: &Range<usize>) -> Range<usize> {
    if rows.is_empty() {
        return 0..1;
    }
    rows.start / PAGE..(rows.end - 1) / PAGE + 1
}

/// The most rows an export holds; a view with more exports its first ones and says so.
pub const EXPORT_MAX: usize = 10_000;
/// Rows an export asks for at once: the most the server gives.
pub const EXPORT_PAGE: usize = 1_000;

/// The runs as CSV (RFC 4180): a header of the columns' keys (`inputs.lr`,
/// `metrics.loss.min`, as the query language names them), then one line per run with the
/// columns' [`Column::exported`] values, every line ending in CRLF.
pub fn csv(columns: &[Column], runs: &[Run]) -> String {
    let mut text = String::new();
    let mut line = |fields: &mut dyn Iterator<Item = String>| {
        let mut first = true;
        for field in fields {
            if !first {
                text.push(',');
            }
            first = false;
            text.push_str(&csv_field(&field));
        }
        text.push_str("\r\n");
    };
    line(&mut columns.iter().map(Column::key));
    for run in runs {
        line(&mut columns.iter().map(|column| column.exported(run)));
    }
    text
}

/// One CSV field. It is quoted, its quotes doubled, when it holds a comma, a quote, a line
/// break or space at either end. Text that a spreadsheet would run as a formula (it starts
/// with `=`, `+`, `-`, `@`, a tab or a carriage return and is not a number, e.g. a run named
/// `=HYPERLINK(…)`) gets a leading `'`, as OWASP advises, so opening an export runs nothing.
pub fn csv_field(text: &str) -> Cow<'_, str> {
    let formula =
        text.starts_with(['=', '+', '-', '@', '\t', '\r']) && text.parse::<f64>().is_err();
    let text: Cow<'_, str> = if formula {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    };
    let quoted = text.contains([',', '"', '\n', '\r'])
        || text.starts_with(char::is_whitespace)
        || text.ends_with(char::is_whitespace);
    if quoted {
        Cow::Owned(format!("\"{}\"", text.replace('"', "\"\"")))
    } else {
        text
    }
}

/// What an export of `rows` runs out of the `count` matching says.
pub fn export_note(rows: usize, count: usize) -> String {
    if rows < count {
        format!(
            "the first {} of {} runs (an export stops at {})",
            grouped(rows),
            grouped(count),
            grouped(EXPORT_MAX)
        )
    } else if rows == 1 {
        "1 run".to_owned()
    } else {
        format!("{} runs", grouped(rows))
    }
}

/// `12345` as `12,345`.
pub fn grouped(number: usize) -> String {
    let digits = number.to_string();
    let mut text = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            text.push(',');
        }
        text.push(digit);
    }
    text
}

/// The most runs the compare page takes.
pub const MAX_COMPARED: usize = 1_000;

/// The compare page for `uuids` (`/compare?runs=UUID1,UUID2`), when there are some and no more
/// than [`MAX_COMPARED`].
pub fn compare_href<'a>(uuids: impl ExactSizeIterator<Item = &'a String>) -> Option<String> {
    if uuids.len() == 0 || uuids.len() > MAX_COMPARED {
        return None;
    }
    let listed: Vec<&str> = uuids.map(String::as_str).collect();
    Some(format!("/compare?runs={}", listed.join(",")))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A run as the server lists it, with these inputs and outputs (other views' tests too).
    pub(crate) fn run(inputs: serde_json::Value, outputs: serde_json::Value) -> Run {
        serde_json::from_value(serde_json::json!({
            "uuid": "0123456789abcdef0123456789abcdef",
            "name": null,
            "description": null,
            "tags": [],
            "user": null,
            "owner": "default",
            "project": "demo",
            "created_at": "2026-11-23T09:00:00Z",
            "updated_at": "2026-11-23T09:00:00Z",
            "started_at": null,
            "finished_at": null,
            "wait_time": null,
            "duration": null,
            "managed_by": "agent",
            "is_managed": true,
            "is_approved": true,
            "pending": null,
            "content": null,
            "raw_content": null,
            "status": "failed",
            "status_conditions": [],
            "meta_info": {},
            "kind": "job",
            "runtime": "job",
            "inputs": inputs,
            "outputs": outputs,
            "settings": {"namespace": "polyaxon", "artifacts_store": null, "runtime": "process"},
            "live_state": 1,
            "original": null,
        }))
        .expect("a run")
    }

    /// `run` with these metric summaries (`{name: {last, min, max, count}}`).
    pub(crate) fn with_metrics(mut run: Run, metrics: serde_json::Value) -> Run {
        let summaries = metrics
            .as_object()
            .expect("summaries by name")
            .iter()
            .map(|(name, given)| {
                let mut summary =
                    serde_json::to_value(MetricSummary::default()).expect("a summary's JSON");
                for (field, value) in given.as_object().expect("a summary's fields") {
                    summary[field] = value.clone();
                }
                let summary = serde_json::from_value(summary).expect("a summary");
                (name.clone(), summary)
            })
            .collect();
        run.metrics = Some(summaries);
        run
    }

    fn metric(name: &str, stat: Stat) -> Column {
        Column::Metric {
            name: name.into(),
            stat,
        }
    }

    #[test]
    fn columns_read_back_from_their_keys() {
        let mut every = Scope::AllProjects.fixed();
        every.extend([Column::Input("lr".into()), Column::Output("loss".into())]);
        every.extend(STATS.map(|stat| metric("loss", stat)));
        every.push(metric("train/acc.min", Stat::Max));
        for column in every {
            assert_eq!(Column::parse(&column.key()), Some(column));
        }
        assert_eq!(metric("loss", Stat::Min).key(), "metrics.loss.min");
        assert_eq!(Column::Project.key(), "project");
        assert_eq!(
            Column::parse("metrics.loss"),
            Some(metric("loss", Stat::Last)),
            "a metric alone is its last value, as in the query language"
        );
        assert_eq!(
            Column::parse("metrics.loss.count"),
            Some(metric("loss.count", Stat::Last)),
            "only last, min and max are columns"
        );
        assert_eq!(Column::parse("inputs."), None);
        assert_eq!(Column::parse("metrics."), None);
        assert_eq!(Column::parse("nonsense"), None);
    }

    #[test]
    fn who_made_the_runs_shows_beside_their_status_once_people_make_them() {
        let laptop = [run(serde_json::json!({}), serde_json::json!({}))];
        assert!(!shown(None, &discovered(&laptop), Scope::Project).contains(&Column::User));
        let mut made = run(serde_json::json!({}), serde_json::json!({}));
        made.user = Some("ada".into());
        let team = [laptop[0].clone(), made];
        let columns = shown(None, &discovered(&team), Scope::Project);
        assert_eq!(columns[..3], [Column::Name, Column::Status, Column::User]);
    }

    #[test]
    fn metrics_are_discovered_with_their_last_value_shown_and_every_part_offered() {
        let runs = [
            with_metrics(
                run(
                    serde_json::json!({"lr": 0.1}),
                    serde_json::json!({"loss": 0.2, "note": "ok"}),
                ),
                serde_json::json!({"loss": {"count": 3, "last": 0.2, "min": 0.2, "max": 0.9}}),
            ),
            with_metrics(
                run(serde_json::json!({}), serde_json::json!({})),
                serde_json::json!({"acc": {"count": 1, "last": 0.5, "min": 0.5, "max": 0.5}}),
            ),
        ];
        let found = discovered(&runs);
        assert_eq!(
            found,
            [
                Column::Input("lr".into()),
                Column::Output("loss".into()),
                Column::Output("note".into()),
                metric("loss", Stat::Last),
                metric("loss", Stat::Min),
                metric("loss", Stat::Max),
                metric("acc", Stat::Last),
                metric("acc", Stat::Min),
                metric("acc", Stat::Max),
            ]
        );
        assert_eq!(
            shown(None, &found, Scope::Project)[6..],
            [
                Column::Input("lr".into()),
                Column::Output("note".into()),
                metric("loss", Stat::Last),
                metric("acc", Stat::Last),
            ],
            "the output a metric's last value copies is not shown twice"
        );
        let listed = shown(
            Some("name,metrics.loss.last,metrics.loss.min"),
            &found,
            Scope::Project,
        );
        assert_eq!(
            listed,
            [
                Column::Name,
                metric("loss", Stat::Last),
                metric("loss", Stat::Min)
            ]
        );
        let offer = offered(&listed, &found, Scope::Project);
        assert!(offer.contains(&metric("acc", Stat::Max)));
        assert_eq!(
            toggled(&listed, &offer, &metric("loss", Stat::Max)),
            "name,metrics.loss.last,metrics.loss.min,metrics.loss.max"
        );
        assert_eq!(
            toggled(&listed, &offer, &metric("loss", Stat::Min)),
            "name,metrics.loss.last"
        );
    }

    #[test]
    fn a_table_across_projects_shows_and_offers_the_project() {
        let default = shown(None, &[], Scope::AllProjects);
        assert_eq!(
            default[..3],
            [Column::Name, Column::Project, Column::Status]
        );
        assert!(!shown(None, &[], Scope::Project).contains(&Column::Project));
        assert!(offered(&[], &[], Scope::AllProjects).contains(&Column::Project));
        assert!(!offered(&[], &[], Scope::Project).contains(&Column::Project));
        assert!(
            !Column::Project.sortable(),
            "the server does not sort by project"
        );
        assert_eq!(
            Column::Project.text(&run(serde_json::json!({}), serde_json::json!({}))),
            "demo"
        );
    }

    #[test]
    fn metric_cells_show_six_digits_and_exports_every_digit() {
        let tracked = with_metrics(
            run(
                serde_json::json!({}),
                serde_json::json!({"loss": 9.0, "acc": 0.75}),
            ),
            serde_json::json!({
                "loss": {"count": 30, "last": 0.012345678, "min": 1e-7, "max": 2.0},
                "diverged": {"count": 4, "non_finite": 1, "last": null, "min": 0.5, "max": 3.5},
            }),
        );
        let cell = |key: &str| Column::parse(key).expect("a column").text(&tracked);
        let exported = |key: &str| Column::parse(key).expect("a column").exported(&tracked);
        assert_eq!(cell("metrics.loss.last"), "0.0123457");
        assert_eq!(exported("metrics.loss.last"), "0.012345678");
        assert_eq!(cell("metrics.loss.min"), "1e-7");
        assert_eq!(exported("metrics.loss.min"), "1e-7");
        assert_eq!(cell("metrics.loss.max"), "2");
        assert_eq!(cell("metrics.diverged.last"), "not finite");
        assert_eq!(cell("metrics.diverged.min"), "0.5");
        assert_eq!(
            cell("metrics.acc.last"),
            "0.75",
            "without a series, the last value is the output, as the server sorts it"
        );
        assert_eq!(cell("metrics.acc.min"), "");
        assert_eq!(cell("metrics.unknown.last"), "");
    }

    #[test]
    fn numbers_read_short_in_cells_and_whole_in_exports() {
        for (value, short, full) in [
            (0.0, "0", "0"),
            (3.0, "3", "3"),
            (-0.5, "-0.5", "-0.5"),
            (0.1 + 0.2, "0.3", "0.30000000000000004"),
            (123_456.7, "123457", "123456.7"),
            (999_999.7, "1e6", "999999.7"),
            (1_234_567.0, "1.23457e6", "1234567"),
            (0.000_123_456_7, "0.000123457", "0.0001234567"),
            (0.000_012_5, "1.25e-5", "1.25e-5"),
            (1e20, "1e20", "1e20"),
            (f64::NAN, "NaN", "NaN"),
            (f64::NEG_INFINITY, "-inf", "-inf"),
        ] {
            assert_eq!(short_number(value), short, "{value}");
            assert_eq!(full_number(value), full, "{value}");
        }
    }

    #[test]
    fn sorting_by_a_metric_names_it_as_the_server_does() {
        let lowest = metric("loss", Stat::Min);
        assert!(lowest.sortable());
        assert_eq!(
            next_sort(None, &lowest).as_deref(),
            Some("-metrics.loss.min")
        );
        assert_eq!(
            next_sort(Some("-metrics.loss.min"), &lowest).as_deref(),
            Some("metrics.loss.min")
        );
        assert_eq!(
            sorted_by(Some("metrics.loss.min"), &lowest),
            Some(Direction::Ascending)
        );
        assert_eq!(sorted_by(Some("metrics.loss.last"), &lowest), None);
    }

    #[test]
    fn csv_quotes_what_needs_quoting_and_defuses_formulas() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field(""), "");
        assert_eq!(csv_field("a, b"), "\"a, b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_field("cr\r"), "\"cr\r\"");
        assert_eq!(csv_field(" padded"), "\" padded\"");
        assert_eq!(csv_field("héllo ✓"), "héllo ✓");
        assert_eq!(
            csv_field("-0.5"),
            "-0.5",
            "a negative number stays a number"
        );
        assert_eq!(csv_field("+1e-7"), "+1e-7");
        assert_eq!(csv_field("=1+2"), "'=1+2");
        assert_eq!(csv_field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_field("-baseline"), "'-baseline");
        assert_eq!(
            csv_field("=HYPERLINK(\"x\",\"y\")"),
            "\"'=HYPERLINK(\"\"x\"\",\"\"y\"\")\""
        );
    }

    #[test]
    fn csv_has_the_shown_columns_keys_then_a_line_per_run() {
        let mut first = with_metrics(
            run(
                serde_json::json!({"lr": 0.01, "opt": "adam, fast"}),
                serde_json::json!({}),
            ),
            serde_json::json!({"loss": {"count": 2, "last": 0.25, "min": 0.125, "max": 1.0}}),
        );
        first.name = Some("train \"a\"".into());
        first.tags = vec!["x".into(), "y".into()];
        first.duration = Some(90.5);
        let second = run(serde_json::json!({"lr": 0.1}), serde_json::json!({}));
        let columns = shown(
            Some(
                "name,project,inputs.lr,inputs.opt,metrics.loss.last,metrics.loss.min,tags,created_at,duration",
            ),
            &[],
            Scope::AllProjects,
        );
        assert_eq!(
            csv(&columns, &[first, second]),
            "name,project,inputs.lr,inputs.opt,metrics.loss.last,metrics.loss.min,tags,created_at,duration\r\n\
             \"train \"\"a\"\"\",demo,0.01,\"adam, fast\",0.25,0.125,\"x, y\",2026-11-23T09:00:00.000000+00:00,90.5\r\n\
             01234567,demo,0.1,,,,,2026-11-23T09:00:00.000000+00:00,\r\n"
        );
        assert_eq!(csv(&columns[..1], &[]), "name\r\n");
    }

    #[test]
    fn an_export_says_when_it_stops_short() {
        assert_eq!(export_note(3, 3), "3 runs");
        assert_eq!(export_note(1, 1), "1 run");
        assert_eq!(
            export_note(EXPORT_MAX, 12_345),
            "the first 10,000 of 12,345 runs (an export stops at 10,000)"
        );
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_000), "1,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
    }

    #[test]
    fn compare_links_the_chosen_runs_up_to_a_thousand() {
        let uuids: Vec<String> = ["aa", "bb", "cc"].map(String::from).to_vec();
        assert_eq!(
            compare_href(uuids.iter()).as_deref(),
            Some("/compare?runs=aa,bb,cc")
        );
        assert_eq!(compare_href([].iter()), None);
        let many: Vec<String> = (0..MAX_COMPARED)
            .map(|index| format!("{index:032x}"))
            .collect();
        let href = compare_href(many.iter()).expect("a thousand runs compare");
        assert_eq!(href.matches(',').count(), MAX_COMPARED - 1);
        let too_many: Vec<String> = (0..=MAX_COMPARED)
            .map(|index| format!("{index:032x}"))
            .collect();
        assert_eq!(compare_href(too_many.iter()), None);
    }

    #[test]
    fn the_url_lists_the_shown_columns_or_the_default_adds_inputs_and_outputs() {
        let runs = [
            run(
                serde_json::json!({"lr": 0.1, "epochs": 3}),
                serde_json::json!({}),
            ),
            run(
                serde_json::json!({"lr": 0.2}),
                serde_json::json!({"loss": 0.5}),
            ),
        ];
        let found = discovered(&runs);
        assert_eq!(
            found,
            [
                Column::Input("lr".into()),
                Column::Input("epochs".into()),
                Column::Output("loss".into())
            ]
        );
        let default = shown(None, &found, Scope::Project);
        assert_eq!(default[..2], [Column::Name, Column::Status]);
        assert!(default.ends_with(&found));
        assert_eq!(
            shown(
                Some("status, inputs.lr,bogus,status"),
                &found,
                Scope::Project
            ),
            [Column::Status, Column::Input("lr".into())]
        );

        let listed = shown(Some("status,name"), &found, Scope::Project);
        let offer = offered(&listed, &found, Scope::Project);
        assert_eq!(toggled(&listed, &offer, &Column::Name), "status");
        assert_eq!(
            toggled(&listed, &offer, &Column::Input("lr".into())),
            "name,status,inputs.lr",
            "a shown column goes where the chooser lists it"
        );
    }

    #[test]
    fn cells_read_as_text() {
        let failed = run(
            serde_json::json!({"lr": 0.1, "opt": "adam"}),
            serde_json::json!(null),
        );
        assert_eq!(Column::Name.text(&failed), "01234567");
        assert_eq!(Column::Input("lr".into()).text(&failed), "0.1");
        assert_eq!(Column::Input("opt".into()).text(&failed), "adam");
        assert_eq!(Column::Output("loss".into()).text(&failed), "");
        assert_eq!(Column::Status.text(&failed), "failed");
        assert_eq!(Column::Created.text(&failed), "2026-11-23 09:00 UTC");
    }

    #[test]
    fn a_header_click_sorts_largest_first_then_smallest_then_not() {
        let name = Column::Name;
        assert_eq!(next_sort(None, &name).as_deref(), Some("-name"));
        assert_eq!(sorted_by(Some("-name"), &name), Some(Direction::Descending));
        assert_eq!(next_sort(Some("-name"), &name).as_deref(), Some("name"));
        assert_eq!(
            sorted_by(Some("name,-created_at"), &name),
            Some(Direction::Ascending)
        );
        assert_eq!(next_sort(Some("name"), &name), None);
        assert_eq!(sorted_by(Some("-created_at,name"), &name), None);
        assert_eq!(
            next_sort(Some("-inputs.lr"), &Column::Input("lr".into())).as_deref(),
            Some("inputs.lr")
        );
    }

    #[test]
    fn rows_are_read_a_page_at_a_time() {
        let deep = ROWS.window(ROWS.span(5_000), 360.0, 10_000);
        assert_eq!(pages(&deep), 49..51);
        assert_eq!(pages(&(0..0)), 0..1);
        assert_eq!(pages(&(0..100)), 0..1);
        assert_eq!(pages(&(99..101)), 0..2);
    }
}
