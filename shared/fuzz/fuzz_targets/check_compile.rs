//! Run with `cargo xtask fuzz` from the workspace root (it installs cargo-fuzz and passes the
//! seeds, the dictionary and the limits), or `RUSTC_BOOTSTRAP=1 cargo fuzz run check_compile`
//! from `shared/`.
//!
//! Any text, valid YAML or not, goes through check, compile and convert: the compiler must
//! answer with diagnostics or a result, never panic, and within the time and memory limits
//! `cargo xtask fuzz` sets, so a document that explodes (aliases of aliases) is a finding too.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use shared::{Agent, RunContext};

fn run() -> &'static RunContext {
    static RUN: OnceLock<RunContext> = OnceLock::new();
    RUN.get_or_init(|| RunContext {
        owner: "acme".to_owned(),
        project: "mnist".to_owned(),
        project_uuid: "0d4e2f6a1b3c4d5e8f9a0b1c2d3e4f50".to_owned(),
        run_uuid: "8c1f3a5e7b9d4f21a3c5e7f9b1d3f5a7".to_owned(),
        default_run_name: "fuzz".to_owned(),
        api_host: "http://localhost:8000".to_owned(),
        created_at: "2024-01-02T03:04:05Z".to_owned(),
        compiled_at: "2024-01-02T03:04:06Z".to_owned(),
        agent: Agent::from_yaml(include_str!("../../tests/data/agent.yaml"))
            .expect("the test agent reads"),
    })
}

/// The params an input passes: each `# -P name=value` line is one, as `myelin compile -P` takes
/// them (a comment to YAML, it leaves the document as it is), so params' text is fuzzed with the
/// file. An input without any passes `lr=0.1` half the time, so params validation and casting are
/// reached anyway.
fn params(data: &[u8], text: &str) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = text
        .lines()
        .filter_map(|line| line.strip_prefix("# -P ")?.split_once('='))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    if params.is_empty() && data.first().is_some_and(|byte| byte % 2 == 0) {
        params.push(("lr".to_owned(), "0.1".to_owned()));
    }
    params
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let params = params(data, &text);
    let compiled = shared::compile(&text, &params, run());
    let converted = compiled
        .compiled
        .as_ref()
        .map(|operation| shared::convert::convert(operation, run()));
    let _ = shared::report::convert_json(&compiled, converted.as_ref());
    let _ = shared::report::code_frames(&text, "fuzz.yaml", &compiled.checked.diagnostics);
});
