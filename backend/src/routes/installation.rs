//! What the CLI asks before anything else: which server this is, and whether it may talk to it.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value as Json_, json};
use shared::api::{Installation, POLYAXON_COMPAT_VERSION};

use crate::{AppState, RuntimeChoice};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/installation", get(installation))
        .route(
            "/v1/compatibility/{key}/{version}/{service}",
            get(compatibility),
        )
        .route("/v1/log_handler", get(log_handler))
        .route("/v1/compiler/agent", get(agent))
}

/// Myelin's own: the agent configuration runs are compiled for, so the browser's previews
/// compile exactly as the server will.
async fn agent(State(state): State<AppState>) -> Json<Json_> {
    Json(state.agent_config.as_ref().clone())
}

/// A single-team (`ce`) installation: the CLI then uses the `default` owner and skips login.
async fn installation(State(state): State<AppState>) -> Json<Installation> {
    Json(Installation {
        key: state.installation_key.to_string(),
        version: format!("v{POLYAXON_COMPAT_VERSION}"),
        dist: "ce".to_owned(),
        mode: match state.config.runtime {
            RuntimeChoice::Process => "sandbox",
            RuntimeChoice::Kubernetes { .. } => "platform",
        }
        .to_owned(),
        auth: state.config.token.is_some(),
    })
}

/// Every 2.x client is welcome: a `min` above the client's version would make the CLI offer to
/// upgrade itself.
async fn compatibility(Path((_, _, _)): Path<(String, String, String)>) -> Json<Json_> {
    let versions = json!({"min": "2.0.0", "latest": POLYAXON_COMPAT_VERSION});
    Json(json!({
        "cli": versions,
        "platform": versions,
        "agent": versions,
        "ui": versions,
    }))
}

/// No error reporting service: an empty answer keeps the CLI's Sentry off.
async fn log_handler() -> Json<Json_> {
    Json(json!({}))
}
