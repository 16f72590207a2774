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
const PIPELINE_KINDS: &[&str] = &["matrix", "dag"];

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
        let planned = if stored.run.kind == "dag" {
            let run = stored
                .compiled
                .as_ref()
                .and_then(|compiled| compiled.get("run"))
                .unwrap_or(&Json::Null);
            let ops = match shared::pipeline::ops(run) {
                Ok(ops) => ops,
                Err(why) => return self.end(uuid, Status::Failed, "DagInvalid", why).await,
            };
            self.create_ops(&stored, &ops, &mut children).await?;
            ops.len()
        } else {
            let plan = match self.plan(&stored) {
                Ok(plan) => plan,
                Err(why) => return self.end(uuid, Status::Failed, "MatrixInvalid", why).await,
            };
            if let Err(why) = self.create_children(&stored, &plan, &mut children).await {
                return self.end(uuid, Status::Failed, "ChildNotCreated", why).await;
            }
            plan.len()
        };
        self.hand_over(&stored, &children).await?;
        self.follow(&stored, planned, &children).await
    }

    /// Creates the runs of the DAG's operations whose upstream has said enough: a run that
    /// executes, or one that ends at once (`skipped`, `upstream_failed`, or `failed` when its
    /// params name what its upstream runs do not have). Runs ended at once may decide more
    /// operations, so it goes on until a pass creates nothing.
    async fn create_ops(
        &self,
        stored: &StoredRun,
        ops: &[shared::pipeline::Op],
        children: &mut Vec<PipelineChild>,
    ) -> Result<(), AppError> {
        use shared::pipeline::{Decision, Upstream};

        let pipeline = &stored.run;
        let run = stored
            .compiled
            .as_ref()
            .and_then(|compiled| compiled.get("run"))
            .unwrap_or(&Json::Null);
        let project = self
            .state
            .store
            .project(&pipeline.owner, &pipeline.project)
            .await?;
        let dag_inputs = pipeline.inputs.clone().unwrap_or_default();
        let position = |name: &str| ops.iter().position(|op| op.name == name);
        loop {
            let mut created = 0;
            for (index, op) in ops.iter().enumerate() {
                let slot_index = u32::try_from(index).unwrap_or(u32::MAX);
                if children.iter().any(|child| child.index == slot_index) {
                    continue;
                }
                let upstream_child = |name: &str| {
                    position(name).and_then(|at| {
                        children
                            .iter()
                            .find(|child| child.index as usize == at)
                            .cloned()
                    })
                };
                let statuses: Vec<Option<Status>> = op
                    .upstream
                    .iter()
                    .map(|name| upstream_child(name).map(|child| child.status))
                    .collect();
                let slot = PipelineSlot {
                    uuid: pipeline.uuid.clone(),
                    index: slot_index,
                };
                let ended = match shared::pipeline::decide(op, &statuses) {
                    Decision::Wait => continue,
                    Decision::End(status, why) => Some((status, "UpstreamStatus", why)),
                    Decision::Start => {
                        let mut runs = HashMap::new();
                        for name in &op.upstream {
                            if let Some(child) = upstream_child(name) {
                                let upstream = self.state.store.run_by_uuid(&child.uuid).await?;
                                runs.insert(
                                    name.clone(),
                                    Upstream {
                                        uuid: upstream.run.uuid,
                                        name: upstream.run.name,
                                        status: Some(upstream.run.status),
                                        inputs: upstream.run.inputs.unwrap_or_default(),
                                        outputs: upstream.run.outputs.unwrap_or_default(),
                                    },
                                );
                            }
                        }
                        let params = run["operations"][index]
                            .get("params")
                            .and_then(Json::as_object)
                            .cloned()
                            .unwrap_or_default();
                        let operation =
                            shared::pipeline::resolve_params(&params, &dag_inputs, &runs).and_then(
                                |params| shared::pipeline::op_operation(run, index, params),
                            );
                        match operation {
                            Err(why) => Some((Status::Failed, "ParamsUnresolved", why)),
                            Ok(operation) => {
                                let body = OperationBody {
                                    content: Some(operation.to_string()),
                                    name: Some(op.name.clone()),
                                    tags: Some(pipeline.tags.clone()),
                                    ..OperationBody::default()
                                };
                                match submit_run(
                                    &self.state,
                                    &project,
                                    body,
                                    None,
                                    Some(slot.clone()),
                                )
                                .await
                                {
                                    Ok(child) => {
                                        children.push(PipelineChild {
                                            index: slot_index,
                                            uuid: child.uuid,
                                            status: child.status,
                                        });
                                        created += 1;
                                        None
                                    }
                                    Err(AppError::Conflict(_)) => None,
                                    Err(error) => {
                                        Some((Status::Failed, "NotSubmitted", error.to_string()))
                                    }
                                }
                            }
                        }
                    }
                };
                if let Some((status, reason, why)) = ended {
                    let child = self
                        .record_ended(stored, run, index, op, slot, status, reason, why)
                        .await?;
                    children.push(child);
                    created += 1;
                }
            }
            if created == 0 {
                return Ok(());
            }
        }
    }

    /// Records the run of an operation that ends without executing, so that the DAG shows
    /// every operation with its status and why.
    #[allow(clippy::too_many_arguments)]
    async fn record_ended(
        &self,
        stored: &StoredRun,
        run: &Json,
        index: usize,
        op: &shared::pipeline::Op,
        slot: PipelineSlot,
        status: Status,
        reason: &str,
        why: String,
    ) -> Result<PipelineChild, AppError> {
        let operation = shared::pipeline::op_operation(run, index, serde_json::Map::new())
            .unwrap_or(Json::Null);
        let kind = operation
            .pointer("/component/run/kind")
            .and_then(Json::as_str)
            .unwrap_or("job")
            .to_owned();
        let now = clock::now();
        let new = crate::store::NewRun {
            uuid: clock::new_uuid(),
            body: OperationBody {
                content: Some(operation.to_string()),
                name: Some(op.name.clone()),
                tags: Some(stored.run.tags.clone()),
                ..OperationBody::default()
            },
            name: Some(op.name.clone()),
            runtime: kind.clone(),
            kind,
            executor: self.state.runtime.name().to_owned(),
            inputs: None,
            compiled: None,
            resource: None,
            conditions: vec![
                StatusCondition::new(Status::Created, "Scheduler", "Run is created", now),
                StatusCondition::new(status, reason, why, now),
            ],
            created_at: now,
            cloned_from: None,
            pipeline: Some(slot),
        };
        let run = self
            .state
            .store
            .create_run(&stored.run.owner, &stored.run.project, new)
            .await?;
        Ok(PipelineChild {
            index: u32::try_from(index).unwrap_or(u32::MAX),
            uuid: run.uuid,
            status: run.status,
        })
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
                format!("The {}'s runs are running", stored.run.kind),
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
