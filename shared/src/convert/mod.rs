//! Stage 4: a compiled operation → the `polyaxon.com/v1` custom resource Polyaxon's agent submits,
//! as plain data.
//!
//! The resource wraps one pod template per replica. Each pod gets the run's main container with
//! the environment Polyaxon's tools read (`POLYAXON_RUN_INSTANCE`, the connections catalog, …),
//! the sidecar that collects logs and artifacts, the init containers that prepare the run's
//! context, and the volumes all of them mount. Which of these appear is decided by the run's
//! plugins and the connections it requests from the agent's catalog.
//!
//! Built so far: `job` (and Polyaxon's job-shaped internal kinds) and `service` runs, with the
//! plugins, connections, init steps (`init.rs`), user sidecars and volumes. The distributed kinds
//! are refused with an error until they are built.

mod init;
pub mod native;

use serde_json::{Map, Value as Json, json};

use crate::python;
use crate::run::{Connection, RunContext};

/// The Polyaxon version whose images and labels the resource names.
const POLYAXON_VERSION: &str = "2.18.0";
const CONTEXT_ARTIFACTS: &str = "/plx-context/artifacts";
const CONTEXT_CONFIGS: &str = "/plx-context/.configs";
/// Where Polyaxon copies its tools (tmux) for the main container to use.
const TOOLS_BIN: &str = "/opt/polyaxon/bin";
/// The name of the user's main container in every pod Polyaxon makes.
pub const MAIN_CONTAINER: &str = "polyaxon-main";

/// Why a compiled operation was not converted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotConverted {
    /// A dag, matrix or schedule: the scheduler expands it into runs, which are converted.
    Pipeline,
    /// The operation cannot become a resource; the message says why.
    Invalid(String),
}

/// The plugins of a run, with Polyaxon's defaults for those it does not set.
struct Plugins {
    auth: bool,
    docker: bool,
    shm: bool,
    tmux: bool,
    sandbox: bool,
    ssh: bool,
    collect_artifacts: bool,
    collect_logs: bool,
    collect_resources: bool,
    sync_statuses: bool,
    auto_resume: bool,
    mount_artifacts_store: bool,
    log_level: Option<String>,
    sidecar: Json,
    notifications: Vec<Json>,
}

impl Plugins {
    fn of(compiled: &Json) -> Self {
        let plugins = compiled.get("plugins").cloned().unwrap_or(Json::Null);
        let flag =
            |key: &str, default: bool| plugins.get(key).and_then(Json::as_bool).unwrap_or(default);
        Self {
            auth: flag("auth", false),
            docker: flag("docker", false),
            shm: flag("shm", true),
            tmux: flag("tmux", false),
            sandbox: flag("sandbox", false),
            ssh: flag("ssh", false),
            collect_artifacts: flag("collectArtifacts", true),
            collect_logs: flag("collectLogs", true),
            collect_resources: flag("collectResources", true),
            sync_statuses: flag("syncStatuses", true),
            auto_resume: flag("autoResume", true),
            mount_artifacts_store: flag("mountArtifactsStore", false),
            log_level: plugins
                .get("logLevel")
                .and_then(Json::as_str)
                .map(str::to_owned),
            sidecar: plugins.get("sidecar").cloned().unwrap_or(Json::Null),
            notifications: plugins
                .get("notifications")
                .and_then(Json::as_array)
                .cloned()
                .unwrap_or_default(),
        }
    }
}

/// Converts a compiled operation for the run described by `run`.
pub fn convert(compiled: &Json, run: &RunContext) -> Result<Json, NotConverted> {
    let is_pipeline = compiled.get("matrix").is_some()
        || compiled.get("schedule").is_some()
        || kind_of(compiled) == Some("dag");
    if is_pipeline {
        return Err(NotConverted::Pipeline);
    }
    let Some(run_section) = compiled.get("run") else {
        return Err(NotConverted::Invalid("the operation has no run".to_owned()));
    };
    let kind = kind_of(compiled).unwrap_or_default();
    let Some(layout) = LAYOUTS.iter().find(|layout| layout.kinds.contains(&kind)) else {
        return Err(NotConverted::Invalid(format!(
            "converting `{kind}` runs is not built yet"
        )));
    };
    let converter = Converter {
        run,
        plugins: Plugins::of(compiled),
        name: compiled
            .get("name")
            .and_then(Json::as_str)
            .unwrap_or(&run.default_run_name)
            .to_owned(),
        namespace: compiled
            .get("namespace")
            .and_then(Json::as_str)
            .unwrap_or(&run.agent.namespace)
            .to_owned(),
        kind: kind.to_owned(),
        layout,
        run_connections: run_connections(kind, run_section),
    };
    let kv_env = env_from_io(compiled);
    let spec = match kind {
        "service" => {
            let ports = run_section
                .get("ports")
                .and_then(Json::as_array)
                .cloned()
                .unwrap_or_default();
            let pod = converter.pod(run_section, &kv_env, Some(&ports))?;
            let mut spec = Map::new();
            for key in ["ports", "replicas", "isExternal"] {
                if let Some(value) = run_section.get(key).filter(|value| !value.is_null()) {
                    spec.insert(key.to_owned(), value.clone());
                }
            }
            let metadata = converter.metadata(&pod);
            spec.insert("template".to_owned(), converter.template(pod));
            return Ok(converter.resource(compiled, metadata, Json::Object(spec)));
        }
        "tfjob" | "pytorchjob" | "mpijob" => converter.kubeflow_spec(run_section, &kv_env)?,
        "daskcluster" => converter.dask_spec(run_section, &kv_env)?,
        "raycluster" => converter.ray_spec(run_section, &kv_env)?,
        _ => {
            let pod = converter.pod(run_section, &kv_env, None)?;
            let metadata = converter.metadata(&pod);
            let spec = object([("template", converter.template(pod))]);
            return Ok(converter.resource(compiled, metadata, spec));
        }
    };
    let metadata = converter.resource_metadata();
    Ok(converter.resource(compiled, metadata, spec))
}

/// How each kind of run becomes a resource.
struct Layout {
    /// The run kinds converted this way.
    kinds: &'static [&'static str],
    /// The custom resource's kind.
    resource: &'static str,
    /// The key of its spec in the resource.
    spec_key: &'static str,
    /// The `app.kubernetes.io/component` label of its pods.
    component: &'static str,
    /// The name of the user's main container.
    main_container: &'static str,
    /// The run's replicas: its field for each, and the replica's name in the resource.
    replicas: &'static [(&'static str, &'static str)],
}

static LAYOUTS: &[Layout] = &[
    Layout {
        kinds: &["job"],
        resource: "Job",
        spec_key: "batchJobSpec",
        component: "polyaxon-jobs",
        main_container: MAIN_CONTAINER,
        replicas: &[],
    },
    // Polyaxon's own job-shaped kinds convert as jobs, with labels of their own.
    Layout {
        kinds: &["notifier"],
        resource: "Job",
        spec_key: "batchJobSpec",
        component: "polyaxon-notifiers",
        main_container: MAIN_CONTAINER,
        replicas: &[],
    },
    Layout {
        kinds: &["cleaner"],
        resource: "Job",
        spec_key: "batchJobSpec",
        component: "polyaxon-cleaners",
        main_container: MAIN_CONTAINER,
        replicas: &[],
    },
    Layout {
        kinds: &["tuner"],
        resource: "Job",
        spec_key: "batchJobSpec",
        component: "polyaxon-tuners",
        main_container: MAIN_CONTAINER,
        replicas: &[],
    },
    Layout {
        kinds: &["service"],
        resource: "Service",
        spec_key: "serviceSpec",
        component: "polyaxon-services",
        main_container: MAIN_CONTAINER,
        replicas: &[],
    },
    Layout {
        kinds: &["tfjob"],
        resource: "KfJob",
        spec_key: "tfJobSpec",
        component: "polyaxon-tfjobs",
        main_container: "tensorflow",
        replicas: &[
            ("chief", "Chief"),
            ("worker", "Worker"),
            ("ps", "PS"),
            ("evaluator", "Evaluator"),
        ],
    },
    Layout {
        kinds: &["pytorchjob"],
        resource: "KfJob",
        spec_key: "pytorchJobSpec",
        component: "polyaxon-pytorch-jobs",
        main_container: "pytorch",
        replicas: &[("master", "Master"), ("worker", "Worker")],
    },
    Layout {
        kinds: &["daskcluster"],
        resource: "Cluster",
        spec_key: "daskClusterSpec",
        component: "polyaxon-dask-clusters",
        main_container: MAIN_CONTAINER,
        replicas: &[("worker", "Worker"), ("scheduler", "Scheduler")],
    },
    Layout {
        kinds: &["raycluster"],
        resource: "Cluster",
        spec_key: "rayClusterSpec",
        component: "polyaxon-ray-clusters",
        main_container: MAIN_CONTAINER,
        replicas: &[],
    },
    Layout {
        kinds: &["mpijob"],
        resource: "KfJob",
        spec_key: "mpiJobSpec",
        component: "polyaxon-mpi-jobs",
        main_container: MAIN_CONTAINER,
        replicas: &[("launcher", "Launcher"), ("worker", "Worker")],
    },
];

fn kind_of(compiled: &Json) -> Option<&str> {
    compiled.get("run")?.get("kind")?.as_str()
}

/// `[name, value]` of every input, output and context with `toEnv`; a value Polyaxon holds as
/// None reaches the variable as `null`.
fn env_from_io(compiled: &Json) -> Vec<(String, Json)> {
    ["inputs", "outputs", "contexts"]
        .iter()
        .flat_map(|section| {
            compiled
                .get(*section)
                .and_then(Json::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|io| {
            let name = io.get("toEnv")?.as_str()?.to_owned();
            let value = io.get("value").cloned().unwrap_or(Json::Null);
            Some((name, value))
        })
        .collect()
}

struct Converter<'a> {
    run: &'a RunContext,
    plugins: Plugins,
    name: String,
    namespace: String,
    /// The run's kind, as its annotation says.
    kind: String,
    layout: &'static Layout,
    /// The connections of the whole run, as Polyaxon's resolver collects them: every pod gets
    /// the volume of each, whichever replica asked for it.
    run_connections: Vec<String>,
}

/// A pod's parts before they are assembled.
struct Pod {
    spec: Map<String, Json>,
    labels: Map<String, Json>,
    annotations: Map<String, Json>,
}

fn env(name: &str, value: impl Into<String>) -> Json {
    json!({"name": name, "value": value.into()})
}

fn field_env(name: &str, path: &str) -> Json {
    json!({"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}})
}

/// A value as an environment variable takes it: text as it is, anything else as compact JSON.
fn env_text(value: &Json) -> String {
    match value {
        Json::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn polyaxon_resources() -> Json {
    json!({"limits": {"cpu": "1", "memory": "500Mi"}, "requests": {"cpu": "0.1", "memory": "60Mi"}})
}

impl Converter<'_> {
    fn is_cleaner(&self) -> bool {
        self.kind == "cleaner"
    }

    /// The resource's name: Polyaxon tells its cleaners' resources from operations' by name.
    fn resource_name(&self) -> String {
        let role = if self.is_cleaner() {
            "cleaner"
        } else {
            "operation"
        };
        format!("plx-{role}-{}", self.run.run_uuid)
    }

    /// The instance the pod's Polyaxon processes report as: a run, or a cleaner of one.
    fn run_instance(&self) -> String {
        let collection = if self.is_cleaner() {
            "cleaners"
        } else {
            "runs"
        };
        format!(
            "{}.{}.{collection}.{}",
            self.run.owner, self.run.project, self.run.run_uuid
        )
    }

    /// The variables every Polyaxon process in the pod reads to reach the API as this run.
    fn service_env(&self, service: &str, token_auth: bool, log_level: bool) -> Vec<Json> {
        let mut vars = vec![
            field_env("POLYAXON_K8S_NODE_NAME", "spec.nodeName"),
            field_env("POLYAXON_K8S_NAMESPACE", "metadata.namespace"),
            field_env("POLYAXON_K8S_POD_ID", "metadata.name"),
            env("POLYAXON_HOST", self.run.api_host.clone()),
            env("POLYAXON_IS_MANAGED", "true"),
            env("POLYAXON_API_VERSION", "v1"),
            env("POLYAXON_RUN_INSTANCE", self.run_instance()),
        ];
        if log_level && let Some(level) = &self.plugins.log_level {
            vars.push(env("POLYAXON_LOG_LEVEL", level.clone()));
        }
        vars.push(env("POLYAXON_HEADER", "X-POLYAXON-SERVICE"));
        vars.push(env("POLYAXON_HEADER_SERVICE", service));
        if token_auth {
            vars.push(env("POLYAXON_AUTHENTICATION_TYPE", "Token"));
        }
        vars
    }

    fn store(&self) -> Option<&Connection> {
        self.run.agent.artifacts_store.as_ref()
    }

    /// The connections the main container gets: those the run asks for, and the artifacts
    /// store when it is mounted rather than collected.
    fn requested_connections(&self, pod: &Json) -> Result<Vec<&Connection>, NotConverted> {
        let mut names: Vec<String> = pod
            .get("connections")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .map(python::str_of)
            .collect();
        if let Some(store) = self.store()
            && (!self.plugins.collect_artifacts || self.plugins.mount_artifacts_store)
            && !names.contains(&store.name)
        {
            names.push(store.name.clone());
        }
        names
            .iter()
            .map(|name| {
                self.run
                    .connection(name)
                    .or_else(|| self.store().filter(|store| store.name == *name))
                    .ok_or_else(|| {
                        NotConverted::Invalid(format!("the agent has no connection named `{name}`"))
                    })
            })
            .collect()
    }

    fn pod(
        &self,
        pod: &Json,
        kv_env: &[(String, Json)],
        ports: Option<&[Json]>,
    ) -> Result<Pod, NotConverted> {
        let steps: Vec<&Json> = pod
            .get("init")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .collect();
        if !pod.get("container").is_some_and(Json::is_object) {
            // Polyaxon's converter fails here too (it reads the missing container's resources).
            return Err(NotConverted::Invalid(
                "the run has no `container`: say which image to run and how".to_owned(),
            ));
        }
        if self.plugins.sandbox || self.plugins.ssh {
            // Polyaxon signs the sandbox's sessions with the agent's internal token, which an
            // agent configuration does not carry; its converter refuses these runs as well.
            return Err(NotConverted::Invalid(
                "plugins.sandbox and plugins.ssh need the agent's internal token (POLYAXON_SECRET_INTERNAL_TOKEN), which this agent does not set".to_owned(),
            ));
        }
        let connections = self.requested_connections(pod)?;
        let init_connections = self.init_connections(&steps)?;
        let environment = pod.get("environment").cloned().unwrap_or(Json::Null);
        let mut spec = Map::new();
        let mut containers = vec![self.main_container(pod, &connections, &steps, kv_env, ports)];
        containers.extend(self.sidecar());
        for (index, sidecar) in pod
            .get("sidecars")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            containers.push(self.user_sidecar(sidecar, index, &connections, kv_env));
        }
        spec.insert("containers".to_owned(), Json::Array(containers));
        spec.insert(
            "initContainers".to_owned(),
            Json::Array(self.init_containers(&steps)?),
        );
        spec.insert(
            "volumes".to_owned(),
            Json::Array(self.volumes(pod, &connections, &steps, &init_connections)),
        );
        for (key, value) in environment.as_object().into_iter().flatten() {
            match key.as_str() {
                "labels" | "annotations" => {}
                // Polyaxon 2.18 writes hostPID as Python text (`"True"`).
                "hostPID" if !value.is_null() => {
                    spec.insert(key.clone(), Json::String(python::str_of(value)));
                }
                "imagePullSecrets" => {
                    let secrets: Vec<Json> = value
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|secret| match secret {
                            Json::String(name) => json!({"name": name}),
                            other => other.clone(),
                        })
                        .collect();
                    spec.insert(key.clone(), Json::Array(secrets));
                }
                _ => {
                    spec.insert(key.clone(), value.clone());
                }
            }
        }
        let labels: Map<String, Json> = environment
            .get("labels")
            .and_then(Json::as_object)
            .cloned()
            .unwrap_or_default();
        let mut annotations: Map<String, Json> = environment
            .get("annotations")
            .and_then(Json::as_object)
            .cloned()
            .unwrap_or_default();
        for connection in connections.iter().chain(&init_connections) {
            if let Some(Json::Object(extra)) = connection.raw.get("annotations") {
                annotations.extend(extra.clone());
            }
        }
        annotations.extend(self.annotations());
        Ok(Pod {
            spec,
            labels,
            annotations,
        })
    }

    /// Kubernetes' recommended labels, for a run of this kind.
    fn labels(&self) -> Map<String, Json> {
        let mut labels = Map::new();
        labels.insert(
            "app.kubernetes.io/name".to_owned(),
            Json::from(slugify(&self.name)),
        );
        labels.insert(
            "app.kubernetes.io/instance".to_owned(),
            Json::from(self.run.run_uuid.clone()),
        );
        labels.insert(
            "app.kubernetes.io/version".to_owned(),
            Json::from(POLYAXON_VERSION),
        );
        labels.insert(
            "app.kubernetes.io/part-of".to_owned(),
            Json::from("polyaxon-runs"),
        );
        labels.insert(
            "app.kubernetes.io/component".to_owned(),
            Json::from(self.layout.component),
        );
        labels.insert(
            "app.kubernetes.io/managed-by".to_owned(),
            Json::from("polyaxon"),
        );
        labels.insert(
            "operation.polyaxon.com/uuid".to_owned(),
            Json::from(self.run.run_uuid.clone()),
        );
        labels
    }

    fn annotations(&self) -> Map<String, Json> {
        let mut annotations = Map::new();
        annotations.insert(
            "operation.polyaxon.com/name".to_owned(),
            Json::from(self.name.clone()),
        );
        annotations.insert(
            "operation.polyaxon.com/owner".to_owned(),
            Json::from(self.run.owner.clone()),
        );
        annotations.insert(
            "operation.polyaxon.com/project".to_owned(),
            Json::from(self.run.project.clone()),
        );
        annotations
    }

    /// A pod's metadata: its environment's labels and annotations under the run's own.
    fn metadata(&self, pod: &Pod) -> Json {
        self.metadata_with(pod.labels.clone(), pod.annotations.clone())
    }

    /// The metadata of a resource with several kinds of pods: the run's labels and annotations.
    fn resource_metadata(&self) -> Json {
        let mut annotations = Map::new();
        annotations.extend(self.annotations());
        self.metadata_with(Map::new(), annotations)
    }

    fn metadata_with(
        &self,
        mut labels: Map<String, Json>,
        mut annotations: Map<String, Json>,
    ) -> Json {
        labels.extend(self.labels());
        annotations.insert(
            "operation.polyaxon.com/kind".to_owned(),
            Json::from(self.kind.clone()),
        );
        object([
            ("name", Json::from(self.resource_name())),
            ("namespace", Json::from(self.namespace.clone())),
            ("labels", stringify(labels)),
            ("annotations", stringify(annotations)),
        ])
    }

    fn template(&self, pod: Pod) -> Json {
        object([
            ("metadata", self.metadata(&pod)),
            ("spec", Json::Object(pod.spec)),
        ])
    }

    /// A Kubeflow job's spec: one replica spec per role the run sets, and the job's policies.
    /// One replica of a distributed run: its count, its restart policy (taken out of the pod,
    /// where the replica's controller owns it) and its pod template. `adjust` completes the main
    /// container with what the kind requires of it.
    fn replica(
        &self,
        replica: &Json,
        kv_env: &[(String, Json)],
        default_restart: &str,
        adjust: impl FnOnce(&mut Map<String, Json>),
    ) -> Result<Map<String, Json>, NotConverted> {
        let mut pod = self.pod(replica, kv_env, None)?;
        if let Some(Json::Array(containers)) = pod.spec.get_mut("containers")
            && let Some(Json::Object(main)) = containers.first_mut()
        {
            adjust(main);
        }
        // The pod keeps its own policy too; the replica's is that one or the kind's default.
        let restart = pod
            .spec
            .get("restartPolicy")
            .cloned()
            .unwrap_or_else(|| Json::from(default_restart));
        let mut data = Map::new();
        data.insert(
            "replicas".to_owned(),
            replica.get("replicas").cloned().unwrap_or(Json::Null),
        );
        data.insert("restartPolicy".to_owned(), restart);
        data.insert("template".to_owned(), self.template(pod));
        Ok(data)
    }

    /// A Kubeflow job's spec: one replica spec per role the run sets, and the job's policies.
    fn kubeflow_spec(
        &self,
        run_section: &Json,
        kv_env: &[(String, Json)],
    ) -> Result<Json, NotConverted> {
        let mut replicas = Map::new();
        for (field, name) in self.layout.replicas {
            let Some(replica) = run_section
                .get(*field)
                .filter(|replica| replica.is_object())
            else {
                continue;
            };
            let data = self.replica(replica, kv_env, "OnFailure", |_| {})?;
            replicas.insert((*name).to_owned(), Json::Object(data));
        }
        // Polyaxon writes a TFJob's dynamic-worker and success settings among its replicas,
        // and only when they are set to something.
        for key in ["enableDynamicWorker", "successPolicy"] {
            if let Some(value) = run_section.get(key).filter(|value| {
                !matches!(value, Json::Null | Json::Bool(false)) && value.as_str() != Some("")
            }) {
                replicas.insert(key.to_owned(), value.clone());
            }
        }
        let mut spec = Map::new();
        spec.insert("replicaSpecs".to_owned(), Json::Object(replicas));
        let clean_pod_policy = run_section
            .get("cleanPodPolicy")
            .and_then(Json::as_str)
            .unwrap_or("None");
        spec.insert(
            "cleanPodPolicy".to_owned(),
            Json::from(capitalise(&clean_pod_policy.to_lowercase())),
        );
        if let Some(policy) = run_section
            .get("schedulingPolicy")
            .filter(|policy| !policy.is_null())
        {
            spec.insert("schedulingPolicy".to_owned(), policy.clone());
        }
        if let Some(policy) = run_section
            .get("elasticPolicy")
            .filter(|policy| !policy.is_null())
        {
            spec.insert("elasticPolicy".to_owned(), policy.clone());
        }
        if let Some(processes) = run_section
            .get("nProcPerNode")
            .filter(|value| !value.is_null())
        {
            spec.insert(
                "nProcPerNode".to_owned(),
                Json::String(python::str_of(processes)),
            );
        }
        if let Some(slots) = run_section
            .get("slotsPerWorker")
            .filter(|value| !value.is_null())
        {
            spec.insert("slotsPerWorker".to_owned(), slots.clone());
        }
        Ok(Json::Object(spec))
    }

    /// A Dask cluster: a scheduler with its dashboard and health probes, workers that join it,
    /// and the service that exposes the scheduler.
    fn dask_spec(
        &self,
        run_section: &Json,
        kv_env: &[(String, Json)],
    ) -> Result<Json, NotConverted> {
        let resource_name = self.resource_name();
        let dashboard = format!(
            "/monitors/v1/{}/{}/{}/runs/{}/{resource_name}-scheduler/8787",
            self.namespace, self.run.owner, self.run.project, self.run.run_uuid
        );
        let health = format!("{dashboard}/health");
        let probe = |delay: u32| json!({"httpGet": {"path": health, "port": "http-dashboard"}, "initialDelaySeconds": delay, "periodSeconds": delay});
        let port = |name: &str, number: u32| json!({"containerPort": number, "name": name, "protocol": "TCP"});
        let mut replicas = Map::new();
        if let Some(worker) = run_section
            .get("worker")
            .filter(|replica| replica.is_object())
        {
            let data = self.replica(worker, kv_env, "Never", |main| {
                set_if_empty(main, "ports", json!([port("http-dashboard", 8788)]));
                main.entry("args").or_insert_with(|| {
                    json!([
                        "dask-worker",
                        "--name",
                        "$(DASK_WORKER_NAME)",
                        "--dashboard",
                        "--dashboard-address",
                        "8788"
                    ])
                });
            })?;
            replicas.insert("Worker".to_owned(), Json::Object(data));
        }
        if let Some(scheduler) = run_section
            .get("scheduler")
            .filter(|replica| replica.is_object())
        {
            let data = self.replica(scheduler, kv_env, "Never", |main| {
                set_if_empty(
                    main,
                    "ports",
                    json!([port("tcp-comm", 8786), port("http-dashboard", 8787)]),
                );
                let args = main
                    .entry("args")
                    .or_insert_with(|| json!(["dask-scheduler"]));
                if let Json::Array(args) = args {
                    args.extend([
                        Json::from("--dashboard-prefix"),
                        Json::from(dashboard.clone()),
                    ]);
                }
                main.entry("readinessProbe").or_insert_with(|| probe(5));
                main.entry("livenessProbe").or_insert_with(|| probe(15));
            })?;
            replicas.insert("Scheduler".to_owned(), Json::Object(data));
        }
        let Json::Object(mut selector) = stringify(self.labels()) else {
            unreachable!("labels are a mapping")
        };
        selector.insert(
            "dask.org/cluster-name".to_owned(),
            Json::from(resource_name),
        );
        selector.insert("dask.org/component".to_owned(), Json::from("scheduler"));
        let service_port = |name: &str, number: u32| json!({"name": name, "port": number, "protocol": "TCP", "targetPort": name});
        let mut spec = Map::new();
        spec.insert("replicaSpecs".to_owned(), Json::Object(replicas));
        spec.insert(
            "service".to_owned(),
            json!({
                "ports": [service_port("tcp-comm", 8786), service_port("http-dashboard", 8787)],
                "selector": selector,
                "type": "ClusterIP",
            }),
        );
        // Autoscaling needs both bounds.
        if let (Some(min), Some(max)) = (
            run_section
                .get("minReplicas")
                .filter(|value| !value.is_null()),
            run_section
                .get("maxReplicas")
                .filter(|value| !value.is_null()),
        ) {
            spec.insert("minReplicas".to_owned(), min.clone());
            spec.insert("maxReplicas".to_owned(), max.clone());
        }
        Ok(Json::Object(spec))
    }

    /// A Ray cluster: a head (with Ray's ports and dashboard) and named groups of workers.
    fn ray_spec(
        &self,
        run_section: &Json,
        kv_env: &[(String, Json)],
    ) -> Result<Json, NotConverted> {
        let ray_group = |replica: &Json,
                         group: &str,
                         data: &mut Map<String, Json>,
                         default_params: Option<Json>| {
            for (from, to) in [
                ("minReplicas", "minReplicas"),
                ("maxReplicas", "maxReplicas"),
            ] {
                if let Some(value) = replica.get(from).filter(|value| {
                    !matches!(value, Json::Null | Json::Bool(false)) && value.as_i64() != Some(0)
                }) {
                    data.insert(to.to_owned(), value.clone());
                }
            }
            let mut params = default_params
                .and_then(|params| params.as_object().cloned())
                .unwrap_or_default();
            if let Some(Json::Object(given)) = replica.get("rayStartParams") {
                params.extend(given.clone());
            }
            if !params.is_empty() {
                data.insert("rayStartParams".to_owned(), Json::Object(params));
            }
            data.insert("groupName".to_owned(), Json::from(group));
        };
        let mut spec = Map::new();
        if let Some(head) = run_section
            .get("head")
            .filter(|replica| replica.is_object())
        {
            let port = |name: &str, number: u32| json!({"containerPort": number, "name": name, "protocol": "TCP"});
            let mut data = self.replica(head, kv_env, "Never", |main| {
                set_if_empty(
                    main,
                    "ports",
                    json!([
                        port("gcs-server", 6379),
                        port("dashboard", 8265),
                        port("client", 10001),
                        port("serve", 8000)
                    ]),
                );
            })?;
            ray_group(
                head,
                "head",
                &mut data,
                Some(json!({"dashboard-host": "0.0.0.0"})),
            );
            spec.insert("head".to_owned(), Json::Object(data));
        }
        let mut workers = Vec::new();
        for (group, worker) in run_section
            .get("workers")
            .and_then(Json::as_object)
            .into_iter()
            .flatten()
        {
            let mut data = self.replica(worker, kv_env, "Never", |main| {
                // Workers leave the cluster cleanly when their pod stops.
                main.entry("lifecycle").or_insert_with(
                    || json!({"preStop": {"exec": {"command": ["/bin/sh", "-c", "ray stop"]}}}),
                );
            })?;
            ray_group(worker, group, &mut data, None);
            workers.push(Json::Object(data));
        }
        if !workers.is_empty() {
            spec.insert("workers".to_owned(), Json::Array(workers));
        }
        for key in [
            "entrypoint",
            "metadata",
            "rayVersion",
            "enableInTreeAutoscaling",
            "autoscalerOptions",
        ] {
            if let Some(value) = run_section.get(key).filter(|value| !value.is_null()) {
                spec.insert(key.to_owned(), value.clone());
            }
        }
        // Polyaxon passes the runtime env as JSON text, `null` included.
        let runtime_env = run_section.get("runtimeEnv").cloned().unwrap_or(Json::Null);
        spec.insert(
            "runtimeEnv".to_owned(),
            Json::String(runtime_env.to_string()),
        );
        Ok(Json::Object(spec))
    }

    fn resource(&self, compiled: &Json, metadata: Json, spec: Json) -> Json {
        let mut resource = Map::new();
        resource.insert("apiVersion".to_owned(), Json::from("polyaxon.com/v1"));
        resource.insert("kind".to_owned(), Json::from(self.layout.resource));
        resource.insert("metadata".to_owned(), metadata);
        resource.insert(
            "collectLogs".to_owned(),
            Json::Bool(self.plugins.collect_logs),
        );
        resource.insert(
            "syncStatuses".to_owned(),
            Json::Bool(self.plugins.sync_statuses),
        );
        let notifications: Vec<Json> = self
            .plugins
            .notifications
            .iter()
            .map(|notification| {
                let trigger = notification
                    .get("trigger")
                    .map(python::str_of)
                    .unwrap_or_default();
                json!({
                    "connections": notification.get("connections").cloned().unwrap_or(Json::Null),
                    "trigger": capitalise(&trigger),
                })
            })
            .collect();
        resource.insert("notifications".to_owned(), Json::Array(notifications));
        if let Some(termination) = compiled.get("termination").and_then(Json::as_object) {
            resource.insert("termination".to_owned(), termination_spec(termination));
        }
        resource.insert(self.layout.spec_key.to_owned(), spec);
        Json::Object(resource)
    }

    fn main_container(
        &self,
        pod: &Json,
        connections: &[&Connection],
        steps: &[&Json],
        kv_env: &[(String, Json)],
        ports: Option<&[Json]>,
    ) -> Json {
        let mut container = pod
            .get("container")
            .and_then(Json::as_object)
            .cloned()
            .unwrap_or_default();

        let (vars, env_from, mut mounts) =
            self.run_context(&container, connections, kv_env, self.plugins.tmux);
        // The main container sees where its init steps put things.
        let mut mounted: Vec<String> = Vec::new();
        if self.plugins.collect_artifacts {
            mounted.push("artifacts-context".to_owned());
        }
        let at = mounts
            .iter()
            .position(|mount| mount.get("name") == Some(&Json::from("artifacts-context")))
            .map_or(mounts.len(), |index| index + 1);
        let mut context_mounts = Vec::new();
        for step in steps.iter().filter(|step| init::fetches(step)) {
            let (name, path) = init::context_volume(step);
            if mounted.contains(&name) {
                continue;
            }
            mounted.push(name.clone());
            context_mounts.push(json!({"mountPath": path, "name": name}));
        }
        mounts.splice(at..at, context_mounts);
        let own_ports = container
            .get("ports")
            .and_then(Json::as_array)
            .cloned()
            .unwrap_or_default();
        let service_ports = ports
            .unwrap_or_default()
            .iter()
            .map(|port| json!({"containerPort": port}));
        container.insert("name".to_owned(), Json::from(self.layout.main_container));
        container.insert("env".to_owned(), Json::Array(vars));
        container.insert("envFrom".to_owned(), Json::Array(env_from));
        container.insert(
            "ports".to_owned(),
            Json::Array(merge_ports(own_ports.into_iter().chain(service_ports))),
        );
        container.insert("volumeMounts".to_owned(), Json::Array(mounts));
        sanitize_container(container)
    }

    /// A sidecar of the user's: it gets what the main container gets, the run's environment,
    /// connections and context mounts.
    fn user_sidecar(
        &self,
        sidecar: &Json,
        index: usize,
        connections: &[&Connection],
        kv_env: &[(String, Json)],
    ) -> Json {
        let mut container = sidecar.as_object().cloned().unwrap_or_default();
        container.entry("name").or_insert_with(|| {
            Json::from(init::unique_name("sidecar", &format!("{index}:{sidecar}")))
        });
        let (vars, env_from, mounts) = self.run_context(&container, connections, kv_env, false);
        container.insert("env".to_owned(), Json::Array(vars));
        if !env_from.is_empty() {
            container.insert("envFrom".to_owned(), Json::Array(env_from));
        }
        container.insert("volumeMounts".to_owned(), Json::Array(mounts));
        sanitize_container(container)
    }

    /// A container's env, envFrom and volume mounts with the run's added after its own: the
    /// variables Polyaxon's client reads, the requested connections' secrets and config maps,
    /// and the context and connection mounts.
    fn run_context(
        &self,
        container: &Map<String, Json>,
        connections: &[&Connection],
        kv_env: &[(String, Json)],
        tmux: bool,
    ) -> (Vec<Json>, Vec<Json>, Vec<Json>) {
        // Polyaxon takes a lone mapping where a list belongs as a list of that one item.
        let own = |key: &str| match container.get(key) {
            Some(Json::Array(items)) => items.clone(),
            Some(item @ Json::Object(_)) => vec![item.clone()],
            _ => Vec::new(),
        };
        let mut vars = own("env");
        vars.extend(self.service_env("runner", false, true));
        if self.plugins.collect_artifacts {
            vars.push(env("POLYAXON_COLLECT_ARTIFACTS", "true"));
        }
        if self.plugins.collect_resources {
            vars.push(env("POLYAXON_COLLECT_RESOURCES", "true"));
        }
        if let Some(store) = self.store() {
            vars.push(env("POLYAXON_ARTIFACTS_STORE_NAME", store.name.clone()));
        }
        if !connections.is_empty() {
            vars.push(catalog(connections));
        }
        for (name, value) in kv_env {
            vars.push(env(name, env_text(value)));
        }
        let secrets: Vec<&Json> = connections
            .iter()
            .filter_map(|connection| connection.raw.get("secret"))
            .collect();
        let config_maps: Vec<&Json> = connections
            .iter()
            .filter_map(|connection| connection.raw.get("configMap"))
            .collect();
        for (resources, reference) in [
            (&secrets, "secretKeyRef"),
            (&config_maps, "configMapKeyRef"),
        ] {
            for resource in resources
                .iter()
                .filter(|resource| resource.get("mountPath").is_none())
            {
                for item in resource
                    .get("items")
                    .and_then(Json::as_array)
                    .into_iter()
                    .flatten()
                {
                    let item = python::str_of(item);
                    vars.push(json!({"name": item, "valueFrom": {reference: {"key": item, "name": resource.get("name")}}}));
                }
            }
        }
        if !requests_gpu(container.get("resources")) {
            vars.push(env("NVIDIA_VISIBLE_DEVICES", "none"));
        }
        let mut env_from = own("envFrom");
        for (resources, reference) in [(&secrets, "secretRef"), (&config_maps, "configMapRef")] {
            for resource in resources.iter() {
                if resource.get("items").is_none() && resource.get("mountPath").is_none() {
                    env_from.push(json!({reference: {"name": resource.get("name")}}));
                }
            }
        }
        let mut mounts = own("volumeMounts");
        mounts.extend(self.context_mounts(self.plugins.docker, self.plugins.shm));
        if tmux {
            mounts.push(json!({"mountPath": TOOLS_BIN, "name": "plx-tools-bin", "readOnly": true}));
        }
        if self.plugins.collect_artifacts {
            mounts.push(json!({"mountPath": CONTEXT_ARTIFACTS, "name": "artifacts-context", "readOnly": false}));
        }
        for connection in connections {
            mounts.extend(store_mount(connection));
        }
        for resource in secrets.iter().chain(&config_maps) {
            if let Some(path) = resource.get("mountPath") {
                mounts.push(
                    json!({"mountPath": path, "name": resource.get("name"), "readOnly": true}),
                );
            }
        }
        (vars, env_from, mounts)
    }

    /// The configs (auth), docker socket and shared memory mounts a plugin set asks for.
    fn context_mounts(&self, docker: bool, shm: bool) -> Vec<Json> {
        let mut mounts = Vec::new();
        if self.plugins.auth {
            mounts.push(
                json!({"mountPath": CONTEXT_CONFIGS, "name": "configs-context", "readOnly": true}),
            );
        }
        if docker {
            mounts.push(json!({"mountPath": "/var/run/docker.sock", "name": "docker"}));
        }
        if shm {
            mounts.push(json!({"mountPath": "/dev/shm", "name": "shm"}));
        }
        mounts
    }

    /// Polyaxon's sidecar, which ships the run's logs and artifacts to the store.
    fn sidecar(&self) -> Option<Json> {
        let store = self.store()?;
        if !self.plugins.collect_artifacts && !self.plugins.collect_logs {
            return None;
        }
        // The plugin's settings override the agent's only when Python finds them true: an
        // interval of 0 keeps the agent's 10 s, and `monitorLogs: false` cannot turn off what
        // the agent monitors (everything, as it sets nothing).
        let setting = |key: &str| {
            self.plugins
                .sidecar
                .get(key)
                .filter(|value| python_truthy(value))
        };
        let interval = |key: &str| setting(key).map_or_else(|| "10".to_owned(), python::str_of);
        let args = vec![
            format!("--container-id={}", self.layout.main_container),
            format!("--sleep-interval={}", interval("sleepInterval")),
            format!("--sync-interval={}", interval("syncInterval")),
            "--monitor-logs".to_owned(),
            "--monitor-spec".to_owned(),
        ];
        let mut vars = self.service_env("sidecar", true, true);
        vars.push(env("POLYAXON_CONTAINER_ID", self.layout.main_container));
        vars.push(env("POLYAXON_ARTIFACTS_STORE_NAME", store.name.clone()));
        let mut mounts = self.context_mounts(false, false);
        if self.plugins.collect_artifacts {
            mounts.push(json!({"mountPath": CONTEXT_ARTIFACTS, "name": "artifacts-context", "readOnly": false}));
        }
        let access = StoreAccess::of(store);
        mounts.extend(access.mounts);
        vars.extend(access.env);
        vars.push(catalog(&[store]));
        Some(polyaxon_container(
            "polyaxon-sidecar".to_owned(),
            "sidecar",
            json!(["polyaxon", "sidecar"]),
            Some(args),
            vars,
            access.env_from,
            mounts,
        ))
    }

    /// The init container that copies tmux into the pod's tools volume. (Runs with the
    /// sandbox or ssh plugins are refused before this point.)
    fn tools_container(&self) -> Json {
        polyaxon_container(
            "polyaxon-init-tools".to_owned(),
            "init",
            json!([
                "sh",
                "-c",
                "cp /usr/bin/tmux /opt/polyaxon/bin/tmux && printf '%s\\n' 'Polyaxon tmux tools initialized'"
            ]),
            None,
            Vec::new(),
            Vec::new(),
            vec![json!({"mountPath": TOOLS_BIN, "name": "plx-tools-bin", "readOnly": false})],
        )
    }

    /// Polyaxon's init containers (auth, the run's artifacts), then one per init step.
    fn init_containers(&self, steps: &[&Json]) -> Result<Vec<Json>, NotConverted> {
        let mut containers = Vec::new();
        if self.plugins.auth {
            containers.push(polyaxon_container(
                "polyaxon-init-auth".to_owned(),
                "init",
                json!(["polyaxon", "initializer", "auth"]),
                None,
                self.service_env("initializer", true, false),
                Vec::new(),
                vec![json!({"mountPath": CONTEXT_CONFIGS, "name": "configs-context", "readOnly": false})],
            ));
        }
        if self.plugins.tmux {
            containers.push(self.tools_container());
        }
        if let Some(store) = self.store()
            && self.plugins.collect_artifacts
        {
            let run_path = format!("{CONTEXT_ARTIFACTS}/{}", self.run.run_uuid);
            let mut script = vec![
                make_dir(&run_path),
                make_dir(&format!("{run_path}/outputs")),
            ];
            if self.plugins.auto_resume {
                // Resuming: copy what the run already has in the store back into its context.
                script.push(make_dir(&run_path));
                if let Some(store_path) = store.store_path() {
                    let from = format!("{store_path}/{}", self.run.run_uuid);
                    script.push(format!(
                        "if [ -d {from} ] && [ \"$(ls -A {from})\" ]; then cp -R {from}/* {run_path}; polyaxon initializer fswatch --path={run_path}; fi;"
                    ));
                }
            }
            let mut vars = Vec::new();
            if let Some(level) = &self.plugins.log_level {
                vars.push(env("POLYAXON_LOG_LEVEL", level.clone()));
            }
            containers.push(store_container(
                "polyaxon-init-artifacts-default".to_owned(),
                store,
                vars,
                vec![json!({"mountPath": CONTEXT_ARTIFACTS, "name": "artifacts-context"})],
                json!(["/bin/sh", "-c"]),
                vec![script.join(" ")],
            ));
        }
        containers.extend(self.init_step_containers(steps)?);
        Ok(containers)
    }

    fn volumes(
        &self,
        pod: &Json,
        connections: &[&Connection],
        steps: &[&Json],
        init_connections: &[&Connection],
    ) -> Vec<Json> {
        let mut volumes: Vec<Json> = pod
            .get("volumes")
            .and_then(Json::as_array)
            .cloned()
            .unwrap_or_default();
        // The folders init steps fill, each an empty dir shared with the main container.
        let mut contexts: Vec<String> = Vec::new();
        for step in steps.iter().filter(|step| init::fetches(step)) {
            let (name, _) = init::context_volume(step);
            if !contexts.contains(&name) {
                volumes.push(json!({"emptyDir": {}, "name": name}));
                contexts.push(name);
            }
        }
        let mut seen: Vec<&str> = Vec::new();
        let mut with_store: Vec<&Connection> = Vec::new();
        with_store.extend(self.store());
        with_store.extend(
            self.run_connections
                .iter()
                .filter_map(|name| self.run.connection(name)),
        );
        for connection in &with_store {
            if seen.contains(&connection.name.as_str()) {
                continue;
            }
            seen.push(&connection.name);
            volumes.extend(connection_volume(connection));
        }
        let mut with_resources: Vec<&Connection> = connections.to_vec();
        for connection in init_connections {
            if !with_resources
                .iter()
                .any(|known| known.name == connection.name)
            {
                with_resources.push(connection);
            }
        }
        if let Some(store) = self.store()
            && !with_resources.iter().any(|known| known.name == store.name)
        {
            with_resources.push(store);
        }
        for connection in with_resources {
            for key in ["secret", "configMap"] {
                let Some(resource) = connection.raw.get(key) else {
                    continue;
                };
                if resource.get("mountPath").is_none() {
                    continue;
                }
                let name = resource.get("name").cloned().unwrap_or(Json::Null);
                let mut source = Map::new();
                if key == "secret" {
                    source.insert("secretName".to_owned(), name.clone());
                } else {
                    source.insert("name".to_owned(), name.clone());
                }
                for field in ["items", "defaultMode"] {
                    if let Some(value) = resource.get(field) {
                        source.insert(field.to_owned(), value.clone());
                    }
                }
                volumes.push(json!({"name": name, key: source}));
            }
        }
        if (self.plugins.collect_artifacts || self.plugins.collect_logs)
            && !contexts.iter().any(|name| name == "artifacts-context")
        {
            volumes.push(json!({"emptyDir": {}, "name": "artifacts-context"}));
        }
        if self.plugins.shm {
            volumes.push(json!({"emptyDir": {"medium": "Memory"}, "name": "shm"}));
        }
        if self.plugins.auth {
            volumes.push(json!({"emptyDir": {}, "name": "configs-context"}));
        }
        if self.plugins.docker {
            volumes.push(json!({"hostPath": {"path": "/var/run/docker.sock"}, "name": "docker"}));
        }
        if self.plugins.tmux {
            volumes.push(json!({"emptyDir": {}, "name": "plx-tools-bin"}));
        }
        volumes
    }
}

/// The resource's `termination`: Kubernetes' names for retries, deadline and time to live, and
/// Polyaxon's culling of idle services and activity probe. Unset or zero settings are left out.
fn termination_spec(termination: &Map<String, Json>) -> Json {
    let set = |value: &Json| {
        !matches!(value, Json::Null | Json::Bool(false))
            && value.as_f64() != Some(0.0)
            && value.as_str() != Some("")
    };
    let pick = |object: &Json, keys: &[&str]| -> Json {
        Json::Object(
            keys.iter()
                .filter_map(|key| {
                    object
                        .get(*key)
                        .filter(|value| set(value))
                        .map(|value| ((*key).to_owned(), value.clone()))
                })
                .collect(),
        )
    };
    let mut spec = Map::new();
    for (from, to) in [
        ("maxRetries", "backoffLimit"),
        ("timeout", "activeDeadlineSeconds"),
        ("ttl", "ttlSecondsAfterFinished"),
    ] {
        if let Some(value) = termination.get(from).filter(|value| set(value)) {
            spec.insert(to.to_owned(), value.clone());
        }
    }
    if let Some(culling) = termination.get("culling").filter(|value| set(value)) {
        spec.insert("culling".to_owned(), pick(culling, &["timeout"]));
    }
    if let Some(probe) = termination.get("probe").filter(|value| set(value)) {
        let mut probe_spec = Map::new();
        if let Some(exec) = probe.get("exec").filter(|value| set(value)) {
            probe_spec.insert("exec".to_owned(), pick(exec, &["command"]));
        }
        if let Some(http) = probe.get("http").filter(|value| set(value)) {
            probe_spec.insert("http".to_owned(), pick(http, &["path", "port"]));
        }
        spec.insert("probe".to_owned(), Json::Object(probe_spec));
    }
    if let Some(policy) = termination
        .get("podFailurePolicy")
        .filter(|value| set(value))
    {
        spec.insert("podFailurePolicy".to_owned(), policy.clone());
    }
    Json::Object(spec)
}

/// Sets `key` when the container has none or an empty list.
fn set_if_empty(container: &mut Map<String, Json>, key: &str, value: Json) {
    let empty = match container.get(key) {
        None | Some(Json::Null) => true,
        Some(Json::Array(items)) => items.is_empty(),
        Some(_) => false,
    };
    if empty {
        container.insert(key.to_owned(), value);
    }
}

/// What Polyaxon does to every container of the user's before submitting it: command and args
/// become text without empty items, resource quantities text, env values text (or compact JSON),
/// and of two env vars with one name the later one stays.
fn sanitize_container(mut container: Map<String, Json>) -> Json {
    for key in ["command", "args"] {
        if let Some(Json::Array(items)) = container.get(key) {
            let items: Vec<Json> = items
                .iter()
                .filter(|item| !item.is_null() && item.as_str() != Some(""))
                .map(|item| Json::String(python::str_of(item)))
                .collect();
            container.insert(key.to_owned(), Json::Array(items));
        }
    }
    if let Some(Json::Object(resources)) = container.get_mut("resources") {
        for side in ["limits", "requests"] {
            if let Some(Json::Object(quantities)) = resources.get_mut(side) {
                for quantity in quantities.values_mut() {
                    *quantity = Json::String(python::str_of(quantity));
                }
            }
        }
    }
    if let Some(Json::Array(vars)) = container.get_mut("env") {
        let mut kept: Vec<Json> = Vec::with_capacity(vars.len());
        let mut seen: Vec<String> = Vec::new();
        for mut var in std::mem::take(vars).into_iter().rev() {
            sanitize_env_var(&mut var);
            if let Some(name) = var.get("name").and_then(Json::as_str) {
                if seen.iter().any(|known| known == name) {
                    continue;
                }
                seen.push(name.to_owned());
            }
            kept.push(var);
        }
        kept.reverse();
        *vars = kept;
    }
    Json::Object(container)
}

/// An env var's name and value as text; its other fields keep their structure, with text leaves.
fn sanitize_env_var(var: &mut Json) {
    fn leaves_as_text(value: &mut Json) {
        match value {
            Json::String(_) => {}
            Json::Object(fields) => fields.values_mut().for_each(leaves_as_text),
            other => *other = Json::String(other.to_string()),
        }
    }
    let Json::Object(fields) = var else {
        return;
    };
    for (key, value) in fields.iter_mut() {
        match (key.as_str(), &*value) {
            (_, Json::String(_)) => {}
            ("name" | "value", other) => *value = Json::String(other.to_string()),
            _ => leaves_as_text(value),
        }
    }
}

/// Container ports, the first of each port number kept.
fn merge_ports(ports: impl Iterator<Item = Json>) -> Vec<Json> {
    let mut seen = Vec::new();
    let mut merged = Vec::new();
    for port in ports {
        let number = match &port {
            Json::Object(fields) => fields.get("containerPort").cloned(),
            Json::Number(_) => Some(port.clone()),
            _ => None,
        };
        let Some(number) = number else { continue };
        if seen.contains(&number) {
            continue;
        }
        seen.push(number.clone());
        merged.push(match port {
            Json::Object(_) => port,
            _ => json!({"containerPort": number}),
        });
    }
    merged
}

/// How a container reaches a store: a mounted volume, or a bucket's credentials.
struct StoreAccess {
    mounts: Vec<Json>,
    env: Vec<Json>,
    env_from: Vec<Json>,
}

impl StoreAccess {
    /// How a container reads a store: its volume when it is mounted, its credentials when it
    /// is a bucket.
    fn of(store: &Connection) -> Self {
        if matches!(store.kind.as_str(), "s3" | "gcs" | "wasb") {
            return Self::credentials(store);
        }
        StoreAccess {
            mounts: store_mount(store).into_iter().collect(),
            env: Vec::new(),
            env_from: Vec::new(),
        }
    }

    /// A connection's secret and config map: mounted where they say, else exposed as env vars
    /// (their `items`) or as a whole (`envFrom`).
    fn credentials(connection: &Connection) -> Self {
        let mut access = StoreAccess {
            mounts: Vec::new(),
            env: Vec::new(),
            env_from: Vec::new(),
        };
        for (key, item_ref, whole_ref) in [
            ("secret", "secretKeyRef", "secretRef"),
            ("configMap", "configMapKeyRef", "configMapRef"),
        ] {
            let Some(resource) = connection.raw.get(key) else {
                continue;
            };
            let name = resource.get("name").cloned().unwrap_or(Json::Null);
            if let Some(path) = resource.get("mountPath") {
                access
                    .mounts
                    .push(json!({"mountPath": path, "name": name, "readOnly": true}));
            } else if let Some(items) = resource.get("items").and_then(Json::as_array) {
                for item in items {
                    let item = python::str_of(item);
                    access.env.push(
                        json!({"name": item, "valueFrom": {item_ref: {"key": item, "name": name}}}),
                    );
                }
            } else {
                access.env_from.push(json!({whole_ref: {"name": name}}));
            }
        }
        access
    }
}

/// A Polyaxon init container that reads from `store`: the store's mount or credentials and its
/// catalog entry are added to what it is given.
fn store_container(
    name: String,
    store: &Connection,
    mut vars: Vec<Json>,
    mut mounts: Vec<Json>,
    command: Json,
    args: Vec<String>,
) -> Json {
    let access = StoreAccess::of(store);
    mounts.extend(access.mounts);
    vars.extend(access.env);
    vars.push(catalog(&[store]));
    polyaxon_container(
        name,
        "init",
        command,
        Some(args),
        vars,
        access.env_from,
        mounts,
    )
}

/// One of Polyaxon's own containers, from its `sidecar` or `init` image.
fn polyaxon_container(
    name: String,
    image: &str,
    command: Json,
    args: Option<Vec<String>>,
    env: Vec<Json>,
    env_from: Vec<Json>,
    mounts: Vec<Json>,
) -> Json {
    let mut container = Map::new();
    container.insert("name".to_owned(), Json::from(name));
    container.insert(
        "image".to_owned(),
        Json::from(format!("polyaxon/polyaxon-{image}:{POLYAXON_VERSION}")),
    );
    container.insert("imagePullPolicy".to_owned(), Json::from("IfNotPresent"));
    container.insert("command".to_owned(), command);
    if let Some(args) = args {
        container.insert("args".to_owned(), Json::from(args));
    }
    container.insert("env".to_owned(), Json::Array(env));
    container.insert("envFrom".to_owned(), Json::Array(env_from));
    container.insert("ports".to_owned(), Json::Array(Vec::new()));
    container.insert("resources".to_owned(), polyaxon_resources());
    container.insert("volumeMounts".to_owned(), Json::Array(mounts));
    Json::Object(container)
}

/// A JSON object of these fields, moving the values in (`json!` copies them through serde).
fn object<const N: usize>(fields: [(&str, Json); N]) -> Json {
    Json::Object(
        fields
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value))
            .collect(),
    )
}

fn make_dir(path: &str) -> String {
    format!("if [ ! -d \"{path}\" ]; then mkdir -m 0777 -p {path}; fi;")
}

/// `POLYAXON_CONNECTIONS_CATALOG`: the connections a process may use, as the agent describes them.
fn catalog(connections: &[&Connection]) -> Json {
    // Written straight from the agent's entries: this runs for every container that reads a store.
    #[derive(serde::Serialize)]
    struct Catalog<'a> {
        connections: Vec<&'a Json>,
    }
    let catalog = Catalog {
        connections: connections
            .iter()
            .map(|connection| &connection.raw)
            .collect(),
    };
    env(
        "POLYAXON_CONNECTIONS_CATALOG",
        serde_json::to_string(&catalog).unwrap_or_default(),
    )
}

/// The mount of a volume-backed connection (a claim or a host path) at its `mountPath`.
fn store_mount(connection: &Connection) -> Option<Json> {
    if !matches!(connection.kind.as_str(), "volume_claim" | "host_path") {
        return None;
    }
    let schema = connection.raw.get("schema")?;
    let mut mount = Map::new();
    mount.insert("mountPath".to_owned(), schema.get("mountPath")?.clone());
    mount.insert("name".to_owned(), Json::from(connection.name.clone()));
    if let Some(read_only) = schema.get("readOnly") {
        mount.insert("readOnly".to_owned(), read_only.clone());
    }
    Some(Json::Object(mount))
}

/// The pod volume of a volume-backed connection.
fn connection_volume(connection: &Connection) -> Option<Json> {
    let schema = connection.raw.get("schema")?;
    match connection.kind.as_str() {
        "volume_claim" => {
            let mut claim = Map::new();
            claim.insert("claimName".to_owned(), schema.get("volumeClaim")?.clone());
            if let Some(read_only) = schema.get("readOnly") {
                claim.insert("readOnly".to_owned(), read_only.clone());
            }
            Some(json!({"name": connection.name, "persistentVolumeClaim": claim}))
        }
        "host_path" => {
            Some(json!({"hostPath": {"path": schema.get("hostPath")?}, "name": connection.name}))
        }
        _ => None,
    }
}

/// Whether a container's resources ask for an NVIDIA GPU.
fn requests_gpu(resources: Option<&Json>) -> bool {
    let Some(resources) = resources else {
        return false;
    };
    ["limits", "requests"].iter().any(|side| {
        resources
            .get(*side)
            .and_then(|side| side.get("nvidia.com/gpu"))
            .is_some_and(|gpus| {
                !matches!(gpus, Json::Number(n) if n.as_f64() == Some(0.0))
                    && python::str_of(gpus) != "0"
            })
    })
}

/// Kubernetes labels and annotations are text; other values are written as compact JSON.
fn stringify(map: Map<String, Json>) -> Json {
    Json::Object(
        map.into_iter()
            .map(|(key, value)| {
                let text = match value {
                    Json::String(text) => text,
                    other => other.to_string(),
                };
                (key, Json::String(text))
            })
            .collect(),
    )
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// A label value as Polyaxon makes one of a name: words joined by dashes.
fn slugify(name: &str) -> String {
    // Python's `slugify(name[:63])`: the cut comes first, then only ASCII word characters,
    // dots, whitespace and dashes stay (accented letters lose their accent in Python's NFKD
    // step; here they are dropped), and each run of dashes, dots and whitespace becomes one dash.
    let kept: String = name
        .chars()
        .take(63)
        .filter(|character| {
            character.is_ascii()
                && (character.is_alphanumeric()
                    || matches!(character, '_' | '.' | '-')
                    || character.is_whitespace())
        })
        .collect();
    let mut slug = String::with_capacity(kept.len());
    let mut in_separator = false;
    for character in kept.trim().chars() {
        if matches!(character, '-' | '.') || character.is_whitespace() {
            if !in_separator {
                slug.push('-');
            }
            in_separator = true;
        } else {
            slug.push(character);
            in_separator = false;
        }
    }
    slug
}

/// Whether Python finds a value true: not `None`, `False`, zero or empty.
fn python_truthy(value: &Json) -> bool {
    match value {
        Json::Null => false,
        Json::Bool(flag) => *flag,
        Json::Number(number) => number.as_f64() != Some(0.0),
        Json::String(text) => !text.is_empty(),
        Json::Array(items) => !items.is_empty(),
        Json::Object(fields) => !fields.is_empty(),
    }
}

/// The connections Polyaxon's resolver collects for a run (its `connection_by_names`, after the
/// artifacts store): each replica's connections, then its init steps', replicas in the order
/// the resolver visits them. A cleaner's are not collected.
fn run_connections(kind: &str, run_section: &Json) -> Vec<String> {
    let replicas: Vec<&Json> = match kind {
        "job" | "service" | "notifier" | "tuner" => vec![run_section],
        "mpijob" => ["launcher", "worker"]
            .iter()
            .filter_map(|key| run_section.get(*key))
            .collect(),
        "tfjob" => ["chief", "worker", "ps", "evaluator"]
            .iter()
            .filter_map(|key| run_section.get(*key))
            .collect(),
        "pytorchjob" => ["master", "worker"]
            .iter()
            .filter_map(|key| run_section.get(*key))
            .collect(),
        "daskcluster" => ["worker", "scheduler"]
            .iter()
            .filter_map(|key| run_section.get(*key))
            .collect(),
        "raycluster" => run_section
            .get("head")
            .into_iter()
            .chain(
                run_section
                    .get("workers")
                    .and_then(Json::as_object)
                    .into_iter()
                    .flat_map(|workers| workers.values()),
            )
            .collect(),
        _ => Vec::new(),
    };
    let mut names: Vec<String> = Vec::new();
    for replica in replicas {
        let own = replica
            .get("connections")
            .and_then(Json::as_array)
            .into_iter()
            .flatten();
        let of_init = replica
            .get("init")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .filter_map(|step| step.get("connection"));
        for name in own.chain(of_init).map(python::str_of) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names
}
