//! `iterative` matrices: the user's own tuner suggests the runs. Each iteration runs the
//! component `tuner.hubRef` names, with the params Polyaxon's tuners take (`matrix`, the
//! `configs` and `metrics` of the runs so far, `iteration`; plus `tuner.params`); the tuner
//! logs an output `suggestions`, a list of param maps, through the tracking client; the
//! suggested runs run; once they have ended the next iteration starts, until `maxIterations`
//! or a tuner that suggests nothing.
//!
//! A pipeline's places hold its runs: the suggested ones from 0 in the order suggested, the
//! tuner of iteration `k` at [`TUNER_PLACE`]` + k`, so a restart knows each run's part.

use serde_json::{Map, Value as Json, json};

use crate::matrix::{MAX_RUNS, Suggestion};

/// The place of the first iteration's tuner run.
pub const TUNER_PLACE: u32 = 1 << 31;

/// The most runs one iteration's tuner may suggest.
pub const MAX_SUGGESTIONS: usize = 10_000;

/// What an iterative matrix says of its tuner and iterations.
#[derive(Debug, Clone, PartialEq)]
pub struct Iterative {
    /// The tuner component (`tuner.hubRef`).
    pub hub_ref: String,
    /// How many times the tuner is asked.
    pub iterations: u32,
    tuner: Map<String, Json>,
}

impl Iterative {
    /// Reads a compiled `iterative` matrix.
    pub fn read(matrix: &Json) -> Result<Self, String> {
        let tuner = matrix
            .get("tuner")
            .and_then(Json::as_object)
            .cloned()
            .unwrap_or_default();
        let hub_ref = tuner
            .get("hubRef")
            .and_then(Json::as_str)
            .filter(|reference| !reference.trim().is_empty())
            .ok_or(
                "an iterative search needs `tuner.hubRef`: the component that suggests its runs \
                 (it takes `matrix`, `configs`, `metrics` and `iteration`, and logs an output \
                 `suggestions`)",
            )?
            .to_owned();
        let iterations = matrix
            .get("maxIterations")
            .and_then(Json::as_u64)
            .filter(|iterations| *iterations > 0)
            .ok_or("an iterative search needs `maxIterations`, at least 1")?;
        // Each iteration makes a run at least: more than a matrix may make is refused.
        if iterations > MAX_RUNS as u64 {
            return Err(format!(
                "the iterative search asks its tuner {iterations} times; at most {MAX_RUNS} \
                 runs may come from one matrix"
            ));
        }
        Ok(Self {
            hub_ref,
            iterations: iterations as u32,
            tuner,
        })
    }

    /// The operation of iteration `iteration`'s tuner run, as JSON text: the tuner component
    /// with the matrix (without its tuner), what the runs so far came to (`observed`: each
    /// ended run's inputs as `configs`, and the last value of each metric it logged as
    /// `metrics`, a map per run, empty for a run that did not succeed), the iteration, and
    /// `tuner.params`; `tuner.presets`, `queue` and `namespace` carried over.
    pub fn tuner_operation(
        &self,
        matrix: &Json,
        iteration: u32,
        observed: &[(Suggestion, Map<String, Json>)],
    ) -> String {
        let mut matrix = matrix.clone();
        if let Some(matrix) = matrix.as_object_mut() {
            matrix.remove("tuner");
        }
        let configs: Vec<Json> = observed
            .iter()
            .map(|(params, _)| Json::Object(params.clone()))
            .collect();
        let metrics: Vec<Json> = observed
            .iter()
            .map(|(_, metrics)| Json::Object(metrics.clone()))
            .collect();
        let mut params = self
            .tuner
            .get("params")
            .and_then(Json::as_object)
            .cloned()
            .unwrap_or_default();
        params.insert("matrix".to_owned(), json!({ "value": matrix }));
        params.insert("configs".to_owned(), json!({ "value": configs }));
        params.insert("metrics".to_owned(), json!({ "value": metrics }));
        params.insert("iteration".to_owned(), json!({ "value": iteration }));
        let mut operation = json!({
            "version": 1.1,
            "kind": "operation",
            "hubRef": self.hub_ref,
            "params": params,
        });
        for key in ["presets", "queue", "namespace"] {
            if let Some(value) = self.tuner.get(key) {
                operation[key] = value.clone();
            }
        }
        operation.to_string()
    }
}

/// The runs a tuner suggested: its output `suggestions`, a list of param maps (none when it
/// logged none). Anything else is an error saying what the tuner of `iteration` logged.
pub fn suggestions(
    outputs: Option<&Map<String, Json>>,
    iteration: u32,
) -> Result<Vec<Suggestion>, String> {
    let Some(logged) = outputs.and_then(|outputs| outputs.get("suggestions")) else {
        return Ok(Vec::new());
    };
    let list = logged.as_array().ok_or_else(|| {
        format!("the tuner of iteration {iteration} logged `suggestions` that is not a list")
    })?;
    if list.len() > MAX_SUGGESTIONS {
        return Err(format!(
            "the tuner of iteration {iteration} suggested {} runs; at most {MAX_SUGGESTIONS} \
             at once",
            list.len()
        ));
    }
    list.iter()
        .enumerate()
        .map(|(at, item)| {
            item.as_object().cloned().ok_or_else(|| {
                format!(
                    "the tuner of iteration {iteration} suggested `{item}` at [{at}], not a map \
                     of params"
                )
            })
        })
        .collect()
}
