//! Run with `cargo bench -p backend --bench metrics` (`cargo xtask bench` runs it too).
//!
//! Runs' metrics at scale, against the goals of issue 16 and MLflow's measured figures. The server
//! runs in this process and serves on a real 127.0.0.1 socket; a keep-alive HTTP/1.1 client
//! sends each request as a browser would (`Accept-Encoding: gzip`) and times it end to end: from
//! sending the request to holding the whole (gzipped) answer, the answer's decoding and checking
//! left out. A layer around the router also times each request until its answer is built (JSON
//! included; gzip and transfer happen as the body streams, after it): the "handler" column.
//!
//! The cases, each seeded deterministically (a splitmix64 per series) with the values a training
//! loop logs: a decaying loss with noise, an upward spike about once in 2,000 steps, a dip once
//! in 5,000 and a `nan` once in 100,000, so that extremes matter.
//! 1. One run with 1,000,000 points of one metric; `POST /api/v1/series` for 1,000 buckets.
//! 2. 1,000 runs × 1 metric of 10,000 points; one `POST /api/v1/series` naming all of them, with
//!    the 1,000 buckets the compare page asks for.
//! 3. 100 runs × 5 metrics of 100,000 points; one `POST /api/v1/series` for all 500 series.
//! 4. A live run whose file holds 1,000,000 points, read once; then before each timed request
//!    0, 10,000 or 100,000 new points are appended (one run per count) and
//!    `POST /api/v1/series/summaries` reads them: for a run that has not ended it reads what the
//!    file added since the last read and records the new summary in the store, the work the
//!    server's follow loop does every two seconds (which does not run here, so the timed request
//!    is the one that reads the new points).
//! 5. The runs dashboard: 100,000 runs in 100 projects, `GET /api/v1/orgs/default/runs`
//!    filtered on a metric summary and sorted on one, 20 rows a page.
//!
//! Cases 1 to 4 write traceml's event files (`events/metric/NAME.plx`, each event preceded by a
//! newline) into the server's artifacts, where the tracking client would, and the server reads
//! them. Case 5's runs are stored through `Store::create_run`, as the runs bench seeds them, and
//! their summaries through `Store::record_metrics`, the method the server's reader records with,
//! in batches of [`RECORD_BATCH`] runs. They have no event files: the list reads the store alone,
//! and writing 100,000 files for the server to read would only make the seeding longer. Case 5 is
//! seeded and timed first, so that the other cases' runs are not among its 100,000.
//!
//! Every answer is checked (status, how many series or rows, each series' point count and
//! extremes, the list's count and first row) so that an error cannot be timed as a success. The
//! first request of each case (files read from their start) is printed apart; then, after
//! [`WARM_UP`] untimed calls (none for a request slower than a second), up to [`SAMPLES`] are
//! timed, fewer for a slow request once [`BUDGET`] has passed. Percentiles are nearest-rank, as
//! the peers' were taken.
//!
//! `MYELIN_BENCH_ONLY=5` runs case 5 alone (seeding its runs and timing the list, about two
//! minutes); `MYELIN_BENCH_ONLY=2,3` (any of cases 1 to 3, comma-separated) seeds and times
//! those series cases alone; unset, every case runs.
//!
//! It takes about ten minutes on two cores, a minute and a half of it seeding the runs and
//! half a minute writing the files, and needs about 5 GB in the temp folder, removed at the end.

mod support;

use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{Method, Request, StatusCode, header};
use backend::store::{MetricsRecord, NewRun};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Map, Value as Json, json};
use shared::api::{
    MetricKind, MetricSummaries, MetricSummary, OperationBody, SERIES_BINARY, SeriesRequest,
    SeriesResponse, Status, StatusCondition, SummariesRequest, XAxis, decode_series,
};
use shared::time::Timestamp;
use support::{Anchor, JOB, TempDir, Timing};

/// The `myelin` binary's allocator, so the bench times what the server does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const OWNER: &str = "default";
/// The project of cases 1 to 4's runs.
const PROJECT: &str = "metrics";
const DASHBOARD_PROJECTS: usize = 100;
const DASHBOARD_RUNS: usize = 100_000;
/// Runs whose summaries one `record_metrics` call takes while seeding.
const RECORD_BATCH: usize = 1_000;
/// Timed calls per request at most (the peers' N), after [`WARM_UP`] untimed ones.
const SAMPLES: usize = 30;
const WARM_UP: usize = 2;
/// A first call slower than this has warmed what warm-up calls would.
const WARMED_BY_FIRST: Duration = Duration::from_secs(1);
/// A slow request stops being timed after this long, once it has [`MIN_SAMPLES`].
const BUDGET: Duration = Duration::from_secs(30);
const MIN_SAMPLES: usize = 5;
/// Points a live run's file holds before new ones are appended (case 4).
const LIVE_POINTS: u64 = 1_000_000;
/// When every series' first point was logged, and how far apart its points are.
const FIRST_TIME: Timestamp = Timestamp::from_micros(1_735_689_600_000_000);
const MICROS_PER_STEP: i64 = 50_000;
const MICROS_PER_MINUTE: i64 = 60 * 1_000_000;

/// MLflow 3.17.2 on this machine, measured in the same `cargo xtask bench` by
/// `xtask/bench/mlflow_bench.py` (its JSON in the file `MYELIN_BENCH_MLFLOW` names):
/// `get-history-bulk-interval` sampling 1,000 of one run's 1,000,000 points, and `runs/search`
/// with `metrics.loss < 0.5` over 100,000 runs, 20 a page by start time.
struct Mlflow {
    sampled_1m: Anchor,
    search_loss: Anchor,
}

/// MLflow's timings of this run; none when this bench runs alone, without `cargo xtask bench`.
fn mlflow() -> Option<&'static Mlflow> {
    static MEASURED: std::sync::OnceLock<Option<Mlflow>> = std::sync::OnceLock::new();
    MEASURED
        .get_or_init(|| {
            let measured = support::peer_timings("MYELIN_BENCH_MLFLOW")?;
            Some(Mlflow {
                sampled_1m: Anchor::at(&measured, "/sampled_1m"),
                search_loss: Anchor::at(&measured, "/search_loss"),
            })
        })
        .as_ref()
}

/// splitmix64: the same values on every machine, without a dependency.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut mixed = self.0;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        mixed ^ (mixed >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn one_in(&mut self, odds: u64) -> bool {
        self.next().is_multiple_of(odds)
    }
}

/// One metric as a training loop logs it, step after step, and what it came to so far.
struct Curve {
    random: SplitMix,
    step: u64,
    start: f64,
    floor: f64,
    /// Steps over which the loss falls by a factor of e.
    decay: f64,
    written: Written,
}

/// What a series' values come to, to check the server's answers against.
#[derive(Clone, Copy)]
struct Written {
    count: u64,
    /// The lowest and highest finite values.
    min: f64,
    max: f64,
}

impl Curve {
    /// A series drawn from `seed`, falling over about a fifth of its `length`.
    fn new(seed: u64, length: u64) -> Self {
        let mut random = SplitMix(seed);
        let start = 1.0 + 2.0 * random.unit();
        let floor = 0.02 + 0.3 * random.unit();
        Self {
            random,
            step: 0,
            start,
            floor,
            decay: length as f64 / 5.0,
            written: Written {
                count: 0,
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
            },
        }
    }

    fn next_value(&mut self) -> f64 {
        let trend = self.floor + self.start * (-(self.step as f64) / self.decay).exp();
        let noisy = trend * (1.0 + 0.1 * (self.random.unit() - 0.5));
        if self.random.one_in(100_000) {
            f64::NAN
        } else if self.random.one_in(2_000) {
            noisy * (5.0 + 45.0 * self.random.unit())
        } else if self.random.one_in(5_000) {
            noisy * 0.05 * self.random.unit()
        } else {
            noisy
        }
    }

    /// Writes the series' next `points` events to `out` as traceml does: each one a newline
    /// then `step|timestamp|value`, the time as Python prints a UTC datetime, the value as
    /// Python prints a float (`nan` included).
    fn write(&mut self, out: &mut impl std::io::Write, points: u64) -> std::io::Result<()> {
        let mut line = String::with_capacity(96);
        for _ in 0..points {
            let value = self.next_value();
            let time = FIRST_TIME.plus_micros(self.step as i64 * MICROS_PER_STEP);
            line.clear();
            write!(line, "\n{}|", self.step).expect("a String takes any text");
            let date_end = line.len() + 10;
            write!(line, "{time}|").expect("a String takes any text");
            // `str(datetime)` has a space where ISO 8601's `T` is.
            line.replace_range(date_end..date_end + 1, " ");
            if value.is_nan() {
                line.push_str("nan");
            } else {
                write!(line, "{value}").expect("a String takes any text");
                self.written.min = self.written.min.min(value);
                self.written.max = self.written.max.max(value);
            }
            out.write_all(line.as_bytes())?;
            self.step += 1;
            self.written.count += 1;
        }
        Ok(())
    }

    /// Creates the event file at `path` with the series' first `points` events.
    fn create(&mut self, path: &Path, points: u64) -> std::io::Result<()> {
        std::fs::create_dir_all(path.parent().expect("an event file is in a folder"))?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
        out.write_all(b"step|timestamp|metric")?;
        self.write(&mut out, points)?;
        out.flush()
    }

    /// Appends the series' next `points` events to its file at `path`, as a running run does.
    fn append(&mut self, path: &Path, points: u64) -> std::io::Result<()> {
        let file = std::fs::OpenOptions::new().append(true).open(path)?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        self.write(&mut out, points)?;
        out.flush()
    }
}

/// The seed of series `index` of case `case`, apart from every other series'.
fn series_seed(case: u64, index: u64) -> u64 {
    SplitMix((case << 32) | index).next()
}

/// One seeded run of cases 1 to 4: its uuid, and what each of its series came to, by name.
struct SeededRun {
    uuid: String,
    written: Vec<(String, Written)>,
}

/// Writes `runs` × `names` series of `points` each, on two threads (series by series, so the
/// data is the same whichever thread writes it), into the server's artifacts.
fn write_series(
    artifacts: &backend::artifacts::Artifacts,
    case: u64,
    uuids: &[String],
    names: &[String],
    points: u64,
) -> Vec<SeededRun> {
    let files: Vec<(usize, &str, PathBuf)> = uuids
        .iter()
        .enumerate()
        .flat_map(|(run, uuid)| {
            names
                .iter()
                .map(move |name| (run, name.as_str(), metric_file(artifacts, uuid, name)))
        })
        .collect();
    let written: Vec<Written> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2)
            .map(|worker| {
                let files = &files;
                scope.spawn(move || {
                    files
                        .iter()
                        .enumerate()
                        .skip(worker)
                        .step_by(2)
                        .map(|(index, (_, _, path))| {
                            let mut curve = Curve::new(series_seed(case, index as u64), points);
                            curve
                                .create(path, points)
                                .expect("an event file is written");
                            (index, curve.written)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut written: Vec<(usize, Written)> = workers
            .into_iter()
            .flat_map(|worker| worker.join().expect("a writer thread finishes"))
            .collect();
        written.sort_by_key(|(index, _)| *index);
        written.into_iter().map(|(_, written)| written).collect()
    });
    let mut seeded: Vec<SeededRun> = uuids
        .iter()
        .map(|uuid| SeededRun {
            uuid: uuid.clone(),
            written: Vec::new(),
        })
        .collect();
    for ((run, name, _), written) in files.into_iter().zip(written) {
        seeded[run].written.push((name.to_owned(), written));
    }
    seeded
}

fn metric_file(artifacts: &backend::artifacts::Artifacts, uuid: &str, name: &str) -> PathBuf {
    artifacts
        .run_folder(uuid)
        .join("events")
        .join("metric")
        .join(format!("{name}.plx"))
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// The server on its socket, the client that calls it, and how long the last request took the
/// router to answer.
struct Server {
    state: backend::AppState,
    address: SocketAddr,
    client: HttpClient,
    handled: Arc<Mutex<Duration>>,
}

/// One call's answer and times.
struct Answer {
    status: StatusCode,
    /// The body as sent (gzipped) and unzipped.
    wire_bytes: usize,
    body: Vec<u8>,
    /// From sending the request to holding the whole answer.
    took: Duration,
    /// From the router taking the request to its answer being built, before gzip and transfer.
    handled: Duration,
}

impl Server {
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        accept: &str,
    ) -> Answer {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.address))
            .header(header::ACCEPT, accept)
            .header(header::ACCEPT_ENCODING, "gzip");
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .expect("a valid request");
        let timer = Instant::now();
        let response = self
            .client
            .request(request)
            .await
            .expect("the server answers");
        let status = response.status();
        let gzipped = response
            .headers()
            .get(header::CONTENT_ENCODING)
            .is_some_and(|encoding| encoding == "gzip");
        let wire = response
            .into_body()
            .collect()
            .await
            .expect("the body reads")
            .to_bytes();
        let took = timer.elapsed();
        let handled = *self.handled.lock().unwrap_or_else(PoisonError::into_inner);
        let body = if gzipped {
            let mut body = Vec::new();
            flate2::read::GzDecoder::new(&wire[..])
                .read_to_end(&mut body)
                .expect("the gzipped body unzips");
            body
        } else {
            wire.to_vec()
        };
        Answer {
            status,
            wire_bytes: wire.len(),
            body,
            took,
            handled,
        }
    }

    /// A call that must answer 200 with JSON of type `T`.
    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Json>,
    ) -> (T, Answer) {
        let body = body.map(|body| body.to_string().into_bytes());
        let answer = self.call(method, path, body, "application/json").await;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "{path}: {}",
            String::from_utf8_lossy(&answer.body)
        );
        let value = serde_json::from_slice(&answer.body)
            .unwrap_or_else(|error| panic!("{path}: the answer does not read: {error}"));
        (value, answer)
    }
}

/// A row of the table: one request, timed.
struct Row {
    label: String,
    first: Duration,
    timing: Timing,
    handled_p50: Duration,
    /// The last answer's size as sent and unzipped.
    wire_bytes: usize,
    body_bytes: usize,
    goal: Option<Duration>,
    mlflow: Option<Anchor>,
}

/// Times `call`: its first call apart, then [`WARM_UP`] untimed, then the timed ones. A call
/// slower than [`WARMED_BY_FIRST`] gets no warm-up: its first call has warmed what a few
/// calls warm (the connection, the allocator's pools, the page cache), and more would only
/// make the bench longer.
async fn measure(
    label: String,
    goal: Option<Duration>,
    mlflow: Option<Anchor>,
    mut call: impl AsyncFnMut() -> Answer,
) -> Row {
    eprintln!("timing {label}");
    let first = call().await.took;
    let warm_up = if first > WARMED_BY_FIRST { 0 } else { WARM_UP };
    let mut times = Vec::new();
    let mut handled = Vec::new();
    let mut last = None;
    let started = Instant::now();
    let mut calls = 0;
    while times.len() < SAMPLES && (times.len() < MIN_SAMPLES || started.elapsed() < BUDGET) {
        let answer = call().await;
        calls += 1;
        if calls > warm_up {
            times.push(answer.took);
            handled.push(answer.handled);
        }
        last = Some(answer);
    }
    let last = last.expect("a request is timed at least once");
    Row {
        label,
        first,
        timing: Timing::of(times),
        handled_p50: Timing::of(handled).p50,
        wire_bytes: last.wire_bytes,
        body_bytes: last.body.len(),
        goal,
        mlflow,
    }
}

fn main() {
    let root = TempDir::new("metrics");
    // Declared after `root`, so it shuts down (and the server with it) before the folder goes.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts");
    runtime.block_on(bench(&root.0));
}

/// The series cases (1 to 3) `MYELIN_BENCH_ONLY` picks, when it picks only some of them.
fn only_series_cases() -> Option<Vec<u32>> {
    let only = std::env::var("MYELIN_BENCH_ONLY").ok()?;
    let cases: Vec<u32> = only
        .split(',')
        .map(|case| case.trim().parse().ok())
        .collect::<Option<_>>()?;
    (!cases.is_empty() && cases.iter().all(|case| (1..=3).contains(case))).then_some(cases)
}

async fn bench(root: &Path) {
    let server = start(root).await;
    let template = compiled_template(&server).await;
    if let Some(cases) = only_series_cases() {
        let series = series_cases(&server, &template, &cases).await;
        print_table(&series.rows);
        println!("\n{SERIES_NOTE}");
        return;
    }

    let dashboard = seed_dashboard(&server, &template).await;
    let mut dashboard_rows = Vec::new();
    for case in &dashboard.cases {
        dashboard_rows.push(time_list(&server, case).await);
    }
    if std::env::var("MYELIN_BENCH_ONLY").is_ok_and(|only| only.trim() == "5") {
        println!(
            "\nseeded {} runs in {} projects with their metric summaries in {:.1} s ({:.1} s in \
             Store::create_run, {:.1} s in Store::record_metrics)",
            thousands(DASHBOARD_RUNS as f64),
            DASHBOARD_PROJECTS,
            dashboard.seeding.as_secs_f64(),
            dashboard.creating.as_secs_f64(),
            dashboard.recording.as_secs_f64()
        );
        print_table(&dashboard_rows);
        return;
    }

    let series = series_cases(&server, &template, &[1, 2, 3]).await;
    let started = Instant::now();
    let live = [
        seed_live(&server, &template, 4).await,
        seed_live(&server, &template, 5).await,
        seed_live(&server, &template, 6).await,
    ];
    let seeding_files = series.seeding + started.elapsed();
    let seeded_runs = series.runs + live.len();
    let seeded_points = series.points + live.iter().map(|run| run.curve.written.count).sum::<u64>();
    let mut rows = series.rows;
    let [nothing_new, small, large] = live;
    let nothing_new = time_live(&server, nothing_new, 0, None).await;
    let small = time_live(&server, small, 10_000, Some(Duration::from_millis(5))).await;
    let large = time_live(&server, large, 100_000, None).await;
    // What reading the new bytes adds to a read that finds none.
    let extra = |live: &LiveRow| {
        ms(live
            .row
            .timing
            .p50
            .saturating_sub(nothing_new.row.timing.p50))
    };
    let (small_ms, large_ms) = (extra(&small), extra(&large));
    let (small_bytes, large_bytes) = (small.appended_bytes, large.appended_bytes);
    rows.extend([nothing_new.row, small.row, large.row]);
    rows.extend(dashboard_rows);

    println!(
        "\nseeded {} runs in {} projects with their metric summaries in {:.1} s ({:.1} s in \
         Store::create_run, {:.1} s in Store::record_metrics); cases 1 to 4's {} runs and \
         their {} points in {:.1} s",
        thousands(DASHBOARD_RUNS as f64),
        DASHBOARD_PROJECTS,
        dashboard.seeding.as_secs_f64(),
        dashboard.creating.as_secs_f64(),
        dashboard.recording.as_secs_f64(),
        thousands(seeded_runs as f64),
        thousands(seeded_points as f64),
        seeding_files.as_secs_f64()
    );
    print_table(&rows);
    println!(
        "\nms, end to end on 127.0.0.1: from sending the request to holding the whole gzipped \
         answer (unzipping and checking it left out).\nhandler: from the router taking the \
         request to its answer built, JSON included, before gzip and transfer.\nfirst: the first \
         request, which reads the files from their start. n: the timed requests after it.\n\
         A goal is met when p95 is under it; case 1's goal is server side, which the end-to-end \
         time bounds from above.\n{SERIES_NOTE} answer: the last answer's size as sent (gzipped \
         when JSON) / as made."
    );
    println!(
        "{}",
        if mlflow().is_some() {
            "MLflow ×: its time over ours, MLflow 3.17.2 measured on this machine in this run \
             (xtask/bench/mlflow_bench.py). Case 1: its\nget-history-bulk-interval sampling \
             1,000 of one run's 1,000,000 points. Case 5: its runs/search with \
             `metrics.loss < 0.5` over\n100,000 runs in one experiment, 20 a page by start time; \
             its filter is our `metrics.loss:<0.5`."
        } else {
            "MLflow was not measured in this run: `cargo xtask bench` measures it beside."
        }
    );
    println!(
        "Case 4, over the p50 of a read that finds nothing new: {} new bytes cost {small_ms:.2} \
         ms ({:.0} MB/s), {} cost {large_ms:.2} ms ({:.0} MB/s):\n{:.1}× the bytes, {:.1}× the \
         time.",
        thousands(small_bytes as f64),
        small_bytes as f64 / 1e3 / small_ms,
        thousands(large_bytes as f64),
        large_bytes as f64 / 1e3 / large_ms,
        large_bytes as f64 / small_bytes as f64,
        large_ms / small_ms
    );
}

/// The server in this process on a 127.0.0.1 socket, and a client of it.
async fn start(root: &Path) -> Server {
    let state = backend::AppState::open(
        backend::Config::local(root.join("data"), root.join("web")),
        "http://127.0.0.1:9",
    )
    .await
    .expect("the state opens in a fresh folder");
    let handled = Arc::new(Mutex::new(Duration::ZERO));
    let timed = Arc::clone(&handled);
    // Outside the router's own layers: its gzip only wraps the body, which streams later.
    let app = backend::app(state.clone()).layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            let timed = Arc::clone(&timed);
            async move {
                let timer = Instant::now();
                let response = next.run(request).await;
                *timed.lock().unwrap_or_else(PoisonError::into_inner) = timer.elapsed();
                response
            }
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port binds");
    let address = listener.local_addr().expect("the listener has an address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    Server {
        state,
        address,
        client: Client::builder(TokioExecutor::new()).build_http(),
        handled,
    }
}

async fn create_project(server: &Server, name: &str) {
    let path = format!("/api/v1/{OWNER}/projects/create");
    server
        .json::<Json>(Method::POST, &path, Some(&json!({"name": name})))
        .await;
}

/// A run as submitting the bench's job makes it, compiled operation and resource included, for
/// seeded runs to copy, so that list rows weigh what real ones do.
async fn compiled_template(server: &Server) -> NewRun {
    create_project(server, PROJECT).await;
    let state = &server.state;
    let project = state
        .store
        .project(OWNER, PROJECT)
        .await
        .expect("the project exists");
    backend::submit::prepare(
        backend::submit::Submission {
            project: &project,
            body: OperationBody {
                content: Some(JOB.to_owned()),
                ..OperationBody::default()
            },
            uuid: backend::clock::new_uuid(),
            now: backend::clock::now(),
            api_host: &state.api_host,
            agent: &state.agent,
            hub: shared::hub::Catalog::bundled(),
        },
        state.runtime.as_ref(),
    )
    .expect("the bench's Polyaxonfile compiles")
    .run
}

/// A copy of `template` named `name`, created at `created_at`, that has come to `status`: its
/// conditions in lifecycle order, which `create_run` applies in the run's one transaction.
fn seeded_run(template: &NewRun, name: String, created_at: Timestamp, status: Status) -> NewRun {
    let after = |seconds: i64| created_at.plus_micros(seconds * 1_000_000);
    let mut steps = vec![(Status::Created, 0), (Status::Running, 5)];
    if status.is_done() {
        steps.push((status, 600));
    }
    NewRun {
        uuid: backend::clock::new_uuid(),
        name: Some(name),
        conditions: steps
            .into_iter()
            .map(|(kind, seconds)| {
                StatusCondition::new(kind, "Bench", format!("{kind:?}"), after(seconds))
            })
            .collect(),
        created_at,
        ..template.clone()
    }
}

/// Stores `runs` running runs of [`PROJECT`] and writes `names` series of `points` for each;
/// the case number keeps each case's data apart.
async fn seed_case(
    server: &Server,
    template: &NewRun,
    case: u64,
    runs: usize,
    names: &[&str],
    points: u64,
) -> Vec<SeededRun> {
    let now = backend::clock::now();
    let mut uuids = Vec::with_capacity(runs);
    for index in 0..runs {
        let run = seeded_run(
            template,
            format!("case-{case}-{index}"),
            now,
            Status::Running,
        );
        uuids.push(run.uuid.clone());
        server
            .state
            .store
            .create_run(OWNER, PROJECT, run)
            .await
            .expect("a seeded run is stored");
    }
    let artifacts = server.state.artifacts.clone();
    let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
    tokio::task::spawn_blocking(move || write_series(&artifacts, case, &uuids, &names, points))
        .await
        .expect("the files are written")
}

/// Series cases 1 to 3 seeded and timed: their rows, and what seeding them took.
struct SeriesCases {
    rows: Vec<Row>,
    runs: usize,
    points: u64,
    seeding: Duration,
}

/// What the series rows time, printed under them.
const SERIES_NOTE: &str = "Series requests are on the step axis, for the buckets the compare \
    page asks for with a chart of that many runs (each bucket up to four points); binary is \
    the layout the page asks for, JSON what other clients get.";

/// Seeds series cases 1 to 3 (those in `cases`) and times their requests: case 1 and 2 in
/// both layouts, case 3 in the page's.
async fn series_cases(server: &Server, template: &NewRun, cases: &[u32]) -> SeriesCases {
    let mut seeding = Duration::ZERO;
    let mut seeded = Vec::new();
    let mut seed = async |case: u64, runs: usize, names: &[&str], points: u64| {
        let started = Instant::now();
        let runs = seed_case(server, template, case, runs, names, points).await;
        seeding += started.elapsed();
        runs
    };
    let mut rows = Vec::new();
    if cases.contains(&1) {
        let one = seed(1, 1, &["loss"], 1_000_000).await;
        let name = "1. 1 run × 1,000,000 points";
        let goal = Some(Duration::from_millis(30));
        let mlflow = mlflow().map(|mlflow| mlflow.sampled_1m);
        rows.push(time_series(server, name, &one, Format::Binary, goal, mlflow).await);
        rows.push(time_series(server, name, &one, Format::Json, None, mlflow).await);
        seeded.push(one);
    }
    if cases.contains(&2) {
        let many = seed(2, 1_000, &["loss"], 10_000).await;
        let name = "2. 1,000 runs × 1 metric × 10,000 points";
        let goal = Some(Duration::from_millis(300));
        rows.push(time_series(server, name, &many, Format::Binary, goal, None).await);
        rows.push(time_series(server, name, &many, Format::Json, None, None).await);
        seeded.push(many);
    }
    if cases.contains(&3) {
        let names = ["loss", "val_loss", "accuracy", "grad_norm", "lr"];
        let wide = seed(3, 100, &names, 100_000).await;
        let name = "3. 100 runs × 5 metrics × 100,000 points";
        let goal = Some(Duration::from_millis(200));
        rows.push(time_series(server, name, &wide, Format::Binary, goal, None).await);
        seeded.push(wide);
    }
    let all = seeded.iter().flatten();
    SeriesCases {
        rows,
        runs: all.clone().count(),
        points: all
            .flat_map(|run| &run.written)
            .map(|(_, written)| written.count)
            .sum(),
        seeding,
    }
}

/// How a series answer is asked for: as JSON, or in the binary layout the compare page asks
/// for.
#[derive(Clone, Copy, PartialEq)]
enum Format {
    Json,
    Binary,
}

/// Times one series request for every run and name of `seeded`, checking each answer. It asks
/// for the buckets the compare page asks for with a chart of that many runs
/// ([`shared::api::chart_buckets`]), in `format`.
async fn time_series(
    server: &Server,
    label: &str,
    seeded: &[SeededRun],
    format: Format,
    goal: Option<Duration>,
    mlflow: Option<Anchor>,
) -> Row {
    let names = seeded[0].written.iter().map(|(name, _)| name.clone());
    let buckets = shared::api::chart_buckets(seeded.len());
    let request = SeriesRequest {
        runs: seeded.iter().map(|run| run.uuid.clone()).collect(),
        names: names.collect(),
        kind: MetricKind::Metric,
        axis: XAxis::Step,
        buckets,
        range: None,
    };
    let body = serde_json::to_vec(&request).expect("a request serializes");
    let (accept, shape) = match format {
        Format::Json => ("application/json", "JSON"),
        Format::Binary => (SERIES_BINARY, "binary"),
    };
    let label = format!("{label}: POST /api/v1/series, {buckets} buckets, {shape}");
    measure(label, goal, mlflow, async || {
        let answer = server
            .call(Method::POST, "/api/v1/series", Some(body.clone()), accept)
            .await;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&answer.body)
        );
        let response = match format {
            Format::Json => serde_json::from_slice(&answer.body).expect("the JSON answer reads"),
            Format::Binary => decode_series(&answer.body).expect("the binary answer reads"),
        };
        check_series(&response, seeded, buckets);
        answer
    })
    .await
}

/// Each series must stand for every point written, keep at most four points per bucket, and
/// still draw the series' lowest and highest values; its summary must count them all.
fn check_series(response: &SeriesResponse, seeded: &[SeededRun], buckets: u32) {
    let expected: usize = seeded.iter().map(|run| run.written.len()).sum();
    assert_eq!(response.series.len(), expected, "series answered");
    for series in &response.series {
        let written = seeded
            .iter()
            .find(|run| run.uuid == series.run)
            .and_then(|run| run.written.iter().find(|(name, _)| *name == series.name))
            .map(|(_, written)| *written)
            .unwrap_or_else(|| panic!("a series no one asked for: {}", series.name));
        let what = format!("run {} `{}`", series.run, series.name);
        assert_eq!(series.total, written.count, "{what}: total");
        assert!(
            series.returned <= 4 * u64::from(buckets),
            "{what}: returned"
        );
        let lowest = series.y.iter().copied().fold(f64::INFINITY, f64::min);
        let highest = series.y.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        assert!(close(lowest, written.min), "{what}: min {lowest} drawn");
        assert!(close(highest, written.max), "{what}: max {highest} drawn");
        let summary = series.summary.as_ref().expect("a series has its summary");
        check_summary(summary, written, &what);
    }
}

fn check_summary(summary: &MetricSummary, written: Written, what: &str) {
    assert_eq!(summary.count, written.count, "{what}: summary count");
    assert!(
        summary.min.is_some_and(|min| close(min, written.min)),
        "{what}: summary min {:?}",
        summary.min
    );
    assert!(
        summary.max.is_some_and(|max| close(max, written.max)),
        "{what}: summary max {:?}",
        summary.max
    );
}

/// Equal but for JSON's float parsing, which may miss the last bit.
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
}

/// A running run whose `loss` file holds [`LIVE_POINTS`], and the curve that goes on writing it.
struct LiveRun {
    uuid: String,
    file: PathBuf,
    curve: Curve,
}

async fn seed_live(server: &Server, template: &NewRun, case: u64) -> LiveRun {
    let now = backend::clock::now();
    let run = seeded_run(template, format!("live-{case}"), now, Status::Running);
    let uuid = run.uuid.clone();
    server
        .state
        .store
        .create_run(OWNER, PROJECT, run)
        .await
        .expect("a seeded run is stored");
    let file = metric_file(&server.state.artifacts, &uuid, "loss");
    let mut curve = Curve::new(series_seed(case, 0), LIVE_POINTS);
    curve
        .create(&file, LIVE_POINTS)
        .expect("the live run's file is written");
    LiveRun { uuid, file, curve }
}

/// A live run's row, and how many bytes each timed read found new.
struct LiveRow {
    row: Row,
    appended_bytes: u64,
}

/// Reads a live run's whole file once (the row's first request), then times reading
/// `new_points` appended before each request, checking that the summary counts them all.
async fn time_live(
    server: &Server,
    mut live: LiveRun,
    new_points: u64,
    goal: Option<Duration>,
) -> LiveRow {
    let request = serde_json::to_value(SummariesRequest {
        runs: vec![live.uuid.clone()],
        kind: MetricKind::Metric,
    })
    .expect("a request serializes");
    let label = format!(
        "4. live run of {} points, {} new: POST …/series/summaries",
        thousands(LIVE_POINTS as f64),
        thousands(new_points as f64)
    );
    let mut appended_bytes = 0;
    let row = measure(label, goal, None, async || {
        let before = file_length(&live.file);
        live.curve
            .append(&live.file, new_points)
            .expect("the live run's file grows");
        appended_bytes = file_length(&live.file) - before;
        let (summaries, answer) = server
            .json::<MetricSummaries>(Method::POST, "/api/v1/series/summaries", Some(&request))
            .await;
        let summary = summaries
            .runs
            .get(&live.uuid)
            .and_then(|run| run.get("loss"))
            .expect("the live run's loss is summed up");
        check_summary(summary, live.curve.written, "the live run's loss");
        answer
    })
    .await;
    LiveRow {
        row,
        appended_bytes,
    }
}

fn file_length(path: &Path) -> u64 {
    std::fs::metadata(path)
        .expect("the live run's file is there")
        .len()
}

/// What a list request must answer: how many runs match, and which comes first.
#[derive(Default)]
struct Expected {
    count: u64,
    first: String,
    /// The value the first row is ordered by, for a sort on a metric.
    best: Option<f64>,
}

impl Expected {
    /// Counts a matching run, which comes first from now on when `leads`.
    fn add(&mut self, uuid: &str, leads: bool) {
        self.count += 1;
        if leads {
            self.first = uuid.to_owned();
        }
    }

    /// Counts a matching run in a list sorted on `value`, highest first.
    fn add_highest(&mut self, uuid: &str, value: f64) {
        let leads = self.best.is_none_or(|best| value > best);
        self.add(uuid, leads);
        if leads {
            self.best = Some(value);
        }
    }
}

struct ListCase {
    label: &'static str,
    params: &'static [(&'static str, &'static str)],
    expected: Expected,
    mlflow: Option<Anchor>,
}

/// The dashboard's runs, as seeded, and what seeding them took.
struct Dashboard {
    cases: Vec<ListCase>,
    seeding: Duration,
    creating: Duration,
    recording: Duration,
}

/// 100,000 runs over 100 projects (round robin), created a minute apart up to now: 85%
/// succeeded, 10% failed, 5% running, `lr` log-uniform over [1e-4, 10^-0.5], and a `loss` and
/// `accuracy` summary each. The loss ends lowest near `lr` = 10^-2.5; one run in ten has dipped
/// far below where it ended (a spike down, so its `min` is not its `last`), one in twenty has
/// spiked up to 50.
async fn seed_dashboard(server: &Server, template: &NewRun) -> Dashboard {
    let started = Instant::now();
    for project in 0..DASHBOARD_PROJECTS {
        create_project(server, &format!("dash-{project:02}")).await;
    }
    let mut random = SplitMix(0x5eed_da5b_0a4d);
    let mut min_below = Expected::default();
    let mut min_below_by_last = Expected::default();
    let mut all_by_last = Expected::default();
    let mut last_below = Expected::default();
    let (mut creating, mut recording) = (Duration::ZERO, Duration::ZERO);
    let mut records = Vec::with_capacity(RECORD_BATCH);
    let first_created =
        backend::clock::now().plus_micros(-(DASHBOARD_RUNS as i64) * MICROS_PER_MINUTE);
    for index in 0..DASHBOARD_RUNS {
        let created_at = first_created.plus_micros(index as i64 * MICROS_PER_MINUTE);
        let draw = random.unit();
        let status = match draw {
            _ if draw < 0.85 => Status::Succeeded,
            _ if draw < 0.95 => Status::Failed,
            _ => Status::Running,
        };
        let lr = 10f64.powf(-4.0 + 3.5 * random.unit());
        let project = format!("dash-{:02}", index % DASHBOARD_PROJECTS);
        let run = NewRun {
            inputs: Some(Map::from_iter([("lr".to_owned(), json!(lr))])),
            ..seeded_run(template, format!("dash-{index}"), created_at, status)
        };
        let uuid = run.uuid.clone();
        let timer = Instant::now();
        server
            .state
            .store
            .create_run(OWNER, &project, run)
            .await
            .expect("a seeded run is stored");
        creating += timer.elapsed();

        let last = 0.05 + 0.3 * (lr.log10() + 2.5).abs() + 0.2 * random.unit();
        let min = if random.one_in(10) {
            last * 0.1 * random.unit()
        } else {
            last * (1.0 - 0.2 * random.unit())
        };
        let spike = if random.one_in(20) {
            50.0 * random.unit()
        } else {
            0.0
        };
        let max = 2.0 + random.unit() + spike;
        let count = 1_000 + random.next() % 9_000;
        let loss = summary(created_at, count, last, min, max);
        let accuracy = summary(created_at, count, 1.0 - last / 2.0, 0.1, 1.0 - min / 2.0);
        records.push(MetricsRecord {
            uuid: uuid.clone(),
            kind: MetricKind::Metric,
            summaries: vec![("loss".to_owned(), loss), ("accuracy".to_owned(), accuracy)],
        });
        if records.len() == RECORD_BATCH || index + 1 == DASHBOARD_RUNS {
            let timer = Instant::now();
            server
                .state
                .store
                .record_metrics(std::mem::take(&mut records))
                .await
                .expect("the summaries are stored");
            recording += timer.elapsed();
        }

        // Runs are seeded oldest first, so under `-created_at` the latest match leads.
        if min < 0.1 {
            min_below.add(&uuid, true);
            min_below_by_last.add_highest(&uuid, last);
        }
        if last < 0.5 {
            last_below.add(&uuid, true);
        }
        all_by_last.add_highest(&uuid, last);
        if (index + 1) % 20_000 == 0 {
            eprintln!(
                "seeded {} dashboard runs in {:.1} s",
                thousands((index + 1) as f64),
                started.elapsed().as_secs_f64()
            );
        }
    }
    Dashboard {
        cases: vec![
            ListCase {
                label: "5. 100,000 runs, loss's min below 0.1, newest first",
                params: &[
                    ("query", "metrics.loss.min:<0.1"),
                    ("sort", "-created_at"),
                    ("limit", "20"),
                ],
                expected: min_below,
                mlflow: mlflow().map(|mlflow| mlflow.search_loss),
            },
            ListCase {
                label: "5. 100,000 runs, loss's min below 0.1, by last loss",
                params: &[
                    ("query", "metrics.loss.min:<0.1"),
                    ("sort", "-metrics.loss.last"),
                    ("limit", "20"),
                ],
                expected: min_below_by_last,
                mlflow: None,
            },
            ListCase {
                label: "5. 100,000 runs, all, by last loss",
                params: &[("sort", "-metrics.loss.last"), ("limit", "20")],
                expected: all_by_last,
                mlflow: None,
            },
            ListCase {
                label: "5. 100,000 runs, last loss below 0.5, newest first",
                params: &[
                    ("query", "metrics.loss:<0.5"),
                    ("sort", "-created_at"),
                    ("limit", "20"),
                ],
                expected: last_below,
                mlflow: mlflow().map(|mlflow| mlflow.search_loss),
            },
        ],
        seeding: started.elapsed(),
        creating,
        recording,
    }
}

/// A series' summary of `count` values logged a step each 50 ms from five seconds after
/// `created_at`, with no `nan`.
fn summary(created_at: Timestamp, count: u64, last: f64, min: f64, max: f64) -> MetricSummary {
    let first_time = created_at.plus_micros(5_000_000);
    MetricSummary {
        count,
        non_finite: 0,
        last: Some(last),
        min: Some(min),
        max: Some(max),
        first_step: Some(0),
        last_step: Some(count as i64 - 1),
        first_time: Some(first_time),
        last_time: Some(first_time.plus_micros((count as i64 - 1) * MICROS_PER_STEP)),
    }
}

/// Times a dashboard list request, checking its count and first row every time.
async fn time_list(server: &Server, case: &ListCase) -> Row {
    let query = serde_urlencoded::to_string(case.params).expect("the params encode");
    let path = format!("/api/v1/orgs/{OWNER}/runs?{query}");
    let label = format!("{}: GET /api/v1/orgs/{OWNER}/runs", case.label);
    let goal = Some(Duration::from_millis(20));
    measure(label, goal, case.mlflow, async || {
        let (page, answer) = server.json::<Json>(Method::GET, &path, None).await;
        assert_eq!(
            page["count"].as_u64(),
            Some(case.expected.count),
            "{path}: count"
        );
        let results = page["results"].as_array().expect("a list has results");
        assert_eq!(
            results.len() as u64,
            case.expected.count.min(20),
            "{path}: rows"
        );
        let first = &results[0];
        assert_eq!(
            first["uuid"].as_str(),
            Some(case.expected.first.as_str()),
            "{path}: first row"
        );
        if let Some(best) = case.expected.best {
            let last = first["metrics"]["loss"]["last"].as_f64();
            assert!(
                last.is_some_and(|last| close(last, best)),
                "{path}: the first row's last loss {last:?}"
            );
        }
        answer
    })
    .await
}

fn print_table(rows: &[Row]) {
    println!(
        "\n{:<92} {:>3} {:>9} {:>9} {:>9} {:>9} {:>19}   {:<28} MLflow p50/p95: MLflow ×",
        "request (end to end on 127.0.0.1, gzip)",
        "n",
        "first ms",
        "p50 ms",
        "p95 ms",
        "handler",
        "answer gz / JSON",
        "goal (p95)",
    );
    for row in rows {
        let goal = row.goal.map_or("–".to_owned(), |goal| {
            let ratio = ms(row.timing.p95) / ms(goal);
            let verdict = if row.timing.p95 < goal {
                "met"
            } else {
                "MISSED"
            };
            format!("<{} ms: {verdict}, {ratio:.2}×", goal.as_millis())
        });
        let mlflow = row.mlflow.map_or("–".to_owned(), |anchor| {
            format!(
                "{}/{} ms: ×{} p50, ×{} p95",
                thousands(anchor.p50),
                thousands(anchor.p95),
                times(anchor.p50 / ms(row.timing.p50)),
                times(anchor.p95 / ms(row.timing.p95))
            )
        });
        println!(
            "{:<92} {:>3} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>19}   {:<28} {}",
            row.label,
            row.timing.samples,
            ms(row.first),
            ms(row.timing.p50),
            ms(row.timing.p95),
            ms(row.handled_p50),
            format!("{} / {}", size(row.wire_bytes), size(row.body_bytes)),
            goal,
            mlflow
        );
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn size(bytes: usize) -> String {
    match bytes {
        _ if bytes >= 1 << 20 => format!("{:.1} MB", bytes as f64 / f64::from(1 << 20)),
        _ if bytes >= 1 << 10 => format!("{:.1} KB", bytes as f64 / f64::from(1 << 10)),
        _ => format!("{bytes} B"),
    }
}

/// A ratio: to a tenth below 10, where the tenth tells, and whole above.
fn times(ratio: f64) -> String {
    if ratio < 10.0 {
        format!("{ratio:.1}")
    } else {
        thousands(ratio)
    }
}

/// `1234567.8` as `1,234,568`.
fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.abs());
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    if value < 0.0 {
        grouped.insert(0, '-');
    }
    grouped
}
