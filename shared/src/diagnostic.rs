//! Problems found in a Polyaxonfile, as data: what is wrong, where, and how to fix it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The file is accepted, but probably not as its author meant.
    Warning,
    /// The file is rejected.
    Error,
}

/// A place in a text: 1-based line and column, counted in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Position {
    /// The line, counting from 1.
    pub line: u32,
    /// The column, counting from 1, in characters (not bytes).
    pub column: u32,
}

/// The stretch of text a YAML node or a problem covers, from `start` up to (not including) `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Span {
    /// Where the stretch begins.
    pub start: Position,
    /// Where it ends, exclusive.
    pub end: Position,
}

/// One problem found in a Polyaxonfile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    /// Whether the problem rejects the file.
    pub severity: Severity,
    /// What is wrong and what is expected, in lower case, without a trailing period.
    pub message: String,
    /// The dotted path of the offending node, e.g. `run.container.image` or `inputs[0].type`;
    /// empty for the document itself.
    pub path: String,
    /// The line of the offending node, counting from 1.
    pub line: u32,
    /// The column of the offending node, counting from 1.
    pub column: u32,
    /// Where the offending node ends: the line, counting from 1.
    pub end_line: u32,
    /// Where the offending node ends: the column after its last character, counting from 1.
    pub end_column: u32,
    /// Suggestions that may fix the problem, e.g. "did you mean `container`?".
    pub hints: Vec<String>,
    /// The text the line and column point into when it is not the file checked: the hub
    /// component (`polyaxon/tensorboard:path`) a `hubRef` brought in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl Diagnostic {
    /// An error at `span`.
    pub fn error(message: impl Into<String>, path: impl Into<String>, span: Span) -> Self {
        Self::new(Severity::Error, message.into(), path.into(), span)
    }

    /// A warning at `span`.
    pub fn warning(message: impl Into<String>, path: impl Into<String>, span: Span) -> Self {
        Self::new(Severity::Warning, message.into(), path.into(), span)
    }

    fn new(severity: Severity, message: String, path: String, span: Span) -> Self {
        Self {
            severity,
            message,
            path,
            line: span.start.line,
            column: span.start.column,
            end_line: span.end.line,
            end_column: span.end.column,
            hints: Vec::new(),
            source: None,
        }
    }

    /// The same diagnostic with one more hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    /// Whether the problem rejects the file.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    /// `{path}: {message} at line {L} column {C}`, the one-line form for logs and tests.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        write!(
            f,
            "{} at line {} column {}",
            self.message, self.line, self.column
        )?;
        match &self.source {
            Some(source) => write!(f, " of hub component {source}"),
            None => Ok(()),
        }
    }
}
