//! What the benches share.

#![allow(dead_code)] // Each bench uses its own part of this module.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value as Json;

/// A job whose process exits at once, with an input set by the operation as `-P lr=…` would:
/// what the benches' runs are compiled from.
pub const JOB: &str = include_str!("job.yaml");

/// A peer's client-side p50 and p95 in ms, measured on this machine in the same
/// `cargo xtask bench` by the peer's script under `xtask/bench/`.
#[derive(Clone, Copy)]
pub struct Anchor {
    pub p50: f64,
    pub p95: f64,
}

impl Anchor {
    /// The `{"p50", "p95"}` at `pointer` (a JSON pointer) in a peer's timings.
    pub fn at(timings: &Json, pointer: &str) -> Self {
        let ms = |name: &str| {
            timings
                .pointer(&format!("{pointer}/{name}"))
                .and_then(Json::as_f64)
                .unwrap_or_else(|| panic!("no {pointer}/{name} in the peer's timings"))
        };
        Self {
            p50: ms("p50"),
            p95: ms("p95"),
        }
    }
}

/// A peer's timings, measured in this `cargo xtask bench` run: the JSON its script printed, in
/// the file the environment variable `variable` names; none when the bench runs alone.
pub fn peer_timings(variable: &str) -> Option<Json> {
    let path = PathBuf::from(std::env::var_os(variable)?);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    let timings = serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("{} is not JSON: {error}", path.display()));
    Some(timings)
}

/// What `MYELIN_BENCH_HAUPT` names: haupt 2.18.0 (Polyaxon's own server, sandbox mode, SQLite)
/// on this machine, measured in the same `cargo xtask bench` by `xtask/bench/haupt_bench.py`
/// on 100,000 runs seeded as the runs bench seeds Myelin's.
pub struct Haupt {
    /// Creating a run in the project of 100,000.
    pub create: Anchor,
    /// Its SQLite file after seeding, over the runs.
    pub db_bytes_per_run: f64,
    timings: Json,
}

/// Haupt answering one of the runs bench's list requests, and how many runs it counted.
#[derive(Clone, Copy)]
pub struct HauptList {
    pub timing: Anchor,
    pub count: u64,
}

impl Haupt {
    /// Haupt's timings of this run; none when the bench runs alone, without `cargo xtask bench`.
    pub fn measured() -> Option<Self> {
        let timings = peer_timings("MYELIN_BENCH_HAUPT")?;
        Some(Self {
            create: Anchor::at(&timings, "/create"),
            db_bytes_per_run: timings["db_bytes_per_run"]
                .as_f64()
                .expect("a db_bytes_per_run in haupt's timings"),
            timings,
        })
    }

    /// The list request `key` (`newest`, `running` or `lr_above`), on the same URL as ours, or
    /// with `all_rows` on the same URL plus `created_at:_any_`: haupt's default filter counts
    /// only the last month unless the query names `created_at`.
    pub fn list(&self, key: &str, all_rows: bool) -> HauptList {
        let pointer = format!(
            "/lists/{key}/{}",
            if all_rows { "all_rows" } else { "same_url" }
        );
        HauptList {
            timing: Anchor::at(&self.timings, &pointer),
            count: self
                .timings
                .pointer(&format!("{pointer}/count"))
                .and_then(Json::as_u64)
                .unwrap_or_else(|| panic!("no {pointer}/count in haupt's timings")),
        }
    }
}

/// Said where a bench would print haupt's numbers, when it runs without them.
pub const HAUPT_NOT_MEASURED: &str =
    "haupt was not measured in this run: run `cargo xtask bench`, which measures it beside";

/// Percentiles of the timed calls, by nearest rank as the anchors were taken.
pub struct Timing {
    pub samples: usize,
    pub p50: Duration,
    pub p95: Duration,
    pub p99: Duration,
}

impl Timing {
    pub fn of(mut times: Vec<Duration>) -> Self {
        times.sort();
        let rank = |fraction: f64| {
            let rank = (fraction * times.len() as f64).ceil() as usize;
            times[rank.clamp(1, times.len()) - 1]
        };
        Self {
            samples: times.len(),
            p50: rank(0.50),
            p95: rank(0.95),
            p99: rank(0.99),
        }
    }
}

/// A bench's data folder, empty at the start and removed however the bench ends.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// `myelin-bench-NAME-PID` in the temp folder, emptied first.
    pub fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("myelin-bench-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
