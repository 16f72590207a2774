//! A DAG's operations, each run when its upstream has said enough (`shared::pipeline` decides).

use std::collections::HashMap;

use serde_json::Value as Json;
use shared::api::{OperationBody, Status, StatusCondition};

use super::Scheduler;
use crate::store::{PipelineChild, PipelineSlot, StoredRun};
use crate::submit::submit_run;
use crate::{AppError, clock};

impl Scheduler {
    /// Creates the runs of the operations whose upstream has said enough; whether every
    /// operation has its run, and how many it has.
    pub(super) async fn advance_dag(
        &mut self,
        stored: &StoredRun,
        children: &mut Vec<PipelineChild>,
    ) -> Result<Option<(bool, usize)>, AppError> {
        let run = super::section(stored, "run");
        let ops = match shared::pipeline::ops(run) {
            Ok(ops) => ops,
            Err(why) => {
                self.end(&stored.run.uuid, Status::Failed, "DagInvalid", why)
                    .await?;
                return Ok(None);
            }
        };
        self.create_ops(stored, &ops, children).await?;
        Ok(Some((children.len() >= ops.len(), ops.len())))
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
        let run = super::section(stored, "run");
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
                    due_at: None,
                };
                let ended = match shared::pipeline::decide(op, &statuses) {
                    Decision::Wait => continue,
                    Decision::End(status, why) => Some((status, "UpstreamStatus", why)),
                    Decision::Start => {
                        let mut runs = HashMap::new();
                        for name in &op.upstream {
                            if let Some(child) = upstream_child(name) {
                                let upstream = self.state.store.run_by_uuid(&child.uuid).await?;
                                let lineage = self.state.store.lineage(&child.uuid).await?;
                                runs.insert(
                                    name.clone(),
                                    Upstream {
                                        uuid: upstream.run.uuid,
                                        name: upstream.run.name,
                                        status: Some(upstream.run.status),
                                        inputs: upstream.run.inputs.unwrap_or_default(),
                                        outputs: upstream.run.outputs.unwrap_or_default(),
                                        lineage,
                                    },
                                );
                            }
                        }
                        let params = run["operations"][index]
                            .get("params")
                            .and_then(Json::as_object)
                            .cloned()
                            .unwrap_or_default();
                        // `None`: its conditions are false.
                        let operation =
                            shared::pipeline::resolve_params(&params, &dag_inputs, &runs).and_then(
                                |params| {
                                    if !shared::pipeline::conditions_hold(run, index, &params)? {
                                        return Ok(None);
                                    }
                                    shared::pipeline::op_operation(run, index, params).map(Some)
                                },
                            );
                        match operation {
                            Err(why) => Some((Status::Failed, "ParamsUnresolved", why)),
                            Ok(None) => Some((
                                Status::Skipped,
                                "Conditions",
                                "its conditions are false".to_owned(),
                            )),
                            Ok(Some(operation)) => {
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
                                    crate::submit::Submitter::child_of(pipeline),
                                )
                                .await
                                {
                                    Ok(child) => {
                                        children.push(PipelineChild {
                                            index: slot_index,
                                            uuid: child.uuid,
                                            status: child.status,
                                            due_at: None,
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
            cache_key: None,
            user: stored.run.user.clone(),
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
            due_at: None,
        })
    }
}
