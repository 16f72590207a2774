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

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use serde_json::Value as Json;
use shared::api::{OperationBody, Status, StatusCondition};
use shared::matrix::Suggestion;
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};

use crate::runtime::{RuntimeError, StopCause};
use crate::store::{PipelineChild, PipelineSlot, RunEvent, StoreError, StoredRun};
use crate::submit::{execute, submit_run};
use crate::{AppError, AppState, clock};

/// The kinds of run the scheduler drives.
const PIPELINE_KINDS: &[&str] = &["matrix"];

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
    };
    let mut due = scheduler.every_pipeline().await;
    loop {
        for uuid in std::mem::take(&mut due) {
            if let Err(error) = scheduler.advance(&uuid).await {
                tracing::error!(%error, pipeline = uuid, "the scheduler cannot advance a pipeline");
            }
        }
        match events.recv().await {
            Ok(event) => note(&event, &mut due),
            Err(RecvError::Lagged(_)) => due.extend(scheduler.every_pipeline().await),
            Err(RecvError::Closed) => return,
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
    } else if let Some(pipeline) = &event.pipeline
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
        let plan = match self.plan(&stored) {
            Ok(plan) => plan,
            Err(why) => return self.end(uuid, Status::Failed, "MatrixInvalid", why).await,
        };
        if let Err(why) = self.create_children(&stored, &plan, &mut children).await {
            return self.end(uuid, Status::Failed, "ChildNotCreated", why).await;
        }
        self.hand_over(&stored, &children).await?;
        self.follow(&stored, plan.len(), &children).await
    }

    /// The params of each of the pipeline's children.
    fn plan(&mut self, stored: &StoredRun) -> Result<Arc<Vec<Suggestion>>, String> {
        if let Some(plan) = self.plans.get(&stored.run.uuid) {
            return Ok(Arc::clone(plan));
        }
        let matrix = stored
            .compiled
            .as_ref()
            .and_then(|compiled| compiled.get("matrix"))
            .ok_or("the pipeline has no matrix")?;
        let order = shared::matrix::written_order(stored.run.raw_content.as_deref().unwrap_or(""));
        // The seed was written into the matrix when it was submitted.
        let plan = Arc::new(shared::matrix::suggestions(matrix, &order, 0)?);
        self.plans
            .insert(stored.run.uuid.clone(), Arc::clone(&plan));
        Ok(plan)
    }

    /// Creates the children whose places are empty, in order.
    async fn create_children(
        &self,
        stored: &StoredRun,
        plan: &[Suggestion],
        children: &mut Vec<PipelineChild>,
    ) -> Result<(), String> {
        if children.len() >= plan.len() {
            return Ok(());
        }
        let taken: HashSet<u32> = children.iter().map(|child| child.index).collect();
        let pipeline = &stored.run;
        let project = self
            .state
            .store
            .project(&pipeline.owner, &pipeline.project)
            .await
            .map_err(|error| error.to_string())?;
        let content = pipeline.raw_content.as_deref().unwrap_or_default();
        let compiled = stored.compiled.as_ref().unwrap_or(&Json::Null);
        for (index, params) in plan.iter().enumerate() {
            let index = u32::try_from(index).map_err(|_| "too many runs".to_owned())?;
            if taken.contains(&index) {
                continue;
            }
            let operation = shared::matrix::child_operation(content, compiled, params)?;
            let body = OperationBody {
                content: Some(operation),
                name: pipeline.name.clone(),
                tags: Some(pipeline.tags.clone()),
                ..OperationBody::default()
            };
            let slot = PipelineSlot {
                uuid: pipeline.uuid.clone(),
                index,
            };
            match submit_run(&self.state, &project, body, None, Some(slot)).await {
                Ok(run) => children.push(PipelineChild {
                    index,
                    uuid: run.uuid,
                    status: run.status,
                }),
                // Taken meanwhile (by another scheduler's pass): it exists, once.
                Err(AppError::Conflict(_)) => {}
                Err(error) => {
                    return Err(format!(
                        "run {index} of the matrix ({}) cannot be created: {error}",
                        Json::Object(params.clone())
                    ));
                }
            }
        }
        Ok(())
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
            .and_then(|compiled| compiled.pointer("/matrix/concurrency"))
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
        planned: usize,
        children: &[PipelineChild],
    ) -> Result<(), AppError> {
        let uuid = &stored.run.uuid;
        let started = !self.handed.is_empty()
            && children
                .iter()
                .any(|child| self.handed.contains(&child.uuid))
            || children.iter().any(|child| !waits(child.status));
        if started && matches!(stored.run.status, Status::Created | Status::Compiled) {
            let condition = StatusCondition::new(
                Status::Running,
                "Scheduler",
                "The matrix's runs are running",
                clock::now(),
            );
            self.state
                .store
                .add_condition(uuid, condition, false)
                .await?;
        }
        if children.len() < planned || !children.iter().all(|child| child.status.is_done()) {
            return Ok(());
        }
        let count = |status: Status| {
            children
                .iter()
                .filter(|child| child.status == status)
                .count()
        };
        let (failed, stopped) = (count(Status::Failed), count(Status::Stopped));
        let succeeded = count(Status::Succeeded);
        let message = format!(
            "{} runs: {succeeded} succeeded, {failed} failed, {stopped} stopped",
            children.len()
        );
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
            if !stopped_by_runtime {
                let condition = StatusCondition::new(
                    Status::Stopped,
                    "Scheduler",
                    "Its pipeline was stopped",
                    clock::now(),
                );
                self.state
                    .store
                    .add_condition(&child.uuid, condition, false)
                    .await?;
                active -= 1;
            }
        }
        if active == 0 {
            let message = format!("Stopped with its {} runs", children.len());
            return self.end(uuid, Status::Stopped, "Scheduler", message).await;
        }
        Ok(())
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

/// Whether a child's status says it has not been handed to the runtime.
fn waits(status: Status) -> bool {
    matches!(status, Status::Created | Status::Compiled)
}
