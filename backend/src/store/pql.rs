//! Polyaxon's run query language (PQL): the `query` and `sort` parameters of
//! `GET /api/v1/{owner}/{project}/runs`, read into a typed tree and written as SQLite SQL.
//!
//! [`parse`] reads `status:running|failed, inputs.lr:>0.01 OR (tags:a AND created_at:last_month)`
//! into a [`Query`]; [`to_sql`] writes it as a boolean expression over the table `runs`, with
//! every value (and every input name) bound as a `?` parameter. [`parse_sort`] and [`order_by`]
//! do the same for `sort=-created_at,inputs.lr`.
//!
//! The syntax follows Polyaxon's CLI parser and grammar (`polyaxon/_pql/{parser,grammar}.py`):
//! conditions `field:operation` joined by `,` or `AND`, alternatives by `OR` or a spaced ` | `,
//! parentheses for grouping, AND binding tighter than OR. A value runs up to the next `,`, `)`,
//! `AND`, `OR` or ` | field:`, so values may hold spaces (`2024-01-02 10:00 .. 2024-01-03`) but not
//! `,`, `(` or `)`.
//!
//! Where Polyaxon leaves the meaning to Django and Postgres, this module picks one and keeps to it:
//! - `~` before `>`, `>=`, `<` or `<=` flips the comparison (`duration:~>10` is `duration <= 10`),
//!   so runs without a value match neither; `~` before anything else is the complement, so
//!   `user:~alice` also finds runs without a user, as Django's `exclude` does.
//! - On datetime fields, `:` with a bare date means that whole day (UTC), with a time it means that
//!   minute (Polyaxon compares date, hour and minute), and with `last_month` it means "since then".
//!   In comparisons and ranges a bare date is its midnight and ranges include both ends.
//! - `inputs.NAME` and `outputs.NAME` look in `run_values`: numbers and booleans in `number`, any
//!   other value as JSON text in `text`.
//! - `metrics.NAME.min`, `.max`, `.count` and `.last` look in `run_metrics`, what the series the
//!   run logged as NAME comes to. `metrics.NAME` is its last value: the series' when the run
//!   logged one, and otherwise the output NAME, which is all Polyaxon reads (its tracking client
//!   copies each metric's last value into the outputs, and clients may log outputs alone). A
//!   name that ends in one of those four words is read as that field of the name before it.
//!
//! Not supported: Polyaxon's fields that Myelin has no data for (`agent`, `queue`,
//! `commit`, `cost`, `cpu`, `memory`, `meta_flags.*`, lineage and artifact fields, …), `_any_`,
//! and `%` patterns anywhere but at the start or end of a value.

use rusqlite::types::Value as SqlValue;
use shared::time::Timestamp;

/// A query or sort that cannot be read: what is wrong and what would be accepted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct PqlError {
    /// Lower case, without a trailing period.
    pub message: String,
    /// Byte offset of the offending token in the text given to [`parse`] or [`parse_sort`].
    pub position: usize,
}

impl PqlError {
    fn new(position: usize, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            position,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The tree
// ---------------------------------------------------------------------------------------------

/// A parsed `query`: conditions combined with AND and OR.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// `None` for an empty (or blank) query, which matches every run.
    pub root: Option<Expr>,
}

impl Query {
    /// Whether some condition looks at `column`.
    pub fn mentions(&self, column: Column) -> bool {
        fn walk(expr: &Expr, column: Column) -> bool {
            match expr {
                Expr::And(children) | Expr::Or(children) => {
                    children.iter().any(|child| walk(child, column))
                }
                Expr::Condition(condition) => condition.field == Field::Column(column),
            }
        }
        self.root.as_ref().is_some_and(|root| walk(root, column))
    }
}

/// A node of the boolean tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// Every child holds (`,` or `AND`). Has at least two children.
    And(Vec<Expr>),
    /// Some child holds (`OR` or ` | `). Has at least two children.
    Or(Vec<Expr>),
    /// One `field:operation`.
    Condition(Condition),
}

/// One `field:operation`, such as `status:~running|failed`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// What the condition looks at.
    pub field: Field,
    /// Written with `~`: a flipped comparison, or else the complement of the operation.
    pub negated: bool,
    /// The test, with its values already read for the field's type.
    pub operation: Operation,
}

/// What a condition looks at.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    /// A column of `runs`.
    Column(Column),
    /// The run's tags (`run_tags`): `tags:a` is "has tag a".
    Tags,
    /// One input or output (`run_values`): `inputs.lr`, `in.lr`, `params.lr`, `outputs.loss`,
    /// `out.loss`.
    RunValue {
        /// Inputs or outputs.
        section: Section,
        /// The input's or output's name, as written.
        key: String,
    },
    /// What a logged metric comes to (`run_metrics`): `metrics.loss`, `metrics.loss.min`.
    Metric {
        /// The metric's name, as written.
        name: String,
        /// Which part of its summary.
        stat: Stat,
    },
    /// One top-level key of `runs.meta_info`: `meta_info.KEY`.
    MetaInfo(String),
}

/// Which half of `run_values` an input or output lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// `inputs.NAME`, `in.NAME`, `params.NAME`.
    Inputs,
    /// `outputs.NAME`, `out.NAME`.
    Outputs,
}

/// Which part of a metric's summary a condition or sort looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stat {
    /// `metrics.NAME`, `metrics.NAME.last`: the last value logged, or the output NAME for a
    /// run that logged no series of that name.
    Last,
    /// `metrics.NAME.min`: the lowest finite value.
    Min,
    /// `metrics.NAME.max`: the highest finite value.
    Max,
    /// `metrics.NAME.count`: how many values were logged.
    Count,
}

impl Stat {
    /// The column of `run_metrics` it reads.
    pub fn column(self) -> &'static str {
        match self {
            Self::Last => "last",
            Self::Min => "min",
            Self::Max => "max",
            Self::Count => "count",
        }
    }
}

/// The parts of a summary a `metrics.NAME.PART` field may name.
const STATS: &[(&str, Stat)] = &[
    ("last", Stat::Last),
    ("min", Stat::Min),
    ("max", Stat::Max),
    ("count", Stat::Count),
];

/// The prefix of fields that read metrics' summaries.
const METRICS: &str = "metrics";

/// `NAME` or `NAME.PART` after `metrics.`, as the metric's name and the part of its summary.
fn metric_key(key: &str) -> (&str, Stat) {
    key.rsplit_once('.')
        .and_then(|(name, part)| {
            let &(_, stat) = STATS.iter().find(|(known, _)| *known == part)?;
            (!name.is_empty()).then_some((name, stat))
        })
        .unwrap_or((key, Stat::Last))
}

impl Section {
    /// The value of `run_values.section`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inputs => "inputs",
            Self::Outputs => "outputs",
        }
    }
}

/// The columns of `runs` that queries and sorts can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// `uuid`, `id`, `uid`.
    Uuid,
    /// `name`.
    Name,
    /// `description`.
    Description,
    /// `created_at`.
    CreatedAt,
    /// `updated_at`.
    UpdatedAt,
    /// `started_at`.
    StartedAt,
    /// `finished_at`.
    FinishedAt,
    /// `status`.
    Status,
    /// `kind`.
    Kind,
    /// `runtime`.
    Runtime,
    /// `user`.
    User,
    /// `project`: the name of the run's project, for lists across projects.
    Project,
    /// `managed_by`.
    ManagedBy,
    /// `pending`.
    Pending,
    /// `cloning_kind`.
    CloningKind,
    /// `original`: the uuid of the run this one was cloned from.
    Original,
    /// `pipeline`: the uuid of the matrix or DAG this run is a child of.
    Pipeline,
    /// `executor`: Myelin's runtime for the run (`process` or `kubernetes`).
    Executor,
    /// `duration`, in seconds.
    Duration,
    /// `wait_time`, in seconds.
    WaitTime,
    /// `live_state`: 1 while live, 0 once archived. A query that names it lists archived runs
    /// too (`live_state:0` is how Polyaxon's clients ask for the archived ones).
    LiveState,
}

impl Column {
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

    fn family(self) -> Family {
        match self {
            Self::Uuid | Self::Name | Self::Description => Family::Search,
            Self::CreatedAt | Self::UpdatedAt | Self::StartedAt | Self::FinishedAt => {
                Family::DateTime
            }
            Self::Duration | Self::WaitTime | Self::LiveState => Family::Scalar,
            Self::Status
            | Self::Kind
            | Self::Runtime
            | Self::User
            | Self::Project
            | Self::ManagedBy
            | Self::Pending
            | Self::CloningKind
            | Self::Original
            | Self::Pipeline
            | Self::Executor => Family::Value,
        }
    }

    /// Uuids are kept as 32 lower-case hex digits; clients often paste them with dashes.
    fn holds_uuid(self) -> bool {
        matches!(self, Self::Uuid | Self::Original | Self::Pipeline)
    }
}

/// The test a condition applies, before negation.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    /// `nil`: no value.
    IsNil,
    /// `value`.
    Equals(Literal),
    /// `>value`, `>=value` (or `=>`), `<value`, `<=value` (or `=<`).
    Compare(Comparison, Literal),
    /// `a|b|c`.
    In(Vec<Literal>),
    /// `from .. to`, both ends included (datetime fields only).
    Range(TimeValue, TimeValue),
    /// `text%`, `%text`, `%text%`, ignoring ASCII case (search fields only).
    Like(Like, String),
}

/// The comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// `<`.
    Less,
    /// `<=` or `=<`.
    LessOrEqual,
    /// `>`.
    Greater,
    /// `>=` or `=>`.
    GreaterOrEqual,
}

impl Comparison {
    fn sql(self) -> &'static str {
        match self {
            Self::Less => "<",
            Self::LessOrEqual => "<=",
            Self::Greater => ">",
            Self::GreaterOrEqual => ">=",
        }
    }

    /// What `~` makes of it, as Polyaxon does: `~<` is `>=`.
    fn negated(self) -> Self {
        match self {
            Self::Less => Self::GreaterOrEqual,
            Self::LessOrEqual => Self::Greater,
            Self::Greater => Self::LessOrEqual,
            Self::GreaterOrEqual => Self::Less,
        }
    }
}

/// Where a `%` pattern's text must appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Like {
    /// `text%`.
    StartsWith,
    /// `%text`.
    EndsWith,
    /// `%text%`.
    Contains,
}

/// A value in a condition, read for the type of its field.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// Compared as text: values of text columns and tags, and strings in `meta_info`.
    Text(String),
    /// A number; `true` and `false` are 1 and 0 on inputs, outputs and `meta_info`.
    Number(f64),
    /// JSON text, compared with JSON kept as text: any non-number input or output
    /// (`adam` is `"adam"`), and arrays and objects in `meta_info`.
    Json(String),
    /// A value of a datetime field.
    Time(TimeValue),
}

/// A value of a datetime field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeValue {
    /// A date without a time, at its midnight UTC: `2024-01-02`.
    Day(Timestamp),
    /// A date with a time: `2024-01-02T10:00:00Z`, `2024-01-02 10:00`.
    Instant(Timestamp),
    /// This many days before the query runs: `last_month` (30), `last_week` (7), `last_day` (1).
    DaysAgo(i64),
}

/// One term of a `sort`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sort {
    /// What to order by.
    pub key: SortKey,
    /// Written with a leading `-`.
    pub descending: bool,
}

/// What a sort orders by.
#[derive(Debug, Clone, PartialEq)]
pub enum SortKey {
    /// A column of `runs`.
    Column(Column),
    /// The numeric value of an input or output.
    RunValue {
        /// Inputs or outputs.
        section: Section,
        /// The input's or output's name.
        key: String,
    },
    /// A part of a logged metric's summary.
    Metric {
        /// The metric's name.
        name: String,
        /// Which part.
        stat: Stat,
    },
}

// ---------------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------------

/// Field names as written in queries, aliases included.
const FIELDS: &[(&str, Column)] = &[
    ("uuid", Column::Uuid),
    ("id", Column::Uuid),
    ("uid", Column::Uuid),
    ("name", Column::Name),
    ("description", Column::Description),
    ("created_at", Column::CreatedAt),
    ("updated_at", Column::UpdatedAt),
    ("started_at", Column::StartedAt),
    ("finished_at", Column::FinishedAt),
    ("status", Column::Status),
    ("kind", Column::Kind),
    ("runtime", Column::Runtime),
    ("user", Column::User),
    ("project", Column::Project),
    ("managed_by", Column::ManagedBy),
    ("pending", Column::Pending),
    ("cloning_kind", Column::CloningKind),
    ("original", Column::Original),
    ("pipeline", Column::Pipeline),
    ("executor", Column::Executor),
    ("duration", Column::Duration),
    ("wait_time", Column::WaitTime),
    ("live_state", Column::LiveState),
];

/// Polyaxon's sortable run fields that Myelin keeps.
const SORTABLE: &[(&str, Column)] = &[
    ("created_at", Column::CreatedAt),
    ("updated_at", Column::UpdatedAt),
    ("started_at", Column::StartedAt),
    ("finished_at", Column::FinishedAt),
    ("name", Column::Name),
    ("kind", Column::Kind),
    ("runtime", Column::Runtime),
    ("executor", Column::Executor),
    ("uuid", Column::Uuid),
    ("duration", Column::Duration),
    ("wait_time", Column::WaitTime),
    ("status", Column::Status),
    ("user", Column::User),
];

/// Prefixes of `prefix.NAME` fields that name an input or output.
const RUN_VALUE_PREFIXES: &[(&str, Section)] = &[
    ("inputs", Section::Inputs),
    ("in", Section::Inputs),
    ("params", Section::Inputs),
    ("outputs", Section::Outputs),
    ("out", Section::Outputs),
];

const META_INFO: &str = "meta_info";

const DATETIME_CONSTANTS: &[(&str, i64)] = &[("last_month", 30), ("last_week", 7), ("last_day", 1)];

// ---------------------------------------------------------------------------------------------
// Parsing the query
// ---------------------------------------------------------------------------------------------

/// Reads a PQL query. A blank query matches every run.
pub fn parse(query: &str) -> Result<Query, PqlError> {
    let mut parser = Parser {
        text: query,
        pos: 0,
    };
    parser.skip_whitespace();
    if parser.rest().is_empty() {
        return Ok(Query { root: None });
    }
    let root = parser.disjunction()?;
    parser.skip_whitespace();
    match parser.rest().chars().next() {
        None => Ok(Query { root: Some(root) }),
        Some(')') => Err(PqlError::new(parser.pos, "unmatched `)`")),
        Some(_) => Err(PqlError::new(
            parser.pos,
            "expected `,`, `AND` or `OR` between conditions",
        )),
    }
}

/// A recursive-descent reader of the grammar
/// `disjunction = conjunction (OR conjunction)*`, `conjunction = primary (AND primary)*`,
/// `primary = "(" disjunction ")" | field ":" operation`.
struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn skip_whitespace(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start().len();
    }

    fn disjunction(&mut self) -> Result<Expr, PqlError> {
        let mut terms = vec![self.conjunction()?];
        while let Some(length) = or_operator(self.rest()) {
            self.pos += length;
            terms.push(self.conjunction()?);
        }
        Ok(combine(terms, Expr::Or))
    }

    fn conjunction(&mut self) -> Result<Expr, PqlError> {
        let mut terms = vec![self.primary()?];
        while let Some(length) = and_operator(self.rest()) {
            self.pos += length;
            terms.push(self.primary()?);
        }
        Ok(combine(terms, Expr::And))
    }

    fn primary(&mut self) -> Result<Expr, PqlError> {
        self.skip_whitespace();
        if !self.rest().starts_with('(') {
            return self.condition().map(Expr::Condition);
        }
        let open = self.pos;
        self.pos += 1;
        let inner = self.disjunction()?;
        self.skip_whitespace();
        match self.rest().chars().next() {
            Some(')') => {
                self.pos += 1;
                Ok(inner)
            }
            None => Err(PqlError::new(open, "this `(` is never closed")),
            Some(_) => Err(PqlError::new(
                self.pos,
                "expected `,`, `AND`, `OR` or `)` between conditions",
            )),
        }
    }

    fn condition(&mut self) -> Result<Condition, PqlError> {
        let start = self.pos;
        let rest = self.rest();
        if rest.is_empty() || rest.starts_with([',', ')']) {
            return Err(PqlError::new(
                start,
                "expected a condition such as `status:running`",
            ));
        }
        // Input names may hold anything but these, so the name ends at the first of them.
        let length = rest
            .find(|c: char| c == ':' || c == ',' || c.is_whitespace())
            .unwrap_or(rest.len());
        let name = Token {
            text: &rest[..length],
            at: start,
        };
        self.pos += length;
        self.skip_whitespace();
        if !self.rest().starts_with(':') {
            return Err(PqlError::new(
                self.pos,
                format!(
                    "expected `:` after `{}`; conditions are written `field:value`",
                    name.text
                ),
            ));
        }
        self.pos += 1;
        let field = parse_field(name)?;
        self.skip_whitespace();
        let value_start = self.pos;
        let value_end = self.value_end()?;
        self.pos = value_end;
        let value = Token {
            text: self.text[value_start..value_end].trim_end(),
            at: value_start,
        };
        parse_condition(field, name.text, value)
    }

    /// Where the value starting here ends: at a `,` or `)`, before whitespace that is followed
    /// by `AND`, `OR` or ` | field:`, or at the end of the query.
    fn value_end(&self) -> Result<usize, PqlError> {
        let rest = self.rest();
        for (offset, character) in rest.char_indices() {
            match character {
                ',' | ')' => return Ok(self.pos + offset),
                '(' => {
                    return Err(PqlError::new(
                        self.pos + offset,
                        "`(` cannot appear in a value; parentheses only group conditions",
                    ));
                }
                _ if character.is_whitespace() && connective_follows(&rest[offset..]) => {
                    return Ok(self.pos + offset);
                }
                _ => {}
            }
        }
        Ok(self.text.len())
    }
}

/// One term stands for itself; more are joined by `node`.
fn combine(terms: Vec<Expr>, node: fn(Vec<Expr>) -> Expr) -> Expr {
    match <[Expr; 1]>::try_from(terms) {
        Ok([only]) => only,
        Err(terms) => node(terms),
    }
}

/// The length of an OR (`OR`, or `|` before a condition or group) at the start of `rest`,
/// whitespace before it included.
fn or_operator(rest: &str) -> Option<usize> {
    let trimmed = rest.trim_start();
    let skipped = rest.len() - trimmed.len();
    keyword(trimmed, "OR")
        .or_else(|| pipe_or(trimmed).then_some(1))
        .map(|length| skipped + length)
}

/// The length of an AND (`,` or `AND`) at the start of `rest`, whitespace before it included.
fn and_operator(rest: &str) -> Option<usize> {
    let trimmed = rest.trim_start();
    let skipped = rest.len() - trimmed.len();
    let length = if trimmed.starts_with(',') {
        Some(1)
    } else {
        keyword(trimmed, "AND")
    };
    length.map(|length| skipped + length)
}

/// Whether whitespace-led `text` continues with a connective rather than more of a value.
fn connective_follows(text: &str) -> bool {
    let trimmed = text.trim_start();
    keyword(trimmed, "AND").is_some() || keyword(trimmed, "OR").is_some() || pipe_or(trimmed)
}

/// The length of `word` (any case) at the start of `text` when a word boundary follows it.
fn keyword(text: &str, word: &str) -> Option<usize> {
    let head = text.get(..word.len())?;
    let boundary = text[word.len()..]
        .chars()
        .next()
        .is_none_or(|next| next.is_whitespace() || next == '(');
    (head.eq_ignore_ascii_case(word) && boundary).then_some(word.len())
}

/// Whether `text` starts with a `|` that means OR: one followed by a group or a `field:`, as
/// Polyaxon's grammar has it, so that `status:a | b` stays a list of values.
fn pipe_or(text: &str) -> bool {
    let Some(after) = text.strip_prefix('|') else {
        return false;
    };
    let after = after.trim_start();
    if after.starts_with('(') {
        return true;
    }
    let name_length = after
        .find(|c: char| c == ':' || c == ',' || c.is_whitespace())
        .unwrap_or(after.len());
    name_length > 0 && after[name_length..].starts_with(':')
}

/// A piece of the query and where it starts, so errors can point at it.
#[derive(Debug, Clone, Copy)]
struct Token<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Token<'a> {
    fn trim(self) -> Self {
        let leading = self.text.len() - self.text.trim_start().len();
        Self {
            text: self.text.trim(),
            at: self.at + leading,
        }
    }

    /// The part from byte `start` on.
    fn from(self, start: usize) -> Self {
        Self {
            text: &self.text[start..],
            at: self.at + start,
        }
    }

    /// The part before byte `end`.
    fn until(self, end: usize) -> Self {
        Self {
            text: &self.text[..end],
            at: self.at,
        }
    }

    fn error(self, message: impl Into<String>) -> PqlError {
        PqlError::new(self.at, message)
    }
}

fn parse_field(name: Token) -> Result<Field, PqlError> {
    if let Some(&(_, column)) = FIELDS.iter().find(|(known, _)| *known == name.text) {
        return Ok(Field::Column(column));
    }
    if name.text == "tags" {
        return Ok(Field::Tags);
    }
    let prefixed = name.text.split_once('.').filter(|(prefix, _)| {
        *prefix == META_INFO
            || *prefix == METRICS
            || RUN_VALUE_PREFIXES.iter().any(|(known, _)| known == prefix)
    });
    let Some((prefix, key)) = prefixed else {
        return Err(unknown_field(name));
    };
    if key.is_empty() {
        return Err(name.error(format!(
            "`{prefix}.` needs a name after the dot, such as `{prefix}.lr`"
        )));
    }
    if prefix == METRICS {
        let (name, stat) = metric_key(key);
        return Ok(Field::Metric {
            name: name.to_owned(),
            stat,
        });
    }
    match RUN_VALUE_PREFIXES
        .iter()
        .find(|(known, _)| *known == prefix)
    {
        Some(&(_, section)) => Ok(Field::RunValue {
            section,
            key: key.to_owned(),
        }),
        // SQLite's JSON paths cannot escape a double quote inside a quoted key.
        None if key.contains('"') => Err(name
            .from(prefix.len() + 1)
            .error("`meta_info` keys cannot contain `\"`")),
        None => Ok(Field::MetaInfo(key.to_owned())),
    }
}

fn unknown_field(name: Token) -> PqlError {
    let suggestion = match name.text.split_once('.') {
        Some((prefix, key)) => {
            let prefixes = RUN_VALUE_PREFIXES.iter().map(|(known, _)| *known);
            closest(prefix, prefixes.chain([METRICS, META_INFO]))
                .map(|prefix| format!("{prefix}.{key}"))
        }
        None => {
            let names = FIELDS.iter().map(|(known, _)| *known);
            closest(name.text, names.chain(["tags"])).map(str::to_owned)
        }
    };
    let rest = format!("tags, {KNOWN_PREFIXED}, meta_info.KEY");
    unknown(name, "field", suggestion, &known(FIELDS, &rest))
}

/// The names of `columns`, then `rest`, for "known fields are …".
fn known(columns: &[(&str, Column)], rest: &str) -> String {
    let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
    format!("{}, {rest}", names.join(", "))
}

const KNOWN_PREFIXED: &str = "inputs.NAME (or in., params.), outputs.NAME (or out.) and \
     metrics.NAME (or metrics.NAME.last, .min, .max, .count)";

/// "unknown field `stauts`; did you mean `status`?", or the list of known names.
fn unknown(
    name: Token,
    what: &str,
    suggestion: Option<impl std::fmt::Display>,
    known: &str,
) -> PqlError {
    let message = match suggestion {
        Some(suggestion) => format!(
            "unknown {what} `{}`; did you mean `{suggestion}`?",
            name.text
        ),
        None => format!("unknown {what} `{}`; known {what}s are {known}", name.text),
    };
    name.error(message)
}

/// Which operators a field takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    /// `uuid`, `name`, `description`: values, lists and `%` patterns.
    Search,
    /// Times: values, comparisons and ranges.
    DateTime,
    /// Text columns, inputs, outputs and `meta_info`: values, lists and comparisons.
    Value,
    /// `duration`, `wait_time`: numbers and comparisons.
    Scalar,
    /// `tags`: values and lists.
    Tags,
}

/// The operators that some fields refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
    Compare,
    Range,
    In,
    Like,
}

impl Family {
    fn of(field: &Field) -> Self {
        match field {
            Field::Column(column) => column.family(),
            Field::Tags => Self::Tags,
            Field::RunValue { .. } | Field::MetaInfo(_) => Self::Value,
            // Polyaxon reads metrics with its scalar parser: `metrics.loss:a|b` is refused.
            Field::Metric { .. } => Self::Scalar,
        }
    }

    fn allows(self, operator: Operator) -> bool {
        match self {
            Self::Search => matches!(operator, Operator::In | Operator::Like),
            Self::DateTime => matches!(operator, Operator::Compare | Operator::Range),
            Self::Value => matches!(operator, Operator::Compare | Operator::In),
            Self::Scalar => operator == Operator::Compare,
            Self::Tags => operator == Operator::In,
        }
    }

    fn accepted(self) -> &'static str {
        match self {
            Self::Search => "`value`, `a|b`, `text%`, `%text`, `%text%` and `nil`",
            Self::DateTime => {
                "a date or time, `>`, `>=`, `<`, `<=`, `from .. to` and `nil` \
                 (dates such as 2024-01-02 or 2024-01-02T10:00:00Z, or last_month, last_week, \
                 last_day)"
            }
            Self::Value => "`value`, `a|b`, `>`, `>=`, `<`, `<=` and `nil`",
            Self::Scalar => "a number, `>`, `>=`, `<`, `<=` and `nil`",
            Self::Tags => "`tag`, `a|b` and `nil`",
        }
    }

    /// Refuses `operator` with an error at `token` unless the family takes it.
    fn check(
        self,
        operator: Operator,
        what: &str,
        name: &str,
        token: Token,
    ) -> Result<(), PqlError> {
        if self.allows(operator) {
            return Ok(());
        }
        Err(token.error(format!(
            "{what} does not apply to `{name}`, which takes {}",
            self.accepted()
        )))
    }
}

/// Reads the operation after `name:`, with its `~`.
fn parse_condition(field: Field, name: &str, value: Token) -> Result<Condition, PqlError> {
    if value.text.is_empty() {
        return Err(value.error(format!(
            "`{name}:` needs a value; write `{name}:nil` for runs without one"
        )));
    }
    let (negated, operand) = match value.text.strip_prefix('~') {
        Some(_) => (true, value.from(1).trim()),
        None => (false, value),
    };
    if operand.text.is_empty() {
        return Err(operand.error("`~` needs a value after it"));
    }
    let operation = parse_operation(&field, name, operand)?;
    Ok(Condition {
        field,
        negated,
        operation,
    })
}

fn parse_operation(field: &Field, name: &str, operand: Token) -> Result<Operation, PqlError> {
    if operand.text == "nil" {
        return Ok(Operation::IsNil);
    }
    let family = Family::of(field);
    if let Some((symbol, comparison)) = comparison_prefix(operand.text) {
        let what = format!("`{symbol}`");
        family.check(Operator::Compare, &what, name, operand)?;
        let rest = operand.from(symbol.len()).trim();
        if rest.text.is_empty() {
            return Err(rest.error(format!("`{symbol}` needs a value after it")));
        }
        for other in ["|", ".."] {
            if let Some(at) = rest.text.find(other) {
                return Err(rest.from(at).error(format!(
                    "`{other}` cannot be combined with `{symbol}`; a comparison takes one value"
                )));
            }
        }
        return Ok(Operation::Compare(
            comparison,
            compared(field, name, symbol, rest)?,
        ));
    }
    if let Some(at) = operand.text.find("..") {
        family.check(Operator::Range, "a range (`..`)", name, operand.from(at))?;
        let from = operand.until(at).trim();
        let to = operand.from(at + 2).trim();
        for end in [from, to] {
            if end.text.is_empty() {
                return Err(end.error("a range needs a value on each side: `from .. to`"));
            }
        }
        if let Some(again) = to.text.find("..") {
            return Err(to
                .from(again)
                .error("a range has exactly two ends: `from .. to`"));
        }
        return Ok(Operation::Range(time_value(from)?, time_value(to)?));
    }
    if let Some(at) = operand.text.find('|') {
        family.check(Operator::In, "a list (`|`)", name, operand.from(at))?;
        let mut items = Vec::new();
        let mut start = 0;
        for piece in operand.text.split('|') {
            let item = operand.from(start).until(piece.len()).trim();
            start += piece.len() + 1;
            if item.text.is_empty() {
                return Err(item.error("empty value in a list; write `a|b`"));
            }
            if is_pattern(item.text) {
                return Err(item.error("a `%` pattern cannot be part of a list (`a|b`)"));
            }
            items.push(literal(field, name, item)?);
        }
        return Ok(Operation::In(items));
    }
    if is_pattern(operand.text) {
        family.check(Operator::Like, "a `%` pattern", name, operand)?;
        return like(field, operand);
    }
    literal(field, name, operand).map(Operation::Equals)
}

fn comparison_prefix(text: &str) -> Option<(&'static str, Comparison)> {
    // Two-character operators first, so `<=` is not read as `<` then `=`.
    [
        ("<=", Comparison::LessOrEqual),
        ("=<", Comparison::LessOrEqual),
        (">=", Comparison::GreaterOrEqual),
        ("=>", Comparison::GreaterOrEqual),
        ("<", Comparison::Less),
        (">", Comparison::Greater),
    ]
    .into_iter()
    .find(|(symbol, _)| text.starts_with(symbol))
}

fn is_pattern(text: &str) -> bool {
    text.starts_with('%') || text.ends_with('%')
}

fn like(field: &Field, operand: Token) -> Result<Operation, PqlError> {
    let text = operand.text;
    let starts = text.starts_with('%');
    // A lone `%` is a leading one, not both ends.
    let ends = text.len() > 1 && text.ends_with('%');
    let inner = operand
        .from(usize::from(starts))
        .until(text.len() - usize::from(starts) - usize::from(ends));
    if inner.text.is_empty() {
        return Err(operand.error("`%` needs text to match, such as `%resnet%`"));
    }
    if let Some(at) = inner.text.find('%') {
        return Err(inner
            .from(at)
            .error("`%` can only start or end a pattern: `text%`, `%text` or `%text%`"));
    }
    let kind = match (starts, ends) {
        (true, true) => Like::Contains,
        (true, false) => Like::EndsWith,
        _ => Like::StartsWith,
    };
    let text = match field {
        Field::Column(column) => column_text(*column, inner.text),
        _ => inner.text.to_owned(),
    };
    Ok(Operation::Like(kind, text))
}

/// Reads a value for `field`.
fn literal(field: &Field, name: &str, token: Token) -> Result<Literal, PqlError> {
    match field {
        Field::Column(column) => match column.family() {
            Family::DateTime => time_value(token).map(Literal::Time),
            Family::Scalar => {
                number(token, name, "seconds such as `30` or `1.5`").map(Literal::Number)
            }
            _ => Ok(Literal::Text(column_text(*column, token.text))),
        },
        Field::Tags => Ok(Literal::Text(token.text.to_owned())),
        Field::Metric { .. } => {
            number(token, name, "numbers such as `0.1` or `1e-3`").map(Literal::Number)
        }
        Field::RunValue { .. } => json_literal(token, true),
        Field::MetaInfo(_) => json_literal(token, false),
    }
}

/// Reads the value of a comparison (`symbol` is how it was written).
fn compared(field: &Field, name: &str, symbol: &str, token: Token) -> Result<Literal, PqlError> {
    let value = literal(field, name, token)?;
    match (field, &value) {
        // `run_values` only orders numbers; JSON text would compare by its characters.
        (Field::RunValue { .. }, Literal::Json(_)) => Err(token.error(format!(
            "`{symbol}` on `{name}` compares numbers, and `{}` is not a number",
            token.text
        ))),
        _ => Ok(value),
    }
}

fn column_text(column: Column, text: &str) -> String {
    if column.holds_uuid() {
        text.replace('-', "").to_ascii_lowercase()
    } else {
        text.to_owned()
    }
}

/// A finite number; the error says `name` takes `what`.
fn number(token: Token, name: &str, what: &str) -> Result<f64, PqlError> {
    token
        .text
        .parse::<f64>()
        .ok()
        .filter(|number| number.is_finite())
        .ok_or_else(|| {
            token.error(format!(
                "`{}` is not a number; `{name}` takes {what}",
                token.text
            ))
        })
}

/// Reads an input, output or `meta_info` value as Polyaxon does, as JSON when it is JSON
/// (`0.1`, `true`, `"adam"`) and as a string otherwise (`adam`). `json_strings` says whether
/// strings are compared as JSON text (`run_values.text`) or as plain text (`json_extract`).
fn json_literal(token: Token, json_strings: bool) -> Result<Literal, PqlError> {
    use serde_json::Value as Json;
    let string = |text: String| {
        if json_strings {
            Literal::Json(Json::String(text).to_string())
        } else {
            Literal::Text(text)
        }
    };
    Ok(match serde_json::from_str::<Json>(token.text) {
        Ok(Json::Number(number)) => match number.as_f64() {
            Some(number) => Literal::Number(number),
            None => string(token.text.to_owned()),
        },
        Ok(Json::Bool(flag)) => Literal::Number(f64::from(u8::from(flag))),
        Ok(Json::String(text)) => string(text),
        Ok(Json::Null) => {
            return Err(token.error("write `nil` to find runs without a value, not `null`"));
        }
        Ok(other @ (Json::Array(_) | Json::Object(_))) => Literal::Json(other.to_string()),
        Err(_) => string(token.text.to_owned()),
    })
}

fn time_value(token: Token) -> Result<TimeValue, PqlError> {
    if let Some(&(_, days)) = DATETIME_CONSTANTS
        .iter()
        .find(|(name, _)| *name == token.text)
    {
        return Ok(TimeValue::DaysAgo(days));
    }
    let instant = Timestamp::parse(token.text).ok_or_else(|| {
        token.error(format!(
            "`{}` is not a date or time; write one such as `2024-01-02` or \
             `2024-01-02T10:00:00Z`, or last_month, last_week or last_day",
            token.text
        ))
    })?;
    // `Timestamp::parse` splits the date from the time at the first of these.
    if token.text.contains(['T', 't', ' ']) {
        Ok(TimeValue::Instant(instant))
    } else {
        Ok(TimeValue::Day(instant))
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing the sort
// ---------------------------------------------------------------------------------------------

/// Reads a `sort`: comma-separated fields, each descending with a leading `-`. Blank → no sorts.
pub fn parse_sort(sort: &str) -> Result<Vec<Sort>, PqlError> {
    let mut sorts = Vec::new();
    let mut start = 0;
    for piece in sort.split(',') {
        let item = Token {
            text: piece,
            at: start,
        }
        .trim();
        start += piece.len() + 1;
        if item.text.is_empty() {
            continue;
        }
        let (descending, name) = match item.text.strip_prefix('-') {
            Some(_) => (true, item.from(1).trim()),
            None => (false, item),
        };
        sorts.push(Sort {
            key: sort_key(name)?,
            descending,
        });
    }
    Ok(sorts)
}

fn sort_key(name: Token) -> Result<SortKey, PqlError> {
    if let Some(&(_, column)) = SORTABLE.iter().find(|(known, _)| *known == name.text) {
        return Ok(SortKey::Column(column));
    }
    let Some((prefix, key)) = name.text.split_once('.').filter(|(prefix, _)| {
        *prefix == METRICS || RUN_VALUE_PREFIXES.iter().any(|(known, _)| known == prefix)
    }) else {
        let candidates = SORTABLE.iter().map(|(known, _)| *known);
        return Err(unknown(
            name,
            "sort field",
            closest(name.text, candidates),
            &known(SORTABLE, KNOWN_PREFIXED),
        ));
    };
    if key.is_empty() {
        return Err(name.error(format!(
            "`{}` needs a name after the dot, such as `inputs.lr`",
            name.text
        )));
    }
    match RUN_VALUE_PREFIXES
        .iter()
        .find(|(known, _)| *known == prefix)
    {
        Some(&(_, section)) => Ok(SortKey::RunValue {
            section,
            key: key.to_owned(),
        }),
        None => {
            let (metric, stat) = metric_key(key);
            Ok(SortKey::Metric {
                name: metric.to_owned(),
                stat,
            })
        }
    }
}

// ---------------------------------------------------------------------------------------------
// SQL
// ---------------------------------------------------------------------------------------------

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

/// The candidate within a few edits of `written` (a third of its length, at least one).
fn closest<'a>(written: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let budget = (written.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|candidate| (edit_distance(written, candidate), candidate))
        .filter(|(distance, _)| *distance <= budget)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance, in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, a_character) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, b_character) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(a_character != *b_character);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
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
            include_str!("schema.sql"),
            include_str!("schema_2.sql"),
            include_str!("schema_3.sql"),
            include_str!("schema_4.sql"),
            include_str!("schema_5.sql"),
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
