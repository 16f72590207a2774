//! Lineage: what runs read and wrote (reported by the tracking client), the edges people draw
//! between runs, and the runs made from a run (`…/lineage/…`).

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value as Json_, json};
use shared::api::{
    EdgesBody, LineageBody, ListResponse, Run, RunClone, RunEdge, RunLineageArtifact,
};

use super::run_uuid;
use super::runs::{checked_page, page_links};
use crate::store::Link;
use crate::{AppError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/{owner}/{project}/runs/{uuid}/lineage/artifacts",
            get(artifacts).post(add_artifacts),
        )
        .route(
            "/v1/{owner}/{project}/runs/{uuid}/lineage/artifacts/names",
            get(artifact_names),
        )
        .route(
            "/v1/{owner}/{project}/runs/{uuid}/lineage/artifacts/{name}",
            get(artifact).delete(delete_artifact),
        )
        .route(
            "/v1/{owner}/{project}/runs/{uuid}/lineage/upstream",
            get(upstream),
        )
        .route(
            "/v1/{owner}/{project}/runs/{uuid}/lineage/downstream",
            get(downstream),
        )
        .route(
            "/v1/{owner}/{project}/runs/{uuid}/lineage/edges",
            post(set_edges),
        )
        .route(
            "/v1/{owner}/{project}/runs/{uuid}/lineage/clones",
            get(clones),
        )
        .route(
            "/v1/{owner}/{project}/runs/lineage/artifacts",
            get(project_artifacts),
        )
}

/// The whole of a short list, as one page.
fn all<T>(results: Vec<T>) -> ListResponse<T> {
    ListResponse {
        count: results.len() as u64,
        results,
        previous: None,
        next: None,
    }
}

/// The run, which must be in the project.
async fn project_run(
    state: &AppState,
    (owner, project, uuid): &(String, String, String),
) -> Result<Run, AppError> {
    let uuid = run_uuid(uuid)?;
    Ok(state.store.run(owner, project, &uuid).await?.run)
}

/// A run's lineage, each artifact saying whose it is, as Polyaxon's lists do.
async fn run_artifacts(state: &AppState, run: &Run) -> Result<Vec<RunLineageArtifact>, AppError> {
    let artifacts = state.store.lineage(&run.uuid).await?;
    Ok(artifacts
        .into_iter()
        .map(|artifact| RunLineageArtifact {
            artifact,
            run: run.uuid.clone(),
            meta_info: json!({"run": {"name": run.name, "uuid": run.uuid}}),
            state: None,
        })
        .collect())
}

async fn artifacts(
    State(state): State<AppState>,
    Path(path): Path<(String, String, String)>,
) -> Result<Json<ListResponse<RunLineageArtifact>>, AppError> {
    let run = project_run(&state, &path).await?;
    Ok(Json(all(run_artifacts(&state, &run).await?)))
}

async fn add_artifacts(
    State(state): State<AppState>,
    Path(path): Path<(String, String, String)>,
    body: Result<Json<LineageBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Json_>), AppError> {
    let Json(body) = body?;
    let run = project_run(&state, &path).await?;
    state.store.add_lineage(&run.uuid, body.artifacts).await?;
    Ok((StatusCode::CREATED, Json(json!({}))))
}

async fn artifact_names(
    State(state): State<AppState>,
    Path(path): Path<(String, String, String)>,
) -> Result<Json<ListResponse<Json_>>, AppError> {
    let run = project_run(&state, &path).await?;
    let mut names: Vec<String> = state
        .store
        .lineage(&run.uuid)
        .await?
        .into_iter()
        .map(|artifact| artifact.name)
        .collect();
    // An artifact both read and written is one name.
    names.dedup();
    Ok(Json(all(names
        .into_iter()
        .map(|name| json!({ "name": name }))
        .collect())))
}

async fn artifact(
    State(state): State<AppState>,
    Path((owner, project, uuid, name)): Path<(String, String, String, String)>,
) -> Result<Json<RunLineageArtifact>, AppError> {
    let run = project_run(&state, &(owner, project, uuid)).await?;
    run_artifacts(&state, &run)
        .await?
        .into_iter()
        .find(|artifact| artifact.artifact.name == name)
        .map(Json)
        .ok_or_else(|| AppError::NotFound(format!("run `{}` has no artifact `{name}`", run.uuid)))
}

async fn delete_artifact(
    State(state): State<AppState>,
    Path((owner, project, uuid, name)): Path<(String, String, String, String)>,
) -> Result<StatusCode, AppError> {
    let run = project_run(&state, &(owner, project, uuid)).await?;
    if state.store.delete_lineage(&run.uuid, &name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::NotFound(format!(
            "run `{}` has no artifact `{name}`",
            run.uuid
        )))
    }
}

async fn upstream(
    State(state): State<AppState>,
    Path(path): Path<(String, String, String)>,
) -> Result<Json<ListResponse<RunEdge>>, AppError> {
    let run = project_run(&state, &path).await?;
    Ok(Json(all(state
        .store
        .edges(&run.uuid, Link::Upstream)
        .await?)))
}

async fn downstream(
    State(state): State<AppState>,
    Path(path): Path<(String, String, String)>,
) -> Result<Json<ListResponse<RunEdge>>, AppError> {
    let run = project_run(&state, &path).await?;
    Ok(Json(all(state
        .store
        .edges(&run.uuid, Link::Downstream)
        .await?)))
}

/// The most edges one request may set.
const MAX_EDGES: usize = 1_000;

/// Replaces a run's edges (`V1RunEdgesGraph`); the runs at their other ends must exist.
async fn set_edges(
    State(state): State<AppState>,
    Path(path): Path<(String, String, String)>,
    body: Result<Json<EdgesBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Json_>), AppError> {
    let Json(body) = body?;
    if body.edges.len() > MAX_EDGES {
        return Err(AppError::BadRequest(format!(
            "`edges` lists {} edges; at most {MAX_EDGES} may be set at once",
            body.edges.len()
        )));
    }
    let run = project_run(&state, &path).await?;
    state.store.set_edges(&run.uuid, body.edges).await?;
    Ok((StatusCode::CREATED, Json(json!({}))))
}

async fn clones(
    State(state): State<AppState>,
    Path(path): Path<(String, String, String)>,
) -> Result<Json<ListResponse<RunClone>>, AppError> {
    let run = project_run(&state, &path).await?;
    Ok(Json(all(state.store.clones(&run.uuid).await?)))
}

#[derive(Debug, Deserialize)]
struct PageParams {
    limit: Option<u32>,
    offset: Option<u32>,
}

/// What a project's runs read and wrote, newest run first.
async fn project_artifacts(
    State(state): State<AppState>,
    Path((owner, project)): Path<(String, String)>,
    params: Result<Query<PageParams>, QueryRejection>,
) -> Result<Json<ListResponse<RunLineageArtifact>>, AppError> {
    let Query(params) = params?;
    let (limit, offset) = checked_page(params.limit, params.offset)?;
    let mut page = state
        .store
        .project_lineage(&owner, &project, limit, offset)
        .await?;
    (page.previous, page.next) = page_links(
        &format!("/api/v1/{owner}/{project}/runs/lineage/artifacts"),
        limit,
        offset,
        page.count,
        &[],
    );
    Ok(Json(page))
}
