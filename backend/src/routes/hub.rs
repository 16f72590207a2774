//! The component catalog: the bundled components and every project's component versions
//! (`/api/v1/hub`), and the bundled ones in the layout the `polyaxon` CLI reads a public
//! registry in (`/registry/{name}/{tag}.yaml`, for `POLYAXON_USE_GIT_REGISTRY`).

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use shared::api::ListResponse;
use shared::hub::{Catalog, HubComponent};

use crate::people::Caller;
use crate::store::StoreError;
use crate::{AppError, AppState};

/// Under `/api`, behind the token: users' own components are their data.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/hub", get(list))
        .route("/v1/hub/{owner}/{project}", get(read))
}

/// The public registry's layout, with no token: only the bundled catalog, which ships with
/// every copy of Myelin, is served there.
pub fn registry_routes() -> Router<AppState> {
    Router::new().route("/registry/{name}/{file}", get(registry_file))
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<ListResponse<HubComponent>>, AppError> {
    let catalog = state.hub().await?;
    let mut results = Vec::with_capacity(catalog.components.len());
    for component in catalog.components {
        if seen_by(&state, &caller, &component).await? {
            results.push(component);
        }
    }
    Ok(Json(ListResponse {
        count: results.len() as u64,
        results,
        previous: None,
        next: None,
    }))
}

/// Whether the caller sees a component: a user's is a project, which may be limited to its
/// members; a bundled one is everyone's.
async fn seen_by(
    state: &AppState,
    caller: &Caller,
    component: &HubComponent,
) -> Result<bool, AppError> {
    if caller.viewer().is_none() {
        return Ok(true);
    }
    match state.store.project(&component.owner, &component.name).await {
        Ok(project) => Ok(caller.sees(&project)),
        Err(StoreError::NotFound(_)) => Ok(true),
        Err(error) => Err(error.into()),
    }
}

async fn read(
    State(state): State<AppState>,
    Path((owner, name)): Path<(String, String)>,
) -> Result<Json<HubComponent>, AppError> {
    let catalog = state.hub().await?;
    catalog
        .components
        .into_iter()
        .find(|component| component.owner == owner && component.name == name)
        .map(Json)
        .ok_or_else(|| AppError::NotFound(format!("the hub has no component `{owner}/{name}`")))
}

/// `{name}/{tag}.yaml`, as `polyaxon run --hub name:tag` fetches it from a git registry.
async fn registry_file(
    Path((name, file)): Path<(String, String)>,
) -> Result<impl IntoResponse, AppError> {
    let Some(tag) = file.strip_suffix(".yaml") else {
        return Err(AppError::NotFound(format!(
            "no file `{name}/{file}` in the registry"
        )));
    };
    let resolved = Catalog::bundled()
        .resolve(&format!("{name}:{tag}"))
        .map_err(|error| AppError::NotFound(error.message()))?;
    Ok((
        [(header::CONTENT_TYPE, "application/yaml; charset=utf-8")],
        resolved.version.content.clone(),
    ))
}
