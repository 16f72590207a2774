//! `myelin check` and `myelin compile`: the compiler on the command line, for people (code
//! frames) and for tools (`--json`, in the shape Polyaxon's oracle records).

use std::path::PathBuf;
use std::process::ExitCode;

use shared::{Agent, RunContext, report};

/// Exit code of an invalid Polyaxonfile; usage errors exit with 2, as clap's do.
const INVALID: u8 = 1;
const USAGE: u8 = 2;

#[derive(Debug, clap::Args)]
pub struct StageArgs {
    /// The Polyaxonfile to read.
    #[arg(short = 'f', long = "file")]
    file: PathBuf,
    /// A param for the component's inputs, as `name=value`; repeat for more.
    #[arg(short = 'P', long = "param", value_parser = parse_param)]
    params: Vec<(String, String)>,
    /// Print the result as JSON instead of code frames.
    #[arg(long)]
    json: bool,
    /// Check the file as a template: its structure and declarations, not whether the params
    /// given fill its inputs.
    #[arg(long)]
    lint: bool,
    /// With `convert`: print the native Kubernetes objects that run the resource (a Job; a
    /// Deployment and a Service; a TFJob, …), as Kubernetes documents (`--json`: a list).
    #[arg(long)]
    native: bool,
    /// The run's identity and the agent, which `compile` uses; `check` accepts them so one
    /// command line serves every stage.
    #[command(flatten)]
    identity: RunIdentity,
}

/// Who runs what, where: everything run-specific the later stages take as data.
#[derive(Debug, clap::Args)]
struct RunIdentity {
    /// The agent configuration (namespace, artifacts store, connections catalog), as YAML;
    /// without it, runs go to the `default` namespace with no connections.
    #[arg(long)]
    agent: Option<PathBuf>,
    /// The owner of the project.
    #[arg(long, default_value = "default")]
    owner: String,
    /// The project the run belongs to.
    #[arg(long, default_value = "default")]
    project: String,
    /// The project's uuid (32 hex digits).
    #[arg(long, default_value = "00000000000000000000000000000000")]
    project_uuid: String,
    /// The run's uuid (32 hex digits); a new one by default.
    #[arg(long)]
    run_uuid: Option<String>,
    /// The name of a run whose operation has none.
    #[arg(long, default_value = "run")]
    run_name: String,
    /// When the run was created, as ISO 8601; now by default.
    #[arg(long)]
    created_at: Option<String>,
    /// When the run was compiled, as ISO 8601; now by default.
    #[arg(long)]
    compiled_at: Option<String>,
    /// Where the run's processes reach the API (`POLYAXON_HOST` in its containers).
    #[arg(long, default_value = "http://localhost:8000")]
    api_host: String,
}

impl RunIdentity {
    fn into_context(self) -> Result<RunContext, String> {
        let agent = match &self.agent {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
                Agent::from_yaml(&text).map_err(|error| {
                    format!("{} is not an agent configuration: {error}", path.display())
                })?
            }
            None => Agent {
                namespace: "default".to_owned(),
                ..Agent::default()
            },
        };
        let now = || backend::clock::now().to_string();
        Ok(RunContext {
            owner: self.owner,
            project: self.project,
            project_uuid: self.project_uuid,
            run_uuid: self.run_uuid.unwrap_or_else(backend::clock::new_uuid),
            default_run_name: self.run_name,
            api_host: self.api_host,
            created_at: self.created_at.unwrap_or_else(now),
            compiled_at: self.compiled_at.unwrap_or_else(now),
            agent,
        })
    }
}

/// Which stage to run.
#[derive(Debug, Clone, Copy)]
pub enum Stage {
    Check,
    Compile,
    Convert,
}

fn parse_param(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_owned(), value.to_owned()))
        }
        _ => Err(format!("expected `name=value`, got `{text}`")),
    }
}

pub fn run(stage: Stage, args: StageArgs) -> ExitCode {
    let text = match std::fs::read_to_string(&args.file) {
        Ok(text) => text,
        Err(error) => {
            eprintln!("error: cannot read {}: {error}", args.file.display());
            return ExitCode::from(USAGE);
        }
    };
    match stage {
        Stage::Check => check(&text, args),
        Stage::Compile => compile(&text, args, false),
        Stage::Convert => compile(&text, args, true),
    }
}

/// Compiles, and with `convert` converts the result to its Kubernetes resource.
fn compile(text: &str, args: StageArgs, convert: bool) -> ExitCode {
    let file_name = args.file.display().to_string();
    let context = match args.identity.into_context() {
        Ok(context) => context,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(USAGE);
        }
    };
    let compiled = shared::compile(text, &args.params, &context);
    let converted = match (&compiled.compiled, convert) {
        (Some(operation), true) => Some(shared::convert::convert(operation, &context)),
        _ => None,
    };
    let problems: Vec<_> = compiled.problems().cloned().collect();
    eprint!("{}", report::code_frames(text, &file_name, &problems));
    let report = if convert {
        report::convert_json(&compiled, converted.as_ref())
    } else {
        report::compile_json(&compiled)
    };
    let succeeded = report["ok"] == serde_json::Value::Bool(true);
    if args.native
        && succeeded
        && let Some(operation) = &compiled.compiled
    {
        return print_native(&report["resource"], operation, &context, args.json);
    }
    if args.json {
        println!("{report}");
    } else if succeeded {
        let output = if convert {
            &report["resource"]
        } else {
            &report["compiled"]
        };
        println!(
            "{}",
            serde_json::to_string_pretty(output).unwrap_or_default()
        );
    } else if let Some(errors) = report["errors"].as_array()
        && converted.is_some()
    {
        for error in errors {
            eprintln!("error: {}", error.as_str().unwrap_or_default());
        }
    }
    if succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(INVALID)
    }
}

/// The native objects of a converted resource: a JSON list, or documents separated by `---`
/// (JSON is YAML, so `kubectl apply -f` takes them as they are).
fn print_native(
    resource: &serde_json::Value,
    compiled: &serde_json::Value,
    context: &RunContext,
    json: bool,
) -> ExitCode {
    let objects = match shared::convert::native::expand_run(resource, compiled, context) {
        Ok(objects) => objects,
        Err(why) => {
            eprintln!("error: the resource cannot be expanded: {why}");
            return ExitCode::from(INVALID);
        }
    };
    if json {
        println!("{}", serde_json::Value::Array(objects));
    } else {
        let documents: Vec<String> = objects
            .iter()
            .map(|object| serde_json::to_string_pretty(object).unwrap_or_default())
            .collect();
        println!("{}", documents.join("\n---\n"));
    }
    ExitCode::SUCCESS
}

fn check(text: &str, args: StageArgs) -> ExitCode {
    let checked = if args.lint {
        shared::lint(text, &args.params)
    } else {
        shared::check(text, &args.params)
    };
    let file_name = args.file.display().to_string();
    if args.json {
        println!("{}", report::check_json(&checked));
        // Warnings of a valid file are not part of the recorded shape; people still see them.
        if checked.is_valid() && !checked.diagnostics.is_empty() {
            eprint!(
                "{}",
                report::code_frames(text, &file_name, &checked.diagnostics)
            );
        }
    } else {
        eprint!(
            "{}",
            report::code_frames(text, &file_name, &checked.diagnostics)
        );
        if checked.is_valid() {
            println!("{file_name}: valid Polyaxonfile");
        }
    }
    if checked.is_valid() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(INVALID)
    }
}
