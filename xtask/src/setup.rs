//! Installs the tools the build and the tests need, each only when it is missing or at the
//! wrong version. Nothing here downloads a prebuilt binary: Rust tools are compiled from
//! crates.io, the browser comes from Debian, the JavaScript tools from npm with a lockfile.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{Workspace, step};

/// Trunk 0.22 needs a newer rustc than the one this project builds with; 0.21.14 is the newest
/// that installs with it.
const TRUNK_VERSION: &str = "0.21.14";

/// Where Debian puts the browser and its WebDriver.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Where Debian puts Chromium's WebDriver.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

pub fn run(workspace: &Workspace) -> Result<()> {
    wasm_target()?;
    trunk()?;
    wasm_bindgen(workspace)?;
    npm_packages(workspace)?;
    chromium()?;
    git()?;
    polyaxon_venv(workspace)?;
    services_venv(workspace)?;
    Ok(())
}

/// The process runtime clones init repositories with the host's git, and its tests do too.
fn git() -> Result<()> {
    if version_of("git").is_none() {
        apt_install(&["git"])?;
    }
    Ok(())
}

/// The packages of Polyaxon 2.18 as the oracle's recordings were made with
/// (`../shared/oracle/README.md`): the compiler bench runs its compiler, the server tests drive
/// its CLI and tracking client. Then what the native-object tests validate with: Kubernetes'
/// strict schemas (offline) and a JSON Schema checker for the operators' CRDs.
const POLYAXON_PACKAGES: &[&str] = &[
    "polyaxon==2.18.0",
    "pydantic==2.14.3",
    "clipped==0.14.0",
    "vents==0.10.0",
    "kubernetes==36.0.3",
    "Jinja2==3.1.4",
    "kubernetes-validate==1.37.0",
    "jsonschema==4.26.0",
    "PyYAML==6.0.3",
];

/// The venv with Polyaxon 2.18 in it, made once under the target folder; its path.
pub fn polyaxon_venv(workspace: &Workspace) -> Result<PathBuf> {
    venv(workspace, "oracle-venv", "Polyaxon 2.18", POLYAXON_PACKAGES)
}

/// The programs the hub's service components start, which the process runtime finds on the
/// server's `PATH`: the browser tests open a real TensorBoard and a real JupyterLab (with its
/// Python kernel) through Myelin's proxy.
const SERVICES_PACKAGES: &[&str] = &["tensorboard==2.20.0", "jupyterlab==4.4.10"];

/// The venv with TensorBoard and JupyterLab in it, made once under the target folder; its path.
pub fn services_venv(workspace: &Workspace) -> Result<PathBuf> {
    venv(
        workspace,
        "services-venv",
        "TensorBoard and JupyterLab",
        SERVICES_PACKAGES,
    )
}

/// MLflow, the peer `cargo xtask bench` times beside the metrics bench on this machine.
const MLFLOW_PACKAGES: &[&str] = &["mlflow==3.17.2"];

/// The venv with MLflow in it, made once under the target folder (for the bench only); its
/// path.
pub fn mlflow_venv(workspace: &Workspace) -> Result<PathBuf> {
    venv(workspace, "mlflow-venv", "MLflow", MLFLOW_PACKAGES)
}

/// Haupt, Polyaxon's own server, which `cargo xtask bench` starts in sandbox mode beside the
/// runs and pipelines benches; the base install has no uvicorn, so the `sandbox` extra.
const HAUPT_PACKAGES: &[&str] = &["haupt[sandbox]==2.18.0", "polyaxon==2.18.0"];

/// The venv with haupt in it, made once under the target folder (for the bench only); its path.
pub fn haupt_venv(workspace: &Workspace) -> Result<PathBuf> {
    venv(workspace, "haupt-venv", "haupt", HAUPT_PACKAGES)
}

/// A venv under the target folder with `packages` from PyPI, made again only when the list
/// changes; its path.
fn venv(workspace: &Workspace, name: &str, what: &str, packages: &[&str]) -> Result<PathBuf> {
    let venv = workspace.target_dir().join(name);
    let stamp = venv.join(".installed");
    let wanted = packages.join("\n");
    if std::fs::read_to_string(&stamp).is_ok_and(|installed| installed == wanted) {
        return Ok(venv);
    }
    let has_venv = Command::new("python3")
        .args(["-m", "venv", "--help"])
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !has_venv {
        apt_install(&["python3", "python3-venv"])?;
    }
    let mut create = Command::new("python3");
    create.args(["-m", "venv"]).arg(&venv);
    step(&format!("create a Python venv for {what}"), create)?;
    let mut install = Command::new(venv.join("bin/pip"));
    install.args(["install", "--quiet"]).args(packages);
    step(&format!("install {what} from PyPI into it"), install)?;
    std::fs::write(&stamp, wanted).with_context(|| format!("cannot write {}", stamp.display()))?;
    Ok(venv)
}

/// The folder `cargo install` puts binaries in, which may not be on PATH yet in a fresh shell.
pub fn cargo_bin_dir() -> Option<PathBuf> {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
        .map(|home| home.join("bin"))
}

/// PATH with the cargo bin folder and the given folders in front.
pub fn path_with(first: &[PathBuf]) -> Result<std::ffi::OsString> {
    let current = std::env::var_os("PATH").unwrap_or_default();
    let mut folders: Vec<PathBuf> = first.to_vec();
    folders.extend(cargo_bin_dir());
    folders.extend(std::env::split_paths(&current));
    std::env::join_paths(folders).context("a folder on PATH contains the path separator")
}

/// The first line a tool prints for `--version`, or `None` when it cannot be run.
pub fn version_of(program: &str) -> Option<String> {
    let output = Command::new(program)
        .arg("--version")
        .env("PATH", path_with(&[]).ok()?)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    output
        .status
        .success()
        .then(|| text.lines().next().unwrap_or_default().trim().to_owned())
}

fn wasm_target() -> Result<()> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("cannot run rustup: install Rust with rustup first")?;
    if String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|line| line.trim() == "wasm32-unknown-unknown")
    {
        return Ok(());
    }
    let mut add = Command::new("rustup");
    add.args(["target", "add", "wasm32-unknown-unknown"]);
    step("install the wasm32-unknown-unknown target", add)
}

fn trunk() -> Result<()> {
    if version_of("trunk").as_deref() == Some(&format!("trunk {TRUNK_VERSION}")) {
        return Ok(());
    }
    let mut install = Command::new("cargo");
    install.args(["install", "trunk", "--version", TRUNK_VERSION, "--locked"]);
    step(
        &format!("compile trunk {TRUNK_VERSION} (about 17 minutes on 2 cores, once)"),
        install,
    )
}

fn wasm_bindgen(workspace: &Workspace) -> Result<()> {
    let version = locked_version(workspace, "wasm-bindgen")?;
    if version_of("wasm-bindgen").as_deref() == Some(&format!("wasm-bindgen {version}")) {
        return Ok(());
    }
    // Not --locked: wasm-bindgen-cli's own lockfile pins a webpki-roots release that crates.io
    // no longer serves, so a locked install fails to resolve.
    let mut install = Command::new("cargo");
    install.args([
        "install",
        "wasm-bindgen-cli",
        "--version",
        &version,
        "--force",
    ]);
    step(
        &format!(
            "compile wasm-bindgen-cli {version}, the version Cargo.lock pins (about 8 minutes, once)"
        ),
        install,
    )
}

/// The version of `package` that Cargo.lock pins.
pub fn locked_version(workspace: &Workspace, package: &str) -> Result<String> {
    let lock_path = workspace.root.join("Cargo.lock");
    let lock = std::fs::read_to_string(&lock_path)
        .with_context(|| format!("cannot read {}", lock_path.display()))?;
    let name_line = format!("name = \"{package}\"");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == name_line {
            let version_line = lines.next().unwrap_or_default();
            if let Some(version) = version_line
                .strip_prefix("version = \"")
                .and_then(|rest| rest.strip_suffix('"'))
            {
                return Ok(version.to_owned());
            }
        }
    }
    bail!("Cargo.lock pins no version of {package}")
}

fn npm_packages(workspace: &Workspace) -> Result<()> {
    if version_of("npm").is_none() {
        apt_install(&["nodejs", "npm"])?;
    }
    let frontend = workspace.root.join("frontend");
    let lock = std::fs::read(frontend.join("package-lock.json"))
        .context("frontend/package-lock.json is missing")?;
    // After each install a copy of the lockfile goes into node_modules; while it matches,
    // node_modules holds exactly what the lockfile pins.
    let stamp = frontend.join("node_modules/.installed-package-lock.json");
    if std::fs::read(&stamp).is_ok_and(|installed| installed == lock) {
        return Ok(());
    }
    let mut ci = Command::new("npm");
    ci.args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&frontend);
    step(
        "install the npm packages frontend/package-lock.json pins",
        ci,
    )?;
    std::fs::write(&stamp, lock).with_context(|| format!("cannot write {}", stamp.display()))
}

fn chromium() -> Result<()> {
    let present = |path: &str| std::path::Path::new(path).is_file();
    if present(CHROMIUM) && present(CHROMEDRIVER) {
        return Ok(());
    }
    apt_install(&["chromium", "chromium-driver"])
}

fn apt_install(packages: &[&str]) -> Result<()> {
    // As root (CI, containers) apt-get runs directly; anyone else needs sudo.
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == "0");
    let apt = |args: &[&str]| {
        let mut command = if is_root {
            Command::new("apt-get")
        } else {
            let mut sudo = Command::new("sudo");
            sudo.arg("apt-get");
            sudo
        };
        command.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        command
    };
    step("refresh Debian's package lists", apt(&["update"]))?;
    let mut install_args = vec!["install", "--yes", "--no-install-recommends"];
    install_args.extend_from_slice(packages);
    step(
        &format!("install {} from Debian", packages.join(", ")),
        apt(&install_args),
    )
}
