//! Which hooks a run's end calls, with their conditions and params rendered: `shared::hooks`.

use serde_json::{Value as Json, json};
use shared::api::Run;
use shared::hooks;

fn run(status: &str) -> Run {
    serde_json::from_value(json!({
        "uuid": "8c1f3a5e7b9d4f21a3c5e7f9b1d3f5a7", "name": "train", "description": null,
        "tags": [], "user": null, "owner": "acme", "project": "mnist",
        "created_at": "2024-01-02T03:04:05Z", "updated_at": "2024-01-02T03:04:05Z",
        "started_at": null, "finished_at": null, "wait_time": null, "duration": null,
        "managed_by": "agent", "is_managed": true, "is_approved": true, "pending": null,
        "content": null, "raw_content": null, "status": status, "status_conditions": [],
        "meta_info": {}, "kind": "job", "runtime": "job",
        "inputs": {"lr": 0.1}, "outputs": {"loss": 0.02},
        "settings": {"namespace": "polyaxon", "artifacts_store": null, "runtime": "process"},
        "live_state": 1, "original": null,
    }))
    .unwrap()
}

fn compiled() -> Json {
    json!({"hooks": [
        {"trigger": "succeeded", "hubRef": "webhook", "params": {
            "url": {"value": "http://127.0.0.1:9/hook"},
            "message": {"value": "run {{ globals.uuid }} of {{ globals.project_name }}: {{ outputs.loss }}"},
        }},
        {"trigger": "failed", "hubRef": "acme/pagerduty:v1"},
        {"trigger": "done", "hubRef": "webhook", "conditions": "{{ outputs.loss < 0.05 }}"},
        {"trigger": "done", "hubRef": "webhook", "conditions": "{{ outputs.loss > 0.05 }}"},
    ]})
}

#[test]
fn a_final_status_calls_its_trigger_s_hooks_whose_conditions_hold() {
    let called: Vec<_> = hooks::called(&compiled(), &run("succeeded"))
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let indexes: Vec<usize> = called.iter().map(|hook| hook.index).collect();
    assert_eq!(indexes, [0, 2], "succeeded, and done whose condition holds");
    assert_eq!(
        called[0].params["message"],
        "run 8c1f3a5e7b9d4f21a3c5e7f9b1d3f5a7 of mnist: 0.02"
    );
    assert_eq!(called[0].params["url"], "http://127.0.0.1:9/hook");
    let failed: Vec<usize> = hooks::called(&compiled(), &run("failed"))
        .into_iter()
        .map(|hook| hook.unwrap().index)
        .collect();
    assert_eq!(failed, [1, 2]);
    assert!(
        hooks::called(&compiled(), &run("running")).is_empty(),
        "not ended"
    );
    assert_eq!(hooks::component_name("acme/pagerduty:v1"), "pagerduty");
}

#[test]
fn a_condition_that_is_not_a_boolean_is_named() {
    let compiled = json!({"hooks": [{"trigger": "done", "conditions": "{{ globals.name }}"}]});
    let called = hooks::called(&compiled, &run("stopped"));
    let error = called[0].clone().unwrap_err();
    assert!(
        error.contains("hook 0") && error.contains("true or false"),
        "{error}"
    );
}
