//! `cargo xtask bench`: Myelin's compiler beside Polyaxon's own, on the oracle corpus; then the
//! server's run list and submit at 100,000 runs beside haupt's measured numbers; then the logs
//! WebSocket: 1,000,000 lines streamed to a client (lines/s, write-to-receipt latency) and the
//! server's memory with 1,000 idle log sockets, beside the goals; then runs' metrics:
//! series of up to 1,000 runs and 50,000,000 points, a live run's new points, and the runs
//! dashboard filtered on metric summaries at 100,000 runs, beside issue 16's goals and MLflow's
//! measured numbers; the compare view drawing 1,000 runs' series in Chromium; and a
//! 10,000-run grid expanded, its children recorded by the scheduler, beside haupt's run creation.
//!
//! Polyaxon 2.18 runs from a venv made from the oracle's pinned packages (PyPI), in one process
//! with its imports done before timing; then `shared`'s bench times the same files and prints
//! both medians and their ratio, and the browser's compiler worker times them again in Chromium
//! (WebAssembly beside native). MLflow 3.17.2 runs from a venv of its own
//! (`xtask/bench/mlflow_bench.py`: its server on a loopback port, seeded and timed) before the
//! `metrics` bench, which prints its timings beside Myelin's. Haupt 2.18.0, Polyaxon's own
//! server, runs from a venv of its own too (`xtask/bench/haupt_bench.py`: its sandbox on a
//! loopback port, 100,000 runs seeded as the `runs` bench seeds Myelin's, timed) before the
//! `runs` and `pipelines` benches, which print its run lists, run creation and database size
//! beside Myelin's. The `logs` bench has no peer: haupt's sandbox collects no logs without
//! Kubernetes (`../shared/docs/peer-anchors.md`).

use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{Workspace, setup, step, web};

pub fn run(workspace: &Workspace) -> Result<()> {
    let oracle = workspace
        .root
        .parent()
        .context("the workspace has no parent folder")?
        .join("shared/oracle");
    if !oracle.join("polyaxon_oracle.py").is_file() {
        bail!(
            "no oracle at {}: the bench compares against Polyaxon's compiler kept there",
            oracle.display()
        );
    }
    let mut polyaxon = Command::new(setup::polyaxon_venv(workspace)?.join("bin/python"));
    polyaxon
        .arg(workspace.root.join("xtask/bench/polyaxon_bench.py"))
        .arg(&oracle)
        .arg(oracle.join("cases"))
        .args(["--upto", "convert", "--repeat", "5"])
        .stderr(std::process::Stdio::null());
    let baseline = peer_timings(workspace, polyaxon, "Polyaxon", "bench-polyaxon.json")?;

    let native = workspace.target_dir().join("bench-native.json");
    let mut bench = workspace.cargo();
    bench
        .args(["bench", "--package", "shared", "--bench", "pipeline"])
        .env("MYELIN_BENCH_CASES", oracle.join("cases"))
        .env("MYELIN_BENCH_AGENT", oracle.join("agent.yaml"))
        .env("MYELIN_BENCH_BASELINE", &baseline)
        .env("MYELIN_BENCH_EXPORT", &native);
    step("time Myelin's compiler beside Polyaxon's", bench)?;

    // The same files in the browser's compiler worker, in Chromium.
    web::build(workspace)?;
    // Release, as `cargo xtask run` serves the app: the compare view's time includes the
    // server's answers.
    let mut server = workspace.cargo();
    server.args([
        "build",
        "--release",
        "--package",
        "backend",
        "--bin",
        "myelin",
    ]);
    step("build the server that serves the web app", server)?;
    let release_server = workspace.target_dir().join("release").join("myelin");
    let mut wasm = workspace.cargo();
    wasm.args(["bench", "--package", "e2e", "--bench", "compiler_wasm"])
        .env("MYELIN_BENCH_CASES", oracle.join("cases"))
        .env("MYELIN_BENCH_AGENT", oracle.join("agent.yaml"))
        .env("MYELIN_BENCH_NATIVE", &native)
        .env("MYELIN_BIN", &release_server)
        .env("MYELIN_WEB_DIR", workspace.dist());
    step("time the compiler in WebAssembly, in Chromium", wasm)?;
    let mut compare = workspace.cargo();
    compare
        .args(["bench", "--package", "e2e", "--bench", "compare_render"])
        .env("MYELIN_BIN", &release_server)
        .env("MYELIN_WEB_DIR", workspace.dist());
    step(
        "time the compare view's chart of 1,000 runs, in Chromium",
        compare,
    )?;

    // Haupt on this machine, timed before the benches that print its figures beside ours.
    eprintln!("xtask: time haupt's run lists and run creation at 100,000 runs (a few minutes)");
    let mut haupt = Command::new(setup::haupt_venv(workspace)?.join("bin/python"));
    haupt
        .arg(workspace.root.join("xtask/bench/haupt_bench.py"))
        .stderr(std::process::Stdio::inherit());
    let haupt = peer_timings(workspace, haupt, "haupt", "bench-haupt.json")?;
    let mut runs = workspace.cargo();
    runs.args(["bench", "--package", "backend", "--bench", "runs"])
        .env("MYELIN_BENCH_HAUPT", &haupt);
    step("time run lists and submits at 100,000 runs", runs)?;

    let mut logs = workspace.cargo();
    logs.args(["bench", "--package", "backend", "--bench", "logs"]);
    step(
        "time the logs WebSocket: 1,000,000 lines, 1,000 idle sockets",
        logs,
    )?;

    let mut pipelines = workspace.cargo();
    pipelines
        .args(["bench", "--package", "backend", "--bench", "pipelines"])
        .env("MYELIN_BENCH_HAUPT", &haupt);
    step(
        "time a 10,000-run grid: expansion, its children recorded, memory",
        pipelines,
    )?;

    // MLflow on this machine, timed before the metrics bench prints its figures beside ours.
    eprintln!("xtask: time MLflow's series sampling and runs search (a few minutes)");
    let mut mlflow = Command::new(setup::mlflow_venv(workspace)?.join("bin/python"));
    mlflow
        .arg(workspace.root.join("xtask/bench/mlflow_bench.py"))
        .stderr(std::process::Stdio::inherit());
    let mlflow = peer_timings(workspace, mlflow, "MLflow", "bench-mlflow.json")?;
    let mut metrics = workspace.cargo();
    metrics
        .args(["bench", "--package", "backend", "--bench", "metrics"])
        .env("MYELIN_BENCH_MLFLOW", &mlflow);
    step(
        "time metric series, live reads and the runs dashboard at 100,000 runs",
        metrics,
    )
}

/// Runs a peer's bench script, whose stdout is its timings as JSON, and keeps them in the target
/// folder as `file` for the Rust bench that prints them beside ours; the file's path.
fn peer_timings(
    workspace: &Workspace,
    mut script: Command,
    peer: &str,
    file: &str,
) -> Result<std::path::PathBuf> {
    let output = script
        .output()
        .with_context(|| format!("cannot run {peer}'s bench"))?;
    if !output.status.success() {
        bail!("{peer}'s bench failed ({})", output.status);
    }
    let path = workspace.target_dir().join(file);
    std::fs::write(&path, &output.stdout)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}
