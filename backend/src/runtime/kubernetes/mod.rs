//! The Kubernetes runtime: a run is the native objects `shared` expands its Polyaxon resource
//! into, applied to one namespace and watched. No Polyaxon operator is needed; distributed kinds
//! need the operator that runs them (Kubeflow's training operator, the Dask operator, KubeRay).
//!
//! - **Submit**: server-side apply of every object under the field manager [`FIELD_MANAGER`],
//!   the first one (the workload) owning the rest, so deleting it deletes them all. A kind the
//!   cluster does not serve is refused saying which operator would install it; when an object
//!   is refused, the workload applied before it is deleted, so nothing of a failed run starts.
//! - **Watch**: the workload (by name) and the run's pods (by the uuid label); what they say
//!   becomes a status through [`status::observe`], judged only on whole lists of both (the
//!   workload listed before its pods would read as a run starting). A watch the API server
//!   cannot resume (`410 Gone`, after it restarted) lists again, and what the new list lacks
//!   went unseen: a workload missing from it was deleted. A restarted server takes a run up
//!   where its statuses are: a running run is not reported starting again. Containers'
//!   logs are followed into the run's archive as they start ([`logs`]); the final status is
//!   reported once they are in.
//! - **Hold**: the workload carries Myelin's [`FINALIZER`] and none of the time after which the
//!   cluster deletes a finished one (a Job's `ttlSecondsAfterFinished`), so nothing of a run
//!   ends unseen, whether or not a server watches. Once its final status is recorded and its
//!   last lines archived, the finalizer comes off and that time is put back: the cluster
//!   cleans up as it would have. A workload someone else deletes is let go at once, and the
//!   run fails `Deleted` once it has gone.
//! - **Stop**: delete the workload with background propagation and take the finalizer off;
//!   `stopped` once it is gone, at once if it was gone already.
//! - **Exec**: the pod exec WebSocket of the run's running pod, main container, with a tty and
//!   its resizes when the session asks for a terminal.
//!
//! This is the only module that talks to a cluster (and imports `kube`).

pub mod kinds;
mod logs;
pub mod status;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, Response};
use futures_util::{SinkExt as _, StreamExt as _};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status as ExecStatus;
use kube::Client;
use kube::api::{Api, AttachParams, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::runtime::WatchStreamExt as _;
use kube::runtime::watcher::{self, Event};
use serde_json::{Value as Json, json};
use shared::api::Status;
use tokio::io::{AsyncRead, AsyncWriteExt as _};
use tokio::sync::watch;

use self::kinds::Kind;
use self::logs::Followers;
use super::{
    ExecSession, ExecTarget, Execution, PodContainers, Reporter, Runtime, RuntimeError, StopCause,
    TerminalSize,
};

/// Who applies the runs' objects, as the cluster's managed fields record it.
pub const FIELD_MANAGER: &str = "myelin";
/// Myelin's finalizer on a run's workload: the cluster keeps the workload, and with it how the
/// run ended, until Myelin has recorded that and archived the run's last lines.
pub const FINALIZER: &str = "myelin.polyaxon.com/run-archive";
/// How many times letting go of a workload that keeps changing is tried.
const RELEASE_TRIES: usize = 5;
/// The longest wait between tries to let go of a finished run's workload while the cluster
/// cannot be reached; after it, the workload stays held until the run is deleted.
const RELEASE_PATIENCE: Duration = Duration::from_secs(64);
/// The label every object and pod of a run carries, with the run's uuid.
const UUID_LABEL: &str = "operation.polyaxon.com/uuid";
/// The containers a command goes into unless told otherwise, as the polyaxon CLI picks them.
const MAIN_CONTAINERS: [&str; 3] = [shared::convert::MAIN_CONTAINER, "tensorflow", "pytorch"];
/// The kinds that can be a run's workload, the owner of its other objects.
const WORKLOADS: [&str; 7] = [
    "Job",
    "Deployment",
    "TFJob",
    "PyTorchJob",
    "MPIJob",
    "DaskCluster",
    "RayCluster",
];
/// How long a stopped run's workload may take to go before the run counts as stopped anyway.
const STOP_WAIT: Duration = Duration::from_secs(60);
const REASON: &str = "KubernetesRuntime";
/// The largest request body sent on to a service (kube sends bodies whole).
const PROXIED_BODY_LIMIT: usize = 64 * 1024 * 1024;

/// Runs as native objects in one namespace of a cluster.
#[derive(Clone)]
pub struct KubernetesRuntime {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for KubernetesRuntime {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("KubernetesRuntime")
            .field("namespace", &self.inner.namespace)
            .finish_non_exhaustive()
    }
}

struct Inner {
    client: Client,
    proxy_client: Client,
    namespace: String,
    reporter: Reporter,
    /// The runs being watched, by uuid.
    active: Mutex<HashMap<String, Watched>>,
}

struct Watched {
    workload: Workload,
    /// The ports a service run's Service exposes.
    ports: Vec<u16>,
    /// Tells the run's watch that the run is being stopped.
    stop: watch::Sender<Stop>,
}

/// What a run's watch is told of its stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// Nobody asked.
    No,
    /// Asked: its workload is being deleted.
    Asked(StopCause),
    /// Asked, and its workload was gone already: no watch will see it go.
    Gone(StopCause),
}

impl Stop {
    /// Why it was asked to stop, if it was.
    fn cause(self) -> Option<StopCause> {
        match self {
            Self::No => None,
            Self::Asked(cause) | Self::Gone(cause) => Some(cause),
        }
    }
}

/// A run's workload: the object that owns the rest.
#[derive(Debug, Clone)]
struct Workload {
    kind: Kind,
    name: String,
    /// How long the cluster is to keep it once finished (`ttlSecondsAfterFinished`), which
    /// Myelin holds back until it has recorded the end.
    ttl: Option<Json>,
}

impl Workload {
    fn of(objects: &[Json]) -> Result<Self, String> {
        let first = objects.first().ok_or("the resource expands to no object")?;
        let kind = Kind::of(first)
            .filter(|kind| WORKLOADS.contains(&kind.kind))
            .ok_or("the resource's first object is not a workload Myelin knows")?;
        let name = first
            .pointer("/metadata/name")
            .and_then(Json::as_str)
            .ok_or("the workload has no name")?;
        let ttl = kind
            .ttl()
            .and_then(|pointer| first.pointer(pointer))
            .cloned();
        Ok(Self {
            kind,
            name: name.to_owned(),
            ttl,
        })
    }

    /// Myelin's hold on a workload about to be applied: its finalizer, and no time after
    /// which the cluster deletes it once finished, so nothing of the run goes unseen.
    fn hold(object: &mut Json, kind: &Kind) {
        object["metadata"]["finalizers"] = json!([FINALIZER]);
        if let Some((parent, field)) = kind.ttl().and_then(|pointer| pointer.rsplit_once('/'))
            && let Some(fields) = object.pointer_mut(parent).and_then(Json::as_object_mut)
        {
            fields.remove(field);
        }
    }

    fn describe(&self) -> String {
        format!("{} {}", self.kind.kind, self.name)
    }
}

/// The cluster and namespace runs go to.
pub struct KubernetesTarget {
    client: Client,
    /// The client service pages go through: one that does not retry.
    proxy_client: Client,
    namespace: String,
}

impl KubernetesTarget {
    /// Runs in `namespace` of the cluster `client` talks to, service pages included. kube's
    /// clients made from a configuration retry answers `503` for minutes, and the API server
    /// answers a service without a ready pod with one: [`Self::from_config`] makes a client
    /// for pages that does not.
    pub fn new(client: Client, namespace: &str) -> Self {
        Self {
            proxy_client: client.clone(),
            client,
            namespace: namespace.to_owned(),
        }
    }

    /// Runs in `namespace` of the cluster `config` describes.
    pub fn from_config(config: kube::Config, namespace: &str) -> Result<Self, String> {
        let client = |config: kube::Config| {
            Client::try_from(config)
                .map_err(|error| format!("cannot make a Kubernetes client: {error}"))
        };
        // A service that is starting has no endpoints: the API server says so with a 503,
        // which the page's visitor is to see at once, not after six minutes of retries.
        let mut without_retries = config.clone();
        without_retries.default_retry = false;
        let proxy_client = client(without_retries)?;
        Ok(Self {
            client: client(config)?,
            proxy_client,
            namespace: namespace.to_owned(),
        })
    }

    /// The cluster of the Kubernetes configuration in reach: `KUBECONFIG`, `~/.kube/config`,
    /// or the service account of the pod the server runs in. Runs go to `namespace`, or the
    /// configuration's.
    pub async fn find(namespace: Option<&str>) -> Result<Self, String> {
        let config = kube::Config::infer().await.map_err(|error| {
            format!(
                "no Kubernetes configuration ({error}): set KUBECONFIG, write ~/.kube/config, \
                 or run Myelin in a pod with a service account"
            )
        })?;
        let namespace = namespace.map_or_else(|| config.default_namespace.clone(), str::to_owned);
        Self::from_config(config, &namespace)
    }

    /// The namespace runs go to.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }
}

impl KubernetesRuntime {
    /// A runtime applying runs to `target`, reporting to `reporter`.
    pub fn new(target: KubernetesTarget, reporter: Reporter) -> Self {
        Self {
            inner: Arc::new(Inner {
                client: target.client,
                proxy_client: target.proxy_client,
                namespace: target.namespace,
                reporter,
                active: Mutex::new(HashMap::new()),
            }),
        }
    }
}

impl Inner {
    fn active(&self) -> MutexGuard<'_, HashMap<String, Watched>> {
        self.active
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn report(&self, uuid: &str, status: Status, reason: &str, message: impl Into<String>) {
        // A status the store cannot take yet is kept by the reporter and written later; the
        // run goes on regardless.
        let _ = self.reporter.status(uuid, status, reason, message).await;
    }

    fn api(&self, kind: &Kind) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), &self.namespace, &kind.resource())
    }

    fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Applies `objects` in order, the first (the workload) owning the others. When the cluster
    /// refuses one, what was applied before it is deleted, so nothing of a refused run starts.
    async fn apply(&self, workload: &Workload, objects: Vec<Json>) -> Result<(), String> {
        let mut owner: Option<Json> = None;
        let Err(message) = self.apply_owned(objects, &mut owner).await else {
            return Ok(());
        };
        if owner.is_some()
            && let Err(error) = self.remove(workload).await
        {
            return Err(format!(
                "{message}; what was applied of it could not be removed: {error}"
            ));
        }
        Err(message)
    }

    /// Applies `objects` in order, the first owning the others, and sets `owner` to the
    /// reference they carry once the first is applied.
    async fn apply_owned(
        &self,
        objects: Vec<Json>,
        owner: &mut Option<Json>,
    ) -> Result<(), String> {
        let params = PatchParams::apply(FIELD_MANAGER).force();
        for mut object in objects {
            let kind = Kind::of(&object).ok_or("the resource expands to an unknown kind")?;
            let name = object
                .pointer("/metadata/name")
                .and_then(Json::as_str)
                .ok_or("an object has no name")?
                .to_owned();
            object["metadata"]["namespace"] = json!(self.namespace);
            match owner.as_ref() {
                Some(owner) => object["metadata"]["ownerReferences"] = json!([owner]),
                None => Workload::hold(&mut object, &kind),
            }
            let applied = self
                .api(&kind)
                .patch(&name, &params, &Patch::Apply(&object))
                .await
                .map_err(|error| {
                    if is_unserved(&error) {
                        kind.missing()
                    } else {
                        refusal(&error, &format!("{} {name}", kind.kind))
                    }
                })?;
            if owner.is_none() {
                *owner = Some(json!({
                    "apiVersion": kind.api_version,
                    "kind": kind.kind,
                    "name": name,
                    "uid": applied.metadata.uid,
                    "controller": true,
                    "blockOwnerDeletion": true,
                }));
            }
        }
        Ok(())
    }

    /// Deletes a run's workload, with what it owns, letting go of it; whether it was there.
    async fn remove(&self, workload: &Workload) -> Result<bool, String> {
        match self
            .api(&workload.kind)
            .delete(&workload.name, &DeleteParams::background())
            .await
        {
            // Still there: being deleted, held by a finalizer (Myelin's, which now goes).
            Ok(deleted) => {
                self.release(workload, deleted.left()).await?;
                Ok(true)
            }
            Err(kube::Error::Api(status)) if status.is_not_found() => Ok(false),
            Err(error) => Err(refusal(&error, &workload.describe())),
        }
    }

    /// Takes Myelin's finalizer off a run's workload (`known` as last read, if it was), once
    /// the run's end is recorded; a workload that is not being deleted gets back the time the
    /// cluster keeps it once finished, so the cluster cleans up after it as it would have.
    async fn release(
        &self,
        workload: &Workload,
        known: Option<DynamicObject>,
    ) -> Result<(), String> {
        let api = self.api(&workload.kind);
        let mut known = known;
        for _ in 0..RELEASE_TRIES {
            let object = match known.take() {
                Some(object) => object,
                None => match api.get_opt(&workload.name).await {
                    Ok(Some(object)) => object,
                    Ok(None) => return Ok(()),
                    Err(error) => return Err(refusal(&error, &workload.describe())),
                },
            };
            let finalizers = object.metadata.finalizers.unwrap_or_default();
            if !finalizers.iter().any(|finalizer| finalizer == FINALIZER) {
                return Ok(());
            }
            let others: Vec<&String> = finalizers
                .iter()
                .filter(|finalizer| *finalizer != FINALIZER)
                .collect();
            // The version makes it a compare-and-swap: finalizers another controller adds
            // meanwhile are not lost.
            let mut patch = json!({"metadata": {
                "finalizers": others,
                "resourceVersion": object.metadata.resource_version,
            }});
            if object.metadata.deletion_timestamp.is_none()
                && let (Some(pointer), Some(ttl)) = (workload.kind.ttl(), &workload.ttl)
            {
                let mut field = &mut patch;
                for step in pointer.trim_start_matches('/').split('/') {
                    field = &mut field[step];
                }
                *field = ttl.clone();
            }
            match api
                .patch(
                    &workload.name,
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await
            {
                Ok(_) => return Ok(()),
                Err(kube::Error::Api(status)) if status.is_not_found() => return Ok(()),
                Err(kube::Error::Api(status)) if status.code == 409 => {}
                Err(error) => return Err(refusal(&error, &workload.describe())),
            }
        }
        Err(format!(
            "the {} kept changing while Myelin let go of it",
            workload.describe()
        ))
    }

    /// Stops a watched run: its watch is told, and its workload deleted.
    async fn stop(&self, uuid: &str, workload: &Workload, cause: StopCause) -> Result<(), String> {
        let tell = |stop: Stop| {
            if let Some(watched) = self.active().get(uuid) {
                watched.stop.send_replace(stop);
            }
        };
        tell(Stop::Asked(cause));
        if !self.remove(workload).await? {
            tell(Stop::Gone(cause));
        }
        Ok(())
    }

    /// Applies (unless `applied`) and watches a run until it ends.
    async fn run(
        self: Arc<Self>,
        uuid: String,
        workload: Workload,
        objects: Option<Vec<Json>>,
        followers: Followers,
        passed: Passed,
        stop: watch::Receiver<Stop>,
    ) {
        if let Some(objects) = objects {
            if let Err(message) = self.apply(&workload, objects).await {
                self.active().remove(&uuid);
                self.report(&uuid, Status::Failed, "SubmissionRefused", message)
                    .await;
                return;
            }
            let message = format!(
                "Run's objects are submitted to namespace {}",
                self.namespace
            );
            self.report(&uuid, Status::Scheduled, REASON, message).await;
        }
        if *stop.borrow() != Stop::No {
            // Stopped while its objects were being applied: the stop's delete may have come
            // first.
            let _ = self.remove(&workload).await;
        }
        let (status, reason, message) = self.watch(&uuid, &workload, followers, passed, stop).await;
        self.active().remove(&uuid);
        self.report(&uuid, status, &reason, message).await;
        // Its end and its last lines are in: the cluster may have the workload back.
        self.reporter.recorded(&uuid).await;
        let mut wait = Duration::from_secs(1);
        while let Err(error) = self.release(&workload, None).await {
            if wait > RELEASE_PATIENCE {
                tracing::error!(%error, uuid, "cannot let go of a finished run's workload; it stays until the run is deleted");
                break;
            }
            tracing::warn!(%error, uuid, "cannot let go of a finished run's workload yet");
            tokio::time::sleep(wait).await;
            wait *= 2;
        }
    }

    /// Follows a run's workload and pods, reporting what changes, until the run ends; its
    /// final status.
    async fn watch(
        &self,
        uuid: &str,
        workload: &Workload,
        mut followers: Followers,
        mut passed: Passed,
        mut stop: watch::Receiver<Stop>,
    ) -> (Status, String, String) {
        let by_name =
            watcher::Config::default().fields(&format!("metadata.name={}", workload.name));
        let mut workload_events = watcher::watcher(self.api(&workload.kind), by_name)
            .default_backoff()
            .boxed();
        let by_uuid = watcher::Config::default().labels(&format!("{UUID_LABEL}={uuid}"));
        let pods_api = Api::<DynamicObject>::namespaced_with(
            self.client.clone(),
            &self.namespace,
            &kinds::POD.resource(),
        );
        let mut pod_events = watcher::watcher(pods_api, by_uuid)
            .default_backoff()
            .boxed();

        let mut current: Option<Json> = None;
        let mut gone = matches!(*stop.borrow(), Stop::Gone(_));
        let mut pods: BTreeMap<String, Json> = BTreeMap::new();
        let mut last: Option<status::Observed> = None;
        // Judged only on whole lists: the workload alone, before its pods are listed, would
        // read as a run starting again.
        let (mut workload_listed, mut pods_listed) = (false, false);
        // What a list shows while it is under way: the first one, or one after a watch could
        // not resume (the API server forgot the version it was at, `410 Gone`), which replaces
        // all that was known: what went meanwhile is in no event.
        let mut listing: Option<Option<Json>> = None;
        let mut listing_pods: Option<BTreeMap<String, Json>> = None;
        let mut cause = stop.borrow().cause();
        let mut stopping = cause.is_some();
        // Someone else deletes the workload: the run ends as deleted once it has gone.
        let mut deleted = false;
        let deleted_message = || {
            format!(
                "the run's {} was deleted from the cluster",
                workload.describe()
            )
        };
        let stop_deadline = tokio::time::sleep(STOP_WAIT);
        tokio::pin!(stop_deadline);
        let outcome = loop {
            tokio::select! {
                Some(event) = workload_events.next() => match event {
                    Ok(Event::Apply(object)) => current = Some(as_json(object, &workload.kind)),
                    Ok(Event::Delete(_)) => gone = true,
                    Ok(Event::Init) => listing = Some(None),
                    Ok(Event::InitApply(object)) => {
                        listing = Some(Some(as_json(object, &workload.kind)));
                    }
                    Ok(Event::InitDone) => {
                        // Not in the list: it went while nothing watched.
                        current = listing.take().flatten();
                        gone |= current.is_none();
                        workload_listed = true;
                    }
                    Err(error) => tracing::warn!(%error, uuid, "watching a workload"),
                },
                Some(event) = pod_events.next() => match event {
                    Ok(Event::Apply(pod)) => {
                        let name = pod.metadata.name.clone().unwrap_or_default();
                        pods.insert(name, as_json(pod, &kinds::POD));
                    }
                    Ok(Event::Delete(pod)) => {
                        pods.remove(pod.metadata.name.as_deref().unwrap_or_default());
                    }
                    Ok(Event::Init) => listing_pods = Some(BTreeMap::new()),
                    Ok(Event::InitApply(pod)) => {
                        let name = pod.metadata.name.clone().unwrap_or_default();
                        listing_pods
                            .get_or_insert_default()
                            .insert(name, as_json(pod, &kinds::POD));
                    }
                    Ok(Event::InitDone) => {
                        pods = listing_pods.take().unwrap_or_default();
                        pods_listed = true;
                    }
                    Err(error) => tracing::warn!(%error, uuid, "watching a run's pods"),
                },
                Ok(()) = stop.changed() => {
                    let told = *stop.borrow_and_update();
                    if !stopping && told != Stop::No {
                        stopping = true;
                        cause = told.cause();
                        stop_deadline.as_mut().reset(tokio::time::Instant::now() + STOP_WAIT);
                    }
                    gone |= matches!(told, Stop::Gone(_));
                },
                () = &mut stop_deadline, if stopping => {
                    if deleted {
                        break (Status::Failed, "Deleted".to_owned(), deleted_message());
                    }
                    let cause = cause.unwrap_or(StopCause::Asked);
                    break (Status::Stopped, cause.reason(REASON).to_owned(), format!("{}; its {} is still being deleted", cause.stopped(), workload.describe()));
                },
            }
            followers.follow(&pods);
            if gone && (deleted || !stopping) {
                break (Status::Failed, "Deleted".to_owned(), deleted_message());
            }
            if stopping {
                if gone {
                    let cause = cause.unwrap_or(StopCause::Asked);
                    break (
                        Status::Stopped,
                        cause.reason(REASON).to_owned(),
                        cause.stopped(),
                    );
                }
                continue;
            }
            let listed = workload_listed && pods_listed;
            let Some(object) = current
                .as_ref()
                .filter(|_| listed && listing.is_none() && listing_pods.is_none())
            else {
                continue;
            };
            let pod_list: Vec<Json> = pods.values().cloned().collect();
            let observed = status::observe(object, &pod_list);
            if !observed.status.is_done() && object.pointer("/metadata/deletionTimestamp").is_some()
            {
                // Someone deletes it, and Myelin's finalizer holds it: it is let go, so its pods
                // go after it, as for a stop, and their last lines are followed to their end.
                deleted = true;
                stopping = true;
                stop_deadline
                    .as_mut()
                    .reset(tokio::time::Instant::now() + STOP_WAIT);
                if let Err(error) = self.release(workload, None).await {
                    tracing::warn!(%error, uuid, "cannot let go of a deleted workload");
                }
                continue;
            }
            if observed.status.is_done() {
                // The pods' watch may lag the workload's: the workload's end is judged, and
                // its last logs followed, on the pods as they are now.
                if let Some(now) = self.pods_of(uuid).await {
                    pods = now;
                }
                followers.follow(&pods);
                let pod_list: Vec<Json> = pods.values().cloned().collect();
                let observed = status::observe(object, &pod_list);
                let ran = pod_list
                    .iter()
                    .any(|pod| logs::started_containers(pod).next().is_some());
                if ran {
                    self.catch_up(uuid, observed.status, &mut passed).await;
                }
                break (observed.status, observed.reason, observed.message);
            }
            self.catch_up(uuid, observed.status, &mut passed).await;
            if last.as_ref() != Some(&observed) {
                self.report(
                    uuid,
                    observed.status,
                    &observed.reason,
                    observed.message.clone(),
                )
                .await;
                last = Some(observed);
            }
        };
        followers.finish().await;
        outcome
    }

    /// Reports the steps before `next` that the watch did not see, because the cluster moved
    /// faster than it looked: a run that runs was starting; one that ended after it ran was
    /// running.
    async fn catch_up(&self, uuid: &str, next: Status, passed: &mut Passed) {
        if (next == Status::Running || next.is_done()) && !passed.starting {
            self.report(uuid, Status::Starting, "Starting", "").await;
        }
        if next.is_done() && !passed.running {
            self.report(uuid, Status::Running, "Running", "").await;
        }
        passed.starting |= matches!(next, Status::Starting | Status::Running);
        passed.running |= next == Status::Running;
    }

    /// A run's pods by name, as the API lists them now (`None` when it cannot).
    async fn pods_of(&self, uuid: &str) -> Option<BTreeMap<String, Json>> {
        let api = Api::<DynamicObject>::namespaced_with(
            self.client.clone(),
            &self.namespace,
            &kinds::POD.resource(),
        );
        let listed = api
            .list(&ListParams::default().labels(&format!("{UUID_LABEL}={uuid}")))
            .await
            .map_err(|error| tracing::warn!(%error, uuid, "listing a run's pods"))
            .ok()?;
        Some(
            listed
                .items
                .into_iter()
                .map(|pod| {
                    let name = pod.metadata.name.clone().unwrap_or_default();
                    (name, as_json(pod, &kinds::POD))
                })
                .collect(),
        )
    }

    /// A run's running pods and their containers.
    async fn running_pods(&self, uuid: &str) -> Result<Vec<PodContainers>, RuntimeError> {
        let pods = self
            .pods()
            .list(&ListParams::default().labels(&format!("{UUID_LABEL}={uuid}")))
            .await
            .map_err(|error| RuntimeError::Failed(refusal(&error, "the run's pods")))?;
        Ok(pods
            .items
            .into_iter()
            .filter(|pod| {
                pod.status
                    .as_ref()
                    .and_then(|status| status.phase.as_deref())
                    == Some("Running")
            })
            .map(|pod| PodContainers {
                pod: pod.metadata.name.unwrap_or_default(),
                containers: pod
                    .spec
                    .map(|spec| spec.containers.into_iter().map(|c| c.name).collect())
                    .unwrap_or_default(),
            })
            .collect())
    }

    /// The pod and container a command goes into: those asked for, or the first running pod
    /// and its main container.
    async fn exec_target(
        &self,
        uuid: &str,
        target: &ExecTarget,
    ) -> Result<(String, String), RuntimeError> {
        let pods = self.running_pods(uuid).await?;
        let pod = match &target.pod {
            Some(name) => pods.into_iter().find(|pod| &pod.pod == name),
            None => pods.into_iter().next(),
        }
        .ok_or(RuntimeError::NotActive)?;
        let container = match &target.container {
            Some(name) if pod.containers.contains(name) => name.clone(),
            Some(name) => {
                return Err(RuntimeError::Failed(format!(
                    "pod {} has no container `{name}`",
                    pod.pod
                )));
            }
            None => MAIN_CONTAINERS
                .iter()
                .find(|main| pod.containers.iter().any(|name| name == *main))
                .map(|main| (*main).to_owned())
                .or_else(|| pod.containers.first().cloned())
                .ok_or_else(|| RuntimeError::Failed("the run's pod has no container".to_owned()))?,
        };
        Ok((pod.pod, container))
    }

    /// Lines already archived per pod and container, so followers resume after them.
    async fn archived(&self, uuid: &str) -> HashMap<(String, String), usize> {
        let mut counts = HashMap::new();
        let lines = self
            .reporter
            .artifacts()
            .read_logs(uuid, None)
            .await
            .unwrap_or_default();
        for line in lines {
            let key = (
                line.pod.unwrap_or_default(),
                line.container.unwrap_or_default(),
            );
            *counts.entry(key).or_insert(0) += 1;
        }
        counts
    }

    /// Registers a run as watched; the receiver learns when it is stopped.
    fn watched(&self, execution: &Execution, workload: &Workload) -> watch::Receiver<Stop> {
        let (stop, stopped) = watch::channel(Stop::No);
        let ports = execution
            .compiled
            .pointer("/run/ports")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .filter_map(|port| u16::try_from(port.as_u64()?).ok())
            .collect();
        self.active().insert(
            execution.uuid.clone(),
            Watched {
                workload: workload.clone(),
                ports,
                stop,
            },
        );
        stopped
    }
}

/// Which steps of its way a run has been reported at.
#[derive(Debug, Default)]
struct Passed {
    starting: bool,
    running: bool,
}

impl Passed {
    /// The steps a run now in `status` has passed, as a restarted server takes it up: one
    /// that runs is not reported starting again.
    fn at(status: Status) -> Self {
        Self {
            starting: !matches!(
                status,
                Status::Created
                    | Status::Resuming
                    | Status::OnSchedule
                    | Status::Compiled
                    | Status::Queued
                    | Status::Scheduled
                    | Status::Unschedulable
            ),
            running: status == Status::Running,
        }
    }
}

/// An object from the API as JSON, with its kind (which watch events may leave out).
fn as_json(object: DynamicObject, kind: &Kind) -> Json {
    let mut value = serde_json::to_value(object).unwrap_or(Json::Null);
    if let Some(fields) = value.as_object_mut() {
        fields.insert("apiVersion".to_owned(), json!(kind.api_version));
        fields.insert("kind".to_owned(), json!(kind.kind));
    }
    value
}

/// Whether `error` says the cluster does not serve the kind asked about (its CRD is not
/// installed): the API server answers such URLs with a bare `404 page not found`, not with
/// the `NotFound` status of an object that does not exist.
fn is_unserved(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 404 && status.reason != "NotFound")
}

/// What went wrong asking the cluster about `what`, in words.
fn refusal(error: &kube::Error, what: &str) -> String {
    match error {
        kube::Error::Api(status) => format!(
            "the cluster refused {what}: {} ({})",
            status.message, status.code
        ),
        other => format!("cannot reach the cluster about {what}: {other}"),
    }
}

/// Passes an exec session's terminal sizes on to kube's resize channel. Only the latest size
/// matters, so sizes coming faster than the cluster takes them replace each other rather than
/// fill kube's small queue, where the last, the one that counts, could be refused.
fn forward_sizes(
    mut sizes: impl futures_util::Sink<kube::api::TerminalSize> + Send + Unpin + 'static,
) -> Box<dyn FnMut(TerminalSize) + Send> {
    let (latest, mut changed) = watch::channel(TerminalSize::default());
    tokio::spawn(async move {
        while changed.changed().await.is_ok() {
            let TerminalSize { width, height } = *changed.borrow_and_update();
            let size = kube::api::TerminalSize { width, height };
            if sizes.send(size).await.is_err() {
                break;
            }
        }
    });
    Box::new(move |size| {
        latest.send_replace(size);
    })
}

/// The exit code an exec's final status carries (`None` when it has none).
fn exit_code(status: Option<ExecStatus>) -> Option<i32> {
    let status = status?;
    if status.status.as_deref() == Some("Success") {
        return Some(0);
    }
    status
        .details?
        .causes?
        .into_iter()
        .find(|cause| cause.reason.as_deref() == Some("ExitCode"))
        .and_then(|cause| cause.message?.parse().ok())
}

#[async_trait]
impl Runtime for KubernetesRuntime {
    fn name(&self) -> &'static str {
        "kubernetes"
    }

    fn supports(&self, kind: &str) -> Result<(), String> {
        match kind {
            "job" | "service" | "tfjob" | "pytorchjob" | "mpijob" | "daskcluster"
            | "raycluster" => Ok(()),
            other => Err(format!(
                "the kubernetes runtime cannot execute a `{other}` operation"
            )),
        }
    }

    async fn submit(&self, execution: Execution) -> Result<(), RuntimeError> {
        let objects = execution.native().map_err(RuntimeError::Failed)?;
        let workload = Workload::of(&objects).map_err(RuntimeError::Failed)?;
        let inner = &self.inner;
        let stop = inner.watched(&execution, &workload);
        let uuid = execution.uuid;
        inner
            .report(&uuid, Status::Queued, REASON, "Run is queued")
            .await;
        let followers = Followers::new(
            inner.pods(),
            &uuid,
            inner.reporter.artifacts().clone(),
            HashMap::new(),
        );
        tokio::spawn(Arc::clone(inner).run(
            uuid,
            workload,
            Some(objects),
            followers,
            Passed::default(),
            stop,
        ));
        Ok(())
    }

    async fn stop(&self, uuid: &str, cause: StopCause) -> Result<(), RuntimeError> {
        let workload = self
            .inner
            .active()
            .get(uuid)
            .map(|watched| watched.workload.clone())
            .ok_or(RuntimeError::NotActive)?;
        // Recorded before the run's watch is told, so `stopped` cannot come first.
        self.inner
            .report(
                uuid,
                Status::Stopping,
                cause.reason(REASON),
                cause.stopping(),
            )
            .await;
        self.inner
            .stop(uuid, &workload, cause)
            .await
            .map_err(RuntimeError::Failed)
    }

    async fn inspect(&self, uuid: &str) -> Result<Vec<PodContainers>, RuntimeError> {
        if !self.inner.active().contains_key(uuid) {
            return Err(RuntimeError::NotActive);
        }
        self.inner.running_pods(uuid).await
    }

    async fn exec(
        &self,
        uuid: &str,
        target: &ExecTarget,
        command: Vec<String>,
    ) -> Result<ExecSession, RuntimeError> {
        if !self.inner.active().contains_key(uuid) {
            return Err(RuntimeError::NotActive);
        }
        let (pod, container) = self.inner.exec_target(uuid, target).await?;
        // With a terminal the command's errors come with its output, as kubelets send them.
        let params = AttachParams::default()
            .container(&container)
            .stdin(true)
            .stdout(true)
            .stderr(!target.tty)
            .tty(target.tty);
        let mut attached = self
            .inner
            .pods()
            .exec(&pod, command, &params)
            .await
            .map_err(|error| {
                RuntimeError::Failed(refusal(&error, &format!("exec in pod {pod}")))
            })?;
        let (Some(stdin), Some(stdout), Some(status)) =
            (attached.stdin(), attached.stdout(), attached.take_status())
        else {
            return Err(RuntimeError::Failed(
                "the exec session has no streams".to_owned(),
            ));
        };
        let stderr: Box<dyn AsyncRead + Send + Unpin> = match attached.stderr() {
            Some(stderr) => Box::new(stderr),
            None => Box::new(tokio::io::empty()),
        };
        let resize = attached.terminal_size().map(forward_sizes);
        // kube's stdin ends only when shut down; the session's ends when dropped, so a pipe in
        // between shuts kube's down once the caller lets go of its end.
        let (input, mut piped) = tokio::io::duplex(64 * 1024);
        tokio::spawn(async move {
            let mut stdin = stdin;
            let _ = tokio::io::copy(&mut piped, &mut stdin).await;
            let _ = stdin.shutdown().await;
        });
        Ok(ExecSession {
            stdin: Box::new(input),
            stdout: Box::new(stdout),
            stderr,
            resize,
            exit: tokio::spawn(async move {
                let code = exit_code(status.await);
                let _ = attached.join().await;
                code
            }),
        })
    }

    async fn proxy(
        &self,
        uuid: &str,
        port: u16,
        request: Request<Body>,
    ) -> Result<Response<Body>, RuntimeError> {
        // Through the API server's proxy to the run's Service, which has the workload's name.
        // A port the Service lacks is refused here; a Service without a ready pod is the API
        // server's 503, passed on as it comes (the client for pages does not retry).
        let name = self
            .inner
            .active()
            .get(uuid)
            .filter(|watched| watched.ports.contains(&port))
            .map(|watched| watched.workload.name.clone())
            .ok_or(RuntimeError::NotActive)?;
        let base = format!(
            "/api/v1/namespaces/{}/services/{name}:{port}/proxy",
            self.inner.namespace
        );
        let (parts, body) = super::forward_to(request, &base)?.into_parts();
        // kube sends whole bodies: a request is read first, up to a limit.
        let body = axum::body::to_bytes(body, PROXIED_BODY_LIMIT)
            .await
            .map_err(|error| RuntimeError::Failed(format!("cannot read the request: {error}")))?;
        let response = self
            .inner
            .proxy_client
            .send(Request::from_parts(parts, kube::client::Body::from(body)))
            .await
            .map_err(|error| {
                RuntimeError::Failed(refusal(&error, &format!("service port {port}")))
            })?;
        Ok(super::forwarded(response))
    }

    async fn clean(&self, uuid: &str) -> Result<(), RuntimeError> {
        // Found by label, so a run submitted before a restart is cleaned too.
        let selector = ListParams::default().labels(&format!("{UUID_LABEL}={uuid}"));
        for kind in kinds::KINDS
            .iter()
            .filter(|kind| WORKLOADS.contains(&kind.kind))
        {
            let listed = match self.inner.api(kind).list_metadata(&selector).await {
                Ok(listed) => listed,
                // An operator that is not installed has nothing of the run.
                Err(error) if is_unserved(&error) => continue,
                Err(error) => return Err(RuntimeError::Failed(refusal(&error, kind.plural))),
            };
            for object in listed.items {
                let workload = Workload {
                    kind: *kind,
                    name: object.metadata.name.unwrap_or_default(),
                    ttl: None,
                };
                self.inner
                    .remove(&workload)
                    .await
                    .map_err(RuntimeError::Failed)?;
            }
        }
        Ok(())
    }

    async fn recover(&self, execution: Execution) -> Result<(), RuntimeError> {
        if matches!(
            execution.status,
            Status::Created | Status::Compiled | Status::Queued
        ) {
            return self.submit(execution).await;
        }
        let objects = execution.native().map_err(RuntimeError::Failed)?;
        let workload = Workload::of(&objects).map_err(RuntimeError::Failed)?;
        let inner = &self.inner;
        let uuid = execution.uuid.clone();
        let exists = match inner.api(&workload.kind).get_opt(&workload.name).await {
            Ok(found) => found.is_some(),
            Err(error) if is_unserved(&error) => {
                let message = format!(
                    "the run's {} cannot be found: {}",
                    workload.describe(),
                    workload.kind.missing()
                );
                inner.report(&uuid, Status::Failed, "Lost", message).await;
                return Ok(());
            }
            Err(error) => {
                return Err(RuntimeError::Failed(refusal(&error, &workload.describe())));
            }
        };
        // Applied again only if it may never have been: a finished workload the cluster has
        // since removed must not run twice.
        let objects = match (exists, execution.status) {
            (true, _) => None,
            (false, Status::Scheduled) => Some(objects),
            (false, _) => {
                let message = format!(
                    "the run's {} is no longer in the cluster",
                    workload.describe()
                );
                inner.report(&uuid, Status::Failed, "Lost", message).await;
                return Ok(());
            }
        };
        let stop = inner.watched(&execution, &workload);
        if execution.status == Status::Stopping {
            let _ = inner.stop(&uuid, &workload, StopCause::Asked).await;
        }
        let archived = inner.archived(&uuid).await;
        let followers = Followers::new(
            inner.pods(),
            &uuid,
            inner.reporter.artifacts().clone(),
            archived,
        );
        let passed = Passed::at(execution.status);
        tokio::spawn(Arc::clone(inner).run(uuid, workload, objects, followers, passed, stop));
        Ok(())
    }
}
