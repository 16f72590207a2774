//! An IO's `validation` rules, checked against a value as Polyaxon checks them: bounds, digits,
//! lengths, a regex, membership and options on each item of a list (or each value of a
//! mapping), then item counts and keys on the collection itself.

use serde_json::Value as Json;

use crate::python;

/// Checks `value` against `rules` (the IO's `validation` mapping, `options` folded in). The
/// error names the first rule broken.
pub(crate) fn validate(value: &Json, rules: &Json) -> Result<(), String> {
    let Json::Object(_) = rules else {
        return Ok(());
    };
    match value {
        Json::Null => return Ok(()),
        Json::Array(items) => items
            .iter()
            .try_for_each(|item| validate_item(item, rules))?,
        Json::Object(fields) => fields
            .values()
            .try_for_each(|item| validate_item(item, rules))?,
        _ => validate_item(value, rules)?,
    }
    let count = match value {
        Json::Array(items) => Some(items.len()),
        Json::Object(fields) => Some(fields.len()),
        _ => None,
    };
    if let Some(count) = count {
        if let Some(min) = rule(rules, "minItems", "min_items").and_then(Json::as_u64)
            && (count as u64) < min
        {
            return Err(format!("{} has fewer than {min} items", shown(value)));
        }
        if let Some(max) = rule(rules, "maxItems", "max_items").and_then(Json::as_u64)
            && (count as u64) > max
        {
            return Err(format!("{} has more than {max} items", shown(value)));
        }
    }
    if let Json::Object(fields) = value {
        let names = |key: &str, alias: &str| -> Vec<String> {
            rule(rules, key, alias)
                .and_then(Json::as_array)
                .map(|keys| keys.iter().map(python::str_of).collect())
                .unwrap_or_default()
        };
        if let Some(keys) = rule(rules, "keys", "keys").and_then(Json::as_array) {
            let mut wanted: Vec<String> = keys.iter().map(python::str_of).collect();
            let mut given: Vec<String> = fields.keys().cloned().collect();
            wanted.sort();
            given.sort();
            if wanted != given {
                return Err(format!(
                    "{} must have exactly the keys {}",
                    shown(value),
                    wanted.join(", ")
                ));
            }
        }
        let required = names("containsKeys", "contains_keys");
        if let Some(missing) = required.iter().find(|key| !fields.contains_key(*key)) {
            return Err(format!("{} lacks the key `{missing}`", shown(value)));
        }
        let excluded = names("excludesKeys", "excludes_keys");
        if let Some(present) = excluded.iter().find(|key| fields.contains_key(*key)) {
            return Err(format!(
                "{} must not have the key `{present}`",
                shown(value)
            ));
        }
    }
    Ok(())
}

/// Python's `%` on floats: the remainder takes the divisor's sign, and is exact, so `0.25 % 0.05`
/// is not 0 (0.05 has no exact binary form).
fn python_modulo(value: f64, divisor: f64) -> f64 {
    let remainder = value % divisor;
    if remainder != 0.0 && (remainder < 0.0) != (divisor < 0.0) {
        remainder + divisor
    } else {
        remainder
    }
}

/// A bound rule: its name, whether a value keeps it, and how a message says it.
type Bound = (&'static str, fn(f64, f64) -> bool, &'static str);

/// A rule by its camelCase name or its snake_case one.
fn rule<'a>(rules: &'a Json, key: &str, alias: &str) -> Option<&'a Json> {
    rules
        .get(key)
        .or_else(|| rules.get(alias))
        .filter(|rule| !rule.is_null())
}

fn shown(value: &Json) -> String {
    format!("`{}`", python::str_of(value))
}

fn validate_item(value: &Json, rules: &Json) -> Result<(), String> {
    // Python compares booleans as numbers, and fails on rules of the wrong type.
    let number = match value {
        Json::Number(number) => number.as_f64(),
        Json::Bool(flag) => Some(f64::from(u8::from(*flag))),
        _ => None,
    };
    for key in ["gt", "ge", "lt", "le", "multipleOf", "multiple_of"] {
        if number.is_none() && rule(rules, key, key).is_some() {
            return Err(format!(
                "{} is not a number, which the rule `{key}` compares",
                shown(value)
            ));
        }
    }
    for key in [
        "regex",
        "minLength",
        "min_length",
        "maxLength",
        "max_length",
        "contains",
        "excludes",
    ] {
        if !value.is_string() && rule(rules, key, key).is_some() {
            return Err(format!(
                "{} is not text, which the rule `{key}` reads",
                shown(value)
            ));
        }
    }
    let bound = |key: &str| rule(rules, key, key).and_then(Json::as_f64);
    if let Some(number) = number {
        let checks: [Bound; 4] = [
            ("gt", |value, bound| value > bound, "greater than"),
            (
                "ge",
                |value, bound| value >= bound,
                "greater than or equal to",
            ),
            ("lt", |value, bound| value < bound, "less than"),
            ("le", |value, bound| value <= bound, "less than or equal to"),
        ];
        for (key, holds, words) in checks {
            if let Some(limit) = bound(key)
                && !holds(number, limit)
            {
                return Err(format!(
                    "{} must be {words} `{}`",
                    shown(value),
                    python::str_of(&rules[key])
                ));
            }
        }
        if let Some(step) = rule(rules, "multipleOf", "multiple_of").and_then(Json::as_f64)
            && step != 0.0
            && python_modulo(number, step) != 0.0
        {
            return Err(format!("{} must be a multiple of `{step}`", shown(value)));
        }
    }
    if number.is_some() || value.is_string() {
        let text = python::str_of(value);
        let digits = text.replace('.', "").trim_start_matches('-').len() as u64;
        if let Some(min) = rule(rules, "minDigits", "min_digits").and_then(Json::as_u64)
            && digits < min
        {
            return Err(format!("{} must have at least {min} digits", shown(value)));
        }
        if let Some(max) = rule(rules, "maxDigits", "max_digits").and_then(Json::as_u64)
            && digits > max
        {
            return Err(format!("{} must have at most {max} digits", shown(value)));
        }
        if let Some(places) = rule(rules, "decimalPlaces", "decimal_places").and_then(Json::as_u64)
            && let Some((_, decimals)) = text.split_once('.')
            && decimals.len() as u64 > places
        {
            return Err(format!(
                "{} must have at most {places} decimal places",
                shown(value)
            ));
        }
    }
    if let Json::String(text) = value {
        if let Some(pattern) = rule(rules, "regex", "regex").and_then(Json::as_str) {
            // Python's `re.match`: the pattern must match at the start.
            let anchored = format!("^(?:{pattern})");
            match regex_lite::Regex::new(&anchored) {
                Ok(regex) if regex.is_match(text) => {}
                Ok(_) => return Err(format!("{} must match the regex `{pattern}`", shown(value))),
                Err(error) => return Err(format!("the regex `{pattern}` is not valid: {error}")),
            }
        }
        let length = text.chars().count() as u64;
        if let Some(min) = rule(rules, "minLength", "min_length").and_then(Json::as_u64)
            && length < min
        {
            return Err(format!(
                "{} must have at least {min} characters",
                shown(value)
            ));
        }
        if let Some(max) = rule(rules, "maxLength", "max_length").and_then(Json::as_u64)
            && length > max
        {
            return Err(format!(
                "{} must have at most {max} characters",
                shown(value)
            ));
        }
        if let Some(needle) = rule(rules, "contains", "contains").and_then(Json::as_str)
            && !text.contains(needle)
        {
            return Err(format!("{} must contain `{needle}`", shown(value)));
        }
        if let Some(needle) = rule(rules, "excludes", "excludes").and_then(Json::as_str)
            && text.contains(needle)
        {
            return Err(format!("{} must not contain `{needle}`", shown(value)));
        }
    }
    if let Some(Json::Array(options)) = rule(rules, "options", "options")
        && !options.contains(value)
    {
        let options: Vec<String> = options.iter().map(Json::to_string).collect();
        return Err(format!("{value} is not one of {}", options.join(", ")));
    }
    Ok(())
}
