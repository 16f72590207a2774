//! Matrices run by the real server on the process runtime: their children, with the params each
//! gets, their concurrency, stopping, refusals, and a server killed with SIGKILL mid-matrix.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{Server, is_done};
use serde_json::{Value as Json, json};

const PROJECT: &str = "sweeps";

fn server(name: &str) -> Server {
    let server = Server::start(name, &[]);
    let (status, body) = server.request(
        "POST",
        "/api/v1/default/projects/create",
        Some(&json!({"name": PROJECT})),
    );
    assert_eq!(status, 200, "{body}");
    server
}

/// A matrix operation over a job that prints its params, then sleeps `seconds`.
fn matrix(matrix: &str, seconds: f64) -> String {
    let script = format!(
        "import sys, time\nprint('opt', sys.argv[1], 'lr', sys.argv[2], flush=True)\ntime.sleep({seconds})"
    );
    format!(
        "kind: operation\nname: sweep\nmatrix:\n{matrix}\ncomponent:\n  inputs:\n  - {{name: opt, type: str}}\n  - {{name: lr, type: float}}\n  run:\n    kind: job\n    container:\n      image: python:3.11\n      command: [python3, -u, -c, {}, '{{{{ opt }}}}', '{{{{ lr }}}}']\n",
        serde_json::to_string(&script).unwrap()
    )
}

fn submit(server: &Server, content: &str) -> (u16, Json) {
    server.request(
        "POST",
        &format!("/api/v1/default/{PROJECT}/runs"),
        Some(&json!({"content": content})),
    )
}

fn children(server: &Server, pipeline: &str) -> Vec<Json> {
    let list = server.get(&format!(
        "/api/v1/default/{PROJECT}/runs?query=pipeline:{pipeline}&limit=1000"
    ));
    list["results"].as_array().unwrap().clone()
}

fn wait_until(what: &str, within: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "{what} after {within:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The most children that were running at one moment, from their start and end times.
fn most_at_once(children: &[Json]) -> usize {
    let mut moments: Vec<(String, i32)> = Vec::new();
    for child in children {
        if let (Some(start), Some(end)) =
            (child["started_at"].as_str(), child["finished_at"].as_str())
        {
            moments.push((start.to_owned(), 1));
            moments.push((end.to_owned(), -1));
        }
    }
    // An end and a start at the same moment: the end first.
    moments.sort();
    let (mut now, mut most) = (0, 0);
    for (_, change) in moments {
        now += change;
        most = most.max(now);
    }
    usize::try_from(most).unwrap()
}

fn params(child: &Json) -> (String, f64) {
    (
        child["inputs"]["opt"].as_str().unwrap().to_owned(),
        child["inputs"]["lr"].as_f64().unwrap(),
    )
}

#[test]
fn a_two_by_three_grid_runs_six_children_with_their_params_two_at_a_time() {
    let server = server("grid");
    let grid = "  kind: grid\n  concurrency: 2\n  params:\n    opt: {kind: choice, value: [adam, sgd]}\n    lr: {kind: choice, value: [0.1, 0.01, 0.001]}";
    let (status, pipeline) = submit(&server, &matrix(grid, 0.5));
    assert_eq!(status, 200, "{pipeline}");
    assert_eq!(pipeline["kind"], "matrix");
    assert_eq!(pipeline["runtime"], "job");
    let uuid = pipeline["uuid"].as_str().unwrap().to_owned();

    let status = server.wait_for(PROJECT, &uuid, is_done, Duration::from_secs(60));
    assert_eq!(status, "succeeded", "{}", server.run(PROJECT, &uuid));
    let children = children(&server, &uuid);
    assert_eq!(children.len(), 6);
    let got: BTreeSet<(String, String)> = children
        .iter()
        .map(|child| {
            let (opt, lr) = params(child);
            (opt, lr.to_string())
        })
        .collect();
    let wanted: BTreeSet<(String, String)> = ["adam", "sgd"]
        .iter()
        .flat_map(|opt| ["0.1", "0.01", "0.001"].map(|lr| ((*opt).to_owned(), lr.to_owned())))
        .collect();
    assert_eq!(got, wanted);
    for child in &children {
        assert_eq!(child["status"], "succeeded", "{child}");
        assert_eq!(child["kind"], "job");
        assert_eq!(child["pipeline"]["uuid"], uuid.as_str());
        assert_eq!(child["pipeline"]["kind"], "matrix");
        assert_eq!(child["pipeline"]["name"], "sweep");
        // Each ran with its own params.
        let logs = server.get(&format!(
            "/streams/v1/polyaxon/default/{PROJECT}/runs/{}/logs",
            child["uuid"].as_str().unwrap()
        ));
        let (opt, lr) = params(child);
        let printed = logs["logs"][0]["value"].as_str().unwrap_or_default();
        assert_eq!(printed, format!("opt {opt} lr {lr}"), "{logs}");
    }
    assert!(most_at_once(&children) <= 2, "{children:?}");
    let finished = server.run(PROJECT, &uuid);
    let last = finished["status_conditions"]
        .as_array()
        .unwrap()
        .last()
        .unwrap();
    assert_eq!(last["message"], "6 runs: 6 succeeded, 0 failed, 0 stopped");
    // The pipeline itself is in the project's list once, with its children.
    let all = server.get(&format!("/api/v1/default/{PROJECT}/runs?limit=100"));
    assert_eq!(all["count"], 7);
}

#[test]
fn stopping_a_matrix_stops_its_running_and_its_waiting_children() {
    let server = server("stop");
    let grid = "  kind: mapping\n  concurrency: 1\n  values:\n  - {opt: a, lr: 1}\n  - {opt: b, lr: 2}\n  - {opt: c, lr: 3}";
    let (status, pipeline) = submit(&server, &matrix(grid, 60.0));
    assert_eq!(status, 200, "{pipeline}");
    let uuid = pipeline["uuid"].as_str().unwrap().to_owned();
    wait_until("a child running", Duration::from_secs(30), || {
        children(&server, &uuid)
            .iter()
            .any(|child| child["status"] == "running")
    });
    stop(&server, &uuid, 30);
    let children = children(&server, &uuid);
    assert_eq!(children.len(), 3);
    let started = children
        .iter()
        .filter(|child| child["started_at"].is_string())
        .count();
    assert_eq!(started, 1, "one at a time: only the first started");
    for child in &children {
        assert_eq!(child["status"], "stopped", "{child}");
    }
}

#[test]
fn a_matrix_that_cannot_run_is_refused_saying_why() {
    let server = server("refused");
    let cases = [
        (
            "  kind: grid\n  params:\n    opt: {kind: choice, value: [a]}\n    lr: {kind: uniform, value: [0, 1]}",
            "which a grid search cannot enumerate",
        ),
        (
            "  kind: random\n  params:\n    opt: {kind: choice, value: [a]}\n    lr: {kind: uniform, value: [0, 1]}",
            "lacks `numRuns`, which it requires",
        ),
        (
            "  kind: grid\n  params:\n    opt: {kind: choice, value: [1, 2]}\n    lr: {kind: range, value: [0, 1000000, 1]}",
            "the matrix makes 2000000 runs",
        ),
    ];
    for (section, why) in cases {
        let (status, body) = submit(&server, &matrix(section, 0.0));
        assert_eq!(status, 400, "{section}: {body}");
        let message = body["message"]
            .as_str()
            .or(body["error"].as_str())
            .unwrap_or_default();
        assert!(message.contains(why), "{section}: {body}");
    }
    // A child that would not compile is found at once, not once per child.
    let mapping = "  kind: mapping\n  values:\n  - {opt: a, lr: not-a-number}";
    let (status, body) = submit(&server, &matrix(mapping, 0.0));
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("first run"), "{body}");
    let all = server.get(&format!("/api/v1/default/{PROJECT}/runs"));
    assert_eq!(all["count"], 0, "nothing refused is recorded");
}

#[test]
fn a_grid_goes_on_through_a_killed_server_with_every_child_once() {
    let mut server = server("killed");
    let grid = "  kind: grid\n  concurrency: 3\n  params:\n    opt: {kind: choice, value: [a, b, c, d]}\n    lr: {kind: linspace, value: {start: 0, stop: 1, num: 5}}";
    let (status, children) = killed_midway(&mut server, &matrix(grid, 0.4), 4);
    let told = told(&children);
    assert_eq!(children.len(), 20, "every child, once: {told:#?}");
    let distinct: BTreeSet<String> = children
        .iter()
        .map(|child| format!("{:?}", params(child)))
        .collect();
    assert_eq!(distinct.len(), 20);
    assert_ended_but_for_the_kill(&status, &children, 3);
    assert!(most_at_once(&children) <= 3, "{children:?}");
}

/// A DAG whose operations run `python3 -c SCRIPT` with their params as arguments.
fn dag(operations: &str) -> String {
    format!(
        "kind: operation\nname: flow\nparams:\n  lr: {{value: 0.25}}\ncomponent:\n  inputs: [{{name: lr, type: float}}]\n  run:\n    kind: dag\n    concurrency: 2\n    operations:\n{operations}\n    components:\n    - name: step\n      inputs:\n      - {{name: script, type: str}}\n      - {{name: upstream, type: str, isOptional: true, value: none}}\n      - {{name: lr, type: float, isOptional: true, value: 0}}\n      run:\n        kind: job\n        container:\n          image: python:3.11\n          command: [python3, -u, -c, '{{{{ script }}}}', '{{{{ upstream }}}}', '{{{{ lr }}}}']\n"
    )
}

fn by_name(children: &[Json]) -> std::collections::BTreeMap<String, Json> {
    children
        .iter()
        .map(|child| (child["name"].as_str().unwrap().to_owned(), child.clone()))
        .collect()
}

#[test]
fn a_dag_runs_its_operations_in_order_passing_params_down() {
    let server = server("dag");
    let operations = "    - {name: a, dagRef: step, params: {script: {value: 'print(\"a\")'}}}\n    - name: b\n      dagRef: step\n      params:\n        script: {value: 'import sys; print(\"b after\", sys.argv[1], sys.argv[2])'}\n        upstream: {ref: ops.a, value: globals.uuid}\n        lr: {ref: dag, value: inputs.lr}\n    - {name: c, dagRef: step, dependencies: [b], params: {script: {value: 'print(\"c\")'}}}";
    let (status, pipeline) = submit(&server, &dag(operations));
    assert_eq!(status, 200, "{pipeline}");
    assert_eq!(pipeline["kind"], "dag");
    let uuid = pipeline["uuid"].as_str().unwrap().to_owned();
    let status = server.wait_for(PROJECT, &uuid, is_done, Duration::from_secs(60));
    let children = by_name(&children(&server, &uuid));
    assert_eq!(status, "succeeded", "{children:?}");
    assert_eq!(children.len(), 3);
    let (a, b, c) = (&children["a"], &children["b"], &children["c"]);
    for child in [a, b, c] {
        assert_eq!(child["status"], "succeeded", "{child}");
        assert_eq!(child["pipeline"]["kind"], "dag");
    }
    // Each waited for its upstream to end.
    assert!(b["started_at"].as_str() >= a["finished_at"].as_str());
    assert!(c["started_at"].as_str() >= b["finished_at"].as_str());
    let logs = server.get(&format!(
        "/streams/v1/polyaxon/default/{PROJECT}/runs/{}/logs",
        b["uuid"].as_str().unwrap()
    ));
    assert_eq!(
        logs["logs"][0]["value"],
        format!("b after {} 0.25", a["uuid"].as_str().unwrap())
    );
}

#[test]
fn a_failed_operation_fails_its_downstream_unless_its_trigger_says_otherwise() {
    let server = server("dag-failure");
    let operations = "    - {name: a, dagRef: step, params: {script: {value: 'raise SystemExit(3)'}}}\n    - {name: b, dagRef: step, dependencies: [a], params: {script: {value: 'print(\"b\")'}}}\n    - {name: c, dagRef: step, dependencies: [a], trigger: all_done, params: {script: {value: 'print(\"c\")'}}}\n    - {name: d, dagRef: step, dependencies: [b], params: {script: {value: 'print(\"d\")'}}}\n    - {name: e, dagRef: step, dependencies: [a], trigger: one_failed, params: {script: {value: 'print(\"e\")'}}}";
    let (status, pipeline) = submit(&server, &dag(operations));
    assert_eq!(status, 200, "{pipeline}");
    let uuid = pipeline["uuid"].as_str().unwrap().to_owned();
    let status = server.wait_for(PROJECT, &uuid, is_done, Duration::from_secs(60));
    let children = by_name(&children(&server, &uuid));
    assert_eq!(status, "failed", "{children:?}");
    let statuses: Vec<(&str, &str)> = children
        .iter()
        .map(|(name, child)| (name.as_str(), child["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        statuses,
        vec![
            ("a", "failed"),
            ("b", "upstream_failed"),
            ("c", "succeeded"),
            ("d", "upstream_failed"),
            ("e", "succeeded"),
        ]
    );
    assert!(children["b"]["started_at"].is_null(), "b never ran");
}

/// A schedule of a job that prints when it ran.
fn scheduled(schedule: &str) -> String {
    format!(
        "kind: operation\nname: ticking\nschedule:\n{schedule}\ncomponent:\n  run:\n    kind: job\n    container:\n      image: python:3.11\n      command: [python3, -c, 'print(\"tick\")']\n"
    )
}

/// A schedule's runs, oldest tick first, with when each was due.
fn ticks(server: &Server, pipeline: &str) -> Vec<(String, Json)> {
    let mut runs: Vec<(String, Json)> = children(server, pipeline)
        .into_iter()
        .map(|child| (child["schedule_at"].as_str().unwrap().to_owned(), child))
        .collect();
    runs.sort_by(|a, b| a.0.cmp(&b.0));
    runs
}

/// Stops a run of the project and waits, `within` seconds at most, until it is stopped.
fn stop(server: &Server, uuid: &str, within: u64) {
    let path = format!("/api/v1/default/{PROJECT}/runs/{uuid}/stop");
    let (status, body) = server.request("POST", &path, None);
    assert_eq!(status, 200, "{body}");
    let status = server.wait_for(PROJECT, uuid, is_done, Duration::from_secs(within));
    assert_eq!(status, "stopped");
}

/// Submits `operation`, waits until `ended` of its children succeeded, kills the server with
/// SIGKILL and starts it again: the pipeline's final status and its children.
fn killed_midway(server: &mut Server, operation: &str, ended: usize) -> (String, Vec<Json>) {
    let (status, pipeline) = submit(server, operation);
    assert_eq!(status, 200, "{pipeline}");
    let uuid = pipeline["uuid"].as_str().unwrap().to_owned();
    wait_until("some children ended", Duration::from_secs(60), || {
        children(server, &uuid)
            .iter()
            .filter(|child| child["status"] == "succeeded")
            .count()
            >= ended
    });
    server.kill();
    server.restart();
    let status = server.wait_for(PROJECT, &uuid, is_done, Duration::from_secs(120));
    (status, children(server, &uuid))
}

/// Each run's status and its last condition's reason and message, to say what happened.
fn told(runs: &[Json]) -> Vec<String> {
    runs.iter()
        .map(|run| {
            let last = run["status_conditions"].as_array().unwrap().last().unwrap();
            format!("{} {} {}", run["status"], last["reason"], last["message"])
        })
        .collect()
}

/// Every one of `runs` ran to success but those, at most `most`, the kill caught while their
/// process was being started, which the runtime says of them (`ServerRestarted`) rather than
/// run them twice; the pipeline (`status`) failed if there were any.
fn assert_ended_but_for_the_kill(status: &str, runs: &[Json], most: usize) {
    let told = told(runs);
    let mut caught = 0;
    for run in runs {
        let last = run["status_conditions"].as_array().unwrap().last().unwrap();
        if run["status"] == "failed" && last["reason"] == "ServerRestarted" {
            caught += 1;
        } else {
            assert_eq!(run["status"], "succeeded", "{told:#?}");
        }
    }
    assert!(caught <= most, "{told:#?}");
    let expected = if caught == 0 { "succeeded" } else { "failed" };
    assert_eq!(status, expected, "{told:#?}");
}

fn seconds_between(earlier: &str, later: &str) -> f64 {
    let seconds = |text: &str| -> f64 {
        // `…T12:34:56.123456+00:00`: the times here are minutes apart at most.
        let clock = &text[11..26];
        let parts: Vec<f64> = clock.split(':').map(|part| part.parse().unwrap()).collect();
        parts[0] * 3600.0 + parts[1] * 60.0 + parts[2]
    };
    seconds(later) - seconds(earlier)
}

#[test]
fn a_cron_schedule_by_the_second_makes_a_run_per_tick_up_to_max_runs() {
    let server = server("cron");
    let (status, pipeline) = submit(
        &server,
        &scheduled("  kind: cron\n  cron: '* * * * * */2'\n  maxRuns: 3"),
    );
    assert_eq!(status, 200, "{pipeline}");
    assert_eq!(pipeline["kind"], "schedule");
    let uuid = pipeline["uuid"].as_str().unwrap().to_owned();
    let status = server.wait_for(PROJECT, &uuid, is_done, Duration::from_secs(30));
    let ticks = ticks(&server, &uuid);
    assert_eq!(status, "succeeded", "{ticks:?}");
    assert_eq!(ticks.len(), 3, "maxRuns");
    for (index, (due, run)) in ticks.iter().enumerate() {
        // On an even second, two seconds after the one before.
        let second: u32 = due[17..19].parse().unwrap();
        assert_eq!(second % 2, 0, "{due}");
        if index > 0 {
            assert_eq!(seconds_between(&ticks[index - 1].0, due), 2.0);
        }
        assert_eq!(run["status"], "succeeded");
        // Made when due, not before.
        assert!(run["created_at"].as_str().unwrap() >= due.as_str(), "{run}");
    }
}

#[test]
fn a_schedule_goes_on_through_a_killed_server_starting_the_ticks_it_missed_once() {
    let mut server = server("cron-killed");
    let (status, pipeline) = submit(
        &server,
        &scheduled("  kind: cron\n  cron: '* * * * * */2'\n  maxRuns: 7"),
    );
    assert_eq!(status, 200, "{pipeline}");
    let uuid = pipeline["uuid"].as_str().unwrap().to_owned();
    wait_until("two ticks", Duration::from_secs(30), || {
        children(&server, &uuid).len() >= 2
    });
    server.kill();
    // Down for about three ticks.
    std::thread::sleep(Duration::from_secs(6));
    server.restart();
    let status = server.wait_for(PROJECT, &uuid, is_done, Duration::from_secs(60));
    let ticks = ticks(&server, &uuid);
    assert_eq!(ticks.len(), 7, "every tick once: {ticks:?}");
    // A tick's run the kill caught starting fails saying so (it is never run twice); the
    // schedule then ends failed.
    let runs: Vec<Json> = ticks.iter().map(|(_, run)| run.clone()).collect();
    assert_ended_but_for_the_kill(&status, &runs, 1);
    for pair in ticks.windows(2) {
        assert_eq!(
            seconds_between(&pair[0].0, &pair[1].0),
            2.0,
            "no tick skipped or doubled: {:?}",
            ticks.iter().map(|t| &t.0).collect::<Vec<_>>()
        );
    }
    // The ones missed while the server was down were made late, after the restart, saying
    // when they were due.
    let late = ticks
        .iter()
        .filter(|(due, run)| seconds_between(due, run["created_at"].as_str().unwrap()) > 1.0)
        .count();
    assert!(late >= 2, "{ticks:?}");
}

#[test]
fn a_run_whose_cache_matches_a_succeeded_one_reuses_it_and_starts_nothing() {
    let server = server("cache");
    let side = server.root.join("ran");
    let operation = |lr: f64, seed: u32| {
        let script = format!(
            "open({:?}, 'a').write('ran\\n')",
            side.display().to_string()
        );
        format!(
            "kind: operation\nname: cached\nparams:\n  lr: {{value: {lr}}}\n  seed: {{value: {seed}}}\ncache:\n  ttl: 3600\n  io: [lr]\ncomponent:\n  inputs: [{{name: lr, type: float}}, {{name: seed, type: int}}]\n  run:\n    kind: job\n    container:\n      image: python:3.11\n      command: [python3, -c, {}]\n",
            serde_json::to_string(&script).unwrap()
        )
    };
    let ran = || {
        std::fs::read_to_string(&side)
            .map(|text| text.lines().count())
            .unwrap_or(0)
    };
    let (status, first) = submit(&server, &operation(0.1, 1));
    assert_eq!(status, 200, "{first}");
    let first = first["uuid"].as_str().unwrap().to_owned();
    assert_eq!(
        server.wait_for(PROJECT, &first, is_done, Duration::from_secs(30)),
        "succeeded"
    );
    assert_eq!(ran(), 1);

    // The same `lr` (the seed is not in `io`): cached, pointing at the first, nothing ran.
    let (status, second) = submit(&server, &operation(0.1, 2));
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["status"], "succeeded", "{second}");
    assert_eq!(second["original"]["uuid"], first.as_str());
    assert_eq!(second["original"]["kind"], "cache");
    let last = second["status_conditions"]
        .as_array()
        .unwrap()
        .last()
        .unwrap();
    assert_eq!(last["reason"], "Cached");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(ran(), 1, "a cached run executes nothing");

    // Another `lr`: it runs.
    let (status, third) = submit(&server, &operation(0.2, 1));
    assert_eq!(status, 200, "{third}");
    let third = third["uuid"].as_str().unwrap().to_owned();
    assert_eq!(
        server.wait_for(PROJECT, &third, is_done, Duration::from_secs(30)),
        "succeeded"
    );
    assert_eq!(ran(), 2);
    assert!(server.run(PROJECT, &third)["original"].is_null());
}

#[test]
fn failures_past_the_early_stopping_percent_stop_the_rest_of_the_search() {
    let server = server("failures");
    // Each run fails when its lr is below 2; one at a time, so the first two fail first.
    let mapping = "  kind: mapping\n  concurrency: 1\n  earlyStopping: [{kind: failure_early_stopping, percent: 50}]\n  values:\n  - {opt: a, lr: 1}\n  - {opt: b, lr: 1}\n  - {opt: c, lr: 3}\n  - {opt: d, lr: 4}";
    let content = matrix(mapping, 0.25).replace(
        "time.sleep(0.25)",
        "raise SystemExit(1 if float(sys.argv[2]) < 2 else 0)",
    );
    assert!(content.contains("SystemExit"), "{content}");
    let (status, pipeline) = submit(&server, &content);
    assert_eq!(status, 200, "{pipeline}");
    let uuid = pipeline["uuid"].as_str().unwrap().to_owned();
    let status = server.wait_for(PROJECT, &uuid, is_done, Duration::from_secs(60));
    let children = children(&server, &uuid);
    assert_eq!(status, "failed", "{children:?}");
    let finished = server.run(PROJECT, &uuid);
    let last = finished["status_conditions"]
        .as_array()
        .unwrap()
        .last()
        .unwrap();
    assert_eq!(last["reason"], "EarlyStopping");
    assert_eq!(
        last["message"],
        "early stopping: 2 of 4 runs failed, 50% or more"
    );
    let mut statuses: Vec<(String, String)> = children
        .iter()
        .map(|child| {
            (
                child["inputs"]["opt"].as_str().unwrap().to_owned(),
                child["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    statuses.sort();
    assert_eq!(
        statuses,
        [
            ("a".to_owned(), "failed".to_owned()),
            ("b".to_owned(), "failed".to_owned()),
            ("c".to_owned(), "stopped".to_owned()),
            ("d".to_owned(), "stopped".to_owned()),
        ]
    );
    for child in &children {
        if child["status"] == "stopped" {
            assert!(child["started_at"].is_null(), "never started: {child}");
        }
    }
}

#[test]
fn hyperband_runs_its_rungs_in_turn_with_their_resources_and_concurrency_held() {
    let server = server("hyperband");
    // maxIterations 4, eta 2: brackets of 4 → 2 → 1 runs at 1, 2 and 4 epochs; 3 → 1 at 2
    // and 4; 3 at 4: fourteen runs.
    let search = "  kind: hyperband\n  concurrency: 2\n  maxIterations: 4\n  eta: 2\n  seed: 3\n  resource: {name: lr, type: int}\n  metric: {name: loss, optimization: minimize}\n  params:\n    opt: {kind: choice, value: [a, b, c, d, e, f, g]}";
    let (status, pipeline) = submit(&server, &matrix(search, 0.1));
    assert_eq!(status, 200, "{pipeline}");
    let conditions = pipeline["status_conditions"].as_array().unwrap();
    assert_eq!(
        conditions.last().unwrap()["message"],
        "Matrix of 14 runs is compiled"
    );
    let uuid = pipeline["uuid"].as_str().unwrap().to_owned();
    let status = server.wait_for(PROJECT, &uuid, is_done, Duration::from_secs(120));
    let mut children = children(&server, &uuid);
    assert_eq!(status, "succeeded", "{children:?}");
    assert_eq!(children.len(), 14);
    children.sort_by_key(|child| child["created_at"].as_str().unwrap().to_owned());
    // The resource goes in as the `lr` input here: 1, 2, 4 epochs by rung.
    let resources: Vec<i64> = children
        .iter()
        .map(|child| child["inputs"]["lr"].as_f64().unwrap() as i64)
        .collect();
    assert_eq!(resources, [1, 1, 1, 1, 2, 2, 4, 2, 2, 2, 4, 4, 4, 4]);
    // A rung's configs come from the rung before it.
    let opt = |child: &Json| child["inputs"]["opt"].as_str().unwrap().to_owned();
    let first: BTreeSet<String> = children[..4].iter().map(opt).collect();
    assert_eq!(first.len(), 4, "distinct draws");
    assert!(
        children[4..6]
            .iter()
            .all(|child| first.contains(&opt(child)))
    );
    assert!(first.contains(&opt(&children[6])));
    // Each rung starts after the one before it ended, two at a time at most.
    assert!(
        children[4]["created_at"].as_str()
            >= children[..4]
                .iter()
                .filter_map(|c| c["finished_at"].as_str())
                .max(),
        "{children:?}"
    );
    assert!(most_at_once(&children) <= 2, "{children:?}");
}

#[test]
fn an_operation_whose_conditions_are_false_is_skipped_and_skips_what_asks() {
    let server = server("conditions");
    // `gate` runs only when the DAG's lr is small; `after` is skipped with it when asked to.
    let operations = "    - {name: first, dagRef: step, params: {script: {value: 'print(1)'}}}\n    - name: gate\n      dagRef: step\n      dependencies: [first]\n      conditions: '{{ lr < 0.1 }}'\n      params: {script: {value: 'print(2)'}, lr: {ref: dag, value: inputs.lr}}\n    - {name: after, dagRef: step, dependencies: [gate], skipOnUpstreamSkip: true, params: {script: {value: 'print(3)'}}}\n    - {name: anyway, dagRef: step, dependencies: [gate], trigger: all_done, params: {script: {value: 'print(4)'}}}";
    let (status, pipeline) = submit(&server, &dag(operations));
    assert_eq!(status, 200, "{pipeline}");
    let uuid = pipeline["uuid"].as_str().unwrap().to_owned();
    let status = server.wait_for(PROJECT, &uuid, is_done, Duration::from_secs(60));
    let children = by_name(&children(&server, &uuid));
    assert_eq!(status, "succeeded", "{children:?}");
    let statuses: Vec<(&str, &str)> = children
        .iter()
        .map(|(name, child)| (name.as_str(), child["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        statuses,
        vec![
            ("after", "skipped"),
            ("anyway", "succeeded"),
            ("first", "succeeded"),
            ("gate", "skipped"),
        ]
    );
    let gate = &children["gate"];
    let last = gate["status_conditions"]
        .as_array()
        .unwrap()
        .last()
        .unwrap();
    assert_eq!(last["reason"], "Conditions");
}

#[test]
fn resuming_a_pipeline_runs_again_only_what_did_not_succeed() {
    let server = server("resume");
    let side = server.root.join("tries");
    // The run with lr 2 fails its first try; every try is noted.
    let script = format!(
        "import os, sys\nlr = sys.argv[2]\nopen({side:?}, 'a').write(lr + '\\n')\nfirst = not os.path.exists({flag:?} + lr)\nopen({flag:?} + lr, 'w').close()\nraise SystemExit(1 if lr.startswith('2') and first else 0)",
        side = side.display().to_string(),
        flag = server.root.join("tried-").display().to_string(),
    );
    let mapping = "  kind: mapping\n  concurrency: 3\n  values:\n  - {opt: a, lr: 1}\n  - {opt: b, lr: 2}\n  - {opt: c, lr: 3}";
    let content = matrix(mapping, 0.25).replace(
        &serde_json::to_string("import sys, time\nprint('opt', sys.argv[1], 'lr', sys.argv[2], flush=True)\ntime.sleep(0.25)").unwrap(),
        &serde_json::to_string(&script).unwrap(),
    );
    assert!(content.contains("SystemExit"), "{content}");
    let (status, pipeline) = submit(&server, &content);
    assert_eq!(status, 200, "{pipeline}");
    let uuid = pipeline["uuid"].as_str().unwrap().to_owned();
    assert_eq!(
        server.wait_for(PROJECT, &uuid, is_done, Duration::from_secs(60)),
        "failed"
    );
    let failed: Vec<String> = children(&server, &uuid)
        .iter()
        .filter(|child| child["status"] == "failed")
        .map(|child| child["uuid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(failed.len(), 1);

    let (status, body) = server.request(
        "POST",
        &format!("/api/v1/default/{PROJECT}/runs/{uuid}/resume"),
        Some(&json!({})),
    );
    assert_eq!(status, 200, "{body}");
    let status = server.wait_for(
        PROJECT,
        &uuid,
        |status| status == "succeeded" || status == "failed",
        Duration::from_secs(60),
    );
    let children = children(&server, &uuid);
    assert_eq!(status, "succeeded", "{children:?}");
    assert_eq!(children.len(), 3, "resumed in place, none added");
    assert!(children.iter().all(|child| child["status"] == "succeeded"));
    let resumed = children
        .iter()
        .find(|child| child["uuid"] == failed[0].as_str())
        .unwrap();
    let kinds: Vec<&str> = resumed["status_conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|condition| condition["type"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"resuming"), "{kinds:?}");
    // Three first tries, and one more for the run that failed: the others did not run again.
    let tries = std::fs::read_to_string(&side).unwrap();
    let mut tries: Vec<&str> = tries.lines().collect();
    tries.sort();
    assert_eq!(tries, ["1.0", "2.0", "2.0", "3.0"]);
}

#[test]
fn a_dag_with_a_nested_matrix_runs_it_and_stopping_the_dag_stops_its_runs() {
    let server = server("nested");
    let operations = "    - name: sweep\n      dagRef: step\n      matrix: {kind: mapping, concurrency: 1, values: [{script: 'import time; time.sleep(60)'}, {script: 'print(2)'}]}\n    - {name: after, dagRef: step, dependencies: [sweep], params: {script: {value: 'print(3)'}}}";
    let (status, pipeline) = submit(&server, &dag(operations));
    assert_eq!(status, 200, "{pipeline}");
    let uuid = pipeline["uuid"].as_str().unwrap().to_owned();
    let sweep = || -> Option<Json> {
        children(&server, &uuid)
            .into_iter()
            .find(|child| child["name"] == "sweep")
    };
    wait_until(
        "the nested matrix runs its first run",
        Duration::from_secs(30),
        || {
            sweep().is_some_and(|sweep| {
                sweep["kind"] == "matrix"
                    && children(&server, sweep["uuid"].as_str().unwrap())
                        .iter()
                        .any(|child| child["status"] == "running")
            })
        },
    );
    stop(&server, &uuid, 30);
    let sweep = sweep().unwrap();
    let nested = sweep["uuid"].as_str().unwrap();
    assert_eq!(
        server.wait_for(PROJECT, nested, is_done, Duration::from_secs(30)),
        "stopped"
    );
    for child in children(&server, nested) {
        assert_eq!(child["status"], "stopped", "{child}");
    }
    assert!(
        !children(&server, &uuid)
            .iter()
            .any(|child| child["name"] == "after"),
        "nothing after a stopped operation starts"
    );
}

#[test]
fn joins_give_a_run_the_values_of_the_runs_their_query_finds() {
    let server = server("joins");
    // Three runs with their own `lr`, then one that joins them.
    let mapping = "  kind: mapping\n  values:\n  - {opt: a, lr: 0.3}\n  - {opt: b, lr: 0.1}\n  - {opt: c, lr: 0.2}";
    let (status, pipeline) = submit(&server, &matrix(mapping, 0.0));
    assert_eq!(status, 200, "{pipeline}");
    let uuid = pipeline["uuid"].as_str().unwrap().to_owned();
    assert_eq!(
        server.wait_for(PROJECT, &uuid, is_done, Duration::from_secs(30)),
        "succeeded"
    );
    let joining = format!(
        "kind: operation\nname: joined\njoins:\n- query: 'pipeline:{uuid}, status:succeeded'\n  sort: inputs.lr\n  params:\n    lrs: {{value: inputs.lr}}\n    uuids: {{value: globals.uuid}}\ncomponent:\n  inputs:\n  - {{name: lrs, type: float, isList: true}}\n  - {{name: uuids, type: str, isList: true}}\n  run:\n    kind: job\n    container:\n      image: python:3.11\n      command: [python3, -c, 'print({{{{ lrs }}}})']\n"
    );
    let (status, run) = submit(&server, &joining);
    assert_eq!(status, 200, "{run}");
    let joined = run["uuid"].as_str().unwrap().to_owned();
    assert_eq!(
        server.wait_for(PROJECT, &joined, is_done, Duration::from_secs(30)),
        "succeeded"
    );
    let run = server.run(PROJECT, &joined);
    assert_eq!(run["inputs"]["lrs"], json!([0.1, 0.2, 0.3]), "sorted by lr");
    assert_eq!(run["inputs"]["uuids"].as_array().unwrap().len(), 3);
    let logs = server.get(&format!(
        "/streams/v1/polyaxon/default/{PROJECT}/runs/{joined}/logs"
    ));
    assert_eq!(logs["logs"][0]["value"], "[0.1, 0.2, 0.3]", "{logs}");
    let (status, body) = submit(
        &server,
        &joining.replace("sort: inputs.lr", "sort: 'no_such_field'"),
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("joins[0].sort"), "{body}");
}

#[test]
fn the_server_s_queue_holds_runs_past_its_limit_and_lets_a_waiting_one_be_stopped() {
    let server = Server::start("queue", &[("MYELIN_MAX_CONCURRENT_RUNS", "1".into())]);
    let (status, body) = server.request(
        "POST",
        "/api/v1/default/projects/create",
        Some(&json!({"name": PROJECT})),
    );
    assert_eq!(status, 200, "{body}");
    // A matrix that would run three at once, and a run of its own: one at a time, in order.
    let mapping = "  kind: mapping\n  concurrency: 3\n  values:\n  - {opt: a, lr: 1}\n  - {opt: b, lr: 2}\n  - {opt: c, lr: 3}";
    let (status, pipeline) = submit(&server, &matrix(mapping, 0.3));
    assert_eq!(status, 200, "{pipeline}");
    let uuid = pipeline["uuid"].as_str().unwrap().to_owned();
    wait_until("a child runs", Duration::from_secs(30), || {
        children(&server, &uuid)
            .iter()
            .any(|child| child["status"] == "running")
    });
    let (status, waiting) = submit(&server, &common::python_job("waits", "print('never')"));
    assert_eq!(status, 200, "{waiting}");
    let waiting = waiting["uuid"].as_str().unwrap().to_owned();
    let said = server.run(PROJECT, &waiting);
    let last = said["status_conditions"]
        .as_array()
        .unwrap()
        .last()
        .unwrap();
    assert_eq!(last["type"], "queued", "{said}");
    assert_eq!(last["reason"], "Queue", "{said}");
    stop(&server, &waiting, 10);
    assert!(server.run(PROJECT, &waiting)["started_at"].is_null());
    assert_eq!(
        server.wait_for(PROJECT, &uuid, is_done, Duration::from_secs(60)),
        "succeeded"
    );
    let children = children(&server, &uuid);
    assert_eq!(children.len(), 3);
    assert_eq!(
        most_at_once(&children),
        1,
        "the server's limit: {children:?}"
    );
}

#[test]
fn hyperband_goes_on_through_a_killed_server_with_every_rung_once() {
    let mut server = server("hyperband-killed");
    let search = "  kind: hyperband\n  concurrency: 2\n  maxIterations: 4\n  eta: 2\n  seed: 3\n  resource: {name: lr, type: int}\n  metric: {name: loss, optimization: minimize}\n  params:\n    opt: {kind: choice, value: [a, b, c, d, e, f, g]}";
    let (status, mut children) = killed_midway(&mut server, &matrix(search, 0.3), 5);
    let told = told(&children);
    assert_eq!(
        children.len(),
        14,
        "every run of every rung, once: {told:#?}"
    );
    children.sort_by_key(|child| child["created_at"].as_str().unwrap().to_owned());
    let resources: Vec<i64> = children
        .iter()
        .map(|child| child["inputs"]["lr"].as_f64().unwrap() as i64)
        .collect();
    assert_eq!(resources, [1, 1, 1, 1, 2, 2, 4, 2, 2, 2, 4, 4, 4, 4]);
    assert_ended_but_for_the_kill(&status, &children, 14);
}
