//! Polyaxon's templating: Jinja with Python's way of printing values, and rendered strings read
//! back as Python literals (`"0.1"` becomes a float), recursively until nothing changes.

use minijinja::value::{Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind};
use serde_json::{Map, Value as Json};

use crate::python;

/// The Jinja environment of Polyaxon's templates: `{{ }}` prints as Python's `str()` does, and
/// the `map_format` filter applies a `%` pattern.
pub struct Templates {
    environment: Environment<'static>,
}

/// What templates see, converted for the engine only when a template is actually rendered: most
/// strings of a Polyaxonfile are not templates, and many files have none.
pub struct Context {
    json: Json,
    value: std::cell::OnceCell<Value>,
}

impl Context {
    /// A context holding `json`'s keys.
    pub fn new(json: Json) -> Self {
        Self {
            json,
            value: std::cell::OnceCell::new(),
        }
    }

    /// The context's data, to extend it for a later stage.
    pub fn into_json(self) -> Json {
        self.json
    }

    fn value(&self) -> &Value {
        self.value.get_or_init(|| to_value(&self.json))
    }
}

/// The work one template may do, in minijinja's units (about one per instruction and one per
/// few bytes made); the templates of real Polyaxonfiles take a few hundred at most.
pub const TEMPLATE_FUEL: u64 = 100_000;

/// How a rendered string is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Read back as a Python literal when it is one.
    Expression,
    /// Kept as text (the value of a text-typed input).
    Text,
    /// Kept as text, and dropped (`null`) when it renders to `None` (a container's command or
    /// args, where an unset optional param leaves nothing).
    ContainerText,
}

impl Default for Templates {
    fn default() -> Self {
        let mut environment = Environment::new();
        // A template is a few lines of a Polyaxonfile: loops in loops that would run for hours
        // end with an error instead.
        environment.set_fuel(Some(TEMPLATE_FUEL));
        environment.set_formatter(|out, _state, value| {
            let text = python_str(value);
            out.write_str(&text)
                .map_err(|_| Error::new(ErrorKind::WriteFailure, "cannot write the output"))
        });
        environment.add_filter("map_format", map_format);
        environment.add_filter("tojson", to_json_filter);
        Self { environment }
    }
}

impl Templates {
    /// The one environment every compilation uses: building it registers every filter and test,
    /// which costs more than rendering a Polyaxonfile.
    pub fn shared() -> &'static Templates {
        static SHARED: std::sync::OnceLock<Templates> = std::sync::OnceLock::new();
        SHARED.get_or_init(Templates::default)
    }

    /// Renders one template string; strings without `{{` or `{%` are returned as they are.
    pub fn render(&self, template: &str, context: &Context) -> Result<String, String> {
        if !is_template(template) {
            return Ok(template.to_owned());
        }
        self.environment
            .render_str(template, context.value())
            .map_err(|error| describe(&error, template))
    }

    /// Renders every string in `expression` (keys included), reading results back as Python
    /// literals, as Polyaxon's `parse_expression` does. An error says where in `expression` the
    /// template that failed stands.
    pub fn expand(
        &self,
        expression: &Json,
        context: &Context,
        kind: Kind,
    ) -> Result<Json, TemplateError> {
        let mut expanded = expression.clone();
        self.expand_in_place(&mut expanded, context, kind)?;
        Ok(expanded)
    }

    /// [`Templates::expand`] on a value the caller owns: only what changes is rewritten, so the
    /// many strings that are neither templates nor literals cost no copy.
    pub fn expand_in_place(
        &self,
        expression: &mut Json,
        context: &Context,
        kind: Kind,
    ) -> Result<(), TemplateError> {
        match expression {
            Json::String(text) => {
                if self.changes(text, kind) {
                    *expression = self
                        .expand_string(text, context, kind)
                        .map_err(TemplateError::here)?;
                }
                Ok(())
            }
            Json::Array(items) => {
                for (index, item) in items.iter_mut().enumerate() {
                    self.expand_in_place(item, context, kind)
                        .map_err(|error| error.within(&format!("[{index}]")))?;
                }
                Ok(())
            }
            Json::Object(fields) => self.expand_fields(fields, context, |_, value, templates| {
                templates.expand_in_place(value, context, kind)
            }),
            _ => Ok(()),
        }
    }

    /// Renders a mapping's values with `render` (given each value's key as written) and its
    /// keys as expressions; the mapping is rebuilt only when a key renders to another.
    pub fn expand_fields(
        &self,
        fields: &mut Map<String, Json>,
        context: &Context,
        render: impl Fn(&str, &mut Json, &Templates) -> Result<(), TemplateError>,
    ) -> Result<(), TemplateError> {
        if !fields.keys().any(|key| self.changes(key, Kind::Expression)) {
            for (key, value) in fields.iter_mut() {
                render(key, value, self).map_err(|error| error.within(&format!(".{key}")))?;
            }
            return Ok(());
        }
        for (key, mut value) in std::mem::take(fields) {
            let inside = |error: TemplateError| error.within(&format!(".{key}"));
            render(&key, &mut value, self).map_err(inside)?;
            let rendered = self
                .expand_string(&key, context, Kind::Expression)
                .map_err(|message| inside(TemplateError::here(message)))?;
            let key = match rendered {
                Json::String(key) => key,
                other => python::str_of(&other),
            };
            fields.insert(key, value);
        }
        Ok(())
    }

    /// Whether rendering `text` as `kind` can give anything but the same string.
    fn changes(&self, text: &str, kind: Kind) -> bool {
        is_template(text) || kind == Kind::Expression && python::literal_eval(text).is_some()
    }

    fn expand_string(&self, text: &str, context: &Context, kind: Kind) -> Result<Json, String> {
        // Most strings hold no template: they settle at once, without a copy to render.
        if !is_template(text) {
            return Ok(match kind {
                Kind::Expression => {
                    python::literal_eval(text).unwrap_or_else(|| Json::String(text.to_owned()))
                }
                Kind::Text | Kind::ContainerText => Json::String(text.to_owned()),
            });
        }
        let mut text = text.to_owned();
        // A template may render to another template, which Polyaxon renders again until the
        // text stops changing; a template that never settles is an error, not a hang.
        for _ in 0..MAX_RENDERINGS {
            let rendered = self.render(&text, context)?;
            match kind {
                Kind::ContainerText if rendered == "None" && rendered != text => {
                    return Ok(Json::Null);
                }
                Kind::Text | Kind::ContainerText => return Ok(Json::String(rendered)),
                Kind::Expression if rendered == text => {
                    return Ok(python::literal_eval(&rendered).unwrap_or(Json::String(rendered)));
                }
                Kind::Expression => text = rendered,
            }
        }
        Err(format!(
            "the template still renders to a new template after {MAX_RENDERINGS} rounds"
        ))
    }
}

/// Whether Polyaxon renders `text`: it holds an expression or a statement (a lone `{# #}`
/// comment is left as written).
fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%")
}

/// How many times a string is rendered at most before it must have settled.
const MAX_RENDERINGS: usize = 32;

/// A template that could not be rendered, and where it stands in what was being rendered
/// (`.container.args[1]`; empty for the string itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// What went wrong.
    pub message: String,
    /// Where, as a path of `.key` and `[index]` steps.
    pub path: String,
}

impl TemplateError {
    fn here(message: String) -> Self {
        Self {
            message,
            path: String::new(),
        }
    }

    /// The same error, one step further out.
    pub fn within(mut self, step: &str) -> Self {
        self.path.insert_str(0, step);
        self
    }
}

/// Jinja's error as Polyaxon words it.
fn describe(error: &Error, template: &str) -> String {
    let kind = match error.kind() {
        ErrorKind::SyntaxError => "TemplateSyntaxError",
        ErrorKind::UndefinedError => "UndefinedError",
        _ => "TemplateError",
    };
    // The engine says only "undefined value"; the expression it stopped at names what is.
    let undefined = (error.kind() == ErrorKind::UndefinedError)
        .then(|| error.range())
        .flatten()
        .and_then(|range| {
            // An attribute's span starts at its dot: the name (or item) it is read from comes first.
            let head = template.get(..range.start)?;
            let start = head
                .trim_end_matches(|c: char| c.is_alphanumeric() || "_.[]'\"-".contains(c))
                .len();
            template.get(start..range.end)
        })
        .map(|expression| format!("`{}` is undefined", expression.trim()));
    if error.kind() == ErrorKind::OutOfFuel {
        return format!(
            "cannot render the template: it does more work than a template may \
             ({TEMPLATE_FUEL} steps); render less, or compute the value before passing it as a param"
        );
    }
    let detail = undefined.unwrap_or_else(|| {
        error
            .detail()
            .map_or_else(|| error.kind().to_string(), str::to_owned)
    });
    format!("cannot render the template: {kind}: {detail}")
}

/// Jinja's `tojson`: JSON with sorted keys, and `<`, `>`, `&` and `'` escaped so the text is
/// safe inside HTML.
fn to_json_filter(value: Value) -> String {
    fn sorted(json: Json) -> Json {
        match json {
            Json::Object(fields) => {
                let mut entries: Vec<(String, Json)> = fields.into_iter().collect();
                entries.sort_by(|left, right| left.0.cmp(&right.0));
                Json::Object(
                    entries
                        .into_iter()
                        .map(|(key, value)| (key, sorted(value)))
                        .collect(),
                )
            }
            Json::Array(items) => Json::Array(items.into_iter().map(sorted).collect()),
            other => other,
        }
    }
    python_json(&sorted(to_json(&value)))
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\'', "\\u0027")
}

/// Python's `json.dumps` with its default separators (`", "` and `": "`).
fn python_json(value: &Json) -> String {
    match value {
        Json::Array(items) => format!(
            "[{}]",
            items.iter().map(python_json).collect::<Vec<_>>().join(", ")
        ),
        Json::Object(fields) => format!(
            "{{{}}}",
            fields
                .iter()
                .map(|(key, value)| format!(
                    "{}: {}",
                    Json::String(key.clone()),
                    python_json(value)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

/// `pattern % value`, Python's printf-style formatting with a single `%s` (or `%d`, `%f`, …).
fn map_format(value: Value, pattern: String) -> Result<String, Error> {
    let shown = python_str(&value);
    let mut out = String::new();
    let mut chars = pattern.chars().peekable();
    let mut used = false;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some(_) if !used => {
                out.push_str(&shown);
                used = true;
            }
            _ => {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    "map_format takes a pattern with one placeholder",
                ));
            }
        }
    }
    Ok(out)
}

/// A JSON value as a template value.
fn to_value(json: &Json) -> Value {
    match json {
        Json::Null => Value::from(()),
        Json::Bool(flag) => Value::from(*flag),
        Json::Number(number) => match number.as_i64() {
            Some(integer) => Value::from(integer),
            None => Value::from(number.as_f64().unwrap_or_default()),
        },
        Json::String(text) => Value::from(text.as_str()),
        Json::Array(items) => Value::from(items.iter().map(to_value).collect::<Vec<_>>()),
        // Python dicts keep their insertion order, and so their printed form does too.
        Json::Object(fields) => Value::from_pairs(
            fields
                .iter()
                .map(|(key, value)| (Value::from(key.as_str()), to_value(value))),
        ),
    }
}

/// A template value as JSON, for printing it as Python would.
fn to_json(value: &Value) -> Json {
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => Json::Null,
        ValueKind::Bool => Json::Bool(value.is_true()),
        ValueKind::Number => match value.as_i64().filter(|_| value.is_integer()) {
            Some(integer) => Json::from(integer),
            None => f64::try_from(value.clone())
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map_or(Json::Null, Json::Number),
        },
        ValueKind::String => Json::String(value.as_str().unwrap_or_default().to_owned()),
        ValueKind::Map => {
            let mut fields = Map::new();
            if let Ok(keys) = value.try_iter() {
                for key in keys {
                    let item = value.get_item(&key).unwrap_or_default();
                    fields.insert(python::str_of(&to_json(&key)), to_json(&item));
                }
            }
            Json::Object(fields)
        }
        ValueKind::Seq | ValueKind::Iterable => Json::Array(
            value
                .try_iter()
                .map(|items| items.map(|item| to_json(&item)).collect())
                .unwrap_or_default(),
        ),
        _ => Json::String(value.to_string()),
    }
}

/// How Python's `str()` prints a template value; undefined prints nothing, as in Jinja.
fn python_str(value: &Value) -> String {
    if value.is_undefined() {
        return String::new();
    }
    python::str_of(&to_json(value))
}
