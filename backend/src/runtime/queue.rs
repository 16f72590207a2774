//! One queue in front of any runtime: at most `limit` runs are handed to it at once, the rest
//! wait here in the order they came, `queued`, and go as places free up. A place frees when the
//! store records a run's end. It is a runtime itself, so the server, the scheduler and the
//! tests hold the same trait whichever runtime is behind it.
//!
//! What it holds in memory is rebuilt after a restart as the runtime's queue always was:
//! `recover` hands a run that had started to the runtime (it takes a place) and queues one
//! that had not.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, Response};
use shared::api::{Status, StatusCondition};
use tokio::sync::broadcast::error::RecvError;

use super::{ExecSession, ExecTarget, Execution, PodContainers, Runtime, RuntimeError, StopCause};
use crate::clock;
use crate::store::{Notifying, Store};

/// The reason the queue gives the statuses it records.
const REASON: &str = "Queue";

/// A runtime behind a queue of at most `limit` runs at once.
pub struct Queued {
    inner: Arc<dyn Runtime>,
    store: Arc<dyn Store>,
    limit: usize,
    places: Arc<Mutex<Places>>,
}

#[derive(Default)]
struct Places {
    /// The runs handed to the runtime that have not ended.
    active: HashSet<String>,
    /// The runs waiting, oldest first.
    waiting: VecDeque<Execution>,
}

impl Queued {
    /// `inner` behind a queue of `limit` places; `events` tells it when runs end.
    pub fn new(
        inner: Arc<dyn Runtime>,
        store: Arc<dyn Store>,
        events: &Notifying,
        limit: usize,
    ) -> Arc<Self> {
        let queued = Arc::new(Self {
            inner,
            store,
            limit: limit.max(1),
            places: Arc::default(),
        });
        let mut ends = events.subscribe();
        let watcher = Arc::downgrade(&queued);
        tokio::spawn(async move {
            loop {
                let ended = match ends.recv().await {
                    Ok(event) if event.status.is_some_and(Status::is_done) => Some(event.uuid),
                    Ok(_) => None,
                    // Missed ends: the store says which active runs ended.
                    Err(RecvError::Lagged(_)) => None,
                    Err(RecvError::Closed) => return,
                };
                let Some(queued) = watcher.upgrade() else {
                    return;
                };
                match ended {
                    Some(uuid) => queued.release(&uuid).await,
                    None => queued.release_ended().await,
                }
            }
        });
        queued
    }

    /// Frees `uuid`'s place, if it held one, and hands over whoever waits next.
    async fn release(&self, uuid: &str) {
        let freed = self
            .places
            .lock()
            .expect("the queue's lock")
            .active
            .remove(uuid);
        if freed {
            self.hand_over().await;
        }
    }

    /// Frees the places of active runs the store says ended.
    async fn release_ended(&self) {
        let active: Vec<String> = self
            .places
            .lock()
            .expect("the queue's lock")
            .active
            .iter()
            .cloned()
            .collect();
        for uuid in active {
            let ended = self
                .store
                .run_by_uuid(&uuid)
                .await
                .map_or(true, |stored| stored.run.status.is_done());
            if ended {
                self.places
                    .lock()
                    .expect("the queue's lock")
                    .active
                    .remove(&uuid);
            }
        }
        self.hand_over().await;
    }

    /// Hands waiting runs to the runtime while places are free.
    async fn hand_over(&self) {
        loop {
            let next = {
                let mut places = self.places.lock().expect("the queue's lock");
                if places.active.len() >= self.limit {
                    return;
                }
                let Some(next) = places.waiting.pop_front() else {
                    return;
                };
                places.active.insert(next.uuid.clone());
                next
            };
            let uuid = next.uuid.clone();
            if let Err(error) = self.inner.submit(next).await {
                self.places
                    .lock()
                    .expect("the queue's lock")
                    .active
                    .remove(&uuid);
                let condition = StatusCondition::new(
                    Status::Failed,
                    "RuntimeUnavailable",
                    format!(
                        "the {} runtime did not take the run: {error}",
                        self.inner.name()
                    ),
                    clock::now(),
                );
                let _ = self.store.add_condition(&uuid, condition, false).await;
            }
        }
    }

    async fn record(&self, uuid: &str, status: Status, message: String) {
        let condition = StatusCondition::new(status, REASON, message, clock::now());
        if let Err(error) = self.store.add_condition(uuid, condition, false).await {
            tracing::error!(%error, uuid, "the queue cannot record a status");
        }
    }
}

#[async_trait]
impl Runtime for Queued {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn supports(&self, kind: &str) -> Result<(), String> {
        self.inner.supports(kind)
    }

    fn service_ports(&self, declared: &[u16]) -> Vec<u16> {
        self.inner.service_ports(declared)
    }

    async fn submit(&self, execution: Execution) -> Result<(), RuntimeError> {
        let uuid = execution.uuid.clone();
        let waiting = {
            let mut places = self.places.lock().expect("the queue's lock");
            places.waiting.push_back(execution);
            places.waiting.len()
        };
        if self.places.lock().expect("the queue's lock").active.len() >= self.limit {
            self.record(
                &uuid,
                Status::Queued,
                format!(
                    "Run is queued: the server runs {} at once, and {waiting} wait",
                    self.limit
                ),
            )
            .await;
        }
        self.hand_over().await;
        Ok(())
    }

    async fn stop(&self, uuid: &str, cause: StopCause) -> Result<(), RuntimeError> {
        let held = {
            let mut places = self.places.lock().expect("the queue's lock");
            let before = places.waiting.len();
            places.waiting.retain(|waiting| waiting.uuid != uuid);
            before != places.waiting.len()
        };
        if held {
            self.record(
                uuid,
                Status::Stopped,
                format!("{} while queued", cause.stopped()),
            )
            .await;
            return Ok(());
        }
        self.inner.stop(uuid, cause).await
    }

    async fn inspect(&self, uuid: &str) -> Result<Vec<PodContainers>, RuntimeError> {
        self.inner.inspect(uuid).await
    }

    async fn exec(
        &self,
        uuid: &str,
        target: &ExecTarget,
        command: Vec<String>,
    ) -> Result<ExecSession, RuntimeError> {
        self.inner.exec(uuid, target, command).await
    }

    async fn proxy(
        &self,
        uuid: &str,
        port: u16,
        request: Request<Body>,
    ) -> Result<Response<Body>, RuntimeError> {
        self.inner.proxy(uuid, port, request).await
    }

    async fn clean(&self, uuid: &str) -> Result<(), RuntimeError> {
        self.inner.clean(uuid).await
    }

    async fn recover(&self, execution: Execution) -> Result<(), RuntimeError> {
        if matches!(
            execution.status,
            Status::Created | Status::Compiled | Status::Queued
        ) {
            // Nothing of it ran: it waits its turn again.
            return self.submit(execution).await;
        }
        self.places
            .lock()
            .expect("the queue's lock")
            .active
            .insert(execution.uuid.clone());
        self.inner.recover(execution).await
    }
}
