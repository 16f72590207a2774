//! The `env` and `resources` root shortcuts of Polyaxon 2.x: what they accept, and how
//! `resources` becomes the main container's requests and limits.
//!
//! `resources: {cpu: 1, memory: 2Gi, gpu: 1}` sets requests for quantities (cpu, memory) and
//! both request and limit for counts (gpu, or an extended resource such as `google.com/tpu`);
//! a range `"1..2"` sets the request and the limit apart.

use serde_json::{Map, Value as Json};

use crate::diagnostic::Diagnostic;
use crate::yaml::{Node, Value};

/// The largest count or quantity Kubernetes (and Polyaxon) take: a 64-bit integer.
const MAX_INT: f64 = 9.223_372_036_854_776e18;

/// Checks the `env` and `resources` shortcuts of a document, adding a diagnostic per problem.
pub(crate) fn check(root: &Node, diagnostics: &mut Vec<Diagnostic>) {
    let layers = [Some(root), root.get("component")];
    for (layer, prefix) in layers.into_iter().zip(["", "component."]) {
        let Some(layer) = layer else { continue };
        if let Some(env) = layer.get("env") {
            check_env(env, &format!("{prefix}env"), diagnostics);
        }
        if let Some(resources) = layer.get("resources") {
            check_resources(resources, &format!("{prefix}resources"), diagnostics);
        }
    }
}

fn check_env(env: &Node, path: &str, diagnostics: &mut Vec<Diagnostic>) {
    let Value::Map(entries) = &env.value else {
        diagnostics.push(
            Diagnostic::error("`env` maps names to string values", path, env.span).with_hint(
                "write `NAME: value` lines here; a list of `{name, value}` goes in `container.env`",
            ),
        );
        return;
    };
    for (name, value) in entries {
        if matches!(
            value.value,
            Value::Bool(_) | Value::Int(_) | Value::Float(_)
        ) {
            let literal = match value.value {
                Value::Bool(flag) => flag.to_string(),
                _ => value.key_text(),
            };
            diagnostics.push(
                Diagnostic::error(
                    format!("`env.{}` must be a string", name.key_text()),
                    format!("{path}.{}", name.key_text()),
                    value.span,
                )
                .with_hint(format!("quote it: \"{literal}\"")),
            );
        }
    }
}

fn check_resources(resources: &Node, path: &str, diagnostics: &mut Vec<Diagnostic>) {
    let Value::Map(entries) = &resources.value else {
        diagnostics.push(Diagnostic::error(
            "`resources` maps resource names to values",
            path,
            resources.span,
        ));
        return;
    };
    for (key, value) in entries {
        let name = key.key_text();
        let entry_path = format!("{path}.{name}");
        if name == "nvidia.com/gpu" {
            diagnostics.push(
                Diagnostic::error(
                    "`resources.nvidia.com/gpu` is spelled `gpu`",
                    &entry_path,
                    key.span,
                )
                .with_hint("write `gpu: 1`"),
            );
            continue;
        }
        if !matches!(name.as_str(), "cpu" | "memory" | "gpu") && !name.contains('/') {
            diagnostics.push(
                Diagnostic::error(format!("unknown resource `{name}`"), &entry_path, key.span)
                    .with_hint(
                        "use cpu, memory, gpu, or an extended resource such as google.com/tpu",
                    ),
            );
            continue;
        }
        if let Err(why) = request_and_limit(&name, &value.to_json()) {
            diagnostics.push(Diagnostic::error(
                format!("`resources.{name}` {why}"),
                &entry_path,
                value.span,
            ));
        }
    }
}

/// Whether a text is a quantity of this resource as Kubernetes reads it (`500m`, `2Gi`), or a
/// whole count for the others.
fn is_valid_part(resource: &str, text: &str) -> bool {
    let number = r"(\d+(\.\d*)?|\.\d+)";
    let pattern = match resource {
        "cpu" => format!("^{number}[mun]?$"),
        "memory" => format!("^{number}([KMGTPE]i|[kMGTPE])?$"),
        _ => {
            return text.bytes().all(|byte| byte.is_ascii_digit())
                && !text.is_empty()
                && text.parse::<f64>().is_ok_and(|count| count < MAX_INT);
        }
    };
    regex_lite::Regex::new(&pattern).is_ok_and(|regex| regex.is_match(text))
}

/// A quantity's value, to compare a request with its limit.
fn magnitude(text: &str) -> f64 {
    let digits_end = text
        .find(|character: char| !(character.is_ascii_digit() || character == '.'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(digits_end);
    let scale = match suffix {
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        _ => 1.0,
    };
    number.parse::<f64>().unwrap_or_default() * scale
}

/// The request and the limit one shortcut entry sets, or why it is not valid.
pub(crate) fn request_and_limit(resource: &str, value: &Json) -> Result<(Json, Json), String> {
    let is_count = !matches!(resource, "cpu" | "memory");
    match value {
        Json::Number(number) => {
            let amount = number.as_f64().unwrap_or_default();
            if !amount.is_finite() || amount < 0.0 {
                return Err("must be a finite non-negative number".to_owned());
            }
            if amount >= MAX_INT {
                return Err("is too large".to_owned());
            }
            if is_count && !(number.is_i64() || number.is_u64()) {
                return Err("must be an integer count".to_owned());
            }
            Ok(if is_count {
                (value.clone(), value.clone())
            } else {
                (value.clone(), Json::Null)
            })
        }
        Json::String(text) => {
            let text = text.trim();
            let (low, high, is_range) = match text.split_once("..") {
                Some((low, high)) => (low.trim(), high.trim(), true),
                None => (text, "", false),
            };
            if low.is_empty() && high.is_empty() {
                return Err("needs a request, a limit, or both".to_owned());
            }
            for part in [low, high] {
                if !part.is_empty() && !is_valid_part(resource, part) {
                    return Err(format!(
                        "has an unsupported value `{part}`; use container.resources for other quantities or templates"
                    ));
                }
            }
            if !low.is_empty() && !high.is_empty() && magnitude(low) > magnitude(high) {
                return Err("has a request greater than its limit".to_owned());
            }
            let read = |part: &str| -> Json {
                if part.is_empty() {
                    Json::Null
                } else if is_count {
                    part.parse::<i64>().map(Json::from).unwrap_or(Json::Null)
                } else {
                    Json::String(part.to_owned())
                }
            };
            let (request, limit) = (read(low), read(high));
            Ok(match (is_range, is_count) {
                (true, _) => (request, limit),
                (false, true) => (request.clone(), request),
                (false, false) => (request, Json::Null),
            })
        }
        _ => Err("must be a number or a range such as 1..2".to_owned()),
    }
}

/// The container `resources` the shortcut stands for: `requests` and `limits`, empty sides left
/// out, `gpu` written as `nvidia.com/gpu`.
pub(crate) fn lower_resources(resources: &Map<String, Json>) -> Json {
    let mut requests = Map::new();
    let mut limits = Map::new();
    for (key, value) in resources {
        let name = if key == "gpu" {
            "nvidia.com/gpu".to_owned()
        } else {
            key.clone()
        };
        // Checked already: an invalid entry cannot reach compilation.
        let Ok((request, limit)) = request_and_limit(key, value) else {
            continue;
        };
        if !request.is_null() {
            requests.insert(name.clone(), request);
        }
        if !limit.is_null() {
            limits.insert(name, limit);
        }
    }
    let mut lowered = Map::new();
    if !requests.is_empty() {
        lowered.insert("requests".to_owned(), Json::Object(requests));
    }
    if !limits.is_empty() {
        lowered.insert("limits".to_owned(), Json::Object(limits));
    }
    Json::Object(lowered)
}
