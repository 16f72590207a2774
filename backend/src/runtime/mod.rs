//! What executes runs. Every runtime implements [`Runtime`]; the server does not know which one
//! it drives. `process` (the embedded default) runs a job's main container as a process on this
//! machine; `kubernetes` submits native resources to a cluster and watches them.
//!
//! A runtime reports what happens through its [`Reporter`]: status conditions go to the store
//! (whose lifecycle rules decide what is recorded; one the store cannot take yet waits, in
//! order, until it can) and printed lines to the runs' artifacts.

pub mod channel;
pub mod kubernetes;
pub mod process;
pub mod pty;
pub mod queue;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, Response};
use serde_json::Value as Json;
use shared::api::{Status, StatusCondition};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

use crate::artifacts::Artifacts;
use crate::clock;
use crate::store::{Store, StoreError, Transition};

/// A run handed to a runtime: who it is and what to execute.
#[derive(Debug, Clone)]
pub struct Execution {
    /// The run's uuid.
    pub uuid: String,
    /// Its kind (`job`, `service`, …).
    pub kind: String,
    /// The compiled operation.
    pub compiled: Json,
    /// The Polyaxon custom resource it converts to, which holds the containers to run.
    pub resource: Json,
    /// The status the run was in, when the server picks it up after a restart.
    pub status: Status,
    /// Who the run is, for the compiler: the fields Polyaxon leaves as templates in a
    /// distributed run's resource are rendered with it when the native objects are made.
    pub context: shared::RunContext,
}

impl Execution {
    /// A stored run as the runtime takes it up, with the context it was compiled in; `None`
    /// for one the server did not compile (a client's own run), which the runtime has nothing
    /// to execute for.
    pub fn of(stored: crate::store::StoredRun, context: shared::RunContext) -> Option<Self> {
        Some(Self {
            uuid: stored.run.uuid,
            kind: stored.run.kind,
            compiled: stored.compiled?,
            resource: stored.resource?,
            status: stored.run.status,
            context,
        })
    }

    /// The native objects that run it, the owner first.
    pub fn native(&self) -> Result<Vec<Json>, String> {
        shared::convert::native::expand_run(&self.resource, &self.compiled, &self.context)
    }
}

/// Where in a run a command goes (the run's first pod and main container when not said), and
/// whether it runs on a terminal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecTarget {
    /// The pod.
    pub pod: Option<String>,
    /// The container.
    pub container: Option<String>,
    /// Whether the command gets a terminal of its own, as `polyaxon ops shell` and the browser's
    /// terminal ask (`tty=true`): it then sees a terminal on its input and output, its errors
    /// come with its output, Ctrl-C interrupts it and it can be resized.
    pub tty: bool,
}

/// A terminal's size in characters, as clients send it on the exec protocol's resize channel
/// (`{"Width":120,"Height":40}`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TerminalSize {
    /// Columns.
    pub width: u16,
    /// Rows.
    pub height: u16,
}

/// A pod of a running run, with its containers' names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodContainers {
    /// The pod's name.
    pub pod: String,
    /// Its containers' names.
    pub containers: Vec<String>,
}

/// A command started inside a run, and its streams.
pub struct ExecSession {
    /// What the command reads; dropping it closes its input. On a terminal it is what is typed,
    /// and the input ends only when the whole session is dropped (the terminal hangs up).
    pub stdin: Box<dyn AsyncWrite + Send + Unpin>,
    /// What it prints.
    pub stdout: Box<dyn AsyncRead + Send + Unpin>,
    /// What it prints as errors; nothing on a terminal, where errors come with the output.
    pub stderr: Box<dyn AsyncRead + Send + Unpin>,
    /// Changes the size of the command's terminal; `None` when it has none.
    pub resize: Option<Box<dyn FnMut(TerminalSize) + Send>>,
    /// Its exit code once it ends (`None` when a signal ended it).
    pub exit: tokio::task::JoinHandle<Option<i32>>,
}

impl ExecSession {
    /// The session of a local `child` whose stdin, stdout and stderr are piped (`None` when one
    /// is not).
    pub fn piped(mut child: tokio::process::Child) -> Option<Self> {
        let (stdin, stdout, stderr) = (
            child.stdin.take()?,
            child.stdout.take()?,
            child.stderr.take()?,
        );
        Some(Self {
            stdin: Box::new(stdin),
            stdout: Box::new(stdout),
            stderr: Box::new(stderr),
            resize: None,
            exit: tokio::spawn(async move { child.wait().await.ok().and_then(|exit| exit.code()) }),
        })
    }
}

impl std::fmt::Debug for ExecSession {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ExecSession")
            .finish_non_exhaustive()
    }
}

/// What can go wrong when asking a runtime to do something.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The runtime is not executing this run (for `exec`: it is not running).
    #[error("the run is not running")]
    NotActive,
    /// The runtime itself failed.
    #[error("{0}")]
    Failed(String),
}

/// Why a run is stopped: what its `stopping` and `stopped` statuses say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopCause {
    /// Someone asked: a page, the API, the CLI.
    Asked,
    /// Its service carried no traffic for this long (`termination.culling.timeout`).
    Idle(Duration),
}

impl StopCause {
    /// The statuses' reason: the runtime's own name for a stop someone asked for.
    pub fn reason(self, runtime: &'static str) -> &'static str {
        match self {
            Self::Asked => runtime,
            Self::Idle(_) => "IdleTimeout",
        }
    }

    /// What the `stopping` status says.
    pub fn stopping(self) -> String {
        match self {
            Self::Asked => "Run is stopping".to_owned(),
            Self::Idle(timeout) => format!(
                "Run is stopping: its service carried no traffic for {} (termination.culling.timeout)",
                spoken(timeout)
            ),
        }
    }

    /// What the `stopped` status says.
    pub fn stopped(self) -> String {
        match self {
            Self::Asked => "Run was stopped".to_owned(),
            Self::Idle(timeout) => format!(
                "Run was stopped: its service carried no traffic for {} (termination.culling.timeout)",
                spoken(timeout)
            ),
        }
    }
}

/// A duration as people write it: `90 s`, `5 min`, `2 h`.
fn spoken(duration: Duration) -> String {
    match duration.as_secs() {
        seconds if seconds >= 3600 && seconds % 3600 == 0 => format!("{} h", seconds / 3600),
        seconds if seconds >= 60 && seconds % 60 == 0 => format!("{} min", seconds / 60),
        seconds => format!("{seconds} s"),
    }
}

/// Executes runs.
#[async_trait]
pub trait Runtime: Send + Sync + 'static {
    /// The runtime's name, as runs record it (`process`).
    fn name(&self) -> &'static str;

    /// Whether this runtime can execute a run of `kind`; the error says why not and what to do.
    fn supports(&self, kind: &str) -> Result<(), String>;

    /// The ports a service declaring `declared` listens on when this runtime runs it. Pods have
    /// a network of their own, so by default they are the declared ones.
    fn service_ports(&self, declared: &[u16]) -> Vec<u16> {
        declared.to_vec()
    }

    /// Takes a run to execute and returns once it is accepted (queued); what follows is reported
    /// through the runtime's [`Reporter`].
    async fn submit(&self, execution: Execution) -> Result<(), RuntimeError>;

    /// Stops a run this runtime is executing or holds in its queue; its `stopping` and
    /// `stopped` statuses say why.
    async fn stop(&self, uuid: &str, cause: StopCause) -> Result<(), RuntimeError>;

    /// The pods of a running run and their containers, among which `polyaxon ops shell` and
    /// the browser's terminal choose. Refused with [`RuntimeError::NotActive`] when the run is
    /// not running.
    async fn inspect(&self, uuid: &str) -> Result<Vec<PodContainers>, RuntimeError>;

    /// Starts `command` inside a running run (its working folder, its environment, its process
    /// group or pod), in `target` (the run's main container by default) and on a terminal when
    /// `target` asks for one, as `polyaxon ops exec` and `ops shell` and the browser's terminal
    /// do. The command ends with the run. Refused with [`RuntimeError::NotActive`] when the run
    /// is not running.
    async fn exec(
        &self,
        uuid: &str,
        target: &ExecTarget,
        command: Vec<String>,
    ) -> Result<ExecSession, RuntimeError>;

    /// Sends `request` (whose URI is the path and query the service is to see) to `port` of a
    /// running service run, and returns the service's answer: how the browser reaches
    /// notebooks, dashboards and editors. Refused with [`RuntimeError::NotActive`] when the run
    /// is not running or does not listen on `port`.
    async fn proxy(
        &self,
        uuid: &str,
        port: u16,
        request: Request<Body>,
    ) -> Result<Response<Body>, RuntimeError>;

    /// Removes what the runtime keeps of a run that is deleted (its folders, its resources).
    async fn clean(&self, uuid: &str) -> Result<(), RuntimeError>;

    /// Picks up a run that was active when the server stopped: it goes on if the runtime can
    /// reattach to it or had not started it yet, and otherwise ends with a reason.
    async fn recover(&self, execution: Execution) -> Result<(), RuntimeError>;
}

/// Headers that concern one connection, not the request: a proxy does not pass them on. The
/// caller's credentials stay with Myelin too.
pub const NOT_FORWARDED: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "authorization",
];

/// Whether a request asks to switch protocols (a WebSocket, say): then `connection` and
/// `upgrade` go on with it, and the proxy joins the two connections once both switched.
pub fn is_upgrade(headers: &axum::http::HeaderMap) -> bool {
    let connection = headers
        .get_all(axum::http::header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| {
            value
                .split(',')
                .any(|token| token.trim().eq_ignore_ascii_case("upgrade"))
        });
    connection && headers.contains_key(axum::http::header::UPGRADE)
}

/// The headers a switch of protocols keeps, among those a proxy does not pass on.
const UPGRADE_HEADERS: &[&str] = &["connection", "upgrade"];

/// `request` readdressed to `base` followed by its own path and query, without the headers a
/// proxy does not pass on.
pub fn forward_to(request: Request<Body>, base: &str) -> Result<Request<Body>, RuntimeError> {
    let (mut parts, body) = request.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |path| path.as_str());
    parts.uri = format!("{base}{path}")
        .parse()
        .map_err(|error| RuntimeError::Failed(format!("cannot proxy to {path}: {error}")))?;
    let upgrade = is_upgrade(&parts.headers);
    for header in NOT_FORWARDED {
        if !(upgrade && UPGRADE_HEADERS.contains(header)) {
            parts.headers.remove(*header);
        }
    }
    if upgrade {
        parts.headers.insert(
            axum::http::header::CONNECTION,
            axum::http::HeaderValue::from_static("upgrade"),
        );
    }
    Ok(Request::from_parts(parts, body))
}

/// A service's answer as the proxy passes it on: its status, headers and streamed body, but not
/// what concerned its own connection (its HTTP version, `connection`, `transfer-encoding`, …).
pub fn forwarded<B>(response: Response<B>) -> Response<Body>
where
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    let (parts, body) = response.into_parts();
    let switched = parts.status == axum::http::StatusCode::SWITCHING_PROTOCOLS;
    let mut answer = Response::new(Body::new(body));
    *answer.status_mut() = parts.status;
    for (name, value) in &parts.headers {
        let kept = switched && UPGRADE_HEADERS.contains(&name.as_str());
        if kept || !NOT_FORWARDED.contains(&name.as_str()) {
            answer.headers_mut().append(name, value.clone());
        }
    }
    // The service's side of a switched connection travels with the answer.
    *answer.extensions_mut() = parts.extensions;
    answer
}

/// Where runtimes report statuses and logs.
///
/// A status the store cannot take (its disk is full, say) is not dropped: it is kept in memory
/// and written as soon as the store can take it, retried with a growing wait. The run's later
/// statuses wait behind it, so the store sees every run's statuses in the order they happened.
#[derive(Clone)]
pub struct Reporter {
    store: Arc<dyn Store>,
    artifacts: Artifacts,
    kept: Arc<Kept>,
}

/// What became of a reported status.
#[derive(Debug, Clone, PartialEq)]
pub enum Reported {
    /// The store took it: it recorded it, or its lifecycle refused it.
    Written(Transition),
    /// The store cannot take it now: it is kept, in order with the run's later statuses, and
    /// written as soon as the store can take it.
    Kept,
    /// The run is not in the store any more (it was deleted): there is nothing to record.
    Gone,
}

/// The wait before the first retry of a kept status, and the longest wait between retries.
const FIRST_RETRY: Duration = Duration::from_millis(200);
const LAST_RETRY: Duration = Duration::from_secs(5);

/// Statuses the store could not take yet.
struct Kept {
    /// Held while statuses are written, so none overtakes one of the same run being written.
    writing: tokio::sync::Mutex<()>,
    runs: Mutex<KeptRuns>,
    /// Told each time kept statuses are written.
    written: watch::Sender<()>,
}

#[derive(Default)]
struct KeptRuns {
    /// Per run, its kept statuses, oldest first; a run is here only while it has some.
    queues: HashMap<String, VecDeque<StatusCondition>>,
    /// Whether a task is retrying them.
    retrying: bool,
}

impl Kept {
    fn runs(&self) -> MutexGuard<'_, KeptRuns> {
        self.runs.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for Reporter {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Reporter")
            .field("artifacts", &self.artifacts)
            .finish_non_exhaustive()
    }
}

impl Reporter {
    /// Reports to `store` and to the runs' `artifacts`.
    pub fn new(store: Arc<dyn Store>, artifacts: Artifacts) -> Self {
        Self {
            store,
            artifacts,
            kept: Arc::new(Kept {
                writing: tokio::sync::Mutex::new(()),
                runs: Mutex::default(),
                written: watch::Sender::new(()),
            }),
        }
    }

    /// Records that run `uuid` is now in `status`, or keeps it to be recorded as soon as the
    /// store can take it; says which.
    pub async fn status(
        &self,
        uuid: &str,
        status: Status,
        reason: &str,
        message: impl Into<String>,
    ) -> Reported {
        let message = message.into();
        let _writing = self.kept.writing.lock().await;
        // Stamped once its turn has come, so a run's statuses are stamped in the order written.
        let condition = StatusCondition::new(status, reason, message, clock::now());
        if let Some(queue) = self.kept.runs().queues.get_mut(uuid) {
            queue.push_back(condition);
            return Reported::Kept;
        }
        match self
            .store
            .add_condition(uuid, condition.clone(), false)
            .await
        {
            Ok(transition) => Reported::Written(transition),
            Err(StoreError::NotFound(_)) => Reported::Gone,
            Err(error) => {
                tracing::error!(
                    %error,
                    uuid,
                    ?status,
                    "cannot record a run's status yet; it is kept and written once the store can take it"
                );
                let mut runs = self.kept.runs();
                runs.queues
                    .entry(uuid.to_owned())
                    .or_default()
                    .push_back(condition);
                if !runs.retrying {
                    runs.retrying = true;
                    tokio::spawn(write_kept(Arc::clone(&self.store), Arc::clone(&self.kept)));
                }
                Reported::Kept
            }
        }
    }

    /// Waits until no status of run `uuid` is kept: every one reported is in the store.
    pub async fn recorded(&self, uuid: &str) {
        let mut written = self.kept.written.subscribe();
        while self.kept.runs().queues.contains_key(uuid) {
            // The sender lives as long as `self`, so this never ends the loop by closing.
            let _ = written.changed().await;
        }
    }

    /// Where runs' logs and artifacts go.
    pub fn artifacts(&self) -> &Artifacts {
        &self.artifacts
    }
}

/// Writes kept statuses, each run's oldest first, until none is left; after a round that
/// wrote none, it waits twice as long (up to [`LAST_RETRY`]) before the next.
async fn write_kept(store: Arc<dyn Store>, kept: Arc<Kept>) {
    let mut wait = FIRST_RETRY;
    loop {
        tokio::time::sleep(wait).await;
        let _writing = kept.writing.lock().await;
        let uuids: Vec<String> = kept.runs().queues.keys().cloned().collect();
        let mut wrote = false;
        for uuid in uuids {
            loop {
                let oldest = kept
                    .runs()
                    .queues
                    .get(&uuid)
                    .and_then(|queue| queue.front().cloned());
                let Some(condition) = oldest else { break };
                let status = condition.kind;
                match store.add_condition(&uuid, condition, false).await {
                    Ok(_) => {
                        tracing::info!(uuid, ?status, "a kept status is recorded");
                    }
                    Err(StoreError::NotFound(_)) => {
                        // Deleted meanwhile: none of its statuses has anywhere to go.
                        kept.runs().queues.remove(&uuid);
                        break;
                    }
                    Err(error) => {
                        tracing::debug!(%error, uuid, ?status, "a kept status still cannot be recorded");
                        break;
                    }
                }
                wrote = true;
                let mut runs = kept.runs();
                if let Some(queue) = runs.queues.get_mut(&uuid) {
                    queue.pop_front();
                    if queue.is_empty() {
                        runs.queues.remove(&uuid);
                    }
                }
            }
        }
        if wrote {
            kept.written.send_replace(());
        }
        let mut runs = kept.runs();
        if runs.queues.is_empty() {
            runs.retrying = false;
            return;
        }
        wait = if wrote {
            FIRST_RETRY
        } else {
            (wait * 2).min(LAST_RETRY)
        };
    }
}
