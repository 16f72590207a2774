//! Bundles the hub's component catalog (`hub/`) into the crate: every file under it becomes an
//! entry of `HUB_FILES`, its path relative to `hub/` beside its text, so the compiler resolves
//! `hubRef` offline, in the server and in the browser alike.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    // Read when the script runs, not when it was compiled: a target folder shared by several
    // checkouts reuses the compiled script, which must read this checkout's catalog.
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let root = Path::new(&manifest).join("hub");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    collect(&root, &mut files);
    files.sort();
    let mut source = String::from(
        "/// The hub's files: path under `hub/`, text.\npub const HUB_FILES: &[(&str, &str)] = &[\n",
    );
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
        let relative = file
            .strip_prefix(&root)
            .expect("a file under hub/")
            .to_string_lossy()
            .replace('\\', "/");
        writeln!(
            source,
            "    ({relative:?}, include_str!({:?})),",
            file.display().to_string()
        )
        .expect("writing to a string");
    }
    source.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("hub_files.rs"), source).expect("OUT_DIR is writable");
}

fn collect(folder: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            println!("cargo:rerun-if-changed={}", path.display());
            collect(&path, files);
        } else if matches!(
            path.extension().and_then(|extension| extension.to_str()),
            Some("yaml" | "md" | "svg")
        ) {
            files.push(path);
        }
    }
}
