//! The scheduler turns pipelines into runs. A matrix's children are created through the same
//! submission path as any run ([`submit_run`]), each in its own place of the pipeline
//! ([`PipelineSlot`]), and handed to the runtime as the pipeline's `concurrency` allows; the
//! pipeline ends once its children have.
//!
//! Its state is the store's: the pipeline's compiled operation (with the seed a random search
//! draws from), its children and their statuses. So a server restarted after any crash, SIGKILL
//! included, takes every pipeline up where it was: a place holds one run, ever, so no child is
//! created twice; a child not handed to the runtime yet is handed over; one that was is the
//! runtime's to recover, as any run.
//!
//! It wakes on the store's change events: a pipeline created or changed, a child's status
//! changed. Events that arrive while it works are taken together, so a pipeline is looked at
//! once for a burst of them; when it falls behind the events, it looks at every pipeline.

mod dag;
mod iterative;
mod matrix;
mod schedule;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use serde_json::Value as Json;
use shared::api::{Status, StatusCondition};
use shared::matrix::Suggestion;
use shared::time::Timestamp;
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};

use crate::runtime::{RuntimeError, StopCause};
use crate::store::{PipelineChild, RunEvent, StoreError, StoredRun};
use crate::submit::execute;
use crate::{AppError, AppState, clock};

/// The kinds of run the scheduler drives.
const PIPELINE_KINDS: &[&str] = &["matrix", "dag", "schedule"];

/// Starts the scheduler on `state`'s store and runtime; it runs as long as the server does.
pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    let events = state.run_events.subscribe();
    tokio::spawn(run(state, events))
}

async fn run(state: AppState, mut events: broadcast::Receiver<RunEvent>) {
    let mut scheduler = Scheduler {
        state,
        handed: HashSet::new(),
        plans: HashMap::new(),
        wakes: BTreeMap::new(),
    };
    let mut due = scheduler.every_pipeline().await;
    loop {
        for uuid in std::mem::take(&mut due) {
            scheduler.wakes.remove(&uuid);
            if let Err(error) = scheduler.advance(&uuid).await {
                tracing::error!(%error, pipeline = uuid, "the scheduler cannot advance a pipeline");
            }
        }
        // Asleep until an event, or the next tick a schedule waits for.
        let next_tick = scheduler.wakes.values().min().copied();
        let sleep = next_tick.map(|at| {
            let micros = at.as_micros() - clock::now().as_micros();
            std::time::Duration::from_micros(u64::try_from(micros).unwrap_or(0))
        });
        let event = match sleep {
            Some(sleep) => tokio::select! {
                event = events.recv() => Some(event),
                () = tokio::time::sleep(sleep) => None,
            },
            None => Some(events.recv().await),
        };
        match event {
            None => {
                let now = clock::now();
                due.extend(
                    scheduler
                        .wakes
                        .iter()
                        .filter(|(_, at)| **at <= now)
                        .map(|(uuid, _)| uuid.clone()),
                );
            }
            Some(Ok(event)) => note(&event, &mut due),
            Some(Err(RecvError::Lagged(_))) => due.extend(scheduler.every_pipeline().await),
            Some(Err(RecvError::Closed)) => return,
        }
        loop {
            match events.try_recv() {
                Ok(event) => note(&event, &mut due),
                Err(TryRecvError::Lagged(_)) => due.extend(scheduler.every_pipeline().await),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Closed) => return,
            }
        }
    }
}

/// The pipeline an event concerns, if any: a pipeline's own change, or a child's new status.
fn note(event: &RunEvent, due: &mut BTreeSet<String>) {
    let is_pipeline = event
        .kind
        .as_deref()
        .is_some_and(|kind| PIPELINE_KINDS.contains(&kind));
    if is_pipeline && event.change != "deleted" {
        due.insert(event.uuid.clone());
    }
    // A nested pipeline is a child too: its parent follows its status.
    if let Some(pipeline) = &event.pipeline
        && event.change == "status"
    {
        due.insert(pipeline.clone());
    }
}

struct Scheduler {
    state: AppState,
    /// Children handed to the runtime, until their status shows it: the runtime records
    /// `queued` on its own time, and a child must not be handed over twice meanwhile.
    handed: HashSet<String>,
    /// Each pipeline's children's params, computed once: they follow from its stored
    /// operation alone, so after a restart they are computed again, the same.
    plans: HashMap<String, Arc<Vec<Suggestion>>>,
    /// When each schedule's next tick is due: the scheduler wakes for it.
    wakes: BTreeMap<String, Timestamp>,
}

impl Scheduler {
    async fn every_pipeline(&self) -> BTreeSet<String> {
        match self.state.store.active_pipelines().await {
            Ok(uuids) => uuids.into_iter().collect(),
            Err(error) => {
                tracing::error!(%error, "the scheduler cannot list the pipelines");
                BTreeSet::new()
            }
        }
    }

    async fn advance(&mut self, uuid: &str) -> Result<(), AppError> {
        let stored = match self.state.store.run_by_uuid(uuid).await {
            Ok(stored) => stored,
            Err(StoreError::NotFound(_)) => {
                self.plans.remove(uuid);
                return Ok(());
            }
            Err(error) => return Err(error.into()),
        };
        if stored.run.status.is_done() {
            self.plans.remove(uuid);
            return Ok(());
        }
        let mut children = self.state.store.pipeline_children(uuid).await?;
        self.handed.retain(|handed| {
            children
                .iter()
                .find(|child| child.uuid == *handed)
                .is_none_or(|child| waits(child.status))
        });
        if stored.run.status == Status::Stopping {
            return self.stop(uuid, &children).await;
        }
        let complete = match stored.run.kind.as_str() {
            "dag" => self.advance_dag(&stored, &mut children).await?,
            "schedule" => self.advance_schedule(&stored, &mut children).await?,
            _ => self.advance_matrix(&stored, &mut children).await?,
        };
        // `None`: the pipeline could not go on, and was ended saying why.
        let Some((complete, planned)) = complete else {
            return Ok(());
        };
        if self.stop_early(&stored, &children, planned).await? {
            return Ok(());
        }
        self.hand_over(&stored, &children).await?;
        self.follow(&stored, complete, &children).await
    }

    /// Hands the children that wait to the runtime, lowest place first, while fewer than the
    /// pipeline's `concurrency` are active.
    async fn hand_over(
        &mut self,
        stored: &StoredRun,
        children: &[PipelineChild],
    ) -> Result<(), AppError> {
        let concurrency = stored
            .compiled
            .as_ref()
            .and_then(|compiled| {
                compiled
                    .pointer("/matrix/concurrency")
                    .or_else(|| compiled.pointer("/run/concurrency"))
            })
            .and_then(Json::as_u64)
            .filter(|concurrency| *concurrency > 0)
            .map_or(usize::MAX, |concurrency| {
                usize::try_from(concurrency).unwrap_or(usize::MAX)
            });
        let is_handed = |child: &PipelineChild| self.handed.contains(&child.uuid);
        let active = children
            .iter()
            .filter(|child| !child.status.is_done() && (!waits(child.status) || is_handed(child)))
            .count();
        let mut waiting: Vec<&PipelineChild> = children
            .iter()
            .filter(|child| waits(child.status) && !is_handed(child))
            .collect();
        waiting.sort_by_key(|child| child.index);
        let mut free = concurrency.saturating_sub(active);
        for child in waiting {
            if free == 0 {
                break;
            }
            let stored = self.state.store.run_by_uuid(&child.uuid).await?;
            // One that waits for a person's approval is handed over by `approve`.
            if stored.run.pending.is_some() {
                continue;
            }
            if let Some(execution) = self.state.execution(stored).await? {
                self.handed.insert(child.uuid.clone());
                execute(&self.state, execution).await?;
                free -= 1;
            }
        }
        Ok(())
    }

    /// The pipeline's own status: running once a child has been handed over, ended once every
    /// child exists and has ended.
    async fn follow(
        &self,
        stored: &StoredRun,
        complete: bool,
        children: &[PipelineChild],
    ) -> Result<(), AppError> {
        let uuid = &stored.run.uuid;
        let started = !self.handed.is_empty()
            && children
                .iter()
                .any(|child| self.handed.contains(&child.uuid))
            || children.iter().any(|child| !waits(child.status));
        let waiting = matches!(stored.run.status, Status::Created | Status::Compiled);
        // A schedule stays `on_schedule` between its runs.
        if started && waiting && stored.run.kind != "schedule" {
            let condition = StatusCondition::new(
                Status::Running,
                "Scheduler",
                format!("The {}'s runs are running", stored.run.kind),
                clock::now(),
            );
            self.state
                .store
                .add_condition(uuid, condition, false)
                .await?;
        }
        if !complete || !children.iter().all(|child| child.status.is_done()) {
            return Ok(());
        }
        let count = |status: Status| {
            children
                .iter()
                .filter(|child| child.status == status)
                .count()
        };
        let failed = count(Status::Failed) + count(Status::UpstreamFailed);
        let (succeeded, stopped) = (count(Status::Succeeded), count(Status::Stopped));
        let skipped = count(Status::Skipped);
        let mut message = format!(
            "{} runs: {succeeded} succeeded, {failed} failed, {stopped} stopped",
            children.len()
        );
        if skipped > 0 {
            message.push_str(&format!(", {skipped} skipped"));
        }
        let status = if failed > 0 {
            Status::Failed
        } else {
            Status::Succeeded
        };
        self.end(uuid, status, "Scheduler", message).await
    }

    /// Stops a stopping pipeline's children: those not handed over are stopped where they are,
    /// the others by the runtime. The pipeline is stopped once they all are.
    async fn stop(&mut self, uuid: &str, children: &[PipelineChild]) -> Result<(), AppError> {
        let unfinished: Vec<&PipelineChild> = children.iter().collect();
        let active = self
            .stop_children(&unfinished, "Scheduler", "Its pipeline was stopped")
            .await?;
        if active == 0 {
            let message = format!("Stopped with its {} runs", children.len());
            return self.end(uuid, Status::Stopped, "Scheduler", message).await;
        }
        Ok(())
    }

    /// Stops `children`: those not handed over where they are, the others by the runtime; how
    /// many are still stopping.
    async fn stop_children(
        &mut self,
        children: &[&PipelineChild],
        reason: &str,
        message: &str,
    ) -> Result<usize, AppError> {
        let mut active = 0;
        for child in children.iter().filter(|child| !child.status.is_done()) {
            active += 1;
            if child.status == Status::Stopping {
                continue;
            }
            let held = waits(child.status) && !self.handed.contains(&child.uuid);
            let stopped_by_runtime = !held
                && match self.state.runtime.stop(&child.uuid, StopCause::Asked).await {
                    Ok(()) => true,
                    Err(RuntimeError::NotActive) => false,
                    Err(error) => return Err(AppError::Internal(error.to_string())),
                };
            if !stopped_by_runtime && self.is_pipeline(&child.uuid).await? {
                // A nested matrix or DAG: its own scheduling stops its runs, then it.
                let condition =
                    StatusCondition::new(Status::Stopping, reason, message, clock::now());
                self.state
                    .store
                    .add_condition(&child.uuid, condition, false)
                    .await?;
            } else if !stopped_by_runtime {
                let condition =
                    StatusCondition::new(Status::Stopped, reason, message, clock::now());
                self.state
                    .store
                    .add_condition(&child.uuid, condition, false)
                    .await?;
                active -= 1;
            }
        }
        Ok(active)
    }

    async fn is_pipeline(&self, uuid: &str) -> Result<bool, AppError> {
        let run = self.state.store.run_by_uuid(uuid).await?.run;
        Ok(run.settings.runtime == crate::store::SCHEDULER_EXECUTOR)
    }

    /// Applies the pipeline's `earlyStopping` to what its children came to: runs a policy
    /// stops are stopped, and a verdict on the whole search stops the rest and ends it.
    /// Whether the pipeline ended.
    async fn stop_early(
        &mut self,
        stored: &StoredRun,
        children: &[PipelineChild],
        planned: usize,
    ) -> Result<bool, AppError> {
        let Some(rules) = stored.compiled.as_ref().and_then(|compiled| {
            compiled
                .pointer("/matrix/earlyStopping")
                .or_else(|| compiled.pointer("/run/earlyStopping"))
        }) else {
            return Ok(false);
        };
        let uuids: Vec<String> = children.iter().map(|child| child.uuid.clone()).collect();
        let reads_metrics = rules.to_string().contains("metric_early_stopping");
        let mut summaries = if reads_metrics {
            self.state
                .metrics
                .summaries(&uuids, shared::api::MetricKind::Metric)
                .await?
                .runs
        } else {
            Default::default()
        };
        let seen: Vec<shared::early_stopping::Child> = children
            .iter()
            .map(|child| shared::early_stopping::Child {
                uuid: child.uuid.clone(),
                status: child.status,
                metrics: summaries.remove(&child.uuid).unwrap_or_default(),
            })
            .collect();
        let verdict = shared::early_stopping::judge(rules, &seen, planned);
        for (uuid, why) in &verdict.stop {
            if let Some(child) = children.iter().find(|child| child.uuid == *uuid) {
                self.stop_children(&[child], "EarlyStopping", why).await?;
            }
        }
        if let Some((status, message)) = verdict.end {
            let all: Vec<&PipelineChild> = children
                .iter()
                .filter(|child| verdict.winner.as_deref() != Some(child.uuid.as_str()))
                .collect();
            self.stop_children(&all, "EarlyStopping", &message).await?;
            self.end(&stored.run.uuid, status, "EarlyStopping", message)
                .await?;
            return Ok(true);
        }
        // Metrics arrive without a status changing: look again while runs run.
        if reads_metrics && children.iter().any(|child| !child.status.is_done()) {
            let again = clock::now().plus_micros(2_000_000);
            self.wakes.insert(stored.run.uuid.clone(), again);
        }
        Ok(false)
    }

    async fn end(
        &self,
        uuid: &str,
        status: Status,
        reason: &str,
        message: impl Into<String>,
    ) -> Result<(), AppError> {
        let condition = StatusCondition::new(status, reason, message, clock::now());
        self.state
            .store
            .add_condition(uuid, condition, false)
            .await?;
        Ok(())
    }
}

/// A section of a pipeline's compiled operation (`matrix`, `run`, `schedule`), or null.
fn section<'a>(stored: &'a StoredRun, name: &str) -> &'a Json {
    stored
        .compiled
        .as_ref()
        .and_then(|compiled| compiled.get(name))
        .unwrap_or(&Json::Null)
}

/// Whether a child's status says it has not been handed to the runtime.
fn waits(status: Status) -> bool {
    matches!(status, Status::Created | Status::Compiled)
}
