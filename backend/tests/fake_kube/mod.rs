//! A Kubernetes API server for tests, over real HTTP on loopback: what kube-rs sends is what a
//! cluster would get. It keeps objects in memory with resource versions, answers list, watch
//! (history replayed from a version, then live), get, server-side apply, merge patch (a
//! `resourceVersion` in it is a precondition: `409 Conflict`), create and delete (a finalizer
//! holds an object, marked as being deleted, until the last one is taken off; owned objects go
//! after their owner, or before it with foreground propagation), streams pods' logs
//! (`follow`), and speaks the exec channel protocol (`v5.channel.k8s.io`,
//! `v4.channel.k8s.io`) over WebSocket. Its [`kubelet`] plays the Job (retries after a
//! back-off, pods named with random suffixes), TTL-after-finished and Deployment controllers
//! and runs pods' containers as local processes, so a run's statuses, logs and shells are real.
//!
//! What a real API server did to Myelin, it does too: it serves the kinds of the operators'
//! CRDs in `shared/k8s/crds` and can lack one (`404 page not found`, in plain text); it can
//! lose its watches and forget their history (`410 Gone`, "too old resource version", as
//! after a restart); its service proxy answers `503` "no endpoints available" while a Service
//! selects no ready pod; and a client's [`Connection`] can be cut, as a server that stops
//! loses its own.
//!
//! Every request is authorized against the Role Myelin is deployed with ([`super::role`]) and
//! recorded, so a test can assert exactly what was asked.

#![allow(dead_code)] // Each test file uses its own part of this module.

pub mod kubelet;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value as Json, json};
use tokio::sync::{broadcast, mpsc};

use self::kubelet::Kubelet;

/// The built-in kinds the fake serves, by resource (`{apiVersion}/{plural}`).
const BUILT_IN: &[(&str, &str)] = &[
    ("v1/pods", "Pod"),
    ("v1/services", "Service"),
    ("batch/v1/jobs", "Job"),
    ("apps/v1/deployments", "Deployment"),
];

/// One installed kind: its resource (`{apiVersion}/{plural}`), its kind, and the name of the
/// CRD that installed it (`tfjobs.kubeflow.org`; `None` for a built-in kind).
#[derive(Debug, Clone)]
struct Installed {
    resource: String,
    kind: String,
    crd: Option<String>,
}

/// The kinds a cluster serves: the built-in ones, and those of the operators' CRDs in
/// `shared/k8s/crds` (`{group}_{plural}.{version}.yaml`), all installed.
fn installed_kinds() -> Vec<Installed> {
    let mut kinds: Vec<Installed> = BUILT_IN
        .iter()
        .map(|(resource, kind)| Installed {
            resource: (*resource).to_owned(),
            kind: (*kind).to_owned(),
            crd: None,
        })
        .collect();
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/k8s/crds");
    let files = std::fs::read_dir(&folder)
        .unwrap_or_else(|error| panic!("the operators' CRDs in {}: {error}", folder.display()));
    for file in files {
        let path = file.unwrap().path();
        let Some(name) = path.file_name().and_then(|name| name.to_str()) else {
            continue;
        };
        let Some((group, rest)) = name.strip_suffix(".yaml").and_then(|n| n.split_once('_')) else {
            continue;
        };
        let (plural, version) = rest
            .split_once('.')
            .expect("{group}_{plural}.{version}.yaml");
        let text = std::fs::read_to_string(&path).unwrap();
        // `spec.names.kind`, the first line of its indentation.
        let kind = text
            .lines()
            .find_map(|line| line.strip_prefix("    kind: "))
            .unwrap_or_else(|| panic!("{name} names no kind"));
        kinds.push(Installed {
            resource: format!("{group}/{version}/{plural}"),
            kind: kind.trim().to_owned(),
            crd: Some(format!("{plural}.{group}")),
        });
    }
    kinds
}

/// One request as the API server saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The HTTP method.
    pub method: String,
    /// The path.
    pub path: String,
    /// The query string.
    pub query: String,
    /// The body, as JSON when it is.
    pub body: Json,
}

/// A change to an object, as watches see it.
#[derive(Debug, Clone)]
pub struct Change {
    version: u64,
    resource: String,
    namespace: String,
    kind: &'static str,
    object: Json,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    resource: String,
    namespace: String,
    name: String,
}

#[derive(Default)]
struct Objects {
    version: u64,
    uids: u64,
    objects: BTreeMap<Key, Json>,
    history: Vec<Change>,
    /// The oldest version a watch may start from: older history is forgotten, as etcd's
    /// compaction forgets it.
    compacted: u64,
    requests: Vec<Recorded>,
}

/// Whether watches are served: `down` while the API server cannot serve them (it restarts),
/// `epoch` counting the times they were lost.
#[derive(Debug, Clone, Copy, Default)]
struct Watches {
    down: bool,
    epoch: u64,
}

/// The cluster's state, shared by the API and the kubelet.
pub struct Cluster {
    objects: Mutex<Objects>,
    watchers: broadcast::Sender<Change>,
    controllers: mpsc::UnboundedSender<Change>,
    kubelet: Kubelet,
    watches: tokio::sync::watch::Sender<Watches>,
    /// The kinds it serves.
    kinds: Mutex<Vec<Installed>>,
    /// Where the random part of generated names comes from.
    names: Mutex<u64>,
}

/// A running fake API server.
pub struct FakeCluster {
    /// Where it listens (`http://127.0.0.1:PORT`).
    pub url: String,
    cluster: Arc<Cluster>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeCluster {
    fn drop(&mut self) {
        self.server.abort();
        self.cluster.kubelet.stop_all();
    }
}

impl FakeCluster {
    /// Starts a server whose pods work in folders under `root`.
    pub async fn start(root: &Path) -> Self {
        let (watchers, _) = broadcast::channel(4096);
        let (controllers, changes) = mpsc::unbounded_channel();
        let cluster = Arc::new(Cluster {
            objects: Mutex::new(Objects::default()),
            watchers,
            controllers,
            kubelet: Kubelet::new(root.join("pods")),
            watches: tokio::sync::watch::Sender::new(Watches::default()),
            kinds: Mutex::new(installed_kinds()),
            names: Mutex::new(NAMES_SEED),
        });
        tokio::spawn(kubelet::control(Arc::clone(&cluster), changes));
        let app = Router::new()
            .route(
                "/api/v1/namespaces/{namespace}/pods/{pod}/exec",
                axum::routing::get(exec),
            )
            .fallback(handle)
            .with_state(Arc::clone(&cluster));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            url,
            cluster,
            server,
        }
    }

    /// A kube configuration of this server.
    pub fn config(&self) -> kube::Config {
        kube::Config::new(self.url.parse().unwrap())
    }

    /// A kube client of this server.
    pub fn client(&self) -> kube::Client {
        kube::Client::try_from(self.config()).unwrap()
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.cluster.objects().requests.clone()
    }

    /// The object `name` of `resource` (`batch/v1/jobs`) in `namespace`, if it exists.
    pub fn object(&self, resource: &str, namespace: &str, name: &str) -> Option<Json> {
        self.cluster.get(resource, namespace, name)
    }

    /// The objects of `resource` in `namespace`.
    pub fn objects(&self, resource: &str, namespace: &str) -> Vec<Json> {
        self.cluster.list(resource, namespace, &Selector::default())
    }

    /// Removes the CRD named `crd` (`tfjobs.kubeflow.org`), as on a cluster without the
    /// operator that installs it: its URLs answer `404 page not found`.
    pub fn uninstall(&self, crd: &str) {
        let mut kinds = self.cluster.kinds.lock().unwrap();
        let before = kinds.len();
        kinds.retain(|kind| kind.crd.as_deref() != Some(crd));
        assert!(kinds.len() < before, "no CRD {crd} to uninstall");
    }

    /// Ends every watch and holds new ones, as an API server that restarts: what changes
    /// meanwhile, no watch sees.
    pub fn lose_watches(&self) {
        self.cluster.watches.send_modify(|watches| {
            watches.down = true;
            watches.epoch += 1;
        });
    }

    /// Serves watches again, with the history before now forgotten: a watch that resumes from
    /// an older version is told `410 Gone` ("too old resource version") and must list again.
    pub fn restore_watches(&self) {
        {
            let mut objects = self.cluster.objects();
            objects.compacted = objects.version;
        }
        self.cluster
            .watches
            .send_modify(|watches| watches.down = false);
    }

    /// Deletes an object as another client would (in the background; finalizers hold it).
    pub fn delete(&self, resource: &str, namespace: &str, name: &str) {
        self.cluster
            .delete(resource, namespace, name, Propagation::Background)
            .expect("an object to delete");
    }

    /// Deletes an object whatever holds it (its finalizers), as someone with `kubectl` can.
    pub fn remove(&self, resource: &str, namespace: &str, name: &str) {
        self.cluster
            .update(resource, namespace, name, |object| {
                object["metadata"]["finalizers"] = json!([]);
            })
            .expect("an object to remove");
        self.cluster
            .delete(resource, namespace, name, Propagation::Background);
    }

    /// A connection to this server that can be cut, as a server that stops loses its own.
    pub async fn connection(&self) -> Connection {
        Connection::to(&self.url).await
    }

    /// Creates an object as another client would (the runtime before a restart).
    pub fn create(&self, resource: &str, namespace: &str, object: Json) {
        self.cluster
            .create(resource, namespace, object)
            .expect("no object of that name yet");
    }
}

/// A client's way to the API server, through a relay on loopback: cutting it ends every
/// connection made through it and refuses new ones, as for a server that has stopped.
pub struct Connection {
    /// Where the relay listens.
    pub url: String,
    relay: tokio::task::JoinHandle<()>,
    connections: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Connection {
    async fn to(server: &str) -> Self {
        let server = server.trim_start_matches("http://").to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let connections: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let relay = tokio::spawn({
            let connections = Arc::clone(&connections);
            async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    let server = server.clone();
                    let task = tokio::spawn(async move {
                        if let Ok(mut upstream) = tokio::net::TcpStream::connect(&server).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                        }
                    });
                    connections.lock().unwrap().push(task.abort_handle());
                }
            }
        });
        Self {
            url,
            relay,
            connections,
        }
    }

    /// A kube configuration of the server through this connection.
    pub fn config(&self) -> kube::Config {
        kube::Config::new(self.url.parse().unwrap())
    }

    /// Ends every connection made through it, and takes no more.
    pub fn cut(&self) {
        self.relay.abort();
        for connection in self.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.cut();
    }
}

/// A `metav1.Status` error answer.
fn refusal(code: StatusCode, reason: &str, message: String) -> Response {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": code.as_u16(),
    });
    (code, axum::Json(body)).into_response()
}

/// Label and field selectors, equality only (what Myelin uses).
#[derive(Debug, Default, Clone)]
struct Selector {
    labels: Vec<(String, String)>,
    fields: Vec<(String, String)>,
}

impl Selector {
    fn of(query: &HashMap<String, String>) -> Self {
        let pairs = |key: &str| -> Vec<(String, String)> {
            query
                .get(key)
                .map(|text| {
                    text.split(',')
                        .filter_map(|term| term.split_once('='))
                        .map(|(k, v)| (k.to_owned(), v.trim_start_matches('=').to_owned()))
                        .collect()
                })
                .unwrap_or_default()
        };
        Self {
            labels: pairs("labelSelector"),
            fields: pairs("fieldSelector"),
        }
    }

    fn matches(&self, object: &Json) -> bool {
        self.labels.iter().all(|(key, value)| {
            object
                .pointer("/metadata/labels")
                .and_then(|labels| labels.get(key))
                .and_then(Json::as_str)
                == Some(value)
        }) && self.fields.iter().all(|(field, value)| {
            let pointer = format!("/{}", field.replace('.', "/"));
            object.pointer(&pointer).and_then(Json::as_str) == Some(value)
        })
    }
}

/// The time now, as the API writes times.
fn now() -> String {
    backend::clock::now().to_string().replace("+00:00", "Z")
}

/// The time now in whole seconds, as the API writes when an object was created.
fn now_in_seconds() -> String {
    let now = now();
    match now.split_once('.') {
        Some((seconds, _)) => format!("{seconds}Z"),
        None => now,
    }
}

/// The seed of the names the fake generates: fixed, so a test sees the same names each time.
const NAMES_SEED: u64 = 0x9e37_79b9_7f4a_7c1d;

impl Cluster {
    /// Five random characters as the API server ends a generated name with (`generateName`),
    /// from its alphabet: the order of a Job's pods by name says nothing of which came first.
    pub fn random_suffix(&self) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        let mut state = self
            .names
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (0..5)
            .map(|_| {
                // xorshift64*
                *state ^= *state >> 12;
                *state ^= *state << 25;
                *state ^= *state >> 27;
                let random = state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32;
                char::from(ALPHABET[usize::try_from(random).unwrap_or(0) % ALPHABET.len()])
            })
            .collect()
    }

    fn objects(&self) -> MutexGuard<'_, Objects> {
        self.objects
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Makes a change known to watches and controllers, under a new resource version.
    fn publish(
        &self,
        objects: &mut Objects,
        resource: &str,
        namespace: &str,
        kind: &'static str,
        object: Json,
    ) {
        let change = Change {
            version: objects.version,
            resource: resource.to_owned(),
            namespace: namespace.to_owned(),
            kind,
            object,
        };
        objects.history.push(change.clone());
        let _ = self.watchers.send(change.clone());
        let _ = self.controllers.send(change);
    }

    fn get(&self, resource: &str, namespace: &str, name: &str) -> Option<Json> {
        let key = Key {
            resource: resource.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        };
        self.objects().objects.get(&key).cloned()
    }

    fn list(&self, resource: &str, namespace: &str, selector: &Selector) -> Vec<Json> {
        self.objects()
            .objects
            .iter()
            .filter(|(key, object)| {
                key.resource == resource && key.namespace == namespace && selector.matches(object)
            })
            .map(|(_, object)| object.clone())
            .collect()
    }

    /// Stores a new object; `None` when one of that name exists.
    pub fn create(&self, resource: &str, namespace: &str, mut object: Json) -> Option<Json> {
        let mut objects = self.objects();
        let name = object.pointer("/metadata/name")?.as_str()?.to_owned();
        let key = Key {
            resource: resource.to_owned(),
            namespace: namespace.to_owned(),
            name,
        };
        if objects.objects.contains_key(&key) {
            return None;
        }
        objects.version += 1;
        objects.uids += 1;
        let metadata = &mut object["metadata"];
        metadata["namespace"] = json!(namespace);
        metadata["uid"] = json!(format!("uid-{}", objects.uids));
        metadata["resourceVersion"] = json!(objects.version.to_string());
        metadata["creationTimestamp"] = json!(now_in_seconds());
        metadata["generation"] = json!(1);
        objects.objects.insert(key, object.clone());
        self.publish(&mut objects, resource, namespace, "ADDED", object.clone());
        Some(object)
    }

    /// Changes an object in place; `None` when it is gone.
    pub fn update(
        &self,
        resource: &str,
        namespace: &str,
        name: &str,
        change: impl FnOnce(&mut Json),
    ) -> Option<Json> {
        let mut objects = self.objects();
        let key = Key {
            resource: resource.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        };
        let mut object = objects.objects.get(&key)?.clone();
        change(&mut object);
        objects.version += 1;
        object["metadata"]["resourceVersion"] = json!(objects.version.to_string());
        objects.objects.insert(key, object.clone());
        self.publish(
            &mut objects,
            resource,
            namespace,
            "MODIFIED",
            object.clone(),
        );
        drop(objects);
        // Being deleted, and nothing holds it any more: it goes.
        if object.pointer("/metadata/deletionTimestamp").is_some() && !is_held(&object) {
            self.delete(resource, namespace, name, Propagation::Background);
        }
        Some(object)
    }

    /// Deletes an object: removes it, and then (background) every object it owns; or, while a
    /// finalizer holds it, marks it as being deleted, and removes it once its last finalizer
    /// is taken off. `Foreground` removes what it owns first. The object as the API returns it.
    pub fn delete(
        &self,
        resource: &str,
        namespace: &str,
        name: &str,
        propagation: Propagation,
    ) -> Option<Json> {
        let current = self.get(resource, namespace, name)?;
        if propagation == Propagation::Foreground {
            self.delete_owned(&current);
        }
        if is_held(&current) {
            if current.pointer("/metadata/deletionTimestamp").is_some() {
                return Some(current);
            }
            return self.update(resource, namespace, name, |object| {
                object["metadata"]["deletionTimestamp"] = json!(now_in_seconds());
            });
        }
        let object = {
            let mut objects = self.objects();
            let key = Key {
                resource: resource.to_owned(),
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            };
            let object = objects.objects.remove(&key)?;
            objects.version += 1;
            self.publish(&mut objects, resource, namespace, "DELETED", object.clone());
            object
        };
        self.delete_owned(&object);
        Some(object)
    }

    /// The garbage collector: whatever `owner` owns goes too.
    fn delete_owned(&self, owner: &Json) {
        let uid = owner.pointer("/metadata/uid").cloned();
        let owned: Vec<Key> = self
            .objects()
            .objects
            .iter()
            .filter(|(_, candidate)| {
                candidate
                    .pointer("/metadata/ownerReferences")
                    .and_then(Json::as_array)
                    .is_some_and(|owners| {
                        owners.iter().any(|owner| owner.get("uid") == uid.as_ref())
                    })
            })
            .map(|(key, _)| key.clone())
            .collect();
        for key in owned {
            self.delete(
                &key.resource,
                &key.namespace,
                &key.name,
                Propagation::Background,
            );
        }
    }

    /// A JSON merge patch (RFC 7386); refused with `409 Conflict` when it names a resource
    /// version the object is no longer at.
    fn merge(
        &self,
        resource: &str,
        namespace: &str,
        name: &str,
        mut patch: Json,
    ) -> Result<Option<Json>, String> {
        let expected = patch
            .pointer_mut("/metadata")
            .and_then(Json::as_object_mut)
            .and_then(|metadata| metadata.remove("resourceVersion"));
        let mut conflict = None;
        let updated = self.update(resource, namespace, name, |object| {
            let version = object.pointer("/metadata/resourceVersion").cloned();
            if let Some(expected) = expected.filter(|expected| Some(expected) != version.as_ref()) {
                conflict = Some(format!(
                    "Operation cannot be fulfilled on {resource} \"{name}\": the object has been \
                     modified; please apply your changes to the latest version and try again \
                     (expected version {expected})"
                ));
                return;
            }
            merge_patch(object, &patch);
        });
        match conflict {
            Some(message) => Err(message),
            None => Ok(updated),
        }
    }

    /// Server-side apply: creates the object, or replaces the fields the patch sets.
    fn apply(
        &self,
        resource: &str,
        namespace: &str,
        name: &str,
        patch: Json,
        manager: &str,
    ) -> Json {
        let managed = json!([{"manager": manager, "operation": "Apply", "apiVersion": patch.get("apiVersion")}]);
        let updated = self.update(resource, namespace, name, |object| {
            for (field, value) in patch.as_object().into_iter().flatten() {
                if field == "metadata" {
                    for key in ["labels", "annotations", "ownerReferences", "finalizers"] {
                        if let Some(value) = value.get(key) {
                            object["metadata"][key] = value.clone();
                        }
                    }
                } else if field != "status" {
                    object[field] = value.clone();
                }
            }
            object["metadata"]["managedFields"] = managed.clone();
        });
        updated.unwrap_or_else(|| {
            let mut object = patch;
            object["metadata"]["managedFields"] = managed;
            // Lost a race with a create of the same name: the next apply updates it.
            self.create(resource, namespace, object.clone())
                .unwrap_or(object)
        })
    }

    /// Whether the object exists.
    fn exists(&self, resource: &str, namespace: &str, name: &str) -> bool {
        self.get(resource, namespace, name).is_some()
    }
}

/// How a delete treats the objects the deleted one owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    /// They go after it.
    Background,
    /// They go before it.
    Foreground,
}

/// Whether a finalizer holds `object` back from being removed.
fn is_held(object: &Json) -> bool {
    object
        .pointer("/metadata/finalizers")
        .and_then(Json::as_array)
        .is_some_and(|finalizers| !finalizers.is_empty())
}

/// RFC 7386: objects merge key by key, `null` removes a key, anything else replaces.
fn merge_patch(target: &mut Json, patch: &Json) {
    let Some(fields) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let object = target.as_object_mut().unwrap();
    for (key, value) in fields {
        if value.is_null() {
            object.remove(key);
        } else {
            merge_patch(object.entry(key.clone()).or_insert(Json::Null), value);
        }
    }
}

/// Where a request goes: `resource` is `{apiVersion}/{plural}`.
#[derive(Debug)]
struct Target {
    group: String,
    resource: String,
    plural: String,
    kind: String,
    namespace: String,
    name: Option<String>,
    subresource: Option<String>,
}

impl Target {
    fn parse(path: &str, kinds: &[Installed]) -> Option<Self> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let (group, version, rest) = match segments.as_slice() {
            ["api", version, rest @ ..] => ("", *version, rest),
            ["apis", group, version, rest @ ..] => (*group, *version, rest),
            _ => return None,
        };
        let ["namespaces", namespace, plural, rest @ ..] = rest else {
            return None;
        };
        let api_version = if group.is_empty() {
            version.to_owned()
        } else {
            format!("{group}/{version}")
        };
        let resource = format!("{api_version}/{plural}");
        let kind = kinds
            .iter()
            .find(|known| known.resource == resource)?
            .kind
            .clone();
        Some(Self {
            group: group.to_owned(),
            resource,
            plural: (*plural).to_owned(),
            kind,
            namespace: (*namespace).to_owned(),
            name: rest.first().map(|name| (*name).to_owned()),
            subresource: rest.get(1).map(|sub| (*sub).to_owned()),
        })
    }

    /// The RBAC resource (`pods/log`).
    fn rbac_resource(&self) -> String {
        match &self.subresource {
            Some(sub) => format!("{}/{sub}", self.plural),
            None => self.plural.clone(),
        }
    }

    fn api_version(&self) -> &str {
        self.resource
            .rsplit_once('/')
            .map_or("", |(version, _)| version)
    }
}

fn query_map(query: &str) -> HashMap<String, String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .unwrap_or_default()
        .into_iter()
        .collect()
}

/// Refuses what the deploy Role does not allow, as the API server would.
fn authorize(target: &Target, verb: &str) -> Result<(), Box<Response>> {
    let resource = target.rbac_resource();
    let allowed = super::role::ROLE_RULES
        .iter()
        .any(|(group, resources, verbs)| {
            *group == target.group
                && resources.contains(&resource.as_str())
                && verbs.contains(&verb)
        });
    if allowed {
        return Ok(());
    }
    let group = &target.group;
    Err(Box::new(refusal(
        StatusCode::FORBIDDEN,
        "Forbidden",
        format!(
            "User \"system:serviceaccount:myelin:myelin\" cannot {verb} resource \"{resource}\" in API group \"{group}\" in the namespace \"{}\"",
            target.namespace
        ),
    )))
}

async fn handle(
    State(cluster): State<Arc<Cluster>>,
    mut request: axum::extract::Request,
) -> Response {
    // A switch of protocols through the service proxy: the client's side of the connection.
    let upgrade =
        backend::runtime::is_upgrade(request.headers()).then(|| hyper::upgrade::on(&mut request));
    let (parts, body) = request.into_parts();
    let (method, uri, headers) = (parts.method, parts.uri, parts.headers);
    let Ok(body) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let query = uri.query().unwrap_or_default().to_owned();
    cluster.objects().requests.push(Recorded {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: query.clone(),
        body: serde_json::from_slice(&body).unwrap_or(Json::Null),
    });
    let target = Target::parse(uri.path(), &cluster.kinds.lock().unwrap());
    let Some(target) = target else {
        // What a real API server says of a kind it does not serve: no Status, plain text.
        return (
            StatusCode::NOT_FOUND,
            [("content-type", "text/plain; charset=utf-8")],
            "404 page not found\n",
        )
            .into_response();
    };
    let params = query_map(&query);
    if target.subresource.as_deref() == Some("proxy") {
        return proxy(&cluster, &method, &uri, &target, &headers, body, upgrade)
            .await
            .unwrap_or_else(|refused| *refused);
    }
    match respond(&cluster, &method, &target, &params, &headers, &body).await {
        Ok(response) | Err(response) => response,
    }
}

async fn respond(
    cluster: &Arc<Cluster>,
    method: &Method,
    target: &Target,
    params: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Response, Response> {
    let namespace = &target.namespace;
    let not_found = |name: &str| {
        refusal(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("{} \"{name}\" not found", target.plural),
        )
    };
    match (method.as_str(), &target.name, target.subresource.as_deref()) {
        ("GET", None, None) => {
            let watching = params.get("watch").is_some_and(|w| w == "true" || w == "1");
            authorize(target, if watching { "watch" } else { "list" })
                .map_err(|refused| *refused)?;
            let selector = Selector::of(params);
            if watching {
                return Ok(watch(cluster, target, params, selector));
            }
            let version = cluster.objects().version;
            let items = cluster.list(&target.resource, namespace, &selector);
            Ok(axum::Json(json!({
                "apiVersion": target.api_version(), "kind": format!("{}List", target.kind),
                "metadata": {"resourceVersion": version.to_string()}, "items": items,
            }))
            .into_response())
        }
        ("GET", Some(name), None) => {
            authorize(target, "get").map_err(|refused| *refused)?;
            let object = cluster
                .get(&target.resource, namespace, name)
                .ok_or_else(|| not_found(name))?;
            Ok(axum::Json(object).into_response())
        }
        ("GET", Some(name), Some("log")) => {
            authorize(target, "get").map_err(|refused| *refused)?;
            if !cluster.exists(&target.resource, namespace, name) {
                return Err(not_found(name));
            }
            let container = params.get("container").cloned().unwrap_or_default();
            let flag = |name: &str| params.get(name).is_some_and(|value| value == "true");
            cluster
                .kubelet
                .logs(
                    namespace,
                    name,
                    &container,
                    flag("follow"),
                    flag("timestamps"),
                )
                .map_err(|message| refusal(StatusCode::BAD_REQUEST, "BadRequest", message))
        }
        ("PATCH", Some(name), None) => {
            let content_type = headers
                .get("content-type")
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default();
            if content_type == "application/merge-patch+json" {
                authorize(target, "patch").map_err(|refused| *refused)?;
                let patch: Json = serde_json::from_slice(body).map_err(|error| {
                    refusal(StatusCode::BAD_REQUEST, "BadRequest", error.to_string())
                })?;
                return match cluster.merge(&target.resource, namespace, name, patch) {
                    Ok(Some(patched)) => Ok(axum::Json(patched).into_response()),
                    Ok(None) => Err(not_found(name)),
                    Err(message) => Err(refusal(StatusCode::CONFLICT, "Conflict", message)),
                };
            }
            if content_type != "application/apply-patch+yaml" {
                return Err(refusal(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "UnsupportedMediaType",
                    format!("the fake applies and merges, not `{content_type}`"),
                ));
            }
            authorize(target, "patch").map_err(|refused| *refused)?;
            if !cluster.exists(&target.resource, namespace, name) {
                authorize(target, "create").map_err(|refused| *refused)?;
            }
            let Some(manager) = params.get("fieldManager") else {
                return Err(refusal(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Invalid",
                    "fieldManager is required for apply requests".to_owned(),
                ));
            };
            let patch: Json = serde_json::from_slice(body).map_err(|error| {
                refusal(StatusCode::BAD_REQUEST, "BadRequest", error.to_string())
            })?;
            if patch.pointer("/metadata/name").and_then(Json::as_str) != Some(name) {
                return Err(refusal(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "the name in the body differs from the URL's".to_owned(),
                ));
            }
            let applied = cluster.apply(&target.resource, namespace, name, patch, manager);
            Ok(axum::Json(applied).into_response())
        }
        ("DELETE", Some(name), None) => {
            authorize(target, "delete").map_err(|refused| *refused)?;
            let propagation = match serde_json::from_slice::<Json>(body)
                .ok()
                .and_then(|options| options.get("propagationPolicy").cloned())
            {
                Some(policy) if policy == "Foreground" => Propagation::Foreground,
                _ => Propagation::Background,
            };
            let deleted = cluster
                .delete(&target.resource, namespace, name, propagation)
                .ok_or_else(|| not_found(name))?;
            Ok(axum::Json(deleted).into_response())
        }
        (method, _, sub) => Err(refusal(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            format!(
                "the fake does not serve {method} on {}{}",
                target.resource,
                sub.map(|s| format!("/{s}")).unwrap_or_default()
            ),
        )),
    }
}

/// The API server's service proxy: to the port on this machine the Service's port targets,
/// where the kubelet's process listens.
async fn proxy(
    cluster: &Cluster,
    method: &Method,
    uri: &Uri,
    target: &Target,
    headers: &HeaderMap,
    body: Bytes,
    upgrade: Option<hyper::upgrade::OnUpgrade>,
) -> Result<Response, Box<Response>> {
    let verb = match method.as_str() {
        "GET" | "HEAD" => "get",
        "POST" => "create",
        "PUT" => "update",
        "PATCH" => "patch",
        _ => "delete",
    };
    authorize(target, verb)?;
    let name = target.name.as_deref().unwrap_or_default();
    let (service, port) = name.split_once(':').unwrap_or((name, "80"));
    let not_found = || {
        Box::new(refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            format!("no endpoints available for service \"{name}\""),
        ))
    };
    let object = cluster
        .get("v1/services", &target.namespace, service)
        .ok_or_else(not_found)?;
    // The endpoints: the ready pods the Service selects.
    let selector = Selector {
        labels: object
            .pointer("/spec/selector")
            .and_then(Json::as_object)
            .into_iter()
            .flatten()
            .map(|(key, value)| (key.clone(), value.as_str().unwrap_or_default().to_owned()))
            .collect(),
        fields: Vec::new(),
    };
    let ready = cluster
        .list("v1/pods", &target.namespace, &selector)
        .iter()
        .any(|pod| {
            pod.pointer("/metadata/deletionTimestamp").is_none()
                && pod
                    .pointer("/status/conditions")
                    .and_then(Json::as_array)
                    .into_iter()
                    .flatten()
                    .any(|condition| condition["type"] == "Ready" && condition["status"] == "True")
        });
    if !ready {
        return Err(Box::new(refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            format!("no endpoints available for service \"{service}\""),
        )));
    }
    let target_port = object
        .pointer("/spec/ports")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .find(|entry| entry.get("port").map(Json::to_string).as_deref() == Some(port))
        .and_then(|entry| entry.get("targetPort").or_else(|| entry.get("port")))
        .and_then(Json::as_u64)
        .ok_or_else(not_found)?;
    let rest = uri.path().split_once("/proxy").map_or("", |(_, rest)| rest);
    let query = uri
        .query()
        .map(|query| format!("?{query}"))
        .unwrap_or_default();
    let mut request = axum::http::Request::builder()
        .method(method.clone())
        .uri(format!(
            "http://127.0.0.1:{target_port}{}{query}",
            if rest.is_empty() { "/" } else { rest }
        ));
    for (header, value) in headers {
        if header != "host" && header != "authorization" {
            request = request.header(header, value);
        }
    }
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Body>();
    let mut response = client
        .request(request.body(Body::from(body)).unwrap())
        .await
        .map_err(|error| {
            Box::new(refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                format!("error trying to reach service: {error}"),
            ))
        })?;
    // As the API server's upgrade-aware proxy: once the pod switched, both ways are joined.
    if response.status() == StatusCode::SWITCHING_PROTOCOLS
        && let Some(client_side) = upgrade
    {
        let pod_side = hyper::upgrade::on(&mut response);
        tokio::spawn(async move {
            if let (Ok(client), Ok(pod)) = tokio::join!(client_side, pod_side) {
                let mut client = hyper_util::rt::TokioIo::new(client);
                let mut pod = hyper_util::rt::TokioIo::new(pod);
                let _ = tokio::io::copy_bidirectional(&mut client, &mut pod).await;
            }
        });
    }
    Ok(backend::runtime::forwarded(response))
}

/// Watch events as JSON lines: changes past the given version (every current object when none
/// is given), then live ones, until `timeoutSeconds`.
fn watch(
    cluster: &Arc<Cluster>,
    target: &Target,
    params: &HashMap<String, String>,
    selector: Selector,
) -> Response {
    let since: Option<u64> = params
        .get("resourceVersion")
        .and_then(|version| version.parse().ok())
        .filter(|version| *version > 0);
    let timeout = params
        .get("timeoutSeconds")
        .and_then(|seconds| seconds.parse().ok())
        .unwrap_or(300);
    let (resource, namespace) = (target.resource.clone(), target.namespace.clone());
    let relevant = move |change: &Change| {
        change.resource == resource
            && change.namespace == namespace
            && selector.matches(&change.object)
    };
    let (lines, receiver) = mpsc::channel::<Result<Bytes, std::convert::Infallible>>(64);
    let (cluster, target_resource, target_namespace) = (
        Arc::clone(cluster),
        target.resource.clone(),
        target.namespace.clone(),
    );
    tokio::spawn(async move {
        let encode = |event: &Json| {
            let mut text = serde_json::to_vec(event).unwrap();
            text.push(b'\n');
            Ok(Bytes::from(text))
        };
        let line = |change: &Change| encode(&json!({"type": change.kind, "object": change.object}));
        let mut watches = cluster.watches.subscribe();
        // Asked for while the server cannot serve watches: answered once it can.
        let epoch = match watches.wait_for(|watches| !watches.down).await {
            Ok(now) => now.epoch,
            Err(_) => return,
        };
        let backlog = {
            let objects = cluster.objects();
            let live = cluster.watchers.subscribe();
            let backlog: Result<Vec<Change>, Json> = match since {
                Some(since) if since < objects.compacted => {
                    let expired = json!({"type": "ERROR", "object": {
                        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                        "message": format!("too old resource version: {since} ({})", objects.compacted),
                        "reason": "Expired", "code": 410,
                    }});
                    Err(expired)
                }
                Some(since) => Ok(objects
                    .history
                    .iter()
                    .filter(|change| change.version > since && relevant(change))
                    .cloned()
                    .collect()),
                None => Ok(objects
                    .objects
                    .values()
                    .map(|object| Change {
                        version: objects.version,
                        resource: target_resource.clone(),
                        namespace: target_namespace.clone(),
                        kind: "ADDED",
                        object: object.clone(),
                    })
                    .filter(|change| relevant(change))
                    .collect()),
            };
            backlog.map(|backlog| (backlog, live))
        };
        let (backlog, mut live) = match backlog {
            Ok(watching) => watching,
            Err(expired) => {
                let _ = lines.send(encode(&expired)).await;
                return;
            }
        };
        for change in &backlog {
            if lines.send(line(change)).await.is_err() {
                return;
            }
        }
        let last = backlog.last().map_or(0, |change| change.version);
        let deadline = tokio::time::sleep(std::time::Duration::from_secs(timeout));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                change = live.recv() => match change {
                    Ok(change) if change.version > last && relevant(&change) => {
                        if lines.send(line(&change)).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) | Err(broadcast::error::RecvError::Closed) => return,
                },
                () = &mut deadline => return,
                changed = watches.changed() => {
                    if changed.is_err() || watches.borrow().epoch != epoch {
                        return;
                    }
                }
            }
        }
    });
    Body::from_stream(tokio_stream_of(receiver)).into_response()
}

fn tokio_stream_of<T: Send + 'static>(
    mut receiver: mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> {
    futures_util::stream::poll_fn(move |context| receiver.poll_recv(context))
}

async fn exec(
    State(cluster): State<Arc<Cluster>>,
    UrlPath((namespace, pod)): UrlPath<(String, String)>,
    RawQuery(query): RawQuery,
    upgrade: axum::extract::ws::WebSocketUpgrade,
) -> Response {
    let query = query.unwrap_or_default();
    let path = format!("/api/v1/namespaces/{namespace}/pods/{pod}/exec");
    cluster.objects().requests.push(Recorded {
        method: "GET".to_owned(),
        path: path.clone(),
        query: query.clone(),
        body: Json::Null,
    });
    let target = Target::parse(&path, &cluster.kinds.lock().unwrap()).expect("a pods path");
    if let Err(refused) = authorize(&target, "create") {
        return *refused;
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&query).unwrap_or_default();
    let command: Vec<String> = pairs
        .iter()
        .filter(|(key, _)| key == "command")
        .map(|(_, value)| value.clone())
        .collect();
    let container = pairs
        .iter()
        .find(|(key, _)| key == "container")
        .map(|(_, value)| value.clone())
        .unwrap_or_default();
    let tty = pairs
        .iter()
        .any(|(key, value)| key == "tty" && value == "true");
    let session = match cluster
        .kubelet
        .exec(&namespace, &pod, &container, &command, tty)
    {
        Ok(session) => session,
        Err(message) => return refusal(StatusCode::BAD_REQUEST, "BadRequest", message),
    };
    // The kubelet relays the session as Myelin serves its own.
    upgrade
        .protocols(backend::runtime::channel::PROTOCOLS)
        .on_upgrade(move |socket| backend::runtime::channel::serve(socket, session))
}

/// Object folders of pods, by namespace and name.
pub(crate) fn pod_folder(root: &Path, namespace: &str, pod: &str) -> PathBuf {
    root.join(namespace).join(pod)
}
