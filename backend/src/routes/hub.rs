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

use crate::{AppError, AppState};

/// Under `/api`, behind the token: users' own components are their data.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/hub", get(list))
        .route("/v1/hub/{owner}/{name}", get(read))
}

/// The public registry's layout, with no token: only the bundled catalog, which ships with
/// every copy of Myelin, is served there.
pub fn registry_routes() -> Router<AppState> {
    Router::new().route("/registry/{name}/{file}", get(registry_file))
}

async fn list(State(state): State<AppState>) -> Result<Json<ListResponse<HubComponent>>, AppError> {
    let catalog = state.hub().await?;
    Ok(Json(ListResponse {
        count: catalog.components.len() as u64,
        results: catalog.components,
        previous: None,
        next: None,
    }))
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
