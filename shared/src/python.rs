//! The few Python behaviours Polyaxon's output depends on: how `str()` and `repr()` print a
//! value, and what `ast.literal_eval` reads back from a rendered string.

use serde_json::{Map, Number, Value as Json};

/// Python's `repr()` of a float: the shortest text that reads back as the same float, with an
/// exponent below 1e-4 and from 1e16 on (`1e-05`, `1e+16`), and always a dot or an exponent.
pub fn float_repr(value: f64) -> String {
    if value.is_nan() {
        return "nan".to_owned();
    }
    if value.is_infinite() {
        return if value > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    if value == 0.0 {
        return if value.is_sign_negative() {
            "-0.0"
        } else {
            "0.0"
        }
        .to_owned();
    }
    shortest_float(value, -4, 2)
}

/// The shortest text that reads back as the finite, non-zero `value`: plain (with a dot) for
/// decimal exponents from `plain_from` to 15, else with an exponent of at least
/// `exponent_digits` digits. Python's `repr()` and orjson differ only in those two.
fn shortest_float(value: f64, plain_from: i32, exponent_digits: usize) -> String {
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if (plain_from..16).contains(&exponent) {
        let plain = format!("{value}");
        if plain.contains('.') {
            plain
        } else {
            format!("{plain}.0")
        }
    } else {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!(
            "{mantissa}e{sign}{:0exponent_digits$}",
            exponent.unsigned_abs()
        )
    }
}

/// Python's `str()` of a value: text as it is, everything else as its `repr()`.
pub fn str_of(value: &Json) -> String {
    match value {
        Json::String(text) => text.clone(),
        other => repr_of(other),
    }
}

/// Python's `repr()` of a value loaded from JSON.
pub fn repr_of(value: &Json) -> String {
    match value {
        Json::Null => "None".to_owned(),
        Json::Bool(true) => "True".to_owned(),
        Json::Bool(false) => "False".to_owned(),
        Json::Number(number) => number_repr(number),
        Json::String(text) => string_repr(text),
        Json::Array(items) => format!(
            "[{}]",
            items.iter().map(repr_of).collect::<Vec<_>>().join(", ")
        ),
        Json::Object(fields) => format!(
            "{{{}}}",
            fields
                .iter()
                .map(|(key, value)| format!("{}: {}", string_repr(key), repr_of(value)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn number_repr(number: &Number) -> String {
    if number.is_f64() {
        float_repr(number.as_f64().unwrap_or_default())
    } else {
        number.to_string()
    }
}

/// The JSON text of a value as `orjson.dumps` writes it, which is how Polyaxon turns a number,
/// list or mapping into text (clipped's `GenericStr`): compact, keys in their order, floats as
/// [`orjson_float`] writes them.
pub fn orjson_dumps(value: &Json) -> String {
    let mut out = String::new();
    write_orjson(value, &mut out);
    out
}

fn write_orjson(value: &Json, out: &mut String) {
    match value {
        Json::Number(number) if number.is_f64() => {
            out.push_str(&orjson_float(number.as_f64().unwrap_or_default()));
        }
        Json::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_orjson(item, out);
            }
            out.push(']');
        }
        Json::Object(fields) => {
            out.push('{');
            for (index, (key, item)) in fields.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                out.push_str(&Json::String(key.clone()).to_string());
                out.push(':');
                write_orjson(item, out);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// A float as `orjson.dumps` writes it: like Python's `repr()`, but plain from 1e-5 on rather
/// than 1e-4 (`0.00001`), with an unpadded exponent otherwise (`1e-6`, `1e+16`), and `null`
/// for infinities and NaN, which JSON has no words for.
pub fn orjson_float(value: f64) -> String {
    if !value.is_finite() {
        return "null".to_owned();
    }
    if value == 0.0 {
        return float_repr(value);
    }
    shortest_float(value, -5, 1)
}

/// Python's `repr()` of a string: single quotes unless the text has one and no double quote.
pub fn string_repr(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(text.len() + 2);
    out.push(quote);
    for character in text.chars() {
        match character {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's `ast.literal_eval`: numbers, strings, `True`/`False`/`None`, and lists, tuples and
/// dicts of them. `None` when the text is not such a literal.
pub fn literal_eval(text: &str) -> Option<Json> {
    // Most strings are plain words; only these can start a literal.
    let first = text.trim_start_matches([' ', '\t']).chars().next()?;
    if !(first.is_ascii_digit() || "[({'\"+-.TFN".contains(first)) {
        return None;
    }
    let mut parser = Literal {
        chars: text.trim_start_matches([' ', '\t']).chars().collect(),
        at: 0,
        depth: 0,
    };
    let value = parser.expression()?;
    parser.skip_space();
    (parser.at == parser.chars.len()).then_some(value)
}

/// Python's tokenizer refuses brackets nested deeper than this ("too many nested
/// parentheses"), so `literal_eval` fails there; so does this reader, which keeps its recursion
/// bounded on any text.
const MAX_NESTING: usize = 200;

struct Literal {
    chars: Vec<char>,
    at: usize,
    /// Brackets open at the current position.
    depth: usize,
}

impl Literal {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while self
            .peek()
            .is_some_and(|c| c == ' ' || c == '\t' || c == '\n' || c == '\r')
        {
            self.at += 1;
        }
    }

    fn eat(&mut self, expected: char) -> bool {
        self.skip_space();
        if self.peek() == Some(expected) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expression(&mut self) -> Option<Json> {
        self.skip_space();
        let opens = matches!(self.peek()?, '[' | '(' | '{');
        if opens && self.depth == MAX_NESTING {
            return None;
        }
        self.depth += usize::from(opens);
        let value = self.value();
        self.depth -= usize::from(opens);
        value
    }

    fn value(&mut self) -> Option<Json> {
        match self.peek()? {
            '[' => {
                self.at += 1;
                self.sequence(']').map(Json::Array)
            }
            '(' => {
                self.at += 1;
                // `(x)` is x; `(x,)` and `(x, y)` are tuples, read as lists.
                let start = self.at;
                if let Some(items) = self.sequence(')') {
                    let text: String = self.chars[start..self.at].iter().collect();
                    if items.len() == 1 && !text.trim_end_matches(')').trim_end().ends_with(',') {
                        return items.into_iter().next();
                    }
                    return Some(Json::Array(items));
                }
                None
            }
            '{' => {
                self.at += 1;
                self.dict()
            }
            '\'' | '"' => self.strings(),
            _ => self.atom(),
        }
    }

    fn sequence(&mut self, close: char) -> Option<Vec<Json>> {
        let mut items = Vec::new();
        loop {
            if self.eat(close) {
                return Some(items);
            }
            items.push(self.expression()?);
            if self.eat(close) {
                return Some(items);
            }
            if !self.eat(',') {
                return None;
            }
        }
    }

    fn dict(&mut self) -> Option<Json> {
        let mut fields = Map::new();
        loop {
            if self.eat('}') {
                return Some(Json::Object(fields));
            }
            let key = match self.expression()? {
                Json::String(key) => key,
                Json::Number(number) => number.to_string(),
                Json::Bool(flag) => if flag { "True" } else { "False" }.to_owned(),
                Json::Null => "None".to_owned(),
                _ => return None,
            };
            if !self.eat(':') {
                return None;
            }
            let value = self.expression()?;
            fields.insert(key, value);
            if self.eat('}') {
                return Some(Json::Object(fields));
            }
            if !self.eat(',') {
                return None;
            }
        }
    }

    /// One string literal or several written side by side, which Python joins.
    fn strings(&mut self) -> Option<Json> {
        let mut joined = String::new();
        while matches!(self.peek(), Some('\'' | '"')) {
            joined.push_str(&self.string()?);
            self.skip_space();
        }
        Some(Json::String(joined))
    }

    fn string(&mut self) -> Option<String> {
        let quote = self.peek()?;
        let triple = self.chars.get(self.at..self.at + 3) == Some(&[quote, quote, quote][..]);
        self.at += if triple { 3 } else { 1 };
        let mut out = String::new();
        loop {
            let c = self.peek()?;
            if c == quote {
                if !triple {
                    self.at += 1;
                    return Some(out);
                }
                if self.chars.get(self.at..self.at + 3) == Some(&[quote, quote, quote][..]) {
                    self.at += 3;
                    return Some(out);
                }
            }
            if c == '\n' && !triple {
                return None;
            }
            self.at += 1;
            if c != '\\' {
                out.push(c);
                continue;
            }
            let escaped = self.peek()?;
            self.at += 1;
            match escaped {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                '0' => out.push('\0'),
                '\\' | '\'' | '"' => out.push(escaped),
                '\n' => {}
                'x' => {
                    let hex: String = self.chars.get(self.at..self.at + 2)?.iter().collect();
                    self.at += 2;
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                'u' => {
                    let hex: String = self.chars.get(self.at..self.at + 4)?.iter().collect();
                    self.at += 4;
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                other => {
                    out.push('\\');
                    out.push(other);
                }
            }
        }
    }

    fn atom(&mut self) -> Option<Json> {
        let start = self.at;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-'))
        {
            // A sign only starts a number or follows an exponent's `e`.
            let c = self.peek()?;
            if matches!(c, '+' | '-')
                && self.at != start
                && !matches!(self.chars[self.at - 1], 'e' | 'E')
            {
                break;
            }
            self.at += 1;
        }
        let word: String = self.chars[start..self.at].iter().collect();
        match word.as_str() {
            "True" => Some(Json::Bool(true)),
            "False" => Some(Json::Bool(false)),
            "None" => Some(Json::Null),
            _ => number(&word),
        }
    }
}

fn number(word: &str) -> Option<Json> {
    let (negative, body) = match word.strip_prefix('-') {
        Some(body) => (true, body),
        None => (false, word.strip_prefix('+').unwrap_or(word)),
    };
    if body.is_empty() || body.starts_with(['+', '-', '_']) || body.ends_with('_') {
        return None;
    }
    let digits = body.replace('_', "");
    let radix = match digits.get(..2) {
        Some("0x" | "0X") => Some(16),
        Some("0o" | "0O") => Some(8),
        Some("0b" | "0B") => Some(2),
        _ => None,
    };
    if let Some(radix) = radix {
        let value = i64::from_str_radix(&digits[2..], radix).ok()?;
        return Some(Json::from(if negative { -value } else { value }));
    }
    let is_float = digits.contains(['.', 'e', 'E']);
    if !digits.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return None;
    }
    if is_float {
        let value: f64 = digits.parse().ok()?;
        return Number::from_f64(if negative { -value } else { value }).map(Json::Number);
    }
    // Python forbids leading zeros in a decimal integer other than 0 itself.
    if digits.len() > 1 && digits.starts_with('0') && digits.chars().any(|c| c != '0') {
        return None;
    }
    let value: i64 = digits.parse().ok()?;
    Some(Json::from(if negative { -value } else { value }))
}
