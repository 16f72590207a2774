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

#[test]
fn a_connection_that_switches_protocols_is_carried_both_ways() {
    let server = Server::start("service-upgrade", &[]);
    let (status, _) = server.request(
        "POST",
        "/api/v1/default/projects/create",
        Some(&json!({"name": "demo"})),
    );
    assert_eq!(status, 200);
    let content = format!(
        "kind: component\nname: echo\nrun:\n  kind: service\n  ports: [8765]\n  container:\n    image: python:3.11\n    command: [python3, -c, {}, '{{{{ globals.ports[0] }}}}']\n",
        serde_json::to_string(ECHO).unwrap()
    );
    let (status, run) = server.request(
        "POST",
        "/api/v1/default/demo/runs",
        Some(&json!({ "content": content })),
    );
    assert_eq!(status, 200, "{run}");
    let uuid = run["uuid"].as_str().unwrap().to_owned();
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
