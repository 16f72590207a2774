//! Project versions, Polyaxon's registry (`/api/v1/{owner}/{project}/versions/{kind}/…`): a
//! project's component versions are its Polyaxonfiles under tags, which `hubRef` and
//! `polyaxon run --hub OWNER/PROJECT:TAG` find; model and artifact versions point at a run and
//! the artifacts it logged. Each version moves through stages.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value as Json_, json};
use shared::api::{
    ListResponse, ProjectVersion, ProjectVersionBody, RunTransfer, STAGES, StageBody, StageReport,
    VERSION_KINDS,
};

use super::run_uuid;
use super::runs::{checked_page, page_links};
use crate::store::{StoreError, VersionChange, VersionKey};
use crate::{AppError, AppState, clock};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/{owner}/{project}/versions/{kind}",
            get(list).post(create),
        )
        .route("/v1/{owner}/{project}/versions/{kind}/names", get(names))
        .route(
            "/v1/{owner}/{project}/versions/{kind}/{name}",
            get(read).patch(update).put(update).delete(delete),
        )
        .route(
            "/v1/{owner}/{project}/versions/{kind}/{name}/stages",
            get(stages).post(add_stage),
        )
        .route(
            "/v1/{owner}/{project}/versions/{kind}/{name}/transfer",
            post(transfer),
        )
}

/// The kind in a URL, which must be one of Polyaxon's.
fn checked_kind(kind: &str) -> Result<(), AppError> {
    if VERSION_KINDS.contains(&kind) {
        Ok(())
    } else {
        Err(AppError::NotFound(format!(
            "no versions of kind `{kind}`: versions are of kind `component`, `model` or `artifact`"
        )))
    }
}

fn key(
    (owner, project, kind, name): (String, String, String, String),
) -> Result<VersionKey, AppError> {
    checked_kind(&kind)?;
    Ok(VersionKey {
        owner,
        project,
        kind,
        name,
    })
}

#[derive(Debug, Deserialize)]
struct PageParams {
    limit: Option<u32>,
    offset: Option<u32>,
}

/// A page of a project's versions of a kind, its links to `path`.
async fn page(
    state: &AppState,
    (owner, project, kind): (String, String, String),
    params: Result<Query<PageParams>, QueryRejection>,
    suffix: &str,
) -> Result<ListResponse<ProjectVersion>, AppError> {
    let Query(params) = params?;
    checked_kind(&kind)?;
    let (limit, offset) = checked_page(params.limit, params.offset)?;
    let mut page = state
        .store
        .versions(&owner, &project, &kind, limit, offset)
        .await?;
    (page.previous, page.next) = page_links(
        &format!("/api/v1/{owner}/{project}/versions/{kind}{suffix}"),
        limit,
        offset,
        page.count,
        &[],
    );
    Ok(page)
}

async fn list(
    State(state): State<AppState>,
    Path(path): Path<(String, String, String)>,
    params: Result<Query<PageParams>, QueryRejection>,
) -> Result<Json<ListResponse<ProjectVersion>>, AppError> {
    Ok(Json(page(&state, path, params, "").await?))
}

/// The names of a project's versions of a kind (`{"name": …}` each), as Polyaxon lists them.
async fn names(
    State(state): State<AppState>,
    Path(path): Path<(String, String, String)>,
    params: Result<Query<PageParams>, QueryRejection>,
) -> Result<Json<ListResponse<Json_>>, AppError> {
    let page = page(&state, path, params, "/names").await?;
    Ok(Json(ListResponse {
        count: page.count,
        results: page
            .results
            .into_iter()
            .map(|version| json!({ "name": version.name }))
            .collect(),
        previous: page.previous,
        next: page.next,
    }))
}

/// What a version's body must hold for its kind: a component's content is a Polyaxonfile that
/// checks (its hash is the version's `state`); a run it names must exist, and the artifacts it
/// names must be that run's.
async fn checked_body(
    state: &AppState,
    kind: &str,
    body: &ProjectVersionBody,
    creating: bool,
) -> Result<Option<String>, AppError> {
    if let Some(written) = &body.kind
        && written != kind
    {
        return Err(AppError::BadRequest(
            "Changing a version kind is not permitted.".to_owned(),
        ));
    }
    let content = body
        .content
        .as_deref()
        .filter(|text| !text.trim().is_empty());
    if kind == "component" {
        if content.is_none() && creating {
            return Err(AppError::BadRequest(
                "the `content` is required to create a component version.".to_owned(),
            ));
        }
        if let Some(content) = content {
            let checked = shared::lint(content, &[]);
            if let Some(problem) = checked.diagnostics.iter().find(|d| d.is_error()) {
                return Err(AppError::BadRequest(format!(
                    "the `content` is not a valid Polyaxonfile: {problem}"
                )));
            }
        }
    }
    if let Some(run) = &body.run {
        let uuid = run_uuid(run)
            .map_err(|_| AppError::BadRequest(format!("`run` is not a run uuid: `{run}`")))?;
        match state.store.run_by_uuid(&uuid).await {
            Err(StoreError::NotFound(_)) => {
                return Err(AppError::BadRequest(format!(
                    "The run({run}) does not exist."
                )));
            }
            other => other?,
        };
        if let Some(artifacts) = &body.artifacts {
            let lineage = state.store.lineage(&uuid).await?;
            let missing: Vec<&String> = artifacts
                .iter()
                .filter(|name| !lineage.iter().any(|artifact| &artifact.name == *name))
                .collect();
            if !missing.is_empty() {
                return Err(AppError::BadRequest(format!(
                    "Some artifacts could not be found: `{missing:?}`."
                )));
            }
        }
    } else if body
        .artifacts
        .as_ref()
        .is_some_and(|names| !names.is_empty())
    {
        return Err(AppError::BadRequest(
            "A run is required to link the artifacts.".to_owned(),
        ));
    }
    Ok(content.map(shared::hub::content_state))
}

async fn create(
    State(state): State<AppState>,
    Path((owner, project, kind)): Path<(String, String, String)>,
    body: Result<Json<ProjectVersionBody>, JsonRejection>,
) -> Result<(StatusCode, Json<ProjectVersion>), AppError> {
    let Json(mut body) = body?;
    checked_kind(&kind)?;
    let Some(name) = body.name.clone().filter(|name| !name.trim().is_empty()) else {
        return Err(AppError::BadRequest("a version needs a `name`".to_owned()));
    };
    let state_hash = checked_body(&state, &kind, &body, true).await?;
    body.run = body.run.as_deref().map(run_uuid).transpose()?;
    let key = VersionKey {
        owner,
        project,
        kind,
        name,
    };
    let version = state
        .store
        .create_version(&key, body, state_hash)
        .await
        .map_err(conflict_is_bad_request)?;
    Ok((StatusCode::CREATED, Json(version)))
}

/// Polyaxon answers a name that is taken with a 400, which its CLI shows as it is.
fn conflict_is_bad_request(error: StoreError) -> AppError {
    match error {
        StoreError::Conflict(message) => AppError::BadRequest(message),
        other => other.into(),
    }
}

async fn read(
    State(state): State<AppState>,
    Path(path): Path<(String, String, String, String)>,
) -> Result<Json<ProjectVersion>, AppError> {
    Ok(Json(state.store.version(&key(path)?).await?))
}

async fn update(
    State(state): State<AppState>,
    Path(path): Path<(String, String, String, String)>,
    body: Result<Json<ProjectVersionBody>, JsonRejection>,
) -> Result<Json<ProjectVersion>, AppError> {
    let Json(mut body) = body?;
    let key = key(path)?;
    let state_hash = checked_body(&state, &key.kind, &body, false).await?;
    body.run = body.run.as_deref().map(run_uuid).transpose()?;
    let version = state
        .store
        .change_version(&key, VersionChange::Fields(body, state_hash))
        .await
        .map_err(conflict_is_bad_request)?;
    Ok(Json(version))
}

async fn delete(
    State(state): State<AppState>,
    Path(path): Path<(String, String, String, String)>,
) -> Result<StatusCode, AppError> {
    state.store.delete_version(&key(path)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn stage_report(version: ProjectVersion) -> StageReport {
    StageReport {
        uuid: version.uuid,
        stage: version.stage,
        stage_conditions: version.stage_conditions,
    }
}

async fn stages(
    State(state): State<AppState>,
    Path(path): Path<(String, String, String, String)>,
) -> Result<Json<StageReport>, AppError> {
    Ok(Json(stage_report(state.store.version(&key(path)?).await?)))
}

async fn add_stage(
    State(state): State<AppState>,
    Path(path): Path<(String, String, String, String)>,
    body: Result<Json<StageBody>, JsonRejection>,
) -> Result<(StatusCode, Json<StageReport>), AppError> {
    let Json(body) = body?;
    let key = key(path)?;
    let mut condition = body.condition;
    if !STAGES.contains(&condition.kind.as_str()) {
        return Err(AppError::BadRequest(format!(
            "`{}` is not a stage: the stages are `testing`, `staging`, `production` and `disabled`",
            condition.kind
        )));
    }
    let now = clock::now();
    condition.last_update_time.get_or_insert(now);
    condition.last_transition_time.get_or_insert(now);
    let version = state
        .store
        .change_version(&key, VersionChange::Stage(condition))
        .await?;
    Ok((StatusCode::CREATED, Json(stage_report(version))))
}

async fn transfer(
    State(state): State<AppState>,
    Path(path): Path<(String, String, String, String)>,
    body: Result<Json<RunTransfer>, JsonRejection>,
) -> Result<Json<Json_>, AppError> {
    let Json(body) = body?;
    let key = key(path)?;
    let Some(destination) = body.project.filter(|name| !name.is_empty()) else {
        return Err(AppError::BadRequest(
            "The destination project was not provided.".to_owned(),
        ));
    };
    if destination == key.project {
        return Ok(Json(json!({})));
    }
    match state.store.project(&key.owner, &destination).await {
        Err(StoreError::NotFound(_)) => {
            return Err(AppError::BadRequest(format!(
                "The destination project `{destination}` does not exist."
            )));
        }
        other => other?,
    };
    state
        .store
        .change_version(&key, VersionChange::Transfer(destination))
        .await
        .map_err(conflict_is_bad_request)?;
    Ok(Json(json!({})))
}
