//! Faults survived and told truthfully: a run that fills the data folder's disk fails with a
//! message naming it, no status is lost on the way, the server answers while the disk is full,
//! and runs succeed again once there is room.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use backend::artifacts::Artifacts;
use backend::runtime::{Reported, Reporter};
use backend::store::{
    Link, Mark, MetricsRecord, NewRun, NewToken, PipelineChild, RunFilter, RunMetrics, RunPlace,
    RunScope, Sqlite, StatusCounts, Store, StoreError, StoredRun, Transition, VersionChange,
    VersionKey,
};
use common::{Server, is_done, python_job};
use serde_json::{Value as Json, json};
use shared::api::{
    EdgeBody, LineageArtifact, ListResponse, MetricKind, OperationBody, Project, ProjectBody,
    ProjectVersion, ProjectVersionBody, Run, RunClone, RunEdge, RunLineageArtifact, RunPatch,
    Status, StatusCondition, Token, User,
};

/// A tmpfs of a given size the test mounts, unmounted and removed when dropped.
struct Disk {
    path: PathBuf,
}

impl Disk {
    /// Mounts a tmpfs of `size` (`8m`) at `path`; the error is what `mount` said.
    fn mount(path: PathBuf, size: &str) -> Result<Self, String> {
        std::fs::create_dir_all(&path).map_err(|error| error.to_string())?;
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .output()
            .map_err(|error| format!("cannot run mount: {error}"))?;
        if !mounted.status.success() {
            let _ = std::fs::remove_dir(&path);
            return Err(String::from_utf8_lossy(&mounted.stderr).trim().to_owned());
        }
        Ok(Self { path })
    }

    /// Fills what room is left with a file; its path.
    fn fill(&self) -> PathBuf {
        use std::io::Write as _;
        let filler = self.path.join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while file.write_all(&chunk).is_ok() {}
        // The last pages, which a whole chunk no longer fits in.
        while file.write_all(&chunk[..512]).is_ok() {}
        let _ = file.sync_all();
        filler
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.path)
            .status()
            .is_ok_and(|status| status.success());
        if !unmounted {
            // Something still holds it (a test that failed mid-way): it goes once let go of.
            let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        }
        let _ = std::fs::remove_dir(&self.path);
    }
}

fn submit(server: &Server, polyaxonfile: &str) -> (u16, Json) {
    server.request(
        "POST",
        "/api/v1/default/disk/runs",
        Some(&json!({"content": polyaxonfile})),
    )
}

/// Every line of a run's logs, read page by page as a polling client does.
fn log_values(server: &Server, uuid: &str) -> Vec<String> {
    let mut values = Vec::new();
    let mut last_time: Option<String> = None;
    loop {
        let query = last_time
            .as_deref()
            .map(|time| format!("?last_time={}", time.replace('+', "%2B")))
            .unwrap_or_default();
        let logs = server.get(&format!(
            "/streams/v1/polyaxon/default/disk/runs/{uuid}/logs{query}"
        ));
        let lines = logs["logs"].as_array().unwrap();
        values.extend(
            lines
                .iter()
                .map(|line| line["value"].as_str().unwrap().to_owned()),
        );
        match logs["last_time"].as_str() {
            Some(time) if !lines.is_empty() => last_time = Some(time.to_owned()),
            _ => return values,
        }
    }
}

/// Where each status comes in a run's life.
fn rank(status: &str) -> u8 {
    match status {
        "created" => 0,
        "compiled" => 1,
        "queued" => 2,
        "scheduled" => 3,
        "starting" => 4,
        "running" => 5,
        _ if is_done(status) => 7,
        _ => 6,
    }
}

/// Asserts that a run's statuses are in the order they happen, with times in that order, and
/// end with a final one.
fn assert_history_in_order(run: &Json) {
    let conditions = run["status_conditions"].as_array().unwrap();
    let kinds: Vec<&str> = conditions
        .iter()
        .map(|condition| condition["type"].as_str().unwrap())
        .collect();
    assert!(
        kinds.windows(2).all(|pair| rank(pair[0]) <= rank(pair[1])),
        "statuses out of order: {kinds:?}"
    );
    let times: Vec<&str> = conditions
        .iter()
        .map(|condition| condition["last_transition_time"].as_str().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|pair| pair[0] <= pair[1]),
        "times out of order: {times:?}"
    );
    assert!(
        kinds.last().is_some_and(|kind| is_done(kind)),
        "no final status: {kinds:?}"
    );
}

#[test]
fn a_run_filling_the_disk_fails_naming_it_and_runs_succeed_once_there_is_room() {
    let disk_path =
        std::env::temp_dir().join(format!("myelin-disk-full-disk-{}", std::process::id()));
    let disk = match Disk::mount(disk_path, "8m") {
        Ok(disk) => disk,
        Err(error) => {
            eprintln!(
                "SKIPPED a_run_filling_the_disk_fails_naming_it_and_runs_succeed_once_there_is_room: \
                 cannot mount a tmpfs ({error}); the test needs root, as CI has"
            );
            return;
        }
    };
    let data = disk.path.join("data");
    let server = Server::start_on("disk-full", &[], Some(data.clone()));
    let (status, _) = server.request(
        "POST",
        "/api/v1/default/projects/create",
        Some(&json!({"name": "disk"})),
    );
    assert_eq!(status, 200);

    // 20,000 lines of 1 KB do not fit in 8 MB, logged twice (raw and archived).
    let (status, run) = submit(
        &server,
        &python_job(
            "filler",
            "for i in range(20000):\n    print(f'line {i} ' + 'x' * 1000)",
        ),
    );
    assert_eq!(status, 200, "{run}");
    let uuid = run["uuid"].as_str().unwrap().to_owned();
    // The server answers all along (`run` asserts a 200).
    let deadline = Instant::now() + Duration::from_secs(90);
    let run = loop {
        let run = server.run("disk", &uuid);
        if is_done(run["status"].as_str().unwrap()) {
            break run;
        }
        assert!(Instant::now() < deadline, "the run did not end: {run}");
        server.get("/api/v1/default/disk/runs");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(run["status"], "failed", "{run}");
    assert_history_in_order(&run);
    let last = run["status_conditions"].as_array().unwrap().last().unwrap();
    assert_eq!(last["reason"], "DiskFull", "{run}");
    let message = last["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("the disk holding {}", data.display())),
        "the message names the full folder: {message}"
    );
    // Where the logs stop, as the message says, and nothing missing before.
    let stop: usize = message
        .split("its logs stop at line ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("the message says where the logs stop: {message}"));
    let values = log_values(&server, &uuid);
    let printed: Vec<&String> = values
        .iter()
        .filter(|value| value.starts_with("line "))
        .collect();
    for (i, value) in printed.iter().enumerate() {
        assert!(
            value.starts_with(&format!("line {i} ")),
            "line {i} is {value:.20}"
        );
    }
    let marker = values.iter().filter(|value| value.starts_with("[myelin]"));
    assert!(marker.count() <= 1, "one marker at most");
    if let Some(last) = values.last().filter(|value| value.starts_with("[myelin]")) {
        assert!(last.contains("was not kept"), "{last}");
        assert_eq!(printed.len(), stop, "{message}");
    } else {
        assert!(printed.len() <= stop, "{message}");
    }

    // A run waits for a word from the test while the disk is filled to the last byte.
    let go = server.root.join("go");
    let script = format!(
        "import os, time\nprint('waiting', flush=True)\nwhile not os.path.exists({go:?}):\n    time.sleep(0.05)",
        go = go.display().to_string()
    );
    let (status, run) = submit(&server, &python_job("waiting", &script));
    assert_eq!(status, 200, "{run}");
    let waiting = run["uuid"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    while log_values(&server, &waiting).is_empty() {
        assert!(Instant::now() < deadline, "the waiting run did not print");
        std::thread::sleep(Duration::from_millis(50));
    }
    let filler = disk.fill();

    // The server still answers what it has.
    for _ in 0..5 {
        server.run("disk", &uuid);
        server.get("/api/v1/default/disk/runs");
        server.get(&format!(
            "/streams/v1/polyaxon/default/disk/runs/{uuid}/logs"
        ));
    }
    // A run submitted now is refused with the disk named (507 Insufficient Storage), or taken;
    // if taken, it ends once there is room.
    let (status, taken) = submit(&server, &python_job("while-full", "print('late')"));
    let named = taken["message"].as_str().is_some_and(|message| {
        message.contains(&format!("the disk holding {}", disk.path.display()))
    });
    assert!(
        status == 200 || (status == 507 && named),
        "a run submitted on a full disk: {status} {taken}"
    );
    // The waiting run ends while its status (most likely) cannot be written.
    std::fs::write(&go, "").unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let run = server.run("disk", &waiting);
    assert!(
        ["running", "succeeded"].contains(&run["status"].as_str().unwrap()),
        "{run}"
    );

    // Room again: what waited is recorded, and everything resumes.
    std::fs::remove_file(filler).unwrap();
    let ended = server.wait_for("disk", &waiting, is_done, Duration::from_secs(30));
    let run = server.run("disk", &waiting);
    assert_eq!(ended, "succeeded", "{run}");
    assert_history_in_order(&run);
    assert_eq!(log_values(&server, &waiting), ["waiting"]);
    let (status, run) = submit(&server, &python_job("after", "print('room again')"));
    assert_eq!(status, 200, "{run}");
    let after = run["uuid"].as_str().unwrap().to_owned();
    let ended = server.wait_for("disk", &after, is_done, Duration::from_secs(60));
    assert_eq!(ended, "succeeded", "{}", server.run("disk", &after));
    assert_eq!(log_values(&server, &after), ["room again"]);
    if let Some(late) = taken["uuid"].as_str() {
        server.wait_for("disk", late, is_done, Duration::from_secs(60));
        assert_history_in_order(&server.run("disk", late));
    }
    drop(server);
    drop(disk);
}

/// A store that fails every write of a status while `full` is set, as SQLite on a full disk
/// does ("database or disk is full").
struct Full {
    inner: Arc<dyn Store>,
    full: AtomicBool,
}

#[async_trait]
impl Store for Full {
    async fn create_project(
        &self,
        owner: &str,
        body: ProjectBody,
        user: Option<&str>,
    ) -> Result<Project, StoreError> {
        self.inner.create_project(owner, body, user).await
    }
    async fn project(&self, owner: &str, name: &str) -> Result<Project, StoreError> {
        self.inner.project(owner, name).await
    }
    async fn projects(
        &self,
        owner: &str,
        limit: u32,
        offset: u32,
        viewer: Option<&str>,
    ) -> Result<ListResponse<Project>, StoreError> {
        self.inner.projects(owner, limit, offset, viewer).await
    }
    async fn update_project(
        &self,
        owner: &str,
        name: &str,
        body: ProjectBody,
    ) -> Result<Project, StoreError> {
        self.inner.update_project(owner, name, body).await
    }
    async fn run_uuids(&self, owner: &str, project: &str) -> Result<Vec<String>, StoreError> {
        self.inner.run_uuids(owner, project).await
    }
    async fn delete_project(&self, owner: &str, name: &str) -> Result<(), StoreError> {
        self.inner.delete_project(owner, name).await
    }
    async fn create_run(&self, owner: &str, project: &str, run: NewRun) -> Result<Run, StoreError> {
        self.inner.create_run(owner, project, run).await
    }
    async fn run(&self, owner: &str, project: &str, uuid: &str) -> Result<StoredRun, StoreError> {
        self.inner.run(owner, project, uuid).await
    }
    async fn run_by_uuid(&self, uuid: &str) -> Result<StoredRun, StoreError> {
        self.inner.run_by_uuid(uuid).await
    }
    async fn runs(
        &self,
        scope: &RunScope,
        filter: &RunFilter,
    ) -> Result<ListResponse<Run>, StoreError> {
        self.inner.runs(scope, filter).await
    }
    async fn mark_runs(
        &self,
        owner: &str,
        project: &str,
        uuids: &[String],
        mark: Mark,
    ) -> Result<Vec<Run>, StoreError> {
        self.inner.mark_runs(owner, project, uuids, mark).await
    }
    async fn mark_project(
        &self,
        owner: &str,
        name: &str,
        mark: Mark,
    ) -> Result<Project, StoreError> {
        self.inner.mark_project(owner, name, mark).await
    }
    async fn status_counts(&self, owner: &str, project: &str) -> Result<StatusCounts, StoreError> {
        self.inner.status_counts(owner, project).await
    }
    async fn patch_run(
        &self,
        owner: &str,
        project: &str,
        uuid: &str,
        patch: RunPatch,
    ) -> Result<Run, StoreError> {
        self.inner.patch_run(owner, project, uuid, patch).await
    }
    async fn delete_run(&self, owner: &str, project: &str, uuid: &str) -> Result<(), StoreError> {
        self.inner.delete_run(owner, project, uuid).await
    }
    async fn transfer_run(
        &self,
        owner: &str,
        project: &str,
        uuid: &str,
        to_project: &str,
    ) -> Result<Run, StoreError> {
        self.inner
            .transfer_run(owner, project, uuid, to_project)
            .await
    }
    async fn change_pending(
        &self,
        uuid: &str,
        from: &str,
        to: Option<&str>,
    ) -> Result<bool, StoreError> {
        self.inner.change_pending(uuid, from, to).await
    }
    async fn resume_run(
        &self,
        owner: &str,
        project: &str,
        resuming: StatusCondition,
        run: NewRun,
    ) -> Result<Run, StoreError> {
        self.inner.resume_run(owner, project, resuming, run).await
    }
    async fn add_condition(
        &self,
        uuid: &str,
        condition: StatusCondition,
        force: bool,
    ) -> Result<Transition, StoreError> {
        if self.full.load(Ordering::SeqCst) {
            return Err(StoreError::Database("database or disk is full".to_owned()));
        }
        self.inner.add_condition(uuid, condition, force).await
    }
    async fn add_lineage(
        &self,
        uuid: &str,
        artifacts: Vec<LineageArtifact>,
    ) -> Result<(), StoreError> {
        self.inner.add_lineage(uuid, artifacts).await
    }
    async fn lineage(&self, uuid: &str) -> Result<Vec<LineageArtifact>, StoreError> {
        self.inner.lineage(uuid).await
    }
    async fn delete_lineage(&self, uuid: &str, name: &str) -> Result<bool, StoreError> {
        self.inner.delete_lineage(uuid, name).await
    }
    async fn project_lineage(
        &self,
        owner: &str,
        project: &str,
        limit: u32,
        offset: u32,
    ) -> Result<ListResponse<RunLineageArtifact>, StoreError> {
        self.inner
            .project_lineage(owner, project, limit, offset)
            .await
    }
    async fn set_edges(&self, uuid: &str, edges: Vec<EdgeBody>) -> Result<(), StoreError> {
        self.inner.set_edges(uuid, edges).await
    }
    async fn edges(&self, uuid: &str, link: Link) -> Result<Vec<RunEdge>, StoreError> {
        self.inner.edges(uuid, link).await
    }
    async fn clones(&self, uuid: &str) -> Result<Vec<RunClone>, StoreError> {
        self.inner.clones(uuid).await
    }
    async fn create_version(
        &self,
        key: &VersionKey,
        body: ProjectVersionBody,
        state: Option<String>,
    ) -> Result<ProjectVersion, StoreError> {
        self.inner.create_version(key, body, state).await
    }
    async fn version(&self, key: &VersionKey) -> Result<ProjectVersion, StoreError> {
        self.inner.version(key).await
    }
    async fn versions(
        &self,
        owner: &str,
        project: &str,
        kind: &str,
        limit: u32,
        offset: u32,
    ) -> Result<ListResponse<ProjectVersion>, StoreError> {
        self.inner
            .versions(owner, project, kind, limit, offset)
            .await
    }
    async fn change_version(
        &self,
        key: &VersionKey,
        change: VersionChange,
    ) -> Result<ProjectVersion, StoreError> {
        self.inner.change_version(key, change).await
    }
    async fn delete_version(&self, key: &VersionKey) -> Result<(), StoreError> {
        self.inner.delete_version(key).await
    }
    async fn add_user(&self, name: &str, admin: bool) -> Result<User, StoreError> {
        self.inner.add_user(name, admin).await
    }
    async fn users(&self) -> Result<Vec<User>, StoreError> {
        self.inner.users().await
    }
    async fn has_users(&self) -> Result<bool, StoreError> {
        self.inner.has_users().await
    }
    async fn add_token(&self, user: &str, token: NewToken) -> Result<Token, StoreError> {
        self.inner.add_token(user, token).await
    }
    async fn tokens(&self, user: &str) -> Result<Vec<Token>, StoreError> {
        self.inner.tokens(user).await
    }
    async fn revoke_token(&self, user: &str, uuid: &str) -> Result<Token, StoreError> {
        self.inner.revoke_token(user, uuid).await
    }
    async fn token_by_hash(&self, hash: &str) -> Result<Option<(User, Token)>, StoreError> {
        self.inner.token_by_hash(hash).await
    }
    async fn component_versions(
        &self,
        viewer: Option<&str>,
    ) -> Result<Vec<ProjectVersion>, StoreError> {
        self.inner.component_versions(viewer).await
    }
    async fn unfinished_runs(&self) -> Result<Vec<String>, StoreError> {
        self.inner.unfinished_runs().await
    }
    async fn cached_run(
        &self,
        owner: &str,
        project: &str,
        key: &str,
        since: Option<shared::time::Timestamp>,
    ) -> Result<Option<Run>, StoreError> {
        self.inner.cached_run(owner, project, key, since).await
    }
    async fn active_pipelines(&self) -> Result<Vec<String>, StoreError> {
        self.inner.active_pipelines().await
    }
    async fn pipeline_children(&self, uuid: &str) -> Result<Vec<PipelineChild>, StoreError> {
        self.inner.pipeline_children(uuid).await
    }
    async fn record_metrics(
        &self,
        records: Vec<MetricsRecord>,
    ) -> Result<Vec<RunPlace>, StoreError> {
        self.inner.record_metrics(records).await
    }
    async fn metric_summaries(
        &self,
        uuids: &[String],
        kind: MetricKind,
    ) -> Result<std::collections::BTreeMap<String, RunMetrics>, StoreError> {
        self.inner.metric_summaries(uuids, kind).await
    }
    async fn run_places(&self, uuids: &[String]) -> Result<Vec<RunPlace>, StoreError> {
        self.inner.run_places(uuids).await
    }
}

async fn new_run(store: &dyn Store, uuid: &str) {
    let now = backend::clock::now();
    store
        .create_run(
            "default",
            "reporter",
            NewRun {
                uuid: uuid.to_owned(),
                body: OperationBody::default(),
                name: Some(uuid.to_owned()),
                kind: "job".to_owned(),
                runtime: "job".to_owned(),
                executor: "process".to_owned(),
                inputs: None,
                compiled: None,
                resource: None,
                conditions: vec![StatusCondition::new(Status::Created, "Test", "", now)],
                created_at: now,
                cloned_from: None,
                pipeline: None,
                cache_key: None,
                user: None,
            },
        )
        .await
        .unwrap();
}

async fn statuses(store: &dyn Store, uuid: &str) -> Vec<Status> {
    let run = store.run_by_uuid(uuid).await.unwrap().run;
    run.status_conditions.iter().map(|c| c.kind).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_the_store_cannot_take_wait_in_order_and_are_written_once_it_can() {
    let root = std::env::temp_dir().join(format!("myelin-kept-statuses-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let sqlite: Arc<dyn Store> =
        Arc::new(Sqlite::open(&root.join("myelin.db"), "polyaxon", None).unwrap());
    sqlite
        .create_project(
            "default",
            ProjectBody {
                name: Some("reporter".to_owned()),
                ..ProjectBody::default()
            },
            None,
        )
        .await
        .unwrap();
    let store = Arc::new(Full {
        inner: Arc::clone(&sqlite),
        full: AtomicBool::new(false),
    });
    let reporter = Reporter::new(store.clone(), Artifacts::new(root.join("artifacts")));
    let (first, second) = ("run-kept-first", "run-kept-second");
    new_run(sqlite.as_ref(), first).await;
    new_run(sqlite.as_ref(), second).await;

    let written = reporter
        .status(first, Status::Queued, "Test", "before the disk fills")
        .await;
    assert_eq!(
        written,
        Reported::Written(Transition::Recorded(Status::Queued))
    );
    store.full.store(true, Ordering::SeqCst);
    let life = [
        Status::Scheduled,
        Status::Starting,
        Status::Running,
        Status::Failed,
    ];
    for status in life {
        let reported = reporter.status(first, status, "Test", "").await;
        assert_eq!(reported, Reported::Kept, "{status:?}");
    }
    assert_eq!(
        reporter.status(second, Status::Queued, "Test", "").await,
        Reported::Kept
    );
    // Nothing written yet, and the server's other work goes on.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        statuses(sqlite.as_ref(), first).await,
        [Status::Created, Status::Queued]
    );

    // Room again: what waited is written, in order, and a status reported meanwhile comes after.
    store.full.store(false, Ordering::SeqCst);
    let late = reporter.status(second, Status::Scheduled, "Test", "").await;
    assert_ne!(late, Reported::Gone);
    tokio::time::timeout(Duration::from_secs(15), async {
        reporter.recorded(first).await;
        reporter.recorded(second).await;
    })
    .await
    .expect("kept statuses are written once the store takes them");
    assert_eq!(
        statuses(sqlite.as_ref(), first).await,
        [
            Status::Created,
            Status::Queued,
            Status::Scheduled,
            Status::Starting,
            Status::Running,
            Status::Failed
        ]
    );
    assert_eq!(
        statuses(sqlite.as_ref(), second).await,
        [Status::Created, Status::Queued, Status::Scheduled]
    );
    let times: Vec<_> = sqlite
        .run_by_uuid(first)
        .await
        .unwrap()
        .run
        .status_conditions
        .iter()
        .map(|c| c.last_transition_time)
        .collect();
    assert!(times.windows(2).all(|pair| pair[0] <= pair[1]), "{times:?}");
    let _ = std::fs::remove_dir_all(&root);
}
