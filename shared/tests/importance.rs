//! Parameter importance through the crate's public API: Polyaxon's recorded request, a metric
//! that depends on one input only, inputs that cannot be weighed, and the bound on the work.

use serde_json::{Map, Value as Json, json};
use shared::importance::{MAX_RUNS, importance};

fn runs(params: &[Json]) -> Vec<Map<String, Json>> {
    params
        .iter()
        .map(|run| run.as_object().expect("an object").clone())
        .collect()
}

#[test]
fn the_request_haupt_answered_gets_a_weight_per_number_and_per_text_value() {
    let params = runs(&[
        json!({"lr": 0.1, "opt": "sgd"}),
        json!({"lr": 0.5, "opt": "adam"}),
        json!({"lr": 0.9, "opt": "sgd"}),
    ]);
    let metrics = [json!(0.9), json!(0.5), json!(0.2)];
    let weights = importance(&params, &metrics, 7).expect("weighed");
    let names: Vec<&str> = weights.keys().map(String::as_str).collect();
    assert_eq!(names, ["lr", "opt_adam", "opt_sgd"]);
    let lr = weights["lr"];
    // Pearson's r of (0.1, 0.5, 0.9) and (0.9, 0.5, 0.2), to three decimals.
    assert_eq!(lr.correlation, Some(-0.997));
    let total: f64 = weights.values().map(|weight| weight.importance).sum();
    assert!((total - 1.0).abs() < 0.01, "{weights:?}");
    assert_eq!(
        weights["opt_adam"].correlation.map(f64::signum),
        weights["opt_sgd"].correlation.map(|r| -r.signum())
    );
}

#[test]
fn the_input_the_metric_depends_on_weighs_most_and_the_seed_fixes_the_answer() {
    let mut state = 42_u64;
    let mut unit = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        (state >> 11) as f64 / (1_u64 << 53) as f64
    };
    let (mut params, mut metrics) = (Vec::new(), Vec::new());
    for _ in 0..300 {
        let (lr, seed, dropout) = (unit(), unit(), unit());
        let optimizer = if unit() < 0.5 { "adam" } else { "sgd" };
        params.push(json!({"lr": lr, "seed": seed, "dropout": dropout, "optimizer": optimizer}));
        metrics.push(json!(3.0 * lr + 0.05 * unit()));
    }
    let params = runs(&params);
    let weights = importance(&params, &metrics, 1).expect("weighed");
    assert!(weights["lr"].importance > 0.8, "{weights:?}");
    for other in ["seed", "dropout", "optimizer_adam", "optimizer_sgd"] {
        assert!(weights[other].importance < 0.1, "{other}: {weights:?}");
        assert!(weights[other].correlation.unwrap().abs() < 0.2, "{other}");
    }
    assert!(weights["lr"].correlation.unwrap() > 0.99);
    assert_eq!(importance(&params, &metrics, 1), Some(weights));
}

#[test]
fn what_cannot_be_weighed_is_none_and_a_run_missing_a_number_is_left_out() {
    let params = runs(&[json!({"lr": 0.1}), json!({"lr": 0.2}), json!({"lr": 0.3})]);
    let numbers = [json!(1.0), json!(2.0), json!(3.0)];
    assert!(
        importance(&params, &numbers[..2], 0).is_none(),
        "lengths differ"
    );
    assert!(
        importance(&params[..1], &numbers[..1], 0).is_none(),
        "one run"
    );
    assert!(importance(&params, &[json!(1.0), json!("x"), json!(3.0)], 0).is_none());
    assert!(importance(&params, &[json!(1.0), Json::Null, json!(3.0)], 0).is_none());
    assert!(importance(&runs(&[json!({}), json!({})]), &numbers[..2], 0).is_none());
    // The run without `lr` is left out; the two others still weigh it.
    let gappy = runs(&[json!({"lr": 0.1}), json!({"other": 1}), json!({"lr": 0.3})]);
    let weights = importance(&gappy, &numbers, 0);
    assert!(weights.is_none(), "only one run has both: {weights:?}");
    let gappy = runs(&[
        json!({"lr": 0.1, "opt": "a"}),
        json!({"opt": "b"}),
        json!({"lr": 0.3}),
        json!({"lr": 0.2, "opt": "b"}),
    ]);
    let weights = importance(&gappy, &[json!(1), json!(2), json!(3), json!(4)], 0)
        .expect("three runs have lr");
    assert_eq!(weights.len(), 3, "{weights:?}");
    // A metric that never varies gives nothing any weight.
    let flat = importance(&params, &[json!(1), json!(1), json!(1)], 0).expect("weighed");
    assert_eq!(flat["lr"].importance, 0.0);
    assert_eq!(flat["lr"].correlation, None);
}

#[test]
fn the_most_runs_and_columns_are_weighed_within_the_bound() {
    let params: Vec<Json> = (0..MAX_RUNS + 10)
        .map(|run| {
            let mut inputs = Map::new();
            for column in 0..300 {
                inputs.insert(format!("p{column:03}"), json!((run * (column + 1)) % 97));
            }
            Json::Object(inputs)
        })
        .collect();
    let metrics: Vec<Json> = (0..params.len()).map(|run| json!(run % 13)).collect();
    let weights = importance(&runs(&params), &metrics, 3).expect("weighed");
    assert_eq!(weights.len(), shared::importance::MAX_COLUMNS);
}

#[test]
fn names_that_bring_no_column_are_looked_at_only_so_far() {
    // One run names a hundred thousand inputs, all null; thousands of runs name none. Only the
    // first names are looked up in every run, and the real input past them is not reached.
    let mut many = Map::new();
    for key in 0..100_000 {
        many.insert(format!("k{key:06}"), Json::Null);
    }
    many.insert("z".to_owned(), json!(1.0));
    let mut params = vec![Json::Object(many)];
    params.extend((0..MAX_RUNS).map(|_| json!({"z": 2.0})));
    let metrics: Vec<Json> = (0..params.len()).map(|run| json!(run % 3)).collect();
    assert!(importance(&runs(&params), &metrics, 0).is_none());
}
