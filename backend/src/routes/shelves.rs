//! Archiving and bookmarks, as Polyaxon has them: archived runs and projects leave every list
//! but the archives and can be restored; bookmarked ones are listed apart. One run, many runs
//! of a project, or a whole project.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::{Value as Json_, json};
use shared::api::{ListResponse, Run, RunSelection};

use super::run_uuid;
use super::runs::{ListParams, list_scope, selected, stop_run};
use crate::people::Caller;
use crate::store::{Mark, RunScope};
use crate::{AppError, AppState};

pub fn routes() -> Router<AppState> {
    let run = |mark| move |state, path| run_mark(state, path, mark);
    let runs = |mark| move |state, path, body| runs_mark(state, path, body, mark);
    let project = |mark| move |state, path| project_mark(state, path, mark);
    Router::new()
        .route("/v1/archives/{owner}/runs", get(archived_runs))
        .route("/v1/bookmarks/{owner}/runs", get(bookmarked_runs))
        .route(
            "/v1/{owner}/{project}/runs/{uuid}/archive",
            post(run(Mark::Archive)),
        )
        .route(
            "/v1/{owner}/{project}/runs/{uuid}/restore",
            post(run(Mark::Restore)),
        )
        .route(
            "/v1/{owner}/{project}/runs/{uuid}/bookmark",
            post(run(Mark::Bookmark)),
        )
        .route(
            "/v1/{owner}/{project}/runs/{uuid}/unbookmark",
            delete(run(Mark::Unbookmark)),
        )
        .route(
            "/v1/{owner}/{project}/runs/archive",
            post(runs(Mark::Archive)),
        )
        .route(
            "/v1/{owner}/{project}/runs/restore",
            post(runs(Mark::Restore)),
        )
        .route(
            "/v1/{owner}/{project}/runs/bookmark",
            post(runs(Mark::Bookmark)),
        )
        .route(
            "/v1/{owner}/{project}/archive",
            post(project(Mark::Archive)),
        )
        .route(
            "/v1/{owner}/{project}/restore",
            post(project(Mark::Restore)),
        )
        .route(
            "/v1/{owner}/{project}/bookmark",
            post(project(Mark::Bookmark)),
        )
        .route(
            "/v1/{owner}/{project}/unbookmark",
            delete(project(Mark::Unbookmark)),
        )
}

async fn archived_runs(
    state: State<AppState>,
    caller: Caller,
    Path(owner): Path<String>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<ListResponse<Run>>, AppError> {
    let path = format!("/api/v1/archives/{owner}/runs");
    list_scope(state, &caller, RunScope::Archived { owner }, &path, params).await
}

async fn bookmarked_runs(
    state: State<AppState>,
    caller: Caller,
    Path(owner): Path<String>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<ListResponse<Run>>, AppError> {
    let path = format!("/api/v1/bookmarks/{owner}/runs");
    list_scope(
        state,
        &caller,
        RunScope::Bookmarked { owner },
        &path,
        params,
    )
    .await
}

/// Stops the runs still going before they are archived, as Polyaxon does: an archived run is
/// out of sight, so it must not go on using the cluster unseen.
async fn stop_before_archiving(
    state: &AppState,
    owner: &str,
    project: &str,
    uuids: &[String],
) -> Result<(), AppError> {
    for uuid in uuids {
        match stop_run(state, owner, project, uuid).await {
            Ok(()) | Err(AppError::NotFound(_)) => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

async fn mark_runs(
    state: &AppState,
    owner: &str,
    project: &str,
    uuids: &[String],
    mark: Mark,
) -> Result<(), AppError> {
    if mark == Mark::Archive {
        stop_before_archiving(state, owner, project, uuids).await?;
    }
    state.store.mark_runs(owner, project, uuids, mark).await?;
    Ok(())
}

/// One run, which must be in the project.
async fn mark_run(
    state: &AppState,
    (owner, project, uuid): (String, String, String),
    mark: Mark,
) -> Result<(), AppError> {
    let uuid = run_uuid(&uuid)?;
    state.store.run(&owner, &project, &uuid).await?;
    mark_runs(state, &owner, &project, &[uuid], mark).await
}

/// The selected runs of a project (`V1Uuids`); uuids of other projects are passed over.
async fn mark_selected(
    state: &AppState,
    (owner, project): (String, String),
    body: Result<Json<RunSelection>, JsonRejection>,
    mark: Mark,
) -> Result<Json<Json_>, AppError> {
    let selection = selected(state, &owner, &project, body).await?;
    mark_runs(state, &owner, &project, &selection.uuids, mark).await?;
    Ok(Json(json!({})))
}

/// A project; archiving it archives (and stops) its runs, restoring it restores them.
async fn mark_project(
    state: &AppState,
    (owner, name): (String, String),
    mark: Mark,
) -> Result<(), AppError> {
    if mark == Mark::Archive {
        let uuids = state.store.run_uuids(&owner, &name).await?;
        stop_before_archiving(state, &owner, &name, &uuids).await?;
    }
    state.store.mark_project(&owner, &name, mark).await?;
    Ok(())
}

/// How Polyaxon answers a mark: `{}` for an archive or a restore, `201 {}` for a bookmark, and
/// nothing for its removal.
fn answer(mark: Mark) -> Response {
    match mark {
        Mark::Archive | Mark::Restore => Json(json!({})).into_response(),
        Mark::Bookmark => (StatusCode::CREATED, Json(json!({}))).into_response(),
        Mark::Unbookmark => StatusCode::NO_CONTENT.into_response(),
    }
}

async fn run_mark(
    State(state): State<AppState>,
    Path(run): Path<(String, String, String)>,
    mark: Mark,
) -> Result<Response, AppError> {
    mark_run(&state, run, mark).await?;
    Ok(answer(mark))
}

/// Marks on many runs answer `{}`, bookmarks included, as Polyaxon's do.
async fn runs_mark(
    State(state): State<AppState>,
    Path(project): Path<(String, String)>,
    body: Result<Json<RunSelection>, JsonRejection>,
    mark: Mark,
) -> Result<Json<Json_>, AppError> {
    mark_selected(&state, project, body, mark).await
}

async fn project_mark(
    State(state): State<AppState>,
    Path(project): Path<(String, String)>,
    mark: Mark,
) -> Result<Response, AppError> {
    mark_project(&state, project, mark).await?;
    Ok(answer(mark))
}
