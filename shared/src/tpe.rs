//! Tree-structured Parzen Estimator for `tpe` matrices, as Polyaxon 2.18's tuner (hypertune's
//! `TPESampler`) reads the space: each param on its own, drawn from its prior until
//! [`STARTUP`] runs have reported, then from the runs split into the better fifth and the rest,
//! each modelled (a Parzen mixture of normals for numbers, smoothed counts for lists), keeping
//! of [`CANDIDATES`] draws from the better model the one most likelier under it than under the
//! other.
//!
//! As Polyaxon's does, each suggestion of a batch is counted as if it had reported the worst
//! value seen (the "constant liar"), so a batch spreads out; Myelin counts the runs still
//! running the same way, so it suggests as many runs as free places at any time instead of a
//! batch per iteration (polyaxon#707). Work is bounded: the latest [`MAX_OBSERVED`] reports
//! are modelled, [`crate::bayes::MAX_BATCH`] runs suggested at once, a truncated draw retried
//! a bounded number of times.

use std::collections::HashSet;

use serde_json::{Map, Value as Json};

use crate::matrix::{Rng, Suggestion};

/// Runs drawn from the prior before the reports are modelled (hypertune's `n_startup_trials`).
pub const STARTUP: usize = 10;
/// Draws from the better model per suggestion (hypertune's `n_ei_candidates`).
pub const CANDIDATES: usize = 24;
/// The most reports modelled: the latest ones.
pub const MAX_OBSERVED: usize = 5_000;
/// Tries at a suggestion unlike the runs already made, before one alike is taken.
const DISTINCT_TRIES: usize = 64;
/// Tries at a draw of a truncated mixture inside its bounds, before it is clamped.
const BOUNDED_TRIES: usize = 1_000;
/// hypertune's floor on densities, so a log never meets 0.
const EPS: f64 = 1e-12;

/// How one param is searched.
#[derive(Debug, Clone)]
enum Dimension {
    /// One of a list of values; `prior` weighs them for the startup draws (`pchoice`), else
    /// they are drawn alike.
    List {
        values: Vec<Json>,
        prior: Option<Vec<f64>>,
    },
    /// A number, modelled in an internal space: the logarithm of it for `log` kinds.
    Number(Numeric),
}

#[derive(Debug, Clone)]
struct Numeric {
    /// The prior's centre and spread, in the internal space.
    mean: f64,
    scale: f64,
    /// The uniform kinds' bounds, in the internal space: draws outside are refused.
    bounds: Option<(f64, f64)>,
    log: bool,
    q: Option<f64>,
}

impl Numeric {
    /// A reported value in the internal space; `None` when it cannot be there (out of
    /// bounds, not positive for a log kind): such a report is left out.
    fn internal(&self, value: &Json) -> Option<f64> {
        let mut value = value.as_f64().filter(|value| value.is_finite())?;
        if self.log {
            if value == 0.0 && self.q.is_some() {
                // A quantized log draw rounds small values to 0 (hypertune's own rule).
                value = self.q.unwrap_or(1.0) / 4.0;
            }
            if value <= 0.0 {
                return None;
            }
            value = value.ln();
        }
        match self.bounds {
            Some((low, high)) if self.q.is_some() => Some(value.clamp(low, high)),
            Some((low, high)) if !(low..=high).contains(&value) => None,
            _ => Some(value),
        }
    }

    /// An internal value as the run is given it: exponentiated, quantized, kept in bounds.
    fn external(&self, value: f64) -> Json {
        let mut value = if self.log { value.exp() } else { value };
        if let Some(q) = self.q.filter(|q| *q > 0.0) {
            value = (value / q).round() * q;
        }
        if let Some((low, high)) = self.bounds {
            let (low, high) = if self.log {
                (low.exp(), high.exp())
            } else {
                (low, high)
            };
            value = value.clamp(low, high);
        }
        serde_json::Number::from_f64(value).map_or(Json::Null, Json::Number)
    }
}

impl Dimension {
    fn read(kind: &str, value: &Json) -> Result<Self, String> {
        let field = |name: &str| {
            value
                .get(name)
                .and_then(Json::as_f64)
                .filter(|number| number.is_finite())
                .ok_or_else(|| format!("`value.{name}` must be a number"))
        };
        let q = || -> Result<Option<f64>, String> {
            if !kind.starts_with('q') {
                return Ok(None);
            }
            let q = field("q")?;
            if q <= 0.0 {
                return Err("`value.q` must be positive".to_owned());
            }
            Ok(Some(q))
        };
        match kind {
            "uniform" | "quniform" | "loguniform" | "qloguniform" => {
                let (low, high) = (field("low")?, field("high")?);
                if low >= high {
                    return Err("`low` must be smaller than `high`".to_owned());
                }
                Ok(Dimension::Number(Numeric {
                    mean: (low + high) / 2.0,
                    scale: high - low,
                    bounds: Some((low, high)),
                    log: kind.contains("log"),
                    q: q()?,
                }))
            }
            "normal" | "qnormal" | "lognormal" | "qlognormal" => {
                let scale = field("scale")?;
                if scale <= 0.0 {
                    return Err("`value.scale` must be positive".to_owned());
                }
                Ok(Dimension::Number(Numeric {
                    mean: field("loc")?,
                    scale,
                    bounds: None,
                    log: kind.contains("log"),
                    q: q()?,
                }))
            }
            "pchoice" => {
                let pairs = value
                    .as_array()
                    .ok_or("`value` must be a list of [value, probability]")?;
                let mut values = Vec::with_capacity(pairs.len());
                let mut weights = Vec::with_capacity(pairs.len());
                for pair in pairs {
                    let (Some(choice), Some(weight)) =
                        (pair.get(0), pair.get(1).and_then(Json::as_f64))
                    else {
                        return Err(format!("`{pair}` is not a [value, probability] pair"));
                    };
                    values.push(choice.clone());
                    weights.push(weight.max(0.0));
                }
                if values.is_empty() || weights.iter().sum::<f64>() <= 0.0 {
                    return Err("it has no values".to_owned());
                }
                Ok(Dimension::List {
                    values,
                    prior: Some(weights),
                })
            }
            _ => Ok(Dimension::List {
                values: crate::matrix::finite_values(kind, value)?,
                prior: None,
            }),
        }
    }

    /// A draw from the prior.
    fn prior(&self, rng: &mut Rng) -> Json {
        match self {
            Dimension::List { values, prior } => {
                let at = match prior {
                    Some(weights) => weighted(weights, rng),
                    None => rng.below(values.len()),
                };
                values[at].clone()
            }
            Dimension::Number(numeric) => {
                let value = match numeric.bounds {
                    Some((low, high)) => low + (high - low) * rng.unit(),
                    None => numeric.mean + numeric.scale * rng.normal(),
                };
                numeric.external(value)
            }
        }
    }

    /// A draw favoured by the `good` reports over the `bad` ones.
    fn guided(&self, good: &[&Json], bad: &[&Json], rng: &mut Rng) -> Json {
        match self {
            Dimension::List { values, .. } => {
                let good = Counts::new(values, good);
                let bad = Counts::new(values, bad);
                let mut best = (f64::NEG_INFINITY, 0);
                for _ in 0..CANDIDATES {
                    let at = weighted(&good.probabilities, rng);
                    let score = good.probabilities[at].ln() - bad.probabilities[at].ln();
                    if score > best.0 {
                        best = (score, at);
                    }
                }
                values[best.1].clone()
            }
            Dimension::Number(numeric) => {
                let internal = |values: &[&Json]| -> Vec<f64> {
                    values
                        .iter()
                        .filter_map(|value| numeric.internal(value))
                        .collect()
                };
                let good = Parzen::new(&internal(good), numeric);
                let bad = Parzen::new(&internal(bad), numeric);
                let mut best = (f64::NEG_INFINITY, numeric.mean);
                for _ in 0..CANDIDATES {
                    let candidate = good.sample(rng);
                    let score = good.log_pdf(candidate) - bad.log_pdf(candidate);
                    if score > best.0 {
                        best = (score, candidate);
                    }
                }
                numeric.external(best.1)
            }
        }
    }
}

/// A list param's smoothed frequencies: every value counted once more than it was reported.
struct Counts {
    probabilities: Vec<f64>,
}

impl Counts {
    fn new(values: &[Json], reported: &[&Json]) -> Self {
        let mut counts = vec![1.0; values.len()];
        for value in reported {
            if let Some(at) = values.iter().position(|known| known == *value) {
                counts[at] += 1.0;
            }
        }
        let total: f64 = counts.iter().sum();
        Self {
            probabilities: counts.into_iter().map(|count| count / total).collect(),
        }
    }
}

/// A mixture of normals, one at each reported value and one at the prior's centre, each as
/// wide as the distance to its nearest neighbour within `[scale / min(100, n + 1), scale]`,
/// truncated to the bounds when there are some.
struct Parzen {
    means: Vec<f64>,
    sigmas: Vec<f64>,
    bounds: Option<(f64, f64)>,
}

impl Parzen {
    fn new(observed: &[f64], numeric: &Numeric) -> Self {
        let mut means = observed.to_vec();
        means.push(numeric.mean);
        let floor = numeric.scale / (means.len() as f64 + 1.0).min(100.0);
        // Nearest neighbours from the sorted means: O(n log n) where hypertune's is O(n²).
        let mut order: Vec<usize> = (0..means.len()).collect();
        order.sort_by(|a, b| means[*a].total_cmp(&means[*b]));
        let mut sigmas = vec![numeric.scale; means.len()];
        for (rank, &at) in order.iter().enumerate() {
            let below = rank
                .checked_sub(1)
                .map(|before| means[at] - means[order[before]]);
            let above = order.get(rank + 1).map(|after| means[*after] - means[at]);
            let nearest = match (below, above) {
                (Some(below), Some(above)) => below.min(above),
                (Some(one), None) | (None, Some(one)) => one,
                (None, None) => numeric.scale,
            };
            sigmas[at] = nearest.clamp(floor, numeric.scale);
        }
        // The prior's own component keeps the prior's width.
        if let Some(last) = sigmas.last_mut() {
            *last = numeric.scale;
        }
        Self {
            means,
            sigmas,
            bounds: numeric.bounds,
        }
    }

    fn sample(&self, rng: &mut Rng) -> f64 {
        let mut value = 0.0;
        for _ in 0..BOUNDED_TRIES {
            let at = rng.below(self.means.len());
            value = self.means[at] + self.sigmas[at] * rng.normal();
            match self.bounds {
                Some((low, high)) if !(low..=high).contains(&value) => continue,
                _ => return value,
            }
        }
        self.bounds
            .map_or(value, |(low, high)| value.clamp(low, high))
    }

    fn log_pdf(&self, value: f64) -> f64 {
        let weight = 1.0 / self.means.len() as f64;
        let density: f64 = self
            .means
            .iter()
            .zip(&self.sigmas)
            .map(|(mean, sigma)| {
                let z = (value - mean) / sigma;
                let mut density =
                    (-0.5 * z * z).exp() / ((2.0 * std::f64::consts::PI).sqrt() * sigma);
                if let Some((low, high)) = self.bounds {
                    let mass = crate::bayes::normal_cdf((high - mean) / sigma)
                        - crate::bayes::normal_cdf((low - mean) / sigma);
                    density /= mass.max(EPS);
                }
                density * weight
            })
            .sum();
        density.max(EPS).ln()
    }
}

/// An index drawn with chances proportional to `weights`.
fn weighted(weights: &[f64], rng: &mut Rng) -> usize {
    let total: f64 = weights.iter().sum();
    let mut draw = rng.unit() * total;
    for (at, weight) in weights.iter().enumerate() {
        if draw < *weight {
            return at;
        }
        draw -= weight;
    }
    weights.len() - 1
}

/// A tpe matrix's search, read.
#[derive(Debug, Clone)]
pub struct Tpe {
    names: Vec<String>,
    dimensions: Vec<Dimension>,
    maximize: bool,
    metric: String,
}

impl Tpe {
    /// Reads the params and `metric` of a compiled `tpe` matrix; `order` is the params'
    /// written order.
    pub fn read(matrix: &Json, order: &[String]) -> Result<Self, String> {
        let searched = crate::guided::Searched::read(matrix, order, "tpe", Dimension::read)?;
        Ok(Self {
            names: searched.names,
            dimensions: searched.params,
            maximize: searched.maximize,
            metric: searched.metric,
        })
    }

    /// The metric it optimizes.
    pub fn metric(&self) -> &str {
        &self.metric
    }

    /// `count` new runs' params (at most [`crate::bayes::MAX_BATCH`]), from the runs that
    /// reported (`observed`: params and metric, oldest first) and those still running
    /// (`pending`), with randomness from `seed`.
    pub fn suggest(
        &self,
        observed: &[(Suggestion, f64)],
        pending: &[Suggestion],
        count: usize,
        seed: u64,
    ) -> Vec<Suggestion> {
        let mut rng = Rng::new(seed);
        let sign = if self.maximize { -1.0 } else { 1.0 };
        // Losses: lower is better whatever the optimization.
        let reported = observed
            .iter()
            .filter(|(_, value)| value.is_finite())
            .map(|(params, value)| (params.clone(), sign * value));
        let skip = reported.clone().count().saturating_sub(MAX_OBSERVED);
        let mut history: Vec<(Suggestion, f64)> = reported.skip(skip).collect();
        let worst = history
            .iter()
            .map(|(_, loss)| *loss)
            .fold(f64::NEG_INFINITY, f64::max);
        let worst = if worst.is_finite() { worst } else { 0.0 };
        let reports = history.len();
        history.extend(pending.iter().map(|params| (params.clone(), worst)));
        let count = count.min(crate::bayes::MAX_BATCH);
        let mut chosen: Vec<Suggestion> = Vec::with_capacity(count);
        // What each run so far was given, in the params' order whatever its map's, to tell a
        // new suggestion from them at once.
        let key = |params: &Suggestion| {
            let values = self.names.iter().map(|name| params.get(name).cloned());
            Json::Array(values.map(|value| value.unwrap_or(Json::Null)).collect()).to_string()
        };
        let mut seen: HashSet<String> = history.iter().map(|(params, _)| key(params)).collect();
        for _ in 0..count {
            let mut suggestion = self.draw(&history, reports, &mut rng);
            for _ in 1..DISTINCT_TRIES {
                if !seen.contains(&key(&suggestion)) {
                    break;
                }
                suggestion = self.draw(&history, reports, &mut rng);
            }
            seen.insert(key(&suggestion));
            history.push((suggestion.clone(), worst));
            chosen.push(suggestion);
        }
        chosen
    }

    /// One suggestion: from the prior while fewer than [`STARTUP`] runs reported, else guided
    /// by the `history` (reports and lies alike, as hypertune counts them).
    fn draw(&self, history: &[(Suggestion, f64)], reports: usize, rng: &mut Rng) -> Suggestion {
        if reports < STARTUP {
            return self
                .names
                .iter()
                .zip(&self.dimensions)
                .map(|(name, dimension)| (name.clone(), dimension.prior(rng)))
                .collect();
        }
        let mut order: Vec<usize> = (0..history.len()).collect();
        order.sort_by(|a, b| history[*a].1.total_cmp(&history[*b].1));
        let good_count = (history.len() as f64 * 0.2)
            .ceil()
            .max(1.0)
            .min(history.len() as f64 - 1.0) as usize;
        let (good, bad) = order.split_at(good_count);
        self.names
            .iter()
            .zip(&self.dimensions)
            .map(|(name, dimension)| {
                let values = |indices: &[usize]| -> Vec<&Json> {
                    indices
                        .iter()
                        .filter_map(|at| history[*at].0.get(name))
                        .collect()
                };
                (
                    name.clone(),
                    dimension.guided(&values(good), &values(bad), rng),
                )
            })
            .collect::<Map<String, Json>>()
    }
}
