//! The Kubernetes manifest in `deploy/kubernetes/myelin.yaml` is what a Kubernetes 1.30 API
//! server accepts, and its Role grants exactly the permissions the Kubernetes runtime needs, so
//! nobody widens it silently. The checks are Python (`validate_deploy.py`), in the venv
//! `cargo xtask setup` makes, as for the native objects in `shared/tests`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use role::ROLE_RULES;

mod role;

/// The Kubernetes version whose schemas the objects must meet.
const KUBERNETES: &str = "1.30.0";

fn manifest() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes/myelin.yaml")
}

/// Runs `validate_deploy.py` with `args` and returns its output; stdout ends with its summary.
fn validate(args: &[&str]) -> Output {
    let backend = Path::new(env!("CARGO_MANIFEST_DIR"));
    let venv = std::env::var_os("MYELIN_POLYAXON_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| backend.join("../target/oracle-venv"));
    let python = venv.join("bin/python");
    assert!(
        python.is_file(),
        "no Python venv at {}: run `cargo xtask setup`, which installs kubernetes-validate there",
        venv.display()
    );
    Command::new(&python)
        .arg(backend.join("tests/validate_deploy.py"))
        .args(args)
        .output()
        .expect("the validator starts")
}

fn report(output: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn every_object_is_valid_for_kubernetes() {
    let manifest = manifest();
    let text = std::fs::read_to_string(&manifest).unwrap();
    // Documents are separated by `---` lines; the file does not start with one.
    let objects = 1 + text.lines().filter(|line| line.trim_end() == "---").count();
    let output = validate(&[
        "objects",
        KUBERNETES,
        manifest.to_str().unwrap(),
        "--health-path",
        shared::api::HEALTH_PATH,
    ]);
    let report = report(&output);
    assert!(output.status.success(), "{report}");
    assert!(
        report.contains(&format!("{objects} objects, 0 problems")),
        "expected {objects} objects checked:\n{report}"
    );
}

#[test]
fn the_role_grants_exactly_what_the_runtime_needs() {
    let manifest = manifest();
    let rules: Vec<String> = ROLE_RULES
        .iter()
        .map(|(group, resources, verbs)| {
            format!("--rule={group}:{}:{}", resources.join(","), verbs.join(","))
        })
        .collect();
    let mut args = vec!["role", manifest.to_str().unwrap()];
    args.extend(rules.iter().map(String::as_str));
    let output = validate(&args);
    let report = report(&output);
    assert!(
        output.status.success(),
        "the Role in {} differs from ROLE_RULES in this test; change both on purpose:\n{report}",
        manifest.display()
    );
    assert!(report.contains(", 0 problems"), "{report}");
}
