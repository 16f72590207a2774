//! Pods' logs, followed from the API server into the run's archive as containers start, so they
//! outlive the pods. A follow that drops while its container still runs is resumed, skipping
//! the lines already archived (the kubelet replays a container's log from its start).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use futures_util::{AsyncBufReadExt as _, TryStreamExt as _};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, LogParams};
use serde_json::Value as Json;
use shared::time::Timestamp;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::artifacts::{Artifacts, Captured, LogWriter};

/// How long the end of a run waits for its last lines before reporting its final status.
const DRAIN: Duration = Duration::from_secs(30);
/// How long to wait before following a container's log again after the stream dropped.
const RETRY: Duration = Duration::from_secs(1);

/// The followers of one run's containers.
pub struct Followers {
    api: Api<Pod>,
    uuid: String,
    artifacts: Artifacts,
    /// One archive file per pod.
    writers: HashMap<String, LogWriter>,
    followers: HashMap<(String, String), JoinHandle<()>>,
    /// Lines already archived per pod and container, when a restarted server takes a run up.
    archived: HashMap<(String, String), usize>,
}

impl Followers {
    /// Followers for run `uuid`, whose archive already holds `archived` lines per pod and
    /// container.
    pub fn new(
        api: Api<Pod>,
        uuid: &str,
        artifacts: Artifacts,
        archived: HashMap<(String, String), usize>,
    ) -> Self {
        Self {
            api,
            uuid: uuid.to_owned(),
            artifacts,
            writers: HashMap::new(),
            followers: HashMap::new(),
            archived,
        }
    }

    /// Starts following every container of `pods` that has started and is not followed yet.
    pub fn follow(&mut self, pods: &BTreeMap<String, Json>) {
        for (pod, object) in pods {
            for container in started_containers(object) {
                let key = (pod.clone(), container.to_owned());
                if self.followers.contains_key(&key) {
                    continue;
                }
                let sender = match self.writer(pod, object) {
                    Ok(writer) => writer.sender(),
                    Err(error) => {
                        tracing::error!(%error, uuid = self.uuid, pod, "cannot archive a pod's logs");
                        continue;
                    }
                };
                let skip = self.archived.get(&key).copied().unwrap_or(0);
                let task = tokio::spawn(follow(
                    self.api.clone(),
                    pod.clone(),
                    container.to_owned(),
                    skip,
                    sender,
                ));
                self.followers.insert(key, task);
            }
        }
    }

    fn writer(&mut self, pod: &str, object: &Json) -> std::io::Result<&LogWriter> {
        if !self.writers.contains_key(pod) {
            let node = object
                .pointer("/spec/nodeName")
                .and_then(Json::as_str)
                .unwrap_or("unknown");
            let writer = self.artifacts.log_writer(&self.uuid, pod, node)?;
            self.writers.insert(pod.to_owned(), writer);
        }
        Ok(&self.writers[pod])
    }

    /// Waits (a bounded time) for the followed containers' last lines to be archived.
    pub async fn finish(self) {
        for ((pod, container), mut task) in self.followers {
            if tokio::time::timeout(DRAIN, &mut task).await.is_err() {
                tracing::warn!(
                    uuid = self.uuid,
                    pod,
                    container,
                    "a log did not end in time"
                );
                task.abort();
            }
        }
        for writer in self.writers.into_values() {
            writer.close().await;
        }
    }
}

/// The containers of `pod` (init containers first) that run or ran, so have a log.
pub fn started_containers(pod: &Json) -> impl Iterator<Item = &str> {
    ["initContainerStatuses", "containerStatuses"]
        .into_iter()
        .filter_map(|key| pod.pointer(&format!("/status/{key}"))?.as_array())
        .flatten()
        .filter(|status| {
            let state = status.get("state");
            ["running", "terminated"]
                .iter()
                .any(|phase| state.and_then(|state| state.get(phase)).is_some())
                || status.pointer("/lastState/terminated").is_some()
        })
        .filter_map(|status| status.get("name")?.as_str())
}

async fn follow(
    api: Api<Pod>,
    pod: String,
    container: String,
    mut delivered: usize,
    sender: mpsc::Sender<Captured>,
) {
    let params = LogParams {
        container: Some(container.clone()),
        follow: true,
        timestamps: true,
        ..LogParams::default()
    };
    loop {
        let mut read = 0;
        match api.log_stream(&pod, &params).await {
            Ok(stream) => {
                let mut lines = stream.lines();
                loop {
                    match lines.try_next().await {
                        Ok(Some(text)) => {
                            read += 1;
                            if read <= delivered {
                                continue;
                            }
                            delivered = read;
                            let (printed, value) = split_timestamp(text);
                            let line = Captured {
                                container: container.clone(),
                                value,
                                mark: None,
                                printed,
                            };
                            if sender.send(line).await.is_err() {
                                return;
                            }
                        }
                        Ok(None) => break,
                        Err(error) => {
                            tracing::warn!(%error, pod, container, "a log stream broke");
                            break;
                        }
                    }
                }
            }
            Err(error) => tracing::debug!(%error, pod, container, "cannot follow a log yet"),
        }
        // The stream ends when the container does, or when the connection drops: only in the
        // second case is there more to read.
        match api.get_opt(&pod).await {
            Ok(Some(current)) if !has_ended(&current, &container) => {
                tokio::time::sleep(RETRY).await;
            }
            _ => return,
        }
    }
}

/// A line as `timestamps` gives it: the time it was printed, a space, the line.
fn split_timestamp(text: String) -> (Option<Timestamp>, String) {
    let (time, value) = text.split_once(' ').unwrap_or((&text, ""));
    match Timestamp::parse(time) {
        Some(printed) => (Some(printed), value.to_owned()),
        None => (None, text),
    }
}

fn has_ended(pod: &Pod, container: &str) -> bool {
    let Some(status) = &pod.status else {
        return false;
    };
    if matches!(status.phase.as_deref(), Some("Succeeded" | "Failed")) {
        return true;
    }
    status
        .init_container_statuses
        .iter()
        .chain(&status.container_statuses)
        .flatten()
        .find(|status| status.name == container)
        .and_then(|status| status.state.as_ref())
        .is_some_and(|state| state.terminated.is_some())
}
