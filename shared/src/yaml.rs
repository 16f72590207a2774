//! YAML text → a tree of nodes that know where they stand in the text.
//!
//! Polyaxon reads Polyaxonfiles with PyYAML's `safe_load`, which follows YAML 1.1: `yes`/`on` are
//! booleans, `010` is octal, `1:30` is 90, `1e3` is a string (a float needs a dot), and
//! `2024-01-02` is a date. To read every file the way Polyaxon does, scalars are resolved here by
//! PyYAML's rules, not by the YAML 1.2 rules of the underlying parser, which is used only for its
//! events and their positions.
//!
//! Problems do not stop the reading where that is safe: a duplicate key is a warning (the later
//! value wins, as in PyYAML) and reading goes on. A syntax error ends it, since nothing after it
//! can be trusted.
//!
//! Any text, hostile or not, is read with bounded work: a document has at most [`MAX_BYTES`] of
//! text, [`MAX_DEPTH`] levels of nesting and [`MAX_NODES`] values once its aliases are expanded,
//! whose scalars hold at most [`MAX_SCALAR_BYTES`]. An alias is weighed before it is copied, so a
//! "billion laughs" (a few lines of aliases of aliases) is refused at the alias that would cross
//! a limit, in about the time it takes to read the text, instead of filling the memory.

use std::collections::HashMap;

use saphyr_parser::{Event, Marker, Parser, ScalarStyle, ScanError};

use crate::diagnostic::{Diagnostic, Position, Span};

mod quick;

/// The most text a document may have. Kubernetes keeps a whole object under 1.5 MB; a
/// Polyaxonfile is far smaller.
pub const MAX_BYTES: usize = 1 << 20;

/// The deepest nesting of collections; every stage after reading walks the tree recursively.
pub const MAX_DEPTH: usize = 100;

/// The most values (scalars and collections) a document may hold, its aliases expanded. The
/// largest real Polyaxonfiles hold a few thousand (the corpora's, under 200).
pub const MAX_NODES: usize = 50_000;

/// The most scalar text a document may hold, its aliases expanded.
pub const MAX_SCALAR_BYTES: usize = 4 << 20;

/// A YAML node and where it stands in the text.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// What the node holds.
    pub value: Value,
    /// Where the node is written.
    pub span: Span,
}

/// What a node holds, resolved by PyYAML's YAML 1.1 rules.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `~`, `null`, or nothing at all.
    Null,
    /// `true`, `yes`, `on`, … and their negations.
    Bool(bool),
    /// An integer, written in decimal, octal, hexadecimal, binary or base 60.
    Int(i64),
    /// A float; it has a dot, or is `.inf`/`.nan`.
    Float(f64),
    /// Any other scalar, and every quoted or block scalar.
    Str(String),
    /// A date or date-time, kept as Python's `str()` of it (`2024-01-02 03:04:05`).
    Timestamp(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in the order written, with duplicate keys already removed.
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// The node's text if it is a plain string scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(text) => Some(text),
            _ => None,
        }
    }

    /// The value at `key` if the node is a mapping that has it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, value)| value)
    }

    /// The key node and value node at `key` if the node is a mapping that has it.
    pub fn entry(&self, key: &str) -> Option<(&Node, &Node)> {
        match &self.value {
            Value::Map(entries) => entries
                .iter()
                .find(|(candidate, _)| candidate.as_str() == Some(key))
                .map(|(key, value)| (key, value)),
            _ => None,
        }
    }

    /// The node at a path of steps: mapping keys, and `[index]` for list items.
    pub fn at(&self, steps: &[String]) -> Option<&Node> {
        let Some((step, rest)) = steps.split_first() else {
            return Some(self);
        };
        let child = match (
            &self.value,
            step.strip_prefix('[')
                .and_then(|inner| inner.strip_suffix(']')),
        ) {
            (Value::Seq(items), Some(index)) => items.get(index.parse::<usize>().ok()?)?,
            (Value::Map(_), None) => self.get(step)?,
            _ => return None,
        };
        child.at(rest)
    }

    /// The node as JSON, as Python's `json.dumps` would write what PyYAML loaded.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as Json;
        match &self.value {
            Value::Null => Json::Null,
            Value::Bool(value) => Json::Bool(*value),
            Value::Int(value) => Json::from(*value),
            Value::Float(value) => {
                serde_json::Number::from_f64(*value).map_or(Json::Null, Json::Number)
            }
            Value::Str(text) | Value::Timestamp(text) => Json::String(text.clone()),
            Value::Seq(items) => Json::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => Json::Object(
                entries
                    .iter()
                    .map(|(key, value)| (key.key_text(), value.to_json()))
                    .collect(),
            ),
        }
    }

    /// The text of a mapping key, as Python's `json.dumps` writes a dict key.
    pub fn key_text(&self) -> String {
        match &self.value {
            Value::Str(text) | Value::Timestamp(text) => text.clone(),
            Value::Null => "null".to_owned(),
            Value::Bool(value) => value.to_string(),
            Value::Int(value) => value.to_string(),
            Value::Float(value) => crate::python::float_repr(*value),
            Value::Seq(_) | Value::Map(_) => format!("{:?}", self.to_json()),
        }
    }

    /// A short description of the node's type for messages: "a mapping", "a string", ….
    pub fn kind_name(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Str(_) => "a string",
            Value::Timestamp(_) => "a date",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// Reads one YAML document. Returns the root node (`None` when the text cannot be read) and every
/// problem found on the way.
pub fn parse(text: &str) -> (Option<Node>, Vec<Diagnostic>) {
    if text.len() > MAX_BYTES {
        return (None, vec![too_long(text)]);
    }
    let mut builder = Builder::default();
    if quick::read(text, &mut builder).is_ok() {
        return builder.finish();
    }
    parse_with_saphyr(text)
}

/// Reads a document with saphyr, which reads all of YAML and reports every syntax error.
fn parse_with_saphyr(text: &str) -> (Option<Node>, Vec<Diagnostic>) {
    let mut builder = Builder::default();
    for event in Parser::new_from_str(text) {
        match event {
            Ok((event, span)) => {
                if let Err(diagnostic) = builder.event(event, span_of(&span)) {
                    builder.diagnostics.push(diagnostic);
                    return (None, builder.diagnostics);
                }
            }
            Err(error) => {
                builder.diagnostics.push(syntax_error(&error, text));
                return (None, builder.diagnostics);
            }
        }
    }
    builder.finish()
}

fn position(marker: &Marker) -> Position {
    Position {
        line: marker.line() as u32,
        column: marker.col() as u32 + 1,
    }
}

fn span_of(span: &saphyr_parser::Span) -> Span {
    Span {
        start: position(&span.start),
        end: position(&span.end),
    }
}

fn syntax_error(error: &ScanError, text: &str) -> Diagnostic {
    let mut at = position(error.marker());
    // An error found at the end of the input (an unclosed `{`) points past the last line;
    // it is shown at the end of that line instead.
    let lines = text.lines().count().max(1) as u32;
    if at.line > lines {
        at = Position {
            line: lines,
            column: text.lines().last().map_or(0, |line| line.chars().count()) as u32 + 1,
        };
    }
    Diagnostic::error(
        format!("the YAML is not valid: {}", error.info()),
        "",
        Span { start: at, end: at },
    )
    .with_hint("check the indentation and the quotes on this line and the one before")
}

/// The diagnostic for a text over [`MAX_BYTES`], at the line where it crosses the limit.
fn too_long(text: &str) -> Diagnostic {
    let mut cut = MAX_BYTES;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let before = &text[..cut];
    let at = Position {
        line: before.matches('\n').count() as u32 + 1,
        column: before
            .rsplit('\n')
            .next()
            .map_or(0, |line| line.chars().count()) as u32
            + 1,
    };
    Diagnostic::error(
        format!(
            "the file is {} bytes long, more than the {MAX_BYTES} bytes a Polyaxonfile may have",
            text.len()
        ),
        "",
        Span { start: at, end: at },
    )
    .with_hint("keep large data in artifacts or connections and pass their paths as params")
}

/// A collection being read: its items so far, where it began, and how many nodes and scalar
/// bytes the document had read when it began (what it adds is its weight).
enum Frame {
    Seq {
        items: Vec<Node>,
        start: Position,
        anchor: usize,
        before: Weight,
    },
    Map {
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
        start: Position,
        anchor: usize,
        before: Weight,
    },
}

/// What a node costs once expanded: its nodes and its scalars' bytes.
#[derive(Debug, Clone, Copy, Default)]
struct Weight {
    nodes: usize,
    bytes: usize,
}

impl Weight {
    fn plus(self, other: Weight) -> Weight {
        Weight {
            nodes: self.nodes.saturating_add(other.nodes),
            bytes: self.bytes.saturating_add(other.bytes),
        }
    }

    fn minus(self, other: Weight) -> Weight {
        Weight {
            nodes: self.nodes - other.nodes,
            bytes: self.bytes - other.bytes,
        }
    }

    /// Why a document of this weight is refused, if it is.
    fn excess(self) -> Option<String> {
        if self.nodes > MAX_NODES {
            Some(format!("more than {MAX_NODES} values"))
        } else if self.bytes > MAX_SCALAR_BYTES {
            Some(format!("more than {MAX_SCALAR_BYTES} bytes of text"))
        } else {
            None
        }
    }
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    /// Each anchored node with its weight, so an alias is weighed before it is copied.
    anchors: HashMap<usize, (Node, Weight)>,
    root: Option<Node>,
    documents: usize,
    diagnostics: Vec<Diagnostic>,
    /// What the document holds so far, aliases expanded.
    read: Weight,
}

impl Builder {
    /// The root read (null for an empty document) and the problems found.
    fn finish(self) -> (Option<Node>, Vec<Diagnostic>) {
        let root = self.root.unwrap_or(Node {
            value: Value::Null,
            span: Span {
                start: Position { line: 1, column: 1 },
                end: Position { line: 1, column: 1 },
            },
        });
        (Some(root), self.diagnostics)
    }

    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), Diagnostic> {
        match event {
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(Diagnostic::error(
                        "a Polyaxonfile holds one YAML document, but a second one starts here",
                        "",
                        span,
                    )
                    .with_hint("remove the `---` line, or split the documents into files"));
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let weight = Weight {
                    nodes: 1,
                    bytes: text.len(),
                };
                self.add(weight, span, "this value")?;
                let value = resolve_scalar(&text, style, tag.as_deref(), span)?;
                self.complete(Node { value, span }, anchor, weight);
            }
            Event::Alias(anchor) => {
                let Some(&(_, weight)) = self.anchors.get(&anchor) else {
                    return Err(Diagnostic::error("this alias names no anchor", "", span));
                };
                // Weighed before the copy: the copy is what a bomb would make huge.
                if let Some(excess) = self.read.plus(weight).excess() {
                    return Err(Diagnostic::error(
                        format!(
                            "this alias expands to {} values and would bring the document to {excess}",
                            weight.nodes
                        ),
                        "",
                        span,
                    )
                    .with_hint(
                        "aliases of aliases multiply: a few lines can stand for billions of values; \
                         write the values out, or alias fewer times",
                    ));
                }
                self.read = self.read.plus(weight);
                let node = self.anchors[&anchor].0.clone();
                self.complete(node, 0, weight);
            }
            Event::SequenceStart(anchor, _) => {
                let before = self.read;
                self.open(span)?;
                self.stack.push(Frame::Seq {
                    items: Vec::new(),
                    start: span.start,
                    anchor,
                    before,
                });
            }
            Event::MappingStart(anchor, _) => {
                let before = self.read;
                self.open(span)?;
                self.stack.push(Frame::Map {
                    entries: Vec::new(),
                    key: None,
                    start: span.start,
                    anchor,
                    before,
                });
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq {
                    items,
                    start,
                    anchor,
                    before,
                }) = self.stack.pop()
                {
                    let node = Node {
                        value: Value::Seq(items),
                        span: Span {
                            start,
                            end: span.end,
                        },
                    };
                    let weight = self.read.minus(before);
                    self.complete(node, anchor, weight);
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map {
                    entries,
                    start,
                    anchor,
                    before,
                    ..
                }) = self.stack.pop()
                {
                    let entries = self.merge_and_dedup(entries);
                    let node = Node {
                        value: Value::Map(entries),
                        span: Span {
                            start,
                            end: span.end,
                        },
                    };
                    let weight = self.read.minus(before);
                    self.complete(node, anchor, weight);
                }
            }
        }
        Ok(())
    }

    /// Counts a collection that starts at `span`, refusing nesting deeper than [`MAX_DEPTH`].
    fn open(&mut self, span: Span) -> Result<(), Diagnostic> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(Diagnostic::error(
                format!("this value is nested more than {MAX_DEPTH} levels deep"),
                "",
                span,
            )
            .with_hint("a Polyaxonfile nests a few levels; flatten this value"));
        }
        self.add(Weight { nodes: 1, bytes: 0 }, span, "this collection")
    }

    /// Counts what was just read, refusing a document that grows past a limit.
    fn add(&mut self, weight: Weight, span: Span, what: &str) -> Result<(), Diagnostic> {
        self.read = self.read.plus(weight);
        match self.read.excess() {
            None => Ok(()),
            Some(excess) => Err(Diagnostic::error(
                format!("{what} brings the document to {excess}"),
                "",
                span,
            )
            .with_hint("a Polyaxonfile this large is not one a person wrote; split it up")),
        }
    }

    /// Places a finished node in the collection being read, or makes it the root; an anchored
    /// node is kept, with its weight, for the aliases that name it.
    fn complete(&mut self, node: Node, anchor: usize, weight: Weight) {
        if anchor != 0 {
            self.anchors.insert(anchor, (node.clone(), weight));
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => *key = Some(node),
                Some(key) => entries.push((key, node)),
            },
        }
    }

    /// Applies `<<` merge keys and drops all but the last of duplicate keys, as PyYAML does;
    /// each duplicate is reported, since it is almost always a mistake.
    fn merge_and_dedup(&mut self, entries: Vec<(Node, Node)>) -> Vec<(Node, Node)> {
        let is_merge = |key: &Node| matches!(&key.value, Value::Str(text) if text == "<<");
        // Nearly every mapping has neither; it is kept as it is read.
        if !entries.iter().any(|(key, _)| is_merge(key)) && !has_duplicate_keys(&entries) {
            return entries;
        }
        let mut merged: Vec<(Node, Node)> = Vec::new();
        let mut own: Vec<(Node, Node)> = Vec::new();
        for (key, value) in entries {
            if !is_merge(&key) {
                own.push((key, value));
                continue;
            }
            let sources = match value.value {
                Value::Seq(items) => items,
                _ => vec![value],
            };
            for source in sources {
                match source.value {
                    Value::Map(source_entries) => merged.extend(source_entries),
                    _ => self.diagnostics.push(Diagnostic::error(
                        format!(
                            "a merge key `<<` takes a mapping or a list of mappings, not {}",
                            source.kind_name()
                        ),
                        "",
                        source.span,
                    )),
                }
            }
        }
        // A repeated key keeps the place and value of its last occurrence.
        let mut keys = KeyIndex::default();
        let mut replaced = vec![false; own.len()];
        for (at, (key, _)) in own.iter().enumerate() {
            if let Some(earlier) = keys.insert(key, at) {
                replaced[earlier] = true;
                self.diagnostics.push(
                    Diagnostic::warning(
                        format!(
                            "duplicate key `{}`: this value replaces the one at line {}",
                            key.key_text(),
                            own[earlier].0.span.start.line
                        ),
                        "",
                        key.span,
                    )
                    .with_hint("remove one of the two keys"),
                );
            }
        }
        // Merged keys never override keys written in the mapping itself, nor earlier merged ones.
        let mut with_merged: Vec<(Node, Node)> = Vec::new();
        for (key, value) in merged {
            if keys.insert_new(&key) {
                with_merged.push((key, value));
            }
        }
        with_merged.extend(
            own.into_iter()
                .zip(replaced)
                .filter(|(_, replaced)| !replaced)
                .map(|(entry, _)| entry),
        );
        with_merged
    }
}

/// Whether two keys of a mapping are equal. Mappings with a handful of keys, nearly all of them,
/// are compared pairwise; larger ones through an index, so that no mapping costs the square of
/// its size.
fn has_duplicate_keys(entries: &[(Node, Node)]) -> bool {
    if entries.len() <= 16 {
        return (1..entries.len()).any(|index| {
            entries[..index]
                .iter()
                .any(|(earlier, _)| earlier.value == entries[index].0.value)
        });
    }
    let mut keys = KeyIndex::default();
    !entries.iter().all(|(key, _)| keys.insert_new(key))
}

/// Mapping keys seen so far, found by their kind and text and told apart by value, as Python's
/// dict tells them apart (`1` and `"1"` are two keys; two NaNs are too).
#[derive(Default)]
struct KeyIndex {
    by_text: HashMap<KeyText, Vec<(Value, usize)>>,
}

/// A key's kind and text: equal keys have equal ones.
type KeyText = (std::mem::Discriminant<Value>, String);

impl KeyIndex {
    /// Records `key` as written at `at`; returns where an equal key was recorded before.
    fn insert(&mut self, key: &Node, at: usize) -> Option<usize> {
        let same_text = self
            .by_text
            .entry((std::mem::discriminant(&key.value), key.key_text()))
            .or_default();
        match same_text.iter_mut().find(|(seen, _)| *seen == key.value) {
            Some((_, place)) => Some(std::mem::replace(place, at)),
            None => {
                same_text.push((key.value.clone(), at));
                None
            }
        }
    }

    /// Records `key`; false when an equal key was recorded before.
    fn insert_new(&mut self, key: &Node) -> bool {
        self.insert(key, 0).is_none()
    }
}

fn resolve_scalar(
    text: &str,
    style: ScalarStyle,
    tag: Option<&saphyr_parser::Tag>,
    span: Span,
) -> Result<Value, Diagnostic> {
    if let Some(tag) = tag {
        return resolve_tagged(text, tag, span);
    }
    if style != ScalarStyle::Plain {
        return Ok(Value::Str(text.to_owned()));
    }
    Ok(resolve_plain(text))
}

fn resolve_tagged(text: &str, tag: &saphyr_parser::Tag, span: Span) -> Result<Value, Diagnostic> {
    let core = tag.handle == "tag:yaml.org,2002:" || tag.handle == "!!";
    let resolved = match (core, tag.suffix.as_str()) {
        (true, "str") => Some(Value::Str(text.to_owned())),
        (true, "null") => Some(Value::Null),
        (true, "bool") => parse_bool(text).map(Value::Bool),
        (true, "int") => parse_int(text).map(Value::Int),
        (true, "float") => parse_float(text)
            .or_else(|| parse_int(text).map(|value| value as f64))
            .map(Value::Float),
        (true, "timestamp") => parse_timestamp(text).map(Value::Timestamp),
        _ => None,
    };
    resolved.ok_or_else(|| {
        Diagnostic::error(
            format!(
                "the tag `{}{}` cannot be used on `{text}`",
                tag.handle, tag.suffix
            ),
            "",
            span,
        )
        .with_hint(
            "Polyaxonfiles take the standard tags only: !!str, !!int, !!float, !!bool, !!null",
        )
    })
}

/// PyYAML's implicit resolution of a plain scalar, in its order: bool, float, int, null,
/// timestamp, string.
fn resolve_plain(text: &str) -> Value {
    if let Some(value) = parse_bool(text) {
        return Value::Bool(value);
    }
    // YAML 1.1 numbers start with a sign, a digit or a dot; most scalars are words.
    if text
        .bytes()
        .next()
        .is_some_and(|first| matches!(first, b'+' | b'-' | b'.' | b'0'..=b'9'))
    {
        if let Some(value) = parse_float(text) {
            return Value::Float(value);
        }
        if let Some(value) = parse_int(text) {
            return Value::Int(value);
        }
    }
    if matches!(text, "" | "~" | "null" | "Null" | "NULL") {
        return Value::Null;
    }
    if let Some(value) = parse_timestamp(text) {
        return Value::Timestamp(value);
    }
    Value::Str(text.to_owned())
}

fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => Some(true),
        "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}

fn split_sign(text: &str) -> (f64, &str) {
    match text.as_bytes().first() {
        Some(b'-') => (-1.0, &text[1..]),
        Some(b'+') => (1.0, &text[1..]),
        _ => (1.0, text),
    }
}

fn all(text: &str, allowed: impl Fn(u8) -> bool) -> bool {
    !text.is_empty() && text.bytes().all(allowed)
}

/// A base-60 tail `:ss:ss…` where each part is one or two digits, the first of them 0–5.
fn is_sexagesimal_tail(parts: &[&str]) -> bool {
    parts.iter().all(|part| {
        let bytes = part.as_bytes();
        match bytes {
            [digit] => digit.is_ascii_digit(),
            [tens, units] => (b'0'..=b'5').contains(tens) && units.is_ascii_digit(),
            _ => false,
        }
    })
}

fn parse_int(text: &str) -> Option<i64> {
    let (sign, body) = split_sign(text);
    let sign = sign as i64;
    let digits = |text: &str| text.replace('_', "");
    if let Some(binary) = body.strip_prefix("0b") {
        return all(binary, |byte| matches!(byte, b'0' | b'1' | b'_'))
            .then(|| i64::from_str_radix(&digits(binary), 2).ok())
            .flatten()
            .map(|value| sign * value);
    }
    if let Some(hex) = body.strip_prefix("0x") {
        return all(hex, |byte| byte.is_ascii_hexdigit() || byte == b'_')
            .then(|| i64::from_str_radix(&digits(hex), 16).ok())
            .flatten()
            .map(|value| sign * value);
    }
    if body == "0" {
        return Some(0);
    }
    if let Some(octal) = body.strip_prefix('0') {
        return all(octal, |byte| (b'0'..=b'7').contains(&byte) || byte == b'_')
            .then(|| i64::from_str_radix(&digits(octal), 8).ok())
            .flatten()
            .map(|value| sign * value);
    }
    let mut parts = body.split(':');
    let head = parts.next()?;
    let tail: Vec<&str> = parts.collect();
    let head_ok = head
        .as_bytes()
        .first()
        .is_some_and(|byte| (b'1'..=b'9').contains(byte))
        && all(head, |byte| byte.is_ascii_digit() || byte == b'_');
    if !head_ok || !is_sexagesimal_tail(&tail) {
        return None;
    }
    let mut value: i64 = digits(head).parse().ok()?;
    for part in tail {
        value = value
            .checked_mul(60)?
            .checked_add(part.parse::<i64>().ok()?)?;
    }
    Some(sign * value)
}

fn parse_float(text: &str) -> Option<f64> {
    let (sign, body) = split_sign(text);
    match body {
        ".inf" | ".Inf" | ".INF" => return Some(sign * f64::INFINITY),
        ".nan" | ".NaN" | ".NAN" if body.len() == text.len() => return Some(f64::NAN),
        _ => {}
    }
    let digits = |text: &str| text.replace('_', "");
    // Base 60: `190:20:30.15`.
    if body.contains(':') {
        let mut parts: Vec<&str> = body.split(':').collect();
        let last = parts.pop()?;
        let (whole, fraction) = last.split_once('.')?;
        let head = parts.first()?;
        let ok = head.as_bytes().first().is_some_and(u8::is_ascii_digit)
            && all(head, |byte| byte.is_ascii_digit() || byte == b'_')
            && is_sexagesimal_tail(&parts[1..])
            && is_sexagesimal_tail(&[whole])
            && fraction
                .bytes()
                .all(|byte| byte.is_ascii_digit() || byte == b'_');
        if !ok {
            return None;
        }
        let mut value = 0.0;
        for part in &parts {
            value = value * 60.0 + digits(part).parse::<f64>().ok()?;
        }
        let seconds: f64 = format!("{whole}.{}0", digits(fraction)).parse().ok()?;
        return Some(sign * (value * 60.0 + seconds));
    }
    // `1.5`, `1.`, `.5`, `1.5e-3`: a dot is required, an exponent needs its sign.
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(at) => (&body[..at], Some(&body[at + 1..])),
        None => (body, None),
    };
    let (whole, fraction) = mantissa.split_once('.')?;
    let whole_ok = if whole.is_empty() {
        // `.5` takes no sign in PyYAML's pattern.
        body.len() == text.len() && !fraction.is_empty()
    } else {
        whole.as_bytes()[0].is_ascii_digit()
            && all(whole, |byte| byte.is_ascii_digit() || byte == b'_')
    };
    let fraction_ok = fraction
        .bytes()
        .all(|byte| byte.is_ascii_digit() || byte == b'_')
        && (!whole.is_empty() || fraction.as_bytes().first().is_some_and(u8::is_ascii_digit));
    let exponent_ok = exponent.is_none_or(|exponent| {
        matches!(exponent.as_bytes().first(), Some(b'+' | b'-'))
            && all(&exponent[1..], |byte| byte.is_ascii_digit())
    });
    if !(whole_ok && fraction_ok && exponent_ok) {
        return None;
    }
    let normalized = format!(
        "{}.{}0{}",
        if whole.is_empty() {
            "0".to_owned()
        } else {
            digits(whole)
        },
        digits(fraction),
        exponent
            .map(|exponent| format!("e{exponent}"))
            .unwrap_or_default()
    );
    normalized.parse::<f64>().ok().map(|value| sign * value)
}

/// A YAML 1.1 timestamp, as Python's `str()` of the date or datetime PyYAML makes of it.
pub(crate) fn parse_timestamp(text: &str) -> Option<String> {
    timestamp(text, false)
}

/// A date and time as a datetime field reads it: like a YAML timestamp, but the seconds may be
/// left out (`2024-01-01 10:00`).
pub(crate) fn parse_datetime(text: &str) -> Option<String> {
    timestamp(text, true)
}

fn timestamp(text: &str, minutes_are_enough: bool) -> Option<String> {
    // A timestamp starts with a four-digit year and a dash.
    let bytes = text.as_bytes();
    if bytes.len() < 8 || !bytes[..4].iter().all(u8::is_ascii_digit) || bytes[4] != b'-' {
        return None;
    }
    let number = |text: &str, min: usize, max: usize| -> Option<u32> {
        (text.len() >= min && text.len() <= max && text.bytes().all(|byte| byte.is_ascii_digit()))
            .then(|| text.parse().ok())
            .flatten()
    };
    let date_end = text.find(['T', 't', ' ', '\t']).unwrap_or(text.len());
    let (date, rest) = text.split_at(date_end);
    let mut date_parts = date.split('-');
    let year = number(date_parts.next()?, 4, 4)?;
    let month_text = date_parts.next()?;
    let day_text = date_parts.next()?;
    if date_parts.next().is_some() {
        return None;
    }
    if rest.is_empty() {
        // A date alone needs two-digit month and day.
        let month = number(month_text, 2, 2)?;
        let day = number(day_text, 2, 2)?;
        return Some(format!("{year:04}-{month:02}-{day:02}"));
    }
    let month = number(month_text, 1, 2)?;
    let day = number(day_text, 1, 2)?;
    let rest = rest
        .strip_prefix(['T', 't'])
        .unwrap_or_else(|| rest.trim_start_matches([' ', '\t']));
    // The time runs to the zone, which is `Z` or a sign, possibly after blanks.
    let zone_at = rest.find(['Z', '+', '-', ' ', '\t']).unwrap_or(rest.len());
    let (time, zone) = rest.split_at(zone_at);
    let mut time_parts = time.split(':');
    let hour = number(time_parts.next()?, 1, 2)?;
    let minute = number(time_parts.next()?, 2, 2)?;
    let seconds = match time_parts.next() {
        Some(seconds) => seconds,
        // YAML wants seconds; a datetime field of Polyaxon's takes `10:00` as well.
        None if minutes_are_enough => "00",
        None => return None,
    };
    if time_parts.next().is_some() {
        return None;
    }
    let (second_text, fraction) = match seconds.split_once('.') {
        Some((second, fraction)) => (second, Some(fraction)),
        None => (seconds, None),
    };
    let second = number(second_text, 2, 2)?;
    let microseconds = match fraction {
        Some(fraction) if !fraction.bytes().all(|byte| byte.is_ascii_digit()) => return None,
        Some(fraction) => {
            let padded: String = fraction
                .chars()
                .chain(std::iter::repeat('0'))
                .take(6)
                .collect();
            padded.parse::<u32>().ok()?
        }
        None => 0,
    };
    let zone = zone.trim_start_matches([' ', '\t']);
    let offset = match zone {
        "" => None,
        "Z" => Some("+00:00".to_owned()),
        _ => {
            let (sign, body) = zone.split_at(1);
            let (hours, minutes) = body.split_once(':').unwrap_or((body, "00"));
            let hours = number(hours, 1, 2)?;
            let minutes = number(minutes, 2, 2)?;
            Some(format!("{sign}{hours:02}:{minutes:02}"))
        }
    };
    let mut result = format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}");
    if microseconds != 0 {
        result.push_str(&format!(".{microseconds:06}"));
    }
    if let Some(offset) = offset {
        result.push_str(&offset);
    }
    Some(result)
}

/// `value` as block-style YAML that reads back (by the rules above) as the same value: strings
/// stay plain where that is safe and are double-quoted otherwise, floats keep a dot. For showing
/// manifests to people; `kubectl apply -f` takes it as it is.
pub fn emit(value: &serde_json::Value) -> String {
    let mut out = String::new();
    write_block(value, 0, &mut out);
    out
}

fn is_block(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::Object(map) => !map.is_empty(),
        serde_json::Value::Array(items) => !items.is_empty(),
        _ => false,
    }
}

/// Writes `value` on lines of its own, each indented by `indent`.
fn write_block(value: &serde_json::Value, indent: usize, out: &mut String) {
    match value {
        serde_json::Value::Object(map) if !map.is_empty() => {
            for (key, child) in map {
                out.push_str(&" ".repeat(indent));
                write_entry(key, child, indent, out);
            }
        }
        serde_json::Value::Array(items) if !items.is_empty() => {
            for item in items {
                out.push_str(&" ".repeat(indent));
                out.push_str("- ");
                write_item(item, indent + 2, out);
            }
        }
        scalar => {
            out.push_str(&" ".repeat(indent));
            out.push_str(&scalar_text(scalar));
            out.push('\n');
        }
    }
}

/// Writes `key: value`; the indentation is already written.
fn write_entry(key: &str, value: &serde_json::Value, indent: usize, out: &mut String) {
    out.push_str(&string_text(key));
    out.push(':');
    if is_block(value) {
        out.push('\n');
        write_block(value, indent + 2, out);
    } else {
        out.push(' ');
        out.push_str(&scalar_text(value));
        out.push('\n');
    }
}

/// Writes a sequence item whose `- ` is already written; its content starts at `indent`.
fn write_item(item: &serde_json::Value, indent: usize, out: &mut String) {
    match item {
        serde_json::Value::Object(map) if !map.is_empty() => {
            for (index, (key, child)) in map.iter().enumerate() {
                if index > 0 {
                    out.push_str(&" ".repeat(indent));
                }
                write_entry(key, child, indent, out);
            }
        }
        serde_json::Value::Array(items) if !items.is_empty() => {
            for (index, nested) in items.iter().enumerate() {
                if index > 0 {
                    out.push_str(&" ".repeat(indent));
                }
                out.push_str("- ");
                write_item(nested, indent + 2, out);
            }
        }
        scalar => {
            out.push_str(&scalar_text(scalar));
            out.push('\n');
        }
    }
}

fn scalar_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => "null".to_owned(),
        serde_json::Value::Bool(flag) => flag.to_string(),
        serde_json::Value::Number(number) => {
            let text = number.to_string();
            // YAML 1.1 reads `1e-05` as a string: a float needs its dot.
            match text.split_once('e') {
                Some((mantissa, exponent)) if number.is_f64() && !mantissa.contains('.') => {
                    format!("{mantissa}.0e{exponent}")
                }
                _ => text,
            }
        }
        serde_json::Value::String(text) => string_text(text),
        serde_json::Value::Array(_) => "[]".to_owned(),
        serde_json::Value::Object(_) => "{}".to_owned(),
    }
}

/// A string plain when it reads back as that same string and holds nothing YAML gives a
/// meaning to; double-quoted (JSON's escapes are YAML's) otherwise.
fn string_text(text: &str) -> String {
    let safe_start = text
        .chars()
        .next()
        .is_some_and(|first| first.is_ascii_alphanumeric() || matches!(first, '/' | '_' | '.'));
    let safe_chars = text.chars().all(|c| {
        c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '@' | '+' | '=' | '-' | ' ')
    });
    let plain = safe_start
        && safe_chars
        && !text.ends_with(' ')
        && !text.contains("  ")
        && resolve_plain(text) == Value::Str(text.to_owned());
    if plain {
        text.to_owned()
    } else {
        serde_json::Value::String(text.to_owned()).to_string()
    }
}
