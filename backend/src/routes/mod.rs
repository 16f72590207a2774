//! The JSON API, one module per resource.

mod health;

use axum::Router;
use axum::extract::OriginalUri;

use crate::{AppError, AppState};

/// The routes under `/api`. Unknown API paths answer a JSON 404 rather than the browser app, so
/// a client with a wrong URL learns so instead of receiving HTML.
pub fn api() -> Router<AppState> {
    Router::new()
        .merge(health::routes())
        .fallback(unknown_route)
}

async fn unknown_route(OriginalUri(uri): OriginalUri) -> AppError {
    AppError::NotFound(format!("no API route at {}", uri.path()))
}
