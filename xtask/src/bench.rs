//! `cargo xtask bench`: Myelin's compiler beside Polyaxon's own, on the oracle corpus.
//!
//! Polyaxon 2.18 runs from a venv made from the oracle's pinned packages (PyPI), in one process
//! with its imports done before timing; then `shared`'s bench times the same files and prints
//! both medians and their ratio.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{Workspace, step};

/// The packages the oracle's recordings were made with (`../shared/oracle/README.md`).
const ORACLE_PACKAGES: &[&str] = &[
    "polyaxon==2.18.0",
    "pydantic==2.14.3",
    "clipped==0.14.0",
    "vents==0.10.0",
    "kubernetes==36.0.3",
    "Jinja2==3.1.4",
];

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
    let python = oracle_venv(workspace)?;
    let baseline = workspace.target_dir().join("bench-polyaxon.json");
    let output = Command::new(&python)
        .arg(workspace.root.join("xtask/bench/polyaxon_bench.py"))
        .arg(&oracle)
        .arg(oracle.join("cases"))
        .args(["--upto", "convert", "--repeat", "5"])
        .stderr(std::process::Stdio::null())
        .output()
        .context("cannot run Polyaxon's bench")?;
    if !output.status.success() {
        bail!("Polyaxon's bench failed ({})", output.status);
    }
    std::fs::write(&baseline, &output.stdout)
        .with_context(|| format!("cannot write {}", baseline.display()))?;

    let mut bench = workspace.cargo();
    bench
        .args(["bench", "--package", "shared", "--bench", "pipeline"])
        .env("MYELIN_BENCH_CASES", oracle.join("cases"))
        .env("MYELIN_BENCH_AGENT", oracle.join("agent.yaml"))
        .env("MYELIN_BENCH_BASELINE", &baseline);
    step("time Myelin's compiler beside Polyaxon's", bench)
}

/// The venv with Polyaxon 2.18 in it, made once under the target folder.
fn oracle_venv(workspace: &Workspace) -> Result<PathBuf> {
    let venv = workspace.target_dir().join("oracle-venv");
    let python = venv.join("bin/python");
    let stamp = venv.join(".installed");
    let wanted = ORACLE_PACKAGES.join("\n");
    if std::fs::read_to_string(&stamp).is_ok_and(|installed| installed == wanted) {
        return Ok(python);
    }
    let mut create = Command::new("python3");
    create.args(["-m", "venv"]).arg(&venv);
    step("create a Python venv for Polyaxon's compiler", create)?;
    let mut install = Command::new(venv.join("bin/pip"));
    install.args(["install", "--quiet"]).args(ORACLE_PACKAGES);
    step("install Polyaxon 2.18 from PyPI into it", install)?;
    std::fs::write(&stamp, wanted).with_context(|| format!("cannot write {}", stamp.display()))?;
    Ok(python)
}
