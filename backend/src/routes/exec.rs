//! Commands in running runs, at Polyaxon's addresses: `/streams/v1/{namespace}/{owner}/{project}/
//! runs/{uuid}/k8s_inspect` lists the run's pods and containers, and the WebSocket
//! `/k8s/v1/…/runs/{uuid}/k8s_exec/{pod}/{container}?command=…&tty=…` runs a command there
//! over Kubernetes' channel protocol, as `polyaxon ops exec` and `ops shell` expect: `command`
//! once per word, and `tty=true` (`ops shell`) for a terminal, which the client then resizes on
//! channel 4. `stdin`, `stdout` and `stderr` are always open. The runtime carries the command:
//! a process in the run's group or on a terminal of its own, or the pod's exec.

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Map, Value as Json, json};

use crate::runtime::{ExecTarget, RuntimeError, channel};
use crate::{AppError, AppState};

pub fn inspect_routes() -> Router<AppState> {
    Router::new().route(
        "/v1/{namespace}/{owner}/{project}/runs/{uuid}/k8s_inspect",
        get(inspect),
    )
}

pub fn exec_routes() -> Router<AppState> {
    Router::new().route(
        "/v1/{namespace}/{owner}/{project}/runs/{uuid}/k8s_exec/{pod}/{container}",
        get(exec),
    )
}

#[derive(Debug, Deserialize)]
struct RunPath {
    owner: String,
    project: String,
    uuid: String,
    pod: Option<String>,
    container: Option<String>,
}

fn not_running(error: RuntimeError, uuid: &str) -> AppError {
    match error {
        RuntimeError::NotActive => AppError::Conflict(format!(
            "run {uuid} is not running: commands run only inside a running run"
        )),
        RuntimeError::Failed(message) => AppError::BadGateway(message),
    }
}

/// The run's pods, in the shape the CLI reads (`pods.NAME.spec.containers[].name`).
async fn inspect(
    State(state): State<AppState>,
    Path(path): Path<RunPath>,
) -> Result<axum::Json<Json>, AppError> {
    let stored = state
        .store
        .run(&path.owner, &path.project, &path.uuid)
        .await?;
    // An ended run has no pods left to open a terminal in; Polyaxon answers what it archived
    // of them, and Myelin keeps their logs but not their specs.
    if stored.run.status.is_done() {
        return Ok(axum::Json(json!({"pods": {}, "services": {}})));
    }
    let pods = state
        .runtime
        .inspect(&path.uuid)
        .await
        .map_err(|error| not_running(error, &path.uuid))?;
    let pods: Map<String, Json> = pods
        .into_iter()
        .map(|pod| {
            let containers: Vec<Json> = pod
                .containers
                .iter()
                .map(|name| json!({"name": name}))
                .collect();
            let content = json!({
                "metadata": {"name": pod.pod},
                "spec": {"containers": containers},
                "status": {"phase": "Running"},
            });
            (pod.pod, content)
        })
        .collect();
    Ok(axum::Json(json!({"pods": pods})))
}

async fn exec(
    State(state): State<AppState>,
    Path(path): Path<RunPath>,
    RawQuery(query): RawQuery,
    uri: Uri,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Result<Response, AppError> {
    // A page of another site may not open a shell here with the visitor's credentials. The
    // app's guard checks every socket so already; this route must not depend on being behind it.
    crate::guard::same_origin(&headers, &uri)?;
    state
        .store
        .run(&path.owner, &path.project, &path.uuid)
        .await?;
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query.as_deref().unwrap_or_default())
            .map_err(|error| AppError::BadRequest(format!("unreadable query: {error}")))?;
    let command: Vec<String> = pairs
        .iter()
        .filter(|(key, _)| key == "command")
        .map(|(_, value)| value.clone())
        .collect();
    if command.is_empty() {
        return Err(AppError::BadRequest(
            "no `command` to run: give it as `command=…`, once per word".to_owned(),
        ));
    }
    let tty = match pairs.iter().rev().find(|(key, _)| key == "tty") {
        Some((_, value)) => query_bool(value).ok_or_else(|| {
            AppError::BadRequest(format!("`tty={value}` is neither true nor false"))
        })?,
        None => false,
    };
    let target = ExecTarget {
        pod: path.pod.clone(),
        container: path.container.clone(),
        tty,
    };
    let session = state
        .runtime
        .exec(&path.uuid, &target, command)
        .await
        .map_err(|error| not_running(error, &path.uuid))?;
    Ok(upgrade
        .protocols(channel::PROTOCOLS)
        .on_upgrade(move |socket| channel::serve(socket, session)))
}

/// A boolean of the query as Kubernetes' API server reads it (Go's `strconv.ParseBool`): kube-rs
/// sends `true`, Polyaxon's Python client `True`.
fn query_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}
