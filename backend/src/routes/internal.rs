//! What Polyaxon's agents and sidecars call on the streams service rather than people: collect
//! a run's logs when it ends, and notify a run's status through the agent's connections.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value as Json_, json};
use shared::api::StatusCondition;

use super::run_uuid;
use crate::{AppError, AppState};

/// The routes under `/internal`.
pub fn internal_routes() -> Router<AppState> {
    Router::new().route(
        "/v1/{namespace}/{owner}/{project}/runs/{uuid}/{kind}/logs",
        post(collect_logs),
    )
}

/// The routes under `/streams` that notify.
pub fn notify_routes() -> Router<AppState> {
    Router::new().route(
        "/v1/{namespace}/{owner}/{project}/runs/{uuid}/notify",
        post(notify),
    )
}

/// `collect_run_logs`: Polyaxon's operator asks its streams service to copy a run's pod logs
/// into the artifacts store before the pods go. Myelin's runtimes keep every line in the
/// run's log archive as it is printed, and the Kubernetes runtime holds a run's objects (with
/// its finalizer) until the last lines are archived, so the logs are already collected: the
/// route confirms it for a run of that kind, and refuses, as Polyaxon does, a kind the run is
/// not.
async fn collect_logs(
    State(state): State<AppState>,
    Path((_namespace, owner, project, uuid, kind)): Path<(String, String, String, String, String)>,
) -> Result<Json<Json_>, AppError> {
    let uuid = run_uuid(&uuid)?;
    let run = state.store.run(&owner, &project, &uuid).await?.run;
    if run.runtime != kind && run.kind != kind {
        return Err(AppError::BadRequest(format!(
            "Run's logs were not collected, resource was not found for run {uuid}: it is a \
             `{}`, not a `{kind}`",
            run.runtime
        )));
    }
    Ok(Json(json!({})))
}

/// `V1EntityNotificationBody`.
#[derive(Debug, Deserialize)]
struct NotificationBody {
    #[serde(default)]
    condition: Option<StatusCondition>,
    #[serde(default)]
    connections: Option<Vec<String>>,
}

/// `notify_run_status`: checked as Polyaxon checks it (a condition, connections, and an agent
/// that declares them). Each connection the agent does not declare is passed over with a
/// warning, as Polyaxon does; the ones it declares are recorded in the server's log. Sending
/// through them needs the notifier components that hooks run (Slack, webhooks, …), which
/// Myelin does not bundle yet.
async fn notify(
    State(state): State<AppState>,
    Path((_namespace, owner, project, uuid)): Path<(String, String, String, String)>,
    body: Result<Json<NotificationBody>, JsonRejection>,
) -> Result<Json<Json_>, AppError> {
    let Json(body) = body?;
    let uuid = run_uuid(&uuid)?;
    state.store.run(&owner, &project, &uuid).await?;
    let Some(condition) = body.condition else {
        return Err(AppError::BadRequest(
            "Received a notification request without condition.".to_owned(),
        ));
    };
    let connections = body.connections.unwrap_or_default();
    if connections.is_empty() {
        return Err(AppError::BadRequest(
            "Received a notification request without connections.".to_owned(),
        ));
    }
    if state.agent.connections.is_empty() {
        return Err(AppError::BadRequest(
            "Received a notification request, but the agent did not declare connections."
                .to_owned(),
        ));
    }
    for name in &connections {
        match state.agent.connections.iter().find(|c| &c.name == name) {
            Some(connection) => tracing::info!(
                run = %uuid,
                status = condition.kind.as_str(),
                connection = %name,
                kind = %connection.kind,
                "a notification was asked for; Myelin has no notifier to send it through yet"
            ),
            None => tracing::warn!(
                run = %uuid,
                connection = %name,
                "a notification names a connection the agent does not declare"
            ),
        }
    }
    Ok(Json(json!({})))
}
