//! Runs' metrics for the browser's charts and tables (Myelin's own, under `/api/v1`):
//! `POST /series` gives many runs' series at once, each cut down on the server to the buckets
//! a chart can draw without hiding an extreme; `POST /series/summaries` gives what their
//! metrics come to, for choosing columns and charts. Both take runs of any project by uuid,
//! and both read what the runs' files added since they were last read. A chart asks for its
//! series in [`SERIES_BINARY`], columns of floats it copies rather than JSON it parses.

use std::collections::HashMap;

use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use shared::api::{
    MAX_SERIES_BUCKETS, MAX_SERIES_NAMES, MAX_SERIES_RUNS, MetricSummaries, SERIES_BINARY,
    SeriesRequest, SummariesRequest, encode_series,
};

use super::run_uuid;
use crate::metrics::check_name;
use crate::people::Caller;
use crate::{AppError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/series", post(series))
        .route("/v1/series/summaries", post(summaries))
}

/// `POST /api/v1/series`: a [`SeriesRequest`]'s series, as JSON or, when `Accept` names it,
/// [`SERIES_BINARY`]. Bounded: at most [`MAX_SERIES_RUNS`] runs × [`MAX_SERIES_NAMES`] names,
/// [`MAX_SERIES_BUCKETS`] buckets.
async fn series(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Json<SeriesRequest>, JsonRejection>,
) -> Result<Response, AppError> {
    let Json(mut request) = body?;
    request.runs = run_list(&request.runs)?;
    seen_by(&state, &caller, &request.runs).await?;
    request.names = name_list(&request.names)?;
    if !(1..=MAX_SERIES_BUCKETS).contains(&request.buckets) {
        return Err(AppError::BadRequest(format!(
            "`buckets` must be between 1 and {MAX_SERIES_BUCKETS}, not {}",
            request.buckets
        )));
    }
    if let Some(range) = request.range
        && (range.from.is_nan() || range.to.is_nan() || range.from > range.to)
    {
        return Err(AppError::BadRequest(format!(
            "`range` must go from a number to a number no lower, not from {} to {}",
            range.from, range.to
        )));
    }
    let response = state.metrics.series(request).await?;
    let binary = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|kind| {
            kind.split(';')
                .next()
                .is_some_and(|kind| kind.trim() == SERIES_BINARY)
        });
    Ok(if binary {
        // Megabytes for a thousand runs: written off the async workers, as the series were read.
        let bytes = tokio::task::spawn_blocking(move || encode_series(&response))
            .await
            .map_err(|error| AppError::Internal(error.to_string()))?;
        ([(header::CONTENT_TYPE, SERIES_BINARY)], bytes).into_response()
    } else {
        Json(response).into_response()
    })
}

/// `POST /api/v1/series/summaries`: what a [`SummariesRequest`]'s runs' metrics come to.
async fn summaries(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<SummariesRequest>, JsonRejection>,
) -> Result<Json<MetricSummaries>, AppError> {
    let Json(request) = body?;
    let runs = run_list(&request.runs)?;
    seen_by(&state, &caller, &runs).await?;
    let summaries = state.metrics.summaries(&runs, request.kind).await;
    Ok(Json(summaries?))
}

/// Refuses a run of a project the caller may not see, as a run that does not exist.
async fn seen_by(state: &AppState, caller: &Caller, runs: &[String]) -> Result<(), AppError> {
    if caller.viewer().is_none() {
        return Ok(());
    }
    // Each project is looked at once, whatever the number of its runs asked for.
    let mut projects: HashMap<(String, String), bool> = HashMap::new();
    for place in state.store.run_places(runs).await? {
        let key = (place.owner, place.project);
        let seen = match projects.get(&key) {
            Some(seen) => *seen,
            None => {
                let project = state.store.project(&key.0, &key.1).await?;
                let seen = caller.sees(&project);
                projects.insert(key, seen);
                seen
            }
        };
        if !seen {
            return Err(AppError::NotFound(format!("no run `{}`", place.uuid)));
        }
    }
    Ok(())
}

/// The runs' uuids as the store keeps them, each once; an error names the one that is not.
fn run_list(runs: &[String]) -> Result<Vec<String>, AppError> {
    if runs.is_empty() || runs.len() > MAX_SERIES_RUNS {
        return Err(AppError::BadRequest(format!(
            "`runs` must list between 1 and {MAX_SERIES_RUNS} run uuids, not {}",
            runs.len()
        )));
    }
    let mut seen = std::collections::HashSet::with_capacity(runs.len());
    let mut uuids = Vec::with_capacity(runs.len());
    for (index, text) in runs.iter().enumerate() {
        let uuid = run_uuid(text).map_err(|_| {
            AppError::BadRequest(format!(
                "`runs[{index}]` is `{text}`, not a run uuid (32 hex digits)"
            ))
        })?;
        if seen.insert(uuid.clone()) {
            uuids.push(uuid);
        }
    }
    Ok(uuids)
}

/// The metrics' names, each once; an error names the one that is not a name.
fn name_list(names: &[String]) -> Result<Vec<String>, AppError> {
    if names.is_empty() || names.len() > MAX_SERIES_NAMES {
        return Err(AppError::BadRequest(format!(
            "`names` must list between 1 and {MAX_SERIES_NAMES} metrics, not {}",
            names.len()
        )));
    }
    let mut unique: Vec<String> = Vec::with_capacity(names.len());
    for (index, name) in names.iter().enumerate() {
        check_name(name).map_err(|why| AppError::BadRequest(format!("`names[{index}]`: {why}")))?;
        if !unique.contains(name) {
            unique.push(name.clone());
        }
    }
    Ok(unique)
}
