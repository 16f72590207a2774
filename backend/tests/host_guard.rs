//! Safe by default: a page of another site reaches nothing. A request addressed to a name that
//! is not the server's (a DNS name an attacker points at 127.0.0.1) is refused on every surface,
//! and so is a request from another site's page that would change something or open a socket,
//! with or without a token; the server's own names and pages, and clients that say no page
//! (`Origin`), pass. Over a real socket, so that `Host` and upgrades are what browsers send.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value as Json, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

const TOKEN: &str = "s3cret";

/// A server on a port of its own over its own folder (removed when dropped), answering to
/// `myelin.internal` and the `corp.example` domain besides the names it always answers to, and
/// to `myelin-api`, the host of its API address.
struct Server {
    root: std::path::PathBuf,
    address: SocketAddr,
    token: Option<&'static str>,
    /// How many requests [`Server::send`] sent.
    sent: AtomicUsize,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

impl Server {
    async fn start(name: &str, token: Option<&'static str>) -> Self {
        let root = std::env::temp_dir().join(format!("myelin-guard-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("dist")).unwrap();
        std::fs::write(root.join("dist/index.html"), "<!DOCTYPE html>").unwrap();
        let mut config = backend::Config::local(root.join("data"), root.join("dist"));
        config.token = token.map(str::to_owned);
        config.allowed_hosts = vec!["myelin.internal".to_owned(), ".corp.example".to_owned()];
        let state = backend::AppState::open(config, "http://myelin-api:8000")
            .await
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, backend::app(state)).await.unwrap() });
        Self {
            root,
            address,
            token,
            sent: AtomicUsize::new(0),
        }
    }

    /// Sends `request` to `target` (a path, or an absolute URI) with `host` and `origin` as
    /// given and the token when the server has one; the status and the body of a refusal. `{n}`
    /// in the body becomes a number of the request's own, so that each creates something new.
    async fn send(
        &self,
        request: &Surface,
        target: &str,
        host: Option<&str>,
        origin: Option<&str>,
    ) -> (u16, String) {
        let mut head = format!("{} {target} HTTP/1.1\r\n", request.method);
        let mut header = |name: &str, value: &str| head.push_str(&format!("{name}: {value}\r\n"));
        if let Some(host) = host {
            header("Host", host);
        }
        if let Some(origin) = origin {
            header("Origin", origin);
        }
        if let Some(token) = self.token {
            header("Authorization", &format!("Token {token}"));
        }
        if request.websocket {
            header("Connection", "Upgrade");
            header("Upgrade", "websocket");
            header("Sec-WebSocket-Version", "13");
            header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
        }
        let n = self.sent.fetch_add(1, Ordering::Relaxed).to_string();
        let body = request
            .body
            .as_ref()
            .map(|body| body.to_string().replace("{n}", &n))
            .unwrap_or_default();
        header("Content-Type", "application/json");
        header("Content-Length", &body.len().to_string());
        let mut stream = TcpStream::connect(self.address).await.unwrap();
        stream
            .write_all(format!("{head}\r\n{body}").as_bytes())
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(10), read_response(&mut stream))
            .await
            .unwrap_or_else(|_| panic!("{} {target}: no answer within 10 s", request.method))
    }

    /// A request from no browser, addressed to the server by its IP: what sets the scene up.
    async fn ok(&self, method: &'static str, path: &str, body: Json) -> Json {
        let mut stream = TcpStream::connect(self.address).await.unwrap();
        let body = body.to_string();
        let authorization = self
            .token
            .map(|token| format!("Authorization: Token {token}\r\n"))
            .unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\n{authorization}Connection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.address,
            body.len()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).await.unwrap();
        let (head, body) = reply.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{method} {path}: {reply}");
        serde_json::from_str(body).unwrap()
    }
}

/// The status line's code and, for a refusal, the body, which has a length.
async fn read_response(stream: &mut TcpStream) -> (u16, String) {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = received.windows(4).position(|window| window == b"\r\n\r\n") {
            break at + 4;
        }
        let read = stream.read(&mut buffer).await.unwrap();
        assert!(read > 0, "the connection closed before the head ended");
        received.extend_from_slice(&buffer[..read]);
    };
    let head = String::from_utf8_lossy(&received[..head_end]).to_ascii_lowercase();
    let status: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    if status != 403 {
        // Streams and sockets stay open: their head is all this test reads.
        return (status, String::new());
    }
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .expect("a refusal has a length")
        .trim()
        .parse()
        .unwrap();
    while received.len() < head_end + length {
        let read = stream.read(&mut buffer).await.unwrap();
        assert!(read > 0, "the connection closed before the body ended");
        received.extend_from_slice(&buffer[..read]);
    }
    let body: Json = serde_json::from_slice(&received[head_end..head_end + length]).unwrap();
    (
        status,
        body["message"].as_str().unwrap_or_default().to_owned(),
    )
}

/// One kind of request the server answers, and the status it answers it with when allowed.
struct Surface {
    name: &'static str,
    method: &'static str,
    path: String,
    body: Option<Json>,
    websocket: bool,
    passes: u16,
}

impl Surface {
    /// What a page of another site must not make a browser send.
    fn changes_state(&self) -> bool {
        self.method != "GET" || self.websocket
    }
}

/// Every surface of a server with project `demo` and a run that its client executes, so that
/// the run's logs stream but it takes no command.
async fn surfaces(server: &Server) -> Vec<Surface> {
    server
        .ok(
            "POST",
            "/api/v1/default/projects/create",
            json!({"name": "demo"}),
        )
        .await;
    let run = server
        .ok(
            "POST",
            "/api/v1/default/demo/runs",
            json!({"is_managed": false, "managed_by": "user", "name": "client"}),
        )
        .await;
    let uuid = run["uuid"].as_str().unwrap();
    let run = format!("polyaxon/default/demo/runs/{uuid}");
    let surface = |name, method, path: String, websocket, passes| Surface {
        name,
        method,
        path,
        body: None,
        websocket,
        passes,
    };
    vec![
        Surface {
            body: Some(json!({"name": "made-{n}"})),
            ..surface(
                "a project created under /api",
                "POST",
                "/api/v1/default/projects/create".to_owned(),
                false,
                200,
            )
        },
        surface(
            "the run events stream",
            "GET",
            "/streams/v1/polyaxon/default/demo/runs/events".to_owned(),
            false,
            200,
        ),
        surface(
            "the logs socket",
            "GET",
            format!("/streams/v1/{run}/logs/ws"),
            true,
            101,
        ),
        // The run takes no command: reaching it is a 409.
        surface(
            "the exec socket",
            "GET",
            format!("/k8s/v1/{run}/k8s_exec/pod/main?command=true"),
            true,
            409,
        ),
        // The run listens on no port: reaching it is a 409.
        surface(
            "a service's page",
            "POST",
            format!("/services/v1/{run}/8888/api/contents"),
            false,
            409,
        ),
        surface(
            "a page of the web app",
            "GET",
            "/runs".to_owned(),
            false,
            200,
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_server_s_names_and_pages_reach_any_surface_with_or_without_a_token() {
    let mut failures = Vec::new();
    for token in [None, Some(TOKEN)] {
        let server = Server::start(if token.is_some() { "token" } else { "open" }, token).await;
        let port = server.address.port();
        let own = format!("127.0.0.1:{port}");
        let allowed_hosts = [
            Some(own.clone()),
            Some(format!("localhost:{port}")),
            Some(format!("[::1]:{port}")),
            Some("app.localhost".to_owned()),
            Some("myelin-api:8000".to_owned()),
            Some("MYELIN.internal.".to_owned()),
            Some("corp.example".to_owned()),
            Some(format!("ci.corp.example:{port}")),
            // A request that names no host has none to judge.
            None,
        ];
        let foreign_hosts = [
            (format!("attacker.example:{port}"), "attacker.example"),
            (
                "localhost.attacker.example".to_owned(),
                "localhost.attacker.example",
            ),
            ("evilcorp.example".to_owned(), "evilcorp.example"),
            (
                format!("127.0.0.1.attacker.example:{port}"),
                "127.0.0.1.attacker.example",
            ),
        ];
        let own_origin = format!("http://{own}");
        let foreign_origins = [
            format!("http://attacker.example:{port}"),
            format!("http://localhost:{port}"),
            "http://127.0.0.1:1".to_owned(),
            "null".to_owned(),
        ];
        let mut check =
            |case: String, (status, message): (u16, String), wanted: u16, named: &str| {
                if status != wanted || !message.contains(named) {
                    failures.push(format!(
                        "{case}: {status} {message:?}, wanted {wanted} naming {named:?}"
                    ));
                }
            };
        for surface in surfaces(&server).await {
            let case = |what: &str| format!("{} (token: {token:?}) {what}", surface.name);
            for host in &allowed_hosts {
                let answer = server
                    .send(&surface, &surface.path, host.as_deref(), None)
                    .await;
                check(case(&format!("Host {host:?}")), answer, surface.passes, "");
            }
            for (host, name) in &foreign_hosts {
                let answer = server.send(&surface, &surface.path, Some(host), None).await;
                let flag = format!("`--allowed-host {name}`");
                check(case(&format!("Host {host}")), answer, 403, &flag);
            }
            // HTTP/2 names the host in the URI rather than `Host`; HTTP/1.1 may too.
            let absolute = format!("http://attacker.example:{port}{}", surface.path);
            let answer = server.send(&surface, &absolute, Some(&own), None).await;
            check(
                case("at an absolute URI"),
                answer,
                403,
                "--allowed-host attacker.example",
            );

            let answer = server
                .send(&surface, &surface.path, Some(&own), Some(&own_origin))
                .await;
            check(
                case("from the server's own page"),
                answer,
                surface.passes,
                "",
            );
            for origin in &foreign_origins {
                let answer = server
                    .send(&surface, &surface.path, Some(&own), Some(origin))
                    .await;
                let case = case(&format!("from a page of {origin}"));
                if surface.changes_state() {
                    check(case, answer, 403, &format!("`{origin}`"));
                } else {
                    // Reading is harmless: the browser keeps the answer from the other page.
                    check(case, answer, surface.passes, "");
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
