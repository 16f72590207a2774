//! Hyperband's brackets and rungs against Polyaxon 2.18's own: the tables below were printed by
//! `polyaxon._flow.matrix.hyperband.V1Hyperband` (`get_bracket`, `get_num_runs`,
//! `get_num_runs_to_keep`, `resource.cast_value`) in the oracle's venv.

use serde_json::{Value as Json, json};
use shared::hyperband::Hyperband;
use shared::matrix::Suggestion;

fn rungs(max: f64, eta: f64, kind: &str) -> Vec<(u32, u32, usize, Json)> {
    let matrix = json!({
        "kind": "hyperband", "maxIterations": max, "eta": eta,
        "resource": {"name": "epochs", "type": kind},
        "metric": {"name": "loss", "optimization": "minimize"},
    });
    Hyperband::read(&matrix)
        .unwrap()
        .rungs()
        .into_iter()
        .map(|rung| {
            (
                rung.iteration,
                rung.bracket_iteration,
                rung.runs,
                rung.resource,
            )
        })
        .collect()
}

#[test]
fn brackets_and_resources_are_polyaxon_s() {
    let expected: Vec<(u32, u32, usize, Json)> = [
        (0, 0, 81, 1),
        (0, 1, 27, 3),
        (0, 2, 9, 9),
        (0, 3, 3, 27),
        (0, 4, 1, 81),
        (1, 0, 34, 3),
        (1, 1, 11, 9),
        (1, 2, 3, 27),
        (1, 3, 1, 81),
        (2, 0, 15, 9),
        (2, 1, 5, 27),
        (2, 2, 1, 81),
        (3, 0, 8, 27),
        (3, 1, 2, 81),
        (4, 0, 5, 81),
    ]
    .into_iter()
    .map(|(i, k, n, r)| (i, k, n, json!(r)))
    .collect();
    assert_eq!(rungs(81.0, 3.0, "int"), expected);
    let expected: Vec<(u32, u32, usize, Json)> = [
        (0, 0, 98, 1.024),
        (0, 1, 39, 2.56),
        (0, 2, 15, 6.4),
        (0, 3, 6, 16.0),
        (0, 4, 2, 40.0),
        (0, 5, 1, 100.0),
        (1, 0, 47, 2.56),
        (1, 1, 18, 6.4),
        (1, 2, 7, 16.0),
        (1, 3, 3, 40.0),
        (1, 4, 1, 100.0),
        (2, 0, 24, 6.4),
        (2, 1, 9, 16.0),
        (2, 2, 3, 40.0),
        (2, 3, 1, 100.0),
        (3, 0, 13, 16.0),
        (3, 1, 5, 40.0),
        (3, 2, 2, 100.0),
        (4, 0, 8, 40.0),
        (4, 1, 3, 100.0),
        (5, 0, 6, 100.0),
    ]
    .into_iter()
    .map(|(i, k, n, r)| (i, k, n, json!(r)))
    .collect();
    assert_eq!(rungs(100.0, 2.5, "float"), expected);
    assert_eq!(
        rungs(10.0, 4.0, "int"),
        vec![
            (0, 0, 4, json!(2)),
            (0, 1, 1, json!(10)),
            (1, 0, 2, json!(10))
        ]
    );
}

#[test]
fn a_rung_keeps_the_best_of_the_one_before_at_its_resource() {
    let matrix = json!({
        "kind": "hyperband", "maxIterations": 9, "eta": 3,
        "resource": {"name": "epochs", "type": "int"},
        "metric": {"name": "acc", "optimization": "maximize"},
    });
    let hyperband = Hyperband::read(&matrix).unwrap();
    let all = hyperband.rungs();
    let second = &all[1];
    assert_eq!((second.runs, second.resource.clone()), (3, json!(3)));
    let config = |lr: f64| {
        Suggestion::from_iter([
            ("lr".to_owned(), json!(lr)),
            ("epochs".to_owned(), json!(1)),
        ])
    };
    let before: Vec<(Suggestion, Option<f64>)> = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
        .into_iter()
        .zip([
            Some(0.5),
            None,
            Some(0.9),
            Some(0.1),
            Some(0.7),
            Some(0.2),
            Some(0.3),
            Some(0.95),
            Some(0.4),
        ])
        .map(|(lr, acc)| (config(lr), acc))
        .collect();
    let kept = hyperband.promote(second, &before);
    let lrs: Vec<f64> = kept
        .iter()
        .map(|params| params["lr"].as_f64().unwrap())
        .collect();
    assert_eq!(lrs, [0.8, 0.3, 0.5], "the highest accuracy first");
    assert!(kept.iter().all(|params| params["epochs"] == json!(3)));
    assert!(Hyperband::read(&json!({"kind": "hyperband"})).is_err());
}

#[test]
fn a_search_of_more_runs_than_a_matrix_may_make_is_refused() {
    let matrix = json!({
        "kind": "hyperband", "maxIterations": 1e9, "eta": 3,
        "resource": {"name": "epochs", "type": "int"},
        "metric": {"name": "loss", "optimization": "minimize"},
    });
    let error = Hyperband::read(&matrix).unwrap_err();
    assert!(
        error.contains("at most 100000 may come from one matrix"),
        "{error}"
    );
}
