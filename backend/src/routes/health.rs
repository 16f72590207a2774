use axum::routing::get;
use axum::{Json, Router};
use shared::api::{HEALTH_PATH, Health};

use crate::{AppState, VERSION};

pub fn routes() -> Router<AppState> {
    let path = HEALTH_PATH
        .strip_prefix("/api")
        .expect("API paths start with /api");
    Router::new().route(path, get(health))
}

async fn health() -> Json<Health> {
    Json(Health::ok(VERSION))
}
