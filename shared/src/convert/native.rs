//! The native Kubernetes objects Polyaxon's operator makes of a `polyaxon.com/v1` resource, so
//! Myelin can submit them to any cluster without that operator:
//!
//! | resource | objects |
//! | --- | --- |
//! | `Job` | `batch/v1` Job |
//! | `Service` | `apps/v1` Deployment, then a `v1` Service |
//! | `KfJob` | `kubeflow.org/v1` TFJob, PyTorchJob or MPIJob |
//! | `Cluster` | `kubernetes.dask.org/v1` DaskCluster (and a DaskAutoscaler), or `ray.io/v1` RayCluster |
//!
//! Every object has the resource's name, namespace and labels (and, but for the kubeflow
//! object, its annotations). The first object owns the rest: the runtime gives them an owner
//! reference to it once the cluster has given it a uid, so deleting it deletes them all.
//! Defaults are the operator's: a Job retries 0 times and is kept 5 s after it ends; pods do
//! not restart. Unlike the operator, a service's ports are added to its container only when
//! missing, and PyTorch's `nprocPerNode` is passed on.
//!
//! Polyaxon renders only the replicas of a distributed run, so its resource may keep templates
//! in the run's own fields (a Ray cluster's `rayVersion`, a PyTorch job's `nProcPerNode`).
//! [`expand_run`] renders them, in a copy, with the run's params and globals, as Polyaxon renders
//! the replicas; [`expand`], given the resource alone, refuses those the objects carry.

use serde_json::{Map, Value as Json, json};

use crate::run::RunContext;
use crate::template::{Context, Kind, Templates};

/// How long a finished workload is kept at least, so its final status can be read.
const MIN_TTL_SECONDS: u64 = 5;
/// The port a service without any listens on, as Polyaxon's operator assumes.
const DEFAULT_SERVICE_PORT: u64 = 6006;

/// The objects that run `resource`, converted from `compiled` for `run`, the owner first.
///
/// Polyaxon renders only the replicas of a distributed run, so its resource keeps the run's own
/// fields as written: a Ray cluster's `{{ }}` in `entrypoint` or `rayVersion` stays a template.
/// The resource is left as Polyaxon's; what is expanded is a copy with those fields rendered as
/// Polyaxon renders the replicas, with the run's params and globals.
pub fn expand_run(resource: &Json, compiled: &Json, run: &RunContext) -> Result<Vec<Json>, String> {
    let mut rendered = resource.clone();
    if unrendered(resource, "", false).is_some() {
        let context = crate::compile::run_context(compiled, run)?;
        render_unrendered(&mut rendered, &context, "")?;
    }
    expand(&rendered)
}

/// Renders every template [`unrendered`] would find; a field Polyaxon types as text stays text.
fn render_unrendered(value: &mut Json, context: &Context, path: &str) -> Result<(), String> {
    match value {
        Json::Object(fields) => {
            for (key, field) in fields.iter_mut() {
                if matches!(key.as_str(), "template" | "metadata") {
                    continue;
                }
                let path = format!("{path}.{key}");
                if let Json::String(text) = field
                    && is_template(text)
                {
                    let kind = if TEXT_FIELDS.contains(&key.as_str()) {
                        Kind::Text
                    } else {
                        Kind::Expression
                    };
                    *field = Templates::shared()
                        .expand(field, context, kind)
                        .map_err(|error| {
                            format!(
                                "`{}` cannot be rendered: {}",
                                path.trim_start_matches('.'),
                                error.message
                            )
                        })?;
                } else {
                    render_unrendered(field, context, &path)?;
                }
            }
            Ok(())
        }
        Json::Array(items) => items.iter_mut().enumerate().try_for_each(|(index, item)| {
            render_unrendered(item, context, &format!("{path}[{index}]"))
        }),
        _ => Ok(()),
    }
}

/// The fields of a distributed run's own that Polyaxon types as text: rendered, they stay text
/// (`rayVersion: "{{ v }}"` gives `"2"`, not 2).
const TEXT_FIELDS: &[&str] = &["entrypoint", "rayVersion", "runtimeEnv", "successPolicy"];

/// The fields of a resource's spec that no native object carries (KubeRay's RayCluster runs no
/// entrypoint, as Polyaxon's operator gives it none): a template left there stops nothing.
const NOT_CARRIED: &[&str] = &["entrypoint", "runtimeEnv", "autoscalerOptions"];

fn is_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%")
}

/// The objects that run `resource`, the owner first; the error says what is missing. A field
/// Polyaxon left a template that the objects need is refused: [`expand_run`] renders them.
pub fn expand(resource: &Json) -> Result<Vec<Json>, String> {
    let kind = resource
        .get("kind")
        .and_then(Json::as_str)
        .ok_or("the resource has no `kind`")?;
    if let Some(path) = unrendered(resource, "", true) {
        return Err(format!(
            "`{path}` is still a template, which Polyaxon leaves unrendered in a distributed \
             run's own fields: expand it with the run's params, or write the value itself"
        ));
    }
    let base = Base::of(resource)?;
    match kind {
        "Job" => Ok(vec![job(&base, spec(resource, "batchJobSpec")?)]),
        "Service" => service(&base, spec(resource, "serviceSpec")?),
        "KfJob" => kubeflow(&base),
        "Cluster" => cluster(&base),
        other => Err(format!("`{other}` is not a kind of Polyaxon resource")),
    }
}

/// The first string outside the metadata and the pods' templates that still holds a Jinja
/// template, if any: there it would be read as a value. Inside containers and annotations a
/// `{{` may be anybody's syntax. With `carried_only`, fields no native object carries are
/// passed over.
fn unrendered(value: &Json, path: &str, carried_only: bool) -> Option<String> {
    match value {
        Json::String(text) if is_template(text) => Some(path.to_owned()),
        Json::Object(fields) => fields
            .iter()
            .filter(|(key, _)| !matches!(key.as_str(), "template" | "metadata"))
            .filter(|(key, _)| !(carried_only && NOT_CARRIED.contains(&key.as_str())))
            .find_map(|(key, field)| unrendered(field, &format!("{path}.{key}"), carried_only)),
        Json::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(index, item)| unrendered(item, &format!("{path}[{index}]"), carried_only)),
        _ => None,
    }
    .map(|path| path.trim_start_matches('.').to_owned())
}

fn spec<'a>(resource: &'a Json, key: &str) -> Result<&'a Json, String> {
    resource
        .get(key)
        .ok_or_else(|| format!("the resource has no `{key}`"))
}

/// What every object takes from the resource.
struct Base<'a> {
    resource: &'a Json,
    name: &'a str,
    namespace: &'a str,
    labels: Map<String, Json>,
    annotations: Map<String, Json>,
}

impl<'a> Base<'a> {
    fn of(resource: &'a Json) -> Result<Self, String> {
        let metadata = resource
            .get("metadata")
            .ok_or("the resource has no metadata")?;
        let text = |key: &str| {
            metadata
                .get(key)
                .and_then(Json::as_str)
                .ok_or_else(|| format!("the resource has no `metadata.{key}`"))
        };
        let map = |key: &str| {
            metadata
                .get(key)
                .and_then(Json::as_object)
                .cloned()
                .unwrap_or_default()
        };
        Ok(Self {
            resource,
            name: text("name")?,
            namespace: text("namespace")?,
            labels: map("labels"),
            annotations: map("annotations"),
        })
    }

    fn metadata(&self, name: &str, annotations: bool) -> Json {
        let mut metadata = json!({
            "name": name,
            "namespace": self.namespace,
            "labels": self.labels,
        });
        if annotations {
            metadata["annotations"] = Json::Object(self.annotations.clone());
        }
        metadata
    }

    fn termination(&self, key: &str) -> Option<&Json> {
        self.resource
            .get("termination")
            .and_then(|termination| termination.get(key))
            .filter(|value| !value.is_null())
    }

    fn backoff_limit(&self) -> Json {
        self.termination("backoffLimit")
            .cloned()
            .unwrap_or(json!(0))
    }

    fn ttl(&self) -> Json {
        let ttl = self
            .termination("ttlSecondsAfterFinished")
            .and_then(Json::as_u64)
            .unwrap_or(0);
        json!(ttl.max(MIN_TTL_SECONDS))
    }

    /// A pod template with the resource's labels and annotations, as the operator rebuilds it,
    /// and a restart policy when it has none.
    fn pod_template(&self, template: &Json, default_restart: Option<&Json>) -> Json {
        let mut spec = pod_spec(template);
        if let Some(restart) = default_restart
            && spec.get("restartPolicy").is_none_or(Json::is_null)
        {
            spec["restartPolicy"] = restart.clone();
        }
        json!({
            "metadata": {"labels": self.labels, "annotations": self.annotations},
            "spec": spec,
        })
    }

    /// A replica's pod template: its own labels and annotations with the resource's over them.
    fn replica_template(&self, template: &Json) -> Json {
        let merged = |key: &str, over: &Map<String, Json>| {
            let mut map = template
                .pointer(&format!("/metadata/{key}"))
                .and_then(Json::as_object)
                .cloned()
                .unwrap_or_default();
            map.extend(over.clone());
            Json::Object(map)
        };
        json!({
            "metadata": {
                "labels": merged("labels", &self.labels),
                "annotations": merged("annotations", &self.annotations),
            },
            "spec": pod_spec(template),
        })
    }
}

/// A template's pod spec as the API server takes it. Polyaxon passes some values on as written
/// in the Polyaxonfile, which Kubernetes refuses: an `env` mapping's entries (`{A: 1}`), Python's
/// `value_from` spelling (`'null'` when unset), booleans printed by Python (`'True'`), and
/// numbers where a volume takes text (a claim template's labels, `"1.5"` rendered to 1.5).
fn pod_spec(template: &Json) -> Json {
    let mut spec = template.get("spec").cloned().unwrap_or_else(|| json!({}));
    for list in ["containers", "initContainers"] {
        for container in spec
            .get_mut(list)
            .and_then(Json::as_array_mut)
            .into_iter()
            .flatten()
        {
            if let Some(Json::Array(env)) = container.get_mut("env") {
                env.iter_mut().for_each(normalize_env);
            }
        }
    }
    for volume in spec
        .get_mut("volumes")
        .and_then(Json::as_array_mut)
        .into_iter()
        .flatten()
    {
        for pointer in VOLUME_TEXT_MAPS {
            if let Some(Json::Object(map)) = volume.pointer_mut(pointer) {
                for value in map.values_mut() {
                    if !value.is_string() && !value.is_null() {
                        *value = Json::String(crate::python::str_of(value));
                    }
                }
            }
        }
    }
    if let Json::Object(fields) = &mut spec {
        for (key, value) in fields.iter_mut() {
            if BOOLEAN_POD_FIELDS.contains(&key.as_str())
                && let Some(flag) = value.as_str().and_then(python_bool)
            {
                *value = Json::Bool(flag);
            }
        }
    }
    spec
}

/// The mappings of a volume whose values Kubernetes takes as text only.
const VOLUME_TEXT_MAPS: &[&str] = &[
    "/ephemeral/volumeClaimTemplate/metadata/labels",
    "/ephemeral/volumeClaimTemplate/metadata/annotations",
    "/csi/volumeAttributes",
    "/flexVolume/options",
];

/// The pod spec's boolean fields.
const BOOLEAN_POD_FIELDS: &[&str] = &[
    "automountServiceAccountToken",
    "enableServiceLinks",
    "hostIPC",
    "hostNetwork",
    "hostPID",
    "hostUsers",
    "setHostnameAsFQDN",
    "shareProcessNamespace",
];

fn python_bool(text: &str) -> Option<bool> {
    match text {
        "True" | "true" => Some(true),
        "False" | "false" => Some(false),
        _ => None,
    }
}

fn normalize_env(variable: &mut Json) {
    let Json::Object(fields) = variable else {
        return;
    };
    if !fields.contains_key("name") && fields.len() == 1 {
        // `{A: 1}`: a name and its value.
        let (name, value) = fields.iter().next().expect("one entry");
        let value = match value {
            Json::String(text) => text.clone(),
            other => crate::python::str_of(other),
        };
        *variable = json!({"name": name, "value": value});
        return;
    }
    if let Some(value_from) = fields.remove("value_from")
        && !matches!(&value_from, Json::Null)
        && value_from.as_str() != Some("null")
        && !fields.contains_key("valueFrom")
    {
        fields.insert("valueFrom".to_owned(), value_from);
    }
    if fields
        .get("value")
        .is_some_and(|value| !value.is_string() && !value.is_null())
    {
        let value = crate::python::str_of(&fields["value"]);
        fields.insert("value".to_owned(), Json::String(value));
    }
}

fn insert_some(object: &mut Json, key: &str, value: Option<&Json>) {
    if let Some(value) = value.filter(|value| !value.is_null()) {
        object[key] = value.clone();
    }
}

fn job(base: &Base<'_>, spec: &Json) -> Json {
    let template = spec.get("template").unwrap_or(&Json::Null);
    let mut job_spec = json!({
        "backoffLimit": base.backoff_limit(),
        "ttlSecondsAfterFinished": base.ttl(),
        "template": base.pod_template(template, Some(&json!("Never"))),
    });
    insert_some(
        &mut job_spec,
        "activeDeadlineSeconds",
        base.termination("activeDeadlineSeconds"),
    );
    insert_some(
        &mut job_spec,
        "podFailurePolicy",
        base.termination("podFailurePolicy"),
    );
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": base.metadata(base.name, true),
        "spec": job_spec,
    })
}

fn service(base: &Base<'_>, spec: &Json) -> Result<Vec<Json>, String> {
    let template = spec.get("template").unwrap_or(&Json::Null);
    // A Deployment's pods can only restart.
    let mut pod = base.pod_template(template, Some(&json!("Always")));
    let container_ports = |pod: &Json| -> Vec<u64> {
        pod.pointer("/spec/containers/0/ports")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .filter_map(|port| port.get("containerPort").and_then(Json::as_u64))
            .collect()
    };
    let declared: Vec<u64> = spec
        .get("ports")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .filter_map(Json::as_u64)
        .collect();
    let ports = match (declared.is_empty(), container_ports(&pod)) {
        (false, _) => declared,
        (true, found) if !found.is_empty() => found,
        _ => vec![DEFAULT_SERVICE_PORT],
    };
    let present = container_ports(&pod);
    if let Some(Json::Array(container_ports)) = pod.pointer_mut("/spec/containers/0/ports") {
        for port in ports.iter().filter(|port| !present.contains(port)) {
            container_ports.push(json!({"containerPort": port, "protocol": "TCP"}));
        }
    } else if let Some(container) = pod.pointer_mut("/spec/containers/0") {
        container["ports"] = ports
            .iter()
            .map(|port| json!({"containerPort": port, "protocol": "TCP"}))
            .collect();
    } else {
        return Err("the service's pod has no container".to_owned());
    }
    let deployment = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": base.metadata(base.name, true),
        "spec": {
            "replicas": spec.get("replicas").filter(|r| !r.is_null()).cloned().unwrap_or(json!(1)),
            "selector": {"matchLabels": base.labels},
            "template": pod,
        },
    });
    let is_external = spec.get("isExternal").and_then(Json::as_bool) == Some(true);
    let service_name = if is_external {
        format!("{}-ext", base.name)
    } else {
        base.name.to_owned()
    };
    let network = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": base.metadata(&service_name, true),
        "spec": {
            "type": "ClusterIP",
            "selector": base.labels,
            "ports": ports
                .iter()
                .map(|port| json!({
                    "name": format!("port-{port}"),
                    "port": port,
                    "targetPort": port,
                    "protocol": "TCP",
                }))
                .collect::<Vec<_>>(),
        },
    });
    Ok(vec![deployment, network])
}

fn kubeflow(base: &Base<'_>) -> Result<Vec<Json>, String> {
    let (kind, key, replicas_key) = [
        ("TFJob", "tfJobSpec", "tfReplicaSpecs"),
        ("PyTorchJob", "pytorchJobSpec", "pytorchReplicaSpecs"),
        ("MPIJob", "mpiJobSpec", "mpiReplicaSpecs"),
    ]
    .into_iter()
    .find(|(_, key, _)| base.resource.get(*key).is_some())
    .ok_or("the KfJob has no tfJobSpec, pytorchJobSpec or mpiJobSpec")?;
    let spec = &base.resource[key];
    let mut run_policy = json!({
        "backoffLimit": base.backoff_limit(),
        "ttlSecondsAfterFinished": base.ttl(),
        "cleanPodPolicy": spec.get("cleanPodPolicy").filter(|p| !p.is_null()).cloned().unwrap_or(json!("None")),
    });
    insert_some(
        &mut run_policy,
        "activeDeadlineSeconds",
        base.termination("activeDeadlineSeconds"),
    );
    insert_some(
        &mut run_policy,
        "schedulingPolicy",
        spec.get("schedulingPolicy"),
    );
    // Polyaxon writes a TFJob's `enableDynamicWorker` and `successPolicy` among its replicas;
    // they are the TFJob's own fields.
    let extra = |key: &str| {
        spec.get(key)
            .or_else(|| spec.pointer(&format!("/replicaSpecs/{key}")))
    };
    let replicas: Map<String, Json> = spec
        .get("replicaSpecs")
        .and_then(Json::as_object)
        .into_iter()
        .flatten()
        .filter(|(_, replica)| replica.get("template").is_some())
        .map(|(role, replica)| {
            let native = json!({
                "replicas": replica.get("replicas").filter(|r| !r.is_null()).cloned().unwrap_or(json!(1)),
                "restartPolicy": replica.get("restartPolicy").filter(|r| !r.is_null()).cloned().unwrap_or(json!("OnFailure")),
                "template": base.replica_template(replica.get("template").unwrap_or(&Json::Null)),
            });
            (role.clone(), native)
        })
        .collect();
    let mut native_spec = json!({"runPolicy": run_policy, replicas_key: replicas});
    match kind {
        "TFJob" => {
            insert_some(
                &mut native_spec,
                "enableDynamicWorker",
                extra("enableDynamicWorker"),
            );
            insert_some(&mut native_spec, "successPolicy", extra("successPolicy"));
        }
        "PyTorchJob" => {
            insert_some(
                &mut native_spec,
                "elasticPolicy",
                spec.get("elasticPolicy").map(rendezvous_names).as_ref(),
            );
            // Polyaxon writes `nProcPerNode`, an integer; the training operator reads
            // `nprocPerNode`, text (`"2"`, or `"auto"`).
            let nproc = spec
                .get("nprocPerNode")
                .or_else(|| spec.get("nProcPerNode"))
                .map(|nproc| match nproc {
                    Json::Number(_) => Json::String(nproc.to_string()),
                    other => other.clone(),
                });
            insert_some(&mut native_spec, "nprocPerNode", nproc.as_ref());
        }
        _ => {
            insert_some(
                &mut native_spec,
                "slotsPerWorker",
                spec.get("slotsPerWorker"),
            );
            native_spec["mainContainer"] = json!(super::MAIN_CONTAINER);
        }
    }
    Ok(vec![json!({
        "apiVersion": "kubeflow.org/v1",
        "kind": kind,
        "metadata": base.metadata(base.name, false),
        "spec": native_spec,
    })])
}

/// Polyaxon spells the rendezvous fields `rdvz…`; the training operator reads `rdzv…`.
fn rendezvous_names(policy: &Json) -> Json {
    match policy {
        Json::Object(fields) => Json::Object(
            fields
                .iter()
                .map(|(key, value)| (key.replacen("rdvz", "rdzv", 1), value.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn cluster(base: &Base<'_>) -> Result<Vec<Json>, String> {
    if let Some(spec) = base.resource.get("daskClusterSpec") {
        return dask(base, spec);
    }
    if let Some(spec) = base.resource.get("rayClusterSpec") {
        return Ok(vec![ray(base, spec)]);
    }
    Err("the Cluster has no daskClusterSpec or rayClusterSpec".to_owned())
}

fn dask(base: &Base<'_>, spec: &Json) -> Result<Vec<Json>, String> {
    let replica = |role: &str| spec.pointer(&format!("/replicaSpecs/{role}"));
    for role in ["Scheduler", "Worker"] {
        if replica(role)
            .and_then(|replica| replica.get("template"))
            .is_none()
        {
            return Err(format!(
                "a Dask cluster needs a {}: add `{}` to the run",
                role.to_lowercase(),
                role.to_lowercase()
            ));
        }
    }
    let template = |role: &str| {
        let template = replica(role)
            .and_then(|replica| replica.get("template"))
            .unwrap_or(&Json::Null);
        // For Dask, the template's own labels and annotations win over the resource's.
        let mut labels = base.labels.clone();
        let mut annotations = base.annotations.clone();
        for (key, target) in [("labels", &mut labels), ("annotations", &mut annotations)] {
            if let Some(own) = template
                .pointer(&format!("/metadata/{key}"))
                .and_then(Json::as_object)
            {
                target.extend(own.clone());
            }
        }
        (
            json!({"labels": labels, "annotations": annotations}),
            pod_spec(template),
        )
    };
    let (worker_metadata, worker_spec) = template("Worker");
    let (scheduler_metadata, scheduler_spec) = template("Scheduler");
    let mut cluster_spec = json!({
        "worker": {
            "metadata": worker_metadata,
            "replicas": replica("Worker").and_then(|r| r.get("replicas")).filter(|r| !r.is_null()).cloned().unwrap_or(json!(1)),
            "spec": worker_spec,
        },
        "scheduler": {
            "metadata": scheduler_metadata,
            "spec": scheduler_spec,
            "service": spec.get("service").cloned().unwrap_or_else(|| json!({})),
        },
    });
    insert_some(&mut cluster_spec, "idleTimeout", spec.get("idleTimeout"));
    let mut objects = vec![json!({
        "apiVersion": "kubernetes.dask.org/v1",
        "kind": "DaskCluster",
        "metadata": base.metadata(base.name, true),
        "spec": cluster_spec,
    })];
    if let (Some(minimum), Some(maximum)) = (
        spec.get("minReplicas").filter(|v| !v.is_null()),
        spec.get("maxReplicas").filter(|v| !v.is_null()),
    ) {
        objects.push(json!({
            "apiVersion": "kubernetes.dask.org/v1",
            "kind": "DaskAutoscaler",
            "metadata": base.metadata(base.name, true),
            "spec": {"cluster": base.name, "minimum": minimum, "maximum": maximum},
        }));
    }
    Ok(objects)
}

fn ray(base: &Base<'_>, spec: &Json) -> Json {
    let head = spec.get("head").unwrap_or(&Json::Null);
    let mut head_template = base.pod_template(
        head.get("template").unwrap_or(&Json::Null),
        head.get("restartPolicy").filter(|p| !p.is_null()),
    );
    if let Some(Json::Object(labels)) = head_template.pointer_mut("/metadata/labels") {
        // KubeRay names the head's pods itself.
        labels.remove("app.kubernetes.io/name");
    }
    let start_params = |group: &Json| {
        group
            .get("rayStartParams")
            .filter(|params| !params.is_null())
            .cloned()
            .unwrap_or_else(|| json!({}))
    };
    let workers: Vec<Json> = spec
        .get("workers")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(index, worker)| {
            let count = |key: &str| {
                worker
                    .get(key)
                    .filter(|value| !value.is_null())
                    .cloned()
                    .unwrap_or(json!(1))
            };
            json!({
                "groupName": worker.get("groupName").and_then(Json::as_str).map_or_else(|| format!("worker-{index}"), str::to_owned),
                "replicas": count("replicas"),
                "minReplicas": count("minReplicas"),
                "maxReplicas": count("maxReplicas"),
                "rayStartParams": start_params(worker),
                "template": base.pod_template(worker.get("template").unwrap_or(&Json::Null), worker.get("restartPolicy").filter(|p| !p.is_null())),
            })
        })
        .collect();
    let mut cluster_spec = json!({
        "headGroupSpec": {
            "rayStartParams": start_params(head),
            "headService": {"metadata": {"name": format!("{}-svc", base.name)}},
            "template": head_template,
        },
        "workerGroupSpecs": workers,
    });
    for key in ["rayVersion", "suspend", "enableInTreeAutoscaling"] {
        insert_some(&mut cluster_spec, key, spec.get(key));
    }
    if let Some(timeout) = base
        .termination("culling")
        .and_then(|culling| culling.get("timeout"))
        .filter(|timeout| !timeout.is_null())
    {
        cluster_spec["autoscalerOptions"] = json!({"idleTimeoutSeconds": timeout});
    }
    json!({
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": base.metadata(base.name, true),
        "spec": cluster_spec,
    })
}
