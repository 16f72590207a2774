//! The types an input or output may declare, and how a value is read as one of them, with
//! Polyaxon 2.18's rules: a string given for a structured type (`int`, `list`, `git`, …) is read
//! as JSON first (`-P lr=0.1` gives the float 0.1, `-P tags='["a"]'` a list), while text types
//! (`str`, `path`, `bool`, `date`, …) take the string as it is.

use serde_json::{Map, Value as Json};

use crate::schema::{self, Object, Shape};

/// Every IO type Polyaxon 2.18 knows.
pub const IO_TYPES: &[&str] = &[
    "any",
    "int",
    "float",
    "bool",
    "str",
    "dict",
    "list",
    "uri",
    "gcs",
    "s3",
    "wasb",
    "path",
    "image",
    "uuid",
    "email",
    "date",
    "datetime",
    "timedelta",
    "metric",
    "metadata",
    "event",
    "git",
    "dockerfile",
    "file",
    "tensorboard",
    "artifacts",
];

/// Types whose string values are taken as text rather than read as JSON.
const TEXT_TYPES: &[&str] = &[
    "any",
    "str",
    "bool",
    "uri",
    "gcs",
    "s3",
    "wasb",
    "path",
    "image",
    "uuid",
    "email",
    "date",
    "datetime",
    "timedelta",
];

/// A UUID as Python's `uuid.UUID(text).hex` reads it: braces, dashes and a `urn:uuid:` prefix
/// are dropped and 32 hex digits must remain.
pub fn uuid_hex(text: &str) -> Option<String> {
    let hex: String = text
        .replace("urn:", "")
        .replace("uuid:", "")
        .trim_matches(['{', '}'])
        .replace('-', "");
    (hex.len() == 32 && hex.bytes().all(|byte| byte.is_ascii_hexdigit()))
        .then(|| hex.to_ascii_lowercase())
}

/// A list of run UUIDs, given as a list or as one comma-separated string, read into a list of
/// 32-hex-digit UUIDs; the error names the first item that is not one.
pub fn uuid_list(value: &Json) -> Result<Json, String> {
    let items: Vec<Json> = match value {
        Json::String(text) => text
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(Json::from)
            .collect(),
        Json::Array(items) => items.clone(),
        Json::Null => return Ok(Json::Null),
        other => return Err(format!("expected a list of run UUIDs, got `{other}`")),
    };
    items
        .iter()
        .map(|item| {
            let text = item
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| item.to_string());
            uuid_hex(&text)
                .map(Json::from)
                .ok_or_else(|| format!("`{text}` is not a UUID (32 hex digits, dashes allowed)"))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Json::Array)
}

/// Whether a string given for `io_type` is taken as text rather than read as JSON.
pub fn is_text(io_type: &str) -> bool {
    TEXT_TYPES.contains(&io_type)
}

/// Reads `value` as a value of the IO type `io_type` (a list of them when `is_list`), as Polyaxon
/// does before it accepts a param or a default. The error says why it cannot, in a few words.
pub fn cast(io_type: &str, value: &Json, is_list: bool) -> Result<Json, String> {
    let loaded = match value {
        // A list of anything is read as JSON, whatever its items are.
        Json::String(text) if is_list || !is_text(io_type) => {
            serde_json::from_str::<Json>(text).map_err(|_| {
                if is_list {
                    format!("`{text}` cannot be read as a list of `{io_type}`: write it as JSON, e.g. `[1, 2]`")
                } else {
                    format!("`{text}` cannot be read as a `{io_type}`")
                }
            })?
        }
        _ => value.clone(),
    };
    if is_list {
        let Json::Array(items) = loaded else {
            return Err(format!(
                "expected a list of `{io_type}`, got {}",
                describe(&loaded)
            ));
        };
        return items
            .iter()
            .map(|item| cast_one(io_type, item))
            .collect::<Result<Vec<_>, _>>()
            .map(Json::Array);
    }
    cast_one(io_type, &loaded)
}

fn describe(value: &Json) -> String {
    match value {
        Json::Null => "null".to_owned(),
        Json::Bool(_) => format!("the boolean `{value}`"),
        Json::Number(_) => format!("the number `{value}`"),
        Json::String(text) => format!("the text `{text}`"),
        Json::Array(_) => "a list".to_owned(),
        Json::Object(_) => "a mapping".to_owned(),
    }
}

fn cast_one(io_type: &str, value: &Json) -> Result<Json, String> {
    let wrong = || format!("{} is not a valid `{io_type}`", describe(value));
    match io_type {
        "any" => Ok(value.clone()),
        "int" => match value {
            Json::Number(number) if number.is_i64() || number.is_u64() => Ok(value.clone()),
            Json::Number(number) => match number.as_f64() {
                Some(float) if float.fract() == 0.0 => Ok(Json::from(float as i64)),
                _ => Err(wrong()),
            },
            Json::Bool(flag) => Ok(Json::from(i64::from(*flag))),
            _ => Err(wrong()),
        },
        "float" | "metric" => match value {
            Json::Number(number) => Ok(Json::from(number.as_f64().ok_or_else(wrong)?)),
            Json::Bool(flag) => Ok(Json::from(f64::from(u8::from(*flag)))),
            _ => Err(wrong()),
        },
        "bool" => match value {
            Json::Bool(_) => Ok(value.clone()),
            Json::Number(number) if number.as_f64() == Some(0.0) => Ok(Json::Bool(false)),
            Json::Number(number) if number.as_f64() == Some(1.0) => Ok(Json::Bool(true)),
            Json::String(text) => match text.to_lowercase().as_str() {
                "1" | "on" | "t" | "true" | "y" | "yes" => Ok(Json::Bool(true)),
                "0" | "off" | "f" | "false" | "n" | "no" => Ok(Json::Bool(false)),
                _ => Err(wrong()),
            },
            _ => Err(wrong()),
        },
        "gcs" | "s3" | "wasb" => match value {
            Json::String(text) => storage_url(io_type, text).map(|()| value.clone()),
            Json::Object(fields) => match fields.get("bucket").and_then(Json::as_str) {
                Some(bucket) if !bucket.is_empty() => Ok(value.clone()),
                _ => Err(format!("a `{io_type}` mapping needs a `bucket`")),
            },
            _ => Err(wrong()),
        },
        "str" | "path" | "image" | "uri" => match value {
            Json::String(_) => Ok(value.clone()),
            Json::Number(_) | Json::Bool(_) => Ok(Json::String(value.to_string())),
            _ => Err(wrong()),
        },
        "uuid" => match value {
            Json::String(text) if is_uuid(text) => Ok(value.clone()),
            _ => Err(wrong()),
        },
        "email" => match value {
            Json::String(text)
                if text
                    .split_once('@')
                    .is_some_and(|(user, domain)| !user.is_empty() && domain.contains('.')) =>
            {
                Ok(value.clone())
            }
            _ => Err(wrong()),
        },
        // Polyaxon 2.18 maps `datetime` to a calendar date, so a time of day is rejected.
        "date" | "datetime" => match value {
            Json::String(text) => as_date(text).map(Json::String).ok_or_else(wrong),
            _ => Err(wrong()),
        },
        "timedelta" => match value {
            Json::Number(_) | Json::String(_) => Ok(value.clone()),
            _ => Err(wrong()),
        },
        "dict" | "metadata" => match value {
            Json::Object(_) => Ok(value.clone()),
            _ => Err(wrong()),
        },
        "list" => match value {
            Json::Array(_) => Ok(value.clone()),
            _ => Err(wrong()),
        },
        "git" => structured(value, &schema::GIT_TYPE),
        "dockerfile" => structured(value, &schema::DOCKERFILE_TYPE),
        "file" => structured(value, &schema::FILE_TYPE),
        "tensorboard" => structured(value, &schema::TENSORBOARD_TYPE),
        "artifacts" => structured(value, &schema::ARTIFACTS_TYPE),
        "event" => structured(value, &schema::EVENT_TYPE),
        _ => Err(format!("`{io_type}` is not a type")),
    }
}

/// A structured value: a mapping with the fields of its Polyaxon type and no others.
fn structured(value: &Json, object: &Object) -> Result<Json, String> {
    let Json::Object(fields) = value else {
        return Err(format!(
            "a `{}` is a mapping, not {}",
            object.name,
            describe(value)
        ));
    };
    if let Some(unknown) = fields
        .keys()
        .find(|key| !object.fields.iter().any(|field| field.name == key.as_str()))
    {
        return Err(format!("a `{}` has no field `{unknown}`", object.name));
    }
    if let Some(field) = object.fields.iter().find(|field| {
        matches!(field.shape, Shape::Str)
            && fields
                .get(field.name)
                .is_some_and(|value| !value.is_string() && !value.is_null())
    }) {
        return Err(format!(
            "the `{}` of a `{}` must be a string",
            field.name, object.name
        ));
    }
    if let Some(missing) = object
        .fields
        .iter()
        .find(|field| field.required && !fields.contains_key(field.name))
    {
        return Err(format!("a `{}` needs `{}`", object.name, missing.name));
    }
    Ok(Json::Object(
        fields
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<Map<_, _>>(),
    ))
}

/// A bucket URL of the type's schemes: `gs://bucket/…`, `s3://bucket/…`, or an Azure blob URL.
fn storage_url(io_type: &str, text: &str) -> Result<(), String> {
    let (scheme, rest) = text
        .split_once("://")
        .ok_or_else(|| format!("`{text}` is not a URL such as {}", example(io_type)))?;
    let host = rest.split('/').next().unwrap_or_default();
    let schemes: &[&str] = match io_type {
        "gcs" => &["gs", "gcs"],
        "s3" => &["s3"],
        _ => &["wasb", "wasbs", "https", "az", "abfs"],
    };
    if !schemes.contains(&scheme) {
        return Err(format!(
            "`{scheme}://` is not a `{io_type}` scheme; write a URL such as {}",
            example(io_type)
        ));
    }
    if host.is_empty() {
        return Err(format!("`{text}` names no bucket"));
    }
    if io_type == "wasb" && !host.contains(".blob.core.windows.net") {
        return Err(format!(
            "`{text}` is not an Azure blob URL such as {}",
            example(io_type)
        ));
    }
    Ok(())
}

fn example(io_type: &str) -> &'static str {
    match io_type {
        "gcs" => "`gs://bucket/path`",
        "s3" => "`s3://bucket/key`",
        _ => "`wasbs://container@account.blob.core.windows.net/path`",
    }
}

fn is_uuid(text: &str) -> bool {
    let hex: String = text.chars().filter(|character| *character != '-').collect();
    hex.len() == 32 && hex.chars().all(|character| character.is_ascii_hexdigit())
}

/// `YYYY-MM-DD`, or a date and time at exactly midnight, as a date.
fn as_date(text: &str) -> Option<String> {
    let (date, time) = match text.split_once(['T', ' ']) {
        Some((date, time)) => (date, Some(time)),
        None => (text, None),
    };
    let mut parts = date.split('-');
    let (year, month, day) = (parts.next()?, parts.next()?, parts.next()?);
    let valid = parts.next().is_none()
        && year.len() == 4
        && month.len() == 2
        && day.len() == 2
        && [year, month, day]
            .iter()
            .all(|part| part.chars().all(|character| character.is_ascii_digit()));
    let midnight = time.is_none_or(|time| {
        time.trim_end_matches('Z')
            .chars()
            .all(|character| matches!(character, '0' | ':' | '.'))
    });
    (valid && midnight).then(|| date.to_owned())
}
