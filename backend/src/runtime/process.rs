//! The embedded runtime: a run's main container executes as a process group on this machine.
//!
//! There are no images: `command` and `args` run with the host's programs, in the run's working
//! folder, with the container's environment plus what Polyaxon's agent sets (`POLYAXON_HOST`,
//! `POLYAXON_RUN_INSTANCE`, …) and `POLYAXON_CONTEXT_ROOT` pointing at the server's context
//! folder, so paths under `/plx-context` (artifacts, outputs) land there and the tracking client
//! writes the run's metrics next to its logs. At most `max_concurrent` runs execute at once; the
//! rest wait in a queue.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::Value as Json;
use shared::api::Status;
use tokio::io::{AsyncBufReadExt as _, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::Instant;

use super::{Execution, Reporter, Runtime, RuntimeError};
use crate::artifacts::Captured;

/// The kinds this runtime executes: the ones made of one pod.
const KINDS: &[&str] = &["job", "service"];

/// Where the process runtime keeps things, and how much it runs at once.
#[derive(Debug, Clone)]
pub struct ProcessConfig {
    /// What `/plx-context` becomes: runs' artifacts go to `{context_root}/artifacts/{uuid}`.
    pub context_root: PathBuf,
    /// Runs without a `workingDir` get `{work_root}/{uuid}`.
    pub work_root: PathBuf,
    /// Where the process group of each executing run is written down, so a restarted server
    /// can stop what an earlier one left behind.
    pub state_dir: PathBuf,
    /// How many runs execute at once.
    pub max_concurrent: usize,
    /// The token runs use to reach the API, when the API requires one.
    pub token: Option<String>,
    /// How long a stopped run gets to exit after SIGTERM before SIGKILL.
    pub stop_grace: Duration,
    /// The wait before the first retry of a failed run; it doubles with each retry, up to six
    /// minutes, as Kubernetes Jobs back off (there, 10 s).
    pub retry_backoff: Duration,
    /// The machine's name, shown as the node of each log line.
    pub node: String,
}

/// The process runtime.
#[derive(Debug, Clone)]
pub struct ProcessRuntime {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: ProcessConfig,
    reporter: Reporter,
    slots: Semaphore,
    /// The runs queued or executing, each with the switch that stops it.
    active: Mutex<HashMap<String, watch::Sender<bool>>>,
}

impl ProcessRuntime {
    /// A runtime that reports through `reporter`.
    pub fn new(config: ProcessConfig, reporter: Reporter) -> Self {
        let slots = Semaphore::new(config.max_concurrent.max(1));
        Self {
            inner: Arc::new(Inner {
                config,
                reporter,
                slots,
                active: Mutex::new(HashMap::new()),
            }),
        }
    }
}

impl Inner {
    fn active(&self) -> std::sync::MutexGuard<'_, HashMap<String, watch::Sender<bool>>> {
        self.active
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn pid_file(&self, uuid: &str) -> PathBuf {
        self.config.state_dir.join(format!("{uuid}.pgid"))
    }

    async fn report(&self, uuid: &str, status: Status, reason: &str, message: impl Into<String>) {
        // A refused or failed report is logged by the reporter; the run goes on regardless.
        let _ = self.reporter.status(uuid, status, reason, message).await;
    }
}

#[async_trait]
impl Runtime for ProcessRuntime {
    fn name(&self) -> &'static str {
        "process"
    }

    fn supports(&self, kind: &str) -> Result<(), String> {
        if KINDS.contains(&kind) {
            Ok(())
        } else {
            Err(format!(
                "the process runtime executes jobs and services on this machine; a `{kind}` \
                 needs several pods: run it with the Kubernetes runtime"
            ))
        }
    }

    async fn submit(&self, execution: Execution) -> Result<(), RuntimeError> {
        let (stop, stopped) = watch::channel(false);
        self.inner.active().insert(execution.uuid.clone(), stop);
        let inner = Arc::clone(&self.inner);
        match Plan::of(&execution, &inner.config) {
            Ok(plan) => {
                inner
                    .report(
                        &execution.uuid,
                        Status::Queued,
                        "ProcessRuntime",
                        "Run is queued",
                    )
                    .await;
                tokio::spawn(async move {
                    let uuid = execution.uuid.clone();
                    execute(&inner, &uuid, plan, stopped).await;
                    inner.active().remove(&uuid);
                });
            }
            Err(why) => {
                inner.active().remove(&execution.uuid);
                inner
                    .report(&execution.uuid, Status::Failed, "InvalidSpec", why)
                    .await;
            }
        }
        Ok(())
    }

    async fn stop(&self, uuid: &str) -> Result<(), RuntimeError> {
        let sent = self
            .inner
            .active()
            .get(uuid)
            .is_some_and(|stop| stop.send(true).is_ok());
        if !sent {
            return Err(RuntimeError::NotActive);
        }
        self.inner
            .report(uuid, Status::Stopping, "ProcessRuntime", "Run is stopping")
            .await;
        Ok(())
    }

    async fn recover(&self, execution: Execution) -> Result<(), RuntimeError> {
        if matches!(
            execution.status,
            Status::Created | Status::Compiled | Status::Queued
        ) {
            // Nothing of it ran yet: it simply goes back in the queue.
            return self.submit(execution).await;
        }
        let pid_file = self.inner.pid_file(&execution.uuid);
        if let Some(group) = read_group(&pid_file) {
            // The old server's pipes are gone; what is left of the process cannot report.
            let _ = killpg(group, Signal::SIGKILL);
        }
        let _ = std::fs::remove_file(&pid_file);
        let status = if execution.status == Status::Stopping {
            (
                Status::Stopped,
                "the run was stopping when Myelin restarted",
            )
        } else {
            (
                Status::Failed,
                "Myelin stopped while the run was executing; its process was ended and the run \
                 cannot be resumed: restart it",
            )
        };
        self.inner
            .report(&execution.uuid, status.0, "ServerRestarted", status.1)
            .await;
        Ok(())
    }
}

/// How a run executes, read from its resource.
#[derive(Debug, Clone)]
struct Plan {
    program: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    working_dir: PathBuf,
    artifacts_dir: PathBuf,
    pod: String,
    max_retries: u32,
    timeout: Option<Duration>,
}

impl Plan {
    fn of(execution: &Execution, config: &ProcessConfig) -> Result<Plan, String> {
        let template = execution
            .resource
            .as_object()
            .into_iter()
            .flat_map(|resource| resource.values())
            .find_map(|spec| spec.get("template"))
            .ok_or("the run's resource has no pod template")?;
        let pod_spec = template.get("spec").unwrap_or(&Json::Null);
        let main = pod_spec
            .get("containers")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .find(|container| {
                container.get("name").and_then(Json::as_str)
                    == Some(shared::convert::MAIN_CONTAINER)
            })
            .ok_or("the run has no main container")?;
        let context = config.context_root.to_string_lossy().into_owned();
        let relocate = |text: &str| text.replace("/plx-context", &context);
        let strings = |key: &str| -> Vec<String> {
            main.get(key)
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
                .filter_map(Json::as_str)
                .map(relocate)
                .collect()
        };
        let mut command = strings("command");
        command.extend(strings("args"));
        if command.is_empty() {
            return Err(
                "the main container has no `command` or `args`: the process runtime runs \
                        them with this machine's programs (container images are not used)"
                    .to_owned(),
            );
        }
        let program = command.remove(0);
        let metadata = template.get("metadata").unwrap_or(&Json::Null);
        let text =
            |value: Option<&Json>| value.and_then(Json::as_str).unwrap_or_default().to_owned();
        let pod = text(metadata.get("name"));
        let namespace = text(metadata.get("namespace"));
        let mut env = Vec::new();
        for variable in main
            .get("env")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            let Some(name) = variable.get("name").and_then(Json::as_str) else {
                continue;
            };
            let field = variable
                .pointer("/valueFrom/fieldRef/fieldPath")
                .and_then(Json::as_str);
            let value = match (variable.get("value").and_then(Json::as_str), field) {
                (Some(value), _) => relocate(value),
                (None, Some("spec.nodeName")) => config.node.clone(),
                (None, Some("metadata.namespace")) => namespace.clone(),
                (None, Some("metadata.name")) => pod.clone(),
                // Secrets and config maps live in a cluster; there is nothing to read here.
                _ => continue,
            };
            env.push((name.to_owned(), value));
        }
        env.push((
            "POLYAXON_CONTEXT_ROOT".to_owned(),
            config.context_root.to_string_lossy().into_owned(),
        ));
        if let Some(token) = &config.token {
            env.push(("POLYAXON_AUTH_TOKEN".to_owned(), token.clone()));
        }
        let working_dir = main
            .get("workingDir")
            .and_then(Json::as_str)
            .map(|dir| PathBuf::from(relocate(dir)))
            .unwrap_or_else(|| config.work_root.join(&execution.uuid));
        let termination = execution.compiled.get("termination");
        let number = |key: &str| termination.and_then(|t| t.get(key)).and_then(Json::as_u64);
        Ok(Plan {
            program,
            args: command,
            env,
            working_dir,
            artifacts_dir: config.context_root.join("artifacts").join(&execution.uuid),
            pod,
            max_retries: number("maxRetries").unwrap_or(0) as u32,
            timeout: number("timeout").map(Duration::from_secs),
        })
    }
}

/// How one attempt ended.
enum Outcome {
    Succeeded,
    Failed {
        reason: &'static str,
        message: String,
    },
    Stopped,
    TimedOut,
}

async fn execute(inner: &Inner, uuid: &str, plan: Plan, mut stop: watch::Receiver<bool>) {
    let _slot = tokio::select! {
        slot = inner.slots.acquire() => slot.expect("the semaphore is never closed"),
        () = stopped(&mut stop) => {
            inner.report(uuid, Status::Stopped, "ProcessRuntime", "Run was stopped while queued").await;
            return;
        }
    };
    inner
        .report(
            uuid,
            Status::Scheduled,
            "ProcessRuntime",
            "Run is scheduled",
        )
        .await;
    let logs = match inner
        .reporter
        .artifacts()
        .log_writer(uuid, &plan.pod, &inner.config.node)
    {
        Ok(logs) => logs,
        Err(error) => {
            let message = format!("cannot write the run's logs: {error}");
            inner
                .report(uuid, Status::Failed, "LogsUnavailable", message)
                .await;
            return;
        }
    };
    let deadline = plan.timeout.map(|timeout| Instant::now() + timeout);
    let mut attempt = 0;
    let (status, reason, message) = loop {
        let outcome = attempt_once(inner, uuid, &plan, &logs.sender(), &mut stop, deadline).await;
        break match outcome {
            Outcome::Succeeded => (
                Status::Succeeded,
                "ProcessRuntime",
                "Run has succeeded".to_owned(),
            ),
            Outcome::Failed { reason, message } if attempt < plan.max_retries => {
                attempt += 1;
                let message = format!("{message}; retry {attempt} of {} follows", plan.max_retries);
                inner.report(uuid, Status::Retrying, reason, message).await;
                let backoff = (inner.config.retry_backoff * (1 << (attempt - 1).min(6)))
                    .min(Duration::from_secs(360));
                tokio::select! {
                    () = tokio::time::sleep(backoff) => continue,
                    () = stopped(&mut stop) => (Status::Stopped, "ProcessRuntime", "Run was stopped".to_owned()),
                }
            }
            Outcome::Failed { reason, message } => (Status::Failed, reason, message),
            Outcome::Stopped => (
                Status::Stopped,
                "ProcessRuntime",
                "Run was stopped".to_owned(),
            ),
            Outcome::TimedOut => (
                Status::Failed,
                "DeadlineExceeded",
                format!(
                    "the run did not finish within its timeout of {} s",
                    plan.timeout.unwrap_or_default().as_secs()
                ),
            ),
        };
    };
    // Clients stop reading logs once the run has ended: its last lines must be in first.
    logs.close().await;
    inner.report(uuid, status, reason, message).await;
}

/// Resolves once the run is asked to stop (or its switch is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

async fn attempt_once(
    inner: &Inner,
    uuid: &str,
    plan: &Plan,
    logs: &mpsc::Sender<Captured>,
    stop: &mut watch::Receiver<bool>,
    deadline: Option<Instant>,
) -> Outcome {
    inner
        .report(uuid, Status::Starting, "ProcessRuntime", "Run is starting")
        .await;
    for folder in [
        &plan.working_dir,
        &plan.artifacts_dir,
        &inner.config.state_dir,
    ] {
        if let Err(error) = std::fs::create_dir_all(folder) {
            return Outcome::Failed {
                reason: "WorkingDirUnavailable",
                message: format!("cannot create {}: {error}", folder.display()),
            };
        }
    }
    let mut command = Command::new(&plan.program);
    command
        .args(&plan.args)
        .current_dir(&plan.working_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    // The run sees the server's environment, as a process started from its shell would, less
    // the server's own settings (its token above all), plus the container's.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("MYELIN_") {
            command.env_remove(name);
        }
    }
    command.envs(plan.env.iter().map(|(name, value)| (name, value)));
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(error) => {
            return Outcome::Failed {
                reason: "CommandNotStarted",
                message: format!("cannot start `{}`: {error}", plan.program),
            };
        }
    };
    let group = child.id().map(|id| Pid::from_raw(id as i32));
    let pid_file = inner.pid_file(uuid);
    if let Some(group) = group {
        let _ = std::fs::write(&pid_file, group.as_raw().to_string());
    }
    inner
        .report(uuid, Status::Running, "ProcessRuntime", "Run is running")
        .await;
    let readers = [
        child.stdout.take().map(|out| forward(out, logs.clone())),
        child.stderr.take().map(|err| forward(err, logs.clone())),
    ];
    let outcome = supervise(
        &mut child,
        group,
        stop,
        deadline,
        inner.config.stop_grace,
        plan,
    )
    .await;
    // Whatever the main process left running in its group goes with it, as a pod's containers
    // go when the pod ends; then the pipes close and the readers finish.
    if let Some(group) = group {
        let _ = killpg(group, Signal::SIGKILL);
    }
    for reader in readers.into_iter().flatten() {
        let _ = reader.await;
    }
    let _ = std::fs::remove_file(&pid_file);
    outcome
}

async fn supervise(
    child: &mut Child,
    group: Option<Pid>,
    stop: &mut watch::Receiver<bool>,
    deadline: Option<Instant>,
    grace: Duration,
    plan: &Plan,
) -> Outcome {
    let timeout = async {
        match deadline {
            Some(deadline) => tokio::time::sleep_until(deadline).await,
            None => std::future::pending().await,
        }
    };
    let ended = tokio::select! {
        status = child.wait() => Ok(status),
        () = stopped(stop) => Err(Outcome::Stopped),
        () = timeout => Err(Outcome::TimedOut),
    };
    match ended {
        Ok(Ok(status)) if status.success() => Outcome::Succeeded,
        Ok(Ok(status)) => Outcome::Failed {
            reason: "Error",
            message: describe_exit(&plan.program, status),
        },
        Ok(Err(error)) => Outcome::Failed {
            reason: "Error",
            message: format!("cannot wait for `{}`: {error}", plan.program),
        },
        Err(outcome) => {
            terminate(child, group, grace).await;
            outcome
        }
    }
}

/// SIGTERM to the whole group, then SIGKILL if the main process is still there after `grace`.
async fn terminate(child: &mut Child, group: Option<Pid>, grace: Duration) {
    if let Some(group) = group {
        let _ = killpg(group, Signal::SIGTERM);
    }
    if tokio::time::timeout(grace, child.wait()).await.is_err() {
        if let Some(group) = group {
            let _ = killpg(group, Signal::SIGKILL);
        }
        let _ = child.wait().await;
    }
}

fn describe_exit(program: &str, status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt as _;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("`{program}` exited with code {code}"),
        (None, Some(signal)) => {
            let name = Signal::try_from(signal)
                .map(|signal| signal.as_str().to_owned())
                .unwrap_or_else(|_| signal.to_string());
            format!("`{program}` was killed by {name}")
        }
        (None, None) => format!("`{program}` ended without an exit code"),
    }
}

/// Sends every line read from `output` to the log writer, as the main container's.
fn forward(
    output: impl AsyncRead + Unpin + Send + 'static,
    logs: mpsc::Sender<Captured>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut reader = BufReader::new(output);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&line);
                    let value = text.trim_end_matches(['\n', '\r']).to_owned();
                    let captured = Captured {
                        container: shared::convert::MAIN_CONTAINER.to_owned(),
                        value,
                    };
                    if logs.send(captured).await.is_err() {
                        return;
                    }
                }
            }
        }
    })
}

fn read_group(pid_file: &Path) -> Option<Pid> {
    let text = std::fs::read_to_string(pid_file).ok()?;
    text.trim().parse().ok().map(Pid::from_raw)
}
