//! Inputs, outputs and the params given for them, validated as Polyaxon validates them before it
//! accepts a run: declared types exist, defaults and params read as their types, options hold,
//! required inputs get a value, refs are well formed, and strict operations take no stray param.

use serde_json::Value as Json;

use crate::diagnostic::{Diagnostic, Span};
use crate::suggest;
use crate::types::{self, IO_TYPES};
use crate::validation;
use crate::yaml::{Node, Value};

/// Validates the IO declarations of `root` (a component or an operation), and, unless
/// `declarations_only`, the params its operation passes, with `cli_params` winning over those in
/// the file.
pub(crate) fn validate(
    root: &Node,
    cli_params: &[(String, String)],
    declarations_only: bool,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let component = root.get("component").unwrap_or(root);
    let prefix = if std::ptr::eq(component, root) {
        ""
    } else {
        "component."
    };
    let ios = |node: &'_ Node, key: &str| -> Vec<Io> {
        match node.get(key).map(|list| &list.value) {
            Some(Value::Seq(items)) => items
                .iter()
                .enumerate()
                .map(|(index, item)| Io::read(item, format!("{prefix}{key}[{index}]")))
                .collect(),
            _ => Vec::new(),
        }
    };
    let inputs = ios(component, "inputs");
    let outputs = ios(component, "outputs");
    for io in inputs.iter().chain(&outputs) {
        io.check_declaration(diagnostics);
    }
    if declarations_only {
        return;
    }

    let mut params: Vec<Param> = Vec::new();
    for node in [component, root] {
        if let Some(Value::Map(entries)) = node.get("params").map(|params| &params.value) {
            for (key, value) in entries {
                let param = Param::from_file(key, value);
                params.retain(|known| known.name != param.name);
                params.push(param);
            }
        }
    }
    for (name, value) in cli_params {
        params.retain(|known| &known.name != name);
        params.push(Param {
            name: name.clone(),
            value: Json::String(value.clone()),
            reference: None,
            context_only: None,
            span: root.span,
            from_cli: true,
        });
    }
    // A join fans values in from many runs; its params fill inputs by the join's query, which
    // only the server can run, so they count as given.
    for node in [root, component] {
        let Some(Value::Seq(joins)) = node.get("joins").map(|joins| &joins.value) else {
            continue;
        };
        for join in joins {
            if let Some(Value::Map(entries)) = join.get("params").map(|params| &params.value) {
                for (key, _) in entries {
                    if !params.iter().any(|known| known.name == key.key_text()) {
                        params.push(Param::joined(key));
                    }
                }
            }
        }
    }
    let matrix = root.get("matrix").or_else(|| component.get("matrix"));
    let in_matrix = |name: &str| {
        matrix.is_some_and(|matrix| {
            matrix
                .get("params")
                .and_then(|params| params.get(name))
                .is_some()
                || matrix.get("values").is_some()
                || matrix
                    .get("resource")
                    .and_then(|resource| resource.get("name"))
                    .and_then(Node::as_str)
                    == Some(name)
        })
    };
    let strict = [root, component].iter().any(|node| {
        matches!(
            node.get("strictParams").map(|strict| &strict.value),
            Some(Value::Bool(true))
        )
    });

    for io in &inputs {
        match params.iter().find(|param| param.name == io.name) {
            Some(param) => param.check_against(io, diagnostics),
            None if in_matrix(&io.name) || io.is_optional || io.delay_validation => {}
            None => diagnostics.push(
                Diagnostic::error(
                    format!(
                        "input `{}` is required, but no param gives it a value",
                        io.name
                    ),
                    io.path.clone(),
                    io.span,
                )
                .with_hint(format!(
                    "pass it with `-P {}=…`, or give the input a `value` (which makes it optional)",
                    io.name
                )),
            ),
        }
    }
    for io in &outputs {
        if let Some(param) = params.iter().find(|param| param.name == io.name) {
            param.check_against(io, diagnostics);
        }
    }
    for param in &params {
        if inputs
            .iter()
            .chain(&outputs)
            .any(|io| io.name == param.name)
        {
            continue;
        }
        let declared_names = inputs.iter().chain(&outputs).map(|io| io.name.as_str());
        let suggestion = suggest::closest(&param.name, declared_names);
        let message = if param.context_only == Some(false) {
            format!(
                "param `{}` sets `contextOnly: false`, but no input or output has its name",
                param.name
            )
        } else if strict && param.context_only != Some(true) {
            format!(
                "param `{}` matches no input or output, which `strictParams` forbids",
                param.name
            )
        } else {
            continue;
        };
        let mut diagnostic = Diagnostic::error(message, param.path(), param.span);
        if let Some(suggestion) = suggestion {
            diagnostic = diagnostic.with_hint(format!("did you mean `{suggestion}`?"));
        }
        diagnostics.push(
            diagnostic.with_hint("declare it as an input or output, or set `contextOnly: true`"),
        );
    }
}

/// An input or output as declared, with where each part is written.
struct Io {
    name: String,
    io_type: Option<(String, Span)>,
    value: Option<(Json, Span)>,
    /// The `validation` rules, with the older top-level `options` folded in.
    rules: Json,
    is_optional: bool,
    explicitly_required: bool,
    is_list: bool,
    is_flag: bool,
    delay_validation: bool,
    path: String,
    span: Span,
}

impl Io {
    fn read(node: &Node, path: String) -> Self {
        let flag = |key: &str| {
            matches!(
                node.get(key).map(|flag| &flag.value),
                Some(Value::Bool(true))
            )
        };
        let value = node
            .get("value")
            .filter(|value| !matches!(value.value, Value::Null))
            .map(|value| (value.to_json(), value.span));
        let mut rules = node
            .get("validation")
            .map(Node::to_json)
            .filter(Json::is_object)
            .unwrap_or_else(|| Json::Object(serde_json::Map::new()));
        if let (Some(options), Json::Object(rules)) = (node.get("options"), &mut rules) {
            rules.insert("options".to_owned(), options.to_json());
        }
        let explicitly_required = matches!(
            node.get("isOptional").map(|flag| &flag.value),
            Some(Value::Bool(false))
        );
        Self {
            name: node.get("name").map(Node::key_text).unwrap_or_default(),
            io_type: node
                .get("type")
                .map(|io_type| (io_type.key_text(), io_type.span)),
            is_optional: flag("isOptional")
                || (node.get("value").is_some() && !explicitly_required),
            explicitly_required,
            value,
            rules,
            is_list: flag("isList"),
            is_flag: flag("isFlag"),
            delay_validation: flag("delayValidation"),
            path,
            span: node.span,
        }
    }

    /// What Polyaxon's IO model rejects as it reads the declaration.
    fn check_declaration(&self, diagnostics: &mut Vec<Diagnostic>) {
        if let Some((io_type, span)) = &self.io_type
            && !IO_TYPES.contains(&io_type.as_str())
        {
            let mut diagnostic = Diagnostic::error(
                format!("`{io_type}` is not an IO type"),
                format!("{}.type", self.path),
                *span,
            );
            if let Some(suggestion) = suggest::closest(io_type, IO_TYPES.iter().copied()) {
                diagnostic = diagnostic.with_hint(format!("did you mean `{suggestion}`?"));
            }
            diagnostics
                .push(diagnostic.with_hint(format!("the types are {}", IO_TYPES.join(", "))));
            return;
        }
        if let Some((value, span)) = &self.value {
            if self.explicitly_required {
                diagnostics.push(
                    Diagnostic::error(
                        format!(
                            "`{}` has a default value but says `isOptional: false`",
                            self.name
                        ),
                        format!("{}.value", self.path),
                        *span,
                    )
                    .with_hint("a default makes an input optional: remove one of the two"),
                );
            } else if let Err(why) = self.read_value(value) {
                diagnostics.push(Diagnostic::error(
                    format!("the default of `{}` is invalid: {why}", self.name),
                    format!("{}.value", self.path),
                    *span,
                ));
            }
        }
        if self.is_flag
            && let Some((io_type, span)) = &self.io_type
            && io_type != "bool"
        {
            diagnostics.push(Diagnostic::error(
                format!(
                    "`{}` is a flag, so its type must be `bool`, not `{io_type}`",
                    self.name
                ),
                format!("{}.isFlag", self.path),
                *span,
            ));
        }
    }

    /// Reads a value as this input's type and checks it against its options.
    fn read_value(&self, value: &Json) -> Result<Json, String> {
        let read = match &self.io_type {
            Some((io_type, _)) => types::cast(io_type, value, self.is_list)?,
            None => value.clone(),
        };
        validation::validate(&read, &self.rules)?;
        Ok(read)
    }
}

/// A param given for an input, output or context.
struct Param {
    name: String,
    value: Json,
    reference: Option<(String, Span)>,
    context_only: Option<bool>,
    span: Span,
    from_cli: bool,
}

impl Param {
    fn from_file(key: &Node, node: &Node) -> Self {
        let name = key.key_text();
        let is_full = matches!(&node.value, Value::Map(entries)
        if entries.iter().all(|(key, _)| {
            matches!(key.as_str(), Some("value" | "ref" | "contextOnly" | "connection" | "toInit" | "toEnv"))
        }));
        if !is_full {
            return Self {
                name,
                value: node.to_json(),
                reference: None,
                context_only: None,
                span: node.span,
                from_cli: false,
            };
        }
        let value = node.get("value");
        Self {
            name,
            value: value.map(Node::to_json).unwrap_or(Json::Null),
            reference: node
                .get("ref")
                .map(|reference| (reference.key_text(), reference.span)),
            context_only: match node.get("contextOnly").map(|flag| &flag.value) {
                Some(Value::Bool(flag)) => Some(*flag),
                _ => None,
            },
            span: value.map_or(key.span, |value| value.span),
            from_cli: false,
        }
    }

    /// A param filled by a join, whose value only the server can know.
    fn joined(key: &Node) -> Self {
        Self {
            name: key.key_text(),
            value: Json::Null,
            reference: None,
            context_only: None,
            span: key.span,
            from_cli: false,
        }
    }

    fn path(&self) -> String {
        if self.from_cli {
            format!("-P {}", self.name)
        } else {
            format!("params.{}", self.name)
        }
    }

    fn check_against(&self, io: &Io, diagnostics: &mut Vec<Diagnostic>) {
        if let Some((reference, span)) = &self.reference {
            if let Err(why) = check_reference(reference) {
                diagnostics.push(
                    Diagnostic::error(
                        format!(
                            "the ref `{reference}` of param `{}` is not valid: {why}",
                            self.name
                        ),
                        format!("{}.ref", self.path()),
                        *span,
                    )
                    .with_hint("a ref is `ops.<operation name>`, `runs.<run uuid>` or `dag`"),
                );
            }
            return;
        }
        if matches!(&self.value, Json::String(text) if text.contains("{{")) || self.value.is_null()
        {
            return;
        }
        if let Err(why) = io.read_value(&self.value) {
            let shown = match &self.value {
                Json::String(text) => text.clone(),
                other => other.to_string(),
            };
            // A param from the command line has no place in the file: it is shown at the input
            // it is for.
            let span = if self.from_cli { io.span } else { self.span };
            diagnostics.push(Diagnostic::error(
                format!("param `{}` = `{shown}` is invalid: {why}", self.name),
                self.path(),
                span,
            ));
        }
    }
}

/// A ref is `dag`, `ops.<name>` or `runs.<uuid>`.
fn check_reference(reference: &str) -> Result<(), String> {
    let parts: Vec<&str> = reference.split('.').collect();
    match parts.as_slice() {
        ["dag"] => Ok(()),
        ["ops", name] if !name.is_empty() => Ok(()),
        ["runs", uuid] => {
            let hex: String = uuid.chars().filter(|character| *character != '-').collect();
            if hex.len() == 32 && hex.chars().all(|character| character.is_ascii_hexdigit()) {
                Ok(())
            } else {
                Err(format!("`{uuid}` is not a run uuid"))
            }
        }
        [entity, _] => Err(format!("`{entity}` is neither `ops` nor `runs`")),
        _ => Err("it has too many parts".to_owned()),
    }
}
