//! The fake cluster's controllers and node: Jobs get pods (again after a failure and a
//! back-off while their backoff limit allows, and none past their deadline), finished Jobs go
//! `ttlSecondsAfterFinished` later, Deployments get a pod and become available once it runs, and every pod's containers run as local processes in a folder of
//! their own, with the pod's environment (downward-API fields resolved), their output kept as
//! the containers' logs. Deleting a pod kills its processes, exec sessions included.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::{IntoResponse, Response};
use backend::runtime::ExecSession;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::{Value as Json, json};
use tokio::io::{AsyncBufReadExt as _, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, watch};

use super::{Change, Cluster, now};

const NODE: &str = "fake-node";
const POD_IP: &str = "10.0.0.2";
const PODS: &str = "v1/pods";
const JOBS: &str = "batch/v1/jobs";
const DEPLOYMENTS: &str = "apps/v1/deployments";

/// One container's log: its lines so far, and whether it ended.
#[derive(Default)]
struct Log {
    /// Each line with when it was printed.
    lines: Mutex<(Vec<(String, String)>, bool)>,
    changed: watch::Sender<usize>,
}

impl Log {
    fn push(&self, line: String) {
        let mut log = self.lines.lock().unwrap();
        log.0.push((now(), line));
        self.changed.send_replace(log.0.len());
    }

    fn close(&self) {
        self.lines.lock().unwrap().1 = true;
        self.changed.send_modify(|_| {});
    }
}

/// A container that started: its environment, its process group and its log.
struct Container {
    env: Vec<(String, String)>,
    group: Option<i32>,
    running: bool,
    log: Arc<Log>,
}

/// A pod on the node.
struct Pod {
    folder: PathBuf,
    containers: HashMap<String, Container>,
    /// Told when the pod is deleted.
    deleted: watch::Sender<bool>,
}

/// The node: the pods it runs.
pub struct Kubelet {
    root: PathBuf,
    pods: Mutex<HashMap<(String, String), Pod>>,
}

impl Kubelet {
    pub fn new(root: PathBuf) -> Self {
        Self {
            root,
            pods: Mutex::new(HashMap::new()),
        }
    }

    fn pods(&self) -> MutexGuard<'_, HashMap<(String, String), Pod>> {
        self.pods
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Kills every process of every pod (the server is going away).
    pub fn stop_all(&self) {
        for pod in self.pods().values() {
            kill(pod);
        }
    }

    /// A container's log, whole or followed until the container ends.
    pub fn logs(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        follow: bool,
        timestamps: bool,
    ) -> Result<Response, String> {
        let log = self
            .pods()
            .get(&(namespace.to_owned(), pod.to_owned()))
            .and_then(|pod| pod.containers.get(container))
            .map(|container| Arc::clone(&container.log))
            .ok_or_else(|| {
                format!("container \"{container}\" in pod \"{pod}\" is waiting to start: ContainerCreating")
            })?;
        let (lines, receiver) = mpsc::channel::<Result<Bytes, std::convert::Infallible>>(64);
        let mut changed = log.changed.subscribe();
        tokio::spawn(async move {
            let mut sent = 0;
            loop {
                let (batch, ended) = {
                    let log = log.lines.lock().unwrap();
                    (log.0[sent..].to_vec(), log.1)
                };
                sent += batch.len();
                for (printed, line) in batch {
                    let line = if timestamps {
                        format!("{printed} {line}\n")
                    } else {
                        format!("{line}\n")
                    };
                    if lines.send(Ok(Bytes::from(line))).await.is_err() {
                        return;
                    }
                }
                if ended || !follow || changed.changed().await.is_err() {
                    return;
                }
            }
        });
        Ok(Body::from_stream(super::tokio_stream_of(receiver)).into_response())
    }

    /// Starts `command` in a running container of a pod, on a terminal of its own when `tty`
    /// (as Myelin's process runtime does it).
    pub fn exec(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        command: &[String],
        tty: bool,
    ) -> Result<ExecSession, String> {
        let pods = self.pods();
        let pod_state = pods
            .get(&(namespace.to_owned(), pod.to_owned()))
            .ok_or_else(|| format!("pod {pod} is not running"))?;
        let running = pod_state
            .containers
            .get(container)
            .filter(|container| container.running)
            .ok_or_else(|| format!("container {container} is not valid for pod {pod}"))?;
        let (program, args) = command
            .split_first()
            .ok_or("you must specify at least one command for the container")?;
        let not_started = |error| format!("exec: \"{program}\": {error}");
        let prepare = |process: &mut Command| {
            process
                .envs(running.env.iter().map(|(k, v)| (k, v)))
                .current_dir(&pod_state.folder);
        };
        if tty {
            // A terminal's session is no member of the container's process group: it goes when
            // the pod is deleted.
            let mut deleted = pod_state.deleted.subscribe();
            let deleted = async move {
                let _ = deleted.wait_for(|deleted| *deleted).await;
            };
            return backend::runtime::pty::exec(command, prepare, deleted).map_err(not_started);
        }
        let mut process = Command::new(program);
        prepare(&mut process);
        process
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        if let Some(group) = running.group {
            process.process_group(group);
        }
        let child = process.spawn().map_err(not_started)?;
        ExecSession::piped(child).ok_or_else(|| "exec: the command has no pipes".to_owned())
    }
}

fn kill(pod: &Pod) {
    let _ = pod.deleted.send(true);
    for container in pod.containers.values() {
        if let Some(group) = container.group {
            let _ = killpg(Pid::from_raw(group), Signal::SIGKILL);
        }
    }
}

/// Plays the controllers: reacts to every change of the cluster, in order.
pub async fn control(cluster: Arc<Cluster>, mut changes: mpsc::UnboundedReceiver<Change>) {
    // Pods whose end the Job controller has counted.
    let mut counted: HashSet<String> = HashSet::new();
    let mut ttl = TtlController::default();
    while let Some(change) = changes.recv().await {
        let namespace = change.namespace.clone();
        let name = text(&change.object, "/metadata/name");
        if change.resource == JOBS && change.kind != "DELETED" {
            ttl.saw(&cluster, &change.object);
        }
        match (change.resource.as_str(), change.kind) {
            (JOBS, "ADDED") => {
                let deadline = change
                    .object
                    .pointer("/spec/activeDeadlineSeconds")
                    .and_then(Json::as_u64);
                cluster.update(JOBS, &namespace, &name, |job| {
                    job["status"] = json!({"active": 1, "startTime": now()});
                });
                create_pod(&cluster, &change.object, "Never");
                if let Some(seconds) = deadline {
                    tokio::spawn(past_deadline(
                        Arc::clone(&cluster),
                        namespace,
                        name,
                        seconds,
                    ));
                }
            }
            (DEPLOYMENTS, "ADDED") => {
                create_pod(&cluster, &change.object, "Always");
            }
            (PODS, "ADDED") => {
                tokio::spawn(run_pod(Arc::clone(&cluster), change.object));
            }
            (PODS, "DELETED") => {
                if let Some(pod) = cluster.kubelet.pods().remove(&(namespace, name)) {
                    kill(&pod);
                }
            }
            (PODS, "MODIFIED") => {
                let phase = text(&change.object, "/status/phase");
                let owner = change
                    .object
                    .pointer("/metadata/ownerReferences/0")
                    .cloned()
                    .unwrap_or_default();
                let owner_name = text(&owner, "/name");
                match (text(&owner, "/kind").as_str(), phase.as_str()) {
                    ("Job", "Succeeded" | "Failed") if counted.insert(name.clone()) => {
                        pod_ended(&cluster, &namespace, &owner_name, phase == "Succeeded");
                    }
                    ("Deployment", "Running") => {
                        cluster.update(DEPLOYMENTS, &namespace, &owner_name, |deployment| {
                            deployment["status"] = json!({
                                "replicas": 1, "readyReplicas": 1, "availableReplicas": 1,
                                "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}],
                            });
                        });
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
}

fn text(value: &Json, pointer: &str) -> String {
    value
        .pointer(pointer)
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// A new pod of a Job or Deployment, from its template.
fn create_pod(cluster: &Cluster, owner: &Json, restart: &str) {
    let owner_name = text(owner, "/metadata/name");
    let namespace = text(owner, "/metadata/namespace");
    let template = owner.pointer("/spec/template").cloned().unwrap_or_default();
    let mut labels = template
        .pointer("/metadata/labels")
        .cloned()
        .unwrap_or_else(|| json!({}));
    labels["job-name"] = json!(owner_name);
    let mut spec = template.get("spec").cloned().unwrap_or_default();
    spec["nodeName"] = json!(NODE);
    if spec.get("restartPolicy").is_none() {
        spec["restartPolicy"] = json!(restart);
    }
    let pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": format!("{owner_name}-{}", cluster.random_suffix()),
            "labels": labels,
            "annotations": template.pointer("/metadata/annotations").cloned().unwrap_or_else(|| json!({})),
            "ownerReferences": [{
                "apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner_name,
                "uid": owner.pointer("/metadata/uid"), "controller": true,
            }],
        },
        "spec": spec,
        "status": {"phase": "Pending"},
    });
    cluster.create(PODS, &namespace, pod);
}

/// The TTL-after-finished controller: a finished Job with `ttlSecondsAfterFinished` is deleted
/// that long after it finished, its pods first (foreground), as the real one does.
#[derive(Default)]
struct TtlController {
    /// When each Job (by uid) was first seen finished.
    finished: HashMap<String, tokio::time::Instant>,
    /// The Jobs whose deletion is due.
    expiring: HashSet<String>,
}

impl TtlController {
    fn saw(&mut self, cluster: &Arc<Cluster>, job: &Json) {
        let finished = job
            .pointer("/status/conditions")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .any(|condition| {
                matches!(condition["type"].as_str(), Some("Complete" | "Failed"))
                    && condition["status"] == "True"
            });
        if !finished {
            return;
        }
        let uid = text(job, "/metadata/uid");
        let finished_at = *self
            .finished
            .entry(uid.clone())
            .or_insert_with(tokio::time::Instant::now);
        let Some(seconds) = job
            .pointer("/spec/ttlSecondsAfterFinished")
            .and_then(Json::as_u64)
        else {
            return;
        };
        if job.pointer("/metadata/deletionTimestamp").is_some()
            || !self.expiring.insert(uid.clone())
        {
            return;
        }
        let (cluster, namespace, name) = (
            Arc::clone(cluster),
            text(job, "/metadata/namespace"),
            text(job, "/metadata/name"),
        );
        tokio::spawn(async move {
            tokio::time::sleep_until(finished_at + Duration::from_secs(seconds)).await;
            let same = cluster
                .get(JOBS, &namespace, &name)
                .is_some_and(|job| text(&job, "/metadata/uid") == uid);
            if same {
                cluster.delete(JOBS, &namespace, &name, super::Propagation::Foreground);
            }
        });
    }
}

/// How long the Job controller waits before it makes a failed pod's next attempt: a tenth of a
/// real one's first back-off (10 s), but enough that attempts are created in different seconds,
/// as on a real cluster, where creation times have whole seconds.
const RETRY_BACKOFF: Duration = Duration::from_secs(1);

/// The Job controller's part when one of a Job's pods ends.
fn pod_ended(cluster: &Arc<Cluster>, namespace: &str, job: &str, succeeded: bool) {
    let Some(object) = cluster.get(JOBS, namespace, job) else {
        return;
    };
    if object.pointer("/status/conditions").is_some() {
        return;
    }
    if succeeded {
        cluster.update(JOBS, namespace, job, |job| {
            let status = &mut job["status"];
            status["succeeded"] = json!(1);
            status["active"] = json!(0);
            status["completionTime"] = json!(now());
            status["conditions"] = json!([
                {"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached"},
                {"type": "Complete", "status": "True", "reason": "CompletionsReached"},
            ]);
        });
        return;
    }
    let failed = object
        .pointer("/status/failed")
        .and_then(Json::as_u64)
        .unwrap_or(0)
        + 1;
    let limit = object
        .pointer("/spec/backoffLimit")
        .and_then(Json::as_u64)
        .unwrap_or(6);
    let retry = failed <= limit;
    let updated = cluster.update(JOBS, namespace, job, |job| {
        let status = &mut job["status"];
        status["failed"] = json!(failed);
        status["active"] = json!(u64::from(retry));
        if !retry {
            status["conditions"] = json!([{
                "type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                "message": "Job has reached the specified backoff limit",
            }]);
        }
    });
    if retry && updated.is_some() {
        let (cluster, namespace, job) = (Arc::clone(cluster), namespace.to_owned(), job.to_owned());
        tokio::spawn(async move {
            tokio::time::sleep(RETRY_BACKOFF).await;
            if let Some(job) = cluster.get(JOBS, &namespace, &job) {
                create_pod(&cluster, &job, "Never");
            }
        });
    }
}

/// Fails a Job still running after its deadline, deleting its pods.
async fn past_deadline(cluster: Arc<Cluster>, namespace: String, job: String, seconds: u64) {
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let Some(object) = cluster.get(JOBS, &namespace, &job) else {
        return;
    };
    if object.pointer("/status/conditions").is_some() {
        return;
    }
    let uid = object.pointer("/metadata/uid").cloned();
    for pod in cluster.list(PODS, &namespace, &super::Selector::default()) {
        if pod.pointer("/metadata/ownerReferences/0/uid") == uid.as_ref() {
            cluster.delete(
                PODS,
                &namespace,
                &text(&pod, "/metadata/name"),
                super::Propagation::Background,
            );
        }
    }
    cluster.update(JOBS, &namespace, &job, |job| {
        job["status"]["active"] = json!(0);
        job["status"]["conditions"] = json!([{
            "type": "Failed", "status": "True", "reason": "DeadlineExceeded",
            "message": "Job was active longer than specified deadline",
        }]);
    });
}

/// The environment of a container of `pod`: values, and the downward API's fields.
fn environment(pod: &Json, container: &Json) -> Vec<(String, String)> {
    let field = |path: &str| match path {
        "metadata.name" => Some(text(pod, "/metadata/name")),
        "metadata.namespace" => Some(text(pod, "/metadata/namespace")),
        "metadata.uid" => Some(text(pod, "/metadata/uid")),
        "spec.nodeName" => Some(NODE.to_owned()),
        "status.podIP" | "status.hostIP" => Some(POD_IP.to_owned()),
        _ => None,
    };
    container
        .get("env")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .filter_map(|variable| {
            let name = variable.get("name")?.as_str()?.to_owned();
            let value = match variable.get("value") {
                Some(value) => value.as_str()?.to_owned(),
                None => field(
                    variable
                        .pointer("/valueFrom/fieldRef/fieldPath")?
                        .as_str()?,
                )?,
            };
            Some((name, value))
        })
        .collect()
}

/// Runs a pod: its init containers one after the other, then its containers together; its
/// status follows.
async fn run_pod(cluster: Arc<Cluster>, pod: Json) {
    let namespace = text(&pod, "/metadata/namespace");
    let name = text(&pod, "/metadata/name");
    let key = (namespace.clone(), name.clone());
    let folder = super::pod_folder(&cluster.kubelet.root, &namespace, &name);
    std::fs::create_dir_all(&folder).unwrap();
    let (deleted, mut on_delete) = watch::channel(false);
    cluster.kubelet.pods().insert(
        key.clone(),
        Pod {
            folder: folder.clone(),
            containers: HashMap::new(),
            deleted,
        },
    );
    let containers: Vec<Json> = pod
        .pointer("/spec/containers")
        .and_then(Json::as_array)
        .cloned()
        .unwrap_or_default();
    let init: Vec<Json> = pod
        .pointer("/spec/initContainers")
        .and_then(Json::as_array)
        .cloned()
        .unwrap_or_default();
    let waiting = |list: &[Json]| -> Vec<Json> {
        list.iter()
            .map(|c| json!({"name": c["name"], "ready": false, "restartCount": 0, "image": c["image"], "state": {"waiting": {"reason": "ContainerCreating"}}}))
            .collect()
    };
    let mut status = json!({
        "phase": "Pending", "hostIP": POD_IP, "podIP": POD_IP, "startTime": now(),
        "conditions": [{"type": "PodScheduled", "status": "True"}],
        "initContainerStatuses": waiting(&init),
        "containerStatuses": waiting(&containers),
    });
    if init.is_empty() {
        status
            .as_object_mut()
            .unwrap()
            .remove("initContainerStatuses");
    }
    let set_status = |status: &Json| {
        cluster
            .update(PODS, &namespace, &name, |pod| {
                pod["status"] = status.clone()
            })
            .is_some()
    };
    if !set_status(&status) {
        return;
    }
    for (index, container) in init.iter().enumerate() {
        let mut started = start(&cluster, &key, &pod, container, &folder);
        status["initContainerStatuses"][index]["state"] = json!({"running": {"startedAt": now()}});
        if !set_status(&status) {
            return;
        }
        let Some(terminated) = finish(&mut started, &mut on_delete).await else {
            return;
        };
        let failed = terminated["exitCode"] != json!(0);
        status["initContainerStatuses"][index]["state"] = json!({"terminated": terminated});
        if failed {
            status["phase"] = json!("Failed");
            set_status(&status);
            return;
        }
    }
    let mut running = Vec::new();
    for (index, container) in containers.iter().enumerate() {
        running.push(start(&cluster, &key, &pod, container, &folder));
        status["containerStatuses"][index]["state"] = json!({"running": {"startedAt": now()}});
        status["containerStatuses"][index]["ready"] = json!(true);
    }
    status["phase"] = json!("Running");
    status["conditions"] =
        json!([{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "True"}]);
    if !set_status(&status) {
        return;
    }
    let mut all_succeeded = true;
    for (index, started) in running.iter_mut().enumerate() {
        let Some(terminated) = finish(started, &mut on_delete).await else {
            return;
        };
        all_succeeded &= terminated["exitCode"] == json!(0);
        status["containerStatuses"][index]["state"] = json!({"terminated": terminated});
        status["containerStatuses"][index]["ready"] = json!(false);
        if let Some(pod) = cluster.kubelet.pods().get_mut(&key)
            && let Some(container) = pod
                .containers
                .get_mut(text(&containers[index], "/name").as_str())
        {
            container.running = false;
        }
    }
    status["phase"] = json!(if all_succeeded { "Succeeded" } else { "Failed" });
    set_status(&status);
}

/// A container's process as it starts: running, or why it could not.
enum Process {
    Running {
        child: Child,
        readers: Vec<tokio::task::JoinHandle<()>>,
        log: Arc<Log>,
    },
    NotStarted(String),
}

fn start(
    cluster: &Cluster,
    key: &(String, String),
    pod: &Json,
    container: &Json,
    folder: &std::path::Path,
) -> Process {
    let name = text(container, "/name");
    let env = environment(pod, container);
    let argv: Vec<String> = ["command", "args"]
        .iter()
        .filter_map(|field| container.get(*field)?.as_array())
        .flatten()
        .filter_map(|part| part.as_str().map(str::to_owned))
        .collect();
    let log = Arc::new(Log::default());
    let register = |group: Option<i32>, running: bool| {
        if let Some(pod) = cluster.kubelet.pods().get_mut(key) {
            pod.containers.insert(
                name.clone(),
                Container {
                    env: env.clone(),
                    group,
                    running,
                    log: Arc::clone(&log),
                },
            );
        }
    };
    let Some((program, args)) = argv.split_first() else {
        register(None, false);
        log.close();
        return Process::NotStarted(
            "the fake kubelet runs only containers with a command".to_owned(),
        );
    };
    let spawned = Command::new(program)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(folder)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(_) => {
            register(None, false);
            log.close();
            return Process::NotStarted(format!(
                "exec: \"{program}\": executable file not found in $PATH"
            ));
        }
    };
    register(child.id().and_then(|id| i32::try_from(id).ok()), true);
    let readers = [
        child
            .stdout
            .take()
            .map(|out| Box::new(out) as Box<dyn AsyncRead + Send + Unpin>),
        child
            .stderr
            .take()
            .map(|err| Box::new(err) as Box<dyn AsyncRead + Send + Unpin>),
    ]
    .into_iter()
    .flatten()
    .map(|stream| {
        let log = Arc::clone(&log);
        tokio::spawn(async move {
            let mut lines = BufReader::new(stream).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                log.push(line);
            }
        })
    })
    .collect();
    Process::Running {
        child,
        readers,
        log,
    }
}

/// Waits for a container to end: its `terminated` state, or `None` when its pod was deleted.
async fn finish(process: &mut Process, on_delete: &mut watch::Receiver<bool>) -> Option<Json> {
    let (child, readers, log) = match process {
        Process::NotStarted(message) => {
            return Some(
                json!({"exitCode": 128, "reason": "StartError", "message": message, "finishedAt": now()}),
            );
        }
        Process::Running {
            child,
            readers,
            log,
        } => (child, readers, log),
    };
    let exit = tokio::select! {
        exit = child.wait() => exit.ok(),
        _ = on_delete.wait_for(|deleted| *deleted) => None,
    };
    for reader in readers.drain(..) {
        let _ = reader.await;
    }
    log.close();
    let exit = exit?;
    if *on_delete.borrow() {
        return None;
    }
    let code = exit.code().unwrap_or(137);
    let reason = if code == 0 { "Completed" } else { "Error" };
    Some(json!({"exitCode": code, "reason": reason, "finishedAt": now()}))
}
