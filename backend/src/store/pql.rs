//! Polyaxon's run query language (PQL): the `query` and `sort` parameters of
//! `GET /api/v1/{owner}/{project}/runs`, read into a typed tree that no store's SQL is part of.
//!
//! [`parse`] reads `status:running|failed, inputs.lr:>0.01 OR (tags:a AND created_at:last_month)`
//! into a [`Query`], and [`parse_sort`] reads `sort=-created_at,inputs.lr`; each store writes
//! them as its own SQL (`sqlite/query.rs` for SQLite's).
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
    pub(crate) fn family(self) -> Family {
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
    pub(crate) fn holds_uuid(self) -> bool {
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
    /// What `~` makes of it, as Polyaxon does: `~<` is `>=`.
    pub(crate) fn negated(self) -> Self {
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
pub(crate) enum Family {
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
