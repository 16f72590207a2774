//! Runs' metrics as the tracking client writes them (traceml's `.plx` event files), through the
//! real server: summaries that follow a running run, files read only as far as they grew, the
//! series API that never hides an extreme, the query language on summaries, and Polyaxon's
//! event routes sampling without losing the extremes.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{Server, is_done, python_job};
use serde_json::{Value as Json, json};
use shared::api::{SERIES_BINARY, decode_series};

/// A server with a project per name in `projects`.
fn server(name: &str, projects: &[&str]) -> Server {
    let server = Server::start(name, &[]);
    for project in projects {
        let (status, body) = server.request(
            "POST",
            "/api/v1/default/projects/create",
            Some(&json!({"name": project})),
        );
        assert_eq!(status, 200, "{body}");
    }
    server
}

/// A run its client reports (as the tracking client's own runs): its uuid.
fn client_run(server: &Server, project: &str, name: &str) -> String {
    let (status, run) = server.request(
        "POST",
        &format!("/api/v1/default/{project}/runs"),
        Some(&json!({"is_managed": false, "managed_by": "user", "name": name})),
    );
    assert_eq!(status, 200, "{run}");
    run["uuid"].as_str().unwrap().to_owned()
}

/// Where run `uuid`'s metric `name` is written.
fn metric_file(server: &Server, uuid: &str, name: &str) -> PathBuf {
    let folder = server
        .data()
        .join("artifacts")
        .join(uuid)
        .join("events/metric");
    std::fs::create_dir_all(&folder).unwrap();
    folder.join(format!("{name}.plx"))
}

/// When step `step` is logged: ten milliseconds apart from 2026-01-01.
fn time_of(step: u64) -> String {
    let millis = step * 10;
    let (seconds, millis) = (millis / 1000, millis % 1000);
    format!(
        "2026-01-01 {:02}:{:02}:{:02}.{:03}000+00:00",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60,
        millis
    )
}

/// A metric file as traceml writes it: a header, then each event preceded by a newline, so the
/// file never ends with one.
fn plx(rows: impl IntoIterator<Item = (u64, f64)>) -> String {
    let mut text = "step|timestamp|metric".to_owned();
    for (step, value) in rows {
        text.push_str(&format!("\n{step}|{}|{value:?}", time_of(step)));
    }
    text
}

fn append(path: &PathBuf, text: &str) {
    use std::io::Write as _;
    let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

fn post(server: &Server, path: &str, body: Json) -> Json {
    let (status, answer) = server.request("POST", path, Some(&body));
    assert_eq!(status, 200, "POST {path} {body}: {answer}");
    answer
}

/// The one series of `answer`.
fn only_series(answer: &Json) -> &Json {
    let series = answer["series"].as_array().unwrap();
    assert_eq!(series.len(), 1, "{answer}");
    &series[0]
}

fn numbers(values: &Json) -> Vec<f64> {
    values
        .as_array()
        .unwrap()
        .iter()
        .map(|value| value.as_f64().unwrap())
        .collect()
}

/// Waits until `found` says yes to what `read` gives; that answer.
fn wait_until(read: impl Fn() -> Json, found: impl Fn(&Json) -> bool, what: &str) -> Json {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = read();
        if found(&answer) {
            return answer;
        }
        assert!(Instant::now() < deadline, "{what}: {answer}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_running_run_s_summaries_follow_its_metric_file_as_it_grows() {
    let server = server("metrics-live", &["live"]);
    let artifacts = server.data().join("artifacts");
    // It logs three values, waits for the test's go, logs three more, and waits again.
    let script = format!(
        "import os, pathlib, time\n\
         uuid = os.environ['POLYAXON_RUN_INSTANCE'].split('.')[-1]\n\
         run = pathlib.Path({artifacts:?}) / uuid\n\
         (run / 'events/metric').mkdir(parents=True, exist_ok=True)\n\
         def wait(name):\n    while not (run / name).exists(): time.sleep(0.05)\n\
         with open(run / 'events/metric/loss.plx', 'a') as plx:\n    \
             plx.write('step|timestamp|metric')\n    \
             for step in range(1, 7):\n        \
                 plx.write(f'\\n{{step}}|2026-01-01 00:00:{{step:02}}.000000+00:00|{{1 / step}}')\n        \
                 plx.flush()\n        \
                 if step == 3: wait('next')\n    \
             wait('end')\n"
    );
    let (status, run) = server.request(
        "POST",
        "/api/v1/default/live/runs",
        Some(&json!({"content": python_job("live", &script)})),
    );
    assert_eq!(status, 200, "{run}");
    let uuid = run["uuid"].as_str().unwrap().to_owned();
    let server = &server;
    let list = |query: &str| {
        let query = query.replace(':', "%3A").replace('<', "%3C");
        move || server.get(&format!("/api/v1/default/live/runs?query={query}"))
    };

    // The third value has no newline after it yet: it counts, as the last one.
    let three = wait_until(
        list("metrics.loss.count:3"),
        |page| page["count"] == 1,
        "the running run's first three values are summed up",
    );
    let loss = &three["results"][0]["metrics"]["loss"];
    assert_eq!(three["results"][0]["status"], "running", "{three}");
    assert_eq!(
        (
            &loss["last"],
            &loss["min"],
            &loss["max"],
            &loss["last_step"]
        ),
        (&json!(1.0 / 3.0), &json!(1.0 / 3.0), &json!(1.0), &json!(3)),
        "{three}"
    );

    std::fs::write(artifacts.join(&uuid).join("next"), "").unwrap();
    let six = wait_until(
        list("metrics.loss.min:<0.2"),
        |page| page["count"] == 1,
        "the values logged after the go are read while the run runs",
    );
    let loss = &six["results"][0]["metrics"]["loss"];
    assert_eq!(
        (&loss["count"], &loss["last"]),
        (&json!(6), &json!(1.0 / 6.0))
    );
    assert_eq!(
        loss["first_time"], "2026-01-01T00:00:01.000000+00:00",
        "{six}"
    );

    std::fs::write(artifacts.join(&uuid).join("end"), "").unwrap();
    server.wait_for("live", &uuid, is_done, Duration::from_secs(30));
    let ended = server.get("/api/v1/default/live/runs?query=metrics.loss.count%3A6");
    assert_eq!(ended["count"], 1, "{ended}");
    // A run alone does not carry its summaries; lists do.
    assert!(server.run("live", &uuid).get("metrics").is_none());
}

#[test]
fn a_growing_file_is_read_only_as_far_as_it_grew_and_a_half_written_line_waits() {
    let server = server("metrics-growing", &["grow"]);
    let uuid = client_run(&server, "grow", "growing");
    let file = metric_file(&server, &uuid, "loss");
    std::fs::write(&file, plx([(0, 1.5), (1, 2.5), (2, 3.5)])).unwrap();
    let ask = || {
        post(
            &server,
            "/api/v1/series",
            json!({"runs": [uuid], "names": ["loss"]}),
        )
    };
    let first = ask();
    assert_eq!(numbers(&only_series(&first)["y"]), [1.5, 2.5, 3.5]);

    // What was read is not read again: a value changed in place, of the same length, stays as
    // it was read, while the bytes appended after it are read.
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replacen("|1.5", "|9.5", 1);
    std::fs::write(&file, &text).unwrap();
    append(&file, &format!("\n3|{}|4.5", time_of(3)));
    let second = ask();
    let series = only_series(&second);
    assert_eq!(numbers(&series["y"]), [1.5, 2.5, 3.5, 4.5]);
    assert_eq!(numbers(&series["x"]), [0.0, 1.0, 2.0, 3.0]);

    // A line still being written shows as far as it goes, and as it is once it is whole.
    append(&file, &format!("\n4|{}|0.", time_of(4)));
    let partial = ask();
    assert_eq!(numbers(&only_series(&partial)["y"])[4], 0.0);
    append(&file, "25");
    let whole = ask();
    let series = only_series(&whole);
    assert_eq!(numbers(&series["y"]), [1.5, 2.5, 3.5, 4.5, 0.25]);
    assert_eq!(series["total"], 5);
    let summary = &series["summary"];
    assert_eq!(
        (
            &summary["count"],
            &summary["min"],
            &summary["max"],
            &summary["last"]
        ),
        (&json!(5), &json!(0.25), &json!(4.5), &json!(0.25)),
        "{whole}"
    );

    // A file written anew in its place is read from its start.
    let replacement = file.with_extension("new");
    std::fs::write(&replacement, plx([(0, 7.0)])).unwrap();
    std::fs::rename(&replacement, &file).unwrap();
    assert_eq!(numbers(&only_series(&ask())["y"]), [7.0]);
}

#[test]
fn the_series_api_cuts_a_hundred_thousand_points_to_buckets_and_keeps_the_spike() {
    let server = server("metrics-series", &["one", "two"]);
    let big = client_run(&server, "one", "big");
    let small = client_run(&server, "two", "small");
    let points = 100_000_u64;
    let wave = |step: u64| match step {
        31_337 => 1_000.0,
        77_777 => -1_000.0,
        _ => (step as f64 / 500.0).sin(),
    };
    std::fs::write(
        metric_file(&server, &big, "loss"),
        plx((0..points).map(|step| (step, wave(step)))),
    )
    .unwrap();
    std::fs::write(
        metric_file(&server, &small, "loss"),
        plx([(0, 0.5), (1, f64::NAN), (2, 0.25)]),
    )
    .unwrap();

    let answer = post(
        &server,
        "/api/v1/series",
        json!({"runs": [big, small, "0".repeat(32)], "names": ["loss", "missing"], "buckets": 1000}),
    );
    let series = answer["series"].as_array().unwrap();
    assert_eq!(series.len(), 2, "one per run and metric found: {answer}");
    let drawn = &series[0];
    assert_eq!(
        (&drawn["run"], &drawn["name"]),
        (&json!(big), &json!("loss"))
    );
    assert_eq!(drawn["total"], points);
    let (x, y) = (numbers(&drawn["x"]), numbers(&drawn["y"]));
    assert!(y.len() <= 4_000 && y.len() >= 1_000, "{} points", y.len());
    assert_eq!(drawn["returned"], y.len());
    assert!(x.windows(2).all(|pair| pair[0] <= pair[1]), "x ascends");
    assert!(
        y.contains(&1_000.0) && y.contains(&-1_000.0),
        "the spikes are drawn"
    );
    assert_eq!((x[0], *x.last().unwrap()), (0.0, (points - 1) as f64));
    let band = &drawn["band"];
    assert!(numbers(&band["max"]).contains(&1_000.0), "{band}");
    assert_eq!(numbers(&band["min"]).len(), 1_000);
    assert_eq!(drawn["summary"]["max"], 1_000.0);
    assert_eq!(drawn["summary"]["count"], points);

    // The other project's run: its NaN is counted, not drawn.
    let other = &series[1];
    assert_eq!(other["run"], json!(small));
    assert_eq!(numbers(&other["y"]), [0.5, 0.25]);
    assert_eq!(
        (&other["total"], &other["non_finite"]),
        (&json!(3), &json!(1))
    );
    assert!(other.get("band").is_none(), "few points come as they are");

    // A chart asks for the same series in the binary layout: the same answer, a third the size.
    let request = json!({"runs": [big, small], "names": ["loss"], "buckets": 1000});
    let (status, head, bytes) =
        server.send_accepting("POST", "/api/v1/series", Some(&request), SERIES_BINARY);
    assert_eq!(status, 200, "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("content-type: {SERIES_BINARY}")),
        "{head}"
    );
    let binary = decode_series(&bytes).expect("the binary answer reads");
    // Compared as the server writes JSON, since parsing JSON may miss a float's last bit.
    let (status, as_json) = server.send("POST", "/api/v1/series", Some(&request));
    assert_eq!(status, 200, "{as_json}");
    assert!(serde_json::to_string(&binary).unwrap() == as_json);
    assert!(
        bytes.len() * 3 < as_json.len(),
        "{} / {}",
        bytes.len(),
        as_json.len()
    );

    // Zoomed in, every point in range comes back.
    let zoomed = post(
        &server,
        "/api/v1/series",
        json!({"runs": [big], "names": ["loss"], "buckets": 1000, "range": {"from": 31_000, "to": 31_500}}),
    );
    let zoomed = only_series(&zoomed);
    assert_eq!(zoomed["total"], 501);
    assert_eq!(numbers(&zoomed["x"]).len(), 501);
    assert!(numbers(&zoomed["y"]).contains(&1_000.0));

    // On the time axis x is milliseconds since the epoch; relative, seconds since the first.
    let timed = post(
        &server,
        "/api/v1/series",
        json!({"runs": [small], "names": ["loss"], "axis": "time"}),
    );
    let start = 1_767_225_600_000.0; // 2026-01-01T00:00:00Z
    assert_eq!(numbers(&only_series(&timed)["x"]), [start, start + 20.0]);
    let relative = post(
        &server,
        "/api/v1/series",
        json!({"runs": [small], "names": ["loss"], "axis": "relative"}),
    );
    assert_eq!(numbers(&only_series(&relative)["x"]), [0.0, 0.02]);

    let too_many: Vec<String> = (0..51).map(|n| format!("m{n}")).collect();
    for (body, says) in [
        (
            json!({"runs": [big], "names": ["loss"], "buckets": 0}),
            "`buckets`",
        ),
        (
            json!({"runs": [big], "names": ["loss"], "buckets": 10_001}),
            "`buckets`",
        ),
        (json!({"runs": [], "names": ["loss"]}), "`runs`"),
        (
            json!({"runs": [big, "nope"], "names": ["loss"]}),
            "`runs[1]`",
        ),
        (json!({"runs": [big], "names": too_many}), "`names`"),
        (json!({"runs": [big], "names": ["../../x"]}), "`names[0]`"),
        (
            json!({"runs": [big], "names": ["loss"], "range": {"from": 2, "to": 1}}),
            "`range`",
        ),
        (
            json!({"runs": [big], "names": ["loss"], "axis": "sideways"}),
            "axis",
        ),
    ] {
        let (status, error) = server.request("POST", "/api/v1/series", Some(&body));
        assert_eq!(status, 400, "{body}: {error}");
        assert!(error.to_string().contains(says), "{body}: {error}");
    }
}

#[test]
fn runs_are_filtered_and_sorted_on_their_summaries_in_a_project_and_across_projects() {
    let server = server("metrics-pql", &["vision", "speech"]);
    let runs: Vec<(String, &str)> = [
        ("vision", "low", [2.0, 0.05, 0.3]),
        ("vision", "high", [3.0, 0.5, 0.6]),
        ("speech", "mid", [1.0, 0.09, 0.2]),
    ]
    .into_iter()
    .map(|(project, name, values)| {
        let uuid = client_run(&server, project, name);
        let rows = values.into_iter().enumerate();
        let file = metric_file(&server, &uuid, "loss");
        std::fs::write(file, plx(rows.map(|(step, value)| (step as u64, value)))).unwrap();
        (uuid, project)
    })
    .collect();
    let uuids: Vec<&String> = runs.iter().map(|(uuid, _)| uuid).collect();
    // Asking what the runs logged reads their files, as a chart's picker does.
    let summaries = post(
        &server,
        "/api/v1/series/summaries",
        json!({"runs": [uuids[0], uuids[1], uuids[2], "f".repeat(32)]}),
    );
    assert_eq!(summaries["names"], json!(["loss"]), "{summaries}");
    assert_eq!(
        summaries["runs"].as_object().unwrap().len(),
        3,
        "{summaries}"
    );
    assert_eq!(summaries["runs"][uuids[1]]["loss"]["min"], 0.5);
    let system = post(
        &server,
        "/api/v1/series/summaries",
        json!({"runs": [uuids[0]], "kind": "system"}),
    );
    assert_eq!(system["names"], json!([]), "{system}");

    let names = |path: &str| -> Vec<String> {
        let page = server.get(path);
        page["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|run| run["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        names("/api/v1/default/vision/runs?query=metrics.loss.min%3A%3C0.1"),
        ["low"]
    );
    assert_eq!(
        names("/api/v1/default/vision/runs?sort=-metrics.loss.max"),
        ["high", "low"]
    );
    assert_eq!(
        names("/api/v1/orgs/default/runs?query=metrics.loss.min%3A%3C0.1&sort=metrics.loss.min"),
        ["low", "mid"]
    );
    assert_eq!(
        names("/api/v1/orgs/default/runs?query=metrics.loss.last%3A%3E0.25&sort=metrics.loss"),
        ["low", "high"]
    );
    assert_eq!(
        names("/api/v1/orgs/default/runs?query=project%3Aspeech"),
        ["mid"]
    );
    let page = server.get("/api/v1/orgs/default/runs?limit=2&sort=created_at");
    assert_eq!(page["count"], 3);
    let listed = &page["results"][1];
    assert_eq!(
        (&listed["name"], &listed["project"]),
        (&json!("high"), &json!("vision"))
    );
    assert_eq!(listed["metrics"]["loss"]["last"], 0.6, "{listed}");
    assert_eq!(
        page["next"],
        "/api/v1/orgs/default/runs?limit=2&offset=2&sort=created_at"
    );
    let (status, error) = server.request(
        "GET",
        "/api/v1/orgs/default/runs?query=metrics.loss%3Aa%7Cb",
        None,
    );
    assert_eq!(status, 400, "{error}");

    // Counts follow a run to another project and leave an archived run out.
    let count = |path: &str| server.get(path)["count"].clone();
    let below = "query=metrics.loss.min%3A%3C0.1";
    assert_eq!(count(&format!("/api/v1/default/vision/runs?{below}")), 1);
    assert_eq!(count(&format!("/api/v1/orgs/default/runs?{below}")), 2);
    post(
        &server,
        &format!("/api/v1/default/speech/runs/{}/transfer", uuids[2]),
        json!({"project": "vision"}),
    );
    assert_eq!(count(&format!("/api/v1/default/vision/runs?{below}")), 2);
    assert_eq!(count(&format!("/api/v1/default/speech/runs?{below}")), 0);
    post(
        &server,
        &format!("/api/v1/default/vision/runs/{}/archive", uuids[0]),
        json!({}),
    );
    assert_eq!(count(&format!("/api/v1/default/vision/runs?{below}")), 1);
    assert_eq!(count(&format!("/api/v1/orgs/default/runs?{below}")), 1);
    assert_eq!(
        names(&format!("/api/v1/orgs/default/runs?{below}")),
        ["mid"]
    );
    assert_eq!(
        count("/api/v1/orgs/default/runs?query=metrics.loss%3A%3E0.25"),
        1
    );
}

#[test]
fn the_importance_of_runs_inputs_to_a_metric_is_weighed_as_polyaxon_answers() {
    let server = server("metrics-importance", &["demo"]);
    let path = "/streams/v1/polyaxon/default/demo/runs/multi/importance";
    let answer = post(
        &server,
        path,
        json!({
            "params": [{"lr": 0.1, "opt": "sgd"}, {"lr": 0.5, "opt": "adam"}, {"lr": 0.9, "opt": "sgd"}],
            "metrics": [0.9, 0.5, 0.2],
        }),
    );
    let data = answer["data"].as_object().expect("weights");
    let columns: Vec<&String> = data.keys().collect();
    assert_eq!(columns, ["lr", "opt_adam", "opt_sgd"], "{answer}");
    assert_eq!(data["lr"]["correlation"], -0.997);
    let total: f64 = data
        .values()
        .map(|weight| weight["importance"].as_f64().unwrap())
        .sum();
    assert!((total - 1.0).abs() < 0.01, "{answer}");
    // The same request, the same answer.
    assert_eq!(
        post(
            &server,
            path,
            json!({
                "params": [{"lr": 0.1, "opt": "sgd"}, {"lr": 0.5, "opt": "adam"}, {"lr": 0.9, "opt": "sgd"}],
                "metrics": [0.9, 0.5, 0.2],
            })
        ),
        answer
    );
    for body in [
        json!({}),
        json!({"params": [{"lr": 0.1}], "metrics": [1.0]}),
        json!({"params": [{"lr": 0.1}, {"lr": 0.2}], "metrics": [1.0, "high"]}),
        json!("not an object"),
    ] {
        assert_eq!(
            post(&server, path, body.clone()),
            json!({"data": null}),
            "{body}"
        );
    }
}

#[test]
fn polyaxon_s_event_routes_sample_without_losing_the_extremes() {
    let server = server("metrics-polyaxon", &["demo"]);
    let first = client_run(&server, "demo", "first");
    let second = client_run(&server, "demo", "second");
    let value = |step: u64| match step {
        123 => 50.0,
        777 => -50.0,
        _ => (step % 10) as f64,
    };
    for uuid in [&first, &second] {
        std::fs::write(
            metric_file(&server, uuid, "loss"),
            plx((0..1_000).map(|step| (step, value(step)))),
        )
        .unwrap();
    }
    let base = format!("/streams/v1/polyaxon/default/demo/runs/{first}");
    let sampled = server.get(&format!(
        "{base}/events/metric?names=loss&sample=50&orient=dict"
    ));
    let data = &sampled["data"][0]["data"];
    let metric = numbers(&data["metric"]);
    let steps = numbers(&data["step"]);
    assert!(metric.len() <= 50, "{} rows", metric.len());
    assert!(metric.contains(&50.0) && metric.contains(&-50.0), "{data}");
    assert_eq!((steps[0], *steps.last().unwrap()), (0.0, 999.0));
    assert_eq!(data["timestamp"][0], time_of(0), "timestamps as written");
    assert_eq!(data["timestamp"].as_array().unwrap().len(), metric.len());

    let multi = server.get(&format!(
        "/streams/v1/polyaxon/default/demo/runs/multi/events/metric?runs={first},{second},{first}&names=loss&sample=10"
    ));
    for uuid in [&first, &second] {
        let metric = numbers(&multi["data"][uuid.as_str()][0]["data"]["metric"]);
        assert!(metric.len() <= 10, "{multi}");
        assert!(metric.contains(&50.0) && metric.contains(&-50.0), "{multi}");
    }
    let (status, error) = server.request(
        "GET",
        &format!("{base}/events/metric?names=../{second}/events/metric/loss"),
        None,
    );
    assert_eq!(status, 400, "{error}");

    // A link out of the run's folder (an unpacked upload may hold one) is not followed.
    let secret = server.root.join("secret.plx");
    std::fs::write(&secret, plx([(0, 1.0)])).unwrap();
    std::os::unix::fs::symlink(&secret, metric_file(&server, &first, "leak")).unwrap();
    let leaked = server.get(&format!("{base}/events/metric?names=leak&orient=csv"));
    assert_eq!(leaked["data"], json!([]), "{leaked}");
    let charted = post(
        &server,
        "/api/v1/series",
        json!({"runs": [first], "names": ["leak"]}),
    );
    assert_eq!(charted["series"], json!([]), "{charted}");
}
