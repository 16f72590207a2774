//! How results are shown: as code frames for people, and as JSON in the shape Polyaxon's oracle
//! records, for tools.

use std::fmt::Write as _;

use serde_json::{Map, Value as Json, json};

use crate::check::Checked;
use crate::compile::Compiled;
use crate::convert::NotConverted;
use crate::diagnostic::{Diagnostic, Severity};

/// Diagnostics as code frames, the way rustc shows them:
///
/// ```text
/// error: unknown field `contianer` in `run` (a job)
///  --> train.yaml:5:3
///   |
/// 5 |   contianer:
///   |   ^^^^^^^^^
///   = hint: did you mean `container`?
/// ```
pub fn code_frames(source: &str, file_name: &str, diagnostics: &[Diagnostic]) -> String {
    let lines: Vec<&str> = source.lines().collect();
    let mut out = String::new();
    for diagnostic in diagnostics {
        // A problem inside a hub component is shown in that component's text.
        let hub_text = diagnostic.source.as_deref().and_then(|name| {
            crate::hub::Catalog::bundled()
                .resolve(name)
                .ok()
                .map(|resolved| resolved.version.content.as_str())
        });
        let hub_name = diagnostic.source.as_ref().map(|name| format!("hub:{name}"));
        let hub_lines: Vec<&str> = hub_text
            .map(|text| text.lines().collect())
            .unwrap_or_default();
        let (lines, file_name) = match &hub_name {
            Some(name) => (&hub_lines, name.as_str()),
            None => (&lines, file_name),
        };
        let label = match diagnostic.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let line_number = diagnostic.line.to_string();
        let gutter = " ".repeat(line_number.len());
        let _ = writeln!(out, "{label}: {}", diagnostic.message);
        let _ = writeln!(
            out,
            "{gutter}--> {file_name}:{}:{}",
            diagnostic.line, diagnostic.column
        );
        if let Some(text) = lines.get(diagnostic.line.saturating_sub(1) as usize) {
            let start = diagnostic.column.saturating_sub(1) as usize;
            let width = if diagnostic.end_line == diagnostic.line
                && diagnostic.end_column > diagnostic.column
            {
                (diagnostic.end_column - diagnostic.column) as usize
            } else {
                text.chars().count().saturating_sub(start).max(1)
            };
            // Tabs keep their width in the caret line so the carets stay under the text.
            let indent: String = text
                .chars()
                .take(start)
                .map(|character| if character == '\t' { '\t' } else { ' ' })
                .collect();
            let _ = writeln!(out, "{gutter} |");
            let _ = writeln!(out, "{line_number} | {text}");
            let _ = writeln!(out, "{gutter} | {indent}{}", "^".repeat(width));
        }
        for hint in &diagnostic.hints {
            let _ = writeln!(out, "{gutter} = hint: {hint}");
        }
        out.push('\n');
    }
    out
}

/// The result of `check` as JSON: `{"ok": true, "kind", "operation"}` when the file is valid,
/// exactly as the oracle records it (so warnings are not in it), else
/// `{"ok": false, "stage": "check", "errors", "diagnostics"}`.
pub fn check_json(checked: &Checked) -> Json {
    let mut report = Map::new();
    match &checked.operation {
        Some(operation) => {
            report.insert("ok".to_owned(), Json::Bool(true));
            report.insert("kind".to_owned(), json!(checked.kind));
            report.insert("operation".to_owned(), operation.clone());
        }
        None => {
            report.insert("ok".to_owned(), Json::Bool(false));
            report.insert("stage".to_owned(), Json::from("check"));
            let errors = checked
                .diagnostics
                .iter()
                .filter(|diagnostic| diagnostic.is_error())
                .map(|diagnostic| Json::String(diagnostic.to_string()))
                .collect();
            report.insert("errors".to_owned(), Json::Array(errors));
            report.insert("diagnostics".to_owned(), json!(checked.diagnostics));
        }
    }
    Json::Object(report)
}

/// The result of `compile` as JSON: `{"ok": true, "compiled"}`, or the failure of the stage that
/// failed, `check` or `compile`, in the shape of [`check_json`].
pub fn compile_json(compiled: &Compiled) -> Json {
    match (&compiled.compiled, compiled.failed_stage()) {
        (Some(operation), _) => json!({"ok": true, "compiled": operation}),
        (None, Some("compile")) => json!({
            "ok": false,
            "stage": "compile",
            "errors": compiled.diagnostics.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "diagnostics": compiled.diagnostics,
        }),
        _ => check_json(&compiled.checked),
    }
}

/// The result of `convert` as JSON: `{"ok": true, "resource"}`, or the failure of the stage that
/// failed. A pipeline (dag, matrix, schedule) fails at `convert` with `"pipeline": true`, since
/// the scheduler expands it into runs instead.
pub fn convert_json(compiled: &Compiled, converted: Option<&Result<Json, NotConverted>>) -> Json {
    match converted {
        None => compile_json(compiled),
        Some(Ok(resource)) => json!({"ok": true, "resource": resource}),
        Some(Err(NotConverted::Pipeline)) => json!({
            "ok": false,
            "stage": "convert",
            "pipeline": true,
            "errors": ["dag, matrix and schedule operations are expanded into runs by the scheduler; each run is converted on its own"],
        }),
        Some(Err(NotConverted::Invalid(message))) => json!({
            "ok": false,
            "stage": "convert",
            "errors": [message],
        }),
    }
}
