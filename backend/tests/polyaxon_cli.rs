//! The unmodified `polyaxon` CLI and tracking client (PyPI 2.18.0) against a real Myelin server.
//!
//! The venv comes from `cargo xtask setup` (or `MYELIN_POLYAXON_VENV`). Every Python process,
//! the CLI's and the runs', has an audit hook that refuses and records any connection that is
//! not to loopback; the tests fail if one was tried.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value as Json;

const TOKEN: &str = "myelin-test-token";

const NETWORK_GUARD: &str = r#"
import ipaddress, os, sys

_LOG = os.environ.get("MYELIN_NETWORK_GUARD_LOG")

def _loopback(host):
    if isinstance(host, bytes):
        host = host.decode()
    if host in (None, "", "localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
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

/// A Myelin server with its own data folder, and the environment the CLI needs to reach it.
struct Server {
    root: PathBuf,
    url: String,
    process: Child,
    venv: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
        let _ = std::fs::remove_dir_all(&self.root);
    }
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

impl Server {
    fn start(name: &str) -> Self {
        let venv = venv();
        let root = std::env::temp_dir().join(format!("myelin-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("guard")).unwrap();
        std::fs::write(root.join("guard/sitecustomize.py"), NETWORK_GUARD).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_myelin"));
        command
            .args(["serve", "--port", "0", "--data-dir"])
            .arg(root.join("data"))
            .arg("--web-dir")
            .arg(root.join("dist"))
            .env("MYELIN_TOKEN", TOKEN)
            .env("MYELIN_MAX_CONCURRENT_RUNS", "4")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        // Runs are Python processes started by the server: they get the guard too.
        Self::guard(&mut command, &root);
        let mut process = command.spawn().expect("the myelin binary starts");
        let mut first_line = String::new();
        BufReader::new(process.stdout.take().unwrap())
            .read_line(&mut first_line)
            .unwrap();
        let url = first_line
            .trim()
            .strip_prefix("myelin listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {first_line}"))
            .to_owned();
        Self {
            root,
            url,
            process,
            venv,
        }
    }

    fn guard(command: &mut Command, root: &Path) {
        command
            .env("PYTHONPATH", root.join("guard"))
            .env("MYELIN_NETWORK_GUARD_LOG", root.join("guard/refused.log"));
    }

    fn refused_connections(&self) -> String {
        std::fs::read_to_string(self.root.join("guard/refused.log")).unwrap_or_default()
    }

    /// Runs `polyaxon ARGS` as a user would, with only environment variables for settings.
    fn polyaxon(&self, args: &[&str]) -> Output {
        let mut command = Command::new(self.venv.join("bin/polyaxon"));
        command
            .args(args)
            .current_dir(&self.root)
            // The CLI caches the current project under the user's home, whatever POLYAXON_HOME
            // says: each server gets a home of its own, so parallel tests do not share it.
            .env("HOME", self.root.join("home"))
            .env("POLYAXON_HOME", self.root.join("home"))
            .env("POLYAXON_HOST", &self.url)
            .env("POLYAXON_AUTH_TOKEN", TOKEN)
            .env("POLYAXON_DISABLE_ERRORS_REPORTING", "true")
            .env("POLYAXON_INTERVALS_COMPATIBILITY_CHECK", "-1")
            .env("POLYAXON_WATCH_INTERVAL", "1")
            .env("COLUMNS", "200")
            .stdin(Stdio::null());
        Self::guard(&mut command, &self.root);
        command.output().expect("the polyaxon CLI starts")
    }

    /// `polyaxon ARGS`, which must succeed; its standard output.
    fn ok(&self, args: &[&str]) -> String {
        let output = self.polyaxon(args);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "polyaxon {args:?} failed ({}):\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    }

    /// A JSON GET on the API, with the token.
    fn get(&self, path: &str) -> Json {
        let host = self.url.strip_prefix("http://").unwrap();
        let mut stream = std::net::TcpStream::connect(host).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Token {TOKEN}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).unwrap();
        let (head, body) = reply.split_once("\r\n\r\n").unwrap();
        assert!(
            head.starts_with("HTTP/1.1 200"),
            "GET {path}: {head}\n{body}"
        );
        serde_json::from_str(body).unwrap_or_else(|error| panic!("GET {path}: {error}: {body}"))
    }

    fn run(&self, project: &str, uuid: &str) -> Json {
        self.get(&format!("/api/v1/default/{project}/runs/{uuid}"))
    }

    fn wait_for_status(&self, project: &str, uuid: &str, wanted: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let status = self.run(project, uuid)["status"].clone();
            if status == wanted {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "run {uuid} is {status} after {within:?}, not {wanted}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Writes a Polyaxonfile in the server's folder and submits it with `polyaxon run`; the new
    /// run's uuid.
    fn submit(&self, project: &str, name: &str, polyaxonfile: &str, extra: &[&str]) -> String {
        let file = self.root.join(format!("{name}.yaml"));
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

fn python_job(name: &str, script: &str) -> String {
    format!(
        "kind: component\nname: {name}\ninputs:\n- name: lr\n  type: float\n  value: 0.01\n  isOptional: true\nrun:\n  kind: job\n  container:\n    image: python:3.11\n    command: [python3, -u, -c]\n    args: [{}]\n",
        serde_json::to_string(script).unwrap()
    )
}

#[test]
fn projects_and_runs_through_the_polyaxon_cli() {
    let server = Server::start("flows");
    let created = server.ok(&[
        "project",
        "create",
        "--name",
        "demo",
        "--description",
        "CLI flows",
    ]);
    assert!(created.contains("Project `demo` was created"), "{created}");
    let got = server.ok(&["project", "get", "-p", "demo"]);
    assert!(got.contains("CLI flows"), "{got}");
    let listed = server.ok(&["project", "ls"]);
    assert!(listed.contains("demo"), "{listed}");

    // Submit with a param, watch the statuses to the end, read the run back.
    let train = python_job(
        "train",
        "for i in range(3):\n    print(f'step {i} lr={{ lr }}')",
    );
    let uuid = server.submit("demo", "train", &train, &["-P", "lr=0.1"]);
    let watched = server.ok(&["ops", "statuses", "-p", "demo", "-uid", &uuid, "--watch"]);
    assert!(watched.contains("succeeded"), "{watched}");
    let got = server.ok(&["ops", "get", "-p", "demo", "-uid", &uuid]);
    assert!(got.contains("0.1") && got.contains("succeeded"), "{got}");
    let run = server.run("demo", &uuid);
    assert_eq!(run["inputs"]["lr"], 0.1);
    let logs = server.ok(&["ops", "logs", "-p", "demo", "-uid", &uuid]);
    assert!(logs.contains("step 2 lr=0.1"), "{logs}");

    // A failing run, to list by status.
    let failing = python_job("broken", "raise SystemExit(2)");
    let failed = server.submit("demo", "broken", &failing, &[]);
    server.wait_for_status("demo", &failed, "failed", Duration::from_secs(30));
    let succeeded = server.ok(&[
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
    let everything = server.ok(&["ops", "ls", "-p", "demo", "-l", "1"]);
    assert!(
        everything.contains(&failed) && !everything.contains(&uuid),
        "newest first, one row:\n{everything}"
    );

    // Follow a live run's logs to its end: every line once, in order.
    let counting = python_job(
        "count",
        "import time\nfor i in range(40):\n    print(f'line-{i}')\n    time.sleep(0.1)",
    );
    let live = server.submit("demo", "count", &counting, &[]);
    let followed = server.ok(&["ops", "logs", "-p", "demo", "-uid", &live]);
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
    let long = server.submit("demo", "sleeper", &sleeper, &[]);
    server.wait_for_status("demo", &long, "running", Duration::from_secs(30));
    server.ok(&["ops", "stop", "-p", "demo", "-uid", &long, "-y"]);
    server.wait_for_status("demo", &long, "stopped", Duration::from_secs(20));
    let statuses = server.ok(&["ops", "statuses", "-p", "demo", "-uid", &long]);
    assert!(
        statuses.contains("stopping") && statuses.contains("stopped"),
        "{statuses}"
    );
    server.ok(&["ops", "delete", "-p", "demo", "-uid", &long, "-y"]);
    let gone = server.polyaxon(&["ops", "get", "-p", "demo", "-uid", &long]);
    assert!(!gone.status.success(), "the deleted run is still there");

    assert_eq!(
        server.refused_connections(),
        "",
        "a client tried to leave loopback"
    );
}

#[test]
fn the_tracking_client_in_a_run_logs_metrics_and_outputs() {
    let server = Server::start("tracking");
    server.ok(&["project", "create", "--name", "tracked"]);
    let python = server.venv.join("bin/python");
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
    let uuid = server.submit("tracked", "tracked", &polyaxonfile, &[]);
    let watched = server.ok(&["ops", "statuses", "-p", "tracked", "-uid", &uuid, "--watch"]);
    let run = server.run("tracked", &uuid);
    assert_eq!(
        run["status"],
        "succeeded",
        "{watched}\n{}",
        server.ok(&["ops", "logs", "-p", "tracked", "-uid", &uuid])
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

    let metric = server.root.join(format!(
        "data/context/artifacts/{uuid}/events/metric/loss.plx"
    ));
    let text = std::fs::read_to_string(&metric)
        .unwrap_or_else(|error| panic!("{}: {error}", metric.display()));
    let rows: Vec<&str> = text.lines().filter(|line| !line.is_empty()).collect();
    assert_eq!(rows[0], "step|timestamp|metric");
    assert_eq!(rows.len(), 4, "{text}");
    assert!(
        rows[3].starts_with("3|") && rows[3].ends_with("|0.3333333333333333"),
        "{text}"
    );

    let filtered = server.get("/api/v1/default/tracked/runs?query=outputs.final_loss%3A%3C0.5");
    assert_eq!(filtered["count"], 1, "{filtered}");
    assert_eq!(
        server.refused_connections(),
        "",
        "a client tried to leave loopback"
    );
}
