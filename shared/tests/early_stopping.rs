//! Early stopping's verdicts over children given as data: `shared::early_stopping`.

use std::collections::BTreeMap;

use serde_json::json;
use shared::api::{MetricSummary, Status};
use shared::early_stopping::{Child, judge};

fn child(uuid: &str, status: Status, loss: Option<f64>, steps: i64) -> Child {
    let metrics = loss
        .map(|last| {
            let summary = MetricSummary {
                count: u64::try_from(steps).unwrap(),
                last: Some(last),
                last_step: Some(steps - 1),
                ..MetricSummary::default()
            };
            BTreeMap::from([("loss".to_owned(), summary)])
        })
        .unwrap_or_default();
    Child {
        uuid: uuid.to_owned(),
        status,
        metrics,
    }
}

#[test]
fn failures_past_the_percent_end_the_search_failed() {
    let rule = json!([{"kind": "failure_early_stopping", "percent": 50}]);
    let one = [
        child("a", Status::Failed, None, 0),
        child("b", Status::Running, None, 0),
    ];
    assert_eq!(judge(&rule, &one, 4).end, None, "1 of 4 is 25%");
    let two = [
        child("a", Status::Failed, None, 0),
        child("b", Status::Failed, None, 0),
    ];
    let verdict = judge(&rule, &two, 4);
    let (status, message) = verdict.end.unwrap();
    assert_eq!(status, Status::Failed);
    assert_eq!(message, "early stopping: 2 of 4 runs failed, 50% or more");
}

#[test]
fn a_metric_reaching_its_value_ends_the_search_succeeded() {
    let minimize = json!([{"kind": "metric_early_stopping", "metric": "loss", "value": 0.1, "optimization": "minimize"}]);
    let children = [
        child("a", Status::Succeeded, Some(0.3), 5),
        child("b", Status::Running, Some(0.09), 3),
    ];
    let verdict = judge(&minimize, &children, 10);
    assert_eq!(
        verdict.winner.as_deref(),
        Some("b"),
        "the run that reached it goes on"
    );
    let (status, message) = verdict.end.unwrap();
    assert_eq!(status, Status::Succeeded);
    assert!(message.contains("run b reached loss 0.09"), "{message}");
    let maximize = json!([{"kind": "metric_early_stopping", "metric": "loss", "value": 0.5, "optimization": "maximize"}]);
    assert_eq!(judge(&maximize, &children, 10).end, None);
}

#[test]
fn the_policies_stop_the_running_runs_they_say() {
    let children = [
        child("a", Status::Succeeded, Some(0.2), 10),
        child("b", Status::Succeeded, Some(0.3), 10),
        child("c", Status::Running, Some(0.9), 5),
        child("d", Status::Running, Some(0.25), 5),
        child("e", Status::Running, Some(0.8), 1),
    ];
    let rule = |policy: serde_json::Value| json!([{"kind": "metric_early_stopping", "metric": "loss", "optimization": "minimize", "policy": policy}]);
    let stopped = |policy| -> Vec<String> {
        judge(&rule(policy), &children, 5)
            .stop
            .into_iter()
            .map(|(uuid, _)| uuid)
            .collect()
    };
    // e has logged once: too early to judge with minInterval 2.
    assert_eq!(
        stopped(json!({"kind": "median", "minInterval": 2, "minSamples": 3})),
        ["c"]
    );
    assert!(
        stopped(json!({"kind": "median", "minSamples": 6})).is_empty(),
        "fewer samples than asked"
    );
    assert_eq!(
        stopped(json!({"kind": "truncation", "percent": 50})),
        ["c"],
        "the worst half of the three running, rounded down"
    );
    assert_eq!(
        stopped(json!({"kind": "diff", "percent": 100, "minInterval": 1})),
        ["c", "e"],
        "more than twice the best"
    );
}
