//! A matrix's runs: the params each child of a `grid`, `random` or `mapping` matrix gets, drawn
//! as Polyaxon's tuner (hypertune) draws them, from a compiled operation's `matrix` section.
//!
//! | kind | children |
//! |---|---|
//! | `grid` | every combination, the last param varying fastest (`itertools.product` in the params' written order), cut to `numRuns` |
//! | `random` | `numRuns` distinct draws, each param drawn in the written order; no more than the space holds when every param is discrete |
//! | `mapping` | one per item of `values` |
//!
//! The hyperparameter kinds are read as Polyaxon reads them: `range` is numpy's `arange`
//! (`stop` excluded), `linspace`/`logspace`/`geomspace` include `stop`, `loguniform` is
//! `exp(uniform(low, high))` (its bounds are logarithms), the `q` kinds are
//! `floor(value / q) * q`, `daterange` steps in days and `datetimerange` in seconds. The draws
//! come from a seeded generator of our own (xoshiro256**), not numpy's: the same seed always
//! gives the same children here, which are not the children numpy would draw.
//!
//! Work is bounded: a matrix makes at most [`MAX_RUNS`] children, sequences are read lazily (a
//! `range` of a billion values costs nothing until a value is asked for), and a random search
//! gives up drawing after a bounded number of repeats.

use serde_json::{Map, Value as Json};

use crate::time::Timestamp;

/// The most children one matrix makes.
pub const MAX_RUNS: usize = 100_000;

/// One child's params: a value per matrix param.
pub type Suggestion = Map<String, Json>;

/// The params of a matrix's children, in the order they are created. `order` is the order the
/// params were written in (a compiled operation's maps are sorted; Polyaxon's are not), names
/// it misses coming after it in their sorted order; `seed` is used when the matrix names none.
pub fn suggestions(matrix: &Json, order: &[String], seed: u64) -> Result<Vec<Suggestion>, String> {
    let kind = matrix
        .get("kind")
        .and_then(Json::as_str)
        .ok_or("the matrix has no `kind`")?;
    let num_runs = match matrix.get("numRuns") {
        None | Some(Json::Null) => None,
        Some(value) => Some(
            value
                .as_u64()
                .filter(|runs| *runs > 0)
                .ok_or("`numRuns` must be a positive whole number")?,
        ),
    };
    match kind {
        "grid" => grid(&params(matrix, order)?, num_runs),
        "random" => {
            let seed = matrix.get("seed").and_then(Json::as_u64).unwrap_or(seed);
            let runs = num_runs.ok_or("a random search needs `numRuns`: how many runs to draw")?;
            random(&params(matrix, order)?, runs, seed)
        }
        "mapping" => mapping(matrix),
        other => Err(format!(
            "a `{other}` matrix chooses its runs from its earlier runs' results: they are not \
             known in advance"
        )),
    }
}

/// `num_runs` distinct configs of the matrix's params, drawn as a random search with `seed`
/// draws them: how hyperband starts each bracket (Polyaxon's tuner runs a random search there).
pub fn draw(
    matrix: &Json,
    order: &[String],
    num_runs: u64,
    seed: u64,
) -> Result<Vec<Suggestion>, String> {
    let seed = matrix.get("seed").and_then(Json::as_u64).unwrap_or(seed);
    random(&params(matrix, order)?, num_runs, seed)
}

fn grid(params: &[(String, Space)], num_runs: Option<u64>) -> Result<Vec<Suggestion>, String> {
    let mut sizes = Vec::with_capacity(params.len());
    for (name, space) in params {
        match space {
            Space::Discrete(values) => sizes.push(values.len()),
            Space::Distribution(_) => {
                return Err(format!(
                    "`{name}` defines a distribution, and it cannot be used with grid search."
                ));
            }
        }
    }
    let total = sizes
        .iter()
        .try_fold(1_usize, |product, size| product.checked_mul(*size));
    let wanted = match (total, num_runs) {
        (Some(total), Some(runs)) => total.min(usize::try_from(runs).unwrap_or(usize::MAX)),
        (Some(total), None) => total,
        (None, Some(runs)) => usize::try_from(runs).unwrap_or(usize::MAX),
        (None, None) => usize::MAX,
    };
    check_count(wanted)?;
    let mut children = Vec::with_capacity(wanted);
    let mut digits = vec![0_usize; params.len()];
    for _ in 0..wanted {
        children.push(
            params
                .iter()
                .zip(&digits)
                .map(|((name, space), index)| (name.clone(), space.value_at(*index)))
                .collect(),
        );
        // The next combination: the last param turns fastest, as in `itertools.product`.
        for (digit, size) in digits.iter_mut().zip(&sizes).rev() {
            *digit += 1;
            if *digit < *size {
                break;
            }
            *digit = 0;
        }
    }
    Ok(children)
}

fn random(params: &[(String, Space)], num_runs: u64, seed: u64) -> Result<Vec<Suggestion>, String> {
    let mut wanted = usize::try_from(num_runs).unwrap_or(usize::MAX);
    let space = params
        .iter()
        .map(|(_, space)| match space {
            Space::Discrete(values) => Some(values.len()),
            Space::Distribution(_) => None,
        })
        .try_fold(1_usize, |product, size| {
            size.map(|size| product.saturating_mul(size))
        });
    if let Some(space) = space {
        wanted = wanted.min(space);
    }
    check_count(wanted)?;
    let mut rng = Rng::new(seed);
    let mut children: Vec<Suggestion> = Vec::with_capacity(wanted);
    let mut seen = std::collections::HashSet::with_capacity(wanted);
    // Repeats are drawn again, as Polyaxon does; a space nearly used up could make that
    // endless, so the draws are bounded.
    let mut draws_left = wanted.saturating_mul(100).max(1_000);
    while children.len() < wanted {
        if draws_left == 0 {
            return Err(format!(
                "drew {} distinct runs of the {wanted} asked for before giving up: the space \
                 has too few distinct values",
                children.len()
            ));
        }
        draws_left -= 1;
        let child: Suggestion = params
            .iter()
            .map(|(name, space)| (name.clone(), space.sample(&mut rng)))
            .collect();
        if seen.insert(Json::Object(child.clone()).to_string()) {
            children.push(child);
        }
    }
    Ok(children)
}

fn mapping(matrix: &Json) -> Result<Vec<Suggestion>, String> {
    let values = matrix
        .get("values")
        .and_then(Json::as_array)
        .ok_or("a mapping needs `values`: a list of params, one item a run")?;
    check_count(values.len())?;
    values
        .iter()
        .enumerate()
        .map(|(index, item)| {
            item.as_object()
                .cloned()
                .ok_or_else(|| format!("`values[{index}]` must map param names to values"))
        })
        .collect()
}

/// The values of a finite param kind (`choice`, `range`, `linspace`, `logspace`, `geomspace`,
/// the date ranges) in their order, at most [`MAX_RUNS`] of them; an error for a distribution.
pub(crate) fn finite_values(kind: &str, value: &Json) -> Result<Vec<Json>, String> {
    match Space::read(kind, value)? {
        Space::Discrete(sequence) => {
            check_count(sequence.len())?;
            if sequence.len() == 0 {
                return Err("it has no values".to_owned());
            }
            Ok((0..sequence.len())
                .map(|index| sequence.at(index))
                .collect())
        }
        Space::Distribution(_) => Err(format!("`{kind}` is a distribution, not a list")),
    }
}

fn check_count(runs: usize) -> Result<(), String> {
    if runs > MAX_RUNS {
        return Err(format!(
            "the matrix makes {} runs; at most {MAX_RUNS} may come from one matrix (set \
             `numRuns`, or split the search)",
            if runs == usize::MAX {
                "more than 2^64".to_owned()
            } else {
                runs.to_string()
            }
        ));
    }
    Ok(())
}

/// The matrix's params in `order`, then the rest sorted.
fn params(matrix: &Json, order: &[String]) -> Result<Vec<(String, Space)>, String> {
    let params = matrix
        .get("params")
        .and_then(Json::as_object)
        .ok_or("the matrix has no `params`")?;
    ordered_names(params, order)
        .into_iter()
        .map(|name| {
            let param = &params[&name];
            let kind = param.get("kind").and_then(Json::as_str).unwrap_or_default();
            let value = param.get("value").unwrap_or(&Json::Null);
            Space::read(kind, value)
                .map(|space| (name.clone(), space))
                .map_err(|why| format!("matrix param `{name}` ({kind}): {why}"))
        })
        .collect()
}

/// The names of `params` in `order`, then the rest sorted.
pub(crate) fn ordered_names(params: &Map<String, Json>, order: &[String]) -> Vec<String> {
    let mut names: Vec<String> = Vec::with_capacity(params.len());
    for name in order.iter().chain(params.keys()) {
        if params.contains_key(name) && !names.contains(name) {
            names.push(name.clone());
        }
    }
    names
}

/// Where a param's values come from.
#[derive(Debug, Clone, PartialEq)]
enum Space {
    /// A finite list of values, read lazily.
    Discrete(Sequence),
    /// A distribution to draw from.
    Distribution(Distribution),
}

/// A finite list of values, each computed when asked for.
#[derive(Debug, Clone, PartialEq)]
enum Sequence {
    /// Written out (`choice`).
    List(Vec<Json>),
    /// `start + i * step` (`range`), numpy's `arange`.
    Arithmetic { start: f64, step: f64, len: usize },
    /// `num` values from `start` to `stop` included (`linspace`), or `base` to their powers
    /// (`logspace`).
    Linear {
        start: f64,
        stop: f64,
        num: usize,
        base: Option<f64>,
    },
    /// `num` values from `start` to `stop` included, evenly spaced in logarithm (`geomspace`).
    Geometric { start: f64, stop: f64, num: usize },
    /// Times `step` microseconds apart from `start`, written as dates or as times.
    Times {
        start: Timestamp,
        step_micros: i64,
        len: usize,
        dates: bool,
    },
}

/// A distribution, as Polyaxon's kinds name it.
#[derive(Debug, Clone, PartialEq)]
enum Distribution {
    PChoice(Vec<(Json, f64)>),
    Uniform {
        low: f64,
        high: f64,
        q: Option<f64>,
        log: bool,
    },
    Normal {
        loc: f64,
        scale: f64,
        q: Option<f64>,
        log: bool,
    },
}

impl Space {
    fn read(kind: &str, value: &Json) -> Result<Self, String> {
        let field = |name: &str| -> Result<f64, String> {
            value
                .get(name)
                .and_then(Json::as_f64)
                .ok_or_else(|| format!("`value.{name}` must be a number"))
        };
        let count = |name: &str| -> Result<usize, String> {
            let number = field(name)?;
            if number < 0.0 || number.fract() != 0.0 {
                return Err(format!(
                    "`value.{name}` must be a whole number, not {number}"
                ));
            }
            Ok(number as usize)
        };
        let q = || value.get("q").map(|_| field("q")).transpose();
        let space = match kind {
            "choice" => Space::Discrete(Sequence::List(
                value
                    .as_array()
                    .ok_or("`value` must be a list of values")?
                    .clone(),
            )),
            "range" => {
                let (start, stop, step) = (field("start")?, field("stop")?, field("step")?);
                if step == 0.0 || !step.is_finite() {
                    return Err("`step` must be a number other than 0".to_owned());
                }
                Space::Discrete(Sequence::Arithmetic {
                    start,
                    step,
                    len: steps(start, stop, step),
                })
            }
            "linspace" | "logspace" => Space::Discrete(Sequence::Linear {
                start: field("start")?,
                stop: field("stop")?,
                num: count("num")?,
                base: (kind == "logspace")
                    .then(|| value.get("base").and_then(Json::as_f64).unwrap_or(10.0)),
            }),
            "geomspace" => {
                let (start, stop) = (field("start")?, field("stop")?);
                if start == 0.0 || stop == 0.0 || (start < 0.0) != (stop < 0.0) {
                    return Err("`start` and `stop` must be non-zero and of one sign".to_owned());
                }
                Space::Discrete(Sequence::Geometric {
                    start,
                    stop,
                    num: count("num")?,
                })
            }
            "daterange" | "datetimerange" => {
                let dates = kind == "daterange";
                let time = |name: &str| {
                    value
                        .get(name)
                        .and_then(Json::as_str)
                        .and_then(|text| Timestamp::parse(&text.replacen(' ', "T", 1)))
                        .ok_or_else(|| format!("`value.{name}` must be a date"))
                };
                let (start, stop) = (time("start")?, time("stop")?);
                let unit: f64 = if dates { 86_400_000_000.0 } else { 1_000_000.0 };
                let step = field("step")?;
                let step_micros = (step * unit) as i64;
                if step_micros == 0 {
                    return Err("`step` must not be 0".to_owned());
                }
                let span = (stop.as_micros() - start.as_micros()) as f64;
                Space::Discrete(Sequence::Times {
                    start,
                    step_micros,
                    len: steps(0.0, span, step_micros as f64),
                    dates,
                })
            }
            "pchoice" => {
                let items = value
                    .as_array()
                    .ok_or("`value` must be a list of [value, probability]")?;
                let mut choices = Vec::with_capacity(items.len());
                for item in items {
                    let pair = item.as_array().filter(|pair| pair.len() == 2);
                    let probability = pair.and_then(|pair| pair[1].as_f64());
                    let (Some(pair), Some(probability)) = (pair, probability) else {
                        return Err(format!("`{item}` is not a [value, probability] pair"));
                    };
                    choices.push((pair[0].clone(), probability));
                }
                let total: f64 = choices.iter().map(|(_, p)| p).sum();
                if choices.iter().any(|(_, p)| *p < 0.0) || total > 1.0 + 1e-9 || total <= 0.0 {
                    return Err(
                        "The distribution of different outcomes should sum to 1.".to_owned()
                    );
                }
                Space::Distribution(Distribution::PChoice(choices))
            }
            "uniform" | "quniform" | "loguniform" | "qloguniform" => {
                Space::Distribution(Distribution::Uniform {
                    low: field("low")?,
                    high: field("high")?,
                    q: if kind.starts_with('q') {
                        Some(q()?.ok_or("`value.q` is missing")?)
                    } else {
                        None
                    },
                    log: kind.contains("log"),
                })
            }
            "normal" | "qnormal" | "lognormal" | "qlognormal" => {
                Space::Distribution(Distribution::Normal {
                    loc: field("loc")?,
                    scale: field("scale")?,
                    q: if kind.starts_with('q') {
                        Some(q()?.ok_or("`value.q` is missing")?)
                    } else {
                        None
                    },
                    log: kind.contains("log"),
                })
            }
            other => return Err(format!("`{other}` is not a hyperparameter kind")),
        };
        Ok(space)
    }

    fn value_at(&self, index: usize) -> Json {
        match self {
            Space::Discrete(sequence) => sequence.at(index),
            Space::Distribution(_) => Json::Null,
        }
    }

    fn sample(&self, rng: &mut Rng) -> Json {
        match self {
            Space::Discrete(sequence) if sequence.len() == 0 => Json::Null,
            Space::Discrete(sequence) => sequence.at(rng.below(sequence.len())),
            Space::Distribution(distribution) => distribution.sample(rng),
        }
    }
}

/// How many values numpy's `arange(start, stop, step)` has.
fn steps(start: f64, stop: f64, step: f64) -> usize {
    let count = ((stop - start) / step).ceil();
    if count.is_finite() && count > 0.0 {
        // Saturates: a grid over it is refused by its size, a random draw needs only the length.
        count.min(usize::MAX as f64) as usize
    } else {
        0
    }
}

impl Sequence {
    fn len(&self) -> usize {
        match self {
            Sequence::List(values) => values.len(),
            Sequence::Arithmetic { len, .. } | Sequence::Times { len, .. } => *len,
            Sequence::Linear { num, .. } | Sequence::Geometric { num, .. } => *num,
        }
    }

    fn at(&self, index: usize) -> Json {
        let number =
            |value: f64| serde_json::Number::from_f64(value).map_or(Json::Null, Json::Number);
        match self {
            Sequence::List(values) => values.get(index).cloned().unwrap_or(Json::Null),
            Sequence::Arithmetic { start, step, .. } => number(start + index as f64 * step),
            Sequence::Linear {
                start,
                stop,
                num,
                base,
            } => {
                let exponent = linear(*start, *stop, *num, index);
                number(base.map_or(exponent, |base| base.powf(exponent)))
            }
            Sequence::Geometric { start, stop, num } => {
                let sign = start.signum();
                let exponent = linear(start.abs().log10(), stop.abs().log10(), *num, index);
                let value = if index == 0 {
                    *start
                } else if index + 1 == *num {
                    *stop
                } else {
                    sign * 10_f64.powf(exponent)
                };
                number(value)
            }
            Sequence::Times {
                start,
                step_micros,
                dates,
                ..
            } => {
                let offset = i64::try_from(index).unwrap_or(i64::MAX);
                let time = start.plus_micros(step_micros.saturating_mul(offset));
                let text = time.to_string();
                Json::String(if *dates {
                    text[..10].to_owned()
                } else {
                    text[..19].to_owned()
                })
            }
        }
    }
}

/// numpy's `linspace(start, stop, num)[index]`: the last value is `stop` exactly.
fn linear(start: f64, stop: f64, num: usize, index: usize) -> f64 {
    if num <= 1 {
        return start;
    }
    if index + 1 == num {
        return stop;
    }
    start + index as f64 * ((stop - start) / (num - 1) as f64)
}

impl Distribution {
    fn sample(&self, rng: &mut Rng) -> Json {
        let number =
            |value: f64| serde_json::Number::from_f64(value).map_or(Json::Null, Json::Number);
        let quantize = |value: f64, q: Option<f64>| match q {
            Some(q) if q > 0.0 => (value / q).floor() * q,
            _ => value,
        };
        match self {
            Distribution::PChoice(choices) => {
                let mut draw = rng.unit();
                for (value, probability) in choices {
                    if draw < *probability {
                        return value.clone();
                    }
                    draw -= probability;
                }
                choices
                    .last()
                    .map_or(Json::Null, |(value, _)| value.clone())
            }
            Distribution::Uniform { low, high, q, log } => {
                let value = low + (high - low) * rng.unit();
                number(quantize(if *log { value.exp() } else { value }, *q))
            }
            Distribution::Normal { loc, scale, q, log } => {
                let value = loc + scale * rng.normal();
                number(quantize(if *log { value.exp() } else { value }, *q))
            }
        }
    }
}

/// xoshiro256**, seeded through splitmix64: the matrix's randomness, from the caller's seed.
#[derive(Debug, Clone)]
pub struct Rng([u64; 4]);

impl Rng {
    /// A generator whose draws are fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        let mut state = seed;
        let mut next = || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Self([next(), next(), next(), next()])
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let [a, b, c, d] = &mut self.0;
        let result = b.wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = *b << 17;
        *c ^= *a;
        *d ^= *b;
        *b ^= *c;
        *a ^= *d;
        *c ^= t;
        *d = d.rotate_left(45);
        result
    }

    /// A number in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1_u64 << 53) as f64
    }

    /// A whole number in `[0, bound)`; `bound` must not be 0.
    pub fn below(&mut self, bound: usize) -> usize {
        // Widening multiplication: unbiased enough for any bound a matrix has.
        ((u128::from(self.next_u64()) * bound as u128) >> 64) as usize
    }

    /// A draw of the standard normal distribution (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u = 1.0 - self.unit();
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// A child's value for an input of `io_type`: a whole float for an `int` input is an int
/// (numpy's `arange` gives floats, which an `int` input refuses).
pub fn typed(value: Json, io_type: Option<&str>) -> Json {
    match (io_type, &value) {
        (Some("int"), Json::Number(number)) => match number.as_f64() {
            Some(float) if float.fract() == 0.0 && float.abs() < 9.0e15 => Json::from(float as i64),
            _ => value,
        },
        _ => value,
    }
}

/// The names under `matrix.params` in the order a Polyaxonfile writes them: what
/// [`suggestions`] takes as `order`. Empty when the text does not read.
pub fn written_order(text: &str) -> Vec<String> {
    let Some(root) = crate::yaml::parse(text).0 else {
        return Vec::new();
    };
    let params = root
        .get("matrix")
        .or_else(|| {
            root.get("component")
                .and_then(|component| component.get("matrix"))
        })
        .and_then(|matrix| matrix.get("params"));
    match params.map(|params| &params.value) {
        Some(crate::yaml::Value::Map(entries)) => {
            entries.iter().map(|(key, _)| key.key_text()).collect()
        }
        _ => Vec::new(),
    }
}

/// The operation a matrix's child runs: the matrix's own Polyaxonfile (`content`) without its
/// `matrix`, with the child's params written in (each as `{value: …}`, typed by the inputs of
/// the compiled operation `compiled`), as JSON text, which reads as YAML too.
pub fn child_operation(
    content: &str,
    compiled: &Json,
    suggestion: &Suggestion,
) -> Result<String, String> {
    let mut fields = crate::pipeline::without(content, "matrix")?;
    let types: Map<String, Json> = compiled
        .get("inputs")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .filter_map(|io| {
            Some((
                io.get("name")?.as_str()?.to_owned(),
                io.get("type")?.clone(),
            ))
        })
        .collect();
    let params = fields
        .entry("params")
        .or_insert_with(|| Json::Object(Map::new()));
    if !params.is_object() {
        *params = Json::Object(Map::new());
    }
    let params = params.as_object_mut().expect("made an object above");
    for (name, value) in suggestion {
        let value = typed(value.clone(), types.get(name).and_then(Json::as_str));
        params.insert(name.clone(), serde_json::json!({ "value": value }));
    }
    Ok(Json::Object(fields).to_string())
}
