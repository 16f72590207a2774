//! What the benches share.

#![allow(dead_code)] // Each bench uses its own part of this module.

use std::path::PathBuf;
use std::time::Duration;

/// A job whose process exits at once, with an input set by the operation as `-P lr=…` would:
/// what the benches' runs are compiled from.
pub const JOB: &str = "\
kind: operation
name: scale-submit
params:
  lr:
    value: 0.05
component:
  kind: component
  inputs:
  - name: lr
    type: float
  run:
    kind: job
    container:
      image: python:3.11
      command: [\"true\"]
      args: [\"--lr={{ lr }}\"]
";

/// A peer's client-side p50 and p95 in ms, as `../shared/docs/peer-anchors.md` has them.
#[derive(Clone, Copy)]
pub struct Anchor {
    pub p50: f64,
    pub p95: f64,
}

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
