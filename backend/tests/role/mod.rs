//! The permissions Myelin's Role grants in `deploy/kubernetes/myelin.yaml`: the deploy test
//! checks the manifest grants exactly these, and the fake API server the runtime tests run
//! against refuses whatever they do not allow, so the Role is known to be enough.

/// Every verb on the kinds runs are submitted as: applied (server-side apply is create +
/// patch), watched, and deleted to stop a run.
const OWNER: &[&str] = &["get", "list", "watch", "create", "patch", "delete"];

/// The verbs on objects a run's owner object owns: applied beside it, gone with it.
const OWNED: &[&str] = &["get", "create", "patch"];

/// What the Role may grant, and all of it: (API group, resources, verbs). Owned objects go by
/// garbage collection, so they need no delete; WebSocket exec is a GET upgrade that newer API
/// servers authorize as create.
pub const ROLE_RULES: &[(&str, &[&str], &[&str])] = &[
    ("", &["pods"], &["get", "list", "watch"]),
    ("", &["pods/log"], &["get"]),
    ("", &["pods/exec"], &["create", "get"]),
    ("", &["services"], OWNED),
    (
        "",
        &["services/proxy"],
        &["get", "create", "update", "patch", "delete"],
    ),
    ("batch", &["jobs"], OWNER),
    ("apps", &["deployments"], OWNER),
    ("kubeflow.org", &["tfjobs", "pytorchjobs", "mpijobs"], OWNER),
    ("kubernetes.dask.org", &["daskclusters"], OWNER),
    ("ray.io", &["rayclusters"], OWNER),
    ("kubernetes.dask.org", &["daskautoscalers"], OWNED),
];
