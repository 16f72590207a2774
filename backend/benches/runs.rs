//! Run with `cargo bench -p backend --bench runs` (`cargo xtask bench` runs it too).
//!
//! The run list at scale: 100,000 runs in one project, seeded through the `Store` trait, then
//! p50/p95/p99 of list queries (`status:running`, `-created_at`, `inputs.lr:>0.01`, and the
//! "best runs by loss" leaderboard) and of submitting a run, each through the whole HTTP router
//! in-process (routing, store, JSON and gzip; no socket). Every response is checked (status,
//! `count`, first row) against what the seed implies, so an error cannot be timed as a success.
//! Haupt's numbers for the same requests on the same data shape (its runs drawn from the same
//! sequence as ours) are printed beside ours, with the size of its database: haupt 2.18.0
//! measured on this machine in the same `cargo xtask bench` by `xtask/bench/haupt_bench.py`, its
//! JSON in the file `MYELIN_BENCH_HAUPT` names; run alone, the bench says haupt was not measured.
//! A list query whose p95 misses the 20 ms goal gets its SQL timed and its query plan
//! printed.
//!
//! It takes about four minutes on two cores, most of it seeding, and needs about 1 GB in the
//! temp folder, removed at the end.

mod support;

use std::io::Read as _;
use std::path::Path;
use std::time::{Duration, Instant};
use support::{Anchor, HAUPT_NOT_MEASURED, Haupt, JOB, TempDir, Timing};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use backend::store::{NewRun, pql, sqlite_query};
use http_body_util::BodyExt as _;
use rusqlite::types::Value as SqlValue;
use serde_json::{Map, Value as Json, json};
use shared::api::{OperationBody, RunPatch, Status, StatusCondition};
use tower::ServiceExt as _;

/// The `myelin` binary's allocator, so the bench times what the server does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const OWNER: &str = "default";
const PROJECT: &str = "scale";
const RUNS: usize = 100_000;
/// Timed calls per request, after [`WARM_UP`] untimed ones.
const SAMPLES: usize = 200;
const WARM_UP: usize = 5;
/// A slow request stops early after this long, once it has [`MIN_SAMPLES`] (haupt's N).
const BUDGET: Duration = Duration::from_secs(20);
const MIN_SAMPLES: usize = 30;
/// The goal for a list request's p95.
const GOAL: Duration = Duration::from_millis(20);
/// The page size every list request asks for (`limit=20`).
const PAGE: u64 = 20;
const MICROS_PER_MINUTE: i64 = 60 * 1_000_000;

/// What a list request must answer: how many runs match, and which comes first.
#[derive(Default)]
struct Expected {
    count: u64,
    first: String,
}

impl Expected {
    /// Counts a run that matches; `leads` says whether it now comes first in the order.
    fn add(&mut self, uuid: &str, leads: bool) {
        self.count += 1;
        if leads {
            self.first = uuid.to_owned();
        }
    }
}

/// What the seed put in the project, by the list requests that read it.
#[derive(Default)]
struct Seeded {
    all: Expected,
    running: Expected,
    lr_above: Expected,
    best_succeeded: Expected,
    /// Time spent in `create_run`, and in `patch_run` for the outputs.
    creating: Duration,
    patching: Duration,
}

struct ListCase {
    params: &'static [(&'static str, &'static str)],
    expected: Expected,
    /// The request's key in haupt's timings (`haupt_bench.py`'s `LISTS`), if haupt times it.
    haupt: Option<&'static str>,
}

/// xorshift64*: the same runs on every machine, without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
}

fn main() {
    let root = TempDir::new("runs");
    // Declared after `root`, so it shuts down (and its tasks with it) before the folder goes.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts");
    runtime.block_on(bench(&root.0));
}

async fn bench(root: &Path) {
    let data = root.join("data");
    let state = backend::AppState::open(
        backend::Config::local(&data, root.join("web")),
        "http://127.0.0.1:9",
    )
    .await
    .expect("the state opens in a fresh folder");
    let router = backend::app(state.clone());
    let haupt = Haupt::measured();

    let (status, _) = send(
        &router,
        Request::post(format!("/api/v1/{OWNER}/projects/create"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(json!({"name": PROJECT}).to_string()))
            .expect("a valid request"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "creating project `{PROJECT}`");

    let started = Instant::now();
    let seeded = seed(&state).await;
    let seeding = started.elapsed();
    let database = data.join("myelin.db");
    let size = std::fs::metadata(&database).map_or(0, |meta| meta.len())
        + std::fs::metadata(data.join("myelin.db-wal")).map_or(0, |meta| meta.len());
    println!(
        "seeded {RUNS} runs in {:.1} s ({:.0} runs/s): {:.1} s in Store::create_run, \
         {:.1} s in Store::patch_run for the outputs; database {:.0} MB, {:.0} bytes a run \
         (haupt's SQLite file: {})\n",
        seeding.as_secs_f64(),
        RUNS as f64 / seeding.as_secs_f64(),
        seeded.creating.as_secs_f64(),
        seeded.patching.as_secs_f64(),
        size as f64 / 1e6,
        size as f64 / RUNS as f64,
        haupt
            .as_ref()
            .map_or("not measured".to_owned(), |haupt| format!(
                "{:.0} bytes a run",
                haupt.db_bytes_per_run
            ))
    );

    let cases = list_cases(seeded);
    println!(
        "{:<64} {:>7} {:>4} {:>4} {:>7} {:>7} {:>7}   {:>15} {:>7} {:>6}   {:>15} {:>7} {:>6}",
        "request (in-process, gzip)",
        "count",
        "rows",
        "n",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "haupt p50/p95",
        "count",
        "×p95",
        "haupt all rows",
        "count",
        "×p95"
    );
    let mut slow = Vec::new();
    for case in &cases {
        let (timing, rows) = time_list(&router, case).await;
        let [same_url, all_rows] = [false, true].map(|all_rows| {
            let list = haupt.as_ref().zip(case.haupt);
            let list = list.map(|(haupt, key)| haupt.list(key, all_rows));
            compared(
                list.map(|list| list.timing),
                list.map(|list| list.count),
                &timing,
            )
        });
        println!(
            "{:<64} {:>7} {:>4} {:>4} {:>7.2} {:>7.2} {:>7.2}   {} {}",
            format!("GET …/runs?{}", shown(case.params)),
            case.expected.count,
            rows,
            timing.samples,
            ms(timing.p50),
            ms(timing.p95),
            ms(timing.p99),
            same_url,
            all_rows,
        );
        if timing.p95 > GOAL {
            slow.push(case);
        }
    }

    let (timing, submitted) = time_submit(&router).await;
    println!(
        "{:<64} {:>7} {:>4} {:>4} {:>7.2} {:>7.2} {:>7.2}   {}",
        format!("POST …/runs (job `true`, one input, {SAMPLES} runs)"),
        "",
        "",
        timing.samples,
        ms(timing.p50),
        ms(timing.p95),
        ms(timing.p99),
        compared(haupt.as_ref().map(|haupt| haupt.create), None, &timing),
    );
    match &haupt {
        Some(haupt) => println!(
            "\n×p95 is haupt's p95 over ours: haupt 2.18.0 measured on this machine in this run \
             (xtask/bench/haupt_bench.py, one client, 30 calls), its runs seeded as ours. Its \
             same-URL lists count only the last month\n({} rows of the plain list; its default \
             filter), its all-rows ones add `created_at:_any_`; Myelin always counts all {RUNS}.",
            haupt.list("newest", false).count
        ),
        None => println!("\n{HAUPT_NOT_MEASURED}."),
    }
    wait_until_done(&state, &submitted).await;

    if slow.is_empty() {
        println!(
            "\nevery list request has p95 under the {} ms goal",
            GOAL.as_millis()
        );
    }
    for case in slow {
        explain(&database, case);
    }
}

/// The seeded dataset, shaped like haupt's (peer-anchors.md): created one minute apart up to now,
/// 70% succeeded, 12% failed, 5% stopped, 5% running, 5% queued, 3% created; `lr` log-uniform
/// over [1e-4, 10^-0.5]; a `loss` output on every finished run. Every row carries the compiled
/// operation and resource of a real submission, as rows made through the API do.
async fn seed(state: &backend::AppState) -> Seeded {
    let project = state
        .store
        .project(OWNER, PROJECT)
        .await
        .expect("the project exists");
    let template = backend::submit::prepare(
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
    .run;

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut seeded = Seeded::default();
    let mut best_loss = f64::INFINITY;
    let first_created = backend::clock::now().plus_micros(-(RUNS as i64) * MICROS_PER_MINUTE);
    for index in 0..RUNS {
        let created_at = first_created.plus_micros(index as i64 * MICROS_PER_MINUTE);
        let draw = rng.unit();
        let status = match draw {
            _ if draw < 0.70 => Status::Succeeded,
            _ if draw < 0.82 => Status::Failed,
            _ if draw < 0.87 => Status::Stopped,
            _ if draw < 0.92 => Status::Running,
            _ if draw < 0.97 => Status::Queued,
            _ => Status::Created,
        };
        let lr = 10f64.powf(-4.0 + 3.5 * rng.unit());
        let inputs = Map::from_iter([
            ("lr".to_owned(), json!(lr)),
            ("batch_size".to_owned(), json!(rng.pick(&[16, 32, 64, 128]))),
            ("optimizer".to_owned(), json!(rng.pick(&["adam", "sgd"]))),
        ]);
        let group = rng.pick(&["baseline", "sweep", "ablation"]);
        let after = |seconds: f64| created_at.plus_micros((seconds * 1e6) as i64);
        let duration = 30.0 + 1_800.0 * rng.unit();
        let mut conditions = vec![StatusCondition::new(
            Status::Created,
            "Bench",
            "Run is created",
            created_at,
        )];
        // Each run's later conditions, in lifecycle order; create_run applies them all in the
        // run's one transaction, which is much cheaper than an add_condition call each.
        let steps: &[(Status, f64)] = match status {
            Status::Created => &[],
            Status::Queued => &[(Status::Compiled, 0.0), (Status::Queued, 1.0)],
            Status::Running => &[
                (Status::Compiled, 0.0),
                (Status::Queued, 1.0),
                (Status::Running, 5.0),
            ],
            done => &[
                (Status::Compiled, 0.0),
                (Status::Queued, 1.0),
                (Status::Running, 5.0),
                (done, 5.0 + duration),
            ],
        };
        conditions.extend(steps.iter().map(|&(kind, seconds)| {
            StatusCondition::new(kind, "Bench", format!("{kind:?}"), after(seconds))
        }));
        let uuid = backend::clock::new_uuid();
        let run = NewRun {
            uuid: uuid.clone(),
            body: OperationBody {
                tags: Some(vec![PROJECT.to_owned(), (*group).to_owned()]),
                ..template.body.clone()
            },
            name: Some(format!("bulk-{index}")),
            kind: "job".to_owned(),
            runtime: "job".to_owned(),
            executor: "process".to_owned(),
            inputs: Some(inputs),
            conditions,
            created_at,
            // The compiled operation and resource, as every run made through the API has.
            ..template.clone()
        };
        let timer = Instant::now();
        state
            .store
            .create_run(OWNER, PROJECT, run)
            .await
            .expect("a seeded run is stored");
        seeded.creating += timer.elapsed();
        if status.is_done() {
            let loss = 0.05 + 0.3 * (lr.log10() + 2.5).abs() + 0.2 * rng.unit();
            let patch = RunPatch {
                outputs: Some(Map::from_iter([("loss".to_owned(), json!(loss))])),
                ..RunPatch::default()
            };
            let timer = Instant::now();
            state
                .store
                .patch_run(OWNER, PROJECT, &uuid, patch)
                .await
                .expect("a seeded run's outputs are stored");
            seeded.patching += timer.elapsed();
            // Ties keep the older run first, as the store's `runs.id` tie-breaker does.
            if status == Status::Succeeded {
                seeded.best_succeeded.add(&uuid, loss < best_loss);
                best_loss = best_loss.min(loss);
            }
        }
        // Runs are seeded oldest first, so under `-created_at` the latest match leads.
        seeded.all.add(&uuid, true);
        if status == Status::Running {
            seeded.running.add(&uuid, true);
        }
        if lr > 0.01 {
            seeded.lr_above.add(&uuid, true);
        }
    }
    seeded
}

fn list_cases(seeded: Seeded) -> Vec<ListCase> {
    vec![
        ListCase {
            params: &[("limit", "20"), ("sort", "-created_at")],
            expected: seeded.all,
            haupt: Some("newest"),
        },
        ListCase {
            params: &[
                ("query", "status:running"),
                ("sort", "-created_at"),
                ("limit", "20"),
            ],
            expected: seeded.running,
            haupt: Some("running"),
        },
        ListCase {
            params: &[
                ("query", "inputs.lr:>0.01"),
                ("sort", "-created_at"),
                ("limit", "20"),
            ],
            expected: seeded.lr_above,
            haupt: Some("lr_above"),
        },
        // The leaderboard a sweep ends with: the sort reads a run value, not a runs column.
        ListCase {
            params: &[
                ("query", "status:succeeded"),
                ("sort", "outputs.loss"),
                ("limit", "20"),
            ],
            expected: seeded.best_succeeded,
            haupt: None,
        },
    ]
}

/// The params as a reader writes them, unescaped.
fn shown(params: &[(&str, &str)]) -> String {
    let pairs: Vec<String> = params
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    pairs.join("&")
}

fn query_string(params: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(params).expect("the params encode")
}

/// Times one list request and checks every answer; returns the timing and the page's length.
async fn time_list(router: &Router, case: &ListCase) -> (Timing, usize) {
    let uri = format!(
        "/api/v1/{OWNER}/{PROJECT}/runs?{}",
        query_string(case.params)
    );
    let mut times = Vec::new();
    let mut rows = 0;
    let started = Instant::now();
    let mut calls = 0;
    while times.len() < SAMPLES && (times.len() < MIN_SAMPLES || started.elapsed() < BUDGET) {
        let request = Request::get(&uri)
            .header(header::ACCEPT_ENCODING, "gzip")
            .body(Body::empty())
            .expect("a valid request");
        let timer = Instant::now();
        let (status, body) = send(router, request).await;
        let took = timer.elapsed();
        assert_eq!(
            status,
            StatusCode::OK,
            "{uri}: {}",
            String::from_utf8_lossy(&body)
        );
        let page: Json = serde_json::from_slice(&body).expect("a list answers JSON");
        assert_eq!(
            page["count"].as_u64(),
            Some(case.expected.count),
            "{uri}: count"
        );
        let results = page["results"].as_array().expect("a list has results");
        rows = results.len();
        assert_eq!(rows as u64, case.expected.count.min(PAGE), "{uri}: rows");
        assert_eq!(
            results.first().and_then(|run| run["uuid"].as_str()),
            Some(case.expected.first.as_str()),
            "{uri}: first row"
        );
        calls += 1;
        if calls > WARM_UP {
            times.push(took);
        }
    }
    (Timing::of(times), rows)
}

/// Times submitting the bench's job, and returns the new runs' uuids.
async fn time_submit(router: &Router) -> (Timing, Vec<String>) {
    let body = json!({"content": JOB}).to_string();
    let mut times = Vec::new();
    let mut uuids = Vec::new();
    for call in 0..WARM_UP + SAMPLES {
        let request = Request::post(format!("/api/v1/{OWNER}/{PROJECT}/runs"))
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT_ENCODING, "gzip")
            .body(Body::from(body.clone()))
            .expect("a valid request");
        let timer = Instant::now();
        let (status, answer) = send(router, request).await;
        let took = timer.elapsed();
        assert_eq!(
            status,
            StatusCode::OK,
            "submit: {}",
            String::from_utf8_lossy(&answer)
        );
        let run: Json = serde_json::from_slice(&answer).expect("a submit answers JSON");
        assert_eq!(
            run["inputs"]["lr"],
            json!(0.05),
            "submit: the param reaches the run"
        );
        uuids.push(
            run["uuid"]
                .as_str()
                .expect("a submitted run has a uuid")
                .to_owned(),
        );
        if call >= WARM_UP {
            times.push(took);
        }
    }
    (Timing::of(times), uuids)
}

/// Sends one request and reads its whole body, gunzipped when the server compressed it: the
/// reading is part of what a client waits for, the unzipping is the client's own work.
async fn send(router: &Router, request: Request<Body>) -> (StatusCode, Vec<u8>) {
    let response = router
        .clone()
        .oneshot(request)
        .await
        .expect("the router answers every request");
    let status = response.status();
    let gzipped = response
        .headers()
        .get(header::CONTENT_ENCODING)
        .is_some_and(|encoding| encoding == "gzip");
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("the body reads")
        .to_bytes();
    if !gzipped {
        return (status, bytes.to_vec());
    }
    let mut body = Vec::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_end(&mut body)
        .expect("the gzipped body unzips");
    (status, body)
}

/// Waits for the submitted runs' processes to end, so that none outlives the bench, and checks
/// that they succeeded: a runtime that broke would otherwise go unnoticed behind fast submits.
async fn wait_until_done(state: &backend::AppState, uuids: &[String]) {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(120);
    for uuid in uuids {
        loop {
            let run = state
                .store
                .run_by_uuid(uuid)
                .await
                .expect("a submitted run is stored")
                .run;
            let status = run.status;
            if status.is_done() {
                let last = run.status_conditions.last();
                assert_eq!(
                    status,
                    Status::Succeeded,
                    "submitted run {uuid}: {:?}",
                    last.and_then(|condition| condition.message.as_deref())
                );
                break;
            }
            assert!(
                Instant::now() < deadline,
                "submitted run {uuid} is still {status:?} after 120 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    println!(
        "all {} submitted runs succeeded; the last ended {:.1} s after the submits",
        uuids.len(),
        started.elapsed().as_secs_f64()
    );
}

/// Why a list request misses the goal: the two statements `Sqlite::runs` makes of it (the count,
/// then the page), each timed and with SQLite's plan. The statements are rebuilt here with the
/// store's own PQL writer, in the store's shape; the page selects `runs.*` for the store's list
/// of columns, which reads the same table rows.
fn explain(database: &Path, case: &ListCase) {
    let connection = rusqlite::Connection::open(database).expect("the bench's database opens");
    let project_id: i64 = connection
        .query_row(
            "SELECT id FROM projects WHERE owner = ?1 AND name = ?2",
            [OWNER, PROJECT],
            |row| row.get(0),
        )
        .expect("the project is stored");
    let param = |name: &str| {
        case.params
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| *value)
    };
    let mut condition = "runs.project_id = ?".to_owned();
    let mut values = vec![SqlValue::Integer(project_id)];
    if let Some(text) = param("query") {
        let query = pql::parse(text).expect("the bench's query parses");
        let (sql, query_values) = sqlite_query::to_sql(
            &query,
            backend::clock::now(),
            sqlite_query::Membership::List,
        );
        condition.push_str(&format!(" AND ({sql})"));
        values.extend(query_values);
    }
    let sorts = param("sort")
        .map(|text| pql::parse_sort(text).expect("the bench's sort parses"))
        .unwrap_or_default();
    let (order, order_values) = sqlite_query::order_by(&sorts);
    let count = format!("SELECT count(*) FROM runs WHERE {condition}");
    let page = format!(
        "SELECT runs.*, projects.owner, projects.name FROM runs \
         JOIN projects ON projects.id = runs.project_id \
         WHERE {condition} ORDER BY {order} LIMIT {PAGE} OFFSET 0"
    );
    let page_values: Vec<SqlValue> = values.iter().cloned().chain(order_values).collect();
    println!(
        "\n`{}` misses the {} ms goal; its statements:",
        shown(case.params),
        GOAL.as_millis()
    );
    for (what, sql, values) in [("count", &count, &values), ("page", &page, &page_values)] {
        let mut statement = connection.prepare(sql).expect("the statement prepares");
        let mut times: Vec<Duration> = (0..11)
            .map(|_| {
                let timer = Instant::now();
                let mut rows = statement
                    .query(rusqlite::params_from_iter(values.iter()))
                    .expect("the statement runs");
                while rows.next().expect("a row reads").is_some() {}
                timer.elapsed()
            })
            .collect();
        times.sort();
        println!(
            "  {what}: median {:.2} ms\n    {sql}",
            ms(times[times.len() / 2])
        );
        let mut plan = connection
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .expect("the plan prepares");
        let steps = plan
            .query_map(rusqlite::params_from_iter(values.iter()), |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, String>(3)?,
                ))
            })
            .expect("the plan runs")
            .collect::<rusqlite::Result<Vec<_>>>()
            .expect("the plan reads");
        // Indent each step under its parent, as the sqlite3 shell's `.eqp` does.
        let mut depth = std::collections::HashMap::from([(0, 0)]);
        for (id, parent, detail) in steps {
            let level = depth.get(&parent).copied().unwrap_or(0) + 1;
            depth.insert(id, level);
            println!("    {}{detail}", "  ".repeat(level));
        }
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// Haupt's p50/p95, the runs it counted and how many times ours fits in its p95; blanks when
/// haupt was not timed on the request.
fn compared(haupt: Option<Anchor>, count: Option<u64>, ours: &Timing) -> String {
    match haupt {
        Some(haupt) => format!(
            "{:>15} {:>7} {:>5.0}×",
            format!("{:.0}/{:.0} ms", haupt.p50, haupt.p95),
            count.map_or(String::new(), |count| count.to_string()),
            haupt.p95 / ms(ours.p95)
        ),
        None => format!("{:>15} {:>7} {:>6}", "–", "", ""),
    }
}
