//! `hubRef` → `component`: an operation that names a hub component gets that component's text,
//! read with positions of its own, in place of the reference, so the rest of the pipeline sees
//! what it would see had the user written the component inline.
//!
//! Operations are found where Polyaxon takes a reference: the document itself and each
//! operation of a DAG (inside inlined components too, to a bounded depth, so a component that
//! names itself stops with an error rather than growing without end).

use crate::diagnostic::Diagnostic;
use crate::hub::Catalog;
use crate::yaml::{self, Node, Value};

/// How many hub components may nest, one inside another's DAG.
const MAX_NESTING: usize = 8;
/// How many hub components one file may bring in, all told: a DAG of DAGs that each name many
/// components must not multiply the work of one check.
const MAX_INLINED: usize = 64;
/// How much text those components may hold together, as much as one file may.
const MAX_INLINED_BYTES: usize = yaml::MAX_BYTES;

/// A component inlined in place of a `hubRef`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Inlined {
    /// The path of the inlined component node (`component`, `run.operations[0].component`).
    pub path: String,
    /// The version's full name, `owner/name:tag`.
    pub name: String,
    /// The component's text, which its nodes' positions point into.
    pub text: String,
}

impl Inlined {
    /// Whether a diagnostic at `path` is about a node of this component.
    fn covers(&self, path: &str) -> bool {
        path.strip_prefix(self.path.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
    }
}

/// Inlines every `hubRef` of `root` that `hub` resolves; one that it does not is an error at
/// the reference, and stays.
pub(crate) fn inline(
    root: &mut Node,
    hub: &Catalog,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<Inlined> {
    let mut inlined = Vec::new();
    operation(root, "", hub, 0, diagnostics, &mut inlined);
    inlined
}

/// The inlined component a diagnostic at `path` points into, the innermost one.
pub(crate) fn source_of<'a>(inlined: &'a [Inlined], path: &str) -> Option<&'a Inlined> {
    inlined
        .iter()
        .filter(|component| component.covers(path))
        .max_by_key(|component| component.path.len())
}

/// Marks each diagnostic about an inlined component's nodes with that component's name.
pub(crate) fn mark(inlined: &[Inlined], diagnostics: &mut [Diagnostic]) {
    for diagnostic in diagnostics {
        if diagnostic.source.is_none()
            && let Some(component) = source_of(inlined, &diagnostic.path)
        {
            diagnostic.source = Some(component.name.clone());
        }
    }
}

fn child_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// An operation (or a component, whose DAG may hold operations).
fn operation(
    node: &mut Node,
    path: &str,
    hub: &Catalog,
    depth: usize,
    diagnostics: &mut Vec<Diagnostic>,
    inlined: &mut Vec<Inlined>,
) {
    let Value::Map(entries) = &mut node.value else {
        return;
    };
    if let Some(index) = entries
        .iter()
        .position(|(key, _)| key.as_str() == Some("hubRef"))
    {
        let (key_span, value_span, reference) = {
            let (key, value) = &entries[index];
            (key.span, value.span, value.as_str().map(str::to_owned))
        };
        // A reference that is not text is the schema's to report.
        if let Some(reference) = reference {
            let reference_path = child_path(path, "hubRef");
            let brought: usize = inlined.iter().map(|component| component.text.len()).sum();
            if inlined.len() >= MAX_INLINED || brought >= MAX_INLINED_BYTES {
                diagnostics.push(Diagnostic::error(
                    format!(
                        "this file brings in more hub components than one check reads \
                         ({MAX_INLINED}, or {} MiB of text)",
                        MAX_INLINED_BYTES >> 20
                    ),
                    reference_path,
                    value_span,
                ));
                return;
            }
            if depth >= MAX_NESTING {
                diagnostics.push(Diagnostic::error(
                    format!(
                        "hub components nest more than {MAX_NESTING} deep here: does one name itself?"
                    ),
                    reference_path,
                    value_span,
                ));
                return;
            }
            match hub.resolve(&reference) {
                Ok(resolved) => {
                    let text = resolved.version.content.clone();
                    let name = resolved.full_name();
                    let component_path = child_path(path, "component");
                    let (parsed, problems) = yaml::parse(&text);
                    for mut problem in problems {
                        problem.path = component_path.clone();
                        problem.source = Some(name.clone());
                        diagnostics.push(problem);
                    }
                    if let Some(component) = parsed {
                        let key = Node {
                            value: Value::Str("component".to_owned()),
                            span: key_span,
                        };
                        entries[index] = (key, component);
                        inlined.push(Inlined {
                            path: component_path,
                            name,
                            text,
                        });
                    }
                }
                Err(error) => {
                    let mut diagnostic =
                        Diagnostic::error(error.message(), reference_path, value_span);
                    diagnostic.hints = error.hints();
                    diagnostics.push(diagnostic);
                }
            }
        }
    }
    for (key, child) in entries.iter_mut() {
        match key.as_str() {
            Some("component") => {
                let component_path = child_path(path, "component");
                let depth = depth + usize::from(inlined.iter().any(|c| c.path == component_path));
                operation(child, &component_path, hub, depth, diagnostics, inlined);
            }
            Some("run") => dag_operations(
                child,
                &child_path(path, "run"),
                hub,
                depth,
                diagnostics,
                inlined,
            ),
            _ => {}
        }
    }
}

/// The operations of a DAG's `run`.
fn dag_operations(
    run: &mut Node,
    path: &str,
    hub: &Catalog,
    depth: usize,
    diagnostics: &mut Vec<Diagnostic>,
    inlined: &mut Vec<Inlined>,
) {
    let Value::Map(entries) = &mut run.value else {
        return;
    };
    for (key, child) in entries.iter_mut() {
        if key.as_str() == Some("operations")
            && let Value::Seq(operations) = &mut child.value
        {
            for (index, item) in operations.iter_mut().enumerate() {
                let item_path = format!("{path}.operations[{index}]");
                operation(item, &item_path, hub, depth, diagnostics, inlined);
            }
        }
    }
}
