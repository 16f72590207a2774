//! A run's logs over a WebSocket, against a real server socket: history then live lines, a
//! reconnect that resumes at its cursor with nothing lost or repeated, and the archive of a
//! finished run through the same stream.

use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use futures_util::StreamExt as _;
use serde_json::json;
use shared::api::{LogBatch, Status};
use tokio_tungstenite::tungstenite::Message;
use tower::ServiceExt as _;

struct Server {
    root: std::path::PathBuf,
    state: backend::AppState,
    address: std::net::SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

impl Server {
    async fn start() -> Self {
        let root = std::env::temp_dir().join(format!("myelin-logs-ws-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let config = backend::Config::local(root.join("data"), root.join("dist"));
        let state = backend::AppState::open(config, "http://127.0.0.1:9")
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let app = backend::app(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            root,
            state,
            address,
        }
    }

    async fn post(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        let request = Request::post(path)
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let response = backend::app(self.state.clone())
            .oneshot(request)
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "POST {path}: {}",
            response.status()
        );
        let bytes = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    fn socket_url(&self, uuid: &str, cursor: Option<&str>) -> String {
        let mut url = format!(
            "ws://{}/streams/v1/polyaxon/default/demo/runs/{uuid}/logs/ws",
            self.address
        );
        if let Some(cursor) = cursor {
            url.push_str(&format!("?cursor={cursor}"));
        }
        url
    }
}

/// Reads batches until the stream ends, or until `stop_after` lines when given; the lines' values,
/// the last cursor, and the final status if the stream ended.
async fn read(url: &str, stop_after: Option<usize>) -> (Vec<String>, String, Option<Status>) {
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let mut values = Vec::new();
    let mut cursor = String::new();
    while let Some(message) = tokio::time::timeout(Duration::from_secs(30), socket.next())
        .await
        .expect("a message within 30 s")
    {
        let text = match message.unwrap() {
            Message::Text(text) => text,
            Message::Close(_) => break,
            _ => continue,
        };
        let batch: LogBatch = serde_json::from_str(&text).unwrap();
        values.extend(batch.lines.into_iter().map(|line| line.value));
        cursor = batch.cursor;
        if batch.done.is_some() {
            return (values, cursor, batch.done);
        }
        if stop_after.is_some_and(|stop| values.len() >= stop) {
            // A reload: the page goes away mid-stream.
            return (values, cursor, None);
        }
    }
    (values, cursor, None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_stream_live_resume_at_their_cursor_and_end_with_the_status() {
    let server = Server::start().await;
    server
        .post("/api/v1/default/projects/create", json!({"name": "demo"}))
        .await;
    let content = "kind: component
run:
  kind: job
  container:
    image: python:3.11
    command: [python3, -c]
    args:
    - |
      import time
      for i in range(2000):
          print(f'line-{i}')
          if i % 20 == 0:
              time.sleep(0.02)
";
    let run = server
        .post("/api/v1/default/demo/runs", json!({"content": content}))
        .await;
    let uuid = run["uuid"].as_str().unwrap().to_owned();

    let (first, cursor, done) = read(&server.socket_url(&uuid, None), Some(500)).await;
    assert!(
        done.is_none(),
        "the run was still printing when the page went away"
    );
    let (rest, _, done) = read(&server.socket_url(&uuid, Some(&cursor)), None).await;
    assert_eq!(done, Some(Status::Succeeded));
    let everything: Vec<String> = first.into_iter().chain(rest).collect();
    let expected: Vec<String> = (0..2000).map(|i| format!("line-{i}")).collect();
    assert_eq!(
        everything, expected,
        "no line lost or repeated across the reconnect"
    );

    // The finished run's archive comes through the same stream.
    let (archived, _, done) = read(&server.socket_url(&uuid, None), None).await;
    assert_eq!(done, Some(Status::Succeeded));
    assert_eq!(archived, expected);

    let refused =
        tokio_tungstenite::connect_async(server.socket_url(&uuid, Some("nonsense"))).await;
    assert!(
        matches!(&refused, Err(tokio_tungstenite::tungstenite::Error::Http(response)) if response.status() == 400),
        "{refused:?}"
    );
}
