//! The only module that talks to the server. Every call returns `shared::api` types, so the
//! browser and the server cannot disagree about a shape without the compiler noticing.

use std::fmt;

use gloo_net::http::{Request, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use shared::api::{
    DEFAULT_OWNER, ErrorBody, HEALTH_PATH, Health, ListResponse, LogBatch, OperationBody, Project,
    ProjectBody, Run, RunSelection,
};

/// Why a call to the server failed.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// The server could not be reached, or its answer could not be read.
    Network(String),
    /// The server answered with an error status.
    Status {
        /// The HTTP status code.
        code: u16,
        /// The server's explanation.
        message: String,
        /// The problems it found in a submitted Polyaxonfile, at their lines and columns.
        diagnostics: Vec<shared::Diagnostic>,
    },
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Network(reason) => write!(f, "cannot reach the server: {reason}"),
            ApiError::Status { code, message, .. } => {
                write!(f, "the server answered {code}: {message}")
            }
        }
    }
}

/// What the server says about itself: its version and the Polyaxon version it follows.
pub async fn health() -> Result<Health, ApiError> {
    get_json(HEALTH_PATH).await
}

/// The team's projects, newest first.
pub async fn projects() -> Result<ListResponse<Project>, ApiError> {
    get_json(&format!("/api/v1/{DEFAULT_OWNER}/projects/list?limit=1000")).await
}

/// Creates a project.
pub async fn create_project(body: &ProjectBody) -> Result<Project, ApiError> {
    post_json(&format!("/api/v1/{DEFAULT_OWNER}/projects/create"), body).await
}

/// Which of a project's runs to read: a PQL `query` and a `sort` (both may be empty: all
/// runs, newest first) and the window of rows.
#[derive(Debug, Clone, PartialEq)]
pub struct RunsWindow {
    /// A PQL filter, e.g. `status:failed`.
    pub query: String,
    /// The order, e.g. `-created_at,name`.
    pub sort: String,
    /// The first row.
    pub offset: usize,
    /// How many rows.
    pub limit: usize,
}

/// A window of a project's runs, with how many match in all.
pub async fn runs(project: &str, window: &RunsWindow) -> Result<ListResponse<Run>, ApiError> {
    let mut path = format!(
        "/api/v1/{DEFAULT_OWNER}/{project}/runs?limit={}&offset={}",
        window.limit, window.offset
    );
    for (name, value) in [("query", &window.query), ("sort", &window.sort)] {
        if !value.trim().is_empty() {
            path.push_str(&format!("&{name}={}", percent_encode(value)));
        }
    }
    get_json(&path).await
}

/// Stops every run listed that is still going.
pub async fn stop_runs(project: &str, uuids: &[String]) -> Result<(), ApiError> {
    let path = format!("/api/v1/{DEFAULT_OWNER}/{project}/runs/stop");
    let body = RunSelection {
        uuids: uuids.to_vec(),
        tags: None,
    };
    post_json::<_, serde_json::Value>(&path, &body)
        .await
        .map(|_| ())
}

/// Deletes every run listed, with their logs and artifacts.
pub async fn delete_runs(project: &str, uuids: &[String]) -> Result<(), ApiError> {
    let body = RunSelection {
        uuids: uuids.to_vec(),
        tags: None,
    };
    let request = Request::delete(&format!("/api/v1/{DEFAULT_OWNER}/{project}/runs/delete"))
        .json(&body)
        .map_err(|error| ApiError::Network(error.to_string()))?;
    expect_empty(request).await
}

/// Adds `tags` to every run listed.
pub async fn tag_runs(project: &str, uuids: &[String], tags: &[String]) -> Result<(), ApiError> {
    let path = format!("/api/v1/{DEFAULT_OWNER}/{project}/runs/tag");
    let body = RunSelection {
        uuids: uuids.to_vec(),
        tags: Some(tags.to_vec()),
    };
    post_json::<_, serde_json::Value>(&path, &body)
        .await
        .map(|_| ())
}

/// Whether this browser may use the API: the server has no token, or the browser signed in.
pub async fn signed_in() -> Result<bool, ApiError> {
    match get_json::<serde_json::Value>("/api/v1/installation").await {
        Ok(_) => Ok(true),
        Err(ApiError::Status { code: 401, .. }) => Ok(false),
        Err(error) => Err(error),
    }
}

/// Signs this browser in with the server's token; the server keeps it in a cookie that page
/// scripts cannot read.
pub async fn sign_in(token: &str) -> Result<(), ApiError> {
    let request = Request::post("/api/v1/session")
        .json(&serde_json::json!({ "token": token }))
        .map_err(|error| ApiError::Network(error.to_string()))?;
    expect_empty(request).await
}

/// Submits a run of a Polyaxonfile to `project`; the server compiles it again, with the same
/// compiler, and refuses it with every problem it finds.
pub async fn submit_run(project: &str, body: &OperationBody) -> Result<Run, ApiError> {
    post_json(&format!("/api/v1/{DEFAULT_OWNER}/{project}/runs"), body).await
}

/// The agent configuration the server compiles runs for (namespace, artifacts store,
/// connections), so previews in the browser compile the same.
pub async fn agent() -> Result<serde_json::Value, ApiError> {
    get_json("/api/v1/compiler/agent").await
}

/// Stops a run.
pub async fn stop_run(project: &str, uuid: &str) -> Result<(), ApiError> {
    let path = format!("/api/v1/{DEFAULT_OWNER}/{project}/runs/{uuid}/stop");
    post_json::<_, serde_json::Value>(&path, &serde_json::json!({}))
        .await
        .map(|_| ())
}

/// Runs a run's operation again, as a new run.
pub async fn restart_run(project: &str, uuid: &str) -> Result<Run, ApiError> {
    let path = format!("/api/v1/{DEFAULT_OWNER}/{project}/runs/{uuid}/restart");
    post_json(&path, &serde_json::json!({})).await
}

/// Deletes a run, its logs and artifacts.
pub async fn delete_run(project: &str, uuid: &str) -> Result<(), ApiError> {
    let path = format!("/api/v1/{DEFAULT_OWNER}/{project}/runs/{uuid}");
    let request = Request::delete(&path)
        .build()
        .map_err(|error| ApiError::Network(error.to_string()))?;
    expect_empty(request).await
}

/// One run.
pub async fn run(project: &str, uuid: &str) -> Result<Run, ApiError> {
    get_json(&format!("/api/v1/{DEFAULT_OWNER}/{project}/runs/{uuid}")).await
}

/// A subscription to a project's run changes; it ends when dropped.
pub struct RunWatch {
    source: web_sys::EventSource,
    _on_event: wasm_bindgen::closure::Closure<dyn FnMut(web_sys::Event)>,
}

impl Drop for RunWatch {
    fn drop(&mut self) {
        self.source.close();
    }
}

/// Calls `on_change` with the run's uuid whenever a run of `project` is created, changes
/// status, is changed or deleted, and with `None` when changes may have been missed: when the
/// stream opens or reopens (the browser reconnects by itself after a drop), or when the server
/// says so.
pub fn watch_runs(
    project: &str,
    on_change: impl FnMut(Option<String>) + 'static,
) -> Result<RunWatch, ApiError> {
    use wasm_bindgen::JsCast as _;

    // The namespace segment is Polyaxon's; the server reads the project from the rest.
    let url = format!("/streams/v1/default/{DEFAULT_OWNER}/{project}/runs/events");
    let source =
        web_sys::EventSource::new(&url).map_err(|error| ApiError::Network(format!("{error:?}")))?;
    let mut on_change = on_change;
    let on_event = wasm_bindgen::closure::Closure::<dyn FnMut(web_sys::Event)>::new(
        move |event: web_sys::Event| {
            let uuid = event
                .dyn_ref::<web_sys::MessageEvent>()
                .and_then(|message| message.data().as_string())
                .and_then(|data| serde_json::from_str::<serde_json::Value>(&data).ok())
                .and_then(|change| change.get("uuid")?.as_str().map(str::to_owned));
            on_change(uuid);
        },
    );
    // `open` (each connection, reconnections included) counts as missed changes: what changed
    // before the stream was there is read again.
    for kind in ["run", "resync", "open"] {
        source
            .add_event_listener_with_callback(kind, on_event.as_ref().unchecked_ref())
            .map_err(|error| ApiError::Network(format!("{error:?}")))?;
    }
    Ok(RunWatch {
        source,
        _on_event: on_event,
    })
}

/// Follows a run's logs from the start: `on_batch` gets each batch as the server sends it,
/// history first, then live lines, the last one with the run's final status. A dropped
/// connection is opened again at the cursor of the last batch, so nothing is lost or repeated.
/// Resolves when the stream ends, or fails after a few reconnections that brought nothing.
pub async fn follow_logs(run: &Run, mut on_batch: impl FnMut(LogBatch)) -> Result<(), ApiError> {
    let location = web_location();
    let scheme = if location.starts_with("https:") {
        "wss"
    } else {
        "ws"
    };
    let host = location
        .split_once("//")
        .map(|(_, rest)| rest.split('/').next().unwrap_or_default())
        .unwrap_or_default();
    let base = format!(
        "{scheme}://{host}/streams/v1/{}/{}/{}/runs/{}/logs/ws",
        run.settings.namespace, run.owner, run.project, run.uuid
    );
    let mut cursor = String::new();
    let mut fruitless = 0;
    loop {
        let url = if cursor.is_empty() {
            base.clone()
        } else {
            format!("{base}?cursor={}", percent_encode(&cursor))
        };
        let before = cursor.clone();
        let ended = stream_logs(&url, &mut cursor, &mut on_batch).await;
        if let Ok(true) = ended {
            return Ok(());
        }
        fruitless = if cursor == before { fruitless + 1 } else { 0 };
        if fruitless > RECONNECTS {
            return Err(ended.err().unwrap_or_else(|| {
                ApiError::Network("the log stream keeps closing without new lines".to_owned())
            }));
        }
    }
}

/// How many times in a row a log stream is opened again without getting anything.
const RECONNECTS: u32 = 5;

/// Reads one connection of a log stream; whether the stream reached its end.
async fn stream_logs(
    url: &str,
    cursor: &mut String,
    on_batch: &mut impl FnMut(LogBatch),
) -> Result<bool, ApiError> {
    use futures_util::StreamExt as _;
    use gloo_net::websocket::Message;
    use gloo_net::websocket::futures::WebSocket;

    let mut socket = WebSocket::open(url).map_err(|error| ApiError::Network(error.to_string()))?;
    while let Some(message) = socket.next().await {
        let text = match message {
            Ok(Message::Text(text)) => text,
            Ok(Message::Bytes(_)) => continue,
            Err(error) => return Err(ApiError::Network(error.to_string())),
        };
        let batch: LogBatch =
            serde_json::from_str(&text).map_err(|error| ApiError::Network(error.to_string()))?;
        cursor.clone_from(&batch.cursor);
        let done = batch.done.is_some();
        on_batch(batch);
        if done {
            return Ok(true);
        }
    }
    Ok(false)
}

fn web_location() -> String {
    leptos::prelude::window()
        .location()
        .href()
        .unwrap_or_default()
}

/// `text` as a URL query value: every byte but the unreserved ones as `%XX`.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(byte).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

async fn post_json<B: Serialize, T: DeserializeOwned>(path: &str, body: &B) -> Result<T, ApiError> {
    let response = Request::post(path)
        .json(body)
        .map_err(|error| ApiError::Network(error.to_string()))?
        .send()
        .await
        .map_err(|error| ApiError::Network(error.to_string()))?;
    decode(response).await
}

/// Sends a request whose success has no body (`204`).
async fn expect_empty(request: Request) -> Result<(), ApiError> {
    let response = request
        .send()
        .await
        .map_err(|error| ApiError::Network(error.to_string()))?;
    if response.ok() {
        Ok(())
    } else {
        decode::<serde_json::Value>(response).await.map(|_| ())
    }
}

async fn get_json<T: DeserializeOwned>(path: &str) -> Result<T, ApiError> {
    let response = Request::get(path)
        .send()
        .await
        .map_err(|error| ApiError::Network(error.to_string()))?;
    decode(response).await
}

async fn decode<T: DeserializeOwned>(response: Response) -> Result<T, ApiError> {
    if response.ok() {
        return response
            .json()
            .await
            .map_err(|error| ApiError::Network(error.to_string()));
    }
    let code = response.status();
    // An error from our own API carries an ErrorBody; anything else (a proxy's HTML page, say)
    // is reported by its status text.
    let (message, diagnostics) = match response.json::<ErrorBody>().await {
        Ok(body) => (body.message, body.diagnostics),
        Err(_) => (response.status_text(), Vec::new()),
    };
    Err(ApiError::Status {
        code,
        message,
        diagnostics,
    })
}
