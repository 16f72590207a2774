//! Fuzzing the compiler: `shared/fuzz`'s `check_compile` target under libFuzzer, from the
//! committed seeds (`shared/fuzz/seeds/check_compile/`) and dictionary, with limits that make a
//! document which explodes in time or memory a finding rather than a slow pass.
//!
//! cargo-fuzz needs nightly's `-Z` flags; `RUSTC_BOOTSTRAP=1` lets the stable toolchain take
//! them. Not part of `cargo xtask test`: a useful run takes longer than CI should.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::Workspace;
use crate::setup::{path_with, version_of};

/// The cargo-fuzz release this command is written against.
const CARGO_FUZZ_VERSION: &str = "0.13.2";

const TARGET: &str = "check_compile";

/// Executions when `--runs` is not given.
const DEFAULT_RUNS: u64 = 10_000_000;

/// One input may take this long and this much memory; beyond, libFuzzer reports it.
const TIMEOUT_SECS: u64 = 2;
const MEMORY_MB: u64 = 2048;

/// What to run: `--runs N` executions, stopping early after `--time SECS`, built with
/// `--sanitizer NAME` (cargo fuzz's: `address` by default; `none` runs several times faster and
/// still finds panics, explosions in time and memory, and stack overflows).
struct Options {
    runs: u64,
    time: Option<u64>,
    sanitizer: String,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self> {
        let mut options = Self {
            runs: DEFAULT_RUNS,
            time: None,
            sanitizer: "address".to_owned(),
        };
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            let mut number = || -> Result<u64> {
                let value = args
                    .next()
                    .with_context(|| format!("{flag} needs a number"))?;
                value
                    .replace('_', "")
                    .parse()
                    .with_context(|| format!("{flag} {value}: not a number"))
            };
            match flag.as_str() {
                "--runs" => options.runs = number()?,
                "--time" => options.time = Some(number()?),
                "--sanitizer" => {
                    options.sanitizer = args.next().context("--sanitizer needs a name")?.clone()
                }
                other => bail!(
                    "unknown fuzz option `{other}`: use --runs N, --time SECS, --sanitizer NAME"
                ),
            }
        }
        Ok(options)
    }
}

pub fn run(workspace: &Workspace, args: &[String]) -> Result<()> {
    let options = Options::parse(args)?;
    cargo_fuzz()?;
    let shared = workspace.root.join("shared");
    let fuzz = shared.join("fuzz");
    // New inputs go to the first corpus folder, gitignored; the seeds are only read.
    let corpus = fuzz.join("corpus").join(TARGET);
    std::fs::create_dir_all(&corpus)
        .with_context(|| format!("cannot create {}", corpus.display()))?;

    let mut command = Command::new("cargo");
    command
        .args(["fuzz", "run", "--sanitizer", &options.sanitizer, TARGET])
        .arg(&corpus)
        .arg(fuzz.join("seeds").join(TARGET))
        .arg("--")
        .arg(format!(
            "-dict={}",
            fuzz.join(format!("{TARGET}.dict")).display()
        ))
        .arg(format!("-runs={}", options.runs))
        .arg(format!("-timeout={TIMEOUT_SECS}"))
        .arg(format!("-rss_limit_mb={MEMORY_MB}"))
        .arg(format!("-malloc_limit_mb={MEMORY_MB}"))
        .arg("-print_final_stats=1")
        .args(options.time.map(|secs| format!("-max_total_time={secs}")))
        .current_dir(&shared)
        .env("RUSTC_BOOTSTRAP", "1")
        .env("PATH", path_with(&[])?)
        .stderr(Stdio::piped());

    eprintln!("xtask: fuzz the compiler ({TARGET}; builds the fuzz target first, once)");
    let started = Instant::now();
    let mut child = command.spawn().context("cannot start cargo fuzz")?;
    let stderr = child.stderr.take().context("cargo fuzz's stderr")?;
    let mut report = Report::default();
    // libFuzzer reports on stderr; it is passed through as it comes, and read on the way.
    for line in BufReader::new(stderr).lines() {
        let line = line.context("cannot read cargo fuzz's output")?;
        eprintln!("{line}");
        report.read(&line);
    }
    let status = child.wait().context("cargo fuzz did not finish")?;
    let took = started.elapsed();

    let runs = report.runs.map_or_else(
        || "an unknown number of".to_owned(),
        |runs| runs.to_string(),
    );
    if report.findings.is_empty() {
        if !status.success() {
            bail!("fuzz: cargo fuzz failed ({status}) after {took:.1?}, before fuzzing");
        }
        eprintln!("xtask: fuzz: {runs} runs in {took:.1?}, nothing found");
        return Ok(());
    }
    eprintln!("xtask: fuzz: {runs} runs in {took:.1?}, found:");
    for finding in &report.findings {
        eprintln!("xtask: fuzz:   {finding}");
    }
    eprintln!(
        "xtask: fuzz: rerun one with `cd shared && RUSTC_BOOTSTRAP=1 cargo fuzz run {TARGET} <file>`"
    );
    bail!("fuzz: {} finding(s)", report.findings.len())
}

/// What libFuzzer's output tells: how many inputs ran, and what it found.
#[derive(Default)]
struct Report {
    runs: Option<u64>,
    /// Each input written to the artifacts folder, with why.
    findings: Vec<String>,
}

/// libFuzzer names an artifact after why it wrote it.
const ARTIFACT_KINDS: &[(&str, &str)] = &[
    ("crash-", "a panic or crash"),
    ("oom-", "out of memory"),
    ("timeout-", "a timeout"),
    ("slow-unit-", "a slow input"),
    ("leak-", "a leak"),
];

impl Report {
    fn read(&mut self, line: &str) {
        // "Done 10000 runs in 12 second(s)" on a run that ends; the final stats on any.
        let done = line
            .strip_prefix("Done ")
            .and_then(|rest| rest.split_once(" runs"));
        let stat = line.strip_prefix("stat::number_of_executed_units: ");
        if let Some(runs) = done.map(|(runs, _)| runs).or(stat) {
            self.runs = runs.trim().parse().ok().or(self.runs);
        }
        if let Some((_, artifact)) = line.split_once("Test unit written to ") {
            let artifact = artifact.trim();
            let name = artifact.rsplit('/').next().unwrap_or(artifact);
            let why = ARTIFACT_KINDS
                .iter()
                .find(|(prefix, _)| name.starts_with(prefix))
                .map_or("a finding", |(_, why)| why);
            self.findings.push(format!("{artifact} ({why})"));
        }
    }
}

/// cargo-fuzz, compiled from crates.io when missing or at another version.
fn cargo_fuzz() -> Result<()> {
    if version_of("cargo-fuzz").as_deref() == Some(&format!("cargo-fuzz {CARGO_FUZZ_VERSION}")) {
        return Ok(());
    }
    let mut install = Command::new("cargo");
    install.args([
        "install",
        "cargo-fuzz",
        "--version",
        CARGO_FUZZ_VERSION,
        "--locked",
    ]);
    crate::step(
        &format!("compile cargo-fuzz {CARGO_FUZZ_VERSION} (a few minutes, once)"),
        install,
    )
}
