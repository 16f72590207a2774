//! The only module that talks to the server. Every call returns `shared::api` types, so the
//! browser and the server cannot disagree about a shape without the compiler noticing.

use std::fmt;

use gloo_net::http::{Request, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use shared::api::{
    ArtifactTree, DEFAULT_OWNER, ErrorBody, HEALTH_PATH, Health, ListResponse, LogBatch,
    MetricKind, MetricSummaries, OperationBody, Project, ProjectBody, ProjectVersion, Run,
    RunSelection, RunSpec, SeriesRequest, SeriesResponse, SummariesRequest,
};
use shared::hub::HubComponent;

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
    let path = format!("/api/v1/{DEFAULT_OWNER}/{project}/runs");
    get_json(&windowed(path, window)).await
}

/// A window of the runs of every project, each naming its project, with how many match in all.
pub async fn all_runs(window: &RunsWindow) -> Result<ListResponse<Run>, ApiError> {
    let path = format!("/api/v1/orgs/{DEFAULT_OWNER}/runs");
    get_json(&windowed(path, window)).await
}

/// `path` with the query asking for `window`.
fn windowed(mut path: String, window: &RunsWindow) -> String {
    path.push_str(&format!("?limit={}&offset={}", window.limit, window.offset));
    for (name, value) in [("query", &window.query), ("sort", &window.sort)] {
        if !value.trim().is_empty() {
            path.push_str(&format!("&{name}={}", percent_encode(value)));
        }
    }
    path
}

/// Stops every run listed that is still going.
pub async fn stop_runs(project: &str, uuids: &[String]) -> Result<(), ApiError> {
    let path = format!("/api/v1/{DEFAULT_OWNER}/{project}/runs/stop");
    let body = RunSelection {
        uuids: uuids.to_vec(),
        tags: None,
        project: None,
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
        project: None,
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
        project: None,
    };
    post_json::<_, serde_json::Value>(&path, &body)
        .await
        .map(|_| ())
}

/// A page of a project's versions of a kind (`component`, `model`, `artifact`).
pub async fn project_versions(
    project: &str,
    kind: &str,
) -> Result<ListResponse<ProjectVersion>, ApiError> {
    get_json(&format!(
        "/api/v1/{DEFAULT_OWNER}/{}/versions/{kind}?limit=100",
        percent_encode(project)
    ))
    .await
}

/// Every component of the hub: the bundled ones, then those the server's users registered.
pub async fn hub_components() -> Result<ListResponse<HubComponent>, ApiError> {
    get_json("/api/v1/hub").await
}

/// One component of the hub, with all its versions.
pub async fn hub_component(owner: &str, name: &str) -> Result<HubComponent, ApiError> {
    get_json(&format!(
        "/api/v1/hub/{}/{}",
        percent_encode(owner),
        percent_encode(name)
    ))
    .await
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

/// Runs an edited copy of a run: a new run of `body`, recorded as the original's copy.
pub async fn copy_run(project: &str, uuid: &str, body: &OperationBody) -> Result<Run, ApiError> {
    post_json(
        &format!("/api/v1/{DEFAULT_OWNER}/{project}/runs/{uuid}/copy"),
        body,
    )
    .await
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

/// What the run was made from, stage by stage.
pub async fn run_spec(project: &str, uuid: &str) -> Result<RunSpec, ApiError> {
    get_json(&format!(
        "/api/v1/{DEFAULT_OWNER}/{project}/runs/{uuid}/spec"
    ))
    .await
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
    let base = socket_url(&format!("/streams/v1/{}/logs/ws", run_streams_path(run)));
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

/// `text` as a URL query value (or path segment, or data URL): every byte but the unreserved
/// ones as `%XX`.
pub fn percent_encode(text: &str) -> String {
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

/// A pod of a running run and its containers, where a terminal can open.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecTarget {
    /// The pod.
    pub pod: String,
    /// One of its containers.
    pub container: String,
}

fn run_streams_path(run: &Run) -> String {
    format!(
        "{}/{}/{}/runs/{}",
        run.settings.namespace, run.owner, run.project, run.uuid
    )
}

/// Where commands can run in a running run: every container of every pod (Polyaxon's
/// `k8s_inspect`), the main container of the first pod first.
pub async fn exec_targets(run: &Run) -> Result<Vec<ExecTarget>, ApiError> {
    let inspected: serde_json::Value = get_json(&format!(
        "/streams/v1/{}/k8s_inspect",
        run_streams_path(run)
    ))
    .await?;
    let mut targets = Vec::new();
    for (pod, content) in inspected["pods"].as_object().into_iter().flatten() {
        for container in content["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let Some(name) = container["name"].as_str() {
                targets.push(ExecTarget {
                    pod: pod.clone(),
                    container: name.to_owned(),
                });
            }
        }
    }
    Ok(targets)
}

/// What an exec session reports.
#[derive(Debug, Clone, PartialEq)]
pub enum ExecEvent {
    /// The socket is open: the command runs.
    Opened,
    /// What the command printed.
    Output(Vec<u8>),
    /// The command ended, with its exit code when the server gave one, and the server's words.
    Exited {
        /// The exit code.
        code: Option<i32>,
        /// The server's message, when the command failed.
        message: Option<String>,
    },
    /// The socket closed; `opened` says whether it ever opened (a refused socket did not).
    Closed {
        /// Whether the session had started.
        opened: bool,
        /// The WebSocket close code.
        code: u16,
    },
}

/// A command running inside a run over Kubernetes' channel protocol (`v5.channel.k8s.io`), as
/// `polyaxon ops shell` runs one; it is closed when dropped.
pub struct ExecSocket {
    socket: web_sys::WebSocket,
    _handlers: [wasm_bindgen::closure::Closure<dyn FnMut(web_sys::Event)>; 3],
}

/// The channel protocol's channels: the first byte of every message.
const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const STATUS: u8 = 3;
const RESIZE: u8 = 4;

impl ExecSocket {
    /// Starts `command` on a terminal in `target` of `run`; `on_event` hears what happens.
    pub fn open(
        run: &Run,
        target: &ExecTarget,
        command: &[&str],
        on_event: impl FnMut(ExecEvent) + 'static,
    ) -> Result<Self, ApiError> {
        use wasm_bindgen::JsCast as _;
        use wasm_bindgen::closure::Closure;

        let mut path = format!(
            "/k8s/v1/{}/k8s_exec/{}/{}?stdin=true&stdout=true&stderr=true&tty=true",
            run_streams_path(run),
            percent_encode(&target.pod),
            percent_encode(&target.container)
        );
        for word in command {
            path.push_str("&command=");
            path.push_str(&percent_encode(word));
        }
        let url = socket_url(&path);
        let protocols = js_sys::Array::of1(&"v5.channel.k8s.io".into());
        let socket = web_sys::WebSocket::new_with_str_sequence(&url, &protocols)
            .map_err(|error| ApiError::Network(format!("{error:?}")))?;
        socket.set_binary_type(web_sys::BinaryType::Arraybuffer);
        let on_event = std::rc::Rc::new(std::cell::RefCell::new(on_event));
        let opened = std::rc::Rc::new(std::cell::Cell::new(false));

        let on_open = {
            let (on_event, opened) = (on_event.clone(), opened.clone());
            Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
                opened.set(true);
                (on_event.borrow_mut())(ExecEvent::Opened);
            })
        };
        let on_message = {
            let on_event = on_event.clone();
            Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
                let Some(message) = event.dyn_ref::<web_sys::MessageEvent>() else {
                    return;
                };
                let bytes = js_sys::Uint8Array::new(&message.data()).to_vec();
                let Some((&channel, data)) = bytes.split_first() else {
                    return;
                };
                let event = match channel {
                    STDOUT | STDERR => ExecEvent::Output(data.to_vec()),
                    STATUS => exit_status(data),
                    _ => return,
                };
                (on_event.borrow_mut())(event);
            })
        };
        let on_close = Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
            let code = event
                .dyn_ref::<web_sys::CloseEvent>()
                .map_or(1006, web_sys::CloseEvent::code);
            (on_event.borrow_mut())(ExecEvent::Closed {
                opened: opened.get(),
                code,
            });
        });
        socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        Ok(Self {
            socket,
            _handlers: [on_open, on_message, on_close],
        })
    }

    /// Sends what the user typed to the command.
    pub fn input(&self, text: &str) {
        self.send(STDIN, text.as_bytes());
    }

    /// Tells the command's terminal its new size.
    pub fn resize(&self, columns: u16, rows: u16) {
        let size = serde_json::json!({ "Width": columns, "Height": rows });
        self.send(RESIZE, size.to_string().as_bytes());
    }

    /// Ends the session from this side, as a client does once it has the command's status;
    /// the close is reported like any other.
    pub fn close(&self) {
        let _ = self.socket.close_with_code(1000);
    }

    fn send(&self, channel: u8, data: &[u8]) {
        if self.socket.ready_state() != web_sys::WebSocket::OPEN {
            return;
        }
        let mut message = Vec::with_capacity(data.len() + 1);
        message.push(channel);
        message.extend_from_slice(data);
        // A failed send shows as the socket's close, which the page reports.
        let _ = self.socket.send_with_u8_array(&message);
    }
}

impl Drop for ExecSocket {
    fn drop(&mut self) {
        self.socket.set_onclose(None);
        self.socket.set_onmessage(None);
        self.socket.set_onopen(None);
        let _ = self.socket.close();
    }
}

/// The exit code and message in a channel-3 status (`metav1.Status`): `Success` is 0; a
/// failure carries the code as the `ExitCode` cause.
fn exit_status(data: &[u8]) -> ExecEvent {
    let status: serde_json::Value = serde_json::from_slice(data).unwrap_or_default();
    if status["status"] == "Success" {
        return ExecEvent::Exited {
            code: Some(0),
            message: None,
        };
    }
    let code = status["details"]["causes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|cause| cause["reason"] == "ExitCode")
        .and_then(|cause| cause["message"].as_str()?.parse().ok());
    ExecEvent::Exited {
        code,
        message: status["message"].as_str().map(str::to_owned),
    }
}

/// A path on this server as a WebSocket URL (`ws:` or `wss:` as the page is served).
fn socket_url(path: &str) -> String {
    let location = web_location();
    let (scheme, rest) = match location.split_once("//") {
        Some((scheme, rest)) => (scheme, rest),
        None => ("http:", location.as_str()),
    };
    let host = rest.split('/').next().unwrap_or_default();
    let socket_scheme = if scheme == "https:" { "wss" } else { "ws" };
    format!("{socket_scheme}://{host}{path}")
}

/// A folder of a run's artifacts (`""` for the top).
pub async fn artifact_tree(run: &Run, path: &str) -> Result<ArtifactTree, ApiError> {
    get_json(&format!(
        "/streams/v1/{}/artifacts/tree?path={}",
        run_streams_path(run),
        percent_encode(path)
    ))
    .await
}

/// Where a run's artifact file is served: to show, or (`download`) to save.
pub fn artifact_url(run: &Run, path: &str, download: bool) -> String {
    format!(
        "/streams/v1/{}/artifact?path={}{}",
        run_streams_path(run),
        percent_encode(path),
        if download { "&download=true" } else { "" }
    )
}

/// A run's artifact file as text.
pub async fn artifact_text(run: &Run, path: &str) -> Result<String, ApiError> {
    let response = Request::get(&artifact_url(run, path, false))
        .send()
        .await
        .map_err(|error| ApiError::Network(error.to_string()))?;
    if !response.ok() {
        return decode::<serde_json::Value>(response)
            .await
            .map(|_| String::new());
    }
    response
        .text()
        .await
        .map_err(|error| ApiError::Network(error.to_string()))
}

/// The runs with these uuids, of any project (at most [`compare_view::MAX_RUNS`]), in no
/// particular order.
///
/// [`compare_view::MAX_RUNS`]: frontend::compare_view::MAX_RUNS
pub async fn runs_by_uuid(uuids: &[String]) -> Result<Vec<Run>, ApiError> {
    if uuids.is_empty() {
        return Ok(Vec::new());
    }
    let query = format!("uuid:{}", uuids.join("|"));
    let path = format!(
        "/api/v1/orgs/{DEFAULT_OWNER}/runs?limit={}&query={}",
        uuids.len(),
        percent_encode(&query)
    );
    get_json::<ListResponse<Run>>(&path)
        .await
        .map(|list| list.results)
}

/// Runs' metric series, cut down on the server to the buckets a chart draws; asked for in
/// the binary layout, whose columns are copied where JSON's numbers would be parsed one by one.
pub async fn series(request: &SeriesRequest) -> Result<SeriesResponse, ApiError> {
    let response = Request::post("/api/v1/series")
        .header("Accept", shared::api::SERIES_BINARY)
        .json(request)
        .map_err(|error| ApiError::Network(error.to_string()))?
        .send()
        .await
        .map_err(|error| ApiError::Network(error.to_string()))?;
    if !response.ok() {
        return decode(response).await;
    }
    let bytes = response
        .binary()
        .await
        .map_err(|error| ApiError::Network(error.to_string()))?;
    shared::api::decode_series(&bytes).map_err(|error| ApiError::Network(error.to_string()))
}

/// What the runs' metrics come to: their names, and each run's last, min and max of each.
pub async fn metric_summaries(runs: &[String]) -> Result<MetricSummaries, ApiError> {
    let request = SummariesRequest {
        runs: runs.to_vec(),
        kind: MetricKind::Metric,
    };
    post_json("/api/v1/series/summaries", &request).await
}
