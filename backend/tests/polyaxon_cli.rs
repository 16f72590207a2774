//! The unmodified `polyaxon` CLI and tracking client (PyPI 2.18.0) against a real Myelin server.
//!
//! The venv comes from `cargo xtask setup` (or `MYELIN_POLYAXON_VENV`). Every Python process,
//! the CLI's and the runs', has an audit hook that refuses and records any connection that is
//! not to loopback; the tests fail if one was tried.

mod common;
mod terminal;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use backend::runtime::{ExecSession, TerminalSize};
use common::{Server, TOKEN, is_done, python_job};
use serde_json::json;
use terminal::read_until;

const NETWORK_GUARD: &str = r#"
import ipaddress, os, sys

_LOG = os.environ.get("MYELIN_NETWORK_GUARD_LOG")

def _loopback(host):
    if isinstance(host, bytes):
        host = host.decode()
    if host in (None, "", "localhost"):
        return True
    try:
        # `0.0.0.0` is where a service listens on every interface (TensorBoard's `--host`);
        # a connection to it reaches this machine.
        address = ipaddress.ip_address(host)
        return address.is_loopback or address.is_unspecified
    except ValueError:
        return False

def _guard(event, args):
    if event == "socket.getaddrinfo":
        host = args[0]
    elif event == "socket.connect" and isinstance(args[1], tuple):
        host = args[1][0]
    else:
        return
    if not _loopback(host):
        if _LOG:
            with open(_LOG, "a") as log:
                log.write(f"{event} {host} from {sys.argv}\n")
        raise PermissionError(f"the test's network guard refused {host}")

sys.addaudithook(_guard)
"#;

/// A Myelin server, the polyaxon CLI pointed at it, and a network guard for both.
struct Cli {
    server: Server,
    venv: PathBuf,
    guard: PathBuf,
    /// The token the CLI sends: the server's, or a person's.
    token: String,
}

fn venv() -> PathBuf {
    let venv = std::env::var_os("MYELIN_POLYAXON_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/oracle-venv"));
    assert!(
        venv.join("bin/polyaxon").is_file(),
        "no polyaxon CLI in {}: run `cargo xtask setup` (or `cargo xtask test`), which installs \
         polyaxon==2.18.0 from PyPI there",
        venv.display()
    );
    venv
}

/// The folder of the hub's service programs (TensorBoard, JupyterLab) `cargo xtask test`
/// installs.
fn service_programs() -> PathBuf {
    let bin = std::env::var_os("MYELIN_SERVICES_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/services-venv"))
        .join("bin");
    assert!(
        bin.join("tensorboard").is_file(),
        "no tensorboard in {}: run `cargo xtask setup` (or `cargo xtask test`), which installs it",
        bin.display()
    );
    bin
}

impl Cli {
    fn start(name: &str) -> Self {
        Self::start_with(name, None)
    }

    /// As [`Cli::start`], with `programs` first on the server's `PATH`.
    fn start_with(name: &str, programs: Option<PathBuf>) -> Self {
        let guard =
            std::env::temp_dir().join(format!("myelin-guard-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&guard).unwrap();
        std::fs::write(guard.join("sitecustomize.py"), NETWORK_GUARD).unwrap();
        // Runs are Python processes started by the server: they get the guard too.
        let mut environment = Self::guard_environment(&guard);
        if let Some(programs) = programs {
            let path = std::env::var_os("PATH").unwrap_or_default();
            let folders = std::iter::once(programs).chain(std::env::split_paths(&path));
            environment.push(("PATH", std::env::join_paths(folders).unwrap().into()));
        }
        let server = Server::start(name, &environment);
        // Polyaxon falls back to a `.polyaxon` in the shared temporary folder when the home it
        // is given does not exist, and parallel tests would then share their project cache.
        std::fs::create_dir_all(server.root.join("home")).unwrap();
        Self {
            server,
            venv: venv(),
            guard,
            token: TOKEN.to_owned(),
        }
    }

    fn guard_environment(guard: &Path) -> Vec<(&'static str, PathBuf)> {
        vec![
            ("PYTHONPATH", guard.to_owned()),
            ("MYELIN_NETWORK_GUARD_LOG", guard.join("refused.log")),
        ]
    }

    fn refused_connections(&self) -> String {
        std::fs::read_to_string(self.guard.join("refused.log")).unwrap_or_default()
    }

    /// A program of the venv (`polyaxon`, `python`) set up as a user's would be, with only
    /// environment variables pointing it at the server.
    fn client(&self, program: &str, args: &[&str]) -> Command {
        let home = self.server.root.join("home");
        let mut command = Command::new(self.venv.join("bin").join(program));
        command
            .args(args)
            .current_dir(&self.server.root)
            // The CLI caches the current project under the user's home, whatever POLYAXON_HOME
            // says: each server gets a home of its own, so parallel tests do not share it.
            .env("HOME", &home)
            .env("POLYAXON_HOME", &home)
            .env("POLYAXON_HOST", &self.server.url)
            .env("POLYAXON_AUTH_TOKEN", &self.token)
            .env("POLYAXON_DISABLE_ERRORS_REPORTING", "true")
            .env("POLYAXON_INTERVALS_COMPATIBILITY_CHECK", "-1")
            .env("POLYAXON_WATCH_INTERVAL", "1")
            .env("COLUMNS", "200")
            .envs(Self::guard_environment(&self.guard))
            .stdin(Stdio::null());
        command
    }

    /// Runs `polyaxon ARGS`.
    fn polyaxon(&self, args: &[&str]) -> Output {
        self.client("polyaxon", args)
            .output()
            .expect("the polyaxon CLI starts")
    }

    /// `program ARGS` from the venv, which must succeed; its standard output.
    fn succeed(&self, program: &str, args: &[&str]) -> String {
        let output = self
            .client(program, args)
            .output()
            .unwrap_or_else(|error| panic!("{program} does not start: {error}"));
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "{program} {args:?} failed ({}):\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    }

    /// `polyaxon ARGS`, which must succeed; its standard output.
    fn ok(&self, args: &[&str]) -> String {
        self.succeed("polyaxon", args)
    }

    /// Writes a Polyaxonfile in the server's folder and submits it with `polyaxon run`; the new
    /// run's uuid.
    fn submit(&self, project: &str, name: &str, polyaxonfile: &str, extra: &[&str]) -> String {
        let file = self.server.root.join(format!("{name}.yaml"));
        std::fs::write(&file, polyaxonfile).unwrap();
        let mut args = vec!["run", "-f", file.to_str().unwrap(), "-p", project];
        args.extend(extra);
        let stdout = self.ok(&args);
        let uuid = stdout
            .split_whitespace()
            .find_map(|word| word.rsplit_once('@').map(|(_, uuid)| uuid.to_owned()))
            .unwrap_or_else(|| panic!("no run uuid in:\n{stdout}"));
        assert_eq!(uuid.len(), 32, "{stdout}");
        uuid
    }
}

impl Drop for Cli {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.guard);
    }
}

#[test]
fn a_person_works_through_the_polyaxon_cli_with_their_own_token() {
    let mut cli = Cli::start("cli-people");
    let member = json!({"username": "ada"});
    let (status, _) = cli
        .server
        .request("POST", "/api/v1/orgs/default/members", Some(&member));
    assert_eq!(status, 201);
    let (status, token) = cli.server.request(
        "POST",
        "/api/v1/orgs/default/members/ada/tokens",
        Some(&json!({"name": "cli"})),
    );
    assert_eq!(status, 201, "{token}");
    cli.token = token["key"].as_str().unwrap().to_owned();
    cli.ok(&["project", "create", "--name", "mine"]);
    let uuid = cli.submit("mine", "hello", &python_job("hello", "print('hi')"), &[]);
    let status = cli
        .server
        .wait_for("mine", &uuid, is_done, Duration::from_secs(60));
    assert_eq!(status, "succeeded");
    assert_eq!(cli.server.run("mine", &uuid)["user"], "ada");
    assert_eq!(cli.server.get("/api/v1/default/mine")["user"], "ada");
    let listed = cli.ok(&["ops", "ls", "-p", "mine"]);
    assert!(listed.contains(&uuid[..8]), "{listed}");

    let path = format!(
        "/api/v1/orgs/default/members/ada/tokens/{}",
        token["uuid"].as_str().unwrap()
    );
    let (status, _) = cli.server.request("DELETE", &path, None);
    assert_eq!(status, 200);
    let refused = cli.polyaxon(&["ops", "ls", "-p", "mine"]);
    let told = format!(
        "{}{}",
        String::from_utf8_lossy(&refused.stdout),
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(
        !told.contains(&uuid[..8]),
        "a revoked token lists nothing: {told}"
    );
}

#[test]
fn projects_and_runs_through_the_polyaxon_cli() {
    let cli = Cli::start("cli-flows");
    let server = &cli.server;
    let created = cli.ok(&[
        "project",
        "create",
        "--name",
        "demo",
        "--description",
        "CLI flows",
    ]);
    assert!(created.contains("Project `demo` was created"), "{created}");
    let got = cli.ok(&["project", "get", "-p", "demo"]);
    assert!(got.contains("CLI flows"), "{got}");
    let listed = cli.ok(&["project", "ls"]);
    assert!(listed.contains("demo"), "{listed}");

    // Submit with a param, watch the statuses to the end, read the run back.
    let train = python_job(
        "train",
        "for i in range(3):\n    print(f'step {i} lr={{ lr }}')",
    );
    let uuid = cli.submit("demo", "train", &train, &["-P", "lr=0.1"]);
    let watched = cli.ok(&["ops", "statuses", "-p", "demo", "-uid", &uuid, "--watch"]);
    assert!(watched.contains("succeeded"), "{watched}");
    let got = cli.ok(&["ops", "get", "-p", "demo", "-uid", &uuid]);
    assert!(got.contains("0.1") && got.contains("succeeded"), "{got}");
    let run = server.run("demo", &uuid);
    assert_eq!(run["inputs"]["lr"], 0.1);
    let logs = cli.ok(&["ops", "logs", "-p", "demo", "-uid", &uuid]);
    assert!(logs.contains("step 2 lr=0.1"), "{logs}");

    // Run it again, and rename and tag the first.
    let restarted = cli.ok(&["ops", "restart", "-p", "demo", "-uid", &uuid]);
    let again = restarted
        .split_whitespace()
        .last()
        .unwrap_or_else(|| panic!("no new uuid in: {restarted}"))
        .to_owned();
    server.wait_for("demo", &again, is_done, Duration::from_secs(30));
    let rerun = server.run("demo", &again);
    assert_eq!(rerun["status"], "succeeded", "{rerun}");
    assert_eq!(rerun["original"]["uuid"], uuid.as_str(), "{rerun}");
    assert_eq!(rerun["inputs"]["lr"], 0.1, "the same params: {rerun}");
    cli.ok(&[
        "ops", "update", "-p", "demo", "-uid", &uuid, "--name", "renamed", "--tags", "a,b",
    ]);
    let renamed = server.run("demo", &uuid);
    assert_eq!(
        (&renamed["name"], &renamed["tags"]),
        (&json!("renamed"), &json!(["a", "b"]))
    );

    // A failing run, to list by status.
    let failing = python_job("broken", "raise SystemExit(2)");
    let failed = cli.submit("demo", "broken", &failing, &[]);
    server.wait_for("demo", &failed, is_done, Duration::from_secs(30));
    assert_eq!(server.run("demo", &failed)["status"], "failed");
    let succeeded = cli.ok(&[
        "ops",
        "ls",
        "-p",
        "demo",
        "-q",
        "status:succeeded",
        "-s",
        "-created_at",
        "-l",
        "5",
    ]);
    assert!(
        succeeded.contains(&uuid) && !succeeded.contains(&failed),
        "{succeeded}"
    );
    let everything = cli.ok(&["ops", "ls", "-p", "demo", "-l", "1"]);
    assert!(
        everything.contains(&failed) && !everything.contains(&uuid),
        "newest first, one row:\n{everything}"
    );

    // Follow a live run's logs to its end: every line once, in order.
    let counting = python_job(
        "count",
        "import time\nfor i in range(40):\n    print(f'line-{i}')\n    time.sleep(0.1)",
    );
    let live = cli.submit("demo", "count", &counting, &[]);
    let followed = cli.ok(&["ops", "logs", "-p", "demo", "-uid", &live]);
    let printed: Vec<&str> = followed
        .lines()
        .filter_map(|line| line.rsplit_once("| ").map(|(_, value)| value.trim()))
        .filter(|value| value.starts_with("line-"))
        .collect();
    let expected: Vec<String> = (0..40).map(|i| format!("line-{i}")).collect();
    assert_eq!(printed, expected, "followed logs:\n{followed}");
    assert_eq!(server.run("demo", &live)["status"], "succeeded");

    // Stop a long run, then delete it.
    let sleeper = python_job("sleeper", "import time\nprint('sleeping')\ntime.sleep(120)");
    let long = cli.submit("demo", "sleeper", &sleeper, &[]);
    server.wait_for("demo", &long, |s| s == "running", Duration::from_secs(30));
    cli.ok(&["ops", "stop", "-p", "demo", "-uid", &long, "-y"]);
    server.wait_for("demo", &long, is_done, Duration::from_secs(20));
    assert_eq!(server.run("demo", &long)["status"], "stopped");
    let statuses = cli.ok(&["ops", "statuses", "-p", "demo", "-uid", &long]);
    assert!(
        statuses.contains("stopping") && statuses.contains("stopped"),
        "{statuses}"
    );
    cli.ok(&["ops", "delete", "-p", "demo", "-uid", &long, "-y"]);
    let gone = cli.polyaxon(&["ops", "get", "-p", "demo", "-uid", &long]);
    assert!(!gone.status.success(), "the deleted run is still there");

    assert_eq!(
        cli.refused_connections(),
        "",
        "a client tried to leave loopback"
    );
}

#[test]
fn the_tracking_client_in_a_run_logs_metrics_and_outputs() {
    let cli = Cli::start("cli-tracking");
    let server = &cli.server;
    cli.ok(&["project", "create", "--name", "tracked"]);
    let python = cli.venv.join("bin/python");
    let script = "from polyaxon import tracking\n\
        tracking.init()\n\
        for step in range(1, 4):\n    tracking.log_metrics(step=step, loss=1.0 / step)\n\
        tracking.log_outputs(final_loss=0.25, note='done')\n\
        tracking.end()\n\
        print('tracked')";
    let polyaxonfile = format!(
        "kind: component\nname: tracked\nrun:\n  kind: job\n  container:\n    image: python:3.11\n    command: [{}, -u, -c]\n    args: [{}]\n",
        serde_json::to_string(&python.to_string_lossy()).unwrap(),
        serde_json::to_string(script).unwrap()
    );
    let uuid = cli.submit("tracked", "tracked", &polyaxonfile, &[]);
    let watched = cli.ok(&["ops", "statuses", "-p", "tracked", "-uid", &uuid, "--watch"]);
    let run = server.run("tracked", &uuid);
    assert_eq!(
        run["status"],
        "succeeded",
        "{watched}\n{}",
        cli.ok(&["ops", "logs", "-p", "tracked", "-uid", &uuid])
    );
    assert_eq!(run["outputs"]["final_loss"], 0.25, "{run}");
    assert_eq!(run["outputs"]["note"], "done", "{run}");
    assert_eq!(run["meta_info"]["has_metrics"], true, "{run}");

    let lineage = server.get(&format!(
        "/api/v1/default/tracked/runs/{uuid}/lineage/artifacts"
    ));
    let names: Vec<&str> = lineage["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|artifact| artifact["name"].as_str())
        .collect();
    assert!(names.contains(&"env"), "{lineage}");

    let metric = server
        .root
        .join(format!("data/artifacts/{uuid}/events/metric/loss.plx"));
    let text = std::fs::read_to_string(&metric)
        .unwrap_or_else(|error| panic!("{}: {error}", metric.display()));
    let rows: Vec<&str> = text.lines().filter(|line| !line.is_empty()).collect();
    assert_eq!(rows[0], "step|timestamp|metric");
    assert_eq!(rows.len(), 4, "{text}");
    assert!(
        rows[3].starts_with("3|") && rows[3].ends_with("|0.3333333333333333"),
        "{text}"
    );

    // Read back as the client reads metrics.
    let script = "import json, sys\nfrom polyaxon.client import RunClient\n\
        client = RunClient(owner='default', project='tracked', run_uuid=sys.argv[1])\n\
        print(json.dumps(client.get_metrics(names=['loss'])['loss']))";
    let metrics = cli.succeed("python", &["-c", script, &uuid]);
    let loss: serde_json::Value =
        serde_json::from_str(metrics.trim()).unwrap_or_else(|error| panic!("{error}: {metrics}"));
    assert_eq!(loss["name"], "loss", "{loss}");
    assert_eq!(loss["data"]["step"], json!([1, 2, 3]), "{loss}");
    assert_eq!(loss["data"]["metric"][0], 1.0, "{loss}");

    let filtered = server.get("/api/v1/default/tracked/runs?query=outputs.final_loss%3A%3C0.5");
    assert_eq!(filtered["count"], 1, "{filtered}");
    assert_eq!(
        cli.refused_connections(),
        "",
        "a client tried to leave loopback"
    );
}

/// The statuses a run went through, oldest first.
fn condition_types(run: &serde_json::Value) -> Vec<String> {
    run["status_conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|condition| condition["type"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn resume_approve_invalidate_and_transfer_act_as_polyaxon_ce_does() {
    let cli = Cli::start("cli-run-actions");
    let server = &cli.server;
    for project in ["demo", "other"] {
        cli.ok(&["project", "create", "--name", project]);
    }
    let uuid = cli.submit("demo", "train", &python_job("train", "print('step')"), &[]);
    server.wait_for("demo", &uuid, is_done, Duration::from_secs(30));

    // Resume: the same run goes again, in place, with its logs kept, under the name given.
    let resumed = cli.ok(&[
        "ops", "resume", "-p", "demo", "-uid", &uuid, "--name", "again",
    ]);
    assert!(
        resumed.contains(&format!("Run was resumed with uid {uuid}")),
        "{resumed}"
    );
    server.wait_for("demo", &uuid, is_done, Duration::from_secs(30));
    let run = server.run("demo", &uuid);
    assert_eq!(
        (&run["status"], &run["name"]),
        (&json!("succeeded"), &json!("again")),
        "{run}"
    );
    let statuses = condition_types(&run);
    let resuming = statuses.iter().position(|kind| kind == "resuming");
    assert!(
        resuming.is_some_and(|at| statuses[..at].contains(&"succeeded".to_owned())
            && statuses[at..].ends_with(&["succeeded".to_owned()])),
        "{statuses:?}"
    );
    let logs = cli.ok(&["ops", "logs", "-p", "demo", "-uid", &uuid]);
    assert_eq!(logs.matches("| step").count(), 2, "both attempts: {logs}");

    // Approve: a run whose Polyaxonfile says `isApproved: false` waits, compiled, until then.
    let held_job = |name: &str| {
        python_job(name, "print('approved')").replacen(
            "kind: component\n",
            "kind: component\nisApproved: false\n",
            1,
        )
    };
    let held = cli.submit("demo", "held", &held_job("held"), &[]);
    std::thread::sleep(Duration::from_secs(1));
    let waiting = server.run("demo", &held);
    assert_eq!(
        (&waiting["status"], &waiting["pending"]),
        (&json!("compiled"), &json!("approval")),
        "{waiting}"
    );
    let approved = cli.ok(&["ops", "approve", "-p", "demo", "-uid", &held]);
    assert!(
        approved.contains(&format!("Run `{held}` was approved")),
        "{approved}"
    );
    server.wait_for("demo", &held, is_done, Duration::from_secs(30));
    let ran = server.run("demo", &held);
    assert_eq!(
        (&ran["status"], &ran["pending"]),
        (&json!("succeeded"), &serde_json::Value::Null)
    );

    // Invalidate: Polyaxon forgets a run's cached results; Myelin caches none. Haupt answers
    // `{}`, and 2.18's CLI then reads a uuid from the answer and fails with Python's
    // AttributeError: the same exit here, and the run is as it was.
    let invalidated = cli.polyaxon(&["ops", "invalidate", "-p", "demo", "-uid", &uuid]);
    assert_eq!(invalidated.status.code(), Some(1), "{invalidated:?}");
    assert!(
        String::from_utf8_lossy(&invalidated.stderr)
            .contains("'NoneType' object has no attribute 'uuid'"),
        "{invalidated:?}"
    );
    assert_eq!(server.run("demo", &uuid)["status"], "succeeded");

    // Transfer: the run moves to the other project, and only there.
    let moved = cli.ok(&[
        "ops",
        "transfer",
        "-p",
        "demo",
        "-uid",
        &uuid,
        "--to-project",
        "other",
    ]);
    assert!(
        moved.contains(&format!("Run `{uuid}` was transferred.")),
        "{moved}"
    );
    assert_eq!(server.run("other", &uuid)["name"], "again");
    let (status, _) = server.request("GET", &format!("/api/v1/default/demo/runs/{uuid}"), None);
    assert_eq!(status, 404);
    let listed = cli.ok(&["ops", "ls", "-p", "other"]);
    assert!(listed.contains(&uuid), "{listed}");

    // What Polyaxon refuses, refused alike: exit 1 with the reason.
    let unfinished = cli.submit("demo", "unfinished", &held_job("unfinished"), &[]);
    let missing = "0123456789abcdef0123456789abcdef";
    for (args, reason) in [
        (
            vec!["ops", "resume", "-p", "demo", "-uid", &unfinished],
            "cannot be resumed before it ends",
        ),
        (
            vec![
                "ops",
                "transfer",
                "-p",
                "other",
                "-uid",
                &uuid,
                "--to-project",
                "nowhere",
            ],
            "the destination project `nowhere` does not exist",
        ),
        (
            vec!["ops", "approve", "-p", "demo", "-uid", missing],
            "Could not approve run",
        ),
    ] {
        let refused = cli.polyaxon(&args);
        let printed = String::from_utf8_lossy(&refused.stdout);
        assert_eq!(refused.status.code(), Some(1), "{args:?}: {printed}");
        assert!(printed.contains(reason), "{args:?}: {printed}");
    }
    assert_eq!(
        cli.refused_connections(),
        "",
        "a client tried to leave loopback"
    );
}

#[test]
fn ops_artifacts_and_ops_pull_download_what_a_run_wrote() {
    let cli = Cli::start("cli-artifacts");
    let server = &cli.server;
    cli.ok(&["project", "create", "--name", "files"]);
    let script = "import os\n\
        uuid = os.environ['POLYAXON_RUN_INSTANCE'].rsplit('.', 1)[1]\n\
        out = os.path.join(os.environ['POLYAXON_CONTEXT_ROOT'], 'artifacts', uuid, 'outputs')\n\
        os.makedirs(os.path.join(out, 'sub'))\n\
        open(os.path.join(out, 'model.txt'), 'w').write('weights')\n\
        open(os.path.join(out, 'sub', 'notes.txt'), 'w').write('deep')\n\
        print('written')";
    let uuid = cli.submit("files", "writer", &python_job("writer", script), &[]);
    server.wait_for("files", &uuid, is_done, Duration::from_secs(30));
    assert_eq!(server.run("files", &uuid)["status"], "succeeded");

    // Where each download lands, under the CLI's folder (the server's), as with Polyaxon CE.
    let read = |path: &str| {
        std::fs::read_to_string(server.root.join(path))
            .unwrap_or_else(|error| panic!("{path}: {error}"))
    };
    for (options, landed) in [
        (vec!["--path", "all"], "all/outputs/sub/notes.txt"),
        (
            vec!["-d", "outputs/sub", "--path", "one"],
            "one/outputs/sub/notes.txt",
        ),
        (
            vec!["-f", "outputs/model.txt", "--path", "single"],
            "single/outputs/model.txt",
        ),
    ] {
        let mut args = vec!["ops", "artifacts", "-p", "files", "-uid", &uuid];
        args.extend(&options);
        let printed = cli.ok(&args);
        assert!(
            server.root.join(landed).is_file(),
            "{options:?} left no {landed}:\n{printed}"
        );
    }
    assert_eq!(read("all/outputs/model.txt"), "weights");
    assert_eq!(read("one/outputs/sub/notes.txt"), "deep");
    assert!(
        read_dir_names(&server.root.join("all/plxlogs")).len() == 1,
        "the logs come with the rest"
    );

    // Pull: the run's record and its artifacts, for offline use.
    let pulled = cli.ok(&[
        "ops", "pull", "-p", "files", "-uid", &uuid, "--path", "pulled",
    ]);
    assert!(pulled.contains("Finished pulling run"), "{pulled}");
    let folder = format!("pulled/runs/{uuid}");
    assert_eq!(read(&format!("{folder}/outputs/sub/notes.txt")), "deep");
    let record: serde_json::Value =
        serde_json::from_str(&read(&format!("{folder}/run.plx.json"))).unwrap();
    assert_eq!(record["uuid"], uuid.as_str(), "{record}");

    // A run that wrote nothing has no artifacts to download, and says so as Polyaxon CE does.
    let (_, nothing) = server.request(
        "POST",
        "/api/v1/default/files/runs",
        Some(&json!({"is_managed": false, "managed_by": "user"})),
    );
    let nothing = nothing["uuid"].as_str().unwrap();
    let refused = cli.polyaxon(&["ops", "artifacts", "-p", "files", "-uid", nothing]);
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert_eq!(cli.refused_connections(), "", "a client left loopback");
}

#[test]
fn run_local_is_compiled_here_and_left_to_the_cli_to_execute() {
    let cli = Cli::start("cli-local");
    let server = &cli.server;
    cli.ok(&["project", "create", "--name", "local"]);
    let file = server.root.join("local.yaml");
    std::fs::write(&file, python_job("local", "print('here')")).unwrap();
    // The CLI's process executor of 2.18 fails once the run is running (it reads a container's
    // `image`, which its process containers lack), against Polyaxon CE as here: what matters
    // is that the server compiled the run and left its execution to the CLI.
    let ran = cli.polyaxon(&[
        "run",
        "-f",
        file.to_str().unwrap(),
        "-p",
        "local",
        "--local",
        "-exc",
        "process",
    ]);
    let printed = String::from_utf8_lossy(&ran.stdout);
    assert_eq!(ran.status.code(), Some(1), "{printed}");
    let uuid = printed
        .split_whitespace()
        .find_map(|word| word.rsplit_once('@').map(|(_, uuid)| uuid.to_owned()))
        .unwrap_or_else(|| panic!("no run uuid in:\n{printed}"));
    let run = server.run("local", &uuid);
    assert_eq!(run["managed_by"], "cli", "{run}");
    let reasons: Vec<(String, String)> = run["status_conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|condition| {
            let text = |key: &str| condition[key].as_str().unwrap_or_default().to_owned();
            (text("type"), text("reason"))
        })
        .collect();
    let expected = [
        ("created", "Myelin"),
        ("compiled", "Myelin"),
        ("scheduled", "CliExecutor"),
        ("starting", "CliProcessExecutor"),
        ("running", "CliProcessExecutor"),
    ]
    .map(|(kind, reason)| (kind.to_owned(), reason.to_owned()));
    assert_eq!(reasons, expected, "{printed}");
    assert_eq!(cli.refused_connections(), "", "a client left loopback");
}

fn read_dir_names(folder: &Path) -> Vec<String> {
    std::fs::read_dir(folder)
        .unwrap_or_else(|error| panic!("{}: {error}", folder.display()))
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// A run in a new project `shell` that prints `ready` and sleeps, once it runs.
fn waiting_in_project_shell(cli: &Cli) -> String {
    cli.ok(&["project", "create", "--name", "shell"]);
    let waiting = python_job("waiting", "import time\nprint('ready')\ntime.sleep(120)");
    let uuid = cli.submit("shell", "waiting", &waiting, &[]);
    cli.server.wait_for(
        "shell",
        &uuid,
        |status| status == "running",
        Duration::from_secs(30),
    );
    uuid
}

#[test]
fn ops_exec_runs_a_command_inside_a_running_run() {
    let cli = Cli::start("cli-exec");
    let uuid = waiting_in_project_shell(&cli);

    // The CLI finds the pod and its main container (`k8s_inspect`), then speaks Kubernetes'
    // exec protocol over a WebSocket (`k8s_exec`).
    let printed = cli.ok(&[
        "ops",
        "exec",
        "-p",
        "shell",
        "-uid",
        &uuid,
        "--",
        "sh",
        "-c",
        "echo instance=$POLYAXON_RUN_INSTANCE",
    ]);
    assert!(
        printed.contains(&format!("instance=default.shell.runs.{uuid}")),
        "{printed}"
    );
    // A command's exit code is the CLI's.
    let failed = cli.polyaxon(&[
        "ops", "exec", "-p", "shell", "-uid", &uuid, "--", "sh", "-c", "exit 3",
    ]);
    assert_eq!(failed.status.code(), Some(3), "{failed:?}");

    // The socket wants the token, and no page of another site may open it.
    let socket = format!(
        "{}/k8s/v1/polyaxon/default/shell/runs/{uuid}/k8s_exec/pod/polyaxon-main?command=true",
        cli.server.url.replacen("http", "ws", 1)
    );
    assert_eq!(handshake(&socket, &[]), 401);
    let token = format!("Token {TOKEN}");
    let elsewhere = [
        ("Authorization", token.as_str()),
        ("Origin", "http://elsewhere.example"),
    ];
    assert_eq!(handshake(&socket, &elsewhere), 403);
    assert_eq!(
        handshake(&socket, &[("Authorization", token.as_str())]),
        101
    );

    cli.ok(&["ops", "stop", "-p", "shell", "-uid", &uuid, "--yes"]);
    cli.server
        .wait_for("shell", &uuid, is_done, Duration::from_secs(30));
    let inspect = format!("/streams/v1/polyaxon/default/shell/runs/{uuid}/k8s_inspect");
    // Once it ended there is nothing to open a terminal in: no pods.
    let (status, ended) = cli.server.request("GET", &inspect, None);
    assert_eq!(status, 200, "{ended}");
    assert_eq!(ended, json!({"pods": {}, "services": {}}));
    assert_eq!(cli.refused_connections(), "", "a client left loopback");
}

#[test]
fn a_terminal_over_the_exec_socket_is_sized_by_its_client_and_goes_with_it() {
    use futures_util::SinkExt as _;
    use tokio::io::AsyncWriteExt as _;

    let cli = Cli::start("cli-tty");
    let uuid = waiting_in_project_shell(&cli);

    // The query as `polyaxon ops shell` sends it, Python's booleans included.
    let url = format!(
        "{}/k8s/v1/polyaxon/default/shell/runs/{uuid}/k8s_exec/pod/polyaxon-main\
         ?command=sh&stderr=True&stdin=True&stdout=True&tty=True",
        cli.server.url.replacen("http", "ws", 1)
    );
    let received = block_on(async {
        let mut socket = open_terminal(&url).await;
        // The server takes the frames in order: the terminal has its size before the shell
        // reads the line.
        socket
            .send(frame(4, br#"{"Width":120,"Height":40}"#))
            .await
            .unwrap();
        socket
            .send(frame(0, b"stty size; tty; exit 3\n"))
            .await
            .unwrap();
        receive_until(&mut socket, |received| received.status.is_some()).await
    });
    let printed = &received.printed;
    assert!(printed.contains("40 120"), "{printed:?}");
    assert!(
        printed.lines().any(|line| line.starts_with("/dev/pts/")),
        "{printed:?}"
    );
    assert!(
        received.errors.is_empty(),
        "errors come with the output on a terminal"
    );
    let status = received.status.unwrap();
    assert_eq!(status["details"]["causes"][0]["message"], "3", "{status}");

    // A terminal whose client goes away hangs up, and its shell ends.
    let shell = block_on(async {
        let mut socket = open_terminal(&url).await;
        socket.send(frame(0, b"echo pid=$$\n")).await.unwrap();
        let received = receive_until(&mut socket, |received| {
            shell_pid(&received.printed).is_some()
        })
        .await;
        shell_pid(&received.printed).unwrap()
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while Path::new(&format!("/proc/{shell}")).exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the shell {shell} outlived its client"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // The real `polyaxon ops shell`, on a terminal of the test's own as a user's would be: it
    // sends that terminal's size, then what is typed, raw.
    let shell = cli.client(
        "polyaxon",
        &[
            "ops",
            "shell",
            "-p",
            "shell",
            "-uid",
            &uuid,
            "--command",
            "sh",
        ],
    );
    block_on(async {
        let mut session = start_on_a_terminal(&shell);
        let resize = session.resize.as_mut().unwrap();
        resize(TerminalSize {
            width: 120,
            height: 40,
        });
        let mut printed = String::new();
        // The CLI drops what is typed before it puts its terminal in raw mode: the remote
        // shell's prompt says it is there.
        read_until(&mut *session.stdout, &mut printed, |printed| {
            printed
                .split_once("Starting a new shell session")
                .is_some_and(|(_, after)| after.contains("# ") || after.contains("$ "))
        })
        .await;
        session.stdin.write_all(b"stty size; tty\r").await.unwrap();
        read_until(&mut *session.stdout, &mut printed, |printed| {
            printed.contains("40 120") && printed.contains("/dev/pts/")
        })
        .await;
        // The CLI stops at the command's status without printing what came in just before it,
        // so the shell exits only once its answers are shown.
        session.stdin.write_all(b"exit 3\r").await.unwrap();
        read_until(&mut *session.stdout, &mut printed, |printed| {
            printed.contains("Disconnecting")
        })
        .await;
    });

    cli.ok(&["ops", "stop", "-p", "shell", "-uid", &uuid, "--yes"]);
    cli.server
        .wait_for("shell", &uuid, is_done, Duration::from_secs(30));
}

/// What a terminal's socket sent: its output, its errors and the command's status.
#[derive(Debug, Default)]
struct Received {
    printed: String,
    errors: Vec<u8>,
    status: Option<serde_json::Value>,
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens `url`, an exec socket, with the token and the protocols `polyaxon ops shell` offers.
async fn open_terminal(url: &str) -> Socket {
    let token = format!("Token {TOKEN}");
    let request = socket_request(
        url,
        &[
            ("Authorization", token.as_str()),
            (
                "Sec-WebSocket-Protocol",
                "v5.channel.k8s.io,v4.channel.k8s.io",
            ),
        ],
    );
    tokio_tungstenite::connect_async(request).await.unwrap().0
}

/// A frame of the channel protocol.
fn frame(channel: u8, data: &[u8]) -> tokio_tungstenite::tungstenite::Message {
    tokio_tungstenite::tungstenite::Message::Binary([&[channel], data].concat().into())
}

/// Reads frames until `enough` says so; fails after 10 s, or when the socket closes first.
async fn receive_until(socket: &mut Socket, enough: impl Fn(&Received) -> bool) -> Received {
    use futures_util::StreamExt as _;
    use tokio_tungstenite::tungstenite::Message;

    let mut received = Received::default();
    let reading = async {
        while !enough(&received) {
            let message = socket.next().await.expect("the socket closed early");
            let Message::Binary(data) = message.unwrap() else {
                continue;
            };
            match data[0] {
                1 => received
                    .printed
                    .push_str(&String::from_utf8_lossy(&data[1..])),
                2 => received.errors.extend_from_slice(&data[1..]),
                3 => received.status = Some(serde_json::from_slice(&data[1..]).unwrap()),
                other => panic!("a frame on channel {other}"),
            }
        }
    };
    if tokio::time::timeout(Duration::from_secs(10), reading)
        .await
        .is_err()
    {
        panic!("not received within 10 s: {received:?}");
    }
    received
}

/// The pid a shell printed as `pid=N`; not the `pid=$$` the terminal echoes.
fn shell_pid(printed: &str) -> Option<u32> {
    printed.split("pid=").skip(1).find_map(|after| {
        let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    })
}

/// Starts `command` on a new pseudo-terminal, with its environment and folder.
fn start_on_a_terminal(command: &Command) -> ExecSession {
    let argv: Vec<String> = std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|word| word.to_string_lossy().into_owned())
        .collect();
    let prepare = |process: &mut tokio::process::Command| {
        for (name, value) in command.get_envs() {
            match value {
                Some(value) => process.env(name, value),
                None => process.env_remove(name),
            };
        }
        if let Some(folder) = command.get_current_dir() {
            process.current_dir(folder);
        }
    };
    backend::runtime::pty::exec(&argv, prepare, std::future::pending()).unwrap()
}

/// A WebSocket request for `url` with `headers`.
fn socket_request(
    url: &str,
    headers: &[(&str, &str)],
) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

    let mut request = url.into_client_request().unwrap();
    for (name, value) in headers {
        let name = tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes());
        request
            .headers_mut()
            .insert(name.unwrap(), value.parse().unwrap());
    }
    request
}

/// Runs `future` to its end on a runtime of its own: these tests are otherwise synchronous.
fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

/// The status a WebSocket handshake with `headers` gets (101 when it opens).
fn handshake(url: &str, headers: &[(&str, &str)]) -> u16 {
    let request = socket_request(url, headers);
    block_on(async {
        match tokio_tungstenite::connect_async(request).await {
            Ok((_, response)) => response.status().as_u16(),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                response.status().as_u16()
            }
            Err(other) => panic!("{url}: {other}"),
        }
    })
}

#[test]
fn components_registered_here_and_the_bundled_hub_run_through_the_polyaxon_cli() {
    let cli = Cli::start("cli-hub");
    let server = &cli.server;
    cli.ok(&["project", "create", "--name", "sleeper"]);
    cli.ok(&["project", "create", "--name", "work"]);

    // A user's component: a project whose versions are Polyaxonfiles.
    let component = server.root.join("sleeper.yaml");
    std::fs::write(
        &component,
        "kind: component\nname: sleeper\ninputs:\n- {name: seconds, type: int, value: 0}\nrun:\n  kind: job\n  container: {image: busybox, command: [sleep], args: ['{{ seconds }}']}\n",
    )
    .unwrap();
    let file = component.to_str().unwrap();
    cli.ok(&[
        "components",
        "register",
        "-f",
        file,
        "-p",
        "sleeper",
        "-ver",
        "v1",
        "--description",
        "sleeps",
    ]);
    // `register`, `update`, `stage`, `transfer`, `delete`, `copy`, `pull` and `push` go to the
    // configured host; against a CE server, `ls`, `get` and `stages` ask Polyaxon's cloud.
    cli.ok(&[
        "components",
        "update",
        "-p",
        "sleeper",
        "-ver",
        "v1",
        "--tags",
        "demo",
    ]);
    cli.ok(&[
        "components",
        "stage",
        "-p",
        "sleeper",
        "-ver",
        "v1",
        "-to",
        "staging",
    ]);
    let version = server.get("/api/v1/default/sleeper/versions/component/v1");
    assert_eq!(version["description"], "sleeps", "{version}");
    assert_eq!(version["tags"], json!(["demo"]), "{version}");
    assert_eq!(version["stage"], "staging", "{version}");
    assert_eq!(
        version["state"].as_str().map(str::len),
        Some(40),
        "{version}"
    );
    let hub = server.get("/api/v1/hub/default/sleeper");
    assert_eq!(
        hub["versions"][0]["tag"], "v1",
        "registered, it is in the catalog at once: {hub}"
    );
    let again = cli.polyaxon(&[
        "components",
        "register",
        "-f",
        file,
        "-p",
        "sleeper",
        "-ver",
        "v1",
    ]);
    assert_ne!(
        again.status.code(),
        Some(0),
        "a taken version is refused without --force"
    );

    // The CLI resolves the reference against this server, and the run goes.
    let printed = cli.ok(&[
        "run",
        "--hub",
        "default/sleeper:v1",
        "-p",
        "work",
        "-P",
        "seconds=1",
    ]);
    let uuid = printed
        .split_whitespace()
        .find_map(|word| word.rsplit_once('@').map(|(_, uuid)| uuid.to_owned()))
        .unwrap_or_else(|| panic!("no run uuid in:\n{printed}"));
    let ended = server.wait_for("work", &uuid, is_done, Duration::from_secs(60));
    assert_eq!(ended, "succeeded", "{}", server.run("work", &uuid));

    // The bundled hub, read in a git registry's layout from this server: no cloud.
    let registry = format!("{}/registry", server.url);
    let printed = String::from_utf8_lossy(
        &cli.client(
            "polyaxon",
            &["run", "--hub", "shell", "-p", "work", "-P", "timeout=1"],
        )
        .env("POLYAXON_USE_GIT_REGISTRY", "true")
        .env("POLYAXON_PUBLIC_REGISTRY", &registry)
        .output()
        .unwrap()
        .stdout,
    )
    .into_owned();
    let uuid = printed
        .split_whitespace()
        .find_map(|word| word.rsplit_once('@').map(|(_, uuid)| uuid.to_owned()))
        .unwrap_or_else(|| panic!("no run uuid in:\n{printed}"));
    let ended = server.wait_for("work", &uuid, is_done, Duration::from_secs(60));
    let run = server.run("work", &uuid);
    assert_eq!(ended, "succeeded", "{run}");
    assert_eq!(run["name"], "shell", "{run}");
    assert_eq!(cli.refused_connections(), "", "a client left loopback");
}

#[test]
fn tensorboard_from_the_public_hub_s_path_serves_through_the_polyaxon_cli() {
    let cli = Cli::start_with("cli-tensorboard", Some(service_programs()));
    let server = &cli.server;
    cli.ok(&["project", "create", "--name", "boards"]);
    let logs = server.root.join("logs");
    std::fs::create_dir_all(&logs).unwrap();

    // The CLI reads `tensorboard/path.yaml` from this server's git-registry layout.
    let registry = format!("{}/registry", server.url);
    let output = cli
        .client(
            "polyaxon",
            &[
                "run",
                "--hub",
                "tensorboard:path",
                "-p",
                "boards",
                "-P",
                &format!("path={}", logs.display()),
            ],
        )
        .env("POLYAXON_USE_GIT_REGISTRY", "true")
        .env("POLYAXON_PUBLIC_REGISTRY", &registry)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{printed}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let uuid = printed
        .split_whitespace()
        .find_map(|word| word.rsplit_once('@').map(|(_, uuid)| uuid.to_owned()))
        .unwrap_or_else(|| panic!("no run uuid in:\n{printed}"));
    server.wait_for(
        "boards",
        &uuid,
        |status| status == "running",
        Duration::from_secs(60),
    );
    let run: shared::api::Run = serde_json::from_value(server.run("boards", &uuid)).unwrap();
    assert_eq!(run.name.as_deref(), Some("tensorboard"));

    // TensorBoard itself answers at the run's address, through Myelin.
    let path = run.service_path().expect("a service has a page");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let page = loop {
        let (status, page) = server.send("GET", &path, None);
        if status == 200 {
            break page;
        }
        if std::time::Instant::now() > deadline {
            let logs = server.get(&format!(
                "/streams/v1/polyaxon/default/boards/runs/{uuid}/logs"
            ));
            panic!(
                "TensorBoard never answered: {status} {page}\n{}\n{logs}",
                server.run("boards", &uuid)
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    assert!(
        page.contains("<tf-tensorboard") || page.contains("TensorBoard"),
        "{page}"
    );

    cli.ok(&["ops", "stop", "-p", "boards", "-uid", &uuid, "--yes"]);
    let ended = server.wait_for("boards", &uuid, is_done, Duration::from_secs(30));
    assert_eq!(ended, "stopped", "{}", server.run("boards", &uuid));
    assert_eq!(cli.refused_connections(), "", "a client left loopback");
}

#[test]
fn the_cli_filters_on_what_the_tracking_client_s_metrics_came_to() {
    let cli = Cli::start("cli-metric-summaries");
    let server = &cli.server;
    cli.ok(&["project", "create", "--name", "summed"]);
    let python = cli.venv.join("bin/python");
    let script = "from polyaxon import tracking\n\
        tracking.init()\n\
        for step in range(1, 5):\n    tracking.log_metrics(step=step, loss=1.0 / step)\n\
        tracking.end()";
    let polyaxonfile = format!(
        "kind: component\nname: summed\nrun:\n  kind: job\n  container:\n    image: python:3.11\n    command: [{}, -u, -c]\n    args: [{}]\n",
        serde_json::to_string(&python.to_string_lossy()).unwrap(),
        serde_json::to_string(script).unwrap()
    );
    let uuid = cli.submit("summed", "summed", &polyaxonfile, &[]);
    cli.ok(&["ops", "statuses", "-p", "summed", "-uid", &uuid, "--watch"]);
    assert_eq!(server.run("summed", &uuid)["status"], "succeeded");

    // Its loss went down to 0.25: the summary the server keeps says so, read once more as the
    // run ended, so the list may need a moment.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let below = |bound: &str| {
        cli.ok(&[
            "ops",
            "ls",
            "-p",
            "summed",
            "-q",
            &format!("metrics.loss.min:<{bound}"),
        ])
    };
    let found = loop {
        let found = below("0.5");
        if found.contains(&uuid) || std::time::Instant::now() > deadline {
            break found;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    assert!(found.contains(&uuid), "{found}");
    let none = below("0.01");
    assert!(!none.contains(&uuid), "{none}");
    let sorted = cli.ok(&["ops", "ls", "-p", "summed", "-s", "-metrics.loss.max"]);
    assert!(sorted.contains(&uuid), "{sorted}");

    // The client reads the series back across runs, as a comparison does.
    let script = "import json, sys\nfrom polyaxon.client import RunClient\n\
        client = RunClient(owner='default', project='summed', run_uuid=sys.argv[1])\n\
        events = client.get_multi_run_events(kind='metric', runs=[sys.argv[1]], names=['loss'])\n\
        print(json.dumps(events.to_dict()['data']))";
    let printed = cli.succeed("python", &["-c", script, &uuid]);
    let data: serde_json::Value =
        serde_json::from_str(printed.trim()).unwrap_or_else(|error| panic!("{error}: {printed}"));
    let loss = &data[uuid.as_str()][0];
    assert_eq!(loss["name"], "loss", "{data}");
    assert_eq!(loss["data"]["step"], json!([1, 2, 3, 4]), "{data}");
    assert_eq!(loss["data"]["metric"][3], 0.25, "{data}");
    assert_eq!(
        cli.refused_connections(),
        "",
        "a client tried to leave loopback"
    );
}

#[test]
fn the_cli_submits_a_grid_and_a_dag_and_lists_their_children() {
    let cli = Cli::start("cli-grid");
    let server = &cli.server;
    cli.ok(&["project", "create", "--name", "sweeps"]);
    let component = "kind: component\nname: trial\ninputs:\n- {name: opt, type: str}\n- {name: lr, type: float}\nrun:\n  kind: job\n  container:\n    image: python:3.11\n    command: [python3, -c, 'print(\"{{ opt }} {{ lr }}\")']\n";
    // A matrix written in the Polyaxonfile…
    let grid = format!(
        "kind: operation\nname: written\nmatrix:\n  kind: grid\n  concurrency: 2\n  params:\n    opt: {{kind: choice, value: [adam, sgd]}}\n    lr: {{kind: choice, value: [0.1, 0.01, 0.001]}}\ncomponent:\n{}",
        component
            .lines()
            .map(|line| format!("  {line}\n"))
            .collect::<String>()
    );
    let written = cli.submit("sweeps", "grid", &grid, &[]);
    // …and one the CLI builds from its flags.
    let flagged = cli.submit(
        "sweeps",
        "trial",
        component,
        &[
            "-HP",
            "opt=choice:[adam, sgd]",
            "-HP",
            "lr=linspace:0.1:0.3:3",
            "--matrix-kind",
            "grid",
            "--matrix-concurrency",
            "3",
        ],
    );
    for (pipeline, runs) in [(&written, 6), (&flagged, 6)] {
        let status = server.wait_for("sweeps", pipeline, is_done, Duration::from_secs(90));
        assert_eq!(status, "succeeded", "{}", server.run("sweeps", pipeline));
        let listed = cli.ok(&[
            "ops",
            "ls",
            "-p",
            "sweeps",
            "-q",
            &format!("pipeline:{pipeline}"),
            "-l",
            "100",
        ]);
        let children = server.get(&format!(
            "/api/v1/default/sweeps/runs?query=pipeline:{pipeline}&limit=100"
        ));
        let children = children["results"].as_array().unwrap();
        assert_eq!(children.len(), runs, "{listed}");
        for child in children {
            let uuid = child["uuid"].as_str().unwrap();
            assert!(listed.contains(uuid), "{uuid} not in:\n{listed}");
            assert_eq!(child["status"], "succeeded");
        }
        assert!(!listed.contains(pipeline.as_str()), "{listed}");
    }
    // A DAG: its operations are its children, each run once its upstream ended.
    let dag = "kind: operation\nname: flow\ncomponent:\n  run:\n    kind: dag\n    operations:\n    - {name: first, dagRef: say}\n    - {name: second, dagRef: say, dependencies: [first]}\n    components:\n    - name: say\n      run:\n        kind: job\n        container: {image: python:3.11, command: [python3, -c, 'print(1)']}\n";
    let flow = cli.submit("sweeps", "flow", dag, &[]);
    let status = server.wait_for("sweeps", &flow, is_done, Duration::from_secs(60));
    assert_eq!(status, "succeeded", "{}", server.run("sweeps", &flow));
    let listed = cli.ok(&[
        "ops",
        "ls",
        "-p",
        "sweeps",
        "-q",
        &format!("pipeline:{flow}"),
    ]);
    for name in ["first", "second"] {
        assert!(listed.contains(name), "{name} not in:\n{listed}");
    }
    let flagged_children = server.get(&format!(
        "/api/v1/default/sweeps/runs?query=pipeline:{flagged}&limit=100"
    ));
    let mut lrs: Vec<f64> = flagged_children["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|child| child["inputs"]["lr"].as_f64().unwrap())
        .collect();
    lrs.sort_by(f64::total_cmp);
    lrs.dedup();
    assert_eq!(lrs.len(), 3, "{lrs:?}");
    assert!(
        (lrs[0] - 0.1).abs() < 1e-9 && (lrs[2] - 0.3).abs() < 1e-9,
        "{lrs:?}"
    );
    assert_eq!(
        cli.refused_connections(),
        "",
        "a client tried to leave loopback"
    );
}

#[test]
fn a_metric_reaching_its_early_stopping_value_ends_the_search() {
    let cli = Cli::start("cli-early-stopping");
    let server = &cli.server;
    cli.ok(&["project", "create", "--name", "early"]);
    let python = cli.venv.join("bin/python");
    let script = "import sys\nfrom polyaxon import tracking\ntracking.init()\ntracking.log_metrics(step=1, loss=float(sys.argv[1]))\ntracking.end()\n";
    let operation = format!(
        "kind: operation\nname: early\nmatrix:\n  kind: mapping\n  concurrency: 1\n  earlyStopping:\n  - {{kind: metric_early_stopping, metric: loss, value: 0.15, optimization: minimize}}\n  values: [{{lr: 0.5}}, {{lr: 0.1}}, {{lr: 0.3}}, {{lr: 0.2}}]\ncomponent:\n  inputs: [{{name: lr, type: float}}]\n  run:\n    kind: job\n    container:\n      image: python:3.11\n      command: [{}, -u, -c, {}, '{{{{ lr }}}}']\n",
        serde_json::to_string(&python.to_string_lossy()).unwrap(),
        serde_json::to_string(script).unwrap()
    );
    let uuid = cli.submit("early", "early", &operation, &[]);
    let status = server.wait_for("early", &uuid, is_done, Duration::from_secs(90));
    let pipeline = server.run("early", &uuid);
    assert_eq!(status, "succeeded", "{pipeline}");
    let last = pipeline["status_conditions"]
        .as_array()
        .unwrap()
        .last()
        .unwrap();
    assert_eq!(last["reason"], "EarlyStopping", "{pipeline}");
    assert!(
        last["message"]
            .as_str()
            .unwrap()
            .contains("reached loss 0.1"),
        "{last}"
    );
    let children = server.get(&format!(
        "/api/v1/default/early/runs?query=pipeline:{uuid}&limit=10"
    ));
    let by_lr = |lr: f64| {
        children["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|child| child["inputs"]["lr"].as_f64() == Some(lr))
            .cloned()
            .unwrap_or_else(|| panic!("no run with lr {lr}: {children}"))
    };
    assert_eq!(by_lr(0.5)["status"], "succeeded");
    // The run that reached the goal is not stopped: it goes on to its end.
    let winner = by_lr(0.1)["uuid"].as_str().unwrap().to_owned();
    assert_eq!(
        server.wait_for("early", &winner, is_done, Duration::from_secs(30)),
        "succeeded"
    );
    // The one after the goal may have started before its summary was read; the last never did.
    assert_eq!(by_lr(0.3)["status"], "stopped");
    assert_eq!(by_lr(0.2)["status"], "stopped");
    assert!(by_lr(0.2)["started_at"].is_null(), "{}", by_lr(0.2));
}

/// A search of `x` in [0, 1] by the `matrix` given (its kind's lines), each run logging
/// `score = -(x - 0.3)²` through the tracking client: each child's `x`, `started_at` and
/// `finished_at`, in the order they were created, once the search succeeded.
fn search_runs(cli: &Cli, project: &str, matrix: &str) -> Vec<(f64, String, String)> {
    let server = &cli.server;
    cli.ok(&["project", "create", "--name", project]);
    let python = cli.venv.join("bin/python");
    let script = "import sys\nfrom polyaxon import tracking\nx = float(sys.argv[1])\ntracking.init()\ntracking.log_metrics(step=1, score=-(x - 0.3) ** 2)\ntracking.end()\n";
    let operation = format!(
        "kind: operation\nname: learn\nmatrix:\n{matrix}  params:\n    x: {{kind: uniform, value: [0, 1]}}\ncomponent:\n  inputs: [{{name: x, type: float}}]\n  run:\n    kind: job\n    container:\n      image: python:3.11\n      command: [{}, -u, -c, {}, '{{{{ x }}}}']\n",
        serde_json::to_string(&python.to_string_lossy()).unwrap(),
        serde_json::to_string(script).unwrap()
    );
    let uuid = cli.submit(project, "learn", &operation, &[]);
    let status = server.wait_for(project, &uuid, is_done, Duration::from_secs(180));
    assert_eq!(status, "succeeded", "{}", server.run(project, &uuid));
    let children = server.get(&format!(
        "/api/v1/default/{project}/runs?query=pipeline:{uuid}&sort=created_at&limit=50"
    ));
    let text =
        |child: &serde_json::Value, key: &str| child[key].as_str().unwrap_or_default().to_owned();
    children["results"]
        .as_array()
        .unwrap()
        .iter()
        // An iterative search's tuner runs are its children too.
        .filter(|child| !child["inputs"]["x"].is_null())
        .map(|child| {
            let x = child["inputs"]["x"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&x), "{child}");
            (x, text(child, "started_at"), text(child, "finished_at"))
        })
        .collect()
}

/// How far each run's `x` is from the best, 0.3.
fn gaps(runs: &[(f64, String, String)]) -> Vec<f64> {
    runs.iter().map(|(x, _, _)| (x - 0.3).abs()).collect()
}

#[test]
fn an_iterative_search_runs_the_users_tuner_each_iteration() {
    let cli = Cli::start("cli-iterative");
    let server = &cli.server;
    cli.ok(&["project", "create", "--name", "halver"]);
    // The user's tuner: three runs first, then two around the best so far, each step half
    // the one before; it reads what the runs came to from its inputs.
    let tuner = "from polyaxon import tracking\ntracking.init()\ninputs = tracking.TRACKING_RUN.get_inputs()\nconfigs, metrics = inputs.get('configs') or [], inputs.get('metrics') or []\niteration = inputs['iteration']\nassert inputs['matrix']['kind'] == 'iterative'\nif not configs:\n    suggestions = [{'x': 0.0}, {'x': 0.5}, {'x': 1.0}]\nelse:\n    best = max(range(len(configs)), key=lambda i: metrics[i].get('score', -1e9))\n    x, step = configs[best]['x'], 0.25 / 2 ** (iteration - 1)\n    suggestions = [{'x': round(x - step, 6)}, {'x': round(x + step, 6)}]\ntracking.log_outputs(suggestions=suggestions)\ntracking.end()\n";
    let component = server.root.join("halver.yaml");
    std::fs::write(
        &component,
        format!(
            "kind: component\nname: halver\ninputs:\n- {{name: matrix, type: dict}}\n- {{name: configs, type: dict, isList: true, isOptional: true}}\n- {{name: metrics, type: dict, isList: true, isOptional: true}}\n- {{name: iteration, type: int}}\noutputs:\n- {{name: suggestions, type: dict, isList: true, isOptional: true}}\nrun:\n  kind: job\n  container:\n    image: python:3.11\n    command: [{}, -u, -c, {}]\n",
            serde_json::to_string(&cli.venv.join("bin/python").to_string_lossy()).unwrap(),
            serde_json::to_string(tuner).unwrap()
        ),
    )
    .unwrap();
    let file = component.to_str().unwrap();
    cli.ok(&[
        "components",
        "register",
        "-f",
        file,
        "-p",
        "halver",
        "-ver",
        "v1",
    ]);
    let matrix = "  kind: iterative\n  concurrency: 2\n  maxIterations: 3\n  tuner: {hubRef: default/halver:v1}\n";
    let runs = search_runs(&cli, "iterative", matrix);
    let xs: Vec<f64> = runs.iter().map(|(x, _, _)| *x).collect();
    // 0.5 was best, then 0.25, then 0.375 (its score beside 0.125's).
    assert_eq!(xs, [0.0, 0.5, 1.0, 0.25, 0.75, 0.125, 0.375]);
}

#[test]
fn a_bayes_search_learns_from_the_scores_its_runs_log() {
    let cli = Cli::start("cli-bayes");
    let matrix = "  kind: bayes\n  concurrency: 1\n  seed: 5\n  numInitialRuns: 3\n  maxIterations: 6\n  utilityFunction: {acquisitionFunction: ucb, kappa: 1.0, gaussianProcess: {kernel: rbf, lengthScale: 0.3}}\n  metric: {name: score, optimization: maximize}\n";
    let gaps = gaps(&search_runs(&cli, "bayes", matrix));
    assert_eq!(gaps.len(), 9, "3 initial runs and 6 iterations");
    let initial = gaps[..3].iter().copied().fold(f64::MAX, f64::min);
    let learned = gaps[3..].iter().copied().fold(f64::MAX, f64::min);
    assert!(
        learned < initial,
        "the search did not improve on its random start: {gaps:?}"
    );
    assert!(learned < 0.05, "{gaps:?}");
}

#[test]
fn a_tpe_search_keeps_its_places_busy_and_learns() {
    let cli = Cli::start("cli-tpe");
    let matrix = "  kind: tpe\n  concurrency: 4\n  seed: 3\n  numRuns: 10\n  maxIterations: 2\n  metric: {name: score, optimization: maximize}\n";
    let runs = search_runs(&cli, "tpe", matrix);
    assert_eq!(runs.len(), 20, "10 runs for each of 2 iterations");
    // At most 4 at once, and more than one: a place is filled as soon as it frees.
    let most_at_once = runs
        .iter()
        .map(|(_, started, _)| {
            runs.iter()
                .filter(|(_, start, end)| start <= started && started < end)
                .count()
        })
        .max()
        .unwrap();
    assert!((2..=4).contains(&most_at_once), "{runs:?}");
    // The first 10 runs to report are drawn from the prior (|x - 0.3| averages 0.29 there);
    // the last 4 were suggested once at least 12 had, guided by the better ones.
    let gaps = gaps(&runs);
    let mean = |gaps: &[f64]| gaps.iter().sum::<f64>() / gaps.len() as f64;
    assert!(
        mean(&gaps[16..]) < mean(&gaps[..10]) / 2.0,
        "the guided runs are no closer than the prior's: {gaps:?}"
    );
}
