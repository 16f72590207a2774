//! Polyaxon's event routes under `/streams/v1`: a run's event series (`RunClient.get_events`,
//! `get_metrics`), several runs' at once (`get_multi_run_events`) and a run's system resources,
//! answered as Polyaxon's streams service answers, from the files `crate::metrics` reads; and
//! the importance of runs' inputs to a metric (`get_multi_run_importance`), computed by
//! `shared::importance`.

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value as Json_, json};
use shared::api::MAX_SERIES_RUNS;

use super::run_uuid;
use crate::metrics::{EventOrient, MAX_NAMES_PER_RUN, check_name};
use crate::{AppError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/{namespace}/{owner}/{project}/runs/{uuid}/events/{kind}",
            get(events),
        )
        .route(
            "/v1/{namespace}/{owner}/{project}/runs/{uuid}/resources",
            get(resources),
        )
        .route(
            "/v1/{namespace}/{owner}/{project}/runs/multi/events/{kind}",
            get(multi_events),
        )
        .route(
            "/v1/{namespace}/{owner}/{project}/runs/multi/importance",
            post(importance),
        )
}

/// The trees' seed: the same request always gets the same answer.
const IMPORTANCE_SEED: u64 = 0x1337_5EED;

/// `POST …/runs/multi/importance`: `{"params": [{input: value}, …], "metrics": [number, …]}`,
/// one entry per run, answered `{"data": {column: {"importance", "correlation"}}}`, a text
/// input's values one-hot as `name_value`. A body that is not that, or that cannot be weighed
/// (fewer than two runs, a metric that is not a number), is answered `{"data": null}`, as
/// Polyaxon's streams service answers it.
async fn importance(body: Bytes) -> Result<Json<Json_>, AppError> {
    #[derive(Deserialize)]
    struct Request {
        params: Vec<serde_json::Map<String, Json_>>,
        metrics: Vec<Json_>,
    }
    let Ok(request) = serde_json::from_slice::<Request>(&body) else {
        return Ok(Json(json!({"data": null})));
    };
    let weights = tokio::task::spawn_blocking(move || {
        shared::importance::importance(&request.params, &request.metrics, IMPORTANCE_SEED)
    })
    .await
    .map_err(|error| AppError::Internal(error.to_string()))?;
    let data = weights.map(|weights| {
        weights
            .into_iter()
            .map(|(name, weight)| {
                let value =
                    json!({"importance": weight.importance, "correlation": weight.correlation});
                (name, value)
            })
            .collect::<serde_json::Map<_, _>>()
    });
    Ok(Json(json!({ "data": data })))
}

/// traceml's artifact kinds, which events are filed under.
const EVENT_KINDS: &[&str] = &[
    "model",
    "audio",
    "video",
    "histogram",
    "image",
    "tensor",
    "dataframe",
    "chart",
    "csv",
    "tsv",
    "psv",
    "ssv",
    "metric",
    "env",
    "html",
    "text",
    "file",
    "dir",
    "dockerfile",
    "docker_image",
    "data",
    "coderef",
    "table",
    "tensorboard",
    "curve",
    "confusion",
    "analysis",
    "iteration",
    "markdown",
    "system",
    "artifact",
    "span",
];

#[derive(Debug, Deserialize)]
struct EventsParams {
    names: Option<String>,
    runs: Option<String>,
    orient: Option<String>,
    sample: Option<usize>,
}

impl EventsParams {
    /// The names asked for: a run's at most, each a path below the kind's folder.
    fn names(&self, required: bool) -> Result<Vec<String>, AppError> {
        let names = split_list("names", self.names.as_deref(), MAX_NAMES_PER_RUN)?;
        if required && names.is_empty() {
            return Err(AppError::BadRequest(
                "`names` lists the events to read, separated by commas".to_owned(),
            ));
        }
        for name in &names {
            check_name(name).map_err(|why| AppError::BadRequest(format!("`names`: {why}")))?;
        }
        Ok(names)
    }

    fn orient(&self) -> Result<EventOrient, AppError> {
        match self.orient.as_deref() {
            None | Some("dict") => Ok(EventOrient::Dict),
            Some("csv") => Ok(EventOrient::Csv),
            Some(other) => Err(AppError::BadRequest(format!(
                "`orient` is `dict` or `csv`, not `{other}`"
            ))),
        }
    }
}

/// The items of a comma-separated `parameter`, each once, in their first order; at most `max`.
fn split_list(parameter: &str, text: Option<&str>, max: usize) -> Result<Vec<String>, AppError> {
    let mut items: Vec<String> = Vec::new();
    for item in text.unwrap_or_default().split(',').map(str::trim) {
        if !item.is_empty() && !items.iter().any(|known| known == item) {
            if items.len() == max {
                return Err(AppError::BadRequest(format!(
                    "`{parameter}` lists more than {max} items"
                )));
            }
            items.push(item.to_owned());
        }
    }
    Ok(items)
}

fn event_kind(kind: &str) -> Result<(), AppError> {
    if EVENT_KINDS.contains(&kind) {
        Ok(())
    } else {
        Err(AppError::BadRequest(format!(
            "`{kind}` is not a kind of event; the kinds are {}",
            EVENT_KINDS.join(", ")
        )))
    }
}

/// A run's event series (`RunClient.get_events`, `get_metrics`): `{"data": [{name, kind, data}]}`.
async fn events(
    State(state): State<AppState>,
    Path((_namespace, owner, project, uuid, kind)): Path<(String, String, String, String, String)>,
    params: Result<Query<EventsParams>, QueryRejection>,
) -> Result<Json<Json_>, AppError> {
    let Query(params) = params?;
    event_kind(&kind)?;
    let uuid = run_uuid(&uuid)?;
    state.store.run(&owner, &project, &uuid).await?;
    let data = state
        .metrics
        .events(
            &uuid,
            &kind,
            &params.names(true)?,
            params.orient()?,
            params.sample,
        )
        .await
        .map_err(read_failed)?;
    Ok(Json(json!({"data": data})))
}

/// A run's system metrics (CPU, memory, …), as events of kind `system`.
async fn resources(
    State(state): State<AppState>,
    Path((_namespace, owner, project, uuid)): Path<(String, String, String, String)>,
    params: Result<Query<EventsParams>, QueryRejection>,
) -> Result<Json<Json_>, AppError> {
    let Query(params) = params?;
    let uuid = run_uuid(&uuid)?;
    state.store.run(&owner, &project, &uuid).await?;
    let mut names = params.names(false)?;
    if names.is_empty() {
        // Every resource the run recorded.
        names = state
            .metrics
            .names(&uuid, "system")
            .await
            .map_err(read_failed)?;
    }
    let data = state
        .metrics
        .events(&uuid, "system", &names, params.orient()?, params.sample)
        .await
        .map_err(read_failed)?;
    Ok(Json(json!({"data": data})))
}

/// Several runs' event series at once, for comparing them: `{"data": {uuid: [...]}}`.
async fn multi_events(
    State(state): State<AppState>,
    Path((_namespace, owner, project, kind)): Path<(String, String, String, String)>,
    params: Result<Query<EventsParams>, QueryRejection>,
) -> Result<Json<Json_>, AppError> {
    let Query(params) = params?;
    event_kind(&kind)?;
    let runs = split_list("runs", params.runs.as_deref(), MAX_SERIES_RUNS)?;
    if runs.is_empty() {
        return Err(AppError::BadRequest(
            "`runs` lists the runs to read, separated by commas".to_owned(),
        ));
    }
    let names = params.names(true)?;
    let orient = params.orient()?;
    let mut data = serde_json::Map::new();
    for uuid in runs {
        let uuid = run_uuid(&uuid)?;
        state.store.run(&owner, &project, &uuid).await?;
        let events = state
            .metrics
            .events(&uuid, &kind, &names, orient, params.sample)
            .await
            .map_err(read_failed)?;
        data.insert(uuid, Json_::Array(events));
    }
    Ok(Json(json!({"data": data})))
}

fn read_failed(error: std::io::Error) -> AppError {
    AppError::Internal(format!("cannot read the run's events: {error}"))
}
