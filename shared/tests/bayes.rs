//! Bayesian optimization on a known function: `shared::bayes`.

use serde_json::{Value as Json, json};
use shared::bayes::Bayes;
use shared::matrix::Suggestion;

fn search(acquisition: &str) -> Bayes {
    let matrix = json!({
        "kind": "bayes",
        "numInitialRuns": 5,
        "maxIterations": 15,
        "metric": {"name": "score", "optimization": "maximize"},
        "utilityFunction": {
            "acquisitionFunction": acquisition, "kappa": 2.0, "eps": 0.01,
            "gaussianProcess": {"kernel": "matern", "lengthScale": 0.3, "nu": 2.5},
        },
        "params": {
            "x": {"kind": "uniform", "value": {"low": 0.0, "high": 1.0}},
            "y": {"kind": "uniform", "value": {"low": 0.0, "high": 1.0}},
            "opt": {"kind": "choice", "value": ["sgd", "adam"]},
        },
    });
    Bayes::read(&matrix, &["x".to_owned(), "y".to_owned(), "opt".to_owned()]).unwrap()
}

/// Highest at x = 0.3, y = 0.7 with adam: 1.0.
fn score(params: &Suggestion) -> f64 {
    let x = params["x"].as_f64().unwrap();
    let y = params["y"].as_f64().unwrap();
    let bonus = if params["opt"] == "adam" { 0.0 } else { -0.2 };
    1.0 - (x - 0.3).powi(2) - (y - 0.7).powi(2) + bonus
}

/// Runs a search of 5 random runs then 15 rounds of `batch` runs; the best score.
fn optimize(search: &Bayes, batch: usize, seed: u64) -> f64 {
    let mut observed: Vec<(Suggestion, f64)> = Vec::new();
    for params in search.suggest(&[], &[], 5, seed) {
        observed.push((params.clone(), score(&params)));
    }
    for round in 0..15 {
        let next = search.suggest(&observed, &[], batch, seed + 1 + round);
        assert_eq!(next.len(), batch);
        for params in next {
            observed.push((params.clone(), score(&params)));
        }
    }
    observed
        .iter()
        .map(|(_, value)| *value)
        .fold(f64::MIN, f64::max)
}

/// Each run's params with its score, as if it had run and reported.
fn scored(runs: Vec<Suggestion>) -> Vec<(Suggestion, f64)> {
    runs.into_iter()
        .map(|params| {
            let value = score(&params);
            (params, value)
        })
        .collect()
}

#[test]
fn it_suggests_inside_the_space_in_parallel_and_reproducibly() {
    let search = search("ucb");
    let observed = scored(search.suggest(&[], &[], 5, 1));
    let running = search.suggest(&observed, &[], 1, 2);
    let batch = search.suggest(&observed, &running, 4, 3);
    assert_eq!(
        batch,
        search.suggest(&observed, &running, 4, 3),
        "the same seed, the same runs"
    );
    assert_eq!(batch.len(), 4);
    for params in &batch {
        let x = params["x"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&x), "{params:?}");
        assert!(["sgd", "adam"].contains(&params["opt"].as_str().unwrap()));
    }
    // A batch spreads out: each run is chosen as if the ones before it had reported.
    let distinct: std::collections::BTreeSet<String> = batch
        .iter()
        .map(|params| Json::Object(params.clone()).to_string())
        .collect();
    assert_eq!(distinct.len(), 4, "{batch:?}");
}

#[test]
fn it_improves_on_a_known_function_beyond_random_search() {
    for acquisition in ["ucb", "ei", "poi"] {
        let search = search(acquisition);
        for seed in [11, 12, 13] {
            let best = optimize(&search, 3, seed * 100);
            // Random search with as many runs (50), from the same seed.
            let random: f64 = search
                .suggest(&[], &[], 50, seed * 100)
                .iter()
                .map(score)
                .fold(f64::MIN, f64::max);
            assert!(best > 0.99, "{acquisition}, seed {seed}: best {best}");
            assert!(
                best >= random,
                "{acquisition}, seed {seed}: {best} < random {random}"
            );
        }
    }
}

#[test]
fn an_ask_for_many_runs_at_once_is_bounded() {
    let search = search("ei");
    let observed = scored(search.suggest(&[], &[], 5, 1));
    let started = std::time::Instant::now();
    let batch = search.suggest(&observed, &[], 1_000_000, 2);
    assert_eq!(batch.len(), shared::bayes::MAX_BATCH);
    assert!(started.elapsed().as_secs() < 30, "{:?}", started.elapsed());
}
