//! Counts for dashboards (`…/stats`), in the modes Polyaxon's UI asks for: a project's runs by
//! status now (`stats`, `realtime`), and analytics (`kind=annotations`, counted by status or as
//! progress). A run's stats are over its pipeline's children.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value as Json_, json};

use super::run_uuid;
use crate::store::StatusCounts;
use crate::{AppError, AppState, clock};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/{owner}/{project}/stats", get(project_stats))
        .route("/v1/{owner}/{project}/runs/{uuid}/stats", get(run_stats))
}

#[derive(Debug, Deserialize)]
struct StatsParams {
    mode: Option<String>,
    kind: Option<String>,
    aggregate: Option<String>,
    groupby: Option<String>,
}

/// What the request asks for.
enum Ask {
    /// Counts now.
    Now,
    /// Counts grouped by status (`analytics`, `annotations`, `count`, `status`).
    ByStatus,
    /// How many are done of how many (`analytics`, `annotations`, `progress`).
    Progress,
}

fn ask(params: &StatsParams) -> Result<Ask, AppError> {
    match params.mode.as_deref() {
        Some("stats" | "realtime") => Ok(Ask::Now),
        Some("analytics") => {
            let kind = params.kind.as_deref().unwrap_or_default();
            if kind != "annotations" {
                return Err(AppError::BadRequest(format!(
                    "Received an unsupported kind: {kind}; Myelin counts `annotations`"
                )));
            }
            match (params.aggregate.as_deref(), params.groupby.as_deref()) {
                (Some("progress"), _) => Ok(Ask::Progress),
                (Some("count"), Some("status")) => Ok(Ask::ByStatus),
                (aggregate, groupby) => Err(AppError::BadRequest(format!(
                    "Received an unsupported stats specification: {} - {}; Myelin counts \
                     `aggregate=count&groupby=status` and `aggregate=progress`",
                    aggregate.unwrap_or_default(),
                    groupby.unwrap_or_default()
                ))),
            }
        }
        Some("series") => Err(AppError::BadRequest(
            "Myelin keeps no history of stats: ask `mode=realtime` for the counts now".to_owned(),
        )),
        mode => Err(AppError::BadRequest(format!(
            "Received an unsupported mode: {}",
            mode.unwrap_or("None")
        ))),
    }
}

fn answer(ask: &Ask, counts: &StatusCounts) -> Json_ {
    let total: u64 = counts.iter().map(|(_, count)| count).sum();
    match ask {
        Ask::Now => {
            let by_status: Map<String, Json_> = counts
                .iter()
                .map(|(status, count)| (status.as_str().to_owned(), json!(count)))
                .collect();
            let now = clock::now();
            // Myelin has no accounts, and tracks no time or resources per project yet.
            json!({
                "created_at": now,
                "updated_at": now,
                "user": null,
                "run": {"count": total},
                "status": by_status,
                "tracking_time": null,
                "wait_time": null,
                "resources": null,
                "version": null,
            })
        }
        Ask::ByStatus => Json_::Array(
            counts
                .iter()
                .map(|(status, count)| json!({"status": status.as_str(), "count": count}))
                .collect(),
        ),
        Ask::Progress => {
            let done: u64 = counts
                .iter()
                .filter(|(status, _)| status.is_done())
                .map(|(_, count)| count)
                .sum();
            json!({"done": done, "count": total})
        }
    }
}

async fn project_stats(
    State(state): State<AppState>,
    Path((owner, name)): Path<(String, String)>,
    params: Result<Query<StatsParams>, QueryRejection>,
) -> Result<Json<Json_>, AppError> {
    let Query(params) = params?;
    let ask = ask(&params)?;
    let counts = state.store.status_counts(&owner, &name).await?;
    Ok(Json(answer(&ask, &counts)))
}

/// Over the run's pipeline children: Myelin's runs have none until matrices and DAGs run, so
/// every count is zero.
async fn run_stats(
    State(state): State<AppState>,
    Path((owner, project, uuid)): Path<(String, String, String)>,
    params: Result<Query<StatsParams>, QueryRejection>,
) -> Result<Json<Json_>, AppError> {
    let Query(params) = params?;
    let ask = ask(&params)?;
    let uuid = run_uuid(&uuid)?;
    state.store.run(&owner, &project, &uuid).await?;
    Ok(Json(answer(&ask, &Vec::new())))
}
