//! Hyperband, as Polyaxon's tuner runs it: brackets of successive halving. With `maxIterations`
//! R and `eta` η, `s_max = ⌊ln R / ln η⌋` and the budget `B = (s_max + 1)·R`. Iteration `i`
//! (0 to `s_max`) runs bracket `s = s_max − i`: `n = ⌈(B/R)·η^s / (s + 1)⌉` random configs
//! (drawn with the matrix's seed) at `r = R·η^−s` of the resource, then for each rung `k`
//! (1 to `s`) the best `⌊n·η^−(k−1) / η⌋` of the rung before, again at `r·η^k`. A rung starts
//! once the one before it ended; the brackets follow each other.
//!
//! Every rung's size and resource follow from the matrix alone, so the runs of a search are
//! numbered in advance ([`Rung::first`]); only which configs a rung keeps depends on results.

use serde_json::{Map, Value as Json};

use crate::matrix::Suggestion;

/// A hyperband search, read from a compiled `matrix` section.
#[derive(Debug, Clone, PartialEq)]
pub struct Hyperband {
    max_iterations: f64,
    eta: f64,
    s_max: u32,
    resource: String,
    integer_resource: bool,
    metric: String,
    maximize: bool,
}

/// One rung of one bracket: how many runs, at how much of the resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Rung {
    /// The hyperband iteration (0 to `s_max`): which bracket.
    pub iteration: u32,
    /// The rung within the bracket (0 first).
    pub bracket_iteration: u32,
    /// How many runs.
    pub runs: usize,
    /// The resource each gets, as its type casts it.
    pub resource: Json,
    /// The place of its first run among the search's runs.
    pub first: usize,
}

impl Hyperband {
    /// Reads `maxIterations`, `eta`, `resource` and `metric`.
    pub fn read(matrix: &Json) -> Result<Self, String> {
        let max_iterations = matrix
            .get("maxIterations")
            .and_then(Json::as_f64)
            .filter(|max| *max >= 1.0)
            .ok_or("hyperband needs `maxIterations`, at least 1")?;
        let eta = matrix
            .get("eta")
            .and_then(Json::as_f64)
            .filter(|eta| *eta > 1.0)
            .ok_or("hyperband needs `eta`, above 1")?;
        let resource = matrix
            .get("resource")
            .ok_or("hyperband needs a `resource`")?;
        let metric = matrix.get("metric").ok_or("hyperband needs a `metric`")?;
        let s_max = (max_iterations.ln() / eta.ln()).floor();
        if s_max > 20.0 {
            return Err(format!(
                "hyperband with maxIterations {max_iterations} and eta {eta} makes {s_max} brackets; at most 20"
            ));
        }
        let search = Self {
            max_iterations,
            eta,
            s_max: s_max as u32,
            resource: resource
                .get("name")
                .and_then(Json::as_str)
                .ok_or("the resource needs a `name`")?
                .to_owned(),
            integer_resource: resource.get("type").and_then(Json::as_str) != Some("float"),
            metric: metric
                .get("name")
                .and_then(Json::as_str)
                .ok_or("the metric needs a `name`")?
                .to_owned(),
            maximize: metric.get("optimization").and_then(Json::as_str) == Some("maximize"),
        };
        let total = search
            .rungs()
            .iter()
            .fold(0_usize, |total, rung| total.saturating_add(rung.runs));
        if total > crate::matrix::MAX_RUNS {
            return Err(format!(
                "hyperband with maxIterations {max_iterations} and eta {eta} makes {total} runs; \
                 at most {} may come from one matrix",
                crate::matrix::MAX_RUNS
            ));
        }
        Ok(search)
    }

    /// The metric the rungs rank by.
    pub fn metric(&self) -> &str {
        &self.metric
    }

    /// The name of the input that takes the resource.
    pub fn resource_name(&self) -> &str {
        &self.resource
    }

    /// `s_max`: the last iteration.
    pub fn s_max(&self) -> u32 {
        self.s_max
    }

    /// How many configs bracket `s` starts with.
    pub fn num_runs(&self, bracket: u32) -> usize {
        let budget = f64::from(self.s_max + 1) * self.max_iterations;
        ((budget / self.max_iterations) * self.eta.powf(f64::from(bracket))
            / f64::from(bracket + 1))
        .ceil() as usize
    }

    /// How many of `num_runs` configs rung `k` keeps (Polyaxon's `get_num_runs_to_keep`, with
    /// `k` the rung being reduced).
    fn keep(&self, num_runs: usize, bracket_iteration: u32) -> usize {
        let left = num_runs as f64 * self.eta.powf(-f64::from(bracket_iteration));
        (left / self.eta) as usize
    }

    /// Every rung of the search, in the order they run.
    pub fn rungs(&self) -> Vec<Rung> {
        let mut rungs = Vec::new();
        let mut first = 0;
        for iteration in 0..=self.s_max {
            let bracket = self.s_max - iteration;
            let num_runs = self.num_runs(bracket);
            let resources = self.max_iterations * self.eta.powf(-f64::from(bracket));
            for bracket_iteration in 0..=bracket {
                let runs = if bracket_iteration == 0 {
                    num_runs
                } else {
                    self.keep(num_runs, bracket_iteration - 1)
                };
                if runs == 0 {
                    break;
                }
                let amount = resources * self.eta.powf(f64::from(bracket_iteration));
                let resource = if self.integer_resource {
                    Json::from(amount as i64)
                } else {
                    serde_json::Number::from_f64(amount).map_or(Json::Null, Json::Number)
                };
                rungs.push(Rung {
                    iteration,
                    bracket_iteration,
                    runs,
                    resource,
                    first,
                });
                first += runs;
            }
        }
        rungs
    }

    /// The configs a rung after the first of its bracket runs: the best `keep` of the rung
    /// before, each given as its params and the metric it reached (a run without it ranks
    /// last), with the resource of this rung written in.
    pub fn promote(&self, rung: &Rung, before: &[(Suggestion, Option<f64>)]) -> Vec<Suggestion> {
        let mut ranked: Vec<&(Suggestion, Option<f64>)> = before.iter().collect();
        ranked.sort_by(|a, b| match (a.1, b.1) {
            (Some(a), Some(b)) if self.maximize => b.total_cmp(&a),
            (Some(a), Some(b)) => a.total_cmp(&b),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        });
        ranked
            .into_iter()
            .take(rung.runs)
            .map(|(params, _)| self.with_resource(params, rung))
            .collect()
    }

    /// `params` with the rung's resource.
    pub fn with_resource(&self, params: &Suggestion, rung: &Rung) -> Suggestion {
        let mut params: Map<String, Json> = params.clone();
        params.insert(self.resource.clone(), rung.resource.clone());
        params
    }
}
