//! `myelin check`: the compiler on the command line, for people (code frames) and for tools
//! (`--json`, in the shape Polyaxon's oracle records).

use std::path::PathBuf;
use std::process::ExitCode;

use shared::report;

/// Exit code of an invalid Polyaxonfile; usage errors exit with 2, as clap's do.
const INVALID: u8 = 1;
const USAGE: u8 = 2;

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
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
    /// The run's identity and the agent, which `compile` and `convert` use; `check` accepts
    /// them so one command line serves every stage.
    #[command(flatten)]
    identity: RunIdentity,
}

/// Who runs what, where: everything run-specific the later stages take as data.
#[derive(Debug, clap::Args)]
struct RunIdentity {
    /// The agent configuration (namespace, artifacts store, connections catalog), as YAML.
    #[arg(long)]
    agent: Option<PathBuf>,
    #[arg(long)]
    owner: Option<String>,
    #[arg(long)]
    project: Option<String>,
    #[arg(long)]
    project_uuid: Option<String>,
    #[arg(long)]
    run_uuid: Option<String>,
    /// The name of a run whose operation has none.
    #[arg(long)]
    run_name: Option<String>,
    #[arg(long)]
    created_at: Option<String>,
    #[arg(long)]
    compiled_at: Option<String>,
}

fn parse_param(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_owned(), value.to_owned()))
        }
        _ => Err(format!("expected `name=value`, got `{text}`")),
    }
}

pub fn run(args: CheckArgs) -> ExitCode {
    let text = match std::fs::read_to_string(&args.file) {
        Ok(text) => text,
        Err(error) => {
            eprintln!("error: cannot read {}: {error}", args.file.display());
            return ExitCode::from(USAGE);
        }
    };
    let checked = if args.lint {
        shared::lint(&text, &args.params)
    } else {
        shared::check(&text, &args.params)
    };
    let file_name = args.file.display().to_string();
    if args.json {
        println!("{}", report::check_json(&checked));
        // Warnings of a valid file are not part of the recorded shape; people still see them.
        if checked.is_valid() && !checked.diagnostics.is_empty() {
            eprint!(
                "{}",
                report::code_frames(&text, &file_name, &checked.diagnostics)
            );
        }
    } else {
        eprint!(
            "{}",
            report::code_frames(&text, &file_name, &checked.diagnostics)
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
