//! Run with `cargo xtask bench`, which also times Polyaxon's own compiler on the same files.
//!
//! Times check + compile + convert of every case in a corpus (median of many runs per file) and
//! prints it beside Polyaxon's median for the same file, when `cargo xtask bench` passes those in.
//! Environment: `MYELIN_BENCH_CASES` (the corpus folder), `MYELIN_BENCH_AGENT` (the agent YAML),
//! `MYELIN_BENCH_BASELINE` (Polyaxon's medians as `{case: seconds}`, optional),
//! `MYELIN_BENCH_EXPORT` (where to write ours in the same shape, optional: the WebAssembly
//! bench prints them beside its own).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// The allocator of the `myelin` binary, where the compiler runs natively, so that the bench
/// times what the server and CLI do.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "../tests/common/oracle_run.rs"]
mod common;

#[path = "support/case_params.rs"]
mod case_params;

const RUNS: usize = 200;

fn main() {
    let cases = std::env::var("MYELIN_BENCH_CASES").expect("MYELIN_BENCH_CASES names the corpus");
    let agent =
        std::env::var("MYELIN_BENCH_AGENT").expect("MYELIN_BENCH_AGENT names the agent YAML");
    let baseline: BTreeMap<String, f64> = std::env::var("MYELIN_BENCH_BASELINE")
        .ok()
        .map(|path| serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap())
        .unwrap_or_default();
    let run = common::oracle_run(&std::fs::read_to_string(agent).unwrap());

    let mut names: Vec<String> = std::fs::read_dir(&cases)
        .unwrap()
        .filter_map(|entry| {
            entry
                .unwrap()
                .file_name()
                .into_string()
                .unwrap()
                .strip_suffix(".yaml")
                .map(str::to_owned)
        })
        .collect();
    names.sort();
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    println!(
        "{:<44} {:>12} {:>12} {:>8}",
        "case (check+compile+convert)", "myelin µs", "polyaxon µs", "ratio"
    );
    for name in &names {
        let folder = Path::new(&cases);
        let text = std::fs::read_to_string(folder.join(format!("{name}.yaml"))).unwrap();
        let params = case_params::case_params(folder, name);
        let mut times: Vec<Duration> = (0..RUNS)
            .map(|_| {
                let started = Instant::now();
                let compiled = shared::compile(&text, &params, &run);
                if let Some(operation) = &compiled.compiled {
                    std::hint::black_box(shared::convert::convert(operation, &run)).ok();
                }
                std::hint::black_box(compiled);
                started.elapsed()
            })
            .collect();
        times.sort();
        let median = times[RUNS / 2].as_secs_f64();
        ours.push(median);
        match baseline.get(name) {
            Some(polyaxon) => {
                theirs.push(*polyaxon);
                println!(
                    "{name:<44} {:>12.1} {:>12.1} {:>7.0}×",
                    median * 1e6,
                    polyaxon * 1e6,
                    polyaxon / median
                );
            }
            None => println!("{name:<44} {:>12.1}", median * 1e6),
        }
    }
    if let Ok(path) = std::env::var("MYELIN_BENCH_EXPORT") {
        let medians: BTreeMap<&String, f64> = names.iter().zip(ours.iter().copied()).collect();
        std::fs::write(&path, serde_json::to_string(&medians).unwrap()).unwrap();
    }
    let median_of = |values: &mut Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let ours_median = median_of(&mut ours);
    print!("\nmedian per file: myelin {:.1} µs", ours_median * 1e6);
    if theirs.is_empty() {
        println!();
    } else {
        let theirs_median = median_of(&mut theirs);
        println!(
            ", polyaxon {:.1} µs: myelin is {:.0}× faster ({} files, check+compile+convert, imports excluded)",
            theirs_median * 1e6,
            theirs_median / ours_median,
            names.len()
        );
    }
}
