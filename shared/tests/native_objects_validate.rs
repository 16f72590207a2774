//! Every native object in the golden files is what a Kubernetes 1.30 API server accepts:
//! built-in kinds against kubernetes-validate's strict schemas, custom resources against the
//! CRDs of the operators that run them (`../shared/k8s/crds`). The check is Python
//! (`validate_native.py`), in the venv `cargo xtask setup` makes.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The Kubernetes version whose schemas the objects must meet.
const KUBERNETES: &str = "1.30.0";

#[test]
fn every_native_object_is_valid_for_kubernetes() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let venv = std::env::var_os("MYELIN_POLYAXON_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("../target/oracle-venv"));
    let python = venv.join("bin/python");
    assert!(
        python.is_file(),
        "no Python venv at {}: run `cargo xtask setup`, which installs kubernetes-validate there",
        venv.display()
    );
    let crds = manifest.join("../../shared/k8s/crds");
    assert!(
        crds.is_dir(),
        "no CRDs at {}: the reference folder `shared/` must sit beside the checkout",
        crds.display()
    );
    let mut files: Vec<PathBuf> = ["cases", "myelin"]
        .iter()
        .flat_map(|folder| std::fs::read_dir(manifest.join("tests/data").join(folder)).unwrap())
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.to_string_lossy().ends_with(".native.json"))
        .collect();
    files.sort();
    assert!(
        files.len() > 100,
        "only {} golden native files",
        files.len()
    );
    let output = Command::new(&python)
        .arg(manifest.join("tests/validate_native.py"))
        .arg(&crds)
        .arg(KUBERNETES)
        .args(&files)
        .output()
        .expect("the validator starts");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(report.contains(", 0 problems"), "{report}");
}
