//! Run with `cargo bench -p backend --bench pipelines` (`cargo xtask bench` runs it too).
//!
//! A 10,000-run grid (100 × 100 values): its expansion in `shared` (the median of 20), then the
//! whole path through the HTTP router in-process: the matrix submitted, and the scheduler
//! compiling and recording its 10,000 children, each through the same submission path as any
//! run. The grid's concurrency is 1, so the time is the scheduler's and the store's, not the
//! runtime's. The time per child is printed beside haupt's time to create one run in a project
//! of 100,000, measured on this machine in the same `cargo xtask bench`
//! (`xtask/bench/haupt_bench.py`, its JSON in the file `MYELIN_BENCH_HAUPT` names; run alone, the
//! bench says haupt was not measured), and the process's resident memory before and after.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt as _;
use serde_json::{Value as Json, json};
use support::{HAUPT_NOT_MEASURED, Haupt, TempDir};
use tower::ServiceExt as _;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const OWNER: &str = "default";
const PROJECT: &str = "grid";
const SIDE: usize = 100;
const RUNS: usize = SIDE * SIDE;
/// The goals.
const EXPANSION_GOAL: Duration = Duration::from_millis(100);
const RECORDED_GOAL: Duration = Duration::from_secs(10);

fn grid() -> String {
    let values: Vec<String> = (0..SIDE).map(|value| value.to_string()).collect();
    format!(
        "kind: operation\nname: big-grid\nmatrix:\n  kind: grid\n  concurrency: 1\n  params:\n    a: {{kind: choice, value: [{list}]}}\n    b: {{kind: choice, value: [{list}]}}\ncomponent:\n  inputs: [{{name: a, type: int}}, {{name: b, type: int}}]\n  run:\n    kind: job\n    container:\n      image: python:3.11\n      command: [\"true\"]\n      args: [\"{{{{ a }}}}\", \"{{{{ b }}}}\"]\n",
        list = values.join(", ")
    )
}

fn main() {
    let root = TempDir::new("pipelines");
    expansion();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts");
    runtime.block_on(scheduling(&root.0));
}

fn expansion() {
    let text = grid();
    // The matrix as the compiler leaves it: choices stay lists.
    let values: Vec<usize> = (0..SIDE).collect();
    let matrix = json!({"kind": "grid", "params": {
        "a": {"kind": "choice", "value": values},
        "b": {"kind": "choice", "value": values},
    }});
    let matrix = &matrix;
    let order = shared::matrix::written_order(&text);
    let mut times: Vec<Duration> = (0..20)
        .map(|_| {
            let started = Instant::now();
            let children = shared::matrix::suggestions(matrix, &order, 0).expect("expands");
            let took = started.elapsed();
            assert_eq!(children.len(), RUNS);
            assert_eq!(children[RUNS - 1]["a"], json!(SIDE - 1));
            took
        })
        .collect();
    times.sort();
    let median = times[times.len() / 2];
    println!(
        "grid expansion, {RUNS} runs: median {:.2} ms, worst {:.2} ms (goal < {} ms: {})",
        ms(median),
        ms(times[times.len() - 1]),
        EXPANSION_GOAL.as_millis(),
        if median < EXPANSION_GOAL {
            "met"
        } else {
            "MISSED"
        }
    );
}

async fn scheduling(root: &Path) {
    let state = backend::AppState::open(
        backend::Config::local(root.join("data"), root.join("web")),
        "http://127.0.0.1:9",
    )
    .await
    .expect("the state opens in a fresh folder");
    backend::scheduler::spawn(state.clone());
    let router = backend::app(state.clone());
    let (status, _) = post(
        &router,
        &format!("/api/v1/{OWNER}/projects/create"),
        &json!({"name": PROJECT}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let before = resident();
    let started = Instant::now();
    let (status, pipeline) = post(
        &router,
        &format!("/api/v1/{OWNER}/{PROJECT}/runs"),
        &json!({"content": grid()}),
    )
    .await;
    let submitted = started.elapsed();
    assert_eq!(status, StatusCode::OK, "{pipeline}");
    let uuid = pipeline["uuid"].as_str().expect("a uuid").to_owned();
    let deadline = Instant::now() + Duration::from_secs(300);
    let recorded = loop {
        let children = state
            .store
            .pipeline_children(&uuid)
            .await
            .expect("the children read");
        if children.len() == RUNS {
            break started.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "{} of {RUNS} children after 5 minutes",
            children.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let after = resident();
    let per_child = ms(recorded) / RUNS as f64;
    println!(
        "10,000-run grid submitted in {:.1} ms; all {RUNS} children compiled and recorded in {:.2} s (goal < {} s: {})",
        ms(submitted),
        recorded.as_secs_f64(),
        RECORDED_GOAL.as_secs(),
        if recorded < RECORDED_GOAL {
            "met"
        } else {
            "MISSED"
        }
    );
    match Haupt::measured() {
        Some(haupt) => println!(
            "scheduler overhead per child run: {per_child:.3} ms; haupt 2.18.0 (measured on this \
             machine in this run) creates one run in {:.1} ms p50 ({:.1} ms p95): x{:.0}",
            haupt.create.p50,
            haupt.create.p95,
            haupt.create.p50 / per_child
        ),
        None => {
            println!("scheduler overhead per child run: {per_child:.3} ms; {HAUPT_NOT_MEASURED}")
        }
    }
    match (before, after) {
        (Some(before), Some(after)) => println!(
            "resident memory: {:.1} MB before, {:.1} MB with the 10,000-child pipeline (+{:.1} MB)",
            before as f64 / 1024.0,
            after as f64 / 1024.0,
            after.saturating_sub(before) as f64 / 1024.0
        ),
        _ => println!("resident memory: /proc/self/status is not readable here"),
    }
}

async fn post(router: &axum::Router, path: &str, body: &Json) -> (StatusCode, Json) {
    let request = Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("a valid request");
    let response = router.clone().oneshot(request).await.expect("an answer");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Json::Null))
}

/// The process's resident set, in KiB.
fn resident() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1_000.0
}
