//! The embedded runtime: a run's main container executes as a process group on this machine.
//!
//! There are no images: `command` and `args` run with the host's programs, in the run's working
//! folder, with the container's environment plus what Polyaxon's agent sets (`POLYAXON_HOST`,
//! `POLYAXON_RUN_INSTANCE`, …) and `POLYAXON_CONTEXT_ROOT` pointing at the server's context
//! folder, so paths under `/plx-context` (artifacts, outputs) land there and the tracking client
//! writes the run's metrics next to its logs. At most `max_concurrent` runs execute at once; the
//! rest wait in a queue.
//!
//! A command exec'd into a running run starts in its folder with its environment and joins its
//! process group; one that asks for a terminal leads a session of its own on a pseudo-terminal
//! ([`super::pty`]) instead, and is killed when the attempt ends.

mod init;
mod launch;
mod plan;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use launch::{Ending, Exit, Launched, RunFolder};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use plan::Plan;
use shared::api::Status;
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;

use super::{
    ExecSession, ExecTarget, Execution, PodContainers, Reported, Reporter, Runtime, RuntimeError,
    StopCause, pty,
};
use crate::artifacts::{LogCut, LogWriter, is_disk_full};

/// The kinds this runtime executes: the ones made of one pod.
const KINDS: &[&str] = &["job", "service"];
/// The reason of the statuses this runtime gives.
const REASON: &str = "ProcessRuntime";

/// Where the process runtime keeps things, and how much it runs at once.
#[derive(Debug, Clone)]
pub struct ProcessConfig {
    /// Each run's own folder is `{runs_root}/{uuid}`: its `/plx-context` (`context/`) and,
    /// unless its container names a `workingDir`, its working folder (`work/`).
    pub runs_root: PathBuf,
    /// The artifacts store on this machine: a run's artifacts are `{artifacts_root}/{uuid}`.
    pub artifacts_root: PathBuf,
    /// Where pods mount the artifacts store (`/artifacts-store`), read as `artifacts_root`.
    pub store_mount: Option<String>,
    /// Where each executing run's process group, raw output and exit code are kept, so a
    /// restarted server can take up what an earlier one started.
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
    /// Reaches services' ports on this machine.
    http: Client<HttpConnector, Body>,
    reporter: Reporter,
    slots: Semaphore,
    /// The runs queued or executing, each with the switch that stops it.
    active: Mutex<HashMap<String, watch::Sender<Option<StopCause>>>>,
    /// The runs whose process runs, with where `exec` starts commands.
    running: Mutex<HashMap<String, Running>>,
}

impl ProcessRuntime {
    /// A runtime that reports through `reporter`.
    pub fn new(config: ProcessConfig, reporter: Reporter) -> Self {
        let slots = Semaphore::new(config.max_concurrent.max(1));
        Self {
            inner: Arc::new(Inner {
                config,
                http: Client::builder(TokioExecutor::new()).build_http(),
                reporter,
                slots,
                active: Mutex::new(HashMap::new()),
                running: Mutex::new(HashMap::new()),
            }),
        }
    }
}

/// A run whose process runs: its plan, its process group, and what says when the attempt is
/// over (commands on a terminal lead sessions of their own, outside the group, and are ended
/// then).
#[derive(Debug, Clone)]
struct Running {
    plan: Arc<Plan>,
    group: Pid,
    ended: watch::Receiver<bool>,
}

impl Inner {
    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<String, Running>> {
        self.running
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn active(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, watch::Sender<Option<StopCause>>>> {
        self.active
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn folder(&self, uuid: &str) -> RunFolder {
        RunFolder::new(&self.config.state_dir, uuid)
    }

    /// Reports a status; one the store cannot take yet is kept by the reporter and written
    /// later, so the run goes on regardless.
    async fn report(
        &self,
        uuid: &str,
        status: Status,
        reason: &str,
        message: impl Into<String>,
    ) -> Reported {
        self.reporter.status(uuid, status, reason, message).await
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

    /// Services share this machine's network: a declared port another process holds is
    /// replaced by a free one.
    fn service_ports(&self, declared: &[u16]) -> Vec<u16> {
        let mut given: Vec<u16> = Vec::new();
        for &port in declared {
            let free = |port: u16| {
                std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() && !given.contains(&port)
            };
            let chosen = if free(port) {
                port
            } else {
                std::net::TcpListener::bind(("127.0.0.1", 0))
                    .and_then(|listener| listener.local_addr())
                    .map_or(port, |address| address.port())
            };
            given.push(chosen);
        }
        given
    }

    async fn submit(&self, execution: Execution) -> Result<(), RuntimeError> {
        let (stop, stopped) = watch::channel(None);
        self.inner.active().insert(execution.uuid.clone(), stop);
        let inner = Arc::clone(&self.inner);
        match Plan::of(&execution, &inner.config) {
            Ok(plan) => {
                inner
                    .report(&execution.uuid, Status::Queued, REASON, "Run is queued")
                    .await;
                tokio::spawn(async move {
                    execute(&inner, &execution.uuid, plan, stopped).await;
                    inner.active().remove(&execution.uuid);
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

    async fn stop(&self, uuid: &str, cause: StopCause) -> Result<(), RuntimeError> {
        if !self.inner.active().contains_key(uuid) {
            return Err(RuntimeError::NotActive);
        }
        // Recorded before the run is told, so `stopped` cannot come first.
        self.inner
            .report(
                uuid,
                Status::Stopping,
                cause.reason(REASON),
                cause.stopping(),
            )
            .await;
        let sent = self
            .inner
            .active()
            .get(uuid)
            .is_some_and(|stop| stop.send(Some(cause)).is_ok());
        if sent {
            Ok(())
        } else {
            Err(RuntimeError::NotActive)
        }
    }

    async fn inspect(&self, uuid: &str) -> Result<Vec<PodContainers>, RuntimeError> {
        let running = self.inner.running();
        let running = running.get(uuid).ok_or(RuntimeError::NotActive)?;
        Ok(vec![PodContainers {
            pod: running.plan.pod.clone(),
            containers: vec![shared::convert::MAIN_CONTAINER.to_owned()],
        }])
    }

    /// A run here is one process group: every pod and container of a target is it.
    async fn exec(
        &self,
        uuid: &str,
        target: &ExecTarget,
        command: Vec<String>,
    ) -> Result<ExecSession, RuntimeError> {
        let running = self
            .inner
            .running()
            .get(uuid)
            .cloned()
            .ok_or(RuntimeError::NotActive)?;
        let (program, args) = command
            .split_first()
            .ok_or_else(|| RuntimeError::Failed("there is no command to execute".to_owned()))?;
        let not_started =
            |error| RuntimeError::Failed(format!("cannot start `{program}`: {error}"));
        let prepare = |process: &mut tokio::process::Command| {
            launch::set_environment(process, &running.plan.env);
            process.current_dir(&running.plan.working_dir);
        };
        if target.tty {
            let mut ended = running.ended.clone();
            let ended = async move {
                let _ = ended.wait_for(|ended| *ended).await;
            };
            return pty::exec(&command, prepare, ended).map_err(not_started);
        }
        let mut process = tokio::process::Command::new(program);
        prepare(&mut process);
        let child = process
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            // In the run's group, so stopping the run ends it too.
            .process_group(running.group.as_raw())
            .kill_on_drop(true)
            .spawn()
            .map_err(not_started)?;
        ExecSession::piped(child)
            .ok_or_else(|| RuntimeError::Failed("the command has no pipes".to_owned()))
    }

    async fn proxy(
        &self,
        uuid: &str,
        port: u16,
        request: Request<Body>,
    ) -> Result<Response<Body>, RuntimeError> {
        let listens = self
            .inner
            .running()
            .get(uuid)
            .is_some_and(|running| running.plan.ports.contains(&port));
        if !listens {
            return Err(RuntimeError::NotActive);
        }
        let request = super::forward_to(request, &format!("http://127.0.0.1:{port}"))?;
        let response = self.inner.http.request(request).await.map_err(|error| {
            RuntimeError::Failed(format!(
                "the service on port {port} did not answer: {error}"
            ))
        })?;
        Ok(super::forwarded(response))
    }

    async fn clean(&self, uuid: &str) -> Result<(), RuntimeError> {
        match tokio::fs::remove_dir_all(self.inner.config.runs_root.join(uuid)).await {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(
                RuntimeError::Failed(format!("cannot remove the run's folder: {error}")),
            ),
            _ => Ok(()),
        }
    }

    async fn recover(&self, execution: Execution) -> Result<(), RuntimeError> {
        if matches!(
            execution.status,
            Status::Created | Status::Compiled | Status::Queued
        ) {
            // Nothing of it ran yet: it simply goes back in the queue.
            return self.submit(execution).await;
        }
        let inner = Arc::clone(&self.inner);
        let uuid = execution.uuid.clone();
        let folder = inner.folder(&uuid);
        let plan = match Plan::of(&execution, &inner.config) {
            Ok(plan) => plan,
            Err(why) => {
                inner
                    .report(&uuid, Status::Failed, "InvalidSpec", why)
                    .await;
                folder.remove();
                return Ok(());
            }
        };
        if let Some(ending) = folder.ending() {
            // An earlier server knew how the run ended but stopped before the store took it.
            record(&inner, &uuid, ending).await;
            return Ok(());
        }
        let Some(group) = folder.group() else {
            // Scheduled, it had not reached `starting` (recorded before anything is launched):
            // with no process, output or exit of it, nothing ran, so it goes back in the queue.
            let never_started = execution.status == Status::Scheduled
                && folder.exit_code().is_none()
                && !inner.reporter.artifacts().has_logs(&uuid);
            if never_started {
                return self.submit(execution).await;
            }
            record(&inner, &uuid, unattached(&inner, &uuid, &plan, &folder)).await;
            return Ok(());
        };
        let writer =
            match inner
                .reporter
                .artifacts()
                .log_writer(&uuid, &plan.pod, &inner.config.node)
            {
                Ok(writer) => writer,
                Err(error) => {
                    // Its output could not be kept: it is not left running unseen.
                    let _ = nix::sys::signal::killpg(group, Signal::SIGKILL);
                    let ending = logs_unavailable(&inner, &error);
                    record(&inner, &uuid, ending).await;
                    return Ok(());
                }
            };
        let Some(launched) = launch::reattach(&folder, &writer.sender()) else {
            writer.close().await;
            record(&inner, &uuid, unattached(&inner, &uuid, &plan, &folder)).await;
            return Ok(());
        };
        let (stop, mut stopped) = watch::channel(None);
        inner.active().insert(uuid.clone(), stop);
        if execution.status == Status::Stopping {
            let _ = inner
                .active()
                .get(&uuid)
                .map(|stop| stop.send(Some(StopCause::Asked)));
        }
        tokio::spawn(async move {
            let deadline = plan.timeout.map(|timeout| Instant::now() + timeout);
            let outcome = supervise(
                &inner,
                &uuid,
                launched,
                &plan,
                &writer,
                &mut stopped,
                deadline,
            )
            .await;
            finish(&inner, &uuid, &plan, writer, outcome).await;
            inner.active().remove(&uuid);
        });
        Ok(())
    }
}

/// How a run that was active when the server stopped ended, when no process of it can be
/// taken up: what its folder and its logs tell, and no more.
fn unattached(inner: &Inner, uuid: &str, plan: &Plan, folder: &RunFolder) -> Ending {
    if let Some(code) = folder.exit_code() {
        return exited(&plan.program, Exit::Code(code));
    }
    if folder.group().is_some() || inner.reporter.artifacts().has_logs(uuid) {
        return Ending {
            status: Status::Failed,
            reason: "ExitNotRecorded".to_owned(),
            message: "the run's process ran but its exit status was not recorded (Myelin \
                      stopped, or the disk was full); its output is kept"
                .to_owned(),
        };
    }
    Ending {
        status: Status::Failed,
        reason: "ServerRestarted".to_owned(),
        message: "Myelin stopped before the run's process started; restart the run".to_owned(),
    }
}

/// Reports how a run that this server does not execute ended, and forgets its process once the
/// store has it.
async fn record(inner: &Arc<Inner>, uuid: &str, ending: Ending) {
    let folder = inner.folder(uuid);
    let reported = inner
        .report(uuid, ending.status, &ending.reason, ending.message)
        .await;
    forget_when_recorded(inner, uuid, folder, &reported);
}

/// Removes a run's process folder once its final status is in the store: until then, it tells
/// a restarted server how the run ended.
fn forget_when_recorded(inner: &Arc<Inner>, uuid: &str, folder: RunFolder, reported: &Reported) {
    if *reported == Reported::Kept {
        let (inner, uuid) = (Arc::clone(inner), uuid.to_owned());
        tokio::spawn(async move {
            inner.reporter.recorded(&uuid).await;
            folder.remove();
        });
    } else {
        folder.remove();
    }
}

/// How a run ends whose logs cannot be written.
fn logs_unavailable(inner: &Inner, error: &std::io::Error) -> Ending {
    let folder = inner.config.artifacts_root.display();
    let (reason, message) = if is_disk_full(error) {
        (
            "DiskFull",
            format!("the disk holding {folder} is full: the run's output cannot be kept"),
        )
    } else {
        (
            "LogsUnavailable",
            format!("cannot write the run's logs in {folder}: {error}"),
        )
    };
    Ending {
        status: Status::Failed,
        reason: reason.to_owned(),
        message,
    }
}

async fn execute(
    inner: &Arc<Inner>,
    uuid: &str,
    plan: Plan,
    mut stop: watch::Receiver<Option<StopCause>>,
) {
    let _slot = tokio::select! {
        slot = inner.slots.acquire() => slot.expect("the semaphore is never closed"),
        cause = stopped(&mut stop) => {
            let message = format!("{} while queued", cause.stopped());
            inner.report(uuid, Status::Stopped, cause.reason(REASON), message).await;
            return;
        }
    };
    inner
        .report(uuid, Status::Scheduled, REASON, "Run is scheduled")
        .await;
    let writer = match inner
        .reporter
        .artifacts()
        .log_writer(uuid, &plan.pod, &inner.config.node)
    {
        Ok(writer) => writer,
        Err(error) => {
            let ending = logs_unavailable(inner, &error);
            inner
                .report(uuid, ending.status, &ending.reason, ending.message)
                .await;
            return;
        }
    };
    let deadline = plan.timeout.map(|timeout| Instant::now() + timeout);
    let mut attempt = 0;
    let outcome = loop {
        let outcome = attempt_once(inner, uuid, &plan, &writer, &mut stop, deadline).await;
        let Outcome::Failed { reason, message } = outcome else {
            break outcome;
        };
        if attempt >= plan.max_retries {
            break Outcome::Failed { reason, message };
        }
        attempt += 1;
        let message = format!("{message}; retry {attempt} of {} follows", plan.max_retries);
        inner.report(uuid, Status::Retrying, reason, message).await;
        let backoff = (inner.config.retry_backoff * (1 << (attempt - 1).min(6)))
            .min(Duration::from_secs(360));
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            cause = stopped(&mut stop) => break Outcome::Stopped(cause),
        }
    };
    finish(inner, uuid, &plan, writer, outcome).await;
}

/// How one attempt ended.
enum Outcome {
    Succeeded,
    Failed {
        reason: &'static str,
        message: String,
    },
    Stopped(StopCause),
    TimedOut,
    /// Its logs could not be written (the writer says where they stop): it was ended.
    LogsCut,
}

/// Records how the run ended, once its last line is in the archive: clients stop reading logs
/// when they see a final status.
async fn finish(inner: &Arc<Inner>, uuid: &str, plan: &Plan, writer: LogWriter, outcome: Outcome) {
    let cut = writer.close().await;
    let folder = inner.folder(uuid);
    let ending = ending(inner, uuid, plan, outcome, cut.as_ref());
    // Every line of the raw output is archived, or cannot be: the room it takes goes back
    // first, so that on a full disk what follows may fit.
    folder.drop_output();
    if let Some(cut) = &cut {
        let artifacts = inner.reporter.artifacts();
        if let Err(error) = artifacts.mark_cut(uuid, &plan.pod, &inner.config.node, cut) {
            tracing::warn!(%error, uuid, "cannot end the run's logs with where they stop");
        }
    }
    folder.record_ending(&ending);
    let reported = inner
        .report(uuid, ending.status, &ending.reason, ending.message)
        .await;
    forget_when_recorded(inner, uuid, folder, &reported);
}

/// The final status of an attempt that ended with `outcome`, its logs `cut` or not.
fn ending(
    inner: &Inner,
    uuid: &str,
    plan: &Plan,
    outcome: Outcome,
    cut: Option<&LogCut>,
) -> Ending {
    let ending = |status, reason: &str, message: String| Ending {
        status,
        reason: reason.to_owned(),
        message,
    };
    let cut_reason = |cut: &LogCut| {
        if cut.disk_full {
            "DiskFull"
        } else {
            "LogsUnavailable"
        }
    };
    match (outcome, cut) {
        (Outcome::Stopped(cause), Some(cut)) => ending(
            Status::Stopped,
            cause.reason(REASON),
            format!("{}; {}", cause.stopped(), cut.describe()),
        ),
        (Outcome::Stopped(cause), None) => {
            ending(Status::Stopped, cause.reason(REASON), cause.stopped())
        }
        // Whatever the process did, what it printed from the cut on is lost.
        (_, Some(cut)) => ending(Status::Failed, cut_reason(cut), cut.describe()),
        (Outcome::Succeeded, None) => {
            ending(Status::Succeeded, REASON, "Run has succeeded".to_owned())
        }
        (Outcome::Failed { reason, message }, None) => {
            let config = &inner.config;
            match full_disk(&[&config.state_dir, &config.artifacts_root]) {
                // A process whose writes fail for want of room fails, and its last words are
                // lost: the full disk is the story.
                Some(folder) => {
                    let lines = inner
                        .reporter
                        .artifacts()
                        .log_lines(uuid, &plan.pod)
                        .unwrap_or_default();
                    ending(
                        Status::Failed,
                        "DiskFull",
                        format!(
                            "the disk holding {} is full: the run's output could not be kept; \
                             its logs stop at line {lines}; {message}",
                            folder.display()
                        ),
                    )
                }
                None => ending(Status::Failed, reason, message),
            }
        }
        (Outcome::TimedOut, None) => ending(
            Status::Failed,
            "DeadlineExceeded",
            format!(
                "the run did not finish within its timeout of {} s",
                plan.timeout.unwrap_or_default().as_secs()
            ),
        ),
        (Outcome::LogsCut, None) => ending(
            Status::Failed,
            "LogsUnavailable",
            "the run's logs could not be written".to_owned(),
        ),
    }
}

/// Less free room than this on a disk is no room: a process's writes fail there.
const ROOM: u64 = 64 * 1024;

/// The first of `folders` on a disk with no room left, as a disk looks when a run's writes
/// failed for want of space.
fn full_disk(folders: &[&Path]) -> Option<PathBuf> {
    folders
        .iter()
        .find(|folder| {
            nix::sys::statvfs::statvfs(**folder).is_ok_and(|stats| {
                stats
                    .blocks_available()
                    .saturating_mul(stats.fragment_size())
                    < ROOM
            })
        })
        .map(|folder| folder.to_path_buf())
}

/// Resolves once the run is asked to stop (or its switch is gone), with why.
async fn stopped(stop: &mut watch::Receiver<Option<StopCause>>) -> StopCause {
    match stop.wait_for(Option::is_some).await {
        Ok(cause) => cause.unwrap_or(StopCause::Asked),
        Err(_) => StopCause::Asked,
    }
}

async fn attempt_once(
    inner: &Arc<Inner>,
    uuid: &str,
    plan: &Plan,
    writer: &LogWriter,
    stop: &mut watch::Receiver<Option<StopCause>>,
    deadline: Option<Instant>,
) -> Outcome {
    inner
        .report(uuid, Status::Starting, REASON, "Run is starting")
        .await;
    if let Err(message) = prepare_folders(plan) {
        return Outcome::Failed {
            reason: "WorkingDirUnavailable",
            message,
        };
    }
    let logs = writer.sender();
    let init = tokio::select! {
        done = init::run(plan, &logs) => done,
        cause = stopped(stop) => return Outcome::Stopped(cause),
    };
    if let Err(message) = init {
        return Outcome::Failed {
            reason: "InitFailed",
            message,
        };
    }
    let launched = match launch::launch(plan, &inner.folder(uuid), &logs) {
        Ok(launched) => launched,
        Err(message) => {
            return Outcome::Failed {
                reason: "CommandNotStarted",
                message,
            };
        }
    };
    let message = match plan.ports.as_slice() {
        [] => "Run is running".to_owned(),
        ports => format!(
            "Run is running; its service listens on {}",
            ports
                .iter()
                .map(|port| format!("http://127.0.0.1:{port}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    inner.report(uuid, Status::Running, REASON, message).await;
    supervise(inner, uuid, launched, plan, writer, stop, deadline).await
}

/// The run's working folder, artifacts folder and context, whose `artifacts/{uuid}` is the
/// run's artifacts, as in a pod.
fn prepare_folders(plan: &Plan) -> Result<(), String> {
    let linked = plan.context_root.join("artifacts").join(
        plan.artifacts_dir
            .file_name()
            .ok_or("the run's artifacts folder has no name")?,
    );
    // `outputs` is `globals.run_outputs_path`, which components use as is (JupyterLab's root).
    for folder in [
        &plan.working_dir,
        &plan.artifacts_dir.join("outputs"),
        &plan.context_root.join("artifacts"),
    ] {
        std::fs::create_dir_all(folder)
            .map_err(|error| format!("cannot create {}: {error}", folder.display()))?;
    }
    if linked.symlink_metadata().is_err() {
        std::os::unix::fs::symlink(&plan.artifacts_dir, &linked)
            .map_err(|error| format!("cannot link {}: {error}", linked.display()))?;
    }
    Ok(())
}

/// Waits for the process to end, to be stopped or to time out; then ends what is left of its
/// group and collects its last lines.
async fn supervise(
    inner: &Inner,
    uuid: &str,
    mut launched: Launched,
    plan: &Plan,
    writer: &LogWriter,
    stop: &mut watch::Receiver<Option<StopCause>>,
    deadline: Option<Instant>,
) -> Outcome {
    let running = Running {
        plan: Arc::new(plan.clone()),
        group: launched.group(),
        ended: launched.ended(),
    };
    inner.running().insert(uuid.to_owned(), running);
    let timeout = async {
        match deadline {
            Some(deadline) => tokio::time::sleep_until(deadline).await,
            None => std::future::pending().await,
        }
    };
    let ended = tokio::select! {
        exit = launched.wait() => Ok(exit),
        cause = stopped(stop) => Err(Outcome::Stopped(cause)),
        () = timeout => Err(Outcome::TimedOut),
        // What it prints can no longer be kept: it is ended rather than run unseen.
        _ = writer.cut() => Err(Outcome::LogsCut),
    };
    let outcome = match ended {
        Ok(exit) => {
            let ending = exited(&plan.program, exit);
            match ending.status {
                Status::Succeeded => Outcome::Succeeded,
                _ => Outcome::Failed {
                    reason: if exit == Exit::Unknown {
                        "ExitNotRecorded"
                    } else {
                        "Error"
                    },
                    message: ending.message,
                },
            }
        }
        Err(outcome) => {
            // SIGTERM first, as Kubernetes does, and SIGKILL after the grace period.
            launched.signal(Signal::SIGTERM);
            if tokio::time::timeout(inner.config.stop_grace, launched.wait())
                .await
                .is_err()
            {
                launched.signal(Signal::SIGKILL);
                launched.wait().await;
            }
            outcome
        }
    };
    inner.running().remove(uuid);
    launched.finish().await;
    outcome
}

/// How a run whose process ended with `exit` ends.
fn exited(program: &str, exit: Exit) -> Ending {
    let message = match exit {
        Exit::Code(0) => {
            return Ending {
                status: Status::Succeeded,
                reason: REASON.to_owned(),
                message: "Run has succeeded".to_owned(),
            };
        }
        Exit::Code(code) if code > 128 => match Signal::try_from(code - 128) {
            // The shell reports a process killed by signal N as 128 + N.
            Ok(signal) => format!(
                "`{program}` was killed by {} (exit code {code})",
                signal.as_str()
            ),
            Err(_) => format!("`{program}` exited with code {code}"),
        },
        Exit::Code(code) => format!("`{program}` exited with code {code}"),
        Exit::Unknown => format!(
            "`{program}` ran but its exit status was not recorded (Myelin stopped, or the disk \
             was full); its output is kept"
        ),
    };
    Ending {
        status: Status::Failed,
        reason: if exit == Exit::Unknown {
            "ExitNotRecorded"
        } else {
            "Error"
        }
        .to_owned(),
        message,
    }
}
