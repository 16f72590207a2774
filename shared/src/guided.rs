//! The searches whose runs follow from the results of the runs before them, `bayes` and
//! `tpe`, behind one face: how many runs they make ([`budget`]) and the next ones' params
//! ([`Guided::suggest`]).

use serde_json::Value as Json;

use crate::bayes::Bayes;
use crate::matrix::{MAX_RUNS, Suggestion};
use crate::tpe::Tpe;

/// How many runs a guided search makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Drawn at random before any result guides them (bayes' `numInitialRuns`; tpe draws its
    /// startup runs itself).
    pub initial: usize,
    /// In all.
    pub total: usize,
}

/// The runs of a `bayes` matrix (`numInitialRuns` + `maxIterations`) or a `tpe` one
/// (`numRuns` per iteration, for `maxIterations` iterations, 1 when unset: Polyaxon's tuner
/// suggests `numRuns` runs each time it is asked); `None` for the other kinds. More than a
/// matrix may make, or a count missing, is an error saying which.
pub fn budget(matrix: &Json) -> Option<Result<Budget, String>> {
    let kind = matrix.get("kind").and_then(Json::as_str)?;
    let count = |key: &str| matrix.get(key).and_then(Json::as_u64);
    let budget = match kind {
        "bayes" => count("numInitialRuns")
            .filter(|initial| *initial > 0)
            .ok_or_else(|| "a bayes search needs `numInitialRuns`, at least 1".to_owned())
            .map(|initial| {
                (
                    initial,
                    initial.saturating_add(count("maxIterations").unwrap_or(0)),
                )
            }),
        "tpe" => count("numRuns")
            .filter(|runs| *runs > 0)
            .ok_or_else(|| "a tpe search needs `numRuns`: how many runs to suggest".to_owned())
            .map(|runs| {
                let iterations = count("maxIterations").unwrap_or(1).max(1);
                (0, runs.saturating_mul(iterations))
            }),
        _ => return None,
    };
    Some(budget.and_then(|(initial, total)| {
        if total > MAX_RUNS as u64 {
            return Err(format!(
                "the {kind} search makes {total} runs; at most {MAX_RUNS} may come from one matrix"
            ));
        }
        Ok(Budget {
            initial: initial as usize,
            total: total as usize,
        })
    }))
}

/// What every guided search reads the same way: its params, each read by the search's own
/// `read` (kind, value), in their written `order`, and the metric it optimizes.
pub(crate) struct Searched<T> {
    /// The params' names.
    pub names: Vec<String>,
    /// Each param as the search reads it.
    pub params: Vec<T>,
    /// The metric's name.
    pub metric: String,
    /// Whether higher is better.
    pub maximize: bool,
}

impl<T> Searched<T> {
    /// Reads a `kind` search's params and metric; an error says which param is wrong and why.
    pub(crate) fn read(
        matrix: &Json,
        order: &[String],
        kind: &str,
        read: impl Fn(&str, &Json) -> Result<T, String>,
    ) -> Result<Self, String> {
        let params = matrix
            .get("params")
            .and_then(Json::as_object)
            .ok_or_else(|| format!("a {kind} search needs `params`"))?;
        let names = crate::matrix::ordered_names(params, order);
        let read_params = names
            .iter()
            .map(|name| {
                let param = &params[name];
                let kind = param.get("kind").and_then(Json::as_str).unwrap_or_default();
                read(kind, param.get("value").unwrap_or(&Json::Null))
                    .map_err(|why| format!("param `{name}` ({kind}): {why}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let metric = matrix
            .get("metric")
            .ok_or_else(|| format!("a {kind} search needs a `metric`"))?;
        Ok(Self {
            names,
            params: read_params,
            maximize: metric.get("optimization").and_then(Json::as_str) == Some("maximize"),
            metric: metric
                .get("name")
                .and_then(Json::as_str)
                .ok_or("the metric needs a `name`")?
                .to_owned(),
        })
    }
}

/// A guided search, read.
#[derive(Debug, Clone)]
pub enum Guided {
    /// A Gaussian process's suggestions.
    Bayes(Bayes),
    /// A Tree-structured Parzen Estimator's.
    Tpe(Tpe),
}

impl Guided {
    /// The search of a compiled `bayes` or `tpe` matrix (`order`: its params' written order);
    /// `None` for the other kinds.
    pub fn read(matrix: &Json, order: &[String]) -> Option<Result<Self, String>> {
        match matrix.get("kind").and_then(Json::as_str)? {
            "bayes" => Some(Bayes::read(matrix, order).map(Guided::Bayes)),
            "tpe" => Some(Tpe::read(matrix, order).map(Guided::Tpe)),
            _ => None,
        }
    }

    /// The metric it optimizes.
    pub fn metric(&self) -> &str {
        match self {
            Guided::Bayes(search) => search.metric(),
            Guided::Tpe(search) => search.metric(),
        }
    }

    /// `count` new runs' params from the runs that reported (`observed`) and those still
    /// running (`pending`), with randomness from `seed`.
    pub fn suggest(
        &self,
        observed: &[(Suggestion, f64)],
        pending: &[Suggestion],
        count: usize,
        seed: u64,
    ) -> Vec<Suggestion> {
        match self {
            Guided::Bayes(search) => search.suggest(observed, pending, count, seed),
            Guided::Tpe(search) => search.suggest(observed, pending, count, seed),
        }
    }
}
