//! The runs table's view as data: which columns show, how rows sort, and which rows a scroll
//! position needs. It reads from and writes to the URL's query (`?query=…&sort=…&columns=…`),
//! so a link reproduces a view exactly; being pure, it is tested without a browser.

use std::ops::Range;

use shared::api::Run;

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
/// output the loaded runs have.
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
        }
    }

    /// The column a URL key names, if any.
    pub fn parse(key: &str) -> Option<Column> {
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
        }
    }

    /// Whether the server sorts by it. The runtime column shows Myelin's runtime, which the
    /// server's `runtime` field (Polyaxon's, the kind) is not; tags have no order.
    pub fn sortable(&self) -> bool {
        !matches!(self, Column::Runtime | Column::Tags)
    }

    /// The cell's text, for the columns that are plain text.
    pub fn text(&self, run: &Run) -> String {
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
            Column::Created => crate::format::minute(&run.created_at.to_string()),
            Column::Started => run
                .started_at
                .map(|at| crate::format::minute(&at.to_string()))
                .unwrap_or_default(),
            Column::Duration => run.duration.map(crate::format::seconds).unwrap_or_default(),
            Column::Tags => run.tags.join(", "),
            Column::Input(name) => value(&run.inputs, name),
            Column::Output(name) => value(&run.outputs, name),
        }
    }
}

/// A uuid's first eight digits, as a name for a run without one.
pub fn short(uuid: &str) -> String {
    uuid.get(..8).unwrap_or(uuid).to_owned()
}

/// Every input and output name the runs have, inputs first, each in order of first sight.
pub fn discovered<'a>(runs: impl IntoIterator<Item = &'a Run>) -> Vec<Column> {
    let mut inputs = Vec::new();
    let mut outputs = Vec::new();
    for run in runs {
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
    inputs
}

/// The columns shown: those the URL lists (`columns=name,status,inputs.lr`), in its order,
/// or the default ones with the discovered inputs and outputs. Unknown keys are skipped.
pub fn shown(listed: Option<&str>, discovered: &[Column]) -> Vec<Column> {
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
        None => DEFAULT
            .iter()
            .cloned()
            .chain(discovered.iter().cloned())
            .collect(),
    }
}

/// Every column the chooser offers: the fixed ones, then the discovered and listed ones.
pub fn offered(shown: &[Column], discovered: &[Column]) -> Vec<Column> {
    let mut columns: Vec<Column> = FIXED.to_vec();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn run(inputs: serde_json::Value, outputs: serde_json::Value) -> Run {
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

    #[test]
    fn columns_read_back_from_their_keys() {
        let mut every = FIXED.to_vec();
        every.extend([Column::Input("lr".into()), Column::Output("loss".into())]);
        for column in every {
            assert_eq!(Column::parse(&column.key()), Some(column));
        }
        assert_eq!(Column::parse("inputs."), None);
        assert_eq!(Column::parse("nonsense"), None);
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
        let default = shown(None, &found);
        assert_eq!(default[..2], [Column::Name, Column::Status]);
        assert!(default.ends_with(&found));
        assert_eq!(
            shown(Some("status, inputs.lr,bogus,status"), &found),
            [Column::Status, Column::Input("lr".into())]
        );

        let listed = shown(Some("status,name"), &found);
        let offer = offered(&listed, &found);
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
