//! One attempt of a run as an operating-system process group, built to outlive the server.
//!
//! The command runs under a small shell that writes its exit code to a file, and its output
//! goes to files rather than pipes. So when the server dies (even by SIGKILL) the run goes on
//! untouched, every line it prints is kept, and a restarted server reattaches: it reads the
//! output from where the archive stopped and learns the exit code from the file.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use shared::api::Status;
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::plan::Plan;
use crate::artifacts::{Captured, Mark};

/// Runs `"$@"`, then leaves its exit code in the file named by the first argument.
const WRAPPER: &str =
    r#"exit_file=$1; shift; "$@"; code=$?; echo "$code" > "$exit_file"; exit "$code""#;

/// How often output files and orphaned processes are looked at.
const POLL: Duration = Duration::from_millis(50);

/// The files of one run's process: its group id, raw output, exit code and read offsets.
#[derive(Debug, Clone)]
pub struct RunFolder {
    path: PathBuf,
}

impl RunFolder {
    /// The folder of run `uuid` under `state_dir`.
    pub fn new(state_dir: &Path, uuid: &str) -> Self {
        Self {
            path: state_dir.join(uuid),
        }
    }

    fn group_file(&self) -> PathBuf {
        self.path.join("group")
    }

    fn exit_file(&self) -> PathBuf {
        self.path.join("exit")
    }

    /// The process group a server started for this run, if one is recorded.
    pub fn group(&self) -> Option<Pid> {
        let text = std::fs::read_to_string(self.group_file()).ok()?;
        text.trim().parse().ok().map(Pid::from_raw)
    }

    /// The exit code the wrapper wrote down, if it did.
    pub fn exit_code(&self) -> Option<i32> {
        read_exit(&self.exit_file())
    }

    /// Lets go of the run's raw output once every line of it is archived (or can no longer
    /// be): on a full disk, it gives back the room it took.
    pub fn drop_output(&self) {
        for stream in ["stdout", "stderr"] {
            let _ = std::fs::remove_file(self.path.join(stream));
            let _ = std::fs::remove_file(self.path.join(format!("{stream}.read")));
        }
    }

    /// Writes down how the run ended before that is recorded in the store, so a server that
    /// stops before the store takes it tells the same story after a restart.
    pub fn record_ending(&self, ending: &Ending) {
        let text = serde_json::json!({
            "status": ending.status.as_str(),
            "reason": ending.reason,
            "message": ending.message,
        });
        let written = std::fs::create_dir_all(&self.path)
            .and_then(|()| std::fs::write(self.path.join("ending"), text.to_string()));
        if let Err(error) = written {
            tracing::warn!(%error, folder = %self.path.display(), "cannot write down how a run ended");
        }
    }

    /// How the run ended, if a server wrote it down ([`RunFolder::record_ending`]).
    pub fn ending(&self) -> Option<Ending> {
        let text = std::fs::read_to_string(self.path.join("ending")).ok()?;
        let json: serde_json::Value = serde_json::from_str(&text).ok()?;
        Some(Ending {
            status: Status::parse(json["status"].as_str()?)?,
            reason: json["reason"].as_str()?.to_owned(),
            message: json["message"].as_str()?.to_owned(),
        })
    }

    /// Forgets the run's process: called once its end is recorded.
    pub fn remove(&self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// How a run ended: its final status, with a reason and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending {
    /// The final status.
    pub status: Status,
    /// Why, in a word (`Error`, `DiskFull`, …).
    pub reason: String,
    /// Why, in a sentence.
    pub message: String,
}

fn read_exit(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| text.trim().parse().ok())
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this code.
    Code(i32),
    /// It ended while no server watched it and left no exit code.
    Unknown,
}

enum Process {
    /// Started by this server.
    Child(Child),
    /// Started by an earlier server: only its group id is known.
    Orphan(Pid),
}

/// A started (or reattached) process group and the readers of its output.
pub struct Launched {
    process: Process,
    group: Pid,
    exit_file: PathBuf,
    ended: watch::Sender<bool>,
    tailers: Vec<JoinHandle<()>>,
}

/// Starts an attempt of `plan`; its output lines go to `logs`. The error says why it could not
/// start.
pub fn launch(
    plan: &Plan,
    folder: &RunFolder,
    logs: &mpsc::Sender<Captured>,
) -> Result<Launched, String> {
    let program = find_program(&plan.program, plan)?;
    std::fs::create_dir_all(&folder.path)
        .map_err(|error| format!("cannot create {}: {error}", folder.path.display()))?;
    let output = |name: &str| {
        File::options()
            .create(true)
            .append(true)
            .open(folder.path.join(name))
            .map_err(|error| format!("cannot capture the run's output: {error}"))
    };
    let _ = std::fs::remove_file(folder.exit_file());
    let mut command = Command::new("/bin/sh");
    command
        .arg("-c")
        .arg(WRAPPER)
        .arg("myelin-run")
        .arg(folder.exit_file())
        .arg(&program)
        .args(&plan.args)
        .current_dir(&plan.working_dir)
        .stdin(Stdio::null())
        .stdout(output("stdout")?)
        .stderr(output("stderr")?)
        .process_group(0);
    set_environment(&mut command, &plan.env);
    let child = command
        .spawn()
        .map_err(|error| format!("cannot start `{}`: {error}", plan.program))?;
    let group = Pid::from_raw(child.id().unwrap_or_default() as i32);
    if let Err(error) = std::fs::write(folder.group_file(), group.as_raw().to_string()) {
        // A process no server could find again after a restart is not left running.
        let _ = killpg(group, Signal::SIGKILL);
        return Err(format!("cannot record the run's process: {error}"));
    }
    Ok(Launched::new(Process::Child(child), group, folder, logs))
}

/// The run sees the server's environment, as a process started from its shell would, less the
/// server's own settings (its token above all), plus `env`.
pub fn set_environment(command: &mut Command, env: &[(String, String)]) {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("MYELIN_") {
            command.env_remove(name);
        }
    }
    command.envs(env.iter().map(|(name, value)| (name, value)));
}

/// Takes up the process an earlier server started for this run, whether it still runs or has
/// ended since; `None` when no process was started.
pub fn reattach(folder: &RunFolder, logs: &mpsc::Sender<Captured>) -> Option<Launched> {
    let group = folder.group()?;
    Some(Launched::new(Process::Orphan(group), group, folder, logs))
}

impl Launched {
    fn new(
        process: Process,
        group: Pid,
        folder: &RunFolder,
        logs: &mpsc::Sender<Captured>,
    ) -> Self {
        let (ended, watch_end) = watch::channel(false);
        let tailers = ["stdout", "stderr"]
            .into_iter()
            .map(|stream| {
                tail(
                    folder.path.join(stream),
                    folder.path.join(format!("{stream}.read")).into(),
                    logs.clone(),
                    watch_end.clone(),
                )
            })
            .collect();
        Self {
            process,
            group,
            exit_file: folder.exit_file(),
            ended,
            tailers,
        }
    }

    /// Waits for the main process to end.
    pub async fn wait(&mut self) -> Exit {
        match &mut self.process {
            Process::Child(child) => match child.wait().await {
                Ok(status) => status.code().map_or(Exit::Unknown, Exit::Code),
                Err(_) => Exit::Unknown,
            },
            Process::Orphan(pid) => {
                // Not our child: all that can be seen is whether it still exists.
                while kill(*pid, None) != Err(Errno::ESRCH) {
                    tokio::time::sleep(POLL * 4).await;
                }
                read_exit(&self.exit_file).map_or(Exit::Unknown, Exit::Code)
            }
        }
    }

    /// The process group.
    pub fn group(&self) -> Pid {
        self.group
    }

    /// Set once the attempt is over and its group ended ([`Launched::finish`]).
    pub fn ended(&self) -> watch::Receiver<bool> {
        self.ended.subscribe()
    }

    /// Sends `signal` to every process of the group.
    pub fn signal(&self, signal: Signal) {
        let _ = killpg(self.group, signal);
    }

    /// Ends what the main process left running in its group, as a pod's containers go when the
    /// pod ends, then waits until every line it printed has been handed to the log writer.
    pub async fn finish(self) {
        self.signal(Signal::SIGKILL);
        let _ = self.ended.send(true);
        for tailer in self.tailers {
            let _ = tailer.await;
        }
    }
}

/// Follows an output file from where the archive last stopped, sending each complete line;
/// once `ended` is set, reads to the end and sends what is left.
fn tail(
    source: PathBuf,
    mark_file: Arc<Path>,
    logs: mpsc::Sender<Captured>,
    mut ended: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut offset = Mark::saved(&mark_file);
        let Ok(mut file) = tokio::fs::File::open(&source).await else {
            return;
        };
        if file.seek(std::io::SeekFrom::Start(offset)).await.is_err() {
            return;
        }
        let mut pending: Vec<u8> = Vec::new();
        let mut chunk = vec![0; 64 * 1024];
        loop {
            let was_ended = *ended.borrow();
            let read = file.read(&mut chunk).await.unwrap_or(0);
            pending.extend_from_slice(&chunk[..read]);
            let mut start = 0;
            while let Some(newline) = pending[start..].iter().position(|byte| *byte == b'\n') {
                let line = &pending[start..start + newline];
                offset += (newline + 1) as u64;
                start += newline + 1;
                if !send(&logs, line, &mark_file, offset).await {
                    return;
                }
            }
            pending.drain(..start);
            if read > 0 {
                continue;
            }
            if was_ended {
                // The process is gone: a last line without a newline is still a line.
                if !pending.is_empty() {
                    offset += pending.len() as u64;
                    send(&logs, &pending, &mark_file, offset).await;
                }
                return;
            }
            let _ = tokio::time::timeout(POLL, ended.changed()).await;
        }
    })
}

async fn send(
    logs: &mpsc::Sender<Captured>,
    line: &[u8],
    mark_file: &Arc<Path>,
    offset: u64,
) -> bool {
    let text = String::from_utf8_lossy(line);
    let captured = Captured {
        container: shared::convert::MAIN_CONTAINER.to_owned(),
        value: text.trim_end_matches('\r').to_owned(),
        mark: Some(Mark {
            file: Arc::clone(mark_file),
            offset,
        }),
        printed: None,
    };
    logs.send(captured).await.is_ok()
}

/// The program's path as the shell would find it with the run's `PATH`, so that a missing
/// program is reported as such rather than as the shell's exit code 127.
fn find_program(program: &str, plan: &Plan) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt as _;
    let runnable = |path: &Path| {
        path.metadata()
            .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let path = plan.working_dir.join(program);
        return if runnable(&path) {
            Ok(path)
        } else {
            Err(format!("cannot start `{program}`: no such executable file"))
        };
    }
    let path_variable = plan
        .env
        .iter()
        .rev()
        .find(|(name, _)| name == "PATH")
        .map(|(_, value)| value.into())
        .or_else(|| std::env::var_os("PATH"))
        .unwrap_or_default();
    std::env::split_paths(&path_variable)
        .map(|folder| folder.join(program))
        .find(|candidate| runnable(candidate))
        .ok_or_else(|| format!("cannot start `{program}`: it is not on the PATH of this machine"))
}
