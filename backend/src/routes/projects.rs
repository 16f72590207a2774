//! Projects: create, read, list, change and delete (`polyaxon project …`).

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use shared::api::{ListResponse, Project, ProjectBody};

use super::runs::{checked_page, page_links};
use crate::people::Caller;
use crate::runtime::{RuntimeError, StopCause};
use crate::{AppError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/{owner}/projects/create", post(create))
        .route("/v1/{owner}/projects/list", get(list))
        .route("/v1/{owner}/projects/names", get(names))
        .route(
            "/v1/{owner}/{project}",
            get(read).patch(update).put(update).delete(delete),
        )
}

/// Names that would be read as something else in a URL.
const RESERVED: &[&str] = &["projects", "runs", "agents", "searches"];

fn check_name(name: &str) -> Result<(), AppError> {
    let valid = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    if !valid {
        return Err(AppError::BadRequest(format!(
            "`{name}` is not a valid project name: use letters, digits, `-` and `_`, starting \
             with a letter or digit"
        )));
    }
    if RESERVED.contains(&name) {
        return Err(AppError::BadRequest(format!(
            "`{name}` is reserved; choose another project name"
        )));
    }
    Ok(())
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(owner): Path<String>,
    body: Result<Json<ProjectBody>, JsonRejection>,
) -> Result<Json<Project>, AppError> {
    let Json(body) = body?;
    let name = body
        .name
        .as_deref()
        .ok_or_else(|| AppError::BadRequest("a project needs a `name`".to_owned()))?;
    check_name(name)?;
    check_members(body.members.as_deref())?;
    let user = caller.user();
    Ok(Json(
        state
            .store
            .create_project(&owner, body, user.as_deref())
            .await?,
    ))
}

async fn read(
    State(state): State<AppState>,
    Path((owner, name)): Path<(String, String)>,
) -> Result<Json<Project>, AppError> {
    Ok(Json(state.store.project(&owner, &name).await?))
}

#[derive(Debug, Deserialize)]
struct ListParams {
    limit: Option<u32>,
    offset: Option<u32>,
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(owner): Path<String>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<ListResponse<Project>>, AppError> {
    let Query(params) = params?;
    let (limit, offset) = checked_page(params.limit, params.offset)?;
    let mut page = state
        .store
        .projects(&owner, limit, offset, caller.viewer())
        .await?;
    (page.previous, page.next) = page_links(
        &format!("/api/v1/{owner}/projects/list"),
        limit,
        offset,
        page.count,
        &[],
    );
    Ok(Json(page))
}

/// The names of an owner's projects, newest first (`{"name": …}` each, as Polyaxon lists them).
async fn names(
    State(state): State<AppState>,
    caller: Caller,
    Path(owner): Path<String>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<ListResponse<serde_json::Value>>, AppError> {
    let Query(params) = params?;
    let (limit, offset) = checked_page(params.limit, params.offset)?;
    let page = state
        .store
        .projects(&owner, limit, offset, caller.viewer())
        .await?;
    let (previous, next) = page_links(
        &format!("/api/v1/{owner}/projects/names"),
        limit,
        offset,
        page.count,
        &[],
    );
    Ok(Json(ListResponse {
        count: page.count,
        results: page
            .results
            .into_iter()
            .map(|project| serde_json::json!({ "name": project.name }))
            .collect(),
        previous,
        next,
    }))
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path((owner, name)): Path<(String, String)>,
    body: Result<Json<ProjectBody>, JsonRejection>,
) -> Result<Json<Project>, AppError> {
    let Json(body) = body?;
    if let Some(new_name) = &body.name {
        check_name(new_name)?;
    }
    check_members(body.members.as_deref())?;
    if body.members.is_some() {
        let project = state.store.project(&owner, &name).await?;
        may_change_members(&caller, &project)?;
    }
    Ok(Json(state.store.update_project(&owner, &name, body).await?))
}

/// The most people a project may be limited to.
const MAX_MEMBERS: usize = 1_000;

/// A list of members is of user names, at most [`MAX_MEMBERS`] of them.
fn check_members(members: Option<&[String]>) -> Result<(), AppError> {
    let members = members.unwrap_or_default();
    if members.len() > MAX_MEMBERS {
        return Err(AppError::BadRequest(format!(
            "`members` lists {} people; a project is limited to at most {MAX_MEMBERS}",
            members.len()
        )));
    }
    for (index, member) in members.iter().enumerate() {
        shared::api::check_username(member)
            .map_err(|why| AppError::BadRequest(format!("`members[{index}]`: {why}")))?;
    }
    Ok(())
}

/// Who may limit a project to its members, or open it: an admin, the person who created it,
/// and its members.
fn may_change_members(caller: &Caller, project: &Project) -> Result<(), AppError> {
    let name = caller.user();
    let allowed = caller.is_admin()
        || name.is_some()
            && (project.user == name
                || project
                    .members
                    .iter()
                    .any(|member| Some(member) == name.as_ref()));
    if allowed {
        return Ok(());
    }
    Err(AppError::Forbidden(format!(
        "only an admin, its creator or its members may change who sees `{}/{}`",
        project.owner, project.name
    )))
}

/// Deletes a project with its runs: the active ones are stopped first, and every run's files
/// go with it.
async fn delete(
    State(state): State<AppState>,
    Path((owner, name)): Path<(String, String)>,
) -> Result<axum::http::StatusCode, AppError> {
    let runs = state.store.run_uuids(&owner, &name).await?;
    for uuid in &runs {
        match state.runtime.stop(uuid, StopCause::Asked).await {
            Ok(()) | Err(RuntimeError::NotActive) => {}
            Err(error) => return Err(AppError::Internal(error.to_string())),
        }
    }
    state.store.delete_project(&owner, &name).await?;
    for uuid in &runs {
        let cleaned = state.runtime.clean(uuid).await;
        let removed = state.artifacts.remove_run(uuid).await;
        if let Err(error) = cleaned
            .map_err(|e| e.to_string())
            .and(removed.map_err(|e| e.to_string()))
        {
            tracing::warn!(%error, uuid, "a deleted run's files stay");
        }
    }
    Ok(axum::http::StatusCode::NO_CONTENT)
}
