//! The real `myelin` binary serving a data folder of its own, and plain HTTP/1.1 to reach it:
//! what the tests that need a whole server (the polyaxon CLI, restarts) share.

#![allow(dead_code)] // Each test file uses its own part of this module.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value as Json;

/// The token every test server requires.
pub const TOKEN: &str = "myelin-test-token";

/// A running server and the folder it keeps everything in (removed when dropped).
pub struct Server {
    /// The test's folder; the server's data is in `data/`.
    pub root: PathBuf,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The server's data folder.
    data: PathBuf,
    process: Option<Child>,
    environment: Vec<(String, PathBuf)>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

impl Server {
    /// A server on a free port over a new, empty folder named after `name`. `environment` is
    /// given to the server and so to the runs it starts.
    pub fn start(name: &str, environment: &[(&str, PathBuf)]) -> Self {
        Self::start_on(name, environment, None)
    }

    /// A server as [`Server::start`] starts it, keeping its data in `data` when given (a disk
    /// of the test's own, say) rather than in its folder's `data/`.
    pub fn start_on(name: &str, environment: &[(&str, PathBuf)], data: Option<PathBuf>) -> Self {
        let root = std::env::temp_dir().join(format!("myelin-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let mut server = Self {
            data: data.unwrap_or_else(|| root.join("data")),
            root,
            url: String::new(),
            process: None,
            environment: environment
                .iter()
                .map(|(name, value)| ((*name).to_owned(), value.clone()))
                .collect(),
        };
        server.launch();
        server
    }

    fn launch(&mut self) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_myelin"));
        command
            .args(["serve", "--port", "0", "--data-dir"])
            .arg(&self.data)
            .arg("--web-dir")
            .arg(self.root.join("dist"))
            .env("MYELIN_TOKEN", TOKEN)
            .env("MYELIN_MAX_CONCURRENT_RUNS", "4")
            .env("RUST_LOG", "error")
            .envs(self.environment.iter().map(|(name, value)| (name, value)))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut process = command.spawn().expect("the myelin binary starts");
        let mut first_line = String::new();
        BufReader::new(process.stdout.take().unwrap())
            .read_line(&mut first_line)
            .unwrap();
        self.url = first_line
            .trim()
            .strip_prefix("myelin listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {first_line:?}"))
            .to_owned();
        self.process = Some(process);
    }

    /// Kills the server with SIGKILL: no shutdown, no cleanup.
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }

    /// Starts the server again over the same data folder (on a new port).
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }

    /// The server process's id, to read its /proc entries.
    pub fn pid(&self) -> u32 {
        self.process.as_ref().expect("the server is running").id()
    }

    /// The data folder.
    pub fn data(&self) -> PathBuf {
        self.data.clone()
    }

    /// A request with the token; the status code and the JSON body (`null` when empty).
    pub fn request(&self, method: &str, path: &str, body: Option<&Json>) -> (u16, Json) {
        let (status, body) = self.send(method, path, body);
        let json = if body.trim().is_empty() {
            Json::Null
        } else {
            serde_json::from_str(&body)
                .unwrap_or_else(|error| panic!("{method} {path}: {error}: {body}"))
        };
        (status, json)
    }

    /// A request with the token; the status code and the body as text (bytes that are not
    /// UTF-8 replaced).
    pub fn send(&self, method: &str, path: &str, body: Option<&Json>) -> (u16, String) {
        let (status, _, body) = self.send_accepting(method, path, body, "*/*");
        // A file's bytes (an archive, say) are not text; the test reads the head and the status.
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    /// A request with the token, accepting `accept`: the status code, the head and the body.
    pub fn send_accepting(
        &self,
        method: &str,
        path: &str,
        body: Option<&Json>,
        accept: &str,
    ) -> (u16, String, Vec<u8>) {
        self.send_as(Some(TOKEN), method, path, body, accept)
    }

    /// A request with `token` (none when `None`), accepting `accept`: the status code, the
    /// head and the body.
    pub fn send_as(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<&Json>,
        accept: &str,
    ) -> (u16, String, Vec<u8>) {
        let host = self.url.strip_prefix("http://").unwrap();
        let mut stream = std::net::TcpStream::connect(host).unwrap();
        let body = body.map(Json::to_string).unwrap_or_default();
        let authorization = token
            .map(|token| format!("Authorization: Token {token}\r\n"))
            .unwrap_or_default();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{authorization}\
             Accept: {accept}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).unwrap();
        let split = reply
            .windows(4)
            .position(|window| window == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no head in {}", String::from_utf8_lossy(&reply)));
        let head = String::from_utf8_lossy(&reply[..split]).into_owned();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("no status in {head}"));
        (status, head, reply[split + 4..].to_vec())
    }

    /// A GET that must answer 200; its JSON.
    pub fn get(&self, path: &str) -> Json {
        let (status, json) = self.request("GET", path, None);
        assert_eq!(status, 200, "GET {path}: {json}");
        json
    }

    /// A run of the `default` owner's `project`.
    pub fn run(&self, project: &str, uuid: &str) -> Json {
        self.get(&format!("/api/v1/default/{project}/runs/{uuid}"))
    }

    /// Waits until the run's status satisfies `wanted`; the status.
    pub fn wait_for(
        &self,
        project: &str,
        uuid: &str,
        wanted: impl Fn(&str) -> bool,
        within: Duration,
    ) -> String {
        let deadline = Instant::now() + within;
        loop {
            let status = self.run(project, uuid)["status"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if wanted(&status) {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "run {uuid} is {status} after {within:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Whether a status is final.
pub fn is_done(status: &str) -> bool {
    matches!(
        status,
        "succeeded" | "failed" | "stopped" | "skipped" | "upstream_failed" | "done"
    )
}

/// A job that runs `script` with `python3 -u -c`.
pub fn python_job(name: &str, script: &str) -> String {
    format!(
        "kind: component\nname: {name}\ninputs:\n- name: lr\n  type: float\n  value: 0.01\n  isOptional: true\nrun:\n  kind: job\n  container:\n    image: python:3.11\n    command: [python3, -u, -c]\n    args: [{}]\n",
        serde_json::to_string(script).unwrap()
    )
}
