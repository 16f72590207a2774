//! PQL written as SQLite SQL: [`to_sql`] writes a parsed [`Query`] as a boolean expression
//! over the table `runs`, with every value (and every input name) bound as a `?` parameter, and
//! [`order_by`] does the same for sorts. The language itself (tree, parser, sort keys) is the
//! store-neutral `crate::store::pql`; another store writes its own SQL from the same tree.

use rusqlite::types::Value as SqlValue;
use shared::time::Timestamp;

use crate::store::pql::{
    Column, Comparison, Condition, Expr, Field, Like, Literal, Operation, Query, Section, Sort,
    SortKey, Stat, TimeValue,
};

/// The SQL a column or comparison is written as.
trait Sql {
    fn sql(self) -> &'static str;
}

impl Sql for Column {
    fn sql(self) -> &'static str {
        match self {
            Self::Uuid => "runs.uuid",
            Self::Name => "runs.name",
            Self::Description => "runs.description",
            Self::CreatedAt => "runs.created_at",
            Self::UpdatedAt => "runs.updated_at",
            Self::StartedAt => "runs.started_at",
            Self::FinishedAt => "runs.finished_at",
            Self::Status => "runs.status",
            Self::Kind => "runs.kind",
            Self::Runtime => "runs.runtime",
            Self::User => "runs.user",
            Self::Project => "(SELECT p.name FROM projects p WHERE p.id = runs.project_id)",
            Self::ManagedBy => "runs.managed_by",
            Self::Pending => "runs.pending",
            Self::CloningKind => "runs.cloning_kind",
            Self::Original => "runs.original_uuid",
            Self::Pipeline => "runs.pipeline_uuid",
            Self::Executor => "runs.executor",
            Self::Duration => "runs.duration",
            Self::WaitTime => "runs.wait_time",
            Self::LiveState => "(CASE WHEN runs.archived_at IS NULL THEN 1 ELSE 0 END)",
        }
    }
}

impl Sql for Comparison {
    fn sql(self) -> &'static str {
        match self {
            Self::Less => "<",
            Self::LessOrEqual => "<=",
            Self::Greater => ">",
            Self::GreaterOrEqual => ">=",
        }
    }
}

const MICROS_PER_MINUTE: i64 = 60 * 1_000_000;
const MICROS_PER_DAY: i64 = 24 * 60 * MICROS_PER_MINUTE;

/// How a test on a metric's summary finds its runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Membership {
    /// `runs.id IN (…)`: the runs whose summary passes are read from a range of the summaries'
    /// index, then each looked up. Right when few runs pass, whatever the list's order.
    List,
    /// `EXISTS (…)` for each run: the runs are walked in the list's order and each one's
    /// summary looked up, stopping once the page is full. Right when many runs pass and the
    /// order has an index (newest first): a page needs few of them.
    Probe,
}

/// Writes `query` as an SQLite boolean expression over the table `runs`, with `?` placeholders
/// and their values in order. `now` anchors `last_month` and the like; `membership` is how tests
/// on metric summaries find their runs (the same runs either way).
pub fn to_sql(query: &Query, now: Timestamp, membership: Membership) -> (String, Vec<SqlValue>) {
    let mut writer = SqlWriter::new(now, membership);
    match &query.root {
        Some(root) => writer.expr(root),
        None => writer.sql.push('1'),
    }
    (writer.sql, writer.params)
}

/// Whether `query` tests a metric's summary somewhere, so that [`Membership`] matters.
pub fn tests_metrics(query: &Query) -> bool {
    fn walk(expr: &Expr) -> bool {
        match expr {
            Expr::Condition(condition) => matches!(condition.field, Field::Metric { .. }),
            Expr::And(terms) | Expr::Or(terms) => terms.iter().any(walk),
        }
    }
    query.root.as_ref().is_some_and(walk)
}

/// When `query` is a single test that a metric's summary passes (`metrics.loss.min:<0.1`),
/// the runs of `scope` it matches counted from rows `m` of `run_metrics` (and, for a last
/// value, rows `v` of `run_values`, the outputs of runs without one) alone. Returns a scalar
/// SQL expression and its values; the count is that of [`to_sql`]'s runs in the same scope.
pub fn metric_only_count(
    query: &Query,
    now: Timestamp,
    scope: &MetricScope<'_>,
) -> Option<(String, Vec<SqlValue>)> {
    let (Field::Metric { name, stat }, operation) = single_positive_test(query)? else {
        return None;
    };
    let mut writer = SqlWriter::new(now, Membership::List);
    let scoped = |writer: &mut SqlWriter, row: &str| {
        if let Some(projects) = scope.projects {
            writer.sql.push_str(&projects.replace("{row}", row));
            writer.sql.push_str(" AND ");
            writer.params.extend(scope.values.iter().cloned());
        }
        if let Some(archived) = scope.archived {
            writer
                .sql
                .push_str(&format!("{row}.run_id NOT IN ({archived}) AND "));
            writer.params.extend(scope.values.iter().cloned());
        }
    };
    writer
        .sql
        .push_str("(SELECT count(*) FROM run_metrics m WHERE ");
    scoped(&mut writer, "m");
    writer.metric_test(name, *stat, &operation);
    writer.sql.push(')');
    if *stat == Stat::Last {
        // The runs without a last value whose output of the name passes.
        writer
            .sql
            .push_str(" + (SELECT count(*) FROM run_values v WHERE ");
        scoped(&mut writer, "v");
        writer.run_value_test(Section::Outputs, name, &operation);
        writer
            .sql
            .push_str(" AND v.run_id NOT IN (SELECT m.run_id FROM run_metrics m WHERE ");
        writer.metric_test(name, Stat::Last, &Operation::IsNil);
        writer.sql.push_str("))");
    }
    Some((writer.sql, writer.params))
}

/// Whether [`metric_only_count`] counts `query`: a single positive test of a metric's summary.
pub fn counts_from_summaries(query: &Query) -> bool {
    matches!(single_positive_test(query), Some((Field::Metric { .. }, _)))
}

/// Which runs [`metric_only_count`] counts: those of the projects `projects` tests on a row
/// `{row}` (`{row}.project_id = ?`; every project when none) but the ids `archived` lists
/// (none when the scope has no archived run), both taking `values`.
pub struct MetricScope<'a> {
    pub projects: Option<&'a str>,
    pub archived: Option<&'a str>,
    pub values: &'a [SqlValue],
}

/// When `query` is a single test that an input or output has a value (`inputs.lr:>0.01`), that
/// test on a row `v` of `run_values` alone: the runs it matches are then counted from one range
/// of an index, rather than by testing every run of the project. There is one such row per run
/// and name, so the counts are the same.
pub fn run_value_only(query: &Query, now: Timestamp) -> Option<(String, Vec<SqlValue>)> {
    let (Field::RunValue { section, key }, operation) = single_positive_test(query)? else {
        return None;
    };
    let mut writer = SqlWriter::new(now, Membership::List);
    writer.run_value_test(*section, key, &operation);
    Some((writer.sql, writer.params))
}

/// When `query` is a single test that a field has a value passing an operation, the field
/// and that operation, a negated comparison flipped (`~<0.1` is `>=0.1`: runs without the value
/// stay out either way). `None` for anything else: several terms, `nil`, another negation.
fn single_positive_test(query: &Query) -> Option<(&Field, Operation)> {
    let Some(Expr::Condition(condition)) = &query.root else {
        return None;
    };
    let operation = match (&condition.operation, condition.negated) {
        (Operation::IsNil, _) => return None,
        (Operation::Compare(comparison, value), true) => {
            Operation::Compare(comparison.negated(), value.clone())
        }
        (_, true) => return None,
        (operation, false) => operation.clone(),
    };
    Some((&condition.field, operation))
}

/// The `ORDER BY` terms (without the keywords) for `sorts`, and the values of their `?`
/// placeholders, which come after those of [`to_sql`] in a statement using both. No sorts means
/// Polyaxon's `-created_at`. Runs without the value come last in either direction, and `runs.id`
/// breaks ties so that pages do not overlap.
pub fn order_by(sorts: &[Sort]) -> (String, Vec<SqlValue>) {
    let default = [Sort {
        key: SortKey::Column(Column::CreatedAt),
        descending: true,
    }];
    let sorts = if sorts.is_empty() {
        &default[..]
    } else {
        sorts
    };
    let direction = |descending: bool| if descending { "DESC" } else { "ASC" };
    let mut terms = Vec::new();
    let mut params = Vec::new();
    for sort in sorts {
        let expression = match &sort.key {
            SortKey::Column(column) => column.sql().to_owned(),
            SortKey::RunValue { section, key } => {
                params.push(SqlValue::Text(key.clone()));
                output_number(*section)
            }
            SortKey::Metric { name, stat } => {
                params.push(SqlValue::Text(name.clone()));
                let summary = format!(
                    "(SELECT m.{} FROM run_metrics m WHERE m.run_id = runs.id \
                     AND m.kind = 'metric' AND m.name = ?)",
                    stat.column()
                );
                if *stat == Stat::Last {
                    params.push(SqlValue::Text(name.clone()));
                    format!("coalesce({summary}, {})", output_number(Section::Outputs))
                } else {
                    summary
                }
            }
        };
        terms.push(format!(
            "{expression} {} NULLS LAST",
            direction(sort.descending)
        ));
    }
    // The tie-breaker follows the main order, so equal times list the newest run first.
    let tie = direction(sorts.first().is_some_and(|sort| sort.descending));
    terms.push(format!("runs.id {tie}"));
    (terms.join(", "), params)
}

/// The number a run has as its input or output named by the next `?`.
fn output_number(section: Section) -> String {
    format!(
        "(SELECT v.number FROM run_values v WHERE v.run_id = runs.id \
         AND v.section = '{}' AND v.key = ?)",
        section.as_str()
    )
}

struct SqlWriter {
    sql: String,
    params: Vec<SqlValue>,
    now: Timestamp,
    membership: Membership,
}

impl SqlWriter {
    fn new(now: Timestamp, membership: Membership) -> Self {
        Self {
            sql: String::new(),
            params: Vec::new(),
            now,
            membership,
        }
    }

    fn expr(&mut self, expr: &Expr) {
        let (terms, separator) = match expr {
            Expr::Condition(condition) => return self.condition(condition),
            Expr::And(terms) => (terms, " AND "),
            Expr::Or(terms) => (terms, " OR "),
        };
        self.sql.push('(');
        for (index, term) in terms.iter().enumerate() {
            if index > 0 {
                self.sql.push_str(separator);
            }
            self.expr(term);
        }
        self.sql.push(')');
    }

    fn condition(&mut self, condition: &Condition) {
        match (&condition.operation, condition.negated) {
            (Operation::Compare(comparison, value), true) => {
                let flipped = Operation::Compare(comparison.negated(), value.clone());
                self.test(&condition.field, &flipped);
            }
            // `IS NOT 1` rather than `NOT`: a test on a missing value is NULL, and the
            // complement must hold for it.
            (operation, true) => {
                self.sql.push('(');
                self.test(&condition.field, operation);
                self.sql.push_str(") IS NOT 1");
            }
            (operation, false) => self.test(&condition.field, operation),
        }
    }

    /// Writes the (positive) test of `operation` on `field`.
    fn test(&mut self, field: &Field, operation: &Operation) {
        match field {
            Field::Column(column) => {
                self.sql.push_str(column.sql());
                self.operation(operation);
            }
            Field::MetaInfo(key) => {
                self.sql.push_str("json_extract(runs.meta_info, ?)");
                self.params.push(SqlValue::Text(format!("$.\"{key}\"")));
                self.operation(operation);
            }
            Field::Tags => {
                let tags = "SELECT 1 FROM run_tags t WHERE t.run_id = runs.id";
                if *operation == Operation::IsNil {
                    self.sql.push_str(&format!("NOT EXISTS ({tags})"));
                } else {
                    self.sql.push_str(&format!("EXISTS ({tags} AND t.tag"));
                    self.operation(operation);
                    self.sql.push(')');
                }
            }
            Field::RunValue { section, key } => self.run_value(*section, key, operation),
            Field::Metric { name, stat } => self.metric(name, *stat, operation),
        }
    }

    /// The (positive) test of a metric's summary; the last value falls back on the output of
    /// the same name for runs that logged no series of it.
    fn metric(&mut self, name: &str, stat: Stat, operation: &Operation) {
        if stat != Stat::Last {
            return self.summarised(name, stat, operation);
        }
        if *operation == Operation::IsNil {
            // A run that logged a last value is decided by it alone; the others by their
            // output.
            self.sql.push_str("((");
            self.summarised(name, stat, &Operation::IsNil);
            self.sql.push_str(" AND ");
            self.run_value(Section::Outputs, name, operation);
            self.sql.push_str("))");
            return;
        }
        match self.membership {
            Membership::List => {
                // One list of run ids from two index ranges: the runs whose last value passes,
                // and the runs that logged no last value whose output does. `OR` of the two
                // tests would test every run.
                self.sql
                    .push_str("runs.id IN (SELECT m.run_id FROM run_metrics m WHERE ");
                self.metric_test(name, stat, operation);
                self.sql
                    .push_str(" UNION ALL SELECT v.run_id FROM run_values v WHERE ");
                self.run_value_test(Section::Outputs, name, operation);
                self.sql
                    .push_str(" AND v.run_id NOT IN (SELECT m.run_id FROM run_metrics m WHERE ");
                self.metric_test(name, stat, &Operation::IsNil);
                self.sql.push_str("))");
            }
            Membership::Probe => {
                self.sql.push('(');
                self.summarised(name, stat, operation);
                self.sql.push_str(" OR (");
                self.summarised(name, stat, &Operation::IsNil);
                self.sql.push_str(" AND ");
                self.run_value(Section::Outputs, name, operation);
                self.sql.push_str("))");
            }
        }
    }

    /// Whether the run's summary of metric `name` has `stat` passing `operation` (with
    /// [`Operation::IsNil`]: has no such value), found as [`Membership`] says.
    fn summarised(&mut self, name: &str, stat: Stat, operation: &Operation) {
        let nil = *operation == Operation::IsNil;
        let (membership, test) = match self.membership {
            Membership::List if nil => ("runs.id NOT IN (SELECT m.run_id", ""),
            Membership::List => ("runs.id IN (SELECT m.run_id", ""),
            Membership::Probe if nil => ("NOT EXISTS (SELECT 1", " m.run_id = runs.id AND"),
            Membership::Probe => ("EXISTS (SELECT 1", " m.run_id = runs.id AND"),
        };
        self.sql
            .push_str(&format!("{membership} FROM run_metrics m WHERE{test} "));
        self.metric_test(name, stat, operation);
        self.sql.push(')');
    }

    /// The test of one metric's summary on the row `m` of `run_metrics`; with
    /// [`Operation::IsNil`], that it has the value (its runs are those left out).
    fn metric_test(&mut self, name: &str, stat: Stat, operation: &Operation) {
        let column = stat.column();
        self.sql
            .push_str(&format!("m.kind = 'metric' AND m.name = ? AND m.{column}"));
        self.params.push(SqlValue::Text(name.to_owned()));
        if *operation == Operation::IsNil {
            self.sql.push_str(" IS NOT NULL");
        } else {
            self.operation(operation);
        }
    }

    fn run_value(&mut self, section: Section, key: &str, operation: &Operation) {
        let negation = if *operation == Operation::IsNil {
            "NOT "
        } else {
            ""
        };
        self.sql.push_str(&format!(
            "{negation}EXISTS (SELECT 1 FROM run_values v WHERE v.run_id = runs.id AND "
        ));
        self.run_value_test(section, key, operation);
        self.sql.push(')');
    }

    /// The test of one input or output on the row `v` of `run_values`.
    fn run_value_test(&mut self, section: Section, key: &str, operation: &Operation) {
        self.sql.push_str(&format!(
            "v.section = '{}' AND v.key = ? AND ",
            section.as_str()
        ));
        self.params.push(SqlValue::Text(key.to_owned()));
        match operation {
            // The store keeps a JSON null as neither number nor text; `null` text is no value
            // either, should a writer keep it so.
            Operation::IsNil => self
                .sql
                .push_str("(v.number IS NOT NULL OR v.text <> 'null')"),
            // Numbers and JSON text live in different columns, so a list splits in two.
            Operation::In(items) => {
                let (numbers, texts): (Vec<_>, Vec<_>) = items
                    .iter()
                    .cloned()
                    .partition(|item| matches!(item, Literal::Number(_)));
                let parts: Vec<_> = [("v.number", numbers), ("v.text", texts)]
                    .into_iter()
                    .filter(|(_, values)| !values.is_empty())
                    .collect();
                self.sql.push('(');
                for (index, (column, values)) in parts.into_iter().enumerate() {
                    if index > 0 {
                        self.sql.push_str(" OR ");
                    }
                    self.sql.push_str(column);
                    self.operation(&Operation::In(values));
                }
                self.sql.push(')');
            }
            Operation::Equals(Literal::Number(_))
            | Operation::Compare(_, Literal::Number(_))
            | Operation::Range(..) => {
                self.sql.push_str("v.number");
                self.operation(operation);
            }
            Operation::Equals(_) | Operation::Compare(..) | Operation::Like(..) => {
                self.sql.push_str("v.text");
                self.operation(operation);
            }
        }
    }

    /// Writes what follows the tested expression: ` = ?`, ` IN (?, ?)`, ….
    fn operation(&mut self, operation: &Operation) {
        match operation {
            Operation::IsNil => self.sql.push_str(" IS NULL"),
            Operation::Equals(Literal::Time(time)) => self.time_equals(*time),
            Operation::Equals(value) => {
                self.sql.push_str(" = ");
                self.bind(value);
            }
            Operation::Compare(comparison, value) => {
                self.sql.push_str(&format!(" {} ", comparison.sql()));
                self.bind(value);
            }
            Operation::In(values) => {
                self.sql.push_str(" IN (");
                for (index, value) in values.iter().enumerate() {
                    if index > 0 {
                        self.sql.push_str(", ");
                    }
                    self.bind(value);
                }
                self.sql.push(')');
            }
            Operation::Range(from, to) => {
                self.sql.push_str(" BETWEEN ");
                self.bind_time(self.instant(*from));
                self.sql.push_str(" AND ");
                self.bind_time(self.instant(*to));
            }
            Operation::Like(kind, text) => {
                self.sql.push_str(" LIKE ");
                self.params.push(SqlValue::Text(like_pattern(*kind, text)));
                self.sql.push_str("? ESCAPE '\\'");
            }
        }
    }

    /// `:` on a time: the whole day of a bare date, the minute of a time, or since `last_month`.
    fn time_equals(&mut self, time: TimeValue) {
        let (start, length) = match time {
            TimeValue::Day(day) => (day, MICROS_PER_DAY),
            TimeValue::Instant(instant) => {
                let minute = instant.as_micros().div_euclid(MICROS_PER_MINUTE) * MICROS_PER_MINUTE;
                (Timestamp::from_micros(minute), MICROS_PER_MINUTE)
            }
            TimeValue::DaysAgo(_) => {
                self.sql.push_str(" >= ");
                return self.bind_time(self.instant(time));
            }
        };
        self.sql.push_str(" BETWEEN ");
        self.bind_time(start);
        self.sql.push_str(" AND ");
        self.bind_time(start.plus_micros(length - 1));
    }

    fn instant(&self, time: TimeValue) -> Timestamp {
        match time {
            TimeValue::Day(instant) | TimeValue::Instant(instant) => instant,
            TimeValue::DaysAgo(days) => self.now.plus_micros(-days * MICROS_PER_DAY),
        }
    }

    fn bind(&mut self, value: &Literal) {
        let value = match value {
            Literal::Text(text) | Literal::Json(text) => SqlValue::Text(text.clone()),
            Literal::Number(number) => SqlValue::Real(*number),
            Literal::Time(time) => SqlValue::Integer(self.instant(*time).as_micros()),
        };
        self.params.push(value);
        self.sql.push('?');
    }

    fn bind_time(&mut self, instant: Timestamp) {
        self.params.push(SqlValue::Integer(instant.as_micros()));
        self.sql.push('?');
    }
}

/// A `LIKE` pattern (escaped with `\`) that finds `text` literally; SQLite's `LIKE` ignores
/// ASCII case.
fn like_pattern(kind: Like, text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() + 2);
    for character in text.chars() {
        if matches!(character, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(character);
    }
    match kind {
        Like::StartsWith => format!("{escaped}%"),
        Like::EndsWith => format!("%{escaped}"),
        Like::Contains => format!("%{escaped}%"),
    }
}

// ---------------------------------------------------------------------------------------------
// "Did you mean …?"
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::pql::{PqlError, parse, parse_sort};
    use rusqlite::{Connection, params, params_from_iter};
    use serde_json::{Value as Json, json};

    // -----------------------------------------------------------------------------------------
    // Fixture: one project, eight runs in `created_at` order (runs 2 and 3 share a time).
    // -----------------------------------------------------------------------------------------

    struct Run {
        name: Option<&'static str>,
        description: Option<&'static str>,
        user: Option<&'static str>,
        kind: &'static str,
        runtime: &'static str,
        executor: &'static str,
        status: &'static str,
        managed_by: &'static str,
        pending: Option<&'static str>,
        created_at: &'static str,
        started_at: Option<&'static str>,
        finished_at: Option<&'static str>,
        duration: Option<f64>,
        wait_time: Option<f64>,
        original: Option<usize>,
        cloning_kind: Option<&'static str>,
        tags: &'static [&'static str],
        inputs: Json,
        outputs: Json,
        meta_info: Json,
        /// Summaries of logged metrics: `{name: {last, min, max, count}}`.
        metrics: Json,
    }

    /// A finished-looking job created at `created_at`, with nothing else set.
    fn job(created_at: &'static str) -> Run {
        Run {
            name: None,
            description: None,
            user: None,
            kind: "job",
            runtime: "job",
            executor: "process",
            status: "created",
            managed_by: "agent",
            pending: None,
            created_at,
            started_at: None,
            finished_at: None,
            duration: None,
            wait_time: None,
            original: None,
            cloning_kind: None,
            tags: &[],
            inputs: json!({}),
            outputs: json!({}),
            meta_info: json!({}),
            metrics: json!({}),
        }
    }

    fn runs() -> Vec<Run> {
        vec![
            Run {
                name: Some("train-resnet"),
                description: Some("ResNet baseline"),
                user: Some("alice"),
                status: "succeeded",
                started_at: Some("2024-01-10T09:15:10Z"),
                finished_at: Some("2024-01-10T10:15:10Z"),
                duration: Some(3600.0),
                wait_time: Some(10.0),
                tags: &["vision", "baseline"],
                inputs: json!({"lr": 0.1, "optimizer": "adam", "epochs": 10, "augment": true}),
                outputs: json!({"loss": 0.25, "accuracy": 0.91}),
                meta_info: json!({"has_events": true, "team": "vision"}),
                metrics: json!({
                    "loss": {"last": 0.25, "min": 0.05, "max": 2.3, "count": 100},
                    "accuracy": {"last": 0.91, "min": 0.1, "max": 0.93, "count": 100},
                }),
                ..job("2024-01-10T09:15:00Z")
            },
            Run {
                name: Some("train-vit"),
                description: Some("Vision transformer"),
                user: Some("bob"),
                status: "failed",
                started_at: Some("2024-01-15T14:00:05Z"),
                finished_at: Some("2024-01-15T14:02:05Z"),
                duration: Some(120.0),
                wait_time: Some(5.0),
                tags: &["vision"],
                inputs: json!({"lr": 0.01, "optimizer": "sgd", "epochs": 20, "augment": false}),
                outputs: json!({"loss": 0.9}),
                // It diverged: its last value was NaN, which the store keeps as no value.
                metrics: json!({"loss": {"last": null, "min": 0.4, "max": 5.0, "count": 30}}),
                ..job("2024-01-15T14:00:00Z")
            },
            Run {
                name: Some("clone-of-vit"),
                user: Some("bob"),
                status: "failed",
                started_at: Some("2024-01-15T14:00:02Z"),
                finished_at: Some("2024-01-15T14:01:02Z"),
                duration: Some(60.0),
                wait_time: Some(2.0),
                original: Some(2),
                cloning_kind: Some("restart"),
                tags: &["vision", "retry"],
                inputs: json!({"lr": 0.01, "optimizer": "sgd", "epochs": 20}),
                outputs: json!({"loss": 0.8}),
                ..job("2024-01-15T14:00:00Z")
            },
            Run {
                name: Some("Eval-ResNet"),
                description: Some("evaluate the ResNet"),
                user: Some("alice"),
                executor: "kubernetes",
                status: "running",
                started_at: Some("2024-02-05T08:00:30Z"),
                wait_time: Some(30.0),
                original: Some(1),
                cloning_kind: Some("copy"),
                tags: &["eval"],
                inputs: json!({"lr": 0.001, "optimizer": "adam"}),
                outputs: json!({"loss": 0.5}),
                // Still running: its series has moved on from the output it logged.
                metrics: json!({"loss": {"last": 0.45, "min": 0.45, "max": 1.0, "count": 10}}),
                ..job("2024-02-05T08:00:00Z")
            },
            Run {
                name: Some("sweep"),
                description: Some("hyperparameter sweep"),
                user: Some("bob"),
                kind: "matrix",
                executor: "kubernetes",
                status: "running",
                started_at: Some("2024-02-20T10:30:45Z"),
                wait_time: Some(45.0),
                meta_info: json!({"concurrency": 4}),
                ..job("2024-02-20T10:30:00Z")
            },
            Run {
                managed_by: "user",
                pending: Some("approval"),
                inputs: json!({"optimizer": null}),
                ..job("2024-02-28T23:59:59Z")
            },
            Run {
                name: Some("notebook"),
                description: Some("JupyterLab"),
                user: Some("carol"),
                kind: "service",
                runtime: "service",
                status: "stopped",
                managed_by: "cli",
                started_at: Some("2024-02-29T00:00:03Z"),
                finished_at: Some("2024-02-29T00:00:53.5Z"),
                duration: Some(50.5),
                wait_time: Some(3.0),
                tags: &["dev", "baseline"],
                inputs: json!({"image": "jupyter"}),
                ..job("2024-02-29T00:00:00Z")
            },
            Run {
                name: Some("train_resnet_v2"),
                description: Some("resnet, second take"),
                user: Some("alice"),
                status: "succeeded",
                started_at: Some("2024-03-01T11:00:12Z"),
                finished_at: Some("2024-03-01T11:30:12Z"),
                duration: Some(1800.0),
                wait_time: Some(12.0),
                tags: &["vision"],
                inputs: json!({"lr": 0.1, "optimizer": "adam", "layers": [64]}),
                outputs: json!({"loss": 0.1, "accuracy": 0.95}),
                meta_info: json!({"has_events": false, "team": "vision"}),
                metrics: json!({"loss": {"last": 0.1, "min": 0.08, "max": 1.5, "count": 200}}),
                ..job("2024-03-01T11:00:00Z")
            },
        ]
    }

    /// Run `n`'s uuid: its letter (`a` for run 1) 32 times.
    fn uuid(n: usize) -> String {
        char::from(b'a' + n as u8 - 1).to_string().repeat(32)
    }

    fn uuids(runs: &[usize]) -> Vec<String> {
        runs.iter().map(|&n| uuid(n)).collect()
    }

    fn micros(time: &str) -> i64 {
        Timestamp::parse(time).expect("fixture time").as_micros()
    }

    fn now() -> Timestamp {
        Timestamp::parse("2024-03-01T12:00:00Z").expect("fixture time")
    }

    fn database() -> Connection {
        let db = Connection::open_in_memory().expect("in-memory database");
        for schema in [
            include_str!("../schema.sql"),
            include_str!("../schema_2.sql"),
            include_str!("../schema_3.sql"),
            include_str!("../schema_4.sql"),
            include_str!("../schema_5.sql"),
        ] {
            db.execute_batch(schema).expect("schema");
        }
        db.execute(
            "INSERT INTO projects (id, uuid, owner, name, created_at, updated_at) \
             VALUES (1, 'p', 'acme', 'vision', 0, 0)",
            [],
        )
        .expect("project");
        for (index, run) in runs().iter().enumerate() {
            let id = index + 1;
            db.execute(
                "INSERT INTO runs (id, uuid, project_id, name, description, user, kind, runtime, \
                 executor, status, inputs, outputs, tags, meta_info, managed_by, is_managed, \
                 pending, created_at, updated_at, started_at, finished_at, duration, wait_time, \
                 original_uuid, cloning_kind) VALUES (?1, ?2, 1, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, \
                 ?11, ?12, ?13, ?14, 1, ?15, ?16, ?16, ?17, ?18, ?19, ?20, ?21, ?22)",
                params![
                    id,
                    uuid(id),
                    run.name,
                    run.description,
                    run.user,
                    run.kind,
                    run.runtime,
                    run.executor,
                    run.status,
                    run.inputs.to_string(),
                    run.outputs.to_string(),
                    json!(run.tags).to_string(),
                    run.meta_info.to_string(),
                    run.managed_by,
                    run.pending,
                    micros(run.created_at),
                    run.started_at.map(micros),
                    run.finished_at.map(micros),
                    run.duration,
                    run.wait_time,
                    run.original.map(uuid),
                    run.cloning_kind,
                ],
            )
            .expect("run");
            for tag in run.tags {
                db.execute(
                    "INSERT INTO run_tags (run_id, project_id, tag) VALUES (?1, 1, ?2)",
                    params![id, tag],
                )
                .expect("tag");
            }
            for (section, values) in [("inputs", &run.inputs), ("outputs", &run.outputs)] {
                for (key, value) in values.as_object().expect("an object") {
                    // As the store keeps them: numbers and booleans in `number`, null in
                    // neither, any other JSON as text.
                    let (number, text) = match value {
                        Json::Null => (None, None),
                        Json::Number(number) => (number.as_f64(), None),
                        Json::Bool(flag) => (Some(f64::from(u8::from(*flag))), None),
                        other => (None, Some(other.to_string())),
                    };
                    db.execute(
                        "INSERT INTO run_values (run_id, project_id, section, key, number, text) \
                         VALUES (?1, 1, ?2, ?3, ?4, ?5)",
                        params![id, section, key, number, text],
                    )
                    .expect("value");
                }
            }
            for (name, summary) in run.metrics.as_object().expect("an object") {
                db.execute(
                    "INSERT INTO run_metrics (run_id, project_id, kind, name, count, non_finite, \
                     last, min, max) VALUES (?1, 1, 'metric', ?2, ?3, 0, ?4, ?5, ?6)",
                    params![
                        id,
                        name,
                        summary["count"].as_i64(),
                        summary["last"].as_f64(),
                        summary["min"].as_f64(),
                        summary["max"].as_f64(),
                    ],
                )
                .expect("metric");
            }
        }
        db
    }

    /// The uuids of the runs `query` finds, ordered by `sort`, through the public API; the same
    /// whichever [`Membership`] finds metrics' runs, which is checked.
    fn select(db: &Connection, query: &str, sort: &str) -> Vec<String> {
        let listed = select_by(db, query, sort, Membership::List);
        let probed = select_by(db, query, sort, Membership::Probe);
        assert_eq!(listed, probed, "{query}: listed and probed");
        listed
    }

    fn select_by(db: &Connection, query: &str, sort: &str, membership: Membership) -> Vec<String> {
        let query = parse(query).unwrap_or_else(|error| panic!("{query}: {error:?}"));
        let sorts = parse_sort(sort).unwrap_or_else(|error| panic!("{sort}: {error:?}"));
        let (condition, mut params) = to_sql(&query, now(), membership);
        let (order, order_params) = order_by(&sorts);
        params.extend(order_params);
        let sql = format!("SELECT uuid FROM runs WHERE {condition} ORDER BY {order}");
        let mut statement = db
            .prepare(&sql)
            .unwrap_or_else(|error| panic!("{sql}: {error}"));
        statement
            .query_map(params_from_iter(params), |row| row.get(0))
            .and_then(Iterator::collect)
            .unwrap_or_else(|error| panic!("{sql}: {error}"))
    }

    /// Asserts which runs (by number, in `created_at` order) each query finds.
    fn assert_finds(cases: &[(&str, &[usize])]) {
        let db = database();
        for (query, expected) in cases {
            assert_eq!(select(&db, query, "created_at"), uuids(expected), "{query}");
        }
    }

    #[test]
    fn counting_from_metric_summaries_alone_counts_the_same_runs() {
        let db = database();
        // An archived run and a run of another project are not counted.
        db.execute_batch(
            "INSERT INTO projects (id, uuid, owner, name, created_at, updated_at) \
             VALUES (2, 'q', 'acme', 'audio', 0, 0); \
             UPDATE runs SET archived_at = 1 WHERE id = 8; \
             UPDATE runs SET project_id = 2 WHERE id = 2; \
             UPDATE run_metrics SET project_id = 2 WHERE run_id = 2; \
             UPDATE run_values SET project_id = 2 WHERE run_id = 2;",
        )
        .expect("moved");
        let scope = MetricScope {
            projects: Some("{row}.project_id = ?"),
            archived: Some("SELECT id FROM runs WHERE project_id = ? AND archived_at IS NOT NULL"),
            values: &[SqlValue::Integer(1)],
        };
        for query in [
            "metrics.loss.min:<0.1",
            "metrics.loss.min:<=0.4",
            "metrics.loss.max:>=2",
            "metrics.loss.count:>50",
            "metrics.loss.min:~<0.1",
            "metrics.loss:<0.5",
            "metrics.loss.last:<0.5",
            "metrics.loss:>0.5",
            "metrics.loss:~>0.5",
            "metrics.accuracy:>0.9",
        ] {
            let parsed = parse(query).expect("valid");
            assert!(counts_from_summaries(&parsed), "{query}");
            let (count, params) = metric_only_count(&parsed, now(), &scope)
                .unwrap_or_else(|| panic!("{query} is one positive test of a summary"));
            let counted: usize = db
                .query_row(
                    &format!("SELECT {count}"),
                    params_from_iter(params),
                    |row| row.get(0),
                )
                .expect("count");
            for membership in [Membership::List, Membership::Probe] {
                let (condition, params) = to_sql(&parsed, now(), membership);
                let listed: usize = db
                    .query_row(
                        &format!(
                            "SELECT count(*) FROM runs WHERE project_id = 1 \
                             AND archived_at IS NULL AND {condition}"
                        ),
                        params_from_iter(params),
                        |row| row.get(0),
                    )
                    .expect("count");
                assert_eq!(counted, listed, "{query}");
            }
        }
        for query in [
            "metrics.loss.min:nil",
            "metrics.loss:nil",
            "metrics.loss.min:~0.05",
            "metrics.loss.min:<0.1, status:running",
            "inputs.lr:0.1",
            "",
        ] {
            let parsed = parse(query).expect("valid");
            assert!(
                metric_only_count(&parsed, now(), &scope).is_none(),
                "{query}"
            );
            assert!(!counts_from_summaries(&parsed), "{query}");
        }
    }

    #[test]
    fn counting_from_run_values_alone_counts_the_same_runs() {
        let db = database();
        for query in [
            "inputs.lr:0.1",
            "inputs.lr:~>0.005",
            "inputs.lr:>0.005",
            "inputs.lr:0.01|0.1",
            "inputs.optimizer:adam",
            "inputs.optimizer:adam|sgd",
            "inputs.augment:true",
            "outputs.loss:<0.5",
        ] {
            let parsed = parse(query).expect("valid");
            let (test, params) = run_value_only(&parsed, now())
                .unwrap_or_else(|| panic!("{query} is one positive test of a run value"));
            let counted: usize = db
                .query_row(
                    &format!("SELECT count(*) FROM run_values v WHERE v.project_id = 1 AND {test}"),
                    params_from_iter(params),
                    |row| row.get(0),
                )
                .expect("count");
            assert_eq!(counted, select(&db, query, "created_at").len(), "{query}");
        }
        for query in [
            "inputs.optimizer:nil",
            "inputs.optimizer:~adam",
            "status:running",
            "inputs.lr:0.1,status:running",
            "",
        ] {
            assert_eq!(
                run_value_only(&parse(query).expect("valid"), now()),
                None,
                "{query}"
            );
        }
    }

    fn error(query: &str) -> PqlError {
        parse(query).expect_err(query)
    }

    /// Asserts that `query` fails at the last occurrence of `token` (an empty one is the end of
    /// the query) with a message holding `says`.
    fn assert_error(query: &str, token: &str, says: &str) {
        let error = error(query);
        let at = query.rfind(token).expect("token in query");
        assert_eq!(error.position, at, "{query}: {error:?}");
        assert!(error.message.contains(says), "{query}: {error:?}");
    }

    // -----------------------------------------------------------------------------------------
    // Filtering
    // -----------------------------------------------------------------------------------------

    #[test]
    fn a_blank_query_finds_every_run() {
        assert_finds(&[
            ("", &[1, 2, 3, 4, 5, 6, 7, 8]),
            ("  ", &[1, 2, 3, 4, 5, 6, 7, 8]),
        ]);
    }

    #[test]
    fn value_fields_take_values_lists_comparisons_and_nil() {
        assert_finds(&[
            ("status:running", &[4, 5]),
            ("status: running", &[4, 5]),
            ("status:~running", &[1, 2, 3, 6, 7, 8]),
            ("status:running|failed", &[2, 3, 4, 5]),
            ("status:~running|failed", &[1, 6, 7, 8]),
            ("status:>running", &[1, 7, 8]),
            ("status:~>running", &[2, 3, 4, 5, 6]),
            ("user:alice", &[1, 4, 8]),
            // The complement includes runs without a user, as Django's `exclude` does.
            ("user:~alice", &[2, 3, 5, 6, 7]),
            ("user:nil", &[6]),
            ("user:~nil", &[1, 2, 3, 4, 5, 7, 8]),
            ("kind:matrix", &[5]),
            ("runtime:service", &[7]),
            ("executor:kubernetes", &[4, 5]),
            ("managed_by:cli", &[7]),
            ("pending:approval", &[6]),
            ("pending:nil", &[1, 2, 3, 4, 5, 7, 8]),
            ("cloning_kind:copy|restart", &[3, 4]),
            ("original:AAAAAAAA-AAAA-AAAA-AAAA-AAAAAAAAAAAA", &[4]),
        ]);
    }

    #[test]
    fn search_fields_take_values_lists_and_case_insensitive_patterns() {
        let run_2 = uuid(2);
        let dashed_2 = "BBBBBBBB-BBBB-BBBB-BBBB-BBBBBBBBBBBB";
        let list = format!("uid:{}|{}", uuid(3), uuid(4));
        let prefix = format!("uuid:{}%", &uuid(5)[..6]);
        let not_suffix = format!("uuid:~%{}", &uuid(1)[..4]);
        assert_finds(&[
            (&format!("uuid:{run_2}"), &[2]),
            (&format!("id:{dashed_2}"), &[2]),
            (&list, &[3, 4]),
            (&prefix, &[5]),
            (&not_suffix, &[2, 3, 4, 5, 6, 7, 8]),
            ("name:train-vit", &[2]),
            ("name:~train-vit", &[1, 3, 4, 5, 6, 7, 8]),
            ("name:train%", &[1, 2, 8]),
            // `_` is a literal underscore, not LIKE's any-character.
            ("name:train_%", &[8]),
            ("name:%resnet%", &[1, 4, 8]),
            ("name:%VIT", &[2, 3]),
            ("name:~%resnet%", &[2, 3, 5, 6, 7]),
            ("name:sweep|notebook", &[5, 7]),
            ("name:nil", &[6]),
            ("description:%resnet%", &[1, 4, 8]),
            ("description:nil", &[3, 6]),
        ]);
    }

    #[test]
    fn datetime_fields_take_days_minutes_comparisons_ranges_and_constants() {
        assert_finds(&[
            // A bare date is the whole day; a time is its minute.
            ("created_at:2024-01-15", &[2, 3]),
            ("created_at:2024-02-28", &[6]),
            ("created_at:2024-02-29", &[7]),
            ("created_at:~2024-01-15", &[1, 4, 5, 6, 7, 8]),
            ("created_at:2024-01-15T14:00:59Z", &[2, 3]),
            ("created_at:2024-01-15 14:00 OR name:sweep", &[2, 3, 5]),
            ("created_at:2024-01-15T15:00:00+01:00", &[2, 3]),
            // In comparisons a bare date is its midnight.
            ("created_at:>2024-02-28", &[6, 7, 8]),
            ("created_at:~>2024-02-28", &[1, 2, 3, 4, 5]),
            ("created_at:<2024-01-15T14:00:00Z", &[1]),
            ("created_at:<=2024-01-15T14:00:00Z", &[1, 2, 3]),
            ("created_at:=<2024-01-15T14:00:00Z", &[1, 2, 3]),
            ("created_at:=>2024-02-29", &[7, 8]),
            ("created_at:>=2024-02-29", &[7, 8]),
            ("created_at:2024-01-01 .. 2024-01-31", &[1, 2, 3]),
            ("created_at:~2024-01-01 .. 2024-01-31", &[4, 5, 6, 7, 8]),
            (
                "created_at:2024-01-15T14:00:00Z..2024-02-05T08:00:00Z",
                &[2, 3, 4],
            ),
            // `now` is 2024-03-01T12:00:00Z.
            ("created_at:last_month", &[4, 5, 6, 7, 8]),
            ("created_at:~last_month", &[1, 2, 3]),
            ("created_at:<last_month", &[1, 2, 3]),
            ("created_at:last_week", &[6, 7, 8]),
            ("created_at:last_day", &[8]),
            ("started_at:2024-01-31 .. last_week", &[4, 5]),
            ("updated_at:2024-02-05", &[4]),
            ("started_at:nil", &[6]),
            ("finished_at:nil", &[4, 5, 6]),
            ("finished_at:~nil", &[1, 2, 3, 7, 8]),
        ]);
    }

    #[test]
    fn number_fields_take_numbers_comparisons_and_nil() {
        assert_finds(&[
            ("duration:>100", &[1, 2, 8]),
            // A negated comparison is the flipped comparison: runs without a duration stay out.
            ("duration:~>100", &[3, 7]),
            ("duration:50.5", &[7]),
            ("duration:~60", &[1, 2, 4, 5, 6, 7, 8]),
            ("duration:nil", &[4, 5, 6]),
            ("wait_time:<=5", &[2, 3, 7]),
            ("wait_time:>=30", &[4, 5]),
        ]);
    }

    #[test]
    fn tags_take_a_tag_any_of_several_and_nil() {
        assert_finds(&[
            ("tags:vision", &[1, 2, 3, 8]),
            ("tags:baseline|dev", &[1, 7]),
            ("tags:~vision", &[4, 5, 6, 7]),
            ("tags:~vision|eval", &[5, 6, 7]),
            ("tags:nil", &[5, 6]),
            ("tags:~nil", &[1, 2, 3, 4, 7, 8]),
        ]);
    }

    #[test]
    fn inputs_compare_numbers_and_json_values() {
        assert_finds(&[
            ("inputs.lr:0.1", &[1, 8]),
            ("in.lr:>0.005", &[1, 2, 3, 8]),
            ("params.lr:<=0.01", &[2, 3, 4]),
            ("inputs.lr:~>0.005", &[4]),
            ("inputs.lr:0.01|0.1", &[1, 2, 3, 8]),
            ("inputs.optimizer:adam", &[1, 4, 8]),
            ("inputs.optimizer:\"adam\"", &[1, 4, 8]),
            ("inputs.optimizer:adam|sgd", &[1, 2, 3, 4, 8]),
            ("inputs.optimizer:~adam", &[2, 3, 5, 6, 7]),
            // Run 6 has `optimizer: null`, which is no value.
            ("inputs.optimizer:nil", &[5, 6, 7]),
            ("inputs.optimizer:~nil", &[1, 2, 3, 4, 8]),
            ("inputs.augment:true", &[1]),
            ("inputs.augment:false", &[2]),
            ("inputs.epochs:10|20", &[1, 2, 3]),
            ("inputs.layers:[64]", &[8]),
            ("inputs.image:jupyter", &[7]),
            ("inputs.missing:1", &[]),
        ]);
    }

    #[test]
    fn outputs_compare_like_inputs() {
        assert_finds(&[
            ("outputs.loss:<0.3", &[1, 8]),
            ("out.accuracy:>=0.95", &[8]),
            ("outputs.accuracy:nil", &[2, 3, 4, 5, 6, 7]),
        ]);
    }

    #[test]
    fn metrics_compare_their_summaries_last_min_max_and_count() {
        assert_finds(&[
            ("metrics.loss.min:<0.1", &[1, 8]),
            ("metrics.loss.min:<=0.4", &[1, 2, 8]),
            ("metrics.loss.max:>=2", &[1, 2]),
            ("metrics.loss.count:>50", &[1, 8]),
            ("metrics.loss.count:10", &[4]),
            // A negated comparison flips: runs without a summary stay out.
            ("metrics.loss.min:~<0.1", &[2, 4]),
            ("metrics.loss.min:~0.05", &[2, 3, 4, 5, 6, 7, 8]),
            ("metrics.loss.min:nil", &[3, 5, 6, 7]),
            ("metrics.loss.max:~nil", &[1, 2, 4, 8]),
            ("metrics.accuracy.max:>0.9, metrics.loss.min:<0.1", &[1]),
            ("metrics.loss.min:<0.1 OR status:running", &[1, 4, 5, 8]),
        ]);
    }

    #[test]
    fn a_metric_s_last_value_is_its_series_or_else_its_output() {
        assert_finds(&[
            // Run 4 logged 0.45 since its output said 0.5; run 2's last value was NaN and
            // run 3 logged no series: their outputs answer.
            ("metrics.loss:<0.5", &[1, 4, 8]),
            ("metrics.loss.last:<0.5", &[1, 4, 8]),
            ("metrics.loss:>0.5", &[2, 3]),
            ("metrics.loss:0.5", &[]),
            ("metrics.loss:0.45", &[4]),
            ("metrics.loss:~>0.5", &[1, 4, 8]),
            ("metrics.accuracy:>0.9", &[1, 8]),
            ("metrics.loss:nil", &[5, 6, 7]),
            ("metrics.loss:~nil", &[1, 2, 3, 4, 8]),
        ]);
    }

    #[test]
    fn a_metric_named_with_dots_keeps_them_before_the_summary_s_part() {
        let field = |query: &str| match parse(query).expect("valid").root {
            Some(Expr::Condition(condition)) => condition.field,
            other => panic!("{query}: {other:?}"),
        };
        let metric = |name: &str, stat| Field::Metric {
            name: name.to_owned(),
            stat,
        };
        assert_eq!(
            field("metrics.val.loss.max:>1"),
            metric("val.loss", Stat::Max)
        );
        assert_eq!(field("metrics.val.loss:>1"), metric("val.loss", Stat::Last));
        assert_eq!(field("metrics.min:>1"), metric("min", Stat::Last));
        assert_eq!(field("metrics.loss.count:3"), metric("loss", Stat::Count));
    }

    #[test]
    fn project_names_the_run_s_project() {
        assert_finds(&[
            ("project:vision", &[1, 2, 3, 4, 5, 6, 7, 8]),
            ("project:other", &[]),
            ("project:other|vision, status:running", &[4, 5]),
        ]);
    }

    #[test]
    fn meta_info_keys_compare_their_json_values() {
        assert_finds(&[
            ("meta_info.team:vision", &[1, 8]),
            ("meta_info.has_events:true", &[1]),
            ("meta_info.has_events:false", &[8]),
            ("meta_info.concurrency:>2", &[5]),
            ("meta_info.concurrency:4|8", &[5]),
            ("meta_info.team:nil", &[2, 3, 4, 5, 6, 7]),
            ("meta_info.team:~vision", &[2, 3, 4, 5, 6, 7]),
        ]);
    }

    #[test]
    fn and_binds_tighter_than_or_and_parentheses_group() {
        assert_finds(&[
            ("status:running,user:alice", &[4]),
            ("status:running OR tags:baseline", &[1, 4, 5, 7]),
            ("status:running | tags:baseline", &[1, 4, 5, 7]),
            ("status:failed OR status:running AND user:alice", &[2, 3, 4]),
            ("(status:failed OR status:running), user:bob", &[2, 3, 5]),
            ("status:succeeded and tags:vision", &[1, 8]),
            (
                "(status:failed or status:running) and (user:alice | user:carol)",
                &[4],
            ),
            ("((status:failed))", &[2, 3]),
            ("(tags:eval)|(tags:dev)", &[4, 7]),
        ]);
    }

    #[test]
    fn and_binds_tighter_than_or_in_the_tree() {
        let condition = |value: &str| {
            Expr::Condition(Condition {
                field: Field::Column(Column::Status),
                negated: false,
                operation: Operation::Equals(Literal::Text(value.to_owned())),
            })
        };
        let query = parse("status:a OR status:b, status:c").expect("valid");
        let expected = Expr::Or(vec![
            condition("a"),
            Expr::And(vec![condition("b"), condition("c")]),
        ]);
        assert_eq!(query.root, Some(expected));
    }

    #[test]
    fn names_and_values_are_bound_not_spliced() {
        let query = parse("inputs.x';DROP:1, meta_info.k'):v'--, name:%o'k%").expect("valid");
        let (sql, params) = to_sql(&query, now(), Membership::Probe);
        assert!(
            !sql.contains("DROP") && !sql.contains("--") && !sql.contains("o'k"),
            "{sql}"
        );
        assert!(
            params.contains(&SqlValue::Text("x';DROP".to_owned())),
            "{params:?}"
        );
        assert_eq!(
            select(&database(), "inputs.x';DROP:1", ""),
            Vec::<String>::new()
        );
    }

    // -----------------------------------------------------------------------------------------
    // Sorting
    // -----------------------------------------------------------------------------------------

    #[test]
    fn sorts_by_columns_and_inputs_with_a_stable_tie_breaker() {
        let db = database();
        let cases: &[(&str, &str, &[usize])] = &[
            // The default is `-created_at`; runs 2 and 3 share a time, so the id decides.
            ("", "", &[8, 7, 6, 5, 4, 3, 2, 1]),
            ("", " , ", &[8, 7, 6, 5, 4, 3, 2, 1]),
            ("", "created_at", &[1, 2, 3, 4, 5, 6, 7, 8]),
            // Runs without a value come last either way.
            ("", "name", &[4, 3, 7, 5, 1, 2, 8, 6]),
            ("", "-name", &[8, 2, 1, 5, 7, 3, 4, 6]),
            ("", "status, -duration", &[6, 2, 3, 4, 5, 7, 1, 8]),
            ("", "-inputs.lr", &[8, 1, 3, 2, 4, 7, 6, 5]),
            ("", "in.lr", &[4, 2, 3, 1, 8, 5, 6, 7]),
            ("", "-outputs.loss", &[2, 3, 4, 1, 8, 7, 6, 5]),
            ("", "metrics.loss.min", &[1, 8, 2, 4, 3, 5, 6, 7]),
            ("", "-metrics.loss.max", &[2, 1, 8, 4, 7, 6, 5, 3]),
            // The last value is the series', or else the output: run 4's 0.45, run 2's 0.9.
            ("", "metrics.loss", &[8, 1, 4, 3, 2, 5, 6, 7]),
            ("", "-metrics.loss.last", &[2, 3, 4, 1, 8, 7, 6, 5]),
            ("status:running", "metrics.loss.count", &[4, 5]),
            // The sort's parameters come after the query's.
            (
                "status:failed|succeeded, inputs.optimizer:~nil",
                "-inputs.lr",
                &[8, 1, 3, 2],
            ),
        ];
        for (query, sort, expected) in cases {
            assert_eq!(
                select(&db, query, sort),
                uuids(expected),
                "{query} / {sort}"
            );
        }
    }

    #[test]
    fn unknown_sort_fields_are_refused_with_a_suggestion() {
        let error = parse_sort("created_at, -stauts").expect_err("unknown");
        assert_eq!(error.position, 13);
        assert_eq!(
            error.message,
            "unknown sort field `stauts`; did you mean `status`?"
        );
        let error = parse_sort("description").expect_err("not sortable");
        assert_eq!(error.position, 0);
        assert!(
            error.message.contains("known sort fields are created_at"),
            "{error:?}"
        );
        let error = parse_sort("name,inputs.").expect_err("no input name");
        assert_eq!(error.position, 5);
        assert!(
            error.message.contains("needs a name after the dot"),
            "{error:?}"
        );
    }

    // -----------------------------------------------------------------------------------------
    // Errors
    // -----------------------------------------------------------------------------------------

    #[test]
    fn unknown_fields_are_refused_with_a_suggestion() {
        let error = error("status:running, stauts:failed");
        assert_eq!(error.position, 16);
        assert_eq!(
            error.message,
            "unknown field `stauts`; did you mean `status`?"
        );
        assert_error("input.lr:1", "input", "did you mean `inputs.lr`?");
        assert_error(
            "colour:red",
            "colour",
            "known fields are uuid, id, uid, name",
        );
        assert_error(
            "inputs.:1",
            "inputs",
            "`inputs.` needs a name after the dot",
        );
        assert_error("meta_info.a\"b:1", "a\"b", "cannot contain");
    }

    #[test]
    fn malformed_values_are_refused_at_the_value() {
        assert_error(
            "status:running, created_at:>yesterdayish",
            "yesterdayish",
            "`yesterdayish` is not a date or time",
        );
        assert_error("duration:>abc", "abc", "`abc` is not a number");
        assert_error(
            "duration:1 .. 2",
            "..",
            "a range (`..`) does not apply to `duration`",
        );
        assert_error("name:a..b", "..", "which takes `value`, `a|b`, `text%`");
        assert_error(
            "status:%run%",
            "%run%",
            "a `%` pattern does not apply to `status`",
        );
        assert_error("duration:>1|2", "|", "`|` cannot be combined with `>`");
        assert_error(
            "created_at:>2024-01-01 .. 2024-02-01",
            "..",
            "cannot be combined",
        );
        assert_error(
            "created_at:2024-01-01|2024-01-02",
            "|",
            "a list (`|`) does not apply",
        );
        assert_error(
            "duration:1|2",
            "|",
            "a list (`|`) does not apply to `duration`",
        );
        assert_error("name:>abc", ">", "`>` does not apply to `name`");
        assert_error("tags:>=a", ">=", "`>=` does not apply to `tags`");
        assert_error("inputs.optimizer:>adam", "adam", "compares numbers");
        assert_error(
            "metrics.loss:0.1|0.2",
            "|",
            "a list (`|`) does not apply to `metrics.loss`",
        );
        assert_error("metrics.loss.min:<low", "low", "`low` is not a number");
        assert_error(
            "metrics.:1",
            "metrics",
            "`metrics.` needs a name after the dot",
        );
        assert_error("inputs.x:null", "null", "write `nil`");
        assert_error("created_at:2024-01-01 ..", "", "a value on each side");
        assert_error("created_at:a .. b .. c", "..", "exactly two ends");
        assert_error("name:a||b", "|b", "empty value in a list");
        assert_error("name:a|%b", "%b", "cannot be part of a list");
        assert_error("name:%a%b%", "%b%", "`%` can only start or end a pattern");
        assert_error("name:%", "%", "`%` needs text");
        assert_error("name:~", "", "`~` needs a value");
        assert_error("duration:>", "", "`>` needs a value");
    }

    #[test]
    fn syntax_errors_point_at_the_offending_token() {
        let cases: &[(&str, usize, &str)] = &[
            ("status:", 7, "`status:` needs a value"),
            ("status", 6, "expected `:` after `status`"),
            ("status running", 7, "expected `:` after `status`"),
            (", status:x", 0, "expected a condition"),
            ("status:x,,name:y", 9, "expected a condition"),
            ("status:x OR", 11, "expected a condition"),
            ("(status:x", 0, "this `(` is never closed"),
            ("status:x)", 8, "unmatched `)`"),
            ("(status:x) name:y", 11, "expected `,`, `AND` or `OR`"),
            (
                "((status:x) name:y)",
                12,
                "expected `,`, `AND`, `OR` or `)`",
            ),
            ("name:(x)", 5, "`(` cannot appear in a value"),
        ];
        for (query, position, says) in cases {
            let error = error(query);
            assert_eq!(error.position, *position, "{query}: {error:?}");
            assert!(error.message.contains(says), "{query}: {error:?}");
        }
    }
}
