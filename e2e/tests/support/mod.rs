//! What every browser test needs: the real server on a free port, a headless Chromium driven
//! over WebDriver, and helpers to find things the way a person does (by role and visible text),
//! wait for them, and keep screenshots for people to look at.
//!
//! Both child processes run in process groups of their own and are killed as groups when the
//! test ends, pass or fail, so no Chromium outlives its test.

#![allow(dead_code)] // Each test file uses its own part of this module.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;

/// How long a test waits for the page to reach an expected state.
const PATIENCE: Duration = Duration::from_secs(15);

/// The server's version: the e2e crate shares the workspace version with it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A child process killed, with every process it started, when dropped.
struct ProcessGroup(Child);

impl ProcessGroup {
    fn spawn(command: &mut Command) -> std::io::Result<Self> {
        command.process_group(0).spawn().map(Self)
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        // std cannot signal a process group; kill(1) can, and every machine with a shell has it.
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.0.wait();
    }
}

/// The `myelin` server, started on a port the system picked.
pub struct Server {
    _process: ProcessGroup,
    /// The origin the server answers on, e.g. `http://127.0.0.1:41234`.
    pub origin: String,
    /// The token the server requires, if any; `post` and `get_status` send it.
    token: Option<String>,
    _data_dir: TempDir,
}

impl Server {
    pub fn start() -> Self {
        Self::launch(None, None)
    }

    /// A server that requires `token`, as `MYELIN_TOKEN` sets it.
    pub fn with_token(token: &str) -> Self {
        Self::launch(Some(token), None)
    }

    /// A server whose `PATH` has the hub's service programs (TensorBoard, JupyterLab) from the
    /// venv `cargo xtask test` installs them in.
    pub fn with_services() -> Self {
        let venv = std::env::var_os("MYELIN_SERVICES_VENV").map(PathBuf::from).expect(
            "MYELIN_SERVICES_VENV names no venv: run the tests with `cargo xtask test`, which makes it",
        );
        let bin = venv.join("bin");
        assert!(
            bin.join("tensorboard").is_file() && bin.join("jupyter-lab").is_file(),
            "{} lacks tensorboard or jupyter-lab: run `cargo xtask setup`",
            bin.display()
        );
        Self::launch(None, Some(bin))
    }

    fn launch(token: Option<&str>, programs: Option<PathBuf>) -> Self {
        let binary = env_path("MYELIN_BIN", "target/debug/myelin");
        let web_dir = env_path("MYELIN_WEB_DIR", "dist");
        assert!(
            binary.is_file(),
            "no server binary at {}: run the tests with `cargo xtask test`, which builds it",
            binary.display()
        );
        assert!(
            web_dir.join("index.html").is_file(),
            "no built web app in {}: run the tests with `cargo xtask test`, which builds it",
            web_dir.display()
        );
        let data_dir = TempDir::new("server-data");
        let mut command = Command::new(&binary);
        command
            .args(["serve", "--port", "0", "--data-dir"])
            .arg(&data_dir.0)
            .arg("--web-dir")
            .arg(&web_dir)
            // Quiet unless something goes wrong; the server's log goes to the test's stderr.
            .env("RUST_LOG", "warn")
            .env_remove("MYELIN_TOKEN")
            .stdout(Stdio::piped());
        if let Some(token) = token {
            command.env("MYELIN_TOKEN", token);
        }
        if let Some(programs) = programs {
            let path = std::env::var_os("PATH").unwrap_or_default();
            let folders = std::iter::once(programs).chain(std::env::split_paths(&path));
            command.env(
                "PATH",
                std::env::join_paths(folders).expect("a folder on PATH holds the separator"),
            );
        }
        let mut process = ProcessGroup::spawn(&mut command).expect("cannot start the server");
        let stdout = process.0.stdout.take().expect("stdout is piped");
        // The server's one line on stdout names the address it listens on.
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("cannot read the server's stdout");
        let origin = line
            .trim()
            .strip_prefix("myelin listening on ")
            .unwrap_or_else(|| panic!("the server did not say where it listens: {line:?}"))
            .to_owned();
        Self {
            _process: process,
            origin,
            token: token.map(str::to_owned),
            _data_dir: data_dir,
        }
    }

    /// The server's data folder (its store and the runs' artifacts).
    pub fn data_dir(&self) -> &Path {
        &self._data_dir.0
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    /// POSTs JSON to the API, as a script or the polyaxon CLI would; the JSON answer, which
    /// must be a success.
    pub fn post(&self, path: &str, body: &serde_json::Value) -> serde_json::Value {
        self.post_as(self.token.as_deref(), path, body)
    }

    /// POSTs JSON as the holder of `token` (a person's, say); the JSON answer, which must be a
    /// success.
    pub fn post_as(
        &self,
        token: Option<&str>,
        path: &str,
        body: &serde_json::Value,
    ) -> serde_json::Value {
        let (head, body) = self.request_as(token, "POST", path, &body.to_string());
        assert!(
            head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.1 201"),
            "POST {path}: {head}\n{body}"
        );
        serde_json::from_str(&body).expect("a JSON reply")
    }

    /// Creates `project` and submits the Polyaxonfile `content` to it, as the CLI would; the
    /// new run's uuid.
    pub fn project_with_run(&self, project: &str, content: &str) -> String {
        self.post(
            "/api/v1/default/projects/create",
            &serde_json::json!({"name": project}),
        );
        let run = self.post(
            &format!("/api/v1/default/{project}/runs"),
            &serde_json::json!({"content": content}),
        );
        run["uuid"].as_str().expect("a uuid").to_owned()
    }

    /// GETs JSON from the API; the answer, which must be a success.
    pub fn get(&self, path: &str) -> serde_json::Value {
        let (head, body) = self.request("GET", path, "");
        assert!(
            head.starts_with("HTTP/1.1 200"),
            "GET {path}: {head}\n{body}"
        );
        serde_json::from_str(&body).expect("a JSON reply")
    }

    /// The status code a GET of `path` answers.
    pub fn get_status(&self, path: &str) -> u16 {
        let (head, _) = self.request("GET", path, "");
        head.split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("no status in {head}"))
    }

    /// One request over plain HTTP/1.1 with the server's token; the reply's head and body.
    fn request(&self, method: &str, path: &str, body: &str) -> (String, String) {
        self.request_as(self.token.as_deref(), method, path, body)
    }

    /// One request over plain HTTP/1.1 with `token`; the reply's head and body.
    fn request_as(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: &str,
    ) -> (String, String) {
        use std::io::{Read as _, Write as _};
        let host = self.origin.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(host).expect("cannot reach the server");
        let authorization = token
            .map(|token| format!("Authorization: Token {token}\r\n"))
            .unwrap_or_default();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
             {authorization}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .expect("cannot send the request");
        let mut reply = String::new();
        stream
            .read_to_string(&mut reply)
            .expect("cannot read the reply");
        let (head, body) = reply.split_once("\r\n\r\n").expect("an HTTP reply");
        (head.to_owned(), body.to_owned())
    }
}

/// A headless Chromium with a fresh profile, driven through chromedriver.
pub struct Browser {
    pub client: Client,
    _driver: ProcessGroup,
    _profile: TempDir,
}

/// The colour scheme the browser reports to pages, as an OS setting would.
#[derive(Debug, Clone, Copy)]
pub enum ColorScheme {
    Light,
    Dark,
}

impl Browser {
    pub async fn start() -> Self {
        Self::start_with(ColorScheme::Light).await
    }

    pub async fn start_with(scheme: ColorScheme) -> Self {
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let chromedriver =
            std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        let port = free_port();
        let driver = ProcessGroup::spawn(
            Command::new(&chromedriver)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )
        .unwrap_or_else(|error| panic!("cannot start {chromedriver}: {error}"));
        wait_for_port(port);

        let profile = TempDir::new("chromium-profile");
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,800",
            // Blink's setting behind `prefers-color-scheme`: 0 is dark, 1 is light.
            match scheme {
                ColorScheme::Dark => "--blink-settings=preferredColorScheme=0",
                ColorScheme::Light => "--blink-settings=preferredColorScheme=1",
            },
            &format!("--user-data-dir={}", profile.0.display()),
        ];
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({ "binary": chromium, "args": args }),
        );
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("cannot open a WebDriver session in Chromium");
        Self {
            client,
            _driver: driver,
            _profile: profile,
        }
    }

    pub async fn open(&self, url: &str) {
        self.client.goto(url).await.expect("cannot open the page");
    }

    /// The path part of the page's current URL.
    pub async fn path(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("cannot read the URL")
            .path()
            .to_owned()
    }

    /// The link with this visible text inside the main navigation.
    pub async fn nav_link(&self, text: &str) -> Element {
        self.find(&format!(
            "//nav[@aria-label='Main']//a[normalize-space()='{text}']"
        ))
        .await
    }

    /// Waits for an element matching the XPath and returns it.
    pub async fn find(&self, xpath: &str) -> Element {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::XPath(xpath))
            .await
            .unwrap_or_else(|error| panic!("no element matches {xpath}: {error}"))
    }

    /// Waits for the element at `xpath` and clicks it.
    pub async fn click(&self, xpath: &str) {
        self.find(xpath)
            .await
            .click()
            .await
            .unwrap_or_else(|error| panic!("cannot click {xpath}: {error}"));
    }

    /// Waits until the page's main heading reads `title`.
    pub async fn expect_heading(&self, title: &str) {
        self.expect_text("//main//h1", title).await;
    }

    /// Waits until the element at `xpath` shows exactly `expected`.
    pub async fn expect_text(&self, xpath: &str, expected: &str) {
        let deadline = Instant::now() + PATIENCE;
        let mut seen = String::new();
        while Instant::now() < deadline {
            if let Ok(element) = self.client.find(Locator::XPath(xpath)).await {
                seen = element.text().await.unwrap_or_default();
                if seen.trim() == expected {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{xpath} should read {expected:?} but reads {seen:?}");
    }

    /// Runs a JavaScript expression in the page and returns its value.
    pub async fn evaluate(&self, expression: &str) -> serde_json::Value {
        self.client
            .execute(&format!("return {expression};"), vec![])
            .await
            .unwrap_or_else(|error| panic!("cannot evaluate {expression}: {error}"))
    }

    /// How many lines the Logs tab has, as its counter says.
    pub async fn log_count(&self) -> u64 {
        self.evaluate("parseInt(document.querySelector('.log-count')?.textContent) || 0")
            .await
            .as_u64()
            .unwrap_or(0)
    }

    /// Every line the Logs tab shows, in order, read by scrolling it from top to bottom half a
    /// view at a time (only the lines in view are in the page), and the most lines that were
    /// in the page at once.
    pub async fn read_log_lines(&self) -> (Vec<String>, u64) {
        let read = self
            .evaluate(
                "(async () => {
                    const view = document.querySelector('.log-lines');
                    const frame = () => new Promise(done => requestAnimationFrame(() => setTimeout(done, 0)));
                    const seen = new Map();
                    let most = 0;
                    for (let top = 0; ; top += view.clientHeight / 2) {
                        view.scrollTop = top;
                        await frame();
                        await frame();
                        const lines = view.querySelectorAll('.log-line');
                        most = Math.max(most, lines.length);
                        for (const line of lines) seen.set(Number(line.dataset.line), line.textContent);
                        if (view.scrollTop + view.clientHeight >= view.scrollHeight) break;
                    }
                    const places = [...seen.keys()].sort((a, b) => a - b);
                    return [places.map(place => seen.get(place)), most, places.length === 0 || places[places.length - 1] === places.length - 1];
                })()",
            )
            .await;
        let (lines, most, contiguous): (Vec<String>, u64, bool) =
            serde_json::from_value(read).expect("lines, a count and a flag");
        assert!(contiguous, "some lines were never rendered while scrolling");
        (lines, most)
    }

    /// The URLs of every request the page has made so far (the Resource Timing API).
    pub async fn requested_urls(&self) -> Vec<String> {
        let urls = self
            .evaluate("performance.getEntriesByType('resource').map(entry => entry.name)")
            .await;
        serde_json::from_value(urls).expect("a list of URLs")
    }

    /// Saves a screenshot as `target/e2e/NAME.png` for people to look at.
    pub async fn screenshot(&self, name: &str) {
        let png = self
            .client
            .screenshot()
            .await
            .expect("cannot take a screenshot");
        let folder = target_dir().join("e2e");
        std::fs::create_dir_all(&folder).expect("cannot create target/e2e");
        let path = folder.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("cannot save the screenshot");
        eprintln!("screenshot: {}", path.display());
    }

    /// Ends the WebDriver session, closing the browser.
    pub async fn close(self) {
        self.client
            .close()
            .await
            .expect("cannot end the WebDriver session");
    }
}

/// A folder under the system's temporary folder, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(purpose: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "myelin-e2e-{purpose}-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&path).expect("cannot create a temporary folder");
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("e2e/ sits in the workspace")
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// The path in the environment variable, or the default relative to the workspace root.
fn env_path(variable: &str, default: &str) -> PathBuf {
    std::env::var_os(variable)
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(default))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("no free port on 127.0.0.1")
        .port()
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + PATIENCE;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "chromedriver did not listen on port {port}"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// The Python of the tracking client's venv (PyPI polyaxon), which `cargo xtask test` names.
pub fn tracking_python() -> PathBuf {
    let venv = std::env::var_os("MYELIN_POLYAXON_VENV")
        .map(PathBuf::from)
        .expect("MYELIN_POLYAXON_VENV names no venv: run the tests with `cargo xtask test`");
    let python = venv.join("bin/python");
    assert!(python.is_file(), "no Python in {}", venv.display());
    python
}
