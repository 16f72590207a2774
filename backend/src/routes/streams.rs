//! Polyaxon's streams service: runs' logs, polled with a time cursor.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use shared::api::Logs;
use shared::time::Timestamp;

use super::run_uuid;
use crate::{AppError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/v1/{namespace}/{owner}/{project}/runs/{uuid}/logs",
        get(logs),
    )
}

/// The most lines one answer carries; the client asks again from the last one.
const MAX_LINES: usize = 5_000;

#[derive(Debug, Deserialize)]
struct LogsParams {
    last_time: Option<String>,
}

/// The lines printed after `last_time` (every line without it).
///
/// The answer's `last_time` is the cursor of the next poll: the last line's time, or the same
/// cursor again when nothing new was printed. It is null only once a run has ended and every
/// line has been sent, which is how Polyaxon's client knows to stop following.
async fn logs(
    State(state): State<AppState>,
    Path((_namespace, owner, project, uuid)): Path<(String, String, String, String)>,
    params: Result<Query<LogsParams>, QueryRejection>,
) -> Result<Json<Logs>, AppError> {
    let Query(params) = params?;
    let uuid = run_uuid(&uuid)?;
    let after = params
        .last_time
        .as_deref()
        .filter(|text| !text.is_empty())
        .map(|text| {
            Timestamp::parse(text).ok_or_else(|| {
                AppError::BadRequest(format!(
                    "`last_time` must be a time such as 2024-01-02T03:04:05.000000+0000, not `{text}`"
                ))
            })
        })
        .transpose()?;
    // The status is read before the lines: a run seen ended has written every line.
    let run = state.store.run(&owner, &project, &uuid).await?.run;
    let mut lines = state
        .artifacts
        .read_logs(&uuid, after)
        .await
        .map_err(|error| AppError::Internal(format!("cannot read the run's logs: {error}")))?;
    let complete = lines.len() <= MAX_LINES;
    lines.truncate(MAX_LINES);
    let last_time = match lines.last() {
        _ if run.status.is_done() && complete => None,
        Some(line) => Some(line.timestamp),
        None => Some(after.unwrap_or(run.created_at)),
    };
    Ok(Json(Logs {
        logs: lines,
        last_time,
        last_file: None,
        files: Vec::new(),
    }))
}
