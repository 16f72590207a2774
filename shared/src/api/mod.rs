//! Types that cross the wire between the server and the browser app.
//!
//! This module is the only contract between `backend` and `frontend`: neither depends on the
//! other, and both serialise exactly these types.

use serde::{Deserialize, Serialize};

use crate::diagnostic::Diagnostic;

mod metrics;
mod people;
mod polyaxon;
mod series_binary;

pub use metrics::*;
pub use people::*;
pub use polyaxon::*;
pub use series_binary::*;

/// The version of Polyaxon whose Polyaxonfiles, compiled output and API Myelin reproduces.
pub const POLYAXON_COMPAT_VERSION: &str = "2.18.0";

/// Path of the health route, relative to the server's origin.
pub const HEALTH_PATH: &str = "/api/v1/health";

/// What the server says about itself on [`HEALTH_PATH`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Always [`HealthStatus::Ok`] when the server answers at all; kept as a field so that
    /// degraded states (a store that cannot be written, say) can be reported later without a
    /// change of shape.
    pub status: HealthStatus,
    /// The server's own version (its crate version).
    pub version: String,
    /// The Polyaxon version the server is compatible with.
    pub polyaxon_compat: String,
}

/// Whether the server is fit to serve requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// The server is up and its parts answer.
    Ok,
    /// The server answers, but a part of it does not work.
    Degraded,
}

impl Health {
    /// The report of a healthy server of the given version.
    pub fn ok(version: impl Into<String>) -> Self {
        Self {
            status: HealthStatus::Ok,
            version: version.into(),
            polyaxon_compat: POLYAXON_COMPAT_VERSION.to_owned(),
        }
    }
}

/// The body of every error response of the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong, in words meant for the person who made the request.
    pub message: String,
    /// Every problem found in a submitted Polyaxonfile, with its line and column; empty for
    /// other errors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diagnostics: Vec<Diagnostic>,
}

/// One message of a run's log stream (the logs WebSocket): lines in the order they were
/// printed, and the cursor to reconnect with so that the stream resumes right after them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogBatch {
    /// New lines, oldest first; empty in the last message.
    pub lines: Vec<LogLine>,
    /// Where the stream stands: give it back as `?cursor=` to resume.
    pub cursor: String,
    /// The run's final status, in the last message once every line was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done: Option<Status>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_serialises_with_lowercase_status_and_snake_case_fields() {
        let health = Health::ok("0.1.0");
        let json = serde_json::to_value(&health).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "status": "ok",
                "version": "0.1.0",
                "polyaxon_compat": "2.18.0",
            })
        );
        let back: Health = serde_json::from_value(json).unwrap();
        assert_eq!(back, health);
    }
}

/// What a run was made from, at every stage (Myelin's `…/runs/{uuid}/spec`; Polyaxon's UI
/// shows only the first): what was submitted, the operation compiled from it, the custom
/// resource Polyaxon's operator would receive, and the native objects Kubernetes would.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    /// The Polyaxonfile as submitted, its params written in; none for runs a client made.
    pub content: Option<String>,
    /// The compiled operation.
    pub compiled: Option<serde_json::Value>,
    /// The `polyaxon.com/v1` custom resource.
    pub resource: Option<serde_json::Value>,
    /// The native Kubernetes objects the resource becomes, owner first.
    pub native: Vec<serde_json::Value>,
    /// Why there are no native objects when a resource is there.
    pub native_error: Option<String>,
}
