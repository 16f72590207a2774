//! What a run's status is, from what the cluster says about its workload and its pods.
//!
//! Polyaxon's operator folds every trouble into `warning`. Myelin tells them apart, checking in
//! this order (the first rule that matches wins):
//!
//! | cluster state | status | reason | message |
//! | --- | --- | --- | --- |
//! | Job condition `Complete=True`; kubeflow `Succeeded`; Dask `Successful` | `succeeded` | `Succeeded` | the workload's |
//! | a container terminated `OOMKilled` while the workload failed or retries | `failed` | `OOMKilled` | which container ran out of memory |
//! | a container terminated with a non-zero exit code while the workload failed | `failed` | the container's reason (`Error`, `StartError`, …) | which container of which pod exited with which code, and its termination message |
//! | Job condition `Failed=True` (`BackoffLimitExceeded`, `DeadlineExceeded`, …); kubeflow `Failed`; Dask `Error` | `failed` | the condition's reason | the condition's message |
//! | a pod `PodScheduled=False` with reason `Unschedulable` | `unschedulable` | `Unschedulable` | the scheduler's message |
//! | a container (or init container) waiting in `ErrImagePull`, `ImagePullBackOff`, `InvalidImageName`, `CreateContainerConfigError`, `CrashLoopBackOff` | `warning` | the waiting reason | the waiting message, with the container |
//! | a Job with failed pods and attempts left; kubeflow `Restarting` | `retrying` | `Retrying` | how many attempts failed |
//! | a Job with active pods, one of them running (or just ended); a Deployment `Available=True` with ready replicas; kubeflow `Running`; Dask `Running`; a Ray head ready | `running` | `Running` | — |
//! | anything else (created, pulling, scheduling) | `starting` | `Starting` | — |
//!
//! Besides the table, the watch in `mod.rs` ends a run whose workload goes: `stopped` when
//! Myelin stopped it, and otherwise `failed` with reason `Deleted` (someone deleted it, or it
//! went while no watch looked). A workload Myelin applied carries Myelin's finalizer and no
//! `ttlSecondsAfterFinished` until its end is recorded, so a finished run's workload is still
//! there to be read by a server that was down when it ended.
//!
//! Distributed kinds are judged over every replica's pods: one unschedulable worker makes the
//! run unschedulable, with the pod named in the message. The rows on containers that ended look
//! at the last attempt first: the newest pods by creation and, among pods created together, the
//! one that ended first (pods' names end in random characters, so their order says nothing).

use serde_json::Value as Json;
use shared::api::Status;
use shared::time::Timestamp;

/// A run's status as the cluster shows it, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// The status.
    pub status: Status,
    /// A short machine-readable cause.
    pub reason: String,
    /// What happened, in words.
    pub message: String,
}

impl Observed {
    fn new(status: Status, reason: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            reason: reason.to_owned(),
            message: message.into(),
        }
    }
}

/// Container waiting reasons that stop a run from making progress until someone acts.
const STUCK: &[&str] = &[
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CrashLoopBackOff",
];

/// The status of a run whose main workload is `workload` (a Job, Deployment, TFJob,
/// PyTorchJob, MPIJob, DaskCluster or RayCluster, as the API returns it) with these pods.
pub fn observe(workload: &Json, pods: &[Json]) -> Observed {
    let kind = workload
        .get("kind")
        .and_then(Json::as_str)
        .unwrap_or_default();
    let verdict = match kind {
        "Job" => job(workload),
        "Deployment" => deployment(workload),
        "TFJob" | "PyTorchJob" | "MPIJob" => kubeflow(workload),
        "DaskCluster" => dask(workload),
        "RayCluster" => ray(workload),
        _ => Verdict::Pending,
    };
    match verdict {
        Verdict::Succeeded(message) => Observed::new(Status::Succeeded, "Succeeded", message),
        Verdict::Failed(reason, message) => out_of_memory(pods)
            .or_else(|| exited(pods))
            .unwrap_or_else(|| Observed::new(Status::Failed, &reason, message)),
        verdict => pod_trouble(pods)
            .or_else(|| match &verdict {
                Verdict::Retrying(message) => Some(
                    out_of_memory(pods)
                        .map(|oom| Observed {
                            status: Status::Retrying,
                            ..oom
                        })
                        .unwrap_or_else(|| {
                            Observed::new(Status::Retrying, "Retrying", message.clone())
                        }),
                ),
                Verdict::Running => Some(Observed::new(Status::Running, "Running", "")),
                // A pod that ended while its workload has yet to say so still counts.
                Verdict::Active if pods.iter().any(|pod| is_running(pod) || has_ended(pod)) => {
                    Some(Observed::new(Status::Running, "Running", ""))
                }
                _ => None,
            })
            .unwrap_or_else(|| Observed::new(Status::Starting, "Starting", "")),
    }
}

/// What the workload object alone says.
enum Verdict {
    Succeeded(String),
    Failed(String, String),
    Retrying(String),
    Running,
    /// Pods exist; the run runs once one of them does.
    Active,
    Pending,
}

fn is_running(pod: &Json) -> bool {
    pod.pointer("/status/phase").and_then(Json::as_str) == Some("Running")
}

fn has_ended(pod: &Json) -> bool {
    matches!(
        pod.pointer("/status/phase").and_then(Json::as_str),
        Some("Succeeded" | "Failed")
    )
}

fn conditions(object: &Json) -> impl Iterator<Item = &Json> {
    object
        .pointer("/status/conditions")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
}

fn text(value: Option<&Json>) -> String {
    value.and_then(Json::as_str).unwrap_or_default().to_owned()
}

fn count(object: &Json, field: &str) -> u64 {
    object
        .pointer(&format!("/status/{field}"))
        .and_then(Json::as_u64)
        .unwrap_or(0)
}

fn job(job: &Json) -> Verdict {
    let holds = |kind: &str| {
        conditions(job).find(|condition| {
            condition.get("type").and_then(Json::as_str) == Some(kind)
                && condition.get("status").and_then(Json::as_str) == Some("True")
        })
    };
    if let Some(complete) = holds("Complete") {
        return Verdict::Succeeded(text(complete.get("message")));
    }
    if let Some(failed) = holds("Failed") {
        return Verdict::Failed(text(failed.get("reason")), text(failed.get("message")));
    }
    let failed = count(job, "failed");
    if failed > 0 {
        let attempts = if failed == 1 { "attempt" } else { "attempts" };
        return Verdict::Retrying(format!("{failed} {attempts} failed; trying again"));
    }
    if count(job, "active") > 0 {
        // Active pods may still be pulling or scheduling.
        return Verdict::Active;
    }
    Verdict::Pending
}

fn deployment(deployment: &Json) -> Verdict {
    let available = conditions(deployment).any(|condition| {
        condition.get("type").and_then(Json::as_str) == Some("Available")
            && condition.get("status").and_then(Json::as_str) == Some("True")
    });
    if available && count(deployment, "readyReplicas") > 0 {
        Verdict::Running
    } else {
        Verdict::Pending
    }
}

/// Kubeflow's last condition is its state.
fn kubeflow(job: &Json) -> Verdict {
    let Some(last) = conditions(job)
        .filter(|condition| condition.get("status").and_then(Json::as_str) == Some("True"))
        .last()
    else {
        return Verdict::Pending;
    };
    let message = text(last.get("message"));
    match last.get("type").and_then(Json::as_str) {
        Some("Succeeded") => Verdict::Succeeded(message),
        Some("Failed") => Verdict::Failed(
            Some(text(last.get("reason")))
                .filter(|reason| !reason.is_empty())
                .unwrap_or_else(|| "Failed".to_owned()),
            message,
        ),
        Some("Restarting") => Verdict::Retrying(message),
        Some("Running") => Verdict::Running,
        _ => Verdict::Pending,
    }
}

fn dask(cluster: &Json) -> Verdict {
    match cluster.pointer("/status/phase").and_then(Json::as_str) {
        Some("Successful") => Verdict::Succeeded("the Dask cluster finished".to_owned()),
        Some("Error") => Verdict::Failed(
            "Error".to_owned(),
            "the Dask operator reports an error".to_owned(),
        ),
        Some("Running") => Verdict::Running,
        _ => Verdict::Pending,
    }
}

fn ray(cluster: &Json) -> Verdict {
    let state = cluster.pointer("/status/state").and_then(Json::as_str);
    let head_ready = cluster
        .pointer("/status/head/podIP")
        .and_then(Json::as_str)
        .is_some_and(|ip| !ip.is_empty());
    match state {
        Some("failed") => {
            Verdict::Failed("Failed".to_owned(), text(cluster.pointer("/status/reason")))
        }
        Some("ready") if head_ready => Verdict::Running,
        _ => Verdict::Pending,
    }
}

fn pod_name(pod: &Json) -> String {
    text(pod.pointer("/metadata/name"))
}

fn container_statuses(pod: &Json) -> impl Iterator<Item = &Json> {
    ["initContainerStatuses", "containerStatuses"]
        .into_iter()
        .filter_map(|key| pod.pointer(&format!("/status/{key}")))
        .filter_map(Json::as_array)
        .flatten()
}

/// Why the run's pods do not make progress, if one of them is stuck; `running` when one of
/// them runs.
fn pod_trouble(pods: &[Json]) -> Option<Observed> {
    for pod in pods {
        let unschedulable = pod
            .pointer("/status/conditions")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .find(|condition| {
                condition.get("type").and_then(Json::as_str) == Some("PodScheduled")
                    && condition.get("status").and_then(Json::as_str) == Some("False")
                    && condition.get("reason").and_then(Json::as_str) == Some("Unschedulable")
            });
        if let Some(condition) = unschedulable {
            return Some(Observed::new(
                Status::Unschedulable,
                "Unschedulable",
                format!("pod {}: {}", pod_name(pod), text(condition.get("message"))),
            ));
        }
    }
    for pod in pods {
        for container in container_statuses(pod) {
            let Some(waiting) = container.pointer("/state/waiting") else {
                continue;
            };
            let reason = text(waiting.get("reason"));
            if STUCK.contains(&reason.as_str()) {
                return Some(Observed::new(
                    Status::Warning,
                    &reason,
                    format!(
                        "pod {}, container {}: {}",
                        pod_name(pod),
                        text(container.get("name")),
                        text(waiting.get("message"))
                    ),
                ));
            }
        }
    }
    None
}

/// The pods newest first: a retried workload's last attempt before the earlier ones. Among pods
/// created at once (a distributed run's replicas), the one whose container ended first comes
/// first, as the likeliest cause of the others' end.
fn last_attempt_first(pods: &[Json]) -> Vec<&Json> {
    let time = |value: Option<&Json>| value.and_then(Json::as_str).and_then(Timestamp::parse);
    let ended = |pod: &Json| {
        container_statuses(pod)
            .filter_map(|container| time(container.pointer("/state/terminated/finishedAt")))
            .min()
    };
    let mut pods: Vec<&Json> = pods.iter().collect();
    pods.sort_by(|a, b| {
        let created = |pod: &Json| time(pod.pointer("/metadata/creationTimestamp"));
        created(b)
            .cmp(&created(a))
            .then_with(|| match (ended(a), ended(b)) {
                (Some(a), Some(b)) => a.cmp(&b),
                (a, b) => b.is_some().cmp(&a.is_some()),
            })
            .then_with(|| pod_name(a).cmp(&pod_name(b)))
    });
    pods
}

/// A container killed for want of memory, if any: the last attempt's first.
fn out_of_memory(pods: &[Json]) -> Option<Observed> {
    last_attempt_first(pods).into_iter().find_map(|pod| {
        container_statuses(pod).find_map(|container| {
            let terminated = ["/state/terminated", "/lastState/terminated"]
                .into_iter()
                .find_map(|pointer| container.pointer(pointer))?;
            (terminated.get("reason").and_then(Json::as_str) == Some("OOMKilled")).then(|| {
                Observed::new(
                    Status::Failed,
                    "OOMKilled",
                    format!(
                        "pod {}, container {} ran out of memory and was killed",
                        pod_name(pod),
                        text(container.get("name"))
                    ),
                )
            })
        })
    })
}

/// A container that ended with a non-zero exit code, the last attempt's first, if any: a more
/// telling cause of a failure than the workload's "backoff limit exceeded".
fn exited(pods: &[Json]) -> Option<Observed> {
    last_attempt_first(pods).into_iter().find_map(|pod| {
        container_statuses(pod).find_map(|container| {
            let terminated = container.pointer("/state/terminated")?;
            let code = terminated.get("exitCode").and_then(Json::as_i64)?;
            if code == 0 {
                return None;
            }
            let reason = Some(text(terminated.get("reason")))
                .filter(|reason| !reason.is_empty())
                .unwrap_or_else(|| "Error".to_owned());
            let mut message = format!(
                "pod {}, container {} exited with code {code}",
                pod_name(pod),
                text(container.get("name"))
            );
            let said = text(terminated.get("message"));
            if !said.is_empty() {
                message = format!("{message}: {}", said.trim_end());
            }
            Some(Observed::new(Status::Failed, &reason, message))
        })
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn job(status: Json) -> Json {
        json!({"kind": "Job", "status": status})
    }

    fn pod(name: &str, status: Json) -> Json {
        json!({"metadata": {"name": name}, "status": status})
    }

    fn waiting(reason: &str) -> Json {
        pod(
            "p-0",
            json!({"phase": "Pending", "containerStatuses": [
                {"name": "polyaxon-main", "state": {"waiting": {"reason": reason, "message": "details"}}}
            ]}),
        )
    }

    fn assert_observed(workload: Json, pods: &[Json], status: Status, reason: &str, says: &str) {
        let observed = observe(&workload, pods);
        assert_eq!(
            (observed.status, observed.reason.as_str()),
            (status, reason),
            "{observed:?}"
        );
        assert!(observed.message.contains(says), "{observed:?}");
    }

    #[test]
    fn a_complete_job_succeeded() {
        let complete =
            json!({"conditions": [{"type": "Complete", "status": "True"}], "succeeded": 1});
        assert_observed(job(complete), &[], Status::Succeeded, "Succeeded", "");
        let kubeflow = json!({"kind": "TFJob", "status": {"conditions": [
            {"type": "Created", "status": "True"},
            {"type": "Running", "status": "False"},
            {"type": "Succeeded", "status": "True", "message": "TFJob succeeded"}]}});
        assert_observed(
            kubeflow,
            &[],
            Status::Succeeded,
            "Succeeded",
            "TFJob succeeded",
        );
        let dask = json!({"kind": "DaskCluster", "status": {"phase": "Successful"}});
        assert_observed(dask, &[], Status::Succeeded, "Succeeded", "");
    }

    #[test]
    fn an_out_of_memory_container_fails_the_run_with_that_reason() {
        let failed = json!({"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}], "failed": 1});
        let killed = pod(
            "train-0",
            json!({"phase": "Failed", "containerStatuses": [
                {"name": "polyaxon-main", "state": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}
            ]}),
        );
        assert_observed(
            job(failed),
            std::slice::from_ref(&killed),
            Status::Failed,
            "OOMKilled",
            "train-0, container polyaxon-main ran out of memory",
        );
        let retrying = json!({"failed": 1, "active": 1});
        assert_observed(
            job(retrying),
            &[killed],
            Status::Retrying,
            "OOMKilled",
            "out of memory",
        );
    }

    #[test]
    fn a_container_s_exit_code_is_the_cause_of_a_failure() {
        let failed = json!({"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}], "failed": 1});
        let exited = pod(
            "train-0",
            json!({"phase": "Failed", "containerStatuses": [
                {"name": "polyaxon-main", "state": {"terminated": {"reason": "Error", "exitCode": 3}}}
            ]}),
        );
        assert_observed(
            job(failed.clone()),
            &[exited],
            Status::Failed,
            "Error",
            "pod train-0, container polyaxon-main exited with code 3",
        );
        let not_started = pod(
            "train-0",
            json!({"phase": "Failed", "containerStatuses": [
                {"name": "polyaxon-main", "state": {"terminated": {"reason": "StartError", "exitCode": 128, "message": "exec: \"trian\": executable file not found in $PATH"}}}
            ]}),
        );
        assert_observed(
            job(failed),
            &[not_started],
            Status::Failed,
            "StartError",
            "exited with code 128: exec: \"trian\": executable file not found",
        );
    }

    #[test]
    fn the_last_attempt_s_exit_code_is_the_cause_whatever_the_pods_names() {
        let failed = json!({"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}], "failed": 3});
        let attempt = |name: &str, created: &str, code: u64| {
            let mut pod = pod(
                name,
                json!({"phase": "Failed", "containerStatuses": [
                    {"name": "polyaxon-main", "state": {"terminated": {"reason": "Error", "exitCode": code}}}
                ]}),
            );
            pod["metadata"]["creationTimestamp"] = json!(created);
            pod
        };
        let pods = [
            attempt("train-x7k2p", "2024-05-01T10:00:00Z", 3),
            attempt("train-b9zqd", "2024-05-01T10:00:11Z", 4),
            attempt("train-mf2cw", "2024-05-01T10:00:32Z", 5),
        ];
        assert_observed(
            job(failed),
            &pods,
            Status::Failed,
            "Error",
            "pod train-mf2cw, container polyaxon-main exited with code 5",
        );
    }

    #[test]
    fn a_failed_job_fails_with_its_reason() {
        let failed = json!({"conditions": [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded", "message": "Job was active longer than specified deadline"}]});
        assert_observed(
            job(failed),
            &[],
            Status::Failed,
            "DeadlineExceeded",
            "longer than specified deadline",
        );
        let kubeflow = json!({"kind": "PyTorchJob", "status": {"conditions": [{"type": "Failed", "status": "True", "reason": "PyTorchJobFailed", "message": "replica master failed"}]}});
        assert_observed(
            kubeflow,
            &[],
            Status::Failed,
            "PyTorchJobFailed",
            "replica master failed",
        );
        let dask = json!({"kind": "DaskCluster", "status": {"phase": "Error"}});
        assert_observed(dask, &[], Status::Failed, "Error", "Dask");
    }

    #[test]
    fn an_unschedulable_pod_makes_the_run_unschedulable_with_the_scheduler_s_message() {
        let pending = pod(
            "worker-1",
            json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."}]}),
        );
        let running = pod("worker-0", json!({"phase": "Running"}));
        let tfjob = json!({"kind": "TFJob", "status": {"conditions": [{"type": "Running", "status": "True"}]}});
        assert_observed(
            tfjob,
            &[running, pending],
            Status::Unschedulable,
            "Unschedulable",
            "worker-1: 0/3 nodes are available",
        );
    }

    #[test]
    fn stuck_containers_are_warnings_with_their_reason() {
        for reason in STUCK {
            assert_observed(
                job(json!({"active": 1})),
                &[waiting(reason)],
                Status::Warning,
                reason,
                "container polyaxon-main: details",
            );
        }
        let init = pod(
            "p-0",
            json!({"phase": "Pending", "initContainerStatuses": [
                {"name": "polyaxon-init-git", "state": {"waiting": {"reason": "ImagePullBackOff", "message": "back-off"}}}
            ]}),
        );
        assert_observed(
            job(json!({"active": 1})),
            &[init],
            Status::Warning,
            "ImagePullBackOff",
            "polyaxon-init-git",
        );
        assert_observed(
            job(json!({"active": 1})),
            &[waiting("ContainerCreating")],
            Status::Starting,
            "Starting",
            "",
        );
    }

    #[test]
    fn failed_attempts_with_attempts_left_are_retries() {
        assert_observed(
            job(json!({"failed": 2, "active": 1})),
            &[],
            Status::Retrying,
            "Retrying",
            "2 attempts failed",
        );
        let restarting = json!({"kind": "MPIJob", "status": {"conditions": [{"type": "Restarting", "status": "True", "message": "worker restarting"}]}});
        assert_observed(
            restarting,
            &[],
            Status::Retrying,
            "Retrying",
            "worker restarting",
        );
    }

    #[test]
    fn active_workloads_run() {
        assert_observed(
            job(json!({"active": 1})),
            &[pod("p", json!({"phase": "Running"}))],
            Status::Running,
            "Running",
            "",
        );
        let deployment = json!({"kind": "Deployment", "status": {"readyReplicas": 1, "conditions": [{"type": "Available", "status": "True"}]}});
        assert_observed(deployment, &[], Status::Running, "Running", "");
        let kubeflow = json!({"kind": "TFJob", "status": {"conditions": [{"type": "Created", "status": "True"}, {"type": "Running", "status": "True"}]}});
        assert_observed(kubeflow, &[], Status::Running, "Running", "");
        let dask = json!({"kind": "DaskCluster", "status": {"phase": "Running"}});
        assert_observed(dask, &[], Status::Running, "Running", "");
        let ray = json!({"kind": "RayCluster", "status": {"state": "ready", "head": {"podIP": "10.0.0.4"}}});
        assert_observed(ray, &[], Status::Running, "Running", "");
    }

    #[test]
    fn a_pod_that_just_ended_keeps_an_active_job_running() {
        assert_observed(
            job(json!({"active": 1})),
            &[pod("p", json!({"phase": "Succeeded"}))],
            Status::Running,
            "Running",
            "",
        );
    }

    #[test]
    fn anything_else_is_starting() {
        assert_observed(job(json!({})), &[], Status::Starting, "Starting", "");
        let deployment = json!({"kind": "Deployment", "status": {"conditions": [{"type": "Progressing", "status": "True"}]}});
        assert_observed(deployment, &[], Status::Starting, "Starting", "");
        let ray = json!({"kind": "RayCluster", "status": {"state": "ready"}});
        assert_observed(ray, &[], Status::Starting, "Starting", "");
        assert_observed(
            json!({"kind": "TFJob"}),
            &[],
            Status::Starting,
            "Starting",
            "",
        );
    }
}
