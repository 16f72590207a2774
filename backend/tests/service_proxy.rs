//! A service's page reached through the server over a real socket: a connection that switches
//! protocols (a WebSocket, as Jupyter's kernels open) is carried both ways, end to end.

mod common;

use std::io::{Read as _, Write as _};
use std::time::{Duration, Instant};

use common::{Server, TOKEN};
use serde_json::json;

/// A service that answers any request asking to switch protocols with `101` and then echoes
/// every byte it receives, as a WebSocket server echoes frames.
const ECHO: &str = r#"
import socket, sys
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen()
while True:
    client, _ = server.accept()
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = client.recv(1024)
        if not chunk:
            break
        head += chunk
    if b"upgrade: echo" in head.lower():
        client.sendall(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
        while True:
            chunk = client.recv(1024)
            if not chunk:
                break
            client.sendall(chunk)
    else:
        client.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    client.close()
"#;

/// Starts a server named `name` with project `demo`, and submits a service component named
/// `component` that runs the Python `script` with its port as the first argument, `extra` YAML
/// (top-level fields such as `termination`) added; the server and the run's uuid.
fn service(name: &str, component: &str, extra: &str, port: u16, script: &str) -> (Server, String) {
    let server = Server::start(name, &[]);
    let (status, _) = server.request(
        "POST",
        "/api/v1/default/projects/create",
        Some(&json!({"name": "demo"})),
    );
    assert_eq!(status, 200);
    let content = format!(
        "kind: component\nname: {component}\n{extra}run:\n  kind: service\n  ports: [{port}]\n  container:\n    image: python:3.11\n    command: [python3, -c, {}, '{{{{ globals.ports[0] }}}}']\n",
        serde_json::to_string(script).unwrap()
    );
    let (status, run) = server.request(
        "POST",
        "/api/v1/default/demo/runs",
        Some(&json!({ "content": content })),
    );
    assert_eq!(status, 200, "{run}");
    let uuid = run["uuid"].as_str().unwrap().to_owned();
    (server, uuid)
}

#[test]
fn a_connection_that_switches_protocols_is_carried_both_ways() {
    let (server, uuid) = service("service-upgrade", "echo", "", 8765, ECHO);
    server.wait_for(
        "demo",
        &uuid,
        |status| status == "running",
        Duration::from_secs(30),
    );
    let port = server.run("demo", &uuid)["status_conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|condition| condition["type"] == "running")
        .and_then(|condition| condition["message"].as_str())
        .and_then(|message| message.rsplit(':').next())
        .unwrap()
        .to_owned();

    let host = server.url.strip_prefix("http://").unwrap().to_owned();
    let path = format!("/rewrite-services/v1/polyaxon/default/demo/runs/{uuid}/{port}/socket");
    // The service starts listening a moment after its process starts.
    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut stream, head) = loop {
        let mut stream = std::net::TcpStream::connect(&host).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Token {TOKEN}\r\n\
             Connection: Upgrade\r\nUpgrade: echo\r\n\r\n"
        )
        .unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        if head.starts_with("HTTP/1.1 101") || Instant::now() > deadline {
            break (stream, head);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("upgrade: echo"),
        "{head}"
    );
    for message in ["ping", "a second message, longer than the first"] {
        stream.write_all(message.as_bytes()).unwrap();
        let mut echoed = vec![0u8; message.len()];
        stream.read_exact(&mut echoed).unwrap();
        assert_eq!(String::from_utf8_lossy(&echoed), message);
    }
}

/// A service that starts listening only after a while, then answers every request with its
/// own page.
const SLOW: &str = r#"
import http.server, sys, time
time.sleep(3)
class Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"<h1>the service itself</h1>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Page).serve_forever()
"#;

/// A GET with a browser's `Accept`; the status, a header's value and the body.
fn browse(server: &Server, path: &str, header: &str) -> (u16, String, String) {
    let host = server.url.strip_prefix("http://").unwrap();
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Token {TOKEN}\r\n\
         Accept: text/html,application/xhtml+xml\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    let (head, body) = reply.split_once("\r\n\r\n").unwrap_or((&reply, ""));
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let value = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case(header)
                .then(|| value.trim().to_owned())
        })
        .unwrap_or_default();
    (status, value, body.to_owned())
}

#[test]
fn a_service_opened_before_it_answers_shows_a_page_that_says_so_and_tries_again() {
    let (server, uuid) = service("service-starting", "slow-board", "", 8766, SLOW);
    // Where the run page's Open button points, from the run as the API shows it.
    let shown: shared::api::Run = serde_json::from_value(server.run("demo", &uuid)).unwrap();
    let path = shown.service_path().expect("a service has a page");
    assert!(path.starts_with("/services/v1/"), "{path}");

    let (status, retry, page) = browse(&server, &path, "retry-after");
    assert_eq!(status, 503, "{page}");
    assert_eq!(retry, "2");
    assert!(page.contains("Starting slow-board"), "{page}");
    assert!(page.contains("http-equiv=\"refresh\""), "{page}");

    let deadline = Instant::now() + Duration::from_secs(30);
    let page = loop {
        let (status, _, page) = browse(&server, &path, "content-type");
        if status == 200 {
            break page;
        }
        assert_eq!(
            status, 503,
            "only the starting page until it answers: {page}"
        );
        assert!(Instant::now() < deadline, "the service never answered");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(page.contains("the service itself"), "{page}");
    let (status, _) = server.request(
        "POST",
        &format!("/api/v1/default/demo/runs/{uuid}/stop"),
        None,
    );
    assert_eq!(status, 200);
}

/// A service that answers at once.
const PAGE: &str = r#"
import http.server, sys
class Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Page).serve_forever()
"#;

#[test]
fn a_service_without_traffic_for_its_culling_timeout_is_stopped_and_says_why() {
    let (server, uuid) = service(
        "service-idle",
        "quiet",
        "termination:\n  culling:\n    timeout: 3\n",
        8768,
        PAGE,
    );
    let shown: shared::api::Run = serde_json::from_value(server.run("demo", &uuid)).unwrap();
    let path = shown.service_path().expect("a service has a page");

    // Visited more often than the timeout, for twice as long: it keeps running.
    let busy = Instant::now();
    while busy.elapsed() < Duration::from_secs(6) {
        browse(&server, &path, "content-type");
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(server.run("demo", &uuid)["status"], "running");

    // Then left alone: stopped once quiet for 3 s, saying so.
    let quiet = Instant::now();
    server.wait_for(
        "demo",
        &uuid,
        |status| status == "stopped",
        Duration::from_secs(20),
    );
    let waited = quiet.elapsed();
    assert!(
        waited >= Duration::from_millis(2500) && waited < Duration::from_secs(10),
        "stopped after {waited:?} of quiet"
    );
    let run = server.run("demo", &uuid);
    let conditions = run["status_conditions"].as_array().unwrap();
    let last = conditions.last().unwrap();
    assert_eq!(last["type"], "stopped", "{conditions:?}");
    assert_eq!(last["reason"], "IdleTimeout", "{conditions:?}");
    assert_eq!(
        last["message"],
        "Run was stopped: its service carried no traffic for 3 s (termination.culling.timeout)"
    );
}
