use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use serde_json::{Value as Json, json};
use shared::Agent;
use shared::api::NamedRef;

use crate::artifacts::Artifacts;
use crate::config::{Config, RuntimeChoice};
use crate::metrics::Metrics;
use crate::runtime::kubernetes::{KubernetesRuntime, KubernetesTarget};
use crate::runtime::process::{ProcessConfig, ProcessRuntime};
use crate::runtime::{Reporter, Runtime};
use crate::store::{Notifying, Sqlite, Store};

/// Everything a handler may need, cloned cheaply into each request.
#[derive(Clone)]
pub struct AppState {
    /// How the server was started.
    pub config: Arc<Config>,
    /// Projects and runs.
    pub store: Arc<dyn Store>,
    /// What executes runs.
    pub runtime: Arc<dyn Runtime>,
    /// Runs' logs and artifacts.
    pub artifacts: Artifacts,
    /// The agent runs are compiled for: namespace, artifacts store, connections.
    pub agent: Arc<Agent>,
    /// The same, as Polyaxon's camelCase settings: what the browser compiles its previews for.
    pub agent_config: Arc<Json>,
    /// Changes to runs as they are recorded (the same store as `store`).
    pub run_events: Arc<Notifying>,
    /// Where runs reach this server's API (`POLYAXON_HOST`).
    pub api_host: Arc<str>,
    /// This installation's identity, kept in the data folder.
    pub installation_key: Arc<str>,
    /// When each service last carried traffic, for stopping idle ones.
    pub activity: Arc<crate::culling::Activity>,
    /// Runs' metrics: their event files read as they grow, their summaries in `store`.
    pub metrics: Arc<Metrics>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("AppState")
            .field("config", &self.config)
            .field("runtime", &self.runtime.name())
            .field("api_host", &self.api_host)
            .finish_non_exhaustive()
    }
}

/// What a component runs (`service`, `job`, …), as its `run.kind` says.
fn run_kind(content: &str) -> String {
    shared::lint(content, &[])
        .operation
        .and_then(|operation| {
            operation["component"]["run"]["kind"]
                .as_str()
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "job".to_owned())
}

/// The name of the artifacts store runs see in their settings and environment.
const ARTIFACTS_STORE: &str = "artifacts-store";
/// Where pods would mount the artifacts store.
const STORE_MOUNT: &str = "/artifacts-store";

impl AppState {
    /// The components `hubRef` may name: the bundled ones, then every project's component
    /// versions (a project is its owner's component, its versions the tags), read afresh, so
    /// a version registered a moment ago resolves.
    pub async fn hub(&self) -> Result<shared::hub::Catalog, crate::store::StoreError> {
        self.hub_for(None, None)
            .await
            .map(std::borrow::Cow::into_owned)
    }

    /// The catalog a submission's text compiles against: the bundled one alone when the text
    /// names no hub component (most runs), so a submission reads users' components only when
    /// it may use them; only those of the projects `viewer` sees, when given.
    pub async fn hub_for(
        &self,
        text: Option<&str>,
        viewer: Option<&str>,
    ) -> Result<std::borrow::Cow<'static, shared::hub::Catalog>, crate::store::StoreError> {
        use shared::hub::{Catalog, HubComponent, HubVersion};
        if text.is_some_and(|text| !text.contains("hubRef")) {
            // Borrowed: a matrix's thousands of children do not copy the catalog each.
            return Ok(std::borrow::Cow::Borrowed(Catalog::bundled()));
        }
        let versions = self.store.component_versions(viewer).await?;
        let mut registered: Vec<HubComponent> = Vec::new();
        for version in versions {
            let same = registered
                .last()
                .is_some_and(|last| last.owner == version.owner && last.name == version.project);
            if !same {
                registered.push(HubComponent {
                    owner: version.owner.clone(),
                    name: version.project.clone(),
                    title: version.project.clone(),
                    description: String::new(),
                    kind: String::new(),
                    aliases: Vec::new(),
                    tags: Vec::new(),
                    icon: None,
                    readme: None,
                    versions: Vec::new(),
                    tag_aliases: Default::default(),
                });
            }
            let component = registered.last_mut().expect("pushed above");
            // Read oldest first: the newest version describes the component.
            component.description = version.description.clone().unwrap_or_default();
            component.tags = version.tags.clone();
            component.readme = version.readme.clone().or(component.readme.take());
            let content = version.content.unwrap_or_default();
            if component.kind.is_empty() {
                component.kind = run_kind(&content);
            }
            // The newest first: a reference without a tag gets `latest`, or else the newest.
            component.versions.insert(
                0,
                HubVersion {
                    tag: version.name,
                    content,
                },
            );
        }
        Ok(std::borrow::Cow::Owned(Catalog::bundled().with(registered)))
    }

    /// A stored run as the runtime takes it up (after a restart, or once approved), compiled
    /// for this server's agent as it was when submitted; `None` for a client's own run.
    pub async fn execution(
        &self,
        stored: crate::store::StoredRun,
    ) -> Result<Option<crate::runtime::Execution>, crate::store::StoreError> {
        let project = self
            .store
            .project(&stored.run.owner, &stored.run.project)
            .await?;
        let context = crate::submit::run_context(
            &project,
            &stored.run.uuid,
            stored.run.name.as_deref(),
            stored.run.created_at,
            &self.api_host,
            &self.agent,
        );
        Ok(crate::runtime::Execution::of(stored, context))
    }

    /// Opens the data folder of `config` (creating what is missing) for a server whose API runs
    /// reach at `api_host`.
    pub async fn open(config: Config, api_host: &str) -> anyhow::Result<Self> {
        let data = &config.data_dir;
        std::fs::create_dir_all(data)
            .with_context(|| format!("cannot create the data folder {}", data.display()))?;
        let artifacts = data.join("artifacts");
        std::fs::create_dir_all(&artifacts)
            .with_context(|| format!("cannot create {}", artifacts.display()))?;
        let installation_key = installation_key(&data.join("installation-key"))?;
        let archive = Artifacts::new(&artifacts);
        // The store learns the namespace before the runtime exists, and the runtime reports
        // to the store: the Kubernetes runtime's namespace comes first.
        let kubernetes = match &config.runtime {
            RuntimeChoice::Process => None,
            RuntimeChoice::Kubernetes { namespace } => Some(
                KubernetesTarget::find(namespace.as_deref())
                    .await
                    .map_err(anyhow::Error::msg)?,
            ),
        };
        let agent_config = match &kubernetes {
            None => local_agent(&artifacts),
            Some(target) => cluster_agent(target.namespace()),
        };
        let agent: Agent = serde_json::from_value(agent_config.clone())
            .context("the agent configuration does not read as one")?;
        let store_ref = NamedRef {
            name: ARTIFACTS_STORE.to_owned(),
            uuid: installation_key.clone(),
        };
        let database = data.join("myelin.db");
        let sqlite: Arc<dyn Store> = Arc::new(
            Sqlite::open(&database, &agent.namespace, Some(store_ref))
                .with_context(|| format!("cannot open the database {}", database.display()))?,
        );
        // Runs reach the API with the server's token: people alone would leave them none.
        if config.token.is_none() && sqlite.has_users().await? {
            anyhow::bail!(
                "this server has people (`myelin users ls`) but no token of its own: start it \
                 with --token (or MYELIN_TOKEN), the admin's token its runs use to reach the API"
            );
        }
        // Every write, the runtime's included, goes through the store that tells watchers.
        let run_events = Arc::new(Notifying::new(sqlite));
        let store: Arc<dyn Store> = run_events.clone();
        let reporter = Reporter::new(Arc::clone(&store), archive.clone());
        let runtime: Arc<dyn Runtime> = match kubernetes {
            Some(target) => Arc::new(KubernetesRuntime::new(target, reporter)),
            None => Arc::new(ProcessRuntime::new(
                ProcessConfig {
                    runs_root: data.join("runs"),
                    artifacts_root: artifacts.clone(),
                    store_mount: Some(STORE_MOUNT.to_owned()),
                    state_dir: data.join("state").join("process"),
                    // The server's queue, in front of the runtime, keeps the limit.
                    max_concurrent: tokio::sync::Semaphore::MAX_PERMITS,
                    token: config.token.clone(),
                    stop_grace: std::time::Duration::from_secs(10),
                    retry_backoff: std::time::Duration::from_secs(10),
                    node: nix::unistd::gethostname()
                        .map(|name| name.to_string_lossy().into_owned())
                        .unwrap_or_else(|_| "localhost".to_owned()),
                },
                reporter,
            )),
        };
        let limit = config
            .max_concurrent_runs
            .unwrap_or_else(|| match config.runtime {
                RuntimeChoice::Process => {
                    std::thread::available_parallelism().map_or(2, usize::from)
                }
                RuntimeChoice::Kubernetes { .. } => usize::MAX,
            });
        let runtime: Arc<dyn Runtime> =
            crate::runtime::queue::Queued::new(runtime, Arc::clone(&store), &run_events, limit);
        let metrics = Arc::new(Metrics::new(archive.clone(), Arc::clone(&store)));
        Ok(Self {
            config: Arc::new(config),
            store,
            runtime,
            metrics,
            artifacts: archive,
            agent: Arc::new(agent),
            agent_config: Arc::new(agent_config),
            run_events,
            api_host: api_host.into(),
            installation_key: installation_key.into(),
            activity: Arc::default(),
        })
    }
}

/// The agent of a cluster, in the camelCase shape of Polyaxon's agent settings: runs in
/// `namespace`; their logs are collected through the API, and their artifacts stay in their
/// pods unless their connections say otherwise.
fn cluster_agent(namespace: &str) -> Json {
    json!({"namespace": namespace})
}

/// The agent of a single machine: runs' artifacts in the data folder.
fn local_agent(artifacts: &std::path::Path) -> Json {
    json!({
        "namespace": "polyaxon",
        "artifactsStore": {
            "name": ARTIFACTS_STORE,
            "kind": "host_path",
            "schema": {"hostPath": artifacts.to_string_lossy(), "mountPath": STORE_MOUNT},
        },
    })
}

fn installation_key(path: &PathBuf) -> anyhow::Result<String> {
    if let Ok(key) = std::fs::read_to_string(path) {
        return Ok(key.trim().to_owned());
    }
    let key = crate::clock::new_uuid();
    std::fs::write(path, &key).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(key)
}
