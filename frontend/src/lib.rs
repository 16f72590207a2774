//! What the app and its compiler worker share: the worker's messages and what it computes
//! (`preview`); and what the app computes that can be tested without a browser (`ansi`,
//! `compare_view`, `diff`, `format`, `log_view`, `rows`, `runs_view`). The app (`src/main.rs`) only sends and
//! receives; the compiler itself is linked into the worker (`src/bin/compiler.rs`) alone, so
//! pages without an editor never load it.

pub mod ansi;
pub mod compare_view;
pub mod diff;
pub mod format;
pub mod log_view;
pub mod pipeline_view;
pub mod preview;
pub mod rows;
pub mod runs_view;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// A message to the compiler worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Request {
    /// Compile a text for the editor.
    Preview(PreviewRequest),
    /// Time the compiler over a corpus.
    Bench(BenchRequest),
}

/// A text to compile, and the run it would be.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PreviewRequest {
    /// Answers carry it, so a late answer to an older text is recognised.
    pub id: u64,
    /// The Polyaxonfile.
    pub text: String,
    /// `-P` params.
    pub params: Vec<(String, String)>,
    /// The project the run would belong to.
    pub project: String,
    /// Where runs reach the API.
    pub api_host: String,
    /// The time now, ISO 8601.
    pub now: String,
    /// The server's agent configuration, in Polyaxon's camelCase shape.
    pub agent: Json,
    /// The server's users' own components, which `hubRef` may name besides the bundled ones.
    #[serde(default)]
    pub hub: Vec<shared::hub::HubComponent>,
}

/// Files to compile many times each.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchRequest {
    /// The agent configuration, as YAML.
    pub agent: String,
    /// The files.
    pub cases: Vec<BenchCase>,
    /// How many times each file is compiled.
    pub runs: usize,
}

/// One file of a bench.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchCase {
    /// Its name.
    pub name: String,
    /// The Polyaxonfile.
    pub text: String,
    /// Its `-P` params.
    pub params: Vec<(String, String)>,
}

/// The worker's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Reply {
    /// The worker listens: what was sent before it did went nowhere.
    Ready,
    /// What a text compiles to.
    Preview {
        /// The request's id.
        id: u64,
        /// The result.
        preview: Box<preview::Preview>,
    },
    /// The median time of check + compile + convert per file, in microseconds, by name.
    Bench(Vec<(String, f64)>),
    /// The request could not be read.
    Refused(String),
}

/// Answers one request; `clock` reads milliseconds.
pub fn answer(request: Request, clock: impl Fn() -> f64) -> Reply {
    match request {
        Request::Preview(request) => {
            let agent = serde_json::from_value(request.agent).unwrap_or_default();
            let context = shared::RunContext {
                owner: shared::api::DEFAULT_OWNER.to_owned(),
                project: request.project,
                project_uuid: PREVIEW_UUID.to_owned(),
                run_uuid: PREVIEW_UUID.to_owned(),
                default_run_name: "run".to_owned(),
                api_host: request.api_host,
                created_at: request.now.clone(),
                compiled_at: request.now,
                agent,
            };
            Reply::Preview {
                id: request.id,
                preview: Box::new(preview::preview(
                    &request.text,
                    &request.params,
                    &context,
                    &shared::hub::Catalog::bundled().with(request.hub),
                )),
            }
        }
        Request::Bench(request) => match bench(&request, clock) {
            Ok(medians) => Reply::Bench(medians),
            Err(why) => Reply::Refused(why),
        },
    }
}

/// The uuid previews compile for; the server gives the run its own.
const PREVIEW_UUID: &str = "00000000000000000000000000000000";

// The run the oracle recorded its cases for, as the native bench compiles them.
#[path = "../../shared/tests/common/oracle_run.rs"]
mod oracle_run;

/// The same work, for the same run, as the native bench (`shared/benches/pipeline.rs`).
fn bench(request: &BenchRequest, clock: impl Fn() -> f64) -> Result<Vec<(String, f64)>, String> {
    shared::Agent::from_yaml(&request.agent)?;
    let context = oracle_run::oracle_run(&request.agent);
    // Browsers coarsen `performance.now()` (to 100 µs without cross-origin isolation): each
    // time is a batch's, divided by its size, and the median batch counts.
    let batch = (request.runs / ROUNDS).max(1);
    Ok(request
        .cases
        .iter()
        .map(|case| {
            let mut times: Vec<f64> = (0..ROUNDS)
                .map(|_| {
                    let started = clock();
                    for _ in 0..batch {
                        let compiled = shared::compile(&case.text, &case.params, &context);
                        if let Some(operation) = &compiled.compiled {
                            std::hint::black_box(shared::convert::convert(operation, &context))
                                .ok();
                        }
                        std::hint::black_box(compiled);
                    }
                    (clock() - started) / batch as f64
                })
                .collect();
            times.sort_by(f64::total_cmp);
            (case.name.clone(), times[ROUNDS / 2] * 1000.0)
        })
        .collect())
}

/// How many batches a bench times per file.
const ROUNDS: usize = 10;
