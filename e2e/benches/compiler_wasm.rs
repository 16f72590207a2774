//! The compiler as the browser runs it: `shared` in WebAssembly, in the app's compiler worker,
//! in headless Chromium. Check + compile + convert of every file of a corpus, many times each;
//! prints each file's median beside the native compiler's, then the median and p99 over files.
//! Run by `cargo xtask bench`. Environment: `MYELIN_BENCH_CASES` (the corpus folder),
//! `MYELIN_BENCH_AGENT` (the agent YAML), `MYELIN_BENCH_NATIVE` (the native medians as
//! `{case: seconds}`, optional), `MYELIN_BIN` and `MYELIN_WEB_DIR` as for the e2e tests.

#[path = "../tests/support/mod.rs"]
mod support;

#[path = "../../shared/benches/support/case_params.rs"]
mod case_params;

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value as Json, json};
use support::{Browser, Server};

/// How many times each file is compiled.
const RUNS: usize = 200;
/// The goal for the median file.
const GOAL_MS: f64 = 2.0;

/// Starts the app's compiler worker, sends it the bench and resolves with its answer.
const RUN_IN_WORKER: &str = r#"
const [request, done] = arguments;
const worker = new Worker('/compiler_loader.js');
worker.onmessage = (event) => {
  const reply = JSON.parse(event.data);
  if (reply === 'Ready') { worker.postMessage(JSON.stringify(request)); return; }
  worker.terminate();
  done(reply);
};
"#;

/// The corpus's files, as the worker takes them: name, text and params.
fn corpus(folder: &Path) -> Vec<Json> {
    let mut files: Vec<Json> = std::fs::read_dir(folder)
        .unwrap()
        .filter_map(|entry| {
            let name = entry.unwrap().file_name().into_string().unwrap();
            let name = name.strip_suffix(".yaml")?.to_owned();
            let text = std::fs::read_to_string(folder.join(format!("{name}.yaml"))).unwrap();
            let params = case_params::case_params(folder, &name);
            Some(json!({"name": name, "text": text, "params": params}))
        })
        .collect();
    files.sort_by_key(|file| file["name"].as_str().unwrap_or_default().to_owned());
    files
}

/// The value at `quantile` of sorted `values`.
fn at(values: &[f64], quantile: f64) -> f64 {
    values[((values.len() as f64 - 1.0) * quantile).round() as usize]
}

#[tokio::main]
async fn main() {
    let cases = std::env::var("MYELIN_BENCH_CASES").expect("MYELIN_BENCH_CASES names the corpus");
    let agent = std::env::var("MYELIN_BENCH_AGENT").expect("MYELIN_BENCH_AGENT names the agent");
    let native: BTreeMap<String, f64> = std::env::var("MYELIN_BENCH_NATIVE")
        .ok()
        .map(|path| serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap())
        .unwrap_or_default();
    let request = json!({"Bench": {
        "agent": std::fs::read_to_string(&agent).unwrap(),
        "cases": corpus(Path::new(&cases)),
        "runs": RUNS,
    }});

    let server = Server::start();
    let browser = Browser::start().await;
    browser.open(&server.url("/projects")).await;
    let reply = browser
        .client
        .execute_async(RUN_IN_WORKER, vec![request])
        .await
        .expect("the worker answers");
    browser.close().await;
    let Some(medians) = reply.get("Bench").and_then(Json::as_array) else {
        panic!("the worker refused the bench: {reply}");
    };

    println!(
        "{:<44} {:>10} {:>10} {:>9}",
        "case (check+compile+convert)", "wasm µs", "native µs", "wasm/nat"
    );
    let mut wasm: Vec<f64> = Vec::new();
    let mut ratios: Vec<f64> = Vec::new();
    for entry in medians {
        let name = entry[0].as_str().unwrap_or_default();
        let micros = entry[1].as_f64().unwrap_or_default();
        wasm.push(micros);
        match native.get(name) {
            Some(seconds) => {
                let native_micros = seconds * 1e6;
                ratios.push(micros / native_micros);
                println!(
                    "{name:<44} {micros:>10.1} {native_micros:>10.1} {:>8.1}×",
                    micros / native_micros
                );
            }
            None => println!("{name:<44} {micros:>10.1}"),
        }
    }
    wasm.sort_by(f64::total_cmp);
    ratios.sort_by(f64::total_cmp);
    let (median, p99) = (at(&wasm, 0.5), at(&wasm, 0.99));
    print!(
        "\nWebAssembly in Chromium, per file ({} files): median {median:.1} µs, p99 {p99:.1} µs",
        wasm.len()
    );
    if ratios.is_empty() {
        println!();
    } else {
        let mut native_micros: Vec<f64> = native.values().map(|seconds| seconds * 1e6).collect();
        native_micros.sort_by(f64::total_cmp);
        println!(
            "; native median {:.1} µs, p99 {:.1} µs; per file, wasm takes {:.1}× native (median)",
            at(&native_micros, 0.5),
            at(&native_micros, 0.99),
            at(&ratios, 0.5)
        );
    }
    let verdict = if median / 1000.0 < GOAL_MS {
        "met"
    } else {
        "NOT met"
    };
    println!("goal, a median under {GOAL_MS} ms per file: {verdict}");
}
