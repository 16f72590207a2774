//! Tree-structured Parzen Estimator on known functions: `shared::tpe`.

use serde_json::{Value as Json, json};
use shared::matrix::Suggestion;
use shared::tpe::Tpe;

fn search(optimization: &str, params: Json) -> Tpe {
    let matrix = json!({
        "kind": "tpe",
        "numRuns": 10,
        "metric": {"name": "loss", "optimization": optimization},
        "params": params,
    });
    Tpe::read(&matrix, &[]).unwrap()
}

fn bowl() -> Json {
    json!({
        "x": {"kind": "uniform", "value": {"low": 0.0, "high": 1.0}},
        "y": {"kind": "uniform", "value": {"low": 0.0, "high": 1.0}},
        "opt": {"kind": "choice", "value": ["sgd", "adam", "rmsprop"]},
    })
}

/// Lowest (0) at x = 0.3, y = 0.7 with adam.
fn loss(params: &Suggestion) -> f64 {
    let x = params["x"].as_f64().unwrap();
    let y = params["y"].as_f64().unwrap();
    let penalty = if params["opt"] == "adam" { 0.0 } else { 0.2 };
    (x - 0.3).powi(2) + (y - 0.7).powi(2) + penalty
}

/// A search of `rounds` batches of `batch` runs, each batch suggested while the one before
/// it reports; every loss in the order the runs were suggested.
fn optimize(search: &Tpe, sign: f64, rounds: u64, batch: usize, seed: u64) -> Vec<f64> {
    let mut observed: Vec<(Suggestion, f64)> = Vec::new();
    for round in 0..rounds {
        let next = search.suggest(&observed, &[], batch, seed + round);
        assert_eq!(next.len(), batch);
        for params in next {
            let value = loss(&params);
            observed.push((params, sign * value));
        }
    }
    observed.iter().map(|(_, value)| sign * value).collect()
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// Drawn from the prior (uniform x, y and optimizer), a run's loss averages 0.38.
const PRIOR_MEAN_LOSS: f64 = 0.38;

#[test]
fn after_its_startup_runs_it_suggests_better_runs_than_its_prior_does() {
    for (optimization, sign) in [("minimize", 1.0), ("maximize", -1.0)] {
        let search = search(optimization, bowl());
        let mut found = 0;
        for seed in 1..=10 {
            let losses = optimize(&search, sign, 15, 4, seed);
            let startup = mean(&losses[..12]);
            let late = mean(&losses[40..]);
            assert!(
                late < startup / 2.0 && late < PRIOR_MEAN_LOSS * 0.6,
                "{optimization}, seed {seed}: the last 20 runs average {late}, the first 12 {startup}"
            );
            let best = losses.iter().copied().fold(f64::MAX, f64::min);
            if best < 0.01 {
                found += 1;
            }
        }
        // TPE models each param alone: a search whose better runs all used another optimizer
        // may settle there (2 of these 10 seeds do).
        assert!(
            found >= 8,
            "{optimization}: {found} of 10 searches came within 0.01"
        );
    }
}

#[test]
fn it_suggests_inside_the_space_reproducibly_for_every_kind() {
    let params = json!({
        "u": {"kind": "uniform", "value": {"low": -1.0, "high": 1.0}},
        "qu": {"kind": "quniform", "value": {"low": 0.0, "high": 10.0, "q": 2.5}},
        "lu": {"kind": "loguniform", "value": {"low": -4.0, "high": 0.0}},
        "qlu": {"kind": "qloguniform", "value": {"low": 0.0, "high": 3.0, "q": 1.0}},
        "n": {"kind": "normal", "value": {"loc": 5.0, "scale": 1.0}},
        "ln": {"kind": "lognormal", "value": {"loc": 0.0, "scale": 0.5}},
        "r": {"kind": "range", "value": {"start": 0, "stop": 10, "step": 2}},
        "p": {"kind": "pchoice", "value": [["a", 0.9], ["b", 0.1]]},
        "c": {"kind": "choice", "value": [16, 32, 64]},
    });
    let search = search("minimize", params);
    let objective = |params: &Suggestion| {
        params["u"].as_f64().unwrap().abs() + (params["n"].as_f64().unwrap() - 5.0).abs()
    };
    let mut observed: Vec<(Suggestion, f64)> = Vec::new();
    for round in 0..6 {
        let batch = search.suggest(&observed, &[], 5, round);
        assert_eq!(
            batch,
            search.suggest(&observed, &[], 5, round),
            "same seed, same runs"
        );
        for params in batch {
            let number = |name: &str| params[name].as_f64().unwrap();
            assert!((-1.0..=1.0).contains(&number("u")), "{params:?}");
            let qu = number("qu");
            assert!(
                (0.0..=10.0).contains(&qu) && (qu / 2.5).fract() == 0.0,
                "{params:?}"
            );
            assert!(((-4f64).exp()..=1.0).contains(&number("lu")), "{params:?}");
            let qlu = number("qlu");
            assert!(
                (1.0..=3f64.exp()).contains(&qlu) && qlu.fract() == 0.0,
                "{params:?}"
            );
            assert!(number("ln") > 0.0, "{params:?}");
            assert!(
                [0.0, 2.0, 4.0, 6.0, 8.0].contains(&number("r")),
                "{params:?}"
            );
            assert!(["a", "b"].contains(&params["p"].as_str().unwrap()));
            assert!([16, 32, 64].contains(&params["c"].as_i64().unwrap()));
            let value = objective(&params);
            observed.push((params, value));
        }
    }
}

#[test]
fn a_batch_and_the_running_runs_are_not_suggested_again() {
    let search = search(
        "minimize",
        json!({"opt": {"kind": "choice", "value": ["sgd", "adam", "rmsprop", "adagrad"]}}),
    );
    let running: Vec<Suggestion> = ["sgd", "adam"]
        .iter()
        .map(|opt| json!({"opt": opt}).as_object().unwrap().clone())
        .collect();
    let batch = search.suggest(&[], &running, 2, 3);
    let mut chosen: Vec<&str> = batch.iter().map(|p| p["opt"].as_str().unwrap()).collect();
    chosen.sort_unstable();
    assert_eq!(chosen, ["adagrad", "rmsprop"]);
}

#[test]
fn a_batch_is_bounded() {
    let search = search("minimize", bowl());
    assert_eq!(
        search.suggest(&[], &[], 1_000_000, 0).len(),
        shared::bayes::MAX_BATCH
    );
}

#[test]
fn a_space_it_cannot_search_is_refused_naming_the_param() {
    let refused = |params: Json, expected: &str| {
        let matrix = json!({
            "kind": "tpe", "numRuns": 4,
            "metric": {"name": "loss", "optimization": "minimize"},
            "params": params,
        });
        let error = Tpe::read(&matrix, &[]).unwrap_err();
        assert!(error.contains(expected), "{error}");
    };
    refused(
        json!({"lr": {"kind": "uniform", "value": {"low": 1.0, "high": 1.0}}}),
        "param `lr` (uniform): `low` must be smaller than `high`",
    );
    refused(
        json!({"lr": {"kind": "normal", "value": {"loc": 1.0, "scale": 0.0}}}),
        "param `lr` (normal): `value.scale` must be positive",
    );
    refused(
        json!({"lr": {"kind": "quniform", "value": {"low": 0.0, "high": 1.0, "q": -1.0}}}),
        "`value.q` must be positive",
    );
    refused(
        json!({"n": {"kind": "range", "value": {"start": 0, "stop": 1e12, "step": 1}}}),
        "param `n` (range): the matrix makes 1000000000000 runs",
    );
    let matrix = json!({"kind": "tpe", "params": {"x": {"kind": "choice", "value": [1]}}});
    assert!(
        Tpe::read(&matrix, &[])
            .unwrap_err()
            .contains("needs a `metric`")
    );
}
