//! The Kubernetes runtime: runs submitted as the native objects `shared` expands their Polyaxon
//! resource into, and watched. So far, how it reads a run's status from the cluster.

pub mod status;
