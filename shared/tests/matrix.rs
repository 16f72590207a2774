//! A matrix's children: which params each gets, through `shared::matrix`'s public functions.

use serde_json::{Value as Json, json};
use shared::matrix::{self, Suggestion};

fn run(matrix: Json, order: &[&str], seed: u64) -> Result<Vec<Suggestion>, String> {
    let order: Vec<String> = order.iter().map(|name| (*name).to_owned()).collect();
    matrix::suggestions(&matrix, &order, seed)
}

fn children(matrix: Json, order: &[&str]) -> Vec<Json> {
    run(matrix, order, 0)
        .unwrap()
        .into_iter()
        .map(Json::Object)
        .collect()
}

#[test]
fn a_two_by_three_grid_makes_six_children_the_last_param_turning_fastest() {
    let grid = json!({"kind": "grid", "params": {
        "opt": {"kind": "choice", "value": ["adam", "sgd"]},
        "lr": {"kind": "choice", "value": [0.1, 0.01, 0.001]},
    }});
    assert_eq!(
        children(grid.clone(), &["opt", "lr"]),
        vec![
            json!({"opt": "adam", "lr": 0.1}),
            json!({"opt": "adam", "lr": 0.01}),
            json!({"opt": "adam", "lr": 0.001}),
            json!({"opt": "sgd", "lr": 0.1}),
            json!({"opt": "sgd", "lr": 0.01}),
            json!({"opt": "sgd", "lr": 0.001}),
        ]
    );
    // Written the other way round, the other param turns fastest, as `itertools.product` does.
    let swapped = children(grid, &["lr", "opt"]);
    assert_eq!(swapped[0], json!({"lr": 0.1, "opt": "adam"}));
    assert_eq!(swapped[1], json!({"lr": 0.1, "opt": "sgd"}));
}

#[test]
fn num_runs_cuts_a_grid_to_its_first_combinations() {
    let grid = json!({"kind": "grid", "numRuns": 4, "params": {
        "a": {"kind": "range", "value": {"start": 0.0, "stop": 10.0, "step": 2}},
        "b": {"kind": "choice", "value": [1, 2]},
    }});
    assert_eq!(
        children(grid, &["a", "b"]),
        vec![
            json!({"a": 0.0, "b": 1}),
            json!({"a": 0.0, "b": 2}),
            json!({"a": 2.0, "b": 1}),
            json!({"a": 2.0, "b": 2}),
        ]
    );
}

#[test]
fn sequences_read_as_numpy_makes_them() {
    let values = |kind: &str, value: Json| -> Vec<Json> {
        children(
            json!({"kind": "grid", "params": {"x": {"kind": kind, "value": value}}}),
            &[],
        )
        .into_iter()
        .map(|child| child["x"].clone())
        .collect()
    };
    // arange: `stop` excluded, the last step short.
    assert_eq!(
        values("range", json!({"start": 1.0, "stop": 10.0, "step": 4})),
        vec![json!(1.0), json!(5.0), json!(9.0)]
    );
    assert_eq!(
        values("range", json!({"start": 5.0, "stop": 0.0, "step": -2})),
        vec![json!(5.0), json!(3.0), json!(1.0)]
    );
    assert!(values("range", json!({"start": 5.0, "stop": 0.0, "step": 1})).is_empty());
    // linspace and its kin include `stop`.
    assert_eq!(
        values("linspace", json!({"start": 0.0, "stop": 1.0, "num": 5})),
        vec![json!(0.0), json!(0.25), json!(0.5), json!(0.75), json!(1.0)]
    );
    assert_eq!(
        values("logspace", json!({"start": 0.0, "stop": 2.0, "num": 3})),
        vec![json!(1.0), json!(10.0), json!(100.0)]
    );
    assert_eq!(
        values(
            "logspace",
            json!({"start": 0.0, "stop": 3.0, "num": 4, "base": 2})
        ),
        vec![json!(1.0), json!(2.0), json!(4.0), json!(8.0)]
    );
    let geometric = values("geomspace", json!({"start": 1.0, "stop": 1000.0, "num": 4}));
    let geometric: Vec<f64> = geometric.iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(geometric[0], 1.0);
    assert_eq!(geometric[3], 1000.0);
    assert!((geometric[1] - 10.0).abs() < 1e-9 && (geometric[2] - 100.0).abs() < 1e-9);
    // Dates step in days, `stop` excluded; times in seconds.
    assert_eq!(
        values(
            "daterange",
            json!({"start": "2024-02-27", "stop": "2024-03-02", "step": 1})
        ),
        vec![
            json!("2024-02-27"),
            json!("2024-02-28"),
            json!("2024-02-29"),
            json!("2024-03-01")
        ]
    );
    assert_eq!(
        values(
            "datetimerange",
            json!({"start": "2024-01-01 22:00:00", "stop": "2024-01-02 02:00:00", "step": 7200})
        ),
        vec![json!("2024-01-01T22:00:00"), json!("2024-01-02T00:00:00")]
    );
}

#[test]
fn a_grid_refuses_distributions_and_a_space_past_the_limit() {
    let continuous = json!({"kind": "grid", "params": {
        "lr": {"kind": "uniform", "value": {"low": 0.0, "high": 1.0}},
    }});
    assert_eq!(
        run(continuous, &[], 0).unwrap_err(),
        "`lr` defines a distribution, and it cannot be used with grid search."
    );
    // 10^12 combinations: refused from the sizes alone, at once.
    let huge = json!({"kind": "grid", "params": {
        "a": {"kind": "range", "value": {"start": 0.0, "stop": 1e6, "step": 1}},
        "b": {"kind": "range", "value": {"start": 0.0, "stop": 1e6, "step": 1}},
    }});
    let started = std::time::Instant::now();
    let error = run(huge.clone(), &[], 0).unwrap_err();
    assert!(error.contains("1000000000000 runs"), "{error}");
    assert!(started.elapsed().as_millis() < 100);
    // Cut by `numRuns`, the same space is fine: only the first runs are computed.
    let mut cut = huge;
    cut["numRuns"] = json!(3);
    assert_eq!(run(cut, &["a", "b"], 0).unwrap().len(), 3);
}

#[test]
fn a_seeded_random_search_is_reproducible_distinct_and_inside_its_space() {
    let random = json!({"kind": "random", "numRuns": 50, "seed": 7, "params": {
        "lr": {"kind": "loguniform", "value": {"low": -9.0, "high": -2.0}},
        "dropout": {"kind": "uniform", "value": {"low": 0.0, "high": 0.5}},
        "units": {"kind": "quniform", "value": {"low": 32.0, "high": 256.0, "q": 32}},
        "noise": {"kind": "qnormal", "value": {"loc": 0.0, "scale": 1.0, "q": 0.5}},
        "opt": {"kind": "pchoice", "value": [["adam", 0.7], ["sgd", 0.3]]},
        "layers": {"kind": "range", "value": {"start": 1.0, "stop": 5.0, "step": 1}},
    }});
    let first = run(random.clone(), &[], 1).unwrap();
    // The matrix's own seed wins over the one passed in.
    assert_eq!(first, run(random.clone(), &[], 2).unwrap());
    assert_eq!(first.len(), 50);
    let distinct: std::collections::HashSet<String> = first
        .iter()
        .map(|child| Json::Object(child.clone()).to_string())
        .collect();
    assert_eq!(distinct.len(), 50);
    let mut adam = 0;
    for child in &first {
        let lr = child["lr"].as_f64().unwrap();
        assert!(((-9f64).exp()..(-2f64).exp()).contains(&lr), "{lr}");
        let dropout = child["dropout"].as_f64().unwrap();
        assert!((0.0..0.5).contains(&dropout));
        let units = child["units"].as_f64().unwrap();
        assert!(
            (32.0..256.0).contains(&units) && units % 32.0 == 0.0,
            "{units}"
        );
        assert_eq!(child["noise"].as_f64().unwrap() % 0.5, 0.0);
        assert!([1.0, 2.0, 3.0, 4.0].contains(&child["layers"].as_f64().unwrap()));
        adam += usize::from(child["opt"] == "adam");
    }
    assert!(
        (25..=45).contains(&adam),
        "adam drawn {adam} times of 50 at p=0.7"
    );
    // Another seed, other children.
    let mut other = random;
    other["seed"] = json!(8);
    assert_ne!(first, run(other, &[], 1).unwrap());
}

#[test]
fn a_random_search_over_a_small_discrete_space_takes_each_point_once() {
    let random = json!({"kind": "random", "numRuns": 10, "params": {
        "a": {"kind": "choice", "value": [1, 2]},
        "b": {"kind": "choice", "value": ["x", "y", "z"]},
    }});
    let children = run(random.clone(), &[], 3).unwrap();
    assert_eq!(children.len(), 6, "the space holds six points");
    assert_eq!(children, run(random.clone(), &[], 3).unwrap());
    assert_ne!(children, run(random, &[], 4).unwrap());
    let missing = json!({"kind": "random", "params": {"a": {"kind": "choice", "value": [1]}}});
    assert!(run(missing, &[], 0).unwrap_err().contains("numRuns"));
}

#[test]
fn a_mapping_makes_a_child_per_item() {
    let mapping = json!({"kind": "mapping", "values": [
        {"lr": 0.1, "opt": "adam"}, {"lr": 0.2, "opt": "sgd"},
    ]});
    assert_eq!(
        children(mapping, &[]),
        vec![
            json!({"lr": 0.1, "opt": "adam"}),
            json!({"lr": 0.2, "opt": "sgd"})
        ]
    );
    let bad = json!({"kind": "mapping", "values": [1]});
    assert_eq!(
        run(bad, &[], 0).unwrap_err(),
        "`values[0]` must map param names to values"
    );
}

#[test]
fn searches_that_learn_from_results_are_named_as_not_run_yet() {
    let bayes = json!({"kind": "bayes", "params": {}});
    assert!(run(bayes, &[], 0).unwrap_err().contains("`bayes` matrix"));
}

#[test]
fn the_written_order_of_params_is_read_from_the_text() {
    let text = "kind: operation\nmatrix:\n  kind: grid\n  params:\n    zeta: {kind: choice, value: [1]}\n    alpha: {kind: choice, value: [2]}\n";
    assert_eq!(matrix::written_order(text), vec!["zeta", "alpha"]);
    assert!(matrix::written_order(": : :").is_empty());
}

#[test]
fn a_child_operation_is_the_matrix_without_its_matrix_and_with_its_params() {
    let text = "kind: operation\nname: sweep\nparams:\n  epochs: {value: 3}\nmatrix:\n  kind: grid\n  params:\n    layers: {kind: range, value: [1, 3, 1]}\ncomponent:\n  inputs: [{name: layers, type: int}, {name: epochs, type: int}]\n  run: {kind: job, container: {image: busybox}}\n";
    let compiled = json!({"inputs": [
        {"name": "layers", "type": "int"}, {"name": "epochs", "type": "int"},
    ]});
    let child = Suggestion::from_iter([("layers".to_owned(), json!(2.0))]);
    let operation: Json =
        serde_json::from_str(&matrix::child_operation(text, &compiled, &child).unwrap()).unwrap();
    assert!(operation.get("matrix").is_none());
    assert_eq!(operation["name"], "sweep");
    // The float numpy's arange gives becomes the int the input declares.
    assert_eq!(
        operation["params"],
        json!({"epochs": {"value": 3}, "layers": {"value": 2}})
    );
    assert_eq!(operation["component"]["run"]["kind"], "job");
}
