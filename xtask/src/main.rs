//! Run with `cargo xtask <command>`; `cargo xtask help` lists the commands.
//!
//! The one place that knows how to get from a fresh machine to a running app and a green test
//! run. Every tool it needs is installed from a package registry (crates.io, npm, Debian) and
//! only when missing or at the wrong version, so a second run skips straight to the work.

mod bench;
mod fuzz;
mod setup;
mod web;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

const HELP: &str = "\
usage: cargo xtask <command> [args]

commands:
  setup          install what building and testing need, skipping what is there
  build          setup, then build the web app into dist/ and report its size
  run [ARGS..]   build, then serve the app (ARGS go to `myelin serve`, e.g. --port 9000)
  test           build, then run every test: unit, golden, server, wasm build of shared, e2e
  bench          time the compiler beside Polyaxon's own and in WebAssembly in Chromium (needs
                 ../shared), and run lists over 100k runs
  fuzz [--runs N] [--time SECS] [--sanitizer none]
                 fuzz the compiler from shared/fuzz's seeds (default 10,000,000 runs; installs
                 cargo-fuzz); an input that panics, takes over 2 s or 2 GB is a finding
  help           this text
";

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_else(|| "help".to_owned());
    let rest: Vec<String> = args.collect();
    let workspace = Workspace::locate()?;
    match command.as_str() {
        "setup" => setup::run(&workspace),
        "build" => {
            setup::run(&workspace)?;
            web::build(&workspace)
        }
        "run" => {
            setup::run(&workspace)?;
            web::build(&workspace)?;
            run_server(&workspace, &rest)
        }
        "test" => {
            setup::run(&workspace)?;
            web::build(&workspace)?;
            test(&workspace)
        }
        "bench" => {
            setup::run(&workspace)?;
            bench::run(&workspace)
        }
        "fuzz" => fuzz::run(&workspace, &rest),
        "help" | "--help" | "-h" => {
            print!("{HELP}");
            Ok(())
        }
        other => bail!("unknown command `{other}`\n\n{HELP}"),
    }
}

/// Paths of the checkout xtask works in.
pub struct Workspace {
    /// The folder holding the virtual `Cargo.toml`.
    pub root: PathBuf,
}

impl Workspace {
    fn locate() -> Result<Self> {
        // Cargo runs xtask with CARGO_MANIFEST_DIR set to xtask/, one level below the root.
        let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
            .context("run xtask through `cargo xtask`, which sets CARGO_MANIFEST_DIR")?;
        let root = Path::new(&manifest_dir)
            .parent()
            .context("xtask/ has no parent folder")?
            .to_path_buf();
        Ok(Self { root })
    }

    /// The built web app.
    pub fn dist(&self) -> PathBuf {
        self.root.join("dist")
    }

    /// Cargo's target folder, shared by every build in the workspace.
    pub fn target_dir(&self) -> PathBuf {
        std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| self.root.join("target"))
    }

    /// A `cargo` command run from the root.
    pub fn cargo(&self) -> Command {
        let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        command.current_dir(&self.root);
        command
    }
}

fn run_server(workspace: &Workspace, serve_args: &[String]) -> Result<()> {
    let mut command = workspace.cargo();
    command
        .args([
            "run",
            "--release",
            "--package",
            "backend",
            "--bin",
            "myelin",
            "--",
        ])
        .arg("serve")
        .arg("--web-dir")
        .arg(workspace.dist())
        .args(serve_args);
    step("serve the app (Ctrl-C stops it)", command)
}

fn test(workspace: &Workspace) -> Result<()> {
    let mut wasm = workspace.cargo();
    wasm.args([
        "build",
        "--package",
        "shared",
        "--target",
        "wasm32-unknown-unknown",
    ]);
    step("build shared for wasm32-unknown-unknown", wasm)?;

    // The e2e tests start the real server binary, so it is built before the tests run.
    let mut server = workspace.cargo();
    server.args(["build", "--package", "backend", "--bin", "myelin"]);
    step("build the server for the e2e tests", server)?;

    // The frontend is tested in the browser by e2e; natively, only its library (what the
    // compiler worker computes) has tests of its own.
    let mut frontend = workspace.cargo();
    frontend.args(["test", "--package", "frontend", "--lib"]);
    step("test the frontend's library", frontend)?;

    let mut tests = workspace.cargo();
    tests
        .args(["test", "--workspace", "--exclude", "frontend"])
        .env(
            "MYELIN_BIN",
            workspace.target_dir().join("debug").join("myelin"),
        )
        .env("MYELIN_WEB_DIR", workspace.dist())
        .env("MYELIN_POLYAXON_VENV", setup::polyaxon_venv(workspace)?)
        .env("MYELIN_SERVICES_VENV", setup::services_venv(workspace)?);
    step("run every test", tests)
}

/// Runs one step of a command, saying what it does and how long it took.
pub fn step(what: &str, mut command: Command) -> Result<()> {
    eprintln!("xtask: {what}");
    let started = Instant::now();
    let status = command
        .status()
        .with_context(|| format!("cannot start {:?}", command.get_program()))?;
    let took = started.elapsed();
    if !status.success() {
        bail!("{what}: failed ({status}) after {took:.1?}");
    }
    eprintln!("xtask: {what}: done in {took:.1?}");
    Ok(())
}
