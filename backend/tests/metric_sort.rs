//! Run lists sorted on a metric's summary, page by page: by the value (a run's last value, else
//! its output of the same name), then by id, runs without a value last, across projects.

mod common;

use common::Server;
use serde_json::{Value as Json, json};

fn post(server: &Server, path: &str, body: Json) -> Json {
    let (status, answer) = server.request("POST", path, Some(&body));
    assert_eq!(status, 200, "POST {path} {body}: {answer}");
    answer
}

/// A `.plx` file of `values`, one step each.
fn plx(values: &[f64]) -> String {
    let mut text = "step|timestamp|metric".to_owned();
    for (step, value) in values.iter().enumerate() {
        text.push_str(&format!(
            "\n{step}|2026-01-01 00:00:{step:02}.000000+00:00|{value:?}"
        ));
    }
    text
}

#[test]
fn metric_sorts_page_through_series_outputs_and_runs_without_either() {
    let server = Server::start("metric-sort", &[]);
    for project in ["a", "b"] {
        post(
            &server,
            "/api/v1/default/projects/create",
            json!({"name": project}),
        );
    }
    // (project, name, the loss series' values, the output `loss`), created in this order.
    let runs: [(&str, &str, &[f64], Option<f64>); 8] = [
        ("a", "r1", &[1.0, 0.3], None),
        ("b", "r2", &[1.0, 0.1], Some(0.9)),
        ("a", "r3", &[1.0, 0.5], None),
        ("a", "r4", &[], Some(0.2)),
        ("b", "r5", &[], Some(0.6)),
        ("a", "r6", &[], None),
        ("b", "r7", &[], None),
        ("b", "r9", &[1.0, 0.3], None),
    ];
    let mut uuids = Vec::new();
    for (project, name, values, output) in runs {
        let run = post(
            &server,
            &format!("/api/v1/default/{project}/runs"),
            json!({"is_managed": false, "managed_by": "user", "name": name}),
        );
        let uuid = run["uuid"].as_str().unwrap().to_owned();
        if !values.is_empty() {
            let folder = server
                .data()
                .join("artifacts")
                .join(&uuid)
                .join("events/metric");
            std::fs::create_dir_all(&folder).unwrap();
            std::fs::write(folder.join("loss.plx"), plx(values)).unwrap();
        }
        if let Some(loss) = output {
            let (status, body) = server.request(
                "PATCH",
                &format!("/api/v1/default/{project}/runs/{uuid}"),
                Some(&json!({"outputs": {"loss": loss}, "merge": true})),
            );
            assert_eq!(status, 200, "{body}");
        }
        uuids.push(uuid);
    }
    // Asking what the runs logged reads their files and records their summaries.
    post(&server, "/api/v1/series/summaries", json!({"runs": uuids}));

    let names = |path: &str| -> (u64, Vec<String>) {
        let page = server.get(path);
        let names = page["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|run| run["name"].as_str().unwrap().to_owned())
            .collect();
        (page["count"].as_u64().unwrap(), names)
    };
    let orders: [(&str, &str, &[&str]); 6] = [
        (
            "",
            "-metrics.loss",
            &["r5", "r3", "r9", "r1", "r4", "r2", "r7", "r6"],
        ),
        (
            "",
            "metrics.loss.last",
            &["r2", "r4", "r1", "r9", "r3", "r5", "r6", "r7"],
        ),
        (
            "",
            "metrics.loss.max",
            &["r1", "r2", "r3", "r9", "r4", "r5", "r6", "r7"],
        ),
        (
            "",
            "-metrics.loss.min",
            &["r3", "r9", "r1", "r2", "r7", "r6", "r5", "r4"],
        ),
        ("project:a", "-metrics.loss", &["r3", "r1", "r4", "r6"]),
        (
            "metrics.loss:<0.35",
            "metrics.loss",
            &["r2", "r4", "r1", "r9"],
        ),
    ];
    for (query, sort, expected) in orders {
        let query = query.replace(':', "%3A").replace('<', "%3C");
        for limit in 1..=expected.len() + 1 {
            for offset in 0..=expected.len() + 1 {
                let path = format!(
                    "/api/v1/orgs/default/runs?query={query}&sort={sort}&limit={limit}\
                     &offset={offset}"
                );
                let page: Vec<&str> = expected.iter().copied().skip(offset).take(limit).collect();
                assert_eq!(
                    names(&path),
                    (
                        expected.len() as u64,
                        page.iter().map(|name| (*name).to_owned()).collect()
                    ),
                    "{path}"
                );
            }
        }
    }
    // The last value or else the output, newest first.
    assert_eq!(
        names("/api/v1/orgs/default/runs?query=metrics.loss%3A%3C0.35").1,
        ["r9", "r4", "r2", "r1"]
    );
    assert_eq!(
        names("/api/v1/orgs/default/runs?query=metrics.loss%3A~%3C0.35").1,
        ["r5", "r3"]
    );
}
