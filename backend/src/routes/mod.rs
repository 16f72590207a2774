//! The HTTP API, one module per resource: Polyaxon 2.18's routes and shapes under `/api/v1` and
//! `/streams/v1`, so the unmodified `polyaxon` CLI and tracking client work against Myelin.

mod events;
mod exec;
mod health;
mod hub;
mod installation;
mod internal;
mod lineage;
mod people;
mod projects;
mod run_events;
mod runs;
mod series;
mod services;
pub(crate) mod session;
mod shelves;
mod stats;
mod streams;
mod versions;

use axum::Router;
use axum::extract::OriginalUri;
use axum::middleware;

use crate::people::authenticate;
use crate::{AppError, AppState};

/// The routes under `/api`. Unknown API paths answer a JSON 404 rather than the browser app, so
/// a client with a wrong URL learns so instead of receiving HTML.
pub fn api(state: &AppState) -> Router<AppState> {
    Router::new()
        .merge(installation::routes())
        .merge(projects::routes())
        .merge(runs::routes())
        .merge(shelves::routes())
        .merge(lineage::routes())
        .merge(stats::routes())
        .merge(versions::routes())
        .merge(hub::routes())
        .merge(series::routes())
        .merge(people::routes())
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate))
        // The health route stays open: it is how a browser or a probe learns the server is up;
        // so does signing in, which checks the token itself.
        .merge(health::routes())
        .merge(session::routes())
        .fallback(unknown_route)
}

/// The routes under `/streams`: logs, events and artifacts, as Polyaxon's streams service has
/// them.
pub fn streams(state: &AppState) -> Router<AppState> {
    streams::routes()
        .merge(events::routes())
        .merge(exec::inspect_routes())
        .merge(internal::notify_routes())
        .merge(run_events::routes())
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .fallback(unknown_route)
}

/// The routes under `/internal`: what Polyaxon's operator asks of the streams service.
pub fn internal(state: &AppState) -> Router<AppState> {
    internal::internal_routes()
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .fallback(unknown_route)
}

/// The bundled catalog in a public registry's layout, open to any client (`/registry/…`).
pub fn registry() -> Router<AppState> {
    hub::registry_routes()
}

/// The routes under `/k8s`: commands in running runs, over Kubernetes' exec protocol.
pub fn k8s(state: &AppState) -> Router<AppState> {
    exec::exec_routes()
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .fallback(unknown_route)
}

/// Services' reverse proxy (`/services/v1/…`, `/rewrite-services/v1/…`), behind the API's
/// token: a service runs the user's code with the user's data.
pub fn services(state: &AppState) -> Router<AppState> {
    services::routes().route_layer(middleware::from_fn_with_state(state.clone(), authenticate))
}

async fn unknown_route(OriginalUri(uri): OriginalUri) -> AppError {
    AppError::NotFound(format!("no API route at {}", uri.path()))
}

/// A run uuid as the API takes it: dashes dropped, lower case, 32 hex digits.
fn run_uuid(text: &str) -> Result<String, AppError> {
    let uuid: String = text
        .chars()
        .filter(|c| *c != '-')
        .collect::<String>()
        .to_ascii_lowercase();
    if uuid.len() == 32 && uuid.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(uuid)
    } else {
        Err(AppError::NotFound(format!(
            "`{text}` is not a run uuid (32 hex digits)"
        )))
    }
}
