//! What the benches share.

use std::path::PathBuf;

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
