//! A dag's operations must form a graph that can run: every upstream an operation names exists,
//! every `dagRef` names a component of the dag, and nothing depends on itself through a cycle.

use std::collections::HashMap;

use crate::diagnostic::Diagnostic;
use crate::suggest;
use crate::yaml::{Node, Value};

/// Validates every dag run in `root`, the dags nested in a dag's components included.
pub(crate) fn validate(root: &Node, diagnostics: &mut Vec<Diagnostic>) {
    let component = root.get("component").unwrap_or(root);
    let prefix = if std::ptr::eq(component, root) {
        "run"
    } else {
        "component.run"
    };
    if let Some(run) = component.get("run") {
        validate_run(run, prefix, diagnostics);
    }
}

fn validate_run(run: &Node, path: &str, diagnostics: &mut Vec<Diagnostic>) {
    if run.get("kind").and_then(Node::as_str) != Some("dag") {
        return;
    }
    let list = |key: &str| match run.get(key).map(|list| &list.value) {
        Some(Value::Seq(items)) => items.as_slice(),
        _ => &[],
    };
    let operations = list("operations");
    let components = list("components");
    let component_names: Vec<String> = components
        .iter()
        .filter_map(|component| component.get("name").map(Node::key_text))
        .collect();
    let operation_names: Vec<String> = operations
        .iter()
        .filter_map(|operation| operation.get("name").map(Node::key_text))
        .collect();

    let mut upstreams: HashMap<String, Vec<String>> = HashMap::new();
    for (index, operation) in operations.iter().enumerate() {
        let operation_path = format!("{path}.operations[{index}]");
        let name = operation
            .get("name")
            .map(Node::key_text)
            .unwrap_or_default();
        if let Some(name_node) = operation.get("name")
            && let Some(first) = operations[..index].iter().position(|earlier| {
                earlier.get("name").map(Node::key_text).as_deref() == Some(name.as_str())
            })
        {
            diagnostics.push(
                Diagnostic::error(
                    format!(
                        "two operations of this dag are named `{name}`: operations[{first}] and this one"
                    ),
                    format!("{operation_path}.name"),
                    name_node.span,
                )
                .with_hint("give each operation its own name; dependencies and refs name them"),
            );
        }
        if let Some(dag_ref) = operation.get("dagRef") {
            let wanted = dag_ref.key_text();
            if !component_names.contains(&wanted) {
                let mut diagnostic = Diagnostic::error(
                    format!(
                        "operation `{name}` runs the component `{wanted}`, which this dag does not define"
                    ),
                    format!("{operation_path}.dagRef"),
                    dag_ref.span,
                );
                if let Some(suggestion) =
                    suggest::closest(&wanted, component_names.iter().map(String::as_str))
                {
                    diagnostic = diagnostic.with_hint(format!("did you mean `{suggestion}`?"));
                }
                diagnostics
                    .push(diagnostic.with_hint("define it under `components:` with that `name`"));
            }
        }
        for (upstream, node, upstream_path) in upstream_references(operation, &operation_path) {
            if !operation_names.contains(&upstream) {
                let mut diagnostic = Diagnostic::error(
                    format!(
                        "operation `{name}` depends on `{upstream}`, which is not an operation of this dag"
                    ),
                    upstream_path,
                    node.span,
                );
                if let Some(suggestion) =
                    suggest::closest(&upstream, operation_names.iter().map(String::as_str))
                {
                    diagnostic = diagnostic.with_hint(format!("did you mean `{suggestion}`?"));
                }
                diagnostics.push(diagnostic);
                continue;
            }
            upstreams.entry(name.clone()).or_default().push(upstream);
        }
    }
    if let Some(cycle) = find_cycle(&operation_names, &upstreams)
        && let Some(index) = operation_names.iter().position(|name| *name == cycle[0])
    {
        let operation = &operations[index];
        let at = operation.get("name").unwrap_or(operation);
        diagnostics.push(
            Diagnostic::error(
                format!(
                    "the dag's operations depend on each other in a cycle: {}",
                    cycle.join(" → ")
                ),
                format!("{path}.operations[{index}]"),
                at.span,
            )
            .with_hint("remove one of these dependencies so the operations can run in an order"),
        );
    }
    for (index, component) in components.iter().enumerate() {
        if let Some(run) = component.get("run") {
            validate_run(run, &format!("{path}.components[{index}].run"), diagnostics);
        }
    }
}

/// The upstream operations an operation names: in `dependencies`, and as `ops.<name>` in the
/// refs of its params and events.
fn upstream_references<'a>(operation: &'a Node, path: &str) -> Vec<(String, &'a Node, String)> {
    let mut found = Vec::new();
    if let Some(Value::Seq(dependencies)) = operation.get("dependencies").map(|list| &list.value) {
        for (index, dependency) in dependencies.iter().enumerate() {
            found.push((
                dependency.key_text(),
                dependency,
                format!("{path}.dependencies[{index}]"),
            ));
        }
    }
    let op_ref = |node: &'a Node| {
        node.as_str()
            .and_then(|text| text.strip_prefix("ops."))
            .map(str::to_owned)
    };
    if let Some(Value::Map(params)) = operation.get("params").map(|params| &params.value) {
        for (key, param) in params {
            if let Some(reference) = param.get("ref")
                && let Some(upstream) = op_ref(reference)
            {
                found.push((
                    upstream,
                    reference,
                    format!("{path}.params.{}.ref", key.key_text()),
                ));
            }
        }
    }
    if let Some(Value::Seq(events)) = operation.get("events").map(|events| &events.value) {
        for (index, event) in events.iter().enumerate() {
            if let Some(reference) = event.get("ref")
                && let Some(upstream) = op_ref(reference)
            {
                found.push((upstream, reference, format!("{path}.events[{index}].ref")));
            }
        }
    }
    found
}

/// A cycle among the operations, as the names along it with the first repeated at the end.
fn find_cycle(names: &[String], upstreams: &HashMap<String, Vec<String>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Unvisited,
        InProgress,
        Done,
    }
    fn visit(
        name: &str,
        upstreams: &HashMap<String, Vec<String>>,
        marks: &mut HashMap<String, Mark>,
        trail: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        marks.insert(name.to_owned(), Mark::InProgress);
        trail.push(name.to_owned());
        for upstream in upstreams.get(name).into_iter().flatten() {
            match marks.get(upstream).copied().unwrap_or(Mark::Unvisited) {
                Mark::InProgress => {
                    let start = trail.iter().position(|step| step == upstream).unwrap_or(0);
                    let mut cycle = trail[start..].to_vec();
                    cycle.push(upstream.clone());
                    return Some(cycle);
                }
                Mark::Unvisited => {
                    if let Some(cycle) = visit(upstream, upstreams, marks, trail) {
                        return Some(cycle);
                    }
                }
                Mark::Done => {}
            }
        }
        trail.pop();
        marks.insert(name.to_owned(), Mark::Done);
        None
    }
    let mut marks = HashMap::new();
    for name in names {
        if marks.get(name).copied().unwrap_or(Mark::Unvisited) == Mark::Unvisited {
            let mut trail = Vec::new();
            if let Some(cycle) = visit(name, upstreams, &mut marks, &mut trail) {
                return Some(cycle);
            }
        }
    }
    None
}
