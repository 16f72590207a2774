//! Archiving and bookmarks, as Polyaxon has them: archived runs and projects leave every list
//! but the archives and can be restored; bookmarked ones are listed apart. One run, many runs
//! of a project, or a whole project.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::{Value as Json_, json};
use shared::api::{ListResponse, Run, RunSelection};

use super::run_uuid;
use super::runs::{ListParams, list_filter, page_links, selected, stop_run};
use crate::store::{Mark, RunScope};
use crate::{AppError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/archives/{owner}/runs", get(archived_runs))
        .route("/v1/bookmarks/{owner}/runs", get(bookmarked_runs))
        .route(
            "/v1/{owner}/{project}/runs/{uuid}/archive",
            post(archive_run),
        )
        .route(
            "/v1/{owner}/{project}/runs/{uuid}/restore",
            post(restore_run),
        )
        .route(
            "/v1/{owner}/{project}/runs/{uuid}/bookmark",
            post(bookmark_run),
        )
        .route(
            "/v1/{owner}/{project}/runs/{uuid}/unbookmark",
            delete(unbookmark_run),
        )
        .route("/v1/{owner}/{project}/runs/archive", post(archive_runs))
        .route("/v1/{owner}/{project}/runs/restore", post(restore_runs))
        .route("/v1/{owner}/{project}/runs/bookmark", post(bookmark_runs))
        .route("/v1/{owner}/{name}/archive", post(archive_project))
        .route("/v1/{owner}/{name}/restore", post(restore_project))
        .route("/v1/{owner}/{name}/bookmark", post(bookmark_project))
        .route("/v1/{owner}/{name}/unbookmark", delete(unbookmark_project))
}

async fn archived_runs(
    state: State<AppState>,
    Path(owner): Path<String>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<ListResponse<Run>>, AppError> {
    let path = format!("/api/v1/archives/{owner}/runs");
    shelf(state, RunScope::Archived { owner }, &path, params).await
}

async fn bookmarked_runs(
    state: State<AppState>,
    Path(owner): Path<String>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<ListResponse<Run>>, AppError> {
    let path = format!("/api/v1/bookmarks/{owner}/runs");
    shelf(state, RunScope::Bookmarked { owner }, &path, params).await
}

/// A page of an owner's archived or bookmarked runs, filtered and sorted as a project's are.
async fn shelf(
    State(state): State<AppState>,
    scope: RunScope,
    path: &str,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<ListResponse<Run>>, AppError> {
    let Query(params) = params?;
    let (filter, links) = list_filter(&params)?;
    let mut page = state.store.runs(&scope, &filter).await?;
    (page.previous, page.next) = page_links(path, filter.limit, filter.offset, page.count, &links);
    Ok(Json(page))
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

async fn archive_run(
    State(state): State<AppState>,
    Path(run): Path<(String, String, String)>,
) -> Result<Json<Json_>, AppError> {
    mark_run(&state, run, Mark::Archive).await?;
    Ok(Json(json!({})))
}

async fn restore_run(
    State(state): State<AppState>,
    Path(run): Path<(String, String, String)>,
) -> Result<Json<Json_>, AppError> {
    mark_run(&state, run, Mark::Restore).await?;
    Ok(Json(json!({})))
}

async fn bookmark_run(
    State(state): State<AppState>,
    Path(run): Path<(String, String, String)>,
) -> Result<(StatusCode, Json<Json_>), AppError> {
    mark_run(&state, run, Mark::Bookmark).await?;
    Ok((StatusCode::CREATED, Json(json!({}))))
}

async fn unbookmark_run(
    State(state): State<AppState>,
    Path(run): Path<(String, String, String)>,
) -> Result<StatusCode, AppError> {
    mark_run(&state, run, Mark::Unbookmark).await?;
    Ok(StatusCode::NO_CONTENT)
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

async fn archive_runs(
    State(state): State<AppState>,
    Path(project): Path<(String, String)>,
    body: Result<Json<RunSelection>, JsonRejection>,
) -> Result<Json<Json_>, AppError> {
    mark_selected(&state, project, body, Mark::Archive).await
}

async fn restore_runs(
    State(state): State<AppState>,
    Path(project): Path<(String, String)>,
    body: Result<Json<RunSelection>, JsonRejection>,
) -> Result<Json<Json_>, AppError> {
    mark_selected(&state, project, body, Mark::Restore).await
}

async fn bookmark_runs(
    State(state): State<AppState>,
    Path(project): Path<(String, String)>,
    body: Result<Json<RunSelection>, JsonRejection>,
) -> Result<Json<Json_>, AppError> {
    mark_selected(&state, project, body, Mark::Bookmark).await
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

async fn archive_project(
    State(state): State<AppState>,
    Path(project): Path<(String, String)>,
) -> Result<Json<Json_>, AppError> {
    mark_project(&state, project, Mark::Archive).await?;
    Ok(Json(json!({})))
}

async fn restore_project(
    State(state): State<AppState>,
    Path(project): Path<(String, String)>,
) -> Result<Json<Json_>, AppError> {
    mark_project(&state, project, Mark::Restore).await?;
    Ok(Json(json!({})))
}

async fn bookmark_project(
    State(state): State<AppState>,
    Path(project): Path<(String, String)>,
) -> Result<(StatusCode, Json<Json_>), AppError> {
    mark_project(&state, project, Mark::Bookmark).await?;
    Ok((StatusCode::CREATED, Json(json!({}))))
}

async fn unbookmark_project(
    State(state): State<AppState>,
    Path(project): Path<(String, String)>,
) -> Result<StatusCode, AppError> {
    mark_project(&state, project, Mark::Unbookmark).await?;
    Ok(StatusCode::NO_CONTENT)
}
