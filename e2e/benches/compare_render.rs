//! The compare view in Chromium with 1,000 runs of a 10,000-point metric: the chart's first
//! render, from the page holding the series' answer to the loss chart drawn with every run's
//! line, beside the issue's goal (under 200 ms); and the whole opening, from navigation (the
//! app's start, the runs, their summaries and the series request included). Aim's UI is
//! reported to fail at about 1,000 runs (aim#1897), MLflow to be "really slow" past 100
//! (mlflow#21841), neither with a figure to set beside. Run by `cargo xtask bench`;
//! `MYELIN_BIN` and `MYELIN_WEB_DIR` as for the e2e tests.

#[path = "../tests/support/mod.rs"]
mod support;

use std::fmt::Write as _;
use std::time::Instant;

use serde_json::json;
use support::{Browser, Server};

const RUNS: usize = 1_000;
const POINTS: u64 = 10_000;
const GOAL_MS: f64 = 200.0;
/// Times the page is opened anew.
const SAMPLES: usize = 5;

/// A traceml metric file: the header, then each event preceded by a newline, as the tracking
/// client writes it; a loss falling at a speed of the run's own, with a spike now and then.
fn metric_file(run: usize) -> String {
    let mut text = String::from("step|timestamp|metric");
    let speed = 1.0 + run as f64 / 100.0;
    for step in 0..POINTS {
        let spike = if (step + run as u64).is_multiple_of(2_000) {
            5.0
        } else {
            0.0
        };
        let loss = 1.0 / (1.0 + speed * step as f64 / 1_000.0) + spike;
        let _ = write!(
            text,
            "\n{step}|2026-12-07T10:{:02}:{:02}.000000+00:00|{loss}",
            (step / 60) % 60,
            step % 60
        );
    }
    text
}

/// Resolves, in the page, with `performance.now()` (milliseconds since navigation began) once
/// the loss chart has drawn all its lines.
const DRAWN: &str = r#"
const [count, done] = arguments;
const check = () => {
  const chart = document.querySelector("figure[aria-label='Chart of loss'] .metric-chart");
  if (chart && chart.dataset.lines === String(count)) {
    done(performance.now());
  } else {
    requestAnimationFrame(check);
  }
};
check();
"#;

/// When the page last held a series answer, in milliseconds since navigation began.
const SERIES_ANSWERED: &str = r#"
const ends = performance.getEntriesByType('resource')
  .filter((entry) => new URL(entry.name).pathname === '/api/v1/series')
  .map((entry) => entry.responseEnd);
return Math.max(...ends);
"#;

/// When each of the page's API answers had arrived, in milliseconds since navigation began:
/// where the time before the chart went.
const ANSWERS: &str = r#"
return performance.getEntriesByType('resource')
  .filter((entry) => entry.name.includes('/api/'))
  .map((entry) => {
    const path = new URL(entry.name).pathname;
    return `${path} ${Math.round(entry.startTime)}–${Math.round(entry.responseEnd)} ms`;
  })
  .join(', ');
"#;

#[tokio::main]
async fn main() {
    let server = Server::start();
    server.post("/api/v1/default/projects/create", &json!({"name": "bench"}));
    let seeding = Instant::now();
    let mut uuids = Vec::with_capacity(RUNS);
    for run in 0..RUNS {
        let uuid = format!("{:032x}", 0xbe00_0000_u128 + run as u128);
        server.post(
            "/api/v1/default/bench/runs/sync",
            &json!({
                "uuid": uuid,
                "name": format!("run-{run}"),
                "created_at": "2026-12-07T10:00:00Z",
                "status": "succeeded",
                "inputs": {"lr": 0.001 * (run + 1) as f64, "seed": run % 5},
            }),
        );
        let folder = server
            .data_dir()
            .join("artifacts")
            .join(&uuid)
            .join("events/metric");
        std::fs::create_dir_all(&folder).expect("cannot make the events folder");
        std::fs::write(folder.join("loss.plx"), metric_file(run)).expect("cannot write");
        uuids.push(uuid);
    }
    println!(
        "seeded {RUNS} runs × {POINTS} points in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );
    let address = server.url(&format!("/compare?runs={}", uuids.join(",")));
    let browser = Browser::start().await;
    let mut drawn = Vec::with_capacity(SAMPLES);
    let mut rendered = Vec::with_capacity(SAMPLES);
    // The first opening reads every file from its start; the ones after read nothing new.
    for sample in 0..=SAMPLES {
        browser.open(&server.url("/projects")).await;
        browser.open(&address).await;
        let at = browser
            .client
            .execute_async(DRAWN, vec![json!(RUNS)])
            .await
            .expect("the chart is drawn");
        let ms = at.as_f64().expect("milliseconds");
        let lines = browser
            .evaluate("document.querySelector(\"figure[aria-label='Chart of loss'] figcaption .muted\").textContent")
            .await;
        let answers = browser
            .client
            .execute(ANSWERS, Vec::new())
            .await
            .expect("the page's requests are listed");
        let answers = answers.as_str().unwrap_or_default().to_owned();
        let answered = browser
            .client
            .execute(SERIES_ANSWERED, Vec::new())
            .await
            .expect("the series request is listed")
            .as_f64()
            .expect("the series request was made");
        let render = ms - answered;
        if sample == 0 {
            println!(
                "first opening (files read from their start): drawn at {ms:.0} ms, {render:.0} ms \
                 after the series answer; {lines}; {answers}"
            );
        } else {
            println!("drawn at {ms:.0} ms, {render:.0} ms after the series answer; {answers}");
            drawn.push(ms);
            rendered.push(render);
        }
    }
    let median = |times: &mut Vec<f64>| {
        times.sort_by(f64::total_cmp);
        (times[times.len() / 2], times[times.len() - 1])
    };
    let (render, worst_render) = median(&mut rendered);
    let (opening, worst_opening) = median(&mut drawn);
    println!(
        "compare view, {RUNS} runs × 1 metric × {POINTS} points:\n  chart's first render, from \
         the series answer to the chart drawn: median {render:.0} ms, worst {worst_render:.0} ms \
         (goal < {GOAL_MS} ms: {})\n  whole opening, from navigation to the chart drawn: median \
         {opening:.0} ms, worst {worst_opening:.0} ms",
        if worst_render < GOAL_MS {
            "met"
        } else {
            "missed"
        }
    );
    browser.close().await;
}
