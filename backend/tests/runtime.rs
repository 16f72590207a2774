//! How a runtime must behave, written against the `Runtime` trait so that every runtime runs
//! the same checks: statuses in order to success and to failure, logs in order, stop, timeout,
//! retries, exec and exec on a terminal run against both the process runtime and the
//! Kubernetes runtime (talking HTTP to a fake API server whose kubelet runs pods as local
//! processes). What only one runtime
//! has (the process runtime's queue and init steps, the Kubernetes runtime's reattaching to a
//! run still in the cluster) is checked on that one.

use std::sync::Arc;
use std::time::Duration;

use backend::artifacts::{Artifacts, Captured};
use backend::runtime::kubernetes::{FINALIZER, KubernetesRuntime, KubernetesTarget};
use backend::runtime::process::{ProcessConfig, ProcessRuntime};
use backend::runtime::{
    ExecSession, ExecTarget, Execution, Reporter, Runtime, StopCause, TerminalSize,
};
use backend::store::{Sqlite, Store};
use backend::submit::{Submission, prepare};
use shared::api::{OperationBody, Project, ProjectBody, Status};

use fake_kube::FakeCluster;
use terminal::read_until;

mod fake_kube;
mod role;
mod terminal;

/// Which runtime a bench runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Process,
    Kubernetes,
    /// The Kubernetes runtime over a `tower-test` mock: the test answers each request itself.
    Scripted,
}

/// The test's end of a scripted API server.
type ApiHandle = tower_test::mock::Handle<
    axum::http::Request<kube::client::Body>,
    axum::http::Response<kube::client::Body>,
>;

/// A store, an artifacts folder and a runtime over them, in a folder removed when dropped.
struct Bench {
    root: std::path::PathBuf,
    store: Arc<dyn Store>,
    artifacts: Artifacts,
    runtime: Arc<dyn Runtime>,
    project: Project,
    /// The API server the Kubernetes runtime talks to.
    cluster: Option<FakeCluster>,
    /// The scripted API server's requests, to answer.
    api: std::sync::Mutex<Option<ApiHandle>>,
}

/// The namespace runs go to.
const NAMESPACE: &str = "polyaxon";

impl Drop for Bench {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn process_runtime(
    root: &std::path::Path,
    store: &Arc<dyn Store>,
    max_concurrent: usize,
) -> Arc<dyn Runtime> {
    let artifacts = Artifacts::new(root.join("artifacts"));
    Arc::new(ProcessRuntime::new(
        ProcessConfig {
            runs_root: root.join("runs"),
            artifacts_root: root.join("artifacts"),
            store_mount: Some("/artifacts-store".to_owned()),
            state_dir: root.join("state"),
            max_concurrent,
            token: None,
            stop_grace: Duration::from_secs(2),
            retry_backoff: Duration::from_millis(100),
            node: "test-node".to_owned(),
        },
        Reporter::new(Arc::clone(store), artifacts),
    ))
}

fn kubernetes_runtime(
    target: KubernetesTarget,
    root: &std::path::Path,
    store: &Arc<dyn Store>,
) -> Arc<dyn Runtime> {
    let artifacts = Artifacts::new(root.join("artifacts"));
    Arc::new(KubernetesRuntime::new(
        target,
        Reporter::new(Arc::clone(store), artifacts),
    ))
}

/// Runs in [`NAMESPACE`] of the fake cluster, through clients made as `myelin serve` makes them.
fn on(cluster: &FakeCluster) -> KubernetesTarget {
    KubernetesTarget::from_config(cluster.config(), NAMESPACE).unwrap()
}

impl Bench {
    async fn new(name: &str, kind: Kind, max_concurrent: usize) -> Self {
        let root = std::env::temp_dir().join(format!(
            "myelin-runtime-{name}-{kind:?}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let store: Arc<dyn Store> =
            Arc::new(Sqlite::open(&root.join("myelin.db"), "polyaxon", None).unwrap());
        let project = store
            .create_project(
                "default",
                ProjectBody {
                    name: Some("behaviour".to_owned()),
                    ..ProjectBody::default()
                },
                None,
            )
            .await
            .unwrap();
        let (mut cluster, mut api) = (None, None);
        let runtime = match kind {
            Kind::Process => process_runtime(&root, &store, max_concurrent),
            Kind::Kubernetes => {
                let fake = FakeCluster::start(&root).await;
                let runtime = kubernetes_runtime(on(&fake), &root, &store);
                cluster = Some(fake);
                runtime
            }
            Kind::Scripted => {
                let (service, handle) = tower_test::mock::pair();
                api = Some(handle);
                let client = kube::Client::new(service, NAMESPACE);
                kubernetes_runtime(KubernetesTarget::new(client, NAMESPACE), &root, &store)
            }
        };
        Self {
            artifacts: Artifacts::new(root.join("artifacts")),
            root,
            store,
            runtime,
            project,
            cluster,
            api: std::sync::Mutex::new(api),
        }
    }

    /// Stores a run of `polyaxonfile` and returns what the runtime is given for it.
    async fn create(&self, polyaxonfile: &str) -> Execution {
        let prepared = prepare(
            Submission {
                project: &self.project,
                body: OperationBody {
                    content: Some(polyaxonfile.to_owned()),
                    ..OperationBody::default()
                },
                uuid: backend::clock::new_uuid(),
                now: backend::clock::now(),
                api_host: "http://127.0.0.1:9",
                agent: &shared::Agent {
                    namespace: NAMESPACE.to_owned(),
                    ..shared::Agent::default()
                },
                hub: shared::hub::Catalog::bundled(),
            },
            self.runtime.as_ref(),
        )
        .unwrap();
        self.store
            .create_run("default", "behaviour", prepared.run)
            .await
            .unwrap();
        prepared.execution.unwrap()
    }

    async fn submit(&self, polyaxonfile: &str) -> String {
        let execution = self.create(polyaxonfile).await;
        let uuid = execution.uuid.clone();
        self.runtime.submit(execution).await.unwrap();
        uuid
    }

    async fn status(&self, uuid: &str) -> Status {
        self.store.run_by_uuid(uuid).await.unwrap().run.status
    }

    /// Waits for the run to reach `wanted`, failing the test after `within`.
    async fn wait_for(
        &self,
        uuid: &str,
        wanted: impl Fn(Status) -> bool,
        within: Duration,
    ) -> Status {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let status = self.status(uuid).await;
            if wanted(status) {
                return status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "run {uuid} is still {status:?} after {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Records that a run went through `statuses`, as a server that stopped would have.
    async fn passed(&self, uuid: &str, statuses: &[Status]) {
        for status in statuses {
            let condition =
                shared::api::StatusCondition::new(*status, "Test", "", backend::clock::now());
            self.store
                .add_condition(uuid, condition, false)
                .await
                .unwrap();
        }
    }

    /// Waits for the run to end; its final status.
    async fn ended(&self, uuid: &str) -> Status {
        self.wait_for(uuid, Status::is_done, Duration::from_secs(30))
            .await
    }

    async fn conditions(&self, uuid: &str) -> Vec<(Status, String, String)> {
        self.store
            .run_by_uuid(uuid)
            .await
            .unwrap()
            .run
            .status_conditions
            .into_iter()
            .map(|c| {
                (
                    c.kind,
                    c.reason.unwrap_or_default(),
                    c.message.unwrap_or_default(),
                )
            })
            .collect()
    }

    /// The statuses a run went through, in order.
    async fn statuses(&self, uuid: &str) -> Vec<Status> {
        self.conditions(uuid)
            .await
            .into_iter()
            .map(|c| c.0)
            .collect()
    }

    async fn log_values(&self, uuid: &str) -> Vec<String> {
        self.artifacts
            .read_logs(uuid, None)
            .await
            .unwrap()
            .into_iter()
            .map(|line| line.value)
            .collect()
    }
}

fn job(command: &str) -> String {
    format!(
        "kind: component\nname: behaviour\nrun:\n  kind: job\n  container:\n    image: python:3.11\n    command: [sh, -c]\n    args: [{}]\n",
        serde_json::to_string(command).unwrap()
    )
}

async fn a_job_runs_to_success_with_every_status_in_order_and_its_logs(kind: Kind) {
    let bench = Bench::new("success", kind, 2).await;
    let uuid = bench
        .submit(&job(
            "for i in 1 2 3; do echo line $i; done; echo to-stderr >&2",
        ))
        .await;
    let status = bench.ended(&uuid).await;
    assert_eq!(status, Status::Succeeded);
    let kinds = bench.statuses(&uuid).await;
    assert_eq!(
        kinds,
        [
            Status::Created,
            Status::Compiled,
            Status::Queued,
            Status::Scheduled,
            Status::Starting,
            Status::Running,
            Status::Succeeded
        ]
    );
    let lines = bench.log_values(&uuid).await;
    let stdout: Vec<&String> = lines
        .iter()
        .filter(|line| line.starts_with("line"))
        .collect();
    assert_eq!(stdout, ["line 1", "line 2", "line 3"]);
    assert!(lines.contains(&"to-stderr".to_owned()), "{lines:?}");
    let run = bench.store.run_by_uuid(&uuid).await.unwrap().run;
    assert!(run.started_at.is_some() && run.finished_at.is_some());
    assert!(run.duration.is_some_and(|seconds| seconds >= 0.0));
}

async fn the_run_sees_polyaxon_s_environment_and_its_own_folders(kind: Kind) {
    let bench = Bench::new("environment", kind, 2).await;
    let uuid = bench
        .submit(&job(
            "echo instance=$POLYAXON_RUN_INSTANCE; echo managed=$POLYAXON_IS_MANAGED; \
             echo host=$POLYAXON_HOST; echo collect=$POLYAXON_COLLECT_ARTIFACTS; \
             echo namespace=$POLYAXON_K8S_NAMESPACE; \
             echo context=$POLYAXON_CONTEXT_ROOT; echo pwd=$(pwd)",
        ))
        .await;
    assert_eq!(bench.ended(&uuid).await, Status::Succeeded);
    let lines = bench.log_values(&uuid).await;
    let mut expected = vec![
        format!("instance=default.behaviour.runs.{uuid}"),
        "managed=true".to_owned(),
        "host=http://127.0.0.1:9".to_owned(),
        "collect=true".to_owned(),
        format!("namespace={NAMESPACE}"),
    ];
    if kind == Kind::Process {
        // The process runtime maps the pod's folders to the run's own.
        let root = bench.root.display();
        expected.push(format!("context={root}/runs/{uuid}/context"));
        expected.push(format!("pwd={root}/runs/{uuid}/work"));
    }
    for expected in expected {
        assert!(lines.contains(&expected), "{expected} not in {lines:?}");
    }
}

async fn a_failing_job_fails_with_its_exit_code(kind: Kind) {
    let bench = Bench::new("failure", kind, 2).await;
    let uuid = bench.submit(&job("echo before; exit 3")).await;
    assert_eq!(bench.ended(&uuid).await, Status::Failed);
    let last = bench.conditions(&uuid).await.pop().unwrap();
    assert_eq!(last.1, "Error");
    let said = match kind {
        Kind::Process => "`sh` exited with code 3",
        Kind::Kubernetes | Kind::Scripted => "container polyaxon-main exited with code 3",
    };
    assert!(last.2.ends_with(said), "{}", last.2);
    assert_eq!(bench.log_values(&uuid).await, ["before"]);
}

async fn a_missing_program_fails_with_a_reason(kind: Kind) {
    let bench = Bench::new("missing", kind, 2).await;
    let polyaxonfile = "kind: component\nrun:\n  kind: job\n  container:\n    image: x\n    command: [myelin-no-such-program]\n";
    let uuid = bench.submit(polyaxonfile).await;
    assert_eq!(bench.ended(&uuid).await, Status::Failed);
    let last = bench.conditions(&uuid).await.pop().unwrap();
    let (reason, said) = match kind {
        Kind::Process => ("CommandNotStarted", "cannot start `myelin-no-such-program`"),
        Kind::Kubernetes | Kind::Scripted => ("StartError", "exec: \"myelin-no-such-program\""),
    };
    assert_eq!(last.1, reason);
    assert!(last.2.contains(said), "{}", last.2);
}

async fn stop_ends_the_whole_process_group(kind: Kind) {
    let bench = Bench::new("stop", kind, 2).await;
    let marker = bench.root.join("child-alive");
    // A background child that would write the marker after the stop, if it survived.
    let command = format!(
        "(sleep 3; touch {}) & echo started; sleep 60",
        marker.display()
    );
    let uuid = bench.submit(&job(&command)).await;
    bench
        .wait_for(&uuid, |s| s == Status::Running, Duration::from_secs(20))
        .await;
    // Wait for the first line, so the shell is past its start.
    for _ in 0..100 {
        if !bench.log_values(&uuid).await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bench.runtime.stop(&uuid, StopCause::Asked).await.unwrap();
    assert_eq!(bench.ended(&uuid).await, Status::Stopped);
    let kinds = bench.statuses(&uuid).await;
    assert_eq!(
        &kinds[kinds.len() - 2..],
        [Status::Stopping, Status::Stopped]
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(!marker.exists(), "a process of the stopped run lived on");
    assert!(matches!(
        bench.runtime.stop(&uuid, StopCause::Asked).await,
        Err(backend::runtime::RuntimeError::NotActive)
    ));
}

async fn a_job_past_its_timeout_fails_with_deadline_exceeded(kind: Kind) {
    let bench = Bench::new("timeout", kind, 2).await;
    let polyaxonfile = format!("{}termination:\n  timeout: 1\n", job("sleep 30"));
    let uuid = bench.submit(&polyaxonfile).await;
    assert_eq!(bench.ended(&uuid).await, Status::Failed);
    let last = bench.conditions(&uuid).await.pop().unwrap();
    assert_eq!(last.1, "DeadlineExceeded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_beyond_the_concurrency_limit_wait_in_the_queue() {
    let bench = Bench::new("queue", Kind::Process, 1).await;
    // Long enough that a loaded machine still looks at the second run while the first runs.
    let first = bench.submit(&job("sleep 5")).await;
    let second = bench.submit(&job("echo second")).await;
    bench
        .wait_for(&first, |s| s == Status::Running, Duration::from_secs(20))
        .await;
    assert_eq!(bench.status(&second).await, Status::Queued);
    assert_eq!(bench.ended(&second).await, Status::Succeeded);
    let first_end = bench
        .store
        .run_by_uuid(&first)
        .await
        .unwrap()
        .run
        .finished_at
        .unwrap();
    let second_start = bench
        .store
        .run_by_uuid(&second)
        .await
        .unwrap()
        .run
        .started_at
        .unwrap();
    assert!(
        second_start >= first_end,
        "the second run started before the first ended"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_queued_when_stopped_never_starts() {
    let bench = Bench::new("stop-queued", Kind::Process, 1).await;
    let first = bench.submit(&job("sleep 2")).await;
    let second = bench.submit(&job("echo never")).await;
    bench
        .wait_for(&first, |s| s == Status::Running, Duration::from_secs(20))
        .await;
    bench.runtime.stop(&second, StopCause::Asked).await.unwrap();
    assert_eq!(bench.ended(&second).await, Status::Stopped);
    assert!(bench.log_values(&second).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_a_started_run_ends_with_a_reason_and_a_queued_or_scheduled_one_runs() {
    let bench = Bench::new("recover", Kind::Process, 2).await;
    // What a server killed mid-run leaves: one run that was running, one that was compiled.
    let running = bench.create(&job("echo never")).await;
    bench
        .passed(
            &running.uuid,
            &[
                Status::Queued,
                Status::Scheduled,
                Status::Starting,
                Status::Running,
            ],
        )
        .await;
    let compiled = bench.create(&job("echo resumed")).await;
    // One the kill caught scheduled: the runtime records `starting` before it launches
    // anything, so nothing of it ran.
    let scheduled = bench.create(&job("echo scheduled")).await;
    bench
        .passed(&scheduled.uuid, &[Status::Queued, Status::Scheduled])
        .await;

    let restarted = process_runtime(&bench.root, &bench.store, 2);
    for execution in [running.clone(), compiled.clone(), scheduled.clone()] {
        let stored = bench.store.run_by_uuid(&execution.uuid).await.unwrap();
        let execution = Execution {
            status: stored.run.status,
            ..execution
        };
        restarted.recover(execution).await.unwrap();
    }
    assert_eq!(bench.ended(&running.uuid).await, Status::Failed);
    let last = bench.conditions(&running.uuid).await.pop().unwrap();
    assert_eq!(last.1, "ServerRestarted");
    assert_eq!(bench.ended(&compiled.uuid).await, Status::Succeeded);
    assert_eq!(bench.log_values(&compiled.uuid).await, ["resumed"]);
    assert_eq!(bench.ended(&scheduled.uuid).await, Status::Succeeded);
    assert_eq!(bench.log_values(&scheduled.uuid).await, ["scheduled"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_a_run_whose_process_ran_is_told_as_such() {
    let bench = Bench::new("recover-ran", Kind::Process, 2).await;
    let started = [
        Status::Queued,
        Status::Scheduled,
        Status::Starting,
        Status::Running,
    ];
    // Its process printed, but nothing of it is left in the runtime's folder: its exit status
    // was never written down (an earlier server, or a full disk).
    let printed = bench.create(&job("echo printed")).await;
    bench.passed(&printed.uuid, &started).await;
    let writer = bench
        .artifacts
        .log_writer(&printed.uuid, "pod", "test-node")
        .unwrap();
    for value in ["one", "two"] {
        let line = Captured {
            container: "main".to_owned(),
            value: value.to_owned(),
            mark: None,
            printed: None,
        };
        writer.sender().send(line).await.unwrap();
    }
    writer.close().await;
    // Its process ended while no server watched, and its exit code was written down.
    let exited = bench.create(&job("exit 0")).await;
    bench.passed(&exited.uuid, &started).await;
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    gone.wait().unwrap();
    let folder = bench.root.join("state").join(&exited.uuid);
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("group"), gone.id().to_string()).unwrap();
    std::fs::write(folder.join("exit"), "3\n").unwrap();

    let restarted = process_runtime(&bench.root, &bench.store, 2);
    for execution in [printed.clone(), exited.clone()] {
        let stored = bench.store.run_by_uuid(&execution.uuid).await.unwrap();
        let execution = Execution {
            status: stored.run.status,
            ..execution
        };
        restarted.recover(execution).await.unwrap();
    }
    assert_eq!(bench.ended(&printed.uuid).await, Status::Failed);
    let (_, reason, message) = bench.conditions(&printed.uuid).await.pop().unwrap();
    assert_eq!(reason, "ExitNotRecorded");
    assert_eq!(
        message,
        "the run's process ran but its exit status was not recorded (Myelin stopped, or the \
         disk was full); its output is kept"
    );
    assert_eq!(bench.log_values(&printed.uuid).await, ["one", "two"]);
    assert_eq!(bench.ended(&exited.uuid).await, Status::Failed);
    let (_, reason, message) = bench.conditions(&exited.uuid).await.pop().unwrap();
    assert_eq!(
        (reason.as_str(), message.as_str()),
        ("Error", "`sh` exited with code 3")
    );
    assert!(
        !folder.exists(),
        "the runtime forgets the process once its end is recorded"
    );
}

async fn a_failed_attempt_is_retried_up_to_max_retries(kind: Kind) {
    let bench = Bench::new("retries", kind, 2).await;
    let counter = bench.root.join("attempts");
    // Fails the first time, succeeds the second.
    let command = format!(
        "if [ -f {0} ]; then echo second; else touch {0}; echo first; exit 1; fi",
        counter.display()
    );
    let polyaxonfile = format!("{}termination:\n  maxRetries: 1\n", job(&command));
    let uuid = bench.submit(&polyaxonfile).await;
    assert_eq!(bench.ended(&uuid).await, Status::Succeeded);
    let kinds = bench.statuses(&uuid).await;
    assert!(kinds.contains(&Status::Retrying), "{kinds:?}");
    assert_eq!(bench.log_values(&uuid).await, ["first", "second"]);
}

async fn a_job_failing_every_attempt_fails_with_its_last_attempt_s_exit_code(kind: Kind) {
    let bench = Bench::new("last-attempt", kind, 2).await;
    let counter = bench.root.join("attempts");
    // Exits with 3, then 4, then 5.
    let command = format!(
        "n=$(cat {0} 2>/dev/null || echo 2); n=$((n + 1)); echo $n > {0}; exit $n",
        counter.display()
    );
    let polyaxonfile = format!("{}termination:\n  maxRetries: 2\n", job(&command));
    let uuid = bench.submit(&polyaxonfile).await;
    assert_eq!(bench.ended(&uuid).await, Status::Failed);
    let (_, reason, message) = bench.conditions(&uuid).await.pop().unwrap();
    if let Some(cluster) = &bench.cluster {
        let mut attempts: Vec<(String, String)> = cluster
            .objects("v1/pods", NAMESPACE)
            .iter()
            .map(|pod| {
                let text =
                    |pointer: &str| pod.pointer(pointer).unwrap().as_str().unwrap().to_owned();
                (text("/metadata/creationTimestamp"), text("/metadata/name"))
            })
            .collect();
        attempts.sort();
        let names: Vec<&str> = attempts.iter().map(|(_, name)| name.as_str()).collect();
        let last = *names.last().unwrap();
        let mut by_name = names.clone();
        by_name.sort_unstable();
        assert_eq!(names.len(), 3, "{names:?}");
        assert!(
            by_name.first() != Some(&last) && by_name.last() != Some(&last),
            "the pods' random names put the last attempt first or last by name: {names:?}"
        );
        assert_eq!(
            message,
            format!("pod {last}, container polyaxon-main exited with code 5")
        );
    }
    assert_eq!(reason, "Error");
    assert!(message.ends_with("exited with code 5"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_steps_clone_write_and_run_before_the_main_process() {
    let bench = Bench::new("init", Kind::Process, 2).await;
    let repository = bench.root.join("repository");
    std::fs::create_dir_all(&repository).unwrap();
    std::fs::write(repository.join("README"), "from git").unwrap();
    for args in [
        vec!["init", "--quiet"],
        vec!["add", "README"],
        vec![
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "--quiet",
            "-m",
            "first",
        ],
    ] {
        let status = std::process::Command::new("git")
            .args(&args)
            .current_dir(&repository)
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    }
    let polyaxonfile = format!(
        "kind: component\nrun:\n  kind: job\n  init:\n  - file: {{filename: hello.sh, content: 'echo hello from {{{{ globals.name }}}}', chmod: '+x'}}\n  - git: {{url: {repository}}}\n  - container: {{name: prepare, image: busybox, command: [sh, -c, 'echo prepared; echo ready > /plx-context/artifacts/prepared.txt']}}\n  container:\n    image: busybox\n    command: [sh, -c]\n    args: ['/plx-context/artifacts/hello.sh; cat /plx-context/artifacts/prepared.txt /plx-context/artifacts/repository/README; echo; echo out > /plx-context/artifacts/$(basename $POLYAXON_RUN_INSTANCE | sed s/.*runs.//)/outputs.txt']\n",
        repository = repository.display()
    );
    let uuid = bench.submit(&polyaxonfile).await;
    let status = bench.ended(&uuid).await;
    let lines = bench.log_values(&uuid).await;
    assert_eq!(
        status,
        Status::Succeeded,
        "{lines:?} {:?}",
        bench.conditions(&uuid).await
    );
    for expected in ["prepared", "hello from run", "ready", "from git"] {
        assert!(
            lines.iter().any(|line| line == expected),
            "{expected} not in {lines:?}"
        );
    }
    let logs = bench.artifacts.read_logs(&uuid, None).await.unwrap();
    let prepared = logs.iter().find(|line| line.value == "prepared").unwrap();
    assert_eq!(
        prepared.container.as_deref(),
        Some("prepare"),
        "init output is the init container's"
    );
    assert_eq!(
        std::fs::read_to_string(bench.artifacts.run_folder(&uuid).join("outputs.txt")).unwrap(),
        "out\n",
        "the run's artifacts folder in its context is the store's"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_init_step_fails_the_run_before_its_main_process() {
    let bench = Bench::new("init-failure", Kind::Process, 2).await;
    let polyaxonfile = "kind: component\nrun:\n  kind: job\n  init:\n  - git: {url: /nonexistent/repository}\n  container:\n    image: busybox\n    command: [sh, -c, 'echo main ran']\n";
    let uuid = bench.submit(polyaxonfile).await;
    assert_eq!(bench.ended(&uuid).await, Status::Failed);
    let last = bench.conditions(&uuid).await.pop().unwrap();
    assert_eq!(last.1, "InitFailed");
    assert!(last.2.contains("`git` exited with code"), "{}", last.2);
    assert!(
        !bench
            .log_values(&uuid)
            .await
            .contains(&"main ran".to_owned())
    );
}

async fn a_command_runs_inside_a_running_run(kind: Kind) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let bench = Bench::new("exec", kind, 2).await;
    let uuid = bench.submit(&job("echo started; sleep 30")).await;
    bench
        .wait_for(&uuid, |s| s == Status::Running, Duration::from_secs(20))
        .await;
    let pods = bench.runtime.inspect(&uuid).await.unwrap();
    assert_eq!(pods.len(), 1, "{pods:?}");
    assert!(
        pods[0].containers.contains(&"polyaxon-main".to_owned()),
        "{pods:?}"
    );
    let command = ["sh", "-c", "echo $POLYAXON_RUN_INSTANCE; pwd; cat"];
    let mut session = bench
        .runtime
        .exec(
            &uuid,
            &ExecTarget::default(),
            command.map(str::to_owned).to_vec(),
        )
        .await
        .unwrap();
    session.stdin.write_all(b"typed\n").await.unwrap();
    drop(session.stdin);
    let mut output = String::new();
    session.stdout.read_to_string(&mut output).await.unwrap();
    assert_eq!(session.exit.await.unwrap(), Some(0));
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(lines.len(), 3, "{output}");
    assert_eq!(lines[0], format!("default.behaviour.runs.{uuid}"));
    assert_eq!(lines[2], "typed");
    if kind == Kind::Process {
        let root = bench.root.display();
        assert_eq!(lines[1], format!("{root}/runs/{uuid}/work"));
    }

    // A command still running inside the run ends with it.
    let lingering = bench
        .runtime
        .exec(
            &uuid,
            &ExecTarget::default(),
            vec!["sleep".to_owned(), "60".to_owned()],
        )
        .await
        .unwrap();
    bench.runtime.stop(&uuid, StopCause::Asked).await.unwrap();
    bench.ended(&uuid).await;
    let exit = tokio::time::timeout(Duration::from_secs(5), lingering.exit)
        .await
        .expect("the command ended with the run");
    assert_ne!(
        exit.unwrap(),
        Some(0),
        "ended by the run's end, not by itself"
    );
    assert!(matches!(
        bench
            .runtime
            .exec(&uuid, &ExecTarget::default(), vec!["true".to_owned()])
            .await,
        Err(backend::runtime::RuntimeError::NotActive)
    ));
}

/// Where `sh` goes in the tests of terminals: the run's main container, on a terminal.
fn on_a_terminal() -> ExecTarget {
    ExecTarget {
        tty: true,
        ..ExecTarget::default()
    }
}

/// Reads the rest of what a session prints and its exit code; fails after 10 s.
async fn finish_session(mut session: ExecSession, printed: &mut String) -> Option<i32> {
    use tokio::io::AsyncReadExt as _;

    let mut rest = Vec::new();
    let ending = async {
        session.stdout.read_to_end(&mut rest).await.unwrap();
        session.exit.await.unwrap()
    };
    let exit = tokio::time::timeout(Duration::from_secs(10), ending)
        .await
        .unwrap_or_else(|_| panic!("the session did not end within 10 s: {printed:?}"));
    printed.push_str(&String::from_utf8_lossy(&rest));
    exit
}

/// A running run and `sh` on a terminal inside it.
async fn shell_on_a_terminal(name: &str, kind: Kind) -> (Bench, String, ExecSession) {
    let bench = Bench::new(name, kind, 2).await;
    let uuid = bench.submit(&job("sleep 30")).await;
    bench
        .wait_for(&uuid, |s| s == Status::Running, Duration::from_secs(20))
        .await;
    let session = bench
        .runtime
        .exec(&uuid, &on_a_terminal(), vec!["sh".to_owned()])
        .await
        .unwrap();
    (bench, uuid, session)
}

async fn a_shell_on_a_terminal_takes_its_size_and_ends_with_its_exit_code(kind: Kind) {
    use tokio::io::AsyncWriteExt as _;

    let (bench, uuid, mut session) = shell_on_a_terminal("tty", kind).await;
    let resize = session.resize.as_mut().expect("a terminal can be resized");
    resize(TerminalSize {
        width: 120,
        height: 40,
    });
    // Through a cluster the size travels beside what is typed, not in order with it: waiting
    // for the shell's prompt gives it the time to arrive first.
    let mut printed = String::new();
    read_until(&mut *session.stdout, &mut printed, |printed| {
        !printed.is_empty()
    })
    .await;
    session
        .stdin
        .write_all(b"stty size; echo $POLYAXON_RUN_INSTANCE; tty; exit 3\n")
        .await
        .unwrap();
    let exit = finish_session(session, &mut printed).await;
    assert_eq!(exit, Some(3), "{printed:?}");
    // The terminal echoes what is typed: only the commands' answers hold these.
    assert!(printed.contains("40 120"), "{printed:?}");
    assert!(
        printed.contains(&format!("default.behaviour.runs.{uuid}")),
        "{printed:?}"
    );
    assert!(
        printed.lines().any(|line| line.starts_with("/dev/pts/")),
        "{printed:?}"
    );
    bench.runtime.stop(&uuid, StopCause::Asked).await.unwrap();
    bench.ended(&uuid).await;
}

async fn ctrl_c_on_a_terminal_interrupts_its_command_and_the_shell_lives_until_the_run_ends(
    kind: Kind,
) {
    use tokio::io::AsyncWriteExt as _;

    let (bench, uuid, mut session) = shell_on_a_terminal("ctrl-c", kind).await;
    let mut printed = String::new();
    // The command says it runs as the very process that then sleeps: Ctrl-C after the word
    // interrupts it, whether it sleeps already or not.
    session
        .stdin
        .write_all(b"sh -c 'echo $((6 * 6)); exec sleep 30'\n")
        .await
        .unwrap();
    read_until(&mut *session.stdout, &mut printed, |printed| {
        printed.contains("36")
    })
    .await;
    session.stdin.write_all(b"\x03").await.unwrap();
    session.stdin.write_all(b"echo $((6 * 7))\n").await.unwrap();
    read_until(&mut *session.stdout, &mut printed, |printed| {
        printed.contains("42")
    })
    .await;

    // The shell leads a session of its own, outside the run's processes, and still ends with
    // the run.
    bench.runtime.stop(&uuid, StopCause::Asked).await.unwrap();
    bench.ended(&uuid).await;
    let exit = finish_session(session, &mut printed).await;
    assert_ne!(exit, Some(0), "ended by the run's end: {printed:?}");
}

/// A service that answers GETs with the path it was asked and POSTs with their body; a GET
/// that asks to switch to the `echo` protocol (as a WebSocket asks for `websocket`) gets `101`,
/// then every byte back.
const ECHO_SERVICE: &str = r#"
import http.server
class Echo(http.server.BaseHTTPRequestHandler):
    def answer(self, code, body):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        if self.headers.get("Upgrade") == "echo":
            self.send_response(101)
            self.send_header("Connection", "Upgrade")
            self.send_header("Upgrade", "echo")
            self.end_headers()
            self.wfile.flush()
            while chunk := self.connection.recv(1024):
                self.connection.sendall(chunk)
            self.close_connection = True
            return
        self.answer(200, ("path=" + self.path).encode())
    def do_POST(self):
        self.answer(201, self.rfile.read(int(self.headers["Content-Length"])))
http.server.HTTPServer(("127.0.0.1", {{ globals.ports[0] }}), Echo).serve_forever()
"#;

/// A port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn a_service_answers_through_the_runtime_s_proxy(kind: Kind) {
    use axum::body::Body;
    use axum::http::Request;

    let bench = Bench::new("service-proxy", kind, 2).await;
    let polyaxonfile = format!(
        "kind: component\nrun:\n  kind: service\n  ports: [{}]\n  container:\n    image: python:3.11\n    command: [python3, -u, -c]\n    args: [{}]\n",
        free_port(),
        serde_json::to_string(ECHO_SERVICE).unwrap()
    );
    let execution = bench.create(&polyaxonfile).await;
    let uuid = execution.uuid.clone();
    let port = u16::try_from(execution.compiled["run"]["ports"][0].as_u64().unwrap()).unwrap();
    bench.runtime.submit(execution).await.unwrap();
    bench
        .wait_for(&uuid, |s| s == Status::Running, Duration::from_secs(20))
        .await;
    let body = |response: axum::http::Response<Body>| async move {
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    };
    // The service binds its port a moment after it starts.
    let mut answer = (0, String::new());
    for _ in 0..100 {
        let request = Request::get("/notebooks/a.ipynb?kernel=1")
            .body(Body::empty())
            .unwrap();
        if let Ok(response) = bench.runtime.proxy(&uuid, port, request).await {
            answer = body(response).await;
            if answer.0 == 200 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(answer, (200, "path=/notebooks/a.ipynb?kernel=1".to_owned()));
    let post = Request::post("/api/contents")
        .header("content-type", "application/json")
        .body(Body::from("{\"type\": \"notebook\"}"))
        .unwrap();
    let response = bench.runtime.proxy(&uuid, port, post).await.unwrap();
    assert_eq!(
        body(response).await,
        (201, "{\"type\": \"notebook\"}".to_owned())
    );
    // A WebSocket's switch of protocols, carried both ways (Jupyter's kernels need it).
    let switch = Request::get("/api/kernels/1/channels")
        .header("connection", "Upgrade")
        .header("upgrade", "echo")
        .body(Body::empty())
        .unwrap();
    let mut switched = bench.runtime.proxy(&uuid, port, switch).await.unwrap();
    assert_eq!(switched.status().as_u16(), 101, "{switched:?}");
    assert_eq!(switched.headers()["upgrade"], "echo");
    let upgraded = tokio::time::timeout(Duration::from_secs(10), hyper::upgrade::on(&mut switched))
        .await
        .expect("the switched connection is handed over")
        .expect("a switched connection");
    let mut socket = hyper_util::rt::TokioIo::new(upgraded);
    for message in ["ping", "a second, longer message"] {
        tokio::io::AsyncWriteExt::write_all(&mut socket, message.as_bytes())
            .await
            .unwrap();
        let mut echoed = vec![0; message.len()];
        tokio::time::timeout(
            Duration::from_secs(10),
            tokio::io::AsyncReadExt::read_exact(&mut socket, &mut echoed),
        )
        .await
        .expect("the service echoes within seconds")
        .unwrap();
        assert_eq!(String::from_utf8_lossy(&echoed), message);
    }
    drop(socket);
    let elsewhere = Request::get("/").body(Body::empty()).unwrap();
    match bench
        .runtime
        .proxy(&uuid, port.wrapping_add(1), elsewhere)
        .await
    {
        Err(backend::runtime::RuntimeError::NotActive) => {}
        Ok(response) => assert!(!response.status().is_success(), "{response:?}"),
        Err(other) => panic!("{other}"),
    }
    // Stopped as an idle service is (`termination.culling.timeout`): both statuses say why.
    let idle = StopCause::Idle(Duration::from_secs(300));
    bench.runtime.stop(&uuid, idle).await.unwrap();
    assert_eq!(bench.ended(&uuid).await, Status::Stopped);
    let said: Vec<_> = bench
        .conditions(&uuid)
        .await
        .into_iter()
        .filter(|(status, _, _)| matches!(status, Status::Stopping | Status::Stopped))
        .collect();
    assert_eq!(
        said,
        [
            (
                Status::Stopping,
                "IdleTimeout".to_owned(),
                "Run is stopping: its service carried no traffic for 5 min (termination.culling.timeout)".to_owned()
            ),
            (
                Status::Stopped,
                "IdleTimeout".to_owned(),
                "Run was stopped: its service carried no traffic for 5 min (termination.culling.timeout)".to_owned()
            ),
        ]
    );
    let request = Request::get("/").body(Body::empty()).unwrap();
    assert!(matches!(
        bench.runtime.proxy(&uuid, port, request).await,
        Err(backend::runtime::RuntimeError::NotActive)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_with_no_ready_pod_answers_at_once() {
    use axum::body::Body;
    use axum::http::Request;

    let bench = Bench::new("k8s-service-starting", Kind::Kubernetes, 2).await;
    // Its pod is not ready while its init step sleeps.
    let service = "kind: component\nrun:\n  kind: service\n  ports: [8888]\n  init:\n  - container: {name: wait, image: busybox, command: [sleep, '10']}\n  container:\n    image: busybox\n    command: [sleep, '60']\n";
    let uuid = bench.submit(service).await;
    bench
        .wait_for(&uuid, |s| s == Status::Starting, Duration::from_secs(20))
        .await;
    let request = Request::get("/").body(Body::empty()).unwrap();
    let answer = tokio::time::timeout(
        Duration::from_secs(3),
        bench.runtime.proxy(&uuid, 8888, request),
    )
    .await
    .expect("the proxy answers within seconds while the service has no ready pod")
    .unwrap();
    assert_eq!(answer.status(), 503);
    let body = axum::body::to_bytes(answer.into_body(), 1 << 20)
        .await
        .unwrap();
    let body = String::from_utf8_lossy(&body);
    assert!(body.contains("no endpoints available"), "{body}");
    bench.runtime.stop(&uuid, StopCause::Asked).await.unwrap();
    assert_eq!(bench.ended(&uuid).await, Status::Stopped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_service_takes_its_service_and_pods_with_it() {
    let bench = Bench::new("k8s-service", Kind::Kubernetes, 2).await;
    let cluster = bench.cluster.as_ref().unwrap();
    let service = "kind: component\nrun:\n  kind: service\n  ports: [8888]\n  container:\n    image: busybox\n    command: [sh, -c, 'echo serving; sleep 60']\n";
    let uuid = bench.submit(service).await;
    bench
        .wait_for(&uuid, |s| s == Status::Running, Duration::from_secs(20))
        .await;
    // A deleted pod's log goes with it: the line is archived before the stop.
    while bench.log_values(&uuid).await.is_empty() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let name = format!("plx-operation-{uuid}");
    let deployment = cluster
        .object("apps/v1/deployments", NAMESPACE, &name)
        .expect("a Deployment");
    let owned = cluster
        .object("v1/services", NAMESPACE, &name)
        .expect("a Service");
    assert_eq!(
        owned["metadata"]["ownerReferences"][0]["uid"],
        deployment["metadata"]["uid"]
    );
    assert_eq!(owned["metadata"]["ownerReferences"][0]["controller"], true);
    bench.runtime.stop(&uuid, StopCause::Asked).await.unwrap();
    assert_eq!(bench.ended(&uuid).await, Status::Stopped);
    let delete = cluster
        .requests()
        .into_iter()
        .find(|request| request.method == "DELETE")
        .expect("the workload was deleted");
    assert_eq!(
        delete.path,
        format!("/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{name}")
    );
    assert_eq!(delete.body["propagationPolicy"], "Background");
    assert!(cluster.object("v1/services", NAMESPACE, &name).is_none());
    assert!(
        cluster.objects("v1/pods", NAMESPACE).iter().all(|pod| {
            pod["metadata"]["labels"]["operation.polyaxon.com/uuid"] != uuid.as_str()
        })
    );
    assert!(
        bench
            .log_values(&uuid)
            .await
            .contains(&"serving".to_owned())
    );
}

/// Puts a run's Job in the cluster as a server that stopped would have left it, and waits for
/// its pod to run; the pod's name.
async fn left_running(cluster: &FakeCluster, execution: &Execution) -> String {
    let objects = shared::convert::native::expand(&execution.resource).unwrap();
    let mut workload = objects[0].clone();
    workload["metadata"]["namespace"] = NAMESPACE.into();
    cluster.create("batch/v1/jobs", NAMESPACE, workload);
    loop {
        let pods = cluster.objects("v1/pods", NAMESPACE);
        if let Some(pod) = pods.iter().find(|pod| pod["status"]["phase"] == "Running") {
            return pod["metadata"]["name"].as_str().unwrap().to_owned();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_the_kubernetes_runtime_follows_a_run_still_in_the_cluster() {
    let bench = Bench::new("k8s-recover", Kind::Kubernetes, 2).await;
    let cluster = bench.cluster.as_ref().unwrap();
    // What a server stopped mid-run leaves: a running Job, one line of it archived.
    let execution = bench.create(&job("echo one; sleep 1; echo two")).await;
    let pod = left_running(cluster, &execution).await;
    let writer = bench
        .artifacts
        .log_writer(&execution.uuid, &pod, "fake-node")
        .unwrap();
    let archived = Captured {
        container: "polyaxon-main".to_owned(),
        value: "one".to_owned(),
        mark: None,
        printed: None,
    };
    writer.sender().send(archived).await.unwrap();
    writer.close().await;
    bench
        .passed(
            &execution.uuid,
            &[
                Status::Queued,
                Status::Scheduled,
                Status::Starting,
                Status::Running,
            ],
        )
        .await;
    // And a run whose Job is gone from the cluster.
    let lost = bench.create(&job("echo never")).await;
    bench
        .passed(
            &lost.uuid,
            &[Status::Queued, Status::Scheduled, Status::Starting],
        )
        .await;

    let restarted = kubernetes_runtime(on(cluster), &bench.root, &bench.store);
    for execution in [execution.clone(), lost.clone()] {
        let status = bench.status(&execution.uuid).await;
        restarted
            .recover(Execution {
                status,
                ..execution
            })
            .await
            .unwrap();
    }
    assert_eq!(bench.ended(&execution.uuid).await, Status::Succeeded);
    assert_eq!(bench.log_values(&execution.uuid).await, ["one", "two"]);
    assert_eq!(bench.ended(&lost.uuid).await, Status::Failed);
    let last = bench.conditions(&lost.uuid).await.pop().unwrap();
    assert_eq!(last.1, "Lost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_a_running_run_is_not_recorded_starting_again() {
    let bench = Bench::new("k8s-recover-running", Kind::Kubernetes, 2).await;
    let cluster = bench.cluster.as_ref().unwrap();
    let execution = bench.create(&job("echo one; sleep 2")).await;
    left_running(cluster, &execution).await;
    let started = [
        Status::Queued,
        Status::Scheduled,
        Status::Starting,
        Status::Running,
    ];
    bench.passed(&execution.uuid, &started).await;

    let restarted = kubernetes_runtime(on(cluster), &bench.root, &bench.store);
    let recovered = Execution {
        status: Status::Running,
        ..execution.clone()
    };
    restarted.recover(recovered).await.unwrap();
    assert_eq!(bench.ended(&execution.uuid).await, Status::Succeeded);
    let kinds = bench.statuses(&execution.uuid).await;
    assert_eq!(
        kinds,
        [
            Status::Created,
            Status::Compiled,
            Status::Queued,
            Status::Scheduled,
            Status::Starting,
            Status::Running,
            Status::Succeeded
        ],
        "the restart is not a second start"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_ends_while_no_server_watches_is_recorded_as_it_ended() {
    let bench = Bench::new("k8s-unseen-end", Kind::Kubernetes, 2).await;
    let cluster = bench.cluster.as_ref().unwrap();
    let connection = cluster.connection().await;
    let target = KubernetesTarget::from_config(connection.config(), NAMESPACE).unwrap();
    let first = kubernetes_runtime(target, &bench.root, &bench.store);
    let execution = bench.create(&job("echo one; sleep 3; echo two")).await;
    let uuid = execution.uuid.clone();
    first.submit(execution.clone()).await.unwrap();
    bench
        .wait_for(&uuid, |s| s == Status::Running, Duration::from_secs(20))
        .await;
    while bench.log_values(&uuid).await.is_empty() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The server stops. The run ends meanwhile, and the cluster's TTL controller comes by
    // `ttlSecondsAfterFinished` (5 s) later.
    connection.cut();
    let name = format!("plx-operation-{uuid}");
    let finished = |job: &serde_json::Value| {
        job["status"]["conditions"]
            .as_array()
            .is_some_and(|conditions| conditions.iter().any(|c| c["type"] == "Complete"))
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !cluster
        .object("batch/v1/jobs", NAMESPACE, &name)
        .is_some_and(|job| finished(&job))
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the Job did not end"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(
        bench.status(&uuid).await,
        Status::Running,
        "nothing watched"
    );

    let second = kubernetes_runtime(on(cluster), &bench.root, &bench.store);
    let recovered = Execution {
        status: Status::Running,
        ..execution
    };
    second.recover(recovered).await.unwrap();
    assert_eq!(bench.ended(&uuid).await, Status::Succeeded);
    assert_eq!(bench.log_values(&uuid).await, ["one", "two"]);
    // Once recorded, the cluster has its Job back, and cleans up after it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while cluster.object("batch/v1/jobs", NAMESPACE, &name).is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the Job outlived its recorded end"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(cluster.objects("v1/pods", NAMESPACE).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_someone_deletes_is_held_until_myelin_has_seen_it_go() {
    let bench = Bench::new("k8s-deleted", Kind::Kubernetes, 2).await;
    let cluster = bench.cluster.as_ref().unwrap();
    let uuid = bench.submit(&job("echo started; sleep 60")).await;
    bench
        .wait_for(&uuid, |s| s == Status::Running, Duration::from_secs(20))
        .await;
    while bench.log_values(&uuid).await.is_empty() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let name = format!("plx-operation-{uuid}");
    cluster.delete("batch/v1/jobs", NAMESPACE, &name);
    let held = cluster.object("batch/v1/jobs", NAMESPACE, &name);
    assert!(
        held.is_some_and(|job| job["metadata"]["deletionTimestamp"].is_string()),
        "Myelin's finalizer holds the Job"
    );
    assert_eq!(bench.ended(&uuid).await, Status::Failed);
    let (_, reason, message) = bench.conditions(&uuid).await.pop().unwrap();
    assert_eq!(
        (reason.as_str(), message.as_str()),
        (
            "Deleted",
            format!("the run's Job {name} was deleted from the cluster").as_str()
        )
    );
    assert_eq!(bench.log_values(&uuid).await, ["started"]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while cluster.object("batch/v1/jobs", NAMESPACE, &name).is_some()
        || !cluster.objects("v1/pods", NAMESPACE).is_empty()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "Myelin still holds the Job"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_job_goes_while_watches_are_down_ends_when_they_are_back() {
    let bench = Bench::new("k8s-watch-gap", Kind::Kubernetes, 2).await;
    let cluster = bench.cluster.as_ref().unwrap();
    let left = bench.submit(&job("echo started; sleep 60")).await;
    let stopped = bench.submit(&job("echo started; sleep 60")).await;
    for uuid in [&left, &stopped] {
        bench
            .wait_for(uuid, |s| s == Status::Running, Duration::from_secs(20))
            .await;
        while bench.log_values(uuid).await.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // The API server restarts; meanwhile both Jobs go (someone with kubectl), and one run is
    // stopped.
    cluster.lose_watches();
    for uuid in [&left, &stopped] {
        cluster.remove("batch/v1/jobs", NAMESPACE, &format!("plx-operation-{uuid}"));
    }
    bench
        .runtime
        .stop(&stopped, StopCause::Asked)
        .await
        .unwrap();
    let status = bench
        .wait_for(&stopped, Status::is_done, Duration::from_secs(5))
        .await;
    assert_eq!(status, Status::Stopped, "its Job was already gone");
    cluster.restore_watches();
    let status = bench
        .wait_for(&left, Status::is_done, Duration::from_secs(10))
        .await;
    assert_eq!(status, Status::Failed);
    let (_, reason, message) = bench.conditions(&left).await.pop().unwrap();
    assert_eq!(reason, "Deleted");
    assert_eq!(
        message,
        format!("the run's Job plx-operation-{left} was deleted from the cluster")
    );
    assert_eq!(bench.log_values(&left).await, ["started"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kind_the_cluster_does_not_serve_fails_naming_the_operator_that_provides_it() {
    let bench = Bench::new("k8s-no-crd", Kind::Kubernetes, 2).await;
    let cluster = bench.cluster.as_ref().unwrap();
    cluster.uninstall("tfjobs.kubeflow.org");
    let tfjob = "kind: component\nrun:\n  kind: tfjob\n  worker:\n    replicas: 1\n    container:\n      image: tensorflow/tensorflow:2.15.0\n      command: [python, train.py]\n";
    let uuid = bench.submit(tfjob).await;
    assert_eq!(bench.ended(&uuid).await, Status::Failed);
    let (_, reason, message) = bench.conditions(&uuid).await.pop().unwrap();
    assert_eq!(reason, "SubmissionRefused");
    assert_eq!(
        message,
        "the cluster has no resource tfjobs.kubeflow.org (kind TFJob, kubeflow.org/v1): \
         install Kubeflow's training operator, which provides it"
    );
    // Deleting the run looks for its objects of every kind, the missing one included.
    bench.runtime.clean(&uuid).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_the_cluster_refuses_in_part_leaves_nothing_behind() {
    let bench = Bench::new("k8s-refused-in-part", Kind::Kubernetes, 2).await;
    let cluster = bench.cluster.as_ref().unwrap();
    // The cluster has DaskClusters but not the autoscalers of the Dask operator's newer
    // versions.
    cluster.uninstall("daskautoscalers.kubernetes.dask.org");
    let dask = "kind: component\nrun:\n  kind: daskcluster\n  minReplicas: 1\n  maxReplicas: 5\n  worker: {replicas: 2, container: {image: dask, args: [dask-worker]}}\n  scheduler: {container: {image: dask}}\n";
    let uuid = bench.submit(dask).await;
    assert_eq!(bench.ended(&uuid).await, Status::Failed);
    let (_, reason, message) = bench.conditions(&uuid).await.pop().unwrap();
    assert_eq!(reason, "SubmissionRefused");
    assert!(
        message.starts_with("the cluster has no resource daskautoscalers.kubernetes.dask.org"),
        "{message}"
    );
    let clusters = cluster.objects("kubernetes.dask.org/v1/daskclusters", NAMESPACE);
    assert!(
        clusters.is_empty(),
        "the DaskCluster applied before the refusal would start pods for a failed run"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ray_cluster_whose_own_fields_are_templates_runs_with_them_rendered() {
    let bench = Bench::new("k8s-ray-templates", Kind::Kubernetes, 2).await;
    let cluster = bench.cluster.as_ref().unwrap();
    // Polyaxon leaves a distributed run's own fields unrendered in its resource.
    let ray = "kind: component\ninputs:\n- {name: ray, type: str, value: '2.9.0'}\n- {name: epochs, type: int, value: 2}\nrun:\n  kind: raycluster\n  entrypoint: python train.py --epochs={{ epochs }}\n  rayVersion: '{{ ray }}'\n  head: {container: {image: rayproject/ray}}\n";
    let uuid = bench.submit(ray).await;
    let stored = bench.store.run_by_uuid(&uuid).await.unwrap();
    let resource = stored.resource.unwrap();
    assert_eq!(resource["rayClusterSpec"]["rayVersion"], "{{ ray }}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let applied = loop {
        let applied = cluster.objects("ray.io/v1/rayclusters", NAMESPACE);
        if let Some(object) = applied.into_iter().next() {
            break object;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no RayCluster was applied: {:?}",
            bench.conditions(&uuid).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(applied["spec"]["rayVersion"], "2.9.0", "{applied}");
}

/// A write the runtime sent to the scripted API server, waiting for its answer.
struct Write {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    content_type: String,
    body: serde_json::Value,
    answer: tower_test::mock::SendResponse<axum::http::Response<kube::client::Body>>,
}

impl Write {
    fn respond(self, code: u16, body: &serde_json::Value) {
        let response = axum::http::Response::builder()
            .status(code)
            .header("content-type", "application/json")
            .body(kube::client::Body::from(serde_json::to_vec(body).unwrap()))
            .unwrap();
        self.answer.send_response(response);
    }
}

/// The scripted API server's writes, in order. A task holds the rest (the watchers' lists and
/// watches) unanswered, whatever the test is doing, so the runtime's watchers wait quietly.
struct Writes(tokio::sync::mpsc::UnboundedReceiver<Write>);

impl Writes {
    fn serve(mut api: ApiHandle) -> Self {
        let (writes, received) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Some((request, answer)) = api.next_request().await {
                let (parts, body) = request.into_parts();
                let bytes = body.collect_bytes().await.unwrap_or_default();
                let write = Write {
                    method: parts.method.to_string(),
                    path: parts.uri.path().to_owned(),
                    query: serde_urlencoded::from_str(parts.uri.query().unwrap_or_default())
                        .unwrap_or_default(),
                    content_type: parts
                        .headers
                        .get("content-type")
                        .and_then(|value| value.to_str().ok())
                        .unwrap_or_default()
                        .to_owned(),
                    body: serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
                    answer,
                };
                if write.method != "GET" {
                    if writes.send(write).is_err() {
                        return;
                    }
                } else {
                    held.push(write);
                }
            }
        });
        Self(received)
    }

    /// The next write, failing the test if none comes in time.
    async fn next(&mut self) -> Write {
        tokio::time::timeout(Duration::from_secs(10), self.0.recv())
            .await
            .expect("the runtime sent a request in time")
            .expect("the runtime's client is alive")
    }
}

/// The object an apply sent, as the API server returns it: with a uid.
fn applied(write: &Write, uid: &str) -> serde_json::Value {
    let mut object = write.body.clone();
    object["metadata"]["uid"] = uid.into();
    object["metadata"]["resourceVersion"] = "1".into();
    object
}

fn assert_applied_as_myelin(write: &Write, path: &str) {
    assert_eq!(
        (write.method.as_str(), write.path.as_str()),
        ("PATCH", path)
    );
    assert_eq!(write.content_type, "application/apply-patch+yaml");
    for (key, value) in [("fieldManager", "myelin"), ("force", "true")] {
        assert!(
            write.query.contains(&(key.to_owned(), value.to_owned())),
            "{key}={value} not in {:?}",
            write.query
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kubernetes_runtime_applies_a_job_as_myelin_and_stops_it_by_deleting_it() {
    let bench = Bench::new("scripted-job", Kind::Scripted, 2).await;
    let mut writes = Writes::serve(bench.api.lock().unwrap().take().unwrap());
    let execution = bench.create(&job("echo hi")).await;
    let uuid = execution.uuid.clone();
    let mut expected = shared::convert::native::expand(&execution.resource).unwrap()[0].clone();
    expected["metadata"]["namespace"] = NAMESPACE.into();
    // Held for Myelin: the cluster keeps it, finished, until Myelin has recorded its end.
    expected["metadata"]["finalizers"] = serde_json::json!([FINALIZER]);
    let ttl = expected["spec"]
        .as_object_mut()
        .unwrap()
        .remove("ttlSecondsAfterFinished");
    assert_eq!(ttl, Some(5.into()));
    bench.runtime.submit(execution).await.unwrap();

    let apply = writes.next().await;
    let name = format!("plx-operation-{uuid}");
    assert_applied_as_myelin(
        &apply,
        &format!("/apis/batch/v1/namespaces/{NAMESPACE}/jobs/{name}"),
    );
    assert_eq!(
        apply.body, expected,
        "the Job is sent whole, as `shared` expands it, held for Myelin"
    );
    let job_object = applied(&apply, "job-uid");
    apply.respond(200, &job_object);
    bench
        .wait_for(&uuid, |s| s == Status::Scheduled, Duration::from_secs(10))
        .await;

    let runtime = Arc::clone(&bench.runtime);
    let stopping = tokio::spawn({
        let uuid = uuid.clone();
        async move { runtime.stop(&uuid, StopCause::Asked).await }
    });
    let delete = writes.next().await;
    assert_eq!(
        (delete.method.as_str(), delete.path.as_str()),
        (
            "DELETE",
            format!("/apis/batch/v1/namespaces/{NAMESPACE}/jobs/{name}").as_str()
        )
    );
    assert_eq!(delete.body["propagationPolicy"], "Background");
    // Held by Myelin's finalizer, which Myelin then takes off.
    let mut deleting = job_object.clone();
    deleting["metadata"]["deletionTimestamp"] = "2024-05-01T10:00:00Z".into();
    delete.respond(200, &deleting);
    let release = writes.next().await;
    assert_eq!(
        (release.method.as_str(), release.path.as_str()),
        (
            "PATCH",
            format!("/apis/batch/v1/namespaces/{NAMESPACE}/jobs/{name}").as_str()
        )
    );
    assert_eq!(release.content_type, "application/merge-patch+json");
    assert_eq!(
        release.body,
        serde_json::json!({"metadata": {"finalizers": [], "resourceVersion": "1"}}),
        "only Myelin's finalizer goes, and only from the version read"
    );
    release.respond(200, &job_object);
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .expect("the stop returned in time")
        .unwrap()
        .unwrap();
    assert_eq!(bench.status(&uuid).await, Status::Stopping);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kubernetes_runtime_applies_a_service_s_objects_owned_by_its_deployment() {
    let bench = Bench::new("scripted-service", Kind::Scripted, 2).await;
    let mut writes = Writes::serve(bench.api.lock().unwrap().take().unwrap());
    let service = "kind: component\nrun:\n  kind: service\n  ports: [8888]\n  container:\n    image: busybox\n    command: [sleep, '60']\n";
    let execution = bench.create(service).await;
    let name = format!("plx-operation-{}", execution.uuid);
    bench.runtime.submit(execution).await.unwrap();

    let deployment = writes.next().await;
    assert_applied_as_myelin(
        &deployment,
        &format!("/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{name}"),
    );
    assert!(deployment.body["metadata"].get("ownerReferences").is_none());
    let object = applied(&deployment, "deployment-uid");
    deployment.respond(200, &object);

    let owned = writes.next().await;
    assert_applied_as_myelin(
        &owned,
        &format!("/api/v1/namespaces/{NAMESPACE}/services/{name}"),
    );
    assert_eq!(
        owned.body["metadata"]["ownerReferences"],
        serde_json::json!([{
            "apiVersion": "apps/v1", "kind": "Deployment", "name": name,
            "uid": "deployment-uid", "controller": true, "blockOwnerDeletion": true,
        }])
    );
    let object = applied(&owned, "service-uid");
    owned.respond(200, &object);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_the_cluster_refuses_fails_with_the_cluster_s_words() {
    let bench = Bench::new("scripted-refused", Kind::Scripted, 2).await;
    let mut writes = Writes::serve(bench.api.lock().unwrap().take().unwrap());
    let uuid = bench.submit(&job("echo hi")).await;
    let apply = writes.next().await;
    let forbidden = serde_json::json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "jobs.batch is forbidden: User \"system:serviceaccount:myelin:myelin\" cannot patch resource \"jobs\"",
        "reason": "Forbidden", "code": 403,
    });
    apply.respond(403, &forbidden);
    assert_eq!(bench.ended(&uuid).await, Status::Failed);
    let last = bench.conditions(&uuid).await.pop().unwrap();
    assert_eq!(last.1, "SubmissionRefused");
    assert!(
        last.2.contains("cannot patch resource \"jobs\" (403)"),
        "{}",
        last.2
    );
}

/// Each behaviour above, once per runtime.
macro_rules! on_every_runtime {
    ($($behaviour:ident),* $(,)?) => {
        mod process {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $behaviour() {
                    super::$behaviour(super::Kind::Process).await;
                }
            )*
        }
        mod kubernetes {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $behaviour() {
                    super::$behaviour(super::Kind::Kubernetes).await;
                }
            )*
        }
    };
}

on_every_runtime!(
    a_job_runs_to_success_with_every_status_in_order_and_its_logs,
    the_run_sees_polyaxon_s_environment_and_its_own_folders,
    a_failing_job_fails_with_its_exit_code,
    a_missing_program_fails_with_a_reason,
    stop_ends_the_whole_process_group,
    a_job_past_its_timeout_fails_with_deadline_exceeded,
    a_failed_attempt_is_retried_up_to_max_retries,
    a_job_failing_every_attempt_fails_with_its_last_attempt_s_exit_code,
    a_command_runs_inside_a_running_run,
    a_shell_on_a_terminal_takes_its_size_and_ends_with_its_exit_code,
    ctrl_c_on_a_terminal_interrupts_its_command_and_the_shell_lives_until_the_run_ends,
    a_service_answers_through_the_runtime_s_proxy,
);
