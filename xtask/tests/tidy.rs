//! The architecture's invariants (ARCHITECTURE.md), checked on every test run so that breaking
//! one fails the build instead of eroding the design quietly.
//!
//! Each check is a function from what it reads (a tree of files, or `cargo metadata`'s JSON) to
//! the places that break an invariant. It runs on the workspace, where it must find nothing, and
//! on a violation planted for it, which it must find and name, so that no check passes because it
//! cannot fail.
//!
//! The invariants about behaviour are checked elsewhere, where what they need is at hand, by tests
//! shown to fail without what they check: the deploy Role grants exactly what the Kubernetes
//! runtime needs (`backend/tests/deploy_manifests.rs`, and the fake API server of
//! `backend/tests/fake_kube/` refuses anything else); no run state lives only in memory
//! (`backend/tests/restart.rs` kills the server mid-run and recovers, `backend/tests/disk_full.rs`
//! keeps statuses a full disk refuses); no text makes the compiler work without bound
//! (`shared/tests/limits.rs`, the golden `hostile_*` cases, `backend/tests/hostile_files.rs`: on a
//! compiler without its limits they overflow the stack or run out of time and memory); no route
//! answers a name that is not the server's (`backend/tests/host_guard.rs`, every surface).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask/ sits in the workspace")
        .to_path_buf()
}

/// An invariant over files: no line of the files under `paths`, outside `allowed`, may break it.
struct SourceCheck {
    invariant: &'static str,
    /// Files and folders read, from the workspace root.
    paths: &'static [&'static str],
    /// Files and folders under `paths` where what the check looks for belongs.
    allowed: &'static [&'static str],
    /// Only files with this extension are read; every file when `None`.
    extension: Option<&'static str>,
    /// A file is read up to its first line that is this: a test module, say, whose tests may
    /// read fixtures where the library may not.
    stop: Option<&'static str>,
    breaks: fn(&str) -> bool,
    /// A file, from the root, whose first line breaks the invariant.
    planted: (&'static str, &'static str),
}

const SOURCE_CHECKS: &[SourceCheck] = &[
    SourceCheck {
        invariant: "shared does no IO",
        paths: &["shared/src"],
        allowed: &[],
        extension: Some("rs"),
        stop: Some("#[cfg(test)]"),
        breaks: |line| {
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
                "new_v4",
            ];
            io.iter().any(|needle| line.contains(needle))
        },
        planted: (
            "shared/src/lib.rs",
            "pub fn agent() -> String { std::fs::read_to_string(\"agent.yaml\").unwrap() }\n\
             #[cfg(test)]\n\
             mod tests { fn corpus() { std::fs::read_dir(\"tests/data\").unwrap(); } }\n",
        ),
    },
    SourceCheck {
        invariant: "only the Kubernetes runtime imports kube",
        paths: &["backend/src"],
        allowed: &["backend/src/runtime/kubernetes"],
        extension: Some("rs"),
        stop: None,
        breaks: |line| line.contains("kube::") || line.contains("k8s_openapi::"),
        planted: ("backend/src/routes/runs.rs", "use kube::api::Api;\n"),
    },
    SourceCheck {
        invariant: "no handler reaches a global",
        paths: &["backend/src"],
        // The global allocator, which main sets and no handler names.
        allowed: &["backend/src/main.rs"],
        extension: Some("rs"),
        stop: None,
        breaks: |line| {
            let item = line.trim_start();
            let lazy = [
                "OnceLock",
                "LazyLock",
                "OnceCell",
                "lazy_static!",
                "thread_local!",
            ];
            item.starts_with("static ")
                || (item.starts_with("pub") && item.contains(" static "))
                || lazy.iter().any(|needle| line.contains(needle))
        },
        planted: (
            "backend/src/routes/projects.rs",
            "static PROJECTS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());\n",
        ),
    },
    SourceCheck {
        invariant: "no SQL outside backend/src/store",
        paths: &["backend/src"],
        allowed: &["backend/src/store"],
        extension: Some("rs"),
        stop: None,
        breaks: |line| {
            let sql = [
                "rusqlite",
                ".sql\"",
                "\"SELECT ",
                "\"INSERT INTO ",
                "\"UPDATE ",
                "\"DELETE FROM ",
                "\"CREATE TABLE ",
                "\"PRAGMA ",
            ];
            sql.iter().any(|needle| line.contains(needle))
        },
        planted: (
            "backend/src/routes/runs.rs",
            "const STOPPED: &str = \"UPDATE runs SET status = 'stopped'\";\n",
        ),
    },
    SourceCheck {
        invariant: "no build step downloads a prebuilt binary",
        paths: &[
            ".ci",
            "xtask/src",
            "Trunk.toml",
            "backend/deploy/Dockerfile",
        ],
        allowed: &[],
        extension: None,
        stop: None,
        breaks: |line| {
            let download = ["curl", "wget", "binstall", "http://", "https://"];
            download.iter().any(|needle| line.contains(needle))
        },
        planted: (
            "backend/deploy/Dockerfile",
            "RUN wget -qO- https://github.com/trunk-rs/trunk/releases/download/v0.21.14/trunk.tar.gz | tar xz\n",
        ),
    },
];

impl SourceCheck {
    /// Every `path:line: text` under `root` that breaks the invariant.
    fn violations(&self, root: &Path) -> Vec<String> {
        let mut found = Vec::new();
        for path in self.paths {
            for file in files_under(&root.join(path)) {
                let relative = file.strip_prefix(root).unwrap();
                let wanted = self
                    .extension
                    .is_none_or(|extension| file.extension().is_some_and(|e| e == extension));
                if !wanted || self.allowed.iter().any(|place| relative.starts_with(place)) {
                    continue;
                }
                let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
                let lines = text
                    .lines()
                    .take_while(|line| Some(line.trim()) != self.stop);
                for (index, line) in lines.enumerate() {
                    if (self.breaks)(line) {
                        let place = relative.display();
                        found.push(format!("{place}:{}: {}", index + 1, line.trim()));
                    }
                }
            }
        }
        found
    }
}

/// The files at or under `path`, none when it does not exist.
fn files_under(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_path_buf()];
    }
    let mut files = Vec::new();
    let mut pending = vec![path.to_path_buf()];
    while let Some(folder) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn the_workspace_keeps_every_source_invariant() {
    let root = workspace_root();
    for check in SOURCE_CHECKS {
        // A path that moved would leave the check reading nothing, or allowing nothing.
        for path in check.paths.iter().chain(check.allowed) {
            assert!(
                root.join(path).exists(),
                "{}: {path} is gone; point the check at where it went",
                check.invariant
            );
        }
        let found = check.violations(&root);
        assert!(
            found.is_empty(),
            "{}, but:\n{}",
            check.invariant,
            found.join("\n")
        );
    }
}

#[test]
fn each_source_check_finds_its_planted_violation() {
    let fixtures = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tidy");
    for (index, check) in SOURCE_CHECKS.iter().enumerate() {
        let root = fixtures.join(index.to_string());
        let _ = std::fs::remove_dir_all(&root);
        let (planted, text) = check.planted;
        // The same text where it is allowed must not be found.
        let allowed = check.allowed.iter().map(|place| {
            let place = Path::new(place);
            match place.extension() {
                Some(_) => place.to_path_buf(),
                None => place.join("mod.rs"),
            }
        });
        for file in allowed.chain([PathBuf::from(planted)]) {
            let file = root.join(file);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, text).unwrap();
        }
        let found = check.violations(&root);
        assert!(
            found.len() == 1 && found[0].starts_with(&format!("{planted}:1: ")),
            "{}: the check should find exactly the violation planted on line 1 of {planted}, \
             but found {found:#?}",
            check.invariant
        );
    }
}

/// Workspace crates each package may depend on, in dependencies of any kind, and why.
const WORKSPACE_DEPENDENCIES: &[(&str, &[&str], &str)] = &[
    ("shared", &[], "shared depends on no workspace crate"),
    (
        "frontend",
        &["shared"],
        "the frontend and the backend meet only in shared",
    ),
    (
        "backend",
        &["shared"],
        "the frontend and the backend meet only in shared",
    ),
    ("e2e", &[], "e2e imports no workspace crate"),
];

/// Crates that do IO, which shared may not use (its tests may).
const IO_CRATES: &[&str] = &[
    "tokio",
    "async-std",
    "smol",
    "mio",
    "reqwest",
    "ureq",
    "hyper",
    "rand",
    "getrandom",
    "kube",
];

/// Crates that only the backend may depend on, and why.
const BACKEND_ONLY: &[(&str, &str)] = &[
    ("kube", "only the Kubernetes runtime imports kube"),
    ("k8s-openapi", "only the Kubernetes runtime imports kube"),
    ("rusqlite", "no SQL outside backend/src/store"),
];

/// Every dependency in `cargo metadata`'s JSON that breaks an invariant, named by package,
/// kind and crate.
fn dependency_violations(metadata: &Value) -> Vec<String> {
    let packages = metadata["packages"].as_array().unwrap();
    let workspace: Vec<&str> = packages
        .iter()
        .map(|package| package["name"].as_str().unwrap())
        .collect();
    let mut found = Vec::new();
    for package in packages {
        let name = package["name"].as_str().unwrap();
        for dependency in package["dependencies"].as_array().unwrap() {
            let crate_name = dependency["name"].as_str().unwrap();
            let kind = dependency["kind"].as_str().unwrap_or("normal");
            let mut broken = Vec::new();
            if let Some((_, allowed, invariant)) = WORKSPACE_DEPENDENCIES
                .iter()
                .find(|(package, ..)| *package == name)
                && workspace.contains(&crate_name)
                && !allowed.contains(&crate_name)
            {
                broken.push(*invariant);
            }
            if name == "shared" && kind == "normal" && IO_CRATES.contains(&crate_name) {
                broken.push("shared does no IO");
            }
            if let Some((_, invariant)) = BACKEND_ONLY.iter().find(|(only, _)| *only == crate_name)
                && name != "backend"
            {
                broken.push(invariant);
            }
            for invariant in broken {
                found.push(format!(
                    "{name} has a {kind} dependency on {crate_name}, but {invariant}"
                ));
            }
        }
    }
    found
}

/// The workspace's packages as `cargo metadata` describes them, dependencies unresolved.
fn metadata() -> Value {
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
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn the_workspace_keeps_every_dependency_invariant() {
    let found = dependency_violations(&metadata());
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn the_dependency_check_finds_each_planted_violation() {
    // (package, the crate it is made to depend on, the kind of dependency)
    let planted = [
        ("shared", "tokio", "normal"),
        ("shared", "backend", "build"),
        ("frontend", "backend", "normal"),
        ("backend", "frontend", "dev"),
        ("e2e", "shared", "dev"),
        ("e2e", "backend", "build"),
        ("frontend", "kube", "normal"),
        ("e2e", "rusqlite", "dev"),
    ];
    let workspace = metadata();
    for (package, crate_name, kind) in planted {
        let mut metadata = workspace.clone();
        let packages = metadata["packages"].as_array_mut().unwrap();
        let target = packages
            .iter_mut()
            .find(|candidate| candidate["name"] == package)
            .unwrap_or_else(|| panic!("no package {package} in the workspace"));
        let kind_field = (kind != "normal").then_some(kind);
        target["dependencies"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({ "name": crate_name, "kind": kind_field }));
        let found = dependency_violations(&metadata);
        let edge = format!("{package} has a {kind} dependency on {crate_name}");
        assert!(
            found.len() == 1 && found[0].starts_with(&edge),
            "planted `{edge}`, found {found:#?}"
        );
    }
}
