//! Idle services are stopped. A service run whose operation sets `termination.culling.timeout`
//! (seconds, as in Polyaxon) is stopped once no traffic has crossed the services proxy for that
//! long, and its `stopping` and `stopped` statuses say so (`IdleTimeout`).
//!
//! Polyaxon's operator asks the service itself for its last activity, over an HTTP probe the
//! user must declare. Every byte of a service's traffic crosses Myelin's proxy, so Myelin
//! counts that instead, and needs no probe: a notebook someone types in, a TensorBoard a tab
//! keeps refreshing, an editor's WebSocket all keep their service alive.
//!
//! Which runs to watch is learned from the store's change events (and from the unfinished runs
//! at start, or after events were missed), so a request pays one clock read, and runs without
//! a timeout cost nothing.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use serde_json::Value as Json;
use shared::api::Status;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use crate::AppState;
use crate::runtime::{RuntimeError, StopCause};

/// How often idle services are looked for: a service is stopped at most this late.
const CHECK: Duration = Duration::from_secs(1);

/// When each service last carried traffic through the proxy.
#[derive(Debug, Default)]
pub struct Activity {
    last: Mutex<HashMap<String, Instant>>,
}

impl Activity {
    fn last(&self) -> MutexGuard<'_, HashMap<String, Instant>> {
        self.last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Traffic to or from the service of run `uuid`, now.
    pub fn touch(&self, uuid: &str) {
        let now = Instant::now();
        let mut last = self.last();
        match last.get_mut(uuid) {
            Some(seen) => *seen = now,
            None => {
                last.insert(uuid.to_owned(), now);
            }
        }
    }

    /// How long the service has been quiet; the clock starts when it is first asked.
    fn quiet_for(&self, uuid: &str, now: Instant) -> Duration {
        now.duration_since(*self.last().entry(uuid.to_owned()).or_insert(now))
    }

    fn forget(&self, uuid: &str) {
        self.last().remove(uuid);
    }
}

/// A service connection whose bytes, either way, count as its run's activity: a WebSocket
/// joined by the proxy.
pub struct Counted<T> {
    io: T,
    activity: Arc<Activity>,
    uuid: String,
}

impl<T> Counted<T> {
    pub fn new(io: T, activity: Arc<Activity>, uuid: &str) -> Self {
        Self {
            io,
            activity,
            uuid: uuid.to_owned(),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Counted<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buffer.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(context, buffer);
        if buffer.filled().len() > before {
            self.activity.touch(&self.uuid);
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Counted<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(context, bytes);
        if matches!(polled, Poll::Ready(Ok(written)) if written > 0) {
            self.activity.touch(&self.uuid);
        }
        polled
    }

    fn poll_flush(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(context)
    }

    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(context)
    }
}

/// The idle timeout a compiled operation gives its service, if any.
pub fn idle_timeout(compiled: &Json) -> Option<Duration> {
    compiled
        .pointer("/termination/culling/timeout")
        .and_then(Json::as_f64)
        .filter(|seconds| seconds.is_finite() && *seconds > 0.0)
        .map(Duration::from_secs_f64)
}

/// Stops idle services until the store's events end (the server stops).
pub async fn cull(state: AppState) {
    let mut events = state.run_events.subscribe();
    let mut watched = HashMap::new();
    resync(&state, &mut watched).await;
    let mut tick = tokio::time::interval(CHECK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(event) => match event.status {
                    Some(Status::Running) => consider(&state, &mut watched, &event.uuid).await,
                    Some(status) if status.is_done() || status == Status::Stopping => {
                        watched.remove(&event.uuid);
                        state.activity.forget(&event.uuid);
                    }
                    _ => {}
                },
                Err(RecvError::Lagged(_)) => resync(&state, &mut watched).await,
                Err(RecvError::Closed) => return,
            },
            _ = tick.tick() => stop_idle(&state, &mut watched).await,
        }
    }
}

/// Watches every running service with a timeout, as the store has them now.
async fn resync(state: &AppState, watched: &mut HashMap<String, Duration>) {
    watched.clear();
    let unfinished = match state.store.unfinished_runs().await {
        Ok(unfinished) => unfinished,
        Err(error) => {
            tracing::warn!(%error, "cannot list the active runs to find idle services");
            return;
        }
    };
    for uuid in unfinished {
        consider(state, watched, &uuid).await;
    }
}

/// Watches run `uuid` if it is a running service with a timeout.
async fn consider(state: &AppState, watched: &mut HashMap<String, Duration>, uuid: &str) {
    let stored = match state.store.run_by_uuid(uuid).await {
        Ok(stored) => stored,
        Err(error) => {
            tracing::debug!(%error, uuid, "a run that changed is gone");
            return;
        }
    };
    if stored.run.status != Status::Running || stored.run.kind != "service" {
        return;
    }
    if let Some(timeout) = stored.compiled.as_ref().and_then(idle_timeout) {
        // Quiet from the moment it runs, not from its first visitor.
        state.activity.touch(uuid);
        watched.insert(uuid.to_owned(), timeout);
    }
}

async fn stop_idle(state: &AppState, watched: &mut HashMap<String, Duration>) {
    let now = Instant::now();
    let idle: Vec<(String, Duration)> = watched
        .iter()
        .filter(|(uuid, timeout)| state.activity.quiet_for(uuid, now) >= **timeout)
        .map(|(uuid, timeout)| (uuid.clone(), *timeout))
        .collect();
    for (uuid, timeout) in idle {
        watched.remove(&uuid);
        state.activity.forget(&uuid);
        match state.runtime.stop(&uuid, StopCause::Idle(timeout)).await {
            Ok(()) | Err(RuntimeError::NotActive) => {}
            Err(error) => tracing::error!(%error, uuid, "cannot stop an idle service"),
        }
    }
}
