//! Every run, project and version route of the polyaxon 2.18 SDK that haupt 2.18 CE (Polyaxon's
//! own server) serves must answer on Myelin, with haupt's shapes.
//!
//! `data/haupt_routes.json` is what haupt answered, measured against `haupt sandbox`: one entry per
//! route of the SDK (the appendix of the reference's `polyaxon-api.md`), with the request sent
//! and the shape of the answer. This test sends each request again to Myelin, on data of its own
//! made for that request (its own projects, and runs that have ended, with files, lineage and
//! a Polyaxonfile), and checks that the route answers as haupt's did: a success where haupt's
//! succeeded, and no key of haupt's answer missing or of another type.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use std::time::Duration;

use common::{Server, is_done, python_job};
use serde_json::{Value as Json, json};

/// The projects haupt's requests name.
const PROJECTS: &[&str] = &["demo", "other", "tmp", "tmp2"];

#[derive(Debug)]
struct Route {
    method: String,
    template: String,
    status: u16,
    shape: Json,
    path: String,
    query: String,
    body: Json,
}

fn routes() -> Vec<Route> {
    let text = include_str!("data/haupt_routes.json");
    let rows: Vec<Json> = serde_json::from_str(text).unwrap();
    rows.into_iter()
        .filter(|row| row["haupt_serves"] == json!(true))
        .map(|row| Route {
            method: row["method"].as_str().unwrap().to_owned(),
            template: row["path"].as_str().unwrap().to_owned(),
            status: row["status"].as_u64().unwrap() as u16,
            shape: row["shape"].clone(),
            path: row["sent"]["path"].as_str().unwrap().to_owned(),
            query: row["sent"]["query"].as_str().unwrap_or_default().to_owned(),
            body: row["sent"]["body"].clone(),
        })
        .collect()
}

/// Each 32-hex-digit word of `text` (haupt's run uuids), in order of appearance.
fn uuids_in(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for word in text.split(|c: char| !c.is_ascii_alphanumeric()) {
        if word.len() == 32
            && word.bytes().all(|b| b.is_ascii_hexdigit())
            && !found.iter().any(|f| f == word)
        {
            found.push(word.to_owned());
        }
    }
    found
}

/// `text` with haupt's uuids and project names replaced by the ones made for this request.
fn translate(text: &str, uuids: &BTreeMap<String, String>, suffix: &str) -> String {
    let mut text = text.to_owned();
    for (theirs, ours) in uuids {
        text = text.replace(theirs, ours);
    }
    for project in PROJECTS {
        text = text
            .replace(&format!("/{project}/"), &format!("/{project}{suffix}/"))
            .replace(&format!("\"{project}\""), &format!("\"{project}{suffix}\""));
        if text.ends_with(&format!("/{project}")) {
            text.push_str(suffix);
        }
    }
    text
}

static NEXT_UUID: AtomicU64 = AtomicU64::new(1);

fn new_uuid() -> String {
    format!(
        "{:032x}",
        0xabc0_0000_0000 + NEXT_UUID.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs that have ended, as many as asked, with what haupt's requests read: a Polyaxonfile,
/// files under `outputs/`, and lineage.
fn ended_runs(server: &Server, project: &str, count: usize) -> Vec<String> {
    let content = python_job("r1", "print('done')");
    let uuids: Vec<String> = (0..count)
        .map(|_| {
            let (status, run) = server.request(
                "POST",
                &format!("/api/v1/default/{project}/runs"),
                Some(&json!({ "content": content, "name": "r1" })),
            );
            assert_eq!(status, 200, "{run}");
            run["uuid"].as_str().unwrap().to_owned()
        })
        .collect();
    for uuid in &uuids {
        let ended = server.wait_for(project, uuid, is_done, Duration::from_secs(60));
        assert_eq!(ended, "succeeded", "{}", server.run(project, uuid));
        let folder = server.data().join("artifacts").join(uuid).join("outputs");
        for file in ["model.txt", "del.txt", "deldir/a.txt", "sub/b.txt"] {
            let path = folder.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "weights").unwrap();
        }
        let artifacts = json!({"artifacts": [
            {"name": "loss", "kind": "metric", "path": "events/metric/loss.plx",
             "summary": {"last_value": 0.2}, "is_input": false},
            {"name": "accuracy", "kind": "metric", "path": "events/metric/accuracy.plx",
             "summary": {"last_value": 0.8}, "is_input": false},
            {"name": "model", "kind": "model", "path": "outputs/model.txt", "is_input": false},
            {"name": "dataset", "kind": "data", "path": "/data/train.csv", "is_input": true},
        ]});
        let (status, answer) = server.request(
            "POST",
            &format!("/api/v1/default/{project}/runs/{uuid}/lineage/artifacts"),
            Some(&artifacts),
        );
        assert_eq!(status, 201, "{answer}");
    }
    uuids
}

/// What of haupt's `shape` is missing from `value` or of another type, as `path: why` lines.
///
/// Records are compared field by field: the answer itself, and the items of its lists
/// (`results`). A field's value is compared by type only, since its keys are data (a run's
/// inputs, a metric's summary). A null on either side matches anything, and a field haupt
/// answered null may be left out: haupt answers null for what its data lacked.
fn differences(shape: &Json, value: &Json, path: &str, record: bool, found: &mut Vec<String>) {
    match (shape, value) {
        (Json::String(kind), _) if kind == "null" => {}
        (_, Json::Null) => {}
        (Json::Object(keys), Json::Object(values)) if record => {
            for (key, inner) in keys {
                let here = format!("{path}.{key}");
                match values.get(key) {
                    // The items of the answer's lists are records too.
                    Some(value) => {
                        let items = path.is_empty() && value.is_array();
                        differences(inner, value, &here, items, found);
                    }
                    None if inner == "null" => {}
                    None => found.push(format!("{here}: missing")),
                }
            }
        }
        (Json::Object(_), Json::Object(_)) => {}
        (Json::Array(shapes), Json::Array(values)) => {
            if let (Some(shape), Some(value)) = (shapes.first(), values.first()) {
                differences(shape, value, &format!("{path}[0]"), record, found);
            }
        }
        (Json::String(kind), value) => {
            let matches = match kind.as_str() {
                "string" => value.is_string(),
                "number" => value.is_number(),
                "bool" => value.is_boolean(),
                // A file, a page or an empty body: the status says enough.
                _ => true,
            };
            if !matches {
                found.push(format!("{path}: haupt has a {kind}, Myelin {value}"));
            }
        }
        (shape, value) => found.push(format!("{path}: haupt has {shape}, Myelin {value}")),
    }
}

#[test]
fn every_route_haupt_serves_answers_on_myelin_with_haupts_shapes() {
    let routes = routes();
    assert_eq!(routes.len(), 78, "haupt serves 78 of the SDK's 98 routes");
    let server = Server::start("haupt-routes", &[]);
    let mut failures = Vec::new();
    for (index, route) in routes.iter().enumerate() {
        let suffix = format!("-{index}");
        let creates_project = route.template.ends_with("/projects/create");
        for project in PROJECTS {
            if !creates_project || *project != "demo" {
                let (status, answer) = server.request(
                    "POST",
                    "/api/v1/default/projects/create",
                    Some(&json!({ "name": format!("{project}{suffix}") })),
                );
                assert_eq!(status, 200, "{answer}");
            }
        }
        let body_text = route.body.to_string();
        let sent = format!("{} {} {body_text}", route.path, route.query);
        let theirs = if route.template.contains("compatibility") {
            Vec::new()
        } else {
            uuids_in(&sent)
        };
        // A synced run brings its own uuid; every other request acts on runs of this server.
        let ours = if route.template.ends_with("/runs/sync") {
            theirs.iter().map(|_| new_uuid()).collect()
        } else {
            ended_runs(&server, &format!("demo{suffix}"), theirs.len())
        };
        let uuids: BTreeMap<String, String> = theirs.into_iter().zip(ours).collect();
        // haupt's version requests act on model versions `v1`…`v3` of a run's `model`.
        if route.template.contains("/versions/{kind}/") {
            let run = &ended_runs(&server, &format!("demo{suffix}"), 1)[0];
            for name in ["v1", "v2", "v3"] {
                let (status, answer) = server.request(
                    "POST",
                    &format!("/api/v1/default/demo{suffix}/versions/model"),
                    Some(&json!({"name": name, "run": run, "artifacts": ["model"]})),
                );
                assert_eq!(status, 201, "{answer}");
            }
        }
        let mut path = translate(&route.path, &uuids, &suffix);
        if !route.query.is_empty() {
            path = format!("{path}?{}", translate(&route.query, &uuids, &suffix));
        }
        let body: Json = serde_json::from_str(&translate(&body_text, &uuids, &suffix)).unwrap();
        let body = (!body.is_null()).then_some(&body);
        let (status, text) = server.send(&route.method, &path, body);
        let answer = serde_json::from_str(&text).unwrap_or(Json::String(text));
        let label = format!("{} {} (sent {path})", route.method, route.template);
        if matches!(status, 404 | 405) {
            failures.push(format!("{label}: {status} {answer}"));
            continue;
        }
        // Where haupt refused (the sandbox has no connections, and no internal service to
        // collect logs for), the route need only answer.
        let haupt_succeeded = (200..300).contains(&route.status);
        if haupt_succeeded && !(200..300).contains(&status) {
            failures.push(format!(
                "{label}: haupt answered {}, Myelin {status} {answer}",
                route.status
            ));
            continue;
        }
        if haupt_succeeded {
            let mut found = Vec::new();
            differences(&route.shape, &answer, "", true, &mut found);
            failures.extend(found.into_iter().map(|why| format!("{label}: {why}")));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
