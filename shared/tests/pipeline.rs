//! A DAG's next steps, through `shared::pipeline`: a row of the trigger table per case.

use std::collections::HashMap;

use serde_json::{Map, Value as Json, json};
use shared::api::LineageArtifact;
use shared::api::Status::{self, *};
use shared::pipeline::{self, Decision, Op, Upstream};

fn op(trigger: &str, skip_on_upstream_skip: bool) -> Op {
    Op {
        name: "c".to_owned(),
        upstream: vec!["a".to_owned(), "b".to_owned()],
        trigger: trigger.to_owned(),
        skip_on_upstream_skip,
    }
}

fn decide(trigger: &str, upstream: [Option<Status>; 2]) -> Decision {
    pipeline::decide(&op(trigger, false), &upstream)
}

/// A decision in a word: `start`, `wait`, or the status it ends in.
fn word(decision: Decision) -> String {
    match decision {
        Decision::Start => "start".to_owned(),
        Decision::Wait => "wait".to_owned(),
        Decision::End(status, _) => status.as_str().to_owned(),
    }
}

#[test]
fn each_trigger_waits_starts_or_ends_as_its_row_says() {
    let cases: &[(&str, [Option<Status>; 2], &str)] = &[
        ("all_succeeded", [Some(Succeeded), Some(Succeeded)], "start"),
        ("all_succeeded", [Some(Succeeded), Some(Skipped)], "start"),
        ("all_succeeded", [Some(Succeeded), Some(Running)], "wait"),
        ("all_succeeded", [Some(Succeeded), None], "wait"),
        (
            "all_succeeded",
            [Some(Failed), Some(Succeeded)],
            "upstream_failed",
        ),
        (
            "all_succeeded",
            [Some(Stopped), Some(Succeeded)],
            "upstream_failed",
        ),
        ("all_succeeded", [Some(Failed), Some(Running)], "wait"),
        ("all_failed", [Some(Failed), Some(UpstreamFailed)], "start"),
        ("all_failed", [Some(Failed), Some(Succeeded)], "skipped"),
        ("all_done", [Some(Failed), Some(Succeeded)], "start"),
        ("all_done", [Some(Failed), Some(Running)], "wait"),
        ("one_succeeded", [Some(Succeeded), Some(Running)], "start"),
        ("one_succeeded", [Some(Failed), Some(Running)], "wait"),
        (
            "one_succeeded",
            [Some(Failed), Some(Failed)],
            "upstream_failed",
        ),
        ("one_failed", [Some(Failed), None], "start"),
        ("one_failed", [Some(Succeeded), Some(Succeeded)], "skipped"),
        ("one_done", [Some(Stopped), Some(Running)], "start"),
        ("one_done", [Some(Running), None], "wait"),
    ];
    for (trigger, upstream, expected) in cases {
        let decision = word(decide(trigger, *upstream));
        assert_eq!(decision, *expected, "{trigger} with {upstream:?}");
    }
    // Skipped upstream skips it when asked, whatever the trigger.
    let decision = pipeline::decide(&op("all_done", true), &[Some(Skipped), Some(Succeeded)]);
    assert_eq!(word(decision), "skipped");
    // No upstream: at once.
    let alone = Op {
        upstream: Vec::new(),
        ..op("all_succeeded", false)
    };
    assert_eq!(pipeline::decide(&alone, &[]), Decision::Start);
}

fn dag() -> Json {
    json!({
        "kind": "dag",
        "operations": [
            {"name": "prepare", "dagRef": "step"},
            {"name": "train", "dagRef": "step", "dependencies": ["prepare"],
             "params": {"data": {"ref": "ops.prepare", "value": "outputs.path"},
                        "lr": {"ref": "dag", "value": "inputs.lr"},
                        "epochs": {"value": 3}}},
            {"name": "evaluate", "dagRef": "step", "trigger": "all_done",
             "params": {"model": {"ref": "ops.train", "value": "globals.uuid"}}},
        ],
        "components": [{"name": "step", "run": {"kind": "job", "container": {"image": "busybox"}}}],
    })
}

#[test]
fn upstream_is_dependencies_and_the_operations_params_refer_to() {
    let ops = pipeline::ops(&dag()).unwrap();
    let upstream: Vec<Vec<String>> = ops.iter().map(|op| op.upstream.clone()).collect();
    assert_eq!(
        upstream,
        vec![vec![], vec!["prepare".to_owned()], vec!["train".to_owned()]]
    );
    assert_eq!(ops[2].trigger, "all_done");
    let mut unknown = dag();
    unknown["operations"][1]["dependencies"] = json!(["ghost"]);
    assert!(pipeline::ops(&unknown).unwrap_err().contains("`ghost`"));
    let mut conditions = dag();
    conditions["operations"][1]["conditions"] = json!("{{ lr < 0.1 and data == '/data' }}");
    assert!(pipeline::ops(&conditions).is_ok());
    let params = |lr: f64| {
        Map::from_iter([
            ("lr".to_owned(), json!({"value": lr})),
            ("data".to_owned(), json!({"value": "/data"})),
        ])
    };
    assert_eq!(
        pipeline::conditions_hold(&conditions, 1, &params(0.05)),
        Ok(true)
    );
    assert_eq!(
        pipeline::conditions_hold(&conditions, 1, &params(0.5)),
        Ok(false)
    );
    assert_eq!(
        pipeline::conditions_hold(&conditions, 0, &params(0.5)),
        Ok(true),
        "none"
    );
    conditions["operations"][1]["conditions"] = json!("{{ data }}");
    let error = pipeline::conditions_hold(&conditions, 1, &params(0.5)).unwrap_err();
    assert!(error.contains("not true or false"), "{error}");
}

#[test]
fn params_read_the_dag_s_inputs_and_upstream_runs() {
    let run = dag();
    let params = run["operations"][1]["params"].as_object().unwrap().clone();
    let dag_inputs = Map::from_iter([("lr".to_owned(), json!(0.05))]);
    let prepare = Upstream {
        uuid: "a1".to_owned(),
        outputs: Map::from_iter([("path".to_owned(), json!("/data"))]),
        ..Upstream::default()
    };
    let runs = HashMap::from([("prepare".to_owned(), prepare)]);
    let resolved = pipeline::resolve_params(&params, &dag_inputs, &runs).unwrap();
    assert_eq!(
        Json::Object(resolved.clone()),
        json!({"data": {"value": "/data"}, "lr": {"value": 0.05}, "epochs": {"value": 3}})
    );
    let operation = pipeline::op_operation(&run, 1, resolved).unwrap();
    assert_eq!(operation["kind"], "operation");
    assert_eq!(operation["name"], "train");
    assert_eq!(operation["component"]["name"], "step");
    assert!(operation.get("dagRef").is_none() && operation.get("dependencies").is_none());
    // An output the upstream run never logged is named.
    let empty = HashMap::from([("prepare".to_owned(), Upstream::default())]);
    let error = pipeline::resolve_params(&params, &dag_inputs, &empty).unwrap_err();
    assert_eq!(error, "param `data`: `ops.prepare` has no `outputs.path`");
}

#[test]
fn params_and_joins_read_the_paths_of_artifacts_and_events_upstream_runs_recorded() {
    let artifact = |name: &str, kind: &str, path: &str, is_input: bool| LineageArtifact {
        name: name.to_owned(),
        kind: Some(kind.to_owned()),
        path: Some(path.to_owned()),
        summary: None,
        is_input: Some(is_input),
    };
    let train = Upstream {
        uuid: "b2".to_owned(),
        lineage: vec![
            artifact("data", "dir", "a1/outputs/data", true),
            artifact("model", "model", "b2/outputs/model.pt", false),
            artifact("loss", "metric", "b2/events/metric/loss.plx", false),
        ],
        ..Upstream::default()
    };
    let runs = HashMap::from([("train".to_owned(), train.clone())]);
    let params: Map<String, Json> = serde_json::from_value(json!({
        "model": {"ref": "ops.train", "value": "artifacts.model"},
        "curve": {"ref": "ops.train", "value": "events.loss"},
    }))
    .unwrap();
    let resolved = pipeline::resolve_params(&params, &Map::new(), &runs).unwrap();
    assert_eq!(
        Json::Object(resolved),
        json!({"model": {"value": "b2/outputs/model.pt"}, "curve": {"value": "b2/events/metric/loss.plx"}})
    );
    // What the run read is not what it made, and a model is not an event.
    for (value, missing) in [
        ("artifacts.data", "artifacts.data"),
        ("events.model", "events.model"),
    ] {
        let params: Map<String, Json> =
            serde_json::from_value(json!({"x": {"ref": "ops.train", "value": value}})).unwrap();
        let error = pipeline::resolve_params(&params, &Map::new(), &runs).unwrap_err();
        assert_eq!(error, format!("param `x`: `ops.train` has no `{missing}`"));
    }
    let join = json!({"params": {"models": {"value": "artifacts.model"}}});
    let other = Upstream::default();
    let joined = pipeline::join_params(&join, &[train, other]).unwrap();
    assert_eq!(
        joined["models"]["value"],
        json!(["b2/outputs/model.pt", null])
    );
}
