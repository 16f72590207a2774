//! Building the browser app: Trunk compiles it into dist/, then every text-like file gets a
//! gzip sibling that the server sends to browsers which accept it, and the sizes are reported.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use flate2::{Compression, write::GzEncoder};

use crate::setup::path_with;
use crate::{Workspace, step};

/// File types worth compressing; images and fonts are compressed already.
const COMPRESSIBLE: &[&str] = &[
    "html", "js", "mjs", "css", "wasm", "svg", "json", "map", "txt",
];

/// Below this many bytes a gzip sibling saves less than its own request overhead.
const MIN_COMPRESS_BYTES: u64 = 1024;

/// The most a WebAssembly module of ours may weigh, gzipped: the app's and the compiler
/// worker's each (Monaco, which the editor's page alone loads, aside). 700 KB since the
/// runs dashboard and the compare view (its table, charts, groups and parallel coordinates)
/// joined the app at about 670 KB; the charts' library itself (uPlot) is a script loaded by
/// the pages that chart, not part of the module.
const WASM_BUDGET_GZIP: u64 = 700 * 1024;

/// Monaco's files, copied from npm and reported as one line.
const MONACO: &str = "vs";

pub fn build(workspace: &Workspace) -> Result<()> {
    let node_bin = workspace.root.join("frontend/node_modules/.bin");
    let mut trunk = Command::new("trunk");
    trunk
        .args(["build", "--release"])
        .current_dir(&workspace.root)
        // A tool missing or at the wrong version is an error, never a download.
        .env("TRUNK_OFFLINE", "true")
        .env("PATH", path_with(&[node_bin])?);
    step("build the web app with trunk", trunk)?;

    let dist = workspace.dist();
    let mut sizes = Vec::new();
    for file in files_under(&dist)? {
        if let Some(size) = compress(&file)? {
            sizes.push((file, size));
        }
    }
    report(&dist, &sizes);
    let over: Vec<String> = sizes
        .iter()
        .filter(|(file, size)| {
            file.extension().is_some_and(|e| e == "wasm") && size.gzip > WASM_BUDGET_GZIP
        })
        .map(|(file, size)| format!("{} is {} bytes gzipped", file.display(), size.gzip))
        .collect();
    anyhow::ensure!(
        over.is_empty(),
        "over the budget of {WASM_BUDGET_GZIP} bytes gzipped per WebAssembly module: {}",
        over.join("; ")
    );
    Ok(())
}

/// Raw and gzip sizes of one file, in bytes.
struct Size {
    raw: u64,
    gzip: u64,
}

fn files_under(folder: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![folder.to_path_buf()];
    while let Some(folder) = pending.pop() {
        let entries =
            fs::read_dir(&folder).with_context(|| format!("cannot list {}", folder.display()))?;
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Writes `file.gz` beside a compressible file and returns both sizes; `None` for files left as
/// they are.
fn compress(file: &Path) -> Result<Option<Size>> {
    let compressible = file
        .extension()
        .and_then(|extension| extension.to_str())
        .is_some_and(|extension| COMPRESSIBLE.contains(&extension));
    let raw = fs::metadata(file)?.len();
    if !compressible || raw < MIN_COMPRESS_BYTES {
        return Ok(None);
    }
    let bytes = fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(&bytes)?;
    let compressed = encoder.finish()?;
    let mut gz_path = file.as_os_str().to_owned();
    gz_path.push(".gz");
    fs::write(&gz_path, &compressed)
        .with_context(|| format!("cannot write {}", Path::new(&gz_path).display()))?;
    Ok(Some(Size {
        raw,
        gzip: compressed.len() as u64,
    }))
}

fn report(dist: &Path, sizes: &[(PathBuf, Size)]) {
    eprintln!("xtask: web app sizes (bytes):");
    eprintln!("  {:<48} {:>10} {:>10}", "file", "raw", "gzip");
    let (mut total_raw, mut total_gzip) = (0, 0);
    let (mut monaco_files, mut monaco_raw, mut monaco_gzip) = (0, 0, 0);
    for (file, size) in sizes {
        let name = file.strip_prefix(dist).unwrap_or(file);
        if name.starts_with(MONACO) {
            monaco_files += 1;
            monaco_raw += size.raw;
            monaco_gzip += size.gzip;
        } else {
            let name = name.display().to_string();
            eprintln!("  {name:<48} {:>10} {:>10}", size.raw, size.gzip);
            total_raw += size.raw;
            total_gzip += size.gzip;
        }
    }
    eprintln!(
        "  {:<48} {total_raw:>10} {total_gzip:>10}",
        "total, Monaco aside"
    );
    let monaco = format!("{MONACO}/ (Monaco, {monaco_files} files, editor page only)");
    eprintln!("  {monaco:<48} {monaco_raw:>10} {monaco_gzip:>10}");
}
