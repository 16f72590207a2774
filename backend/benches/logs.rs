//! Run with `cargo bench -p backend --bench logs` (`cargo xtask bench` runs it too).
//!
//! The logs WebSocket (`/streams/v1/…/runs/{uuid}/logs/ws`) under load, in two parts.
//!
//! Streaming: the server runs in this process on a real 127.0.0.1 socket, and one WebSocket
//! client connects to a running run before it prints. A producer then writes 1,000,000 lines of
//! about 85 bytes the way a runtime does, through a `Reporter`'s log writer: each line is stamped,
//! appended to the run's `plxlogs` file and read back from there by the stream. Each line carries
//! its sequence number and the nanoseconds, since an instant the client shares, at which it was
//! handed to the writer; the client notes when each message arrives. Every line must arrive once
//! and in order, and the stream must end with the run's final status, or the bench panics rather
//! than print a number. It runs twice, each time on a new run: with the producer writing as fast
//! as it can (how many lines a second the stream delivers), then paced at the goal's 200,000
//! lines a second (the latency a client sees at the rate the stream must sustain). The first run
//! also warms the process up (threads, heap, database connections), whose first moments would
//! otherwise count in the paced run's p99. Producer, server and client share the machine's cores.
//!
//! Idle sockets: the `myelin` binary serves from a child process, so that the memory measured is
//! the server's alone: VmRSS from its `/proc/PID/status`, which counts the pages its heap and
//! thread stacks touched, not the kernel's socket buffers. Its run is a process that prints one
//! line and sleeps. After one warm-up socket, the server's memory, threads and CPU time (over
//! [`IDLE_WINDOW`]) are read; then 1,000 sockets open, each must receive the printed line as its
//! first message, and the same are read again once they have sat idle. Stopping the run at the
//! end must bring every socket its final message: all were open and served throughout.
//!
//! Haupt, the peer the other benches compare with, has no number here: its live logs need
//! Kubernetes (`../shared/docs/peer-anchors.md`), so the goals are printed as the anchor.
//! It takes under a minute on two cores and up to 200 MB in the temp folder, removed as it goes.

mod support;

#[path = "../tests/common/mod.rs"]
mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use backend::artifacts::Captured;
use backend::runtime::{Reported, Reporter};
use backend::store::Transition;
use futures_util::StreamExt as _;
use http_body_util::BodyExt as _;
use serde_json::{Value as Json, json};
use shared::api::{LogBatch, Status};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tower::ServiceExt as _;

use support::TempDir;

/// The `myelin` binary's allocator, so the bench times what the server does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PROJECT: &str = "logs";
const LINES: usize = 1_000_000;
/// The goals: lines a second delivered to one client, and the p99 from write to receipt.
const GOAL_RATE: f64 = 200_000.0;
const GOAL_P99: Duration = Duration::from_millis(50);
/// The paced producer waits for the clock once per this many lines: a sleep per line would cost
/// more than the line, and the timer's millisecond granularity is 200 lines at the goal's rate.
const PACE_CHUNK: usize = 1_000;
const IDLE_SOCKETS: usize = 1_000;
/// How long the server's CPU time is watched, with and without the idle sockets.
const IDLE_WINDOW: Duration = Duration::from_secs(3);
/// The longest the client waits for any message: a stalled stream fails instead of hanging.
const STALL: Duration = Duration::from_secs(30);
/// Names as the process runtime gives them.
const POD: &str = "bench-pod";
const NODE: &str = "bench-node";
const CONTAINER: &str = "polyaxon-main";

/// The idle run: it prints one line, then nothing until it is stopped (or five minutes pass, so
/// that a bench that dies leaves no process behind for long).
const IDLE_JOB: &str = "\
kind: component
run:
  kind: job
  container:
    image: busybox
    command: [sh, -c, 'echo ready; exec sleep 300']
";

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

fn main() {
    let root = TempDir::new("logs");
    // Declared after `root`, so it shuts down (and the server with it) before the folder goes.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts");
    runtime.block_on(streaming(&root.0));
    idle_sockets(&runtime);
}

/// What one client received of one run's stream.
struct Delivery {
    /// Write-to-receipt time of every line, in the order they came.
    latencies: Vec<Duration>,
    /// When the producer started and finished writing, and the last line arrived, since the epoch.
    started: Duration,
    written: Duration,
    last_receipt: Duration,
}

async fn streaming(root: &std::path::Path) {
    let state = backend::AppState::open(
        backend::Config::local(root.join("data"), root.join("web")),
        "http://127.0.0.1:9",
    )
    .await
    .expect("the state opens in a fresh folder");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port binds");
    let address = listener.local_addr().expect("the listener has an address");
    let app = backend::app(state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    post(
        &state,
        "/api/v1/default/projects/create",
        json!({"name": PROJECT}),
    )
    .await;
    // The runtime's own reporter is private to it; this one writes to the same store and archive.
    let reporter = Reporter::new(state.store.clone(), state.artifacts.clone());

    println!(
        "{:<52} {:>9} {:>8} {:>8} {:>9} {:>7} {:>7} {:>7}   vs the goal",
        "1 client, in-process server on 127.0.0.1",
        "lines",
        "write s",
        "recv s",
        "lines/s",
        "p50 ms",
        "p99 ms",
        "max ms",
    );
    for (label, pace) in [
        ("as fast as the producer writes", None),
        ("paced at the goal's 200,000 lines/s", Some(GOAL_RATE)),
    ] {
        let delivery = stream_run(&state, address, &reporter, pace).await;
        print_row(label, &delivery, pace.is_some());
    }
    println!(
        "{:<52} {:>9} {:>8} {:>8} {:>9} {:>7} {:>7} {:>7}   haupt: not measurable (no Kubernetes)",
        "goal",
        "",
        "",
        "",
        format!("≥{}", thousands(GOAL_RATE)),
        "",
        format!("<{}", GOAL_P99.as_millis()),
        ""
    );
    println!(
        "\nwrite s: the producer's time to write every line; recv s: from its first line to the \
         last one received.\nlatency: from the producer handing a line to the log writer to the \
         client receiving the message that holds it.\nUnpaced, the producer outruns the stream, \
         so that row's latency is how far it ran ahead; the paced row is the one the p99 goal \
         is about."
    );
}

/// One run printing [`LINES`] while a client follows it; what the client received, checked.
async fn stream_run(
    state: &backend::AppState,
    address: SocketAddr,
    reporter: &Reporter,
    pace: Option<f64>,
) -> Delivery {
    // A run its client executes (as the tracking client's are), so no runtime prints into it.
    let run = post(
        state,
        &format!("/api/v1/default/{PROJECT}/runs"),
        json!({"is_managed": false, "managed_by": "user", "name": "printing"}),
    )
    .await;
    let uuid = run["uuid"].as_str().expect("a run has a uuid").to_owned();
    report(reporter, &uuid, Status::Running).await;

    let epoch = Instant::now();
    let (socket, _) = tokio_tungstenite::connect_async(format!(
        "ws://{address}/streams/v1/polyaxon/default/{PROJECT}/runs/{uuid}/logs/ws"
    ))
    .await
    .expect("the logs socket opens");
    let client = tokio::spawn(receive(socket, epoch));

    let started = epoch.elapsed();
    let writer = reporter
        .artifacts()
        .log_writer(&uuid, POD, NODE)
        .expect("the run's log file opens");
    let lines = writer.sender();
    let paced_from = Instant::now();
    for sequence in 0..LINES {
        if let Some(rate) = pace
            && sequence % PACE_CHUNK == 0
        {
            let due = paced_from + Duration::from_secs_f64(sequence as f64 / rate);
            tokio::time::sleep_until(due.into()).await;
        }
        let captured = Captured {
            container: CONTAINER.to_owned(),
            value: line_text(sequence, epoch.elapsed()),
            mark: None,
            printed: None,
        };
        lines
            .send(captured)
            .await
            .expect("the log writer takes every line");
    }
    drop(lines);
    // As a runtime does: the final status only once every line is in the archive.
    writer.close().await;
    let written = epoch.elapsed();
    report(reporter, &uuid, Status::Succeeded).await;

    let (latencies, last_receipt) = client.await.expect("the client finishes");
    state
        .artifacts
        .remove_run(&uuid)
        .await
        .expect("the run's logs are removed");
    Delivery {
        latencies,
        started,
        written,
        last_receipt,
    }
}

/// A line as a training loop prints it, about 85 bytes, led by what the client reads back: its
/// sequence number and when it was written, in nanoseconds since the shared epoch.
fn line_text(sequence: usize, written: Duration) -> String {
    format!(
        "step {sequence:07} written_ns {:013} | epoch 3 loss 0.4821 lr 3e-4 samples/s 5120.4",
        written.as_nanos()
    )
}

/// Reads the stream to its end; every line's latency and when the last one arrived. Panics on a
/// line out of order, lost or repeated, and on a stream that ends without the run's status.
async fn receive(mut socket: Socket, epoch: Instant) -> (Vec<Duration>, Duration) {
    let mut latencies = Vec::with_capacity(LINES);
    let mut last_receipt = Duration::ZERO;
    loop {
        let message = tokio::time::timeout(STALL, socket.next())
            .await
            .unwrap_or_else(|_| panic!("no message for {STALL:?} after {} lines", latencies.len()))
            .expect("the stream ends with the run's status, not by closing")
            .expect("the socket reads");
        let Message::Text(text) = message else {
            continue;
        };
        let receipt = epoch.elapsed();
        let batch: LogBatch = serde_json::from_str(&text).expect("a message is a log batch");
        for line in &batch.lines {
            let mut words = line.value.split(' ');
            let sequence: usize = field(words.nth(1), &line.value);
            let written: u64 = field(words.nth(1), &line.value);
            assert_eq!(
                sequence,
                latencies.len(),
                "line {sequence} arrived where line {} was due: lines were lost, repeated or \
                 reordered",
                latencies.len()
            );
            latencies.push(receipt.saturating_sub(Duration::from_nanos(written)));
        }
        if !batch.lines.is_empty() {
            last_receipt = receipt;
        }
        if let Some(status) = batch.done {
            assert_eq!(status, Status::Succeeded, "the run's final status");
            assert_eq!(latencies.len(), LINES, "lines received before the end");
            return (latencies, last_receipt);
        }
    }
}

fn field<T: std::str::FromStr>(word: Option<&str>, line: &str) -> T {
    word.and_then(|word| word.parse().ok())
        .unwrap_or_else(|| panic!("a line the producer did not write: {line:?}"))
}

/// A row of the streaming table, judged against the goal that its producer's pace tests.
fn print_row(label: &str, delivery: &Delivery, paced: bool) {
    let mut sorted = delivery.latencies.clone();
    sorted.sort_unstable();
    // Nearest rank, as the runs bench and the peer anchors take percentiles.
    let rank = |fraction: f64| {
        let rank = (fraction * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1]
    };
    let (p50, p99) = (rank(0.50), rank(0.99));
    let max = sorted.last().copied().unwrap_or_default();
    let receiving = (delivery.last_receipt - delivery.started).as_secs_f64();
    let rate = sorted.len() as f64 / receiving;
    let (goal, ratio, met) = if paced {
        ("p99", ms(p99) / ms(GOAL_P99), p99 < GOAL_P99)
    } else {
        ("lines/s", rate / GOAL_RATE, rate >= GOAL_RATE)
    };
    println!(
        "{:<52} {:>9} {:>8.2} {:>8.2} {:>9} {:>7.1} {:>7.1} {:>7.1}   {goal} {ratio:.2}× the goal: {}",
        label,
        thousands(sorted.len() as f64),
        (delivery.written - delivery.started).as_secs_f64(),
        receiving,
        thousands(rate),
        ms(p50),
        ms(p99),
        ms(max),
        if met { "met" } else { "MISSED" },
    );
}

/// Records a status as a runtime would, and checks that the lifecycle took it.
async fn report(reporter: &Reporter, uuid: &str, status: Status) {
    let reported = reporter
        .status(uuid, status, "Bench", "the bench says so")
        .await;
    assert!(
        matches!(reported, Reported::Written(Transition::Recorded(now)) if now == status),
        "the run did not become {status:?}: {reported:?}"
    );
}

/// A POST through the router, which must answer 200; its JSON.
async fn post(state: &backend::AppState, path: &str, body: Json) -> Json {
    let request = Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("a valid request");
    let response = backend::app(state.clone())
        .oneshot(request)
        .await
        .expect("the router answers every request");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("the body reads")
        .to_bytes();
    assert_eq!(
        status,
        StatusCode::OK,
        "POST {path}: {}",
        String::from_utf8_lossy(&bytes)
    );
    serde_json::from_slice(&bytes).expect("the answer is JSON")
}

/// The server's own resources, as `/proc` tells them.
struct Usage {
    resident_kb: u64,
    threads: u64,
    /// The CPU the server used over [`IDLE_WINDOW`], as a share of one core.
    cpu: f64,
}

impl Usage {
    /// Watches the process for [`IDLE_WINDOW`]; its memory and threads are read at the end.
    fn watch(pid: u32) -> Self {
        let before = cpu_ticks(pid);
        std::thread::sleep(IDLE_WINDOW);
        let ticks = cpu_ticks(pid) - before;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .expect("the server's /proc status reads");
        let number = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|value| value.parse().ok())
                .unwrap_or_else(|| panic!("no {name} in the server's /proc status"))
        };
        Self {
            resident_kb: number("VmRSS:"),
            threads: number("Threads:"),
            cpu: ticks as f64 / USER_HZ / IDLE_WINDOW.as_secs_f64(),
        }
    }
}

/// The unit of `/proc/PID/stat`'s times, fixed by Linux's ABI.
const USER_HZ: f64 = 100.0;

/// The CPU time every thread of the process has used, user and system, in [`USER_HZ`] ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .expect("the server's /proc stat reads");
    // The fields after the command name, which is in parentheses and may hold spaces: utime and
    // stime are the 14th and 15th of the whole line.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let tick = |index: usize| -> u64 {
        fields
            .get(index)
            .and_then(|value| value.parse().ok())
            .expect("the server's /proc stat has CPU times")
    };
    tick(11) + tick(12)
}

fn idle_sockets(runtime: &tokio::runtime::Runtime) {
    let server = common::Server::start("bench-logs-idle", &[]);
    let (status, _) = server.request(
        "POST",
        "/api/v1/default/projects/create",
        Some(&json!({"name": PROJECT})),
    );
    assert_eq!(status, 200, "creating project `{PROJECT}`");
    let (status, run) = server.request(
        "POST",
        &format!("/api/v1/default/{PROJECT}/runs"),
        Some(&json!({"content": IDLE_JOB})),
    );
    assert_eq!(status, 200, "submitting the idle run: {run}");
    let uuid = run["uuid"].as_str().expect("a run has a uuid").to_owned();
    let url = format!(
        "{}/streams/v1/polyaxon/default/{PROJECT}/runs/{uuid}/logs/ws",
        server.url.replacen("http", "ws", 1)
    );

    runtime.block_on(async {
        let mut warm_up = open_idle(&url).await;
        warm_up
            .close(None)
            .await
            .expect("the warm-up socket closes");
    });
    let before = Usage::watch(server.pid());
    let started = Instant::now();
    let mut sockets = runtime.block_on(async {
        let mut sockets = Vec::with_capacity(IDLE_SOCKETS);
        for _ in 0..IDLE_SOCKETS {
            sockets.push(open_idle(&url).await);
        }
        sockets
    });
    let opening = started.elapsed();
    let after = Usage::watch(server.pid());

    let (status, answer) = server.request(
        "POST",
        &format!("/api/v1/default/{PROJECT}/runs/{uuid}/stop"),
        None,
    );
    assert_eq!(status, 200, "stopping the idle run: {answer}");
    runtime.block_on(async {
        for socket in &mut sockets {
            final_status(socket).await;
        }
    });

    let per_socket = (after.resident_kb as f64 - before.resident_kb as f64) / IDLE_SOCKETS as f64;
    println!(
        "\n{:<52} {:>12} {:>12} {:>12}",
        format!(
            "{} idle log sockets, `myelin serve` child",
            thousands(IDLE_SOCKETS as f64)
        ),
        "before",
        "after",
        "per socket"
    );
    println!(
        "{:<52} {:>9.1} MB {:>9.1} MB {:>9.1} KB",
        "server memory (VmRSS)",
        before.resident_kb as f64 / 1024.0,
        after.resident_kb as f64 / 1024.0,
        per_socket
    );
    println!(
        "{:<52} {:>12} {:>12}",
        "server threads", before.threads, after.threads
    );
    println!(
        "{:<52} {:>11.1}% {:>11.1}%",
        format!(
            "server CPU while idle, over {} s (of one core)",
            IDLE_WINDOW.as_secs()
        ),
        before.cpu * 100.0,
        after.cpu * 100.0,
    );
    println!(
        "\nthe {} sockets opened in {:.2} s, each with the run's printed line first, and each got \
         the run's final status when it was stopped",
        thousands(IDLE_SOCKETS as f64),
        opening.as_secs_f64()
    );
}

/// A socket to the idle run's logs, checked to be served: its first message is the line the
/// run printed.
async fn open_idle(url: &str) -> Socket {
    let mut request = url
        .into_client_request()
        .expect("the socket's URL is valid");
    request.headers_mut().insert(
        header::AUTHORIZATION,
        format!("Token {}", common::TOKEN)
            .parse()
            .expect("the token is a header value"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("an idle logs socket opens");
    let batch = next_batch(&mut socket).await;
    let values: Vec<&str> = batch.lines.iter().map(|line| line.value.as_str()).collect();
    assert_eq!(values, ["ready"], "an idle socket's first message");
    socket
}

/// Reads an idle socket until the stopped run's final message.
async fn final_status(socket: &mut Socket) {
    loop {
        let batch = next_batch(socket).await;
        assert!(batch.lines.is_empty(), "the idle run printed more lines");
        if let Some(status) = batch.done {
            assert_eq!(status, Status::Stopped, "the idle run's final status");
            return;
        }
    }
}

async fn next_batch(socket: &mut Socket) -> LogBatch {
    loop {
        let message = tokio::time::timeout(STALL, socket.next())
            .await
            .unwrap_or_else(|_| panic!("no message on a logs socket for {STALL:?}"))
            .expect("the logs socket stays open")
            .expect("the logs socket reads");
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).expect("a message is a log batch");
        }
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// A count with thousands separators: 1,000,000.
fn thousands(value: f64) -> String {
    let digits = format!("{value:.0}");
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}
