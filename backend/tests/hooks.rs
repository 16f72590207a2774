//! Hooks delivered by the real server: a webhook called by a run's end is received once, with
//! what the run came to; one its trigger does not call is not sent; one that cannot be
//! delivered says why on the run.

mod common;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Server, is_done};
use serde_json::{Value as Json, json};

/// A local HTTP receiver that keeps each POST's JSON body and answers 200.
fn receiver() -> (String, Arc<Mutex<Vec<Json>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let received = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&received);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            kept.lock()
                .unwrap()
                .push(serde_json::from_slice(&body).unwrap());
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (url, received)
}

fn job(code: &str, hooks: &str) -> String {
    format!(
        "kind: operation\nname: hooked\nhooks:\n{hooks}\ncomponent:\n  outputs: [{{name: loss, type: float, isOptional: true}}]\n  run:\n    kind: job\n    container:\n      image: python:3.11\n      command: [python3, -c, 'raise SystemExit({code})']\n"
    )
}

#[test]
fn a_webhook_called_by_a_run_s_end_is_received_once() {
    let server = Server::start("hooks", &[]);
    let (status, body) = server.request(
        "POST",
        "/api/v1/default/projects/create",
        Some(&json!({"name": "hooked"})),
    );
    assert_eq!(status, 200, "{body}");
    let (url, received) = receiver();
    let hooks = format!(
        "- {{trigger: succeeded, hubRef: webhook, params: {{url: {{value: '{url}'}}, message: {{value: 'run {{{{ globals.uuid }}}} is {{{{ status }}}}'}}}}}}\n- {{trigger: failed, hubRef: webhook, params: {{url: {{value: '{url}'}}}}}}\n- {{trigger: done, hubRef: acme/slack, connection: slack}}"
    );
    let (status, run) = server.request(
        "POST",
        "/api/v1/default/hooked/runs",
        Some(&json!({"content": job("0", &hooks)})),
    );
    assert_eq!(status, 200, "{run}");
    let uuid = run["uuid"].as_str().unwrap().to_owned();
    assert_eq!(
        server.wait_for("hooked", &uuid, is_done, Duration::from_secs(30)),
        "succeeded"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let record = loop {
        let run = server.run("hooked", &uuid);
        let record = run["meta_info"]["hooks"].clone();
        let settled = record.as_object().is_some_and(|hooks| {
            hooks.len() == 2 && hooks.values().all(|hook| hook["status"] != "sending")
        });
        if settled {
            break record;
        }
        assert!(Instant::now() < deadline, "hooks never settled: {run}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(record["0"]["status"], "delivered", "{record}");
    assert_eq!(record["2"]["status"], "failed", "{record}");
    assert!(
        record["2"]["message"]
            .as_str()
            .unwrap()
            .contains("`acme/slack` is not a notifier Myelin delivers yet"),
        "{record}"
    );
    assert!(
        record.get("1").is_none(),
        "the failed trigger is not called"
    );
    // Received once, saying what the run came to, its templates rendered.
    std::thread::sleep(Duration::from_millis(500));
    let received = received.lock().unwrap().clone();
    assert_eq!(received.len(), 1, "{received:?}");
    let notice = &received[0];
    assert_eq!(notice["uuid"], uuid.as_str());
    assert_eq!(notice["status"], "succeeded");
    assert_eq!(notice["project"], "hooked");
    assert_eq!(
        notice["params"]["message"],
        format!("run {uuid} is succeeded")
    );
}
