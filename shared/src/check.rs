//! Stage 1 of the pipeline: YAML text → a validated operation, as Polyaxon's `check` makes it.
//!
//! The document is read with positions, walked against the schema tables in
//! [`crate::schema`], and normalised the way Polyaxon's pydantic models normalise it (short-form
//! params become `{value: …}`, an IO with a `value` is optional, snake_case Kubernetes keys become
//! camelCase, …). A component is wrapped in an operation carrying the `-P` params.
//!
//! Every problem is reported with its position, not only the first; the operation is returned
//! only when there is no error.

use serde_json::{Map, Value as Json};

use crate::diagnostic::{Diagnostic, Span};
use crate::hub::Catalog;
use crate::inline::{self, Inlined};
use crate::schema::{self, KubernetesObject, Number, Object, RangeLayout, Shape, Tagged};
use crate::suggest;
use crate::yaml::{self, Node, Value};
use crate::{dag, params, python, shortcuts, types};

/// The outcome of checking a Polyaxonfile.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    /// The document's `kind` after wrapping: `operation`, or `None` for a kind-less file.
    pub kind: Option<String>,
    /// The operation, when the file has no error.
    pub operation: Option<Json>,
    /// Every problem found, errors and warnings, in the order of the text.
    pub diagnostics: Vec<Diagnostic>,
}

impl Checked {
    /// Whether the file was accepted.
    pub fn is_valid(&self) -> bool {
        self.operation.is_some()
    }
}

/// The document kinds Polyaxon reads.
const KINDS: &[&str] = &["component", "operation", "compiled_operation"];

/// Checks a Polyaxonfile. `params` are `-P name=value` pairs, kept as the strings they were
/// typed as in the operation; they must read as their inputs' types, and every required input
/// must get one.
pub fn check(text: &str, params: &[(String, String)]) -> Checked {
    check_with(text, params, Catalog::bundled())
}

/// [`check`], resolving `hubRef` against `hub` (the bundled components and a server's own).
pub fn check_with(text: &str, params: &[(String, String)], hub: &Catalog) -> Checked {
    check_stage(text, params, false, hub).0
}

/// [`check_with`], with the components inlined in place of references, whose texts the
/// positions of their nodes point into.
pub(crate) fn check_inlined(
    text: &str,
    params: &[(String, String)],
    hub: &Catalog,
) -> (Checked, Vec<Inlined>) {
    check_stage(text, params, false, hub)
}

/// Checks a Polyaxonfile as a template, the way `polyaxon check --lint` does: its structure and
/// its IO declarations, but not whether the params given fill its inputs.
pub fn lint(text: &str, params: &[(String, String)]) -> Checked {
    lint_with(text, params, Catalog::bundled())
}

/// [`lint`], resolving `hubRef` against `hub`.
pub fn lint_with(text: &str, params: &[(String, String)], hub: &Catalog) -> Checked {
    check_stage(text, params, true, hub).0
}

fn check_stage(
    text: &str,
    params: &[(String, String)],
    declarations_only: bool,
    hub: &Catalog,
) -> (Checked, Vec<Inlined>) {
    let (root, mut diagnostics) = yaml::parse(text);
    let mut checked = Checked {
        kind: None,
        operation: None,
        diagnostics: Vec::new(),
    };
    let Some(mut root) = root else {
        checked.diagnostics = diagnostics;
        return (checked, Vec::new());
    };
    let inlined = inline::inline(&mut root, hub, &mut diagnostics);
    let mut walker = Walker::default();
    let operation = walker.document(&root, params);
    diagnostics.extend(walker.diagnostics);
    if matches!(root.value, Value::Map(_)) {
        params::validate(&root, params, declarations_only, &mut diagnostics);
        shortcuts::check(&root, &mut diagnostics);
        dag::validate(&root, &mut diagnostics);
    }
    inline::mark(&inlined, &mut diagnostics);
    // The file's own problems first, in the order of its text; then each component's.
    diagnostics.sort_by_key(|diagnostic| {
        (
            diagnostic.source.is_some(),
            diagnostic.line,
            diagnostic.column,
        )
    });
    if !diagnostics.iter().any(Diagnostic::is_error) {
        checked.kind = operation
            .get("kind")
            .and_then(Json::as_str)
            .map(str::to_owned);
        checked.operation = Some(operation);
    }
    checked.diagnostics = diagnostics;
    (checked, inlined)
}

#[derive(Default)]
struct Walker {
    diagnostics: Vec<Diagnostic>,
}

fn child_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn list_of(names: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    names
        .into_iter()
        .map(|name| format!("`{}`", name.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Walker {
    fn error(&mut self, message: String, path: &str, span: Span) -> &mut Diagnostic {
        self.diagnostics
            .push(Diagnostic::error(message, path.to_owned(), span));
        self.diagnostics.last_mut().expect("just pushed")
    }

    /// The whole file: a mapping of sections, wrapped into an operation when it is a component.
    fn document(&mut self, root: &Node, params: &[(String, String)]) -> Json {
        let Value::Map(_) = root.value else {
            self.error(
                format!(
                    "a Polyaxonfile is a mapping of sections such as `kind` and `run`, not {}",
                    root.kind_name()
                ),
                "",
                root.span,
            );
            return Json::Null;
        };
        if let Some((_, kind)) = root.entry("kind") {
            let known = kind.as_str().is_some_and(|kind| KINDS.contains(&kind));
            if !known {
                let written = kind.key_text();
                let diagnostic = self.error(
                    format!("`kind` must be one of {}, not `{written}`", list_of(KINDS)),
                    "kind",
                    kind.span,
                );
                if let Some(suggestion) = suggest::closest(&written, KINDS.iter().copied()) {
                    diagnostic
                        .hints
                        .push(format!("did you mean `{suggestion}`?"));
                }
            }
        }
        let document = self.object(root, &schema::POLYAXONFILE, "");
        self.references_resolve(root, "");
        self.service_only_plugins(root);
        if !is_runnable(root) {
            self.error(
                "the Polyaxonfile has nothing to run: it has no `run`, no `container` and no component".to_owned(),
                "",
                root.span,
            )
            .hints
            .push("add a `run` section, e.g. `run: {kind: job, container: {image: busybox}}`".to_owned());
        }
        let mut cli_params = Map::new();
        for (name, value) in params {
            let mut param = Map::new();
            param.insert("value".to_owned(), Json::String(value.clone()));
            cli_params.insert(name.clone(), Json::Object(param));
        }
        match root.get("kind").and_then(Node::as_str) {
            Some("component") => {
                let mut operation = Map::new();
                operation.insert("kind".to_owned(), Json::from("operation"));
                // Polyaxon carries the component's version over to the operation it wraps it in.
                if let Some(version) = document.get("version").filter(|version| !version.is_null())
                {
                    operation.insert("version".to_owned(), version.clone());
                }
                if !cli_params.is_empty() {
                    operation.insert("params".to_owned(), Json::Object(cli_params));
                }
                operation.insert("component".to_owned(), document);
                Json::Object(operation)
            }
            _ => with_params(document, cli_params),
        }
    }

    fn shape(&mut self, node: &Node, shape: &Shape, path: &str) -> Json {
        match shape {
            Shape::Any => node.to_json(),
            Shape::Object(object) => self.object(node, object, path),
            Shape::Tagged(tagged) => self.tagged(node, tagged, path),
            Shape::List(item) => match &node.value {
                Value::Seq(items) => Json::Array(
                    items
                        .iter()
                        .enumerate()
                        .map(|(index, child)| self.shape(child, item, &format!("{path}[{index}]")))
                        .collect(),
                ),
                Value::Null => Json::Null,
                Value::Str(text) if is_template(text) => node.to_json(),
                _ => {
                    self.error(
                        format!("`{path}` must be a list, not {}", describe_value(node)),
                        path,
                        node.span,
                    )
                    .hints
                    .push(
                        "write its items one per line, each starting with `- `, or as `[a, b]`"
                            .to_owned(),
                    );
                    node.to_json()
                }
            },
            Shape::Map(value) => match &node.value {
                Value::Map(entries) => Json::Object(
                    entries
                        .iter()
                        .map(|(key, child)| {
                            let name = key.key_text();
                            let child = self.shape(child, value, &child_path(path, &name));
                            (name, child)
                        })
                        .collect(),
                ),
                _ => node.to_json(),
            },
            Shape::Param => self.param(node, path),
            Shape::Kubernetes(object) => self.kubernetes(node, object, path),
            Shape::Str => self.string(node, path),
            Shape::Slug => self.slug(node, path),
            Shape::Enum(values) => self.one_of(node, values, path),
            Shape::Int => self.int(node, path),
            Shape::Bool => self.boolean(node, path),
            Shape::TextMap => self.text_map(node, path),
            Shape::LiteralInt => self.literal_int(node, path),
            Shape::Float => self.float(node, path),
            Shape::DateTime => self.date_time(node, path),
            Shape::Duration => duration(node),
            Shape::StrList => str_list(node),
            Shape::UuidList => self.uuid_list(node, path),
            Shape::Range(layout) => self.range(node, layout, path),
        }
    }

    /// A hyperparameter range or distribution, read into its named numbers.
    fn range(&mut self, node: &Node, layout: &RangeLayout, path: &str) -> Json {
        let names = || {
            layout
                .required
                .iter()
                .chain(layout.optional)
                .map(|(name, _)| *name)
        };
        let usage = format!(
            "write it as a list `[{}]`, a string `\"{}\"` or a mapping with those keys",
            names().collect::<Vec<_>>().join(", "),
            names().collect::<Vec<_>>().join(":"),
        );
        // Each given number, paired with its name and how it is read.
        let slots = layout.required.iter().chain(layout.optional);
        let given: Vec<(&str, Number, Node)> = match &node.value {
            Value::Str(text) if is_template(text) => return node.to_json(),
            Value::Seq(items) => slots
                .zip(items)
                .map(|((name, number), item)| (*name, *number, item.clone()))
                .collect(),
            Value::Str(text) if text.contains(':') => slots
                .zip(text.split(':'))
                .map(|((name, number), part)| {
                    let part = Node {
                        value: Value::Str(part.trim().to_owned()),
                        span: node.span,
                    };
                    (*name, *number, part)
                })
                .collect(),
            Value::Map(entries) => {
                let mut given = Vec::new();
                for (key, value) in entries {
                    let name = key.key_text();
                    match slots.clone().find(|(slot, _)| *slot == name) {
                        Some((slot, number)) => given.push((*slot, *number, value.clone())),
                        None => {
                            let suggestion = suggest::closest(&name, names());
                            let diagnostic = self.error(
                                format!("unknown field `{name}` in `{path}`"),
                                &child_path(path, &name),
                                key.span,
                            );
                            if let Some(suggestion) = suggestion {
                                diagnostic
                                    .hints
                                    .push(format!("did you mean `{suggestion}`?"));
                            }
                        }
                    }
                }
                given
            }
            _ => {
                self.error(
                    format!("`{path}` must be a range, not {}", describe_value(node)),
                    path,
                    node.span,
                )
                .hints
                .push(usage);
                return node.to_json();
            }
        };
        let missing: Vec<&str> = layout
            .required
            .iter()
            .map(|(name, _)| *name)
            .filter(|name| !given.iter().any(|(slot, _, _)| slot == name))
            .collect();
        if !missing.is_empty() {
            self.error(
                format!("`{path}` lacks {}", list_of(&missing)),
                path,
                node.span,
            )
            .hints
            .push(usage);
            return node.to_json();
        }
        let mut result = Map::new();
        for (name, number, value) in &given {
            let value_path = child_path(path, name);
            let read = self.number(value, *number, &value_path);
            result.insert((*name).to_owned(), read);
        }
        let (first, second) = (layout.required[0].0, layout.required[1].0);
        if layout.ordered
            && let (Some(low), Some(high)) = (
                result.get(first).and_then(Json::as_f64),
                result.get(second).and_then(Json::as_f64),
            )
            && low >= high
        {
            self.error(
                format!("`{path}`: {second} ({high}) must be above {first} ({low})"),
                path,
                node.span,
            );
        }
        if let [_, _, (third, _)] = layout.required
            && result.get(*third).and_then(Json::as_f64) == Some(0.0)
        {
            self.error(format!("`{path}`: {third} must not be 0"), path, node.span);
        }
        Json::Object(result)
    }

    /// One number of a range, read as its slot says.
    fn number(&mut self, node: &Node, number: Number, path: &str) -> Json {
        let parsed = match (&node.value, number) {
            (Value::Str(text), Number::Int) => text.parse::<i64>().ok().map(Json::from),
            (Value::Str(text), Number::Float | Number::IntOrFloat) => {
                text.parse::<f64>().ok().map(Json::from)
            }
            (Value::Int(value), Number::Float) => Some(Json::from(*value as f64)),
            (Value::Float(value), Number::Int) if value.fract() == 0.0 => {
                Some(Json::from(*value as i64))
            }
            (Value::Int(_), Number::Int | Number::IntOrFloat)
            | (Value::Float(_), Number::Float | Number::IntOrFloat) => Some(node.to_json()),
            (_, Number::Date) => Some(node.to_json()),
            (_, Number::DateTime) => return self.date_time(node, path),
            (_, Number::Duration) => Some(duration(node)),
            _ => None,
        };
        parsed.unwrap_or_else(|| {
            let expected = match number {
                Number::Int => "an integer",
                _ => "a number",
            };
            self.error(
                format!("`{path}` must be {expected}, not {}", describe_value(node)),
                path,
                node.span,
            );
            node.to_json()
        })
    }

    fn string(&mut self, node: &Node, path: &str) -> Json {
        if !matches!(node.value, Value::Str(_) | Value::Null) {
            self.error(
                format!("`{path}` must be a string, not {}", describe_value(node)),
                path,
                node.span,
            )
            .hints
            .push(if matches!(node.value, Value::Bool(_)) {
                "YAML reads yes, no, on and off as booleans: quote it to keep it as text".to_owned()
            } else {
                "quote it to keep it as text".to_owned()
            });
        }
        node.to_json()
    }

    fn slug(&mut self, node: &Node, path: &str) -> Json {
        if let Value::Str(text) = &node.value
            && !is_template(text)
            && (text.is_empty()
                || !text.chars().all(|character| {
                    character.is_ascii_alphanumeric() || matches!(character, '-' | '_')
                }))
        {
            let suggestion: String = text
                .trim()
                .chars()
                .map(|character| {
                    if character.is_ascii_alphanumeric() || character == '_' {
                        character.to_ascii_lowercase()
                    } else {
                        '-'
                    }
                })
                .collect();
            self.error(
                format!("`{path}` may hold letters, digits, `-` and `_` only, not `{text}`"),
                path,
                node.span,
            )
            .hints
            .push(format!(
                "for example `{}`",
                suggestion
                    .split('-')
                    .filter(|word| !word.is_empty())
                    .collect::<Vec<_>>()
                    .join("-")
            ));
        }
        node.to_json()
    }

    fn one_of(&mut self, node: &Node, values: &[&str], path: &str) -> Json {
        let written = node.key_text();
        let accepted = values.contains(&written.as_str())
            || matches!(&node.value, Value::Str(text) if is_template(text));
        if !accepted {
            let suggestion = suggest::closest(&written, values.iter().copied());
            let diagnostic = self.error(
                format!(
                    "`{path}` must be one of {}, not `{written}`",
                    list_of(values)
                ),
                path,
                node.span,
            );
            if let Some(suggestion) = suggestion {
                diagnostic
                    .hints
                    .push(format!("did you mean `{suggestion}`?"));
            }
        }
        node.to_json()
    }

    /// Run UUIDs; a `{{ template }}` is read after it renders, when the operation is compiled.
    fn uuid_list(&mut self, node: &Node, path: &str) -> Json {
        let value = node.to_json();
        if value.as_str().is_some_and(is_template)
            || value.as_array().is_some_and(|items| {
                items
                    .iter()
                    .any(|item| item.as_str().is_some_and(is_template))
            })
        {
            return str_list(node);
        }
        match types::uuid_list(&value) {
            Ok(uuids) => uuids,
            Err(why) => {
                self.error(
                    format!("`{path}` must list run UUIDs: {why}"),
                    path,
                    node.span,
                );
                value
            }
        }
    }

    fn int(&mut self, node: &Node, path: &str) -> Json {
        match &node.value {
            Value::Int(_) | Value::Null => node.to_json(),
            Value::Str(text) if is_template(text) => node.to_json(),
            _ => {
                self.error(
                    format!("`{path}` must be an integer, not {}", describe_value(node)),
                    path,
                    node.span,
                )
                .hints
                .push("write a whole number, or a `{{ template }}` that renders to one".to_owned());
                node.to_json()
            }
        }
    }

    fn boolean(&mut self, node: &Node, path: &str) -> Json {
        let read = match &node.value {
            Value::Bool(_) | Value::Null => return node.to_json(),
            Value::Str(text) if is_template(text) => return node.to_json(),
            Value::Int(0) => Some(false),
            Value::Int(1) => Some(true),
            Value::Float(value) if *value == 0.0 => Some(false),
            Value::Float(value) if *value == 1.0 => Some(true),
            Value::Str(text) => lax_bool(text),
            _ => None,
        };
        if let Some(flag) = read {
            return Json::Bool(flag);
        }
        self.error(
            format!("`{path}` must be a boolean, not {}", describe_value(node)),
            path,
            node.span,
        )
        .hints
        .push("write true or false, or a `{{ template }}` that renders to one".to_owned());
        node.to_json()
    }

    /// A mapping of names to text: other values are kept as their JSON text, as Polyaxon's
    /// `GenericStr` keeps them (Kubernetes labels and Ray's start params are text).
    fn text_map(&mut self, node: &Node, path: &str) -> Json {
        let entries = match &node.value {
            Value::Null => return Json::Null,
            Value::Map(entries) => entries,
            _ => {
                self.error(
                    format!("`{path}` must be a mapping, not {}", describe_value(node)),
                    path,
                    node.span,
                )
                .hints
                .push("write `name: value` pairs, one per line or as `{a: b}`".to_owned());
                return node.to_json();
            }
        };
        let mut map = Map::new();
        for (key, value) in entries {
            let name = key.key_text();
            let value_path = child_path(path, &name);
            if !matches!(key.value, Value::Str(_)) {
                self.error(
                    format!(
                        "the name `{name}` in `{path}` must be text, not {}",
                        key.kind_name()
                    ),
                    &value_path,
                    key.span,
                )
                .hints
                .push("quote it to keep it as text".to_owned());
            }
            let text = match &value.value {
                Value::Null => {
                    self.error(
                        format!("`{value_path}` must be text, not null"),
                        &value_path,
                        value.span,
                    )
                    .hints
                    .push("write a value, or leave the name out".to_owned());
                    continue;
                }
                Value::Str(text) | Value::Timestamp(text) => text.clone(),
                Value::Int(number) => number.to_string(),
                Value::Float(number) => python::orjson_float(*number),
                Value::Bool(flag) => flag.to_string(),
                Value::Seq(_) | Value::Map(_) => python::orjson_dumps(&value.to_json()),
            };
            map.insert(name, Json::String(text));
        }
        Json::Object(map)
    }

    fn literal_int(&mut self, node: &Node, path: &str) -> Json {
        if !matches!(node.value, Value::Int(_) | Value::Null) {
            self.error(
                format!("`{path}` must be an integer, not {}", describe_value(node)),
                path,
                node.span,
            )
            .hints
            .push(
                "write the number itself: Polyaxon reads this before any template renders"
                    .to_owned(),
            );
        }
        node.to_json()
    }

    fn float(&mut self, node: &Node, path: &str) -> Json {
        match &node.value {
            Value::Int(value) => Json::from(*value as f64),
            Value::Float(_) | Value::Null => node.to_json(),
            Value::Str(text) if is_template(text) => node.to_json(),
            Value::Str(text) if text.trim().parse::<f64>().is_ok() => {
                Json::from(text.trim().parse::<f64>().unwrap_or_default())
            }
            _ => {
                self.error(
                    format!("`{path}` must be a number, not {}", describe_value(node)),
                    path,
                    node.span,
                );
                node.to_json()
            }
        }
    }

    fn date_time(&mut self, node: &Node, path: &str) -> Json {
        let text = match &node.value {
            Value::Timestamp(text) => text.clone(),
            Value::Str(text) if is_template(text) => return node.to_json(),
            Value::Str(text) => match yaml::parse_datetime(text.trim()) {
                Some(text) => text,
                None => {
                    self.error(
                        format!(
                            "`{path}` must be a date and time, not {}",
                            describe_value(node)
                        ),
                        path,
                        node.span,
                    )
                    .hints
                    .push(
                        "write it as `2024-01-02T03:04:05`, optionally with a zone such as `Z`"
                            .to_owned(),
                    );
                    return node.to_json();
                }
            },
            _ => return node.to_json(),
        };
        // A date alone is midnight of that day.
        if text.len() == "2024-01-02".len() {
            Json::String(format!("{text} 00:00:00"))
        } else {
            Json::String(text)
        }
    }

    /// A Polyaxon object: every key must be one of its fields.
    fn object(&mut self, node: &Node, object: &Object, path: &str) -> Json {
        let Value::Map(entries) = &node.value else {
            // Polyaxon takes a template string (`"{{ x }}"`) wherever an object may stand; the
            // later stages resolve it.
            return node.to_json();
        };
        let mut result = Map::new();
        for (key, value) in entries {
            let name = key.key_text();
            let field_path = child_path(path, &name);
            match object.fields.iter().find(|field| field.name == name) {
                Some(field) => {
                    let value = self.shape(value, &field.shape, &field_path);
                    // Polyaxon's models leave unset fields out of what they write.
                    if !value.is_null() {
                        result.insert(name, value);
                    }
                }
                None => {
                    let suggestion =
                        suggest::closest(&name, object.fields.iter().map(|field| field.name));
                    let diagnostic = self.error(
                        format!("unknown field `{name}` in {}", describe(object.name, path)),
                        &field_path,
                        key.span,
                    );
                    match suggestion {
                        Some(suggestion) => {
                            diagnostic
                                .hints
                                .push(format!("did you mean `{suggestion}`?"));
                        }
                        None => diagnostic.hints.push(format!(
                            "the fields here are {}",
                            list_of(object.fields.iter().map(|field| field.name))
                        )),
                    }
                }
            }
        }
        for field in object.fields.iter().filter(|field| field.required) {
            if node.get(field.name).is_none() {
                self.error(
                    format!(
                        "{} lacks `{}`, which it requires",
                        describe(object.name, path),
                        field.name
                    ),
                    path,
                    node.span,
                );
            }
        }
        if std::ptr::eq(object, &schema::IO) {
            normalise_io(&mut result);
        }
        if std::ptr::eq(object, &schema::INIT) {
            self.one_init_source(node, path);
        }
        Json::Object(result)
    }

    /// An object whose `kind` picks its fields.
    fn tagged(&mut self, node: &Node, tagged: &Tagged, path: &str) -> Json {
        let Value::Map(_) = node.value else {
            return node.to_json();
        };
        let kinds = || tagged.variants.iter().map(|(kind, _)| *kind);
        let Some((_, kind_node)) = node.entry("kind") else {
            self.error(
                format!("`{path}` needs a `kind`: one of {}", list_of(kinds())),
                path,
                node.span,
            );
            return node.to_json();
        };
        let written = kind_node.key_text();
        if let Some((_, object)) = tagged.variants.iter().find(|(kind, _)| *kind == written) {
            let result = self.object(node, object, path);
            if std::ptr::eq(tagged, &schema::MATRIX) {
                self.search_fits_its_params(&written, node, path);
            }
            return result;
        }
        let kind_path = child_path(path, "kind");
        if let Some((_, advice)) = tagged.retired.iter().find(|(kind, _)| *kind == written) {
            self.error(
                format!(
                    "the {} kind `{written}` was removed before Polyaxon 2.18",
                    tagged.name
                ),
                &kind_path,
                kind_node.span,
            )
            .hints
            .push((*advice).to_owned());
            return node.to_json();
        }
        let suggestion = suggest::closest(&written, kinds());
        let diagnostic = self.error(
            format!("unsupported {} kind `{written}`", tagged.name),
            &kind_path,
            kind_node.span,
        );
        if let Some(suggestion) = suggestion {
            diagnostic
                .hints
                .push(format!("did you mean `{suggestion}`?"));
        }
        diagnostic
            .hints
            .push(format!("the kinds are {}", list_of(kinds())));
        self.keys_of_any_variant(node, tagged, path);
        node.to_json()
    }

    /// Components named by reference must be found. A `hubRef` was inlined from the hub before
    /// (or reported there); a `urlRef` is not fetched, as in Polyaxon without network.
    fn references_resolve(&mut self, node: &Node, path: &str) {
        for reference in ["urlRef"] {
            if let Some((key, value)) = node.entry(reference) {
                self.error(
                    format!(
                        "cannot resolve {reference} `{}`: components are not fetched from outside yet",
                        value.key_text()
                    ),
                    &child_path(path, reference),
                    key.span,
                )
                .hints
                .push("inline the component under `component:` instead".to_owned());
            }
        }
        if let Some(component) = node.get("component") {
            self.references_resolve(component, &child_path(path, "component"));
        }
        // A dag's operations may name their components by reference too.
        let run_path = child_path(path, "run");
        if let Some(Value::Seq(operations)) = node
            .get("run")
            .and_then(|run| run.get("operations"))
            .map(|operations| &operations.value)
        {
            for (index, operation) in operations.iter().enumerate() {
                self.references_resolve(operation, &format!("{run_path}.operations[{index}]"));
            }
        }
    }

    /// The sandbox and ssh plugins start a shell server beside the run: Polyaxon 2.18 offers
    /// them on services only.
    fn service_only_plugins(&mut self, root: &Node) {
        let component = root.get("component");
        let Some(kind) = [Some(root), component]
            .into_iter()
            .flatten()
            .find_map(|node| node.get("run")?.get("kind")?.as_str())
        else {
            return;
        };
        if kind == "service" {
            return;
        }
        for (base, base_path) in [(Some(root), ""), (component, "component")] {
            let Some(plugins) = base.and_then(|base| base.get("plugins")) else {
                continue;
            };
            for plugin in ["sandbox", "ssh"] {
                if let Some((key, value)) = plugins.entry(plugin)
                    && matches!(value.value, Value::Bool(true))
                {
                    let path = child_path(&child_path(base_path, "plugins"), plugin);
                    self.error(
                        format!("`{path}` is offered on services only, and this run is a {kind}"),
                        &path,
                        key.span,
                    )
                    .hints
                    .push(
                        "run it as `kind: service`, or use `tmux` for a shell in a job".to_owned(),
                    );
                }
            }
        }
    }

    /// An init step fetches from one source; with two, which one lands where is ambiguous.
    /// A git source must be written out: Polyaxon reads its `url` while checking the file.
    fn one_init_source(&mut self, node: &Node, path: &str) {
        if let Some(git) = node.get("git")
            && let Value::Str(text) = &git.value
        {
            self.error(
                format!("`{path}.git` must be a mapping with `url`, `revision` and `flags`, not `{text}`"),
                &child_path(path, "git"),
                git.span,
            )
            .hints
            .push("write the repository here, or pass a git-typed param with `toInit: true`".to_owned());
        }
        let mut sources: Vec<&Node> = schema::INIT_SOURCES
            .iter()
            .filter_map(|source| node.entry(source))
            .filter(|(_, value)| !matches!(value.value, Value::Null))
            .map(|(key, _)| key)
            .collect();
        sources.sort_by_key(|key| (key.span.start.line, key.span.start.column));
        if let [_, second, ..] = sources.as_slice() {
            let names: Vec<String> = sources.iter().map(|key| key.key_text()).collect();
            self.error(
                format!(
                    "`{path}` sets {}, but an init step takes one source",
                    list_of(&names)
                ),
                &child_path(path, &second.key_text()),
                second.span,
            )
            .hints
            .push("split it into one init step per source".to_owned());
        }
    }

    /// A grid walks every value, so it cannot take a continuous distribution; Bayesian
    /// optimisation models uniform distributions only.
    fn search_fits_its_params(&mut self, search: &str, node: &Node, path: &str) {
        let Some(Value::Map(params)) = node.get("params").map(|params| &params.value) else {
            return;
        };
        for (name, param) in params {
            let Some((_, kind)) = param.entry("kind") else {
                continue;
            };
            let kind_text = kind.key_text();
            let is_distribution = schema::DISTRIBUTIONS.contains(&kind_text.as_str());
            let kind_path = format!("{path}.params.{}.kind", name.key_text());
            if search == "grid" && is_distribution {
                self.error(
                    format!(
                        "`{}` draws from a `{kind_text}` distribution, which a grid search cannot enumerate",
                        name.key_text()
                    ),
                    &kind_path,
                    kind.span,
                )
                .hints
                .push("use a discrete kind (`choice`, `range`, `linspace`, `logspace`, `geomspace`), or a `random`, `hyperband` or `tpe` search".to_owned());
            }
            if search == "bayes" && is_distribution && !kind_text.ends_with("uniform") {
                self.error(
                    format!(
                        "`{}` draws from a `{kind_text}` distribution; Bayesian optimisation takes uniform ones only",
                        name.key_text()
                    ),
                    &kind_path,
                    kind.span,
                );
            }
        }
    }

    /// With its kind unknown, an object's keys can still be checked against the fields of every
    /// kind, so a typo elsewhere in it is not hidden by the wrong kind.
    fn keys_of_any_variant(&mut self, node: &Node, tagged: &Tagged, path: &str) {
        let Value::Map(entries) = &node.value else {
            return;
        };
        let mut names: Vec<&str> = tagged
            .variants
            .iter()
            .flat_map(|(_, object)| object.fields.iter().map(|field| field.name))
            .collect();
        names.sort_unstable();
        names.dedup();
        for (key, _) in entries {
            let name = key.key_text();
            if names.contains(&name.as_str()) {
                continue;
            }
            let suggestion = suggest::closest(&name, names.iter().copied());
            let diagnostic = self.error(
                format!("unknown field `{name}` in `{path}`, whatever its kind"),
                &child_path(path, &name),
                key.span,
            );
            if let Some(suggestion) = suggestion {
                diagnostic
                    .hints
                    .push(format!("did you mean `{suggestion}`?"));
            }
        }
    }

    /// A param, written in full (`{value: 0.1}`) or as the bare value (`0.1`).
    fn param(&mut self, node: &Node, path: &str) -> Json {
        let is_full = matches!(&node.value, Value::Map(entries)
        if !entries.is_empty() && entries.iter().all(|(key, _)| {
            schema::PARAM.fields.iter().any(|field| Some(field.name) == key.as_str())
        }));
        if is_full {
            return self.object(node, &schema::PARAM, path);
        }
        let mut param = Map::new();
        param.insert("value".to_owned(), node.to_json());
        Json::Object(param)
    }

    /// A Kubernetes object: its top-level keys must be fields of its type, in either case style.
    fn kubernetes(&mut self, node: &Node, object: &KubernetesObject, path: &str) -> Json {
        let Value::Map(entries) = &node.value else {
            return node.to_json();
        };
        let mut result = Map::new();
        for (key, value) in entries {
            let written = key.key_text();
            let name = snake_to_camel(&written);
            if object.fields.contains(&name.as_str()) {
                result.insert(name, value.to_json());
                continue;
            }
            let suggestion = suggest::closest(&name, object.fields.iter().copied());
            let diagnostic = self.error(
                format!(
                    "unknown field `{written}` in `{path}` (a Kubernetes {})",
                    object.name
                ),
                &child_path(path, &written),
                key.span,
            );
            if let Some(suggestion) = suggestion {
                diagnostic
                    .hints
                    .push(format!("did you mean `{suggestion}`?"));
            }
        }
        Json::Object(result)
    }
}

/// Whether a string is a `{{ … }}` template, which Polyaxon renders in a later stage and so
/// accepts wherever a typed value may stand.
fn is_template(text: &str) -> bool {
    text.find("{{")
        .is_some_and(|open| text[open..].contains("}}"))
}

/// A boolean written as text, as pydantic reads one: `true`/`false`, `yes`/`no`, `on`/`off`,
/// `t`/`f`, `y`/`n` and `1`/`0`, in any case.
pub(crate) fn lax_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "1" | "on" | "t" | "true" | "y" | "yes" => Some(true),
        "0" | "off" | "f" | "false" | "n" | "no" => Some(false),
        _ => None,
    }
}

/// A value quoted for a message: "`many`", or its type when it is not a scalar.
fn describe_value(node: &Node) -> String {
    match &node.value {
        Value::Seq(_) | Value::Map(_) | Value::Null => node.kind_name().to_owned(),
        _ => format!("`{}`", node.key_text()),
    }
}

/// A number of seconds as Python prints a `timedelta`: `1:00:00`, `2 days, 0:00:30`.
fn duration(node: &Node) -> Json {
    let seconds = match node.value {
        Value::Int(seconds) => seconds as f64,
        Value::Float(seconds) => seconds,
        _ => return node.to_json(),
    };
    let total_micros = (seconds * 1_000_000.0).round() as i64;
    let days = total_micros.div_euclid(86_400_000_000);
    let rest = total_micros.rem_euclid(86_400_000_000);
    let (hours, rest) = (rest / 3_600_000_000, rest % 3_600_000_000);
    let (minutes, rest) = (rest / 60_000_000, rest % 60_000_000);
    let (whole_seconds, micros) = (rest / 1_000_000, rest % 1_000_000);
    let mut text = String::new();
    if days != 0 {
        let plural = if days.abs() == 1 { "" } else { "s" };
        text.push_str(&format!("{days} day{plural}, "));
    }
    text.push_str(&format!("{hours}:{minutes:02}:{whole_seconds:02}"));
    if micros != 0 {
        text.push_str(&format!(".{micros:06}"));
    }
    Json::String(text)
}

/// A comma-separated string as the list it stands for; lists and templates as they are.
fn str_list(node: &Node) -> Json {
    match &node.value {
        Value::Str(text) if !is_template(text) => Json::Array(
            text.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(Json::from)
                .collect(),
        ),
        _ => node.to_json(),
    }
}

/// Whether a document says what to run: a `run`, a root shortcut that makes one (`container`,
/// `environment`, …), or a component, inline or by reference.
fn is_runnable(node: &Node) -> bool {
    [
        "run",
        "container",
        "cmd",
        "env",
        "resources",
        "ports",
        "environment",
        "init",
        "connections",
        "sidecars",
        "volumes",
        "hubRef",
        "urlRef",
        "pathRef",
        "dagRef",
    ]
    .iter()
    .any(|key| node.get(key).is_some())
        || node.get("component").is_some_and(is_runnable)
}

/// Adds `-P` params to an operation's own, the command line winning.
fn with_params(document: Json, cli_params: Map<String, Json>) -> Json {
    let Json::Object(mut document) = document else {
        return document;
    };
    if !cli_params.is_empty() {
        let params = document
            .entry("params")
            .or_insert_with(|| Json::Object(Map::new()));
        if let Json::Object(params) = params {
            params.extend(cli_params);
        }
    }
    Json::Object(document)
}

/// What Polyaxon's IO model does to an input or output as it reads it.
fn normalise_io(fields: &mut Map<String, Json>) {
    // An input with a value is optional; saying it is not is a contradiction Polyaxon rejects
    // later, when it validates the value.
    if fields.contains_key("value") && !fields.contains_key("isOptional") {
        fields.insert("isOptional".to_owned(), Json::Bool(true));
    }
    // `options` is the older spelling of `validation.options`. Polyaxon 2.18 means to move
    // `delayValidation` to `validation.delay` too, but looks for it under its snake_case name,
    // so it stays where it is written.
    if let Some(options) = fields
        .remove("options")
        .filter(|options| !options.is_null())
    {
        let validation = fields
            .entry("validation")
            .or_insert_with(|| Json::Object(Map::new()));
        if let Json::Object(validation) = validation {
            validation.insert("options".to_owned(), options);
        }
    }
}

/// Where a field stands, for messages: "the Polyaxonfile", "`termination`", "`run` (a job)".
fn describe(object_name: &str, path: &str) -> String {
    let last = path.rsplit(['.', '[']).next().unwrap_or_default();
    if path.is_empty() {
        "the Polyaxonfile".to_owned()
    } else if last == object_name || last.ends_with(']') {
        format!("`{path}`")
    } else {
        let article = if object_name.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        format!("`{path}` ({article} {object_name})")
    }
}

fn snake_to_camel(name: &str) -> String {
    let mut result = String::with_capacity(name.len());
    let mut upper = false;
    for character in name.chars() {
        if character == '_' {
            upper = true;
        } else if upper {
            result.extend(character.to_uppercase());
            upper = false;
        } else {
            result.push(character);
        }
    }
    result
}
