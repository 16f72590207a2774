//! The architecture's invariants (ARCHITECTURE.md), checked on every test run so that breaking
//! one fails the build instead of eroding the design quietly.

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask/ sits in the workspace")
        .to_path_buf()
}

/// The names of the normal (not dev or build) dependencies of a workspace package.
fn dependencies_of(package: &str) -> Vec<String> {
    let output = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(workspace_root())
        .output()
        .expect("cannot run cargo metadata");
    assert!(output.status.success(), "cargo metadata failed");
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let packages = metadata["packages"].as_array().unwrap();
    let found = packages
        .iter()
        .find(|candidate| candidate["name"] == package)
        .unwrap_or_else(|| panic!("no package {package} in the workspace"));
    found["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|dependency| dependency["kind"].is_null())
        .map(|dependency| dependency["name"].as_str().unwrap().to_owned())
        .collect()
}

fn rust_files_under(folder: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![folder.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|extension| extension == "rs") {
                files.push(path);
            }
        }
    }
    files
}

/// Every `(file, line number, line)` under `folder` that mentions one of `needles`.
fn mentions(folder: &Path, needles: &[&str]) -> Vec<String> {
    mentions_before(folder, needles, None)
}

/// Like [`mentions`], but only above the first line that is `stop` (a file's test module,
/// say: its tests may read fixtures where the library may not).
fn mentions_before(folder: &Path, needles: &[&str], stop: Option<&str>) -> Vec<String> {
    let mut found = Vec::new();
    for file in rust_files_under(folder) {
        let text = std::fs::read_to_string(&file).unwrap();
        let lines = text.lines().take_while(|line| Some(line.trim()) != stop);
        for (index, line) in lines.enumerate() {
            if needles.iter().any(|needle| line.contains(needle)) {
                found.push(format!("{}:{}: {}", file.display(), index + 1, line.trim()));
            }
        }
    }
    found
}

#[test]
fn shared_does_no_io() {
    let io = [
        "std::fs",
        "std::env",
        "std::process",
        "std::net",
        "std::io",
        "tokio",
        "SystemTime::now",
        "Instant::now",
        "rand::",
    ];
    let found = mentions_before(
        &workspace_root().join("shared/src"),
        &io,
        Some("#[cfg(test)]"),
    );
    assert!(
        found.is_empty(),
        "shared must do no IO, but:\n{}",
        found.join("\n")
    );

    let io_crates = ["tokio", "reqwest", "hyper", "rand", "getrandom", "kube"];
    let dependencies = dependencies_of("shared");
    let bad: Vec<_> = dependencies
        .iter()
        .filter(|name| io_crates.contains(&name.as_str()))
        .collect();
    assert!(bad.is_empty(), "shared depends on IO crates: {bad:?}");
}

#[test]
fn frontend_and_backend_meet_only_in_shared() {
    let workspace_crates = ["shared", "backend", "frontend", "e2e", "xtask"];
    let internal = |package: &str| -> Vec<String> {
        dependencies_of(package)
            .into_iter()
            .filter(|name| workspace_crates.contains(&name.as_str()))
            .collect()
    };
    assert_eq!(internal("frontend"), ["shared"]);
    assert_eq!(internal("backend"), ["shared"]);
    assert!(
        internal("shared").is_empty(),
        "shared depends on no workspace crate"
    );
    assert!(
        internal("e2e").is_empty(),
        "e2e drives the product from outside"
    );
}

#[test]
fn only_the_kubernetes_runtime_imports_kube() {
    let backend = workspace_root().join("backend/src");
    let kubernetes_runtime = backend.join("runtime/kubernetes");
    let found: Vec<String> = mentions(&backend, &["kube::", "k8s_openapi::"])
        .into_iter()
        .filter(|place| {
            !Path::new(place.split(':').next().unwrap()).starts_with(&kubernetes_runtime)
        })
        .collect();
    assert!(
        found.is_empty(),
        "kube is used outside runtime/kubernetes:\n{}",
        found.join("\n")
    );
}
