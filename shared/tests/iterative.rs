//! An iterative matrix's tuner runs and what they suggest: `shared::iterative`.

use serde_json::{Map, Value as Json, json};
use shared::iterative::{Iterative, MAX_SUGGESTIONS, suggestions};

fn outputs(value: Json) -> Map<String, Json> {
    json!({ "suggestions": value }).as_object().unwrap().clone()
}

#[test]
fn the_tuner_operation_carries_the_matrix_the_results_and_the_tuners_own_params() {
    let matrix = json!({
        "kind": "iterative", "maxIterations": 4, "concurrency": 2, "seed": 9,
        "params": {"lr": {"kind": "uniform", "value": {"low": 0, "high": 1}}},
        "tuner": {"hubRef": "acme/tuner:v2", "queue": "agent/cpu", "params": {"depth": {"value": 3}}},
    });
    let search = Iterative::read(&matrix).unwrap();
    assert_eq!(search.hub_ref, "acme/tuner:v2");
    assert_eq!(search.iterations, 4);
    let observed = vec![
        (
            json!({"lr": 0.1}).as_object().unwrap().clone(),
            json!({"loss": 0.5}).as_object().unwrap().clone(),
        ),
        (json!({"lr": 0.9}).as_object().unwrap().clone(), Map::new()),
    ];
    let operation: Json =
        serde_json::from_str(&search.tuner_operation(&matrix, 2, &observed)).unwrap();
    assert_eq!(operation["hubRef"], "acme/tuner:v2");
    assert_eq!(operation["queue"], "agent/cpu");
    let params = &operation["params"];
    assert_eq!(params["depth"], json!({"value": 3}));
    assert_eq!(params["iteration"], json!({"value": 2}));
    assert_eq!(
        params["configs"],
        json!({"value": [{"lr": 0.1}, {"lr": 0.9}]})
    );
    assert_eq!(params["metrics"], json!({"value": [{"loss": 0.5}, {}]}));
    assert_eq!(params["matrix"]["value"]["seed"], 9);
    assert!(params["matrix"]["value"].get("tuner").is_none(), "{params}");
}

#[test]
fn a_matrix_without_a_tuner_or_iterations_is_refused_saying_what_is_missing() {
    let error = Iterative::read(&json!({"kind": "iterative", "maxIterations": 2})).unwrap_err();
    assert!(error.contains("needs `tuner.hubRef`"), "{error}");
    let error =
        Iterative::read(&json!({"kind": "iterative", "tuner": {"hubRef": "a/b"}})).unwrap_err();
    assert!(error.contains("needs `maxIterations`"), "{error}");
    let error = Iterative::read(&json!({"kind": "iterative", "maxIterations": 1_000_000_000u64, "tuner": {"hubRef": "a/b"}}))
        .unwrap_err();
    assert!(error.contains("at most 100000 runs"), "{error}");
}

#[test]
fn suggestions_are_a_bounded_list_of_param_maps() {
    assert_eq!(suggestions(None, 0), Ok(Vec::new()));
    assert_eq!(suggestions(Some(&Map::new()), 0), Ok(Vec::new()));
    let two = suggestions(Some(&outputs(json!([{"x": 1}, {"x": 2}]))), 0).unwrap();
    assert_eq!(two.len(), 2);
    assert_eq!(two[1]["x"], 2);
    let error = suggestions(Some(&outputs(json!({"x": 1}))), 3).unwrap_err();
    assert_eq!(
        error,
        "the tuner of iteration 3 logged `suggestions` that is not a list"
    );
    let error = suggestions(Some(&outputs(json!([{"x": 1}, 7]))), 1).unwrap_err();
    assert_eq!(
        error,
        "the tuner of iteration 1 suggested `7` at [1], not a map of params"
    );
    let many = Json::Array(vec![json!({}); MAX_SUGGESTIONS + 1]);
    let error = suggestions(Some(&outputs(many)), 0).unwrap_err();
    assert!(error.contains("at most 10000 at once"), "{error}");
}
