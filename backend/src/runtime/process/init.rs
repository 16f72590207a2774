//! A run's init steps, done on this machine before its main process starts: clones with the
//! host's `git`, files written directly, and every other init container's command run as a
//! process. Their output goes to the run's logs under the init container's name.

use std::path::Path;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt as _, AsyncRead, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc;

use super::plan::{InitStep, Plan};
use crate::artifacts::Captured;

/// Does every init step in order; the error says which failed and why.
pub async fn run(plan: &Plan, logs: &mpsc::Sender<Captured>) -> Result<(), String> {
    for step in &plan.init {
        match step {
            InitStep::Git {
                container,
                repo_path,
                url,
                revision,
                flags,
            } => {
                if repo_path.join(".git").is_dir() {
                    // Cloned by an earlier attempt of the same run.
                    continue;
                }
                let mut clone = vec!["clone".to_owned()];
                clone.extend(flags.iter().cloned());
                clone.push(url.clone());
                clone.push(repo_path.to_string_lossy().into_owned());
                command(container, "git", &clone, &plan.env, &plan.working_dir, logs).await?;
                if let Some(revision) = revision {
                    let checkout = [
                        "-C".to_owned(),
                        repo_path.to_string_lossy().into_owned(),
                        "checkout".to_owned(),
                        revision.clone(),
                    ];
                    command(
                        container,
                        "git",
                        &checkout,
                        &plan.env,
                        &plan.working_dir,
                        logs,
                    )
                    .await?;
                }
            }
            InitStep::File {
                container,
                path,
                content,
                chmod,
            } => write_file(path, content, chmod.as_deref())
                .map_err(|error| format!("init step `{container}`: {error}"))?,
            InitStep::Command {
                container,
                program,
                args,
                env,
            } => command(container, program, args, env, &plan.working_dir, logs).await?,
        }
    }
    Ok(())
}

fn write_file(path: &Path, content: &str, chmod: Option<&str>) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt as _;
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder)
            .map_err(|error| format!("cannot create {}: {error}", folder.display()))?;
    }
    std::fs::write(path, content)
        .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
    let Some(chmod) = chmod else {
        return Ok(());
    };
    let current = std::fs::metadata(path)
        .map_err(|error| error.to_string())?
        .permissions()
        .mode();
    let mode = match chmod {
        "+x" => current | 0o111,
        "+r" => current | 0o444,
        "+w" => current | 0o200,
        octal => u32::from_str_radix(octal, 8)
            .map_err(|_| format!("`{chmod}` is not a mode: use +x, +r, +w or octal digits"))?,
    };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|error| format!("cannot chmod {}: {error}", path.display()))
}

/// Runs one program to its end, its output in the logs as `container`'s.
async fn command(
    container: &str,
    program: &str,
    args: &[String],
    env: &[(String, String)],
    working_dir: &Path,
    logs: &mpsc::Sender<Captured>,
) -> Result<(), String> {
    let mut command = Command::new(program);
    super::launch::set_environment(&mut command, env);
    let mut child = command
        .args(args)
        .current_dir(working_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A stopped run drops this future: its init process goes with it.
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| format!("init step `{container}`: cannot start `{program}`: {error}"))?;
    let readers = [
        child.stdout.take().map(|out| forward(out, container, logs)),
        child.stderr.take().map(|err| forward(err, container, logs)),
    ];
    let status = child
        .wait()
        .await
        .map_err(|error| format!("init step `{container}`: {error}"))?;
    for reader in readers.into_iter().flatten() {
        let _ = reader.await;
    }
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "init step `{container}`: `{program}` exited with {}",
            status
                .code()
                .map_or("a signal".to_owned(), |code| format!("code {code}"))
        ))
    }
}

fn forward(
    output: impl AsyncRead + Unpin + Send + 'static,
    container: &str,
    logs: &mpsc::Sender<Captured>,
) -> tokio::task::JoinHandle<()> {
    let (container, logs) = (container.to_owned(), logs.clone());
    tokio::spawn(async move {
        let mut lines = BufReader::new(output).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let captured = Captured {
                container: container.clone(),
                value: line,
                mark: None,
                printed: None,
            };
            if logs.send(captured).await.is_err() {
                return;
            }
        }
    })
}
