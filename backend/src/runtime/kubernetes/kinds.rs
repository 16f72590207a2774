//! The kinds of object the runtime creates, and where each lives in the API. A fixed table
//! rather than discovery: the runtime only ever submits what `shared`'s expansion makes, and
//! the deploy Role grants exactly these (`backend/deploy/kubernetes/myelin.yaml`).

use kube::api::ApiResource;
use kube::core::GroupVersionKind;

/// One kind of object the runtime submits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    /// `group/version`, or `version` for the core group.
    pub api_version: &'static str,
    /// The kind, as objects name it.
    pub kind: &'static str,
    /// The resource in URLs (and RBAC rules).
    pub plural: &'static str,
    /// What installs the kind in a cluster, for kinds Kubernetes does not have itself.
    pub operator: Option<&'static str>,
}

const TRAINING_OPERATOR: Option<&str> = Some("Kubeflow's training operator");
const DASK_OPERATOR: Option<&str> = Some("the Dask Kubernetes operator");
const KUBERAY: Option<&str> = Some("KubeRay");

/// Every kind the expansion of a Polyaxon resource can make.
pub const KINDS: &[Kind] = &[
    Kind::new("batch/v1", "Job", "jobs", None),
    Kind::new("apps/v1", "Deployment", "deployments", None),
    Kind::new("v1", "Service", "services", None),
    Kind::new("kubeflow.org/v1", "TFJob", "tfjobs", TRAINING_OPERATOR),
    Kind::new(
        "kubeflow.org/v1",
        "PyTorchJob",
        "pytorchjobs",
        TRAINING_OPERATOR,
    ),
    Kind::new("kubeflow.org/v1", "MPIJob", "mpijobs", TRAINING_OPERATOR),
    Kind::new(
        "kubernetes.dask.org/v1",
        "DaskCluster",
        "daskclusters",
        DASK_OPERATOR,
    ),
    Kind::new(
        "kubernetes.dask.org/v1",
        "DaskAutoscaler",
        "daskautoscalers",
        DASK_OPERATOR,
    ),
    Kind::new("ray.io/v1", "RayCluster", "rayclusters", KUBERAY),
];

impl Kind {
    const fn new(
        api_version: &'static str,
        kind: &'static str,
        plural: &'static str,
        operator: Option<&'static str>,
    ) -> Self {
        Self {
            api_version,
            kind,
            plural,
            operator,
        }
    }

    /// The kind of `object` (by its `apiVersion` and `kind`), if the runtime knows it.
    pub fn of(object: &serde_json::Value) -> Option<Self> {
        let api_version = object.get("apiVersion")?.as_str()?;
        let kind = object.get("kind")?.as_str()?;
        KINDS
            .iter()
            .find(|known| known.api_version == api_version && known.kind == kind)
            .copied()
    }

    /// The API group (empty for the core group).
    pub fn group(&self) -> &'static str {
        self.api_version
            .rsplit_once('/')
            .map_or("", |(group, _)| group)
    }

    /// Says that the cluster does not serve this kind, and what would install it.
    pub fn missing(&self) -> String {
        let group = self.group();
        let resource = if group.is_empty() {
            self.plural.to_owned()
        } else {
            format!("{}.{group}", self.plural)
        };
        let mut message = format!(
            "the cluster has no resource {resource} (kind {}, {})",
            self.kind, self.api_version
        );
        if let Some(operator) = self.operator {
            message.push_str(&format!(": install {operator}, which provides it"));
        }
        message
    }

    /// Where objects of this kind say how long the cluster keeps them once finished
    /// (`ttlSecondsAfterFinished`), for kinds whose controllers delete them then.
    pub fn ttl(&self) -> Option<&'static str> {
        match self.kind {
            "Job" => Some("/spec/ttlSecondsAfterFinished"),
            "TFJob" | "PyTorchJob" | "MPIJob" => Some("/spec/runPolicy/ttlSecondsAfterFinished"),
            _ => None,
        }
    }

    /// Where objects of this kind are, for kube's dynamic API.
    pub fn resource(&self) -> ApiResource {
        let version = self
            .api_version
            .rsplit_once('/')
            .map_or(self.api_version, |(_, version)| version);
        let gvk = GroupVersionKind::gvk(self.group(), version, self.kind);
        ApiResource::from_gvk_with_plural(&gvk, self.plural)
    }
}

/// Pods, which the runtime watches, reads logs of and execs into.
pub const POD: Kind = Kind::new("v1", "Pod", "pods", None);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_group_and_url() {
        let job = Kind::of(&serde_json::json!({"apiVersion": "batch/v1", "kind": "Job"})).unwrap();
        assert_eq!(job.group(), "batch");
        assert_eq!(job.resource().plural, "jobs");
        let service =
            Kind::of(&serde_json::json!({"apiVersion": "v1", "kind": "Service"})).unwrap();
        assert_eq!(service.group(), "");
        assert_eq!(service.resource().api_version, "v1");
        assert!(Kind::of(&serde_json::json!({"apiVersion": "v1", "kind": "Secret"})).is_none());
    }

    #[test]
    fn every_kind_kubernetes_lacks_names_what_installs_it() {
        for kind in KINDS.iter().filter(|kind| !kind.group().is_empty()) {
            let builtin = ["batch", "apps"].contains(&kind.group());
            assert_eq!(kind.operator.is_none(), builtin, "{kind:?}");
        }
        let dask = Kind::of(
            &serde_json::json!({"apiVersion": "kubernetes.dask.org/v1", "kind": "DaskAutoscaler"}),
        )
        .unwrap();
        assert_eq!(
            dask.missing(),
            "the cluster has no resource daskautoscalers.kubernetes.dask.org (kind DaskAutoscaler, \
             kubernetes.dask.org/v1): install the Dask Kubernetes operator, which provides it"
        );
    }
}
