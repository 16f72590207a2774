//! A schedule's runs, one per tick (`shared::schedule` says which are due): the ticks it missed
//! while the server was down are started when it comes back, each run saying when it was due.

use serde_json::Value as Json;
use shared::api::{OperationBody, Status, StatusCondition};

use super::Scheduler;
use crate::store::{PipelineChild, PipelineSlot, StoredRun};
use crate::submit::submit_run;
use crate::{AppError, clock};

impl Scheduler {
    /// Creates a run for each tick due; whether the schedule has no tick left, and how many
    /// runs it made.
    pub(super) async fn advance_schedule(
        &mut self,
        stored: &StoredRun,
        children: &mut Vec<PipelineChild>,
    ) -> Result<Option<(bool, usize)>, AppError> {
        let pipeline = &stored.run;
        let section = super::section(stored, "schedule");
        let schedule = match shared::schedule::read(section) {
            Ok(schedule) => schedule,
            Err(why) => {
                self.end(&pipeline.uuid, Status::Failed, "ScheduleInvalid", why)
                    .await?;
                return Ok(None);
            }
        };
        if pipeline.status == Status::Compiled {
            let condition = StatusCondition::new(
                Status::OnSchedule,
                "Scheduler",
                "Waiting for its next tick",
                clock::now(),
            );
            self.state
                .store
                .add_condition(&pipeline.uuid, condition, false)
                .await?;
        }
        let last = children.last();
        if schedule.depends_on_past && last.is_some_and(|last| !last.status.is_done()) {
            // The next tick waits for this run; its end wakes the scheduler.
            return Ok(Some((false, children.len())));
        }
        let made = children.len() as u64;
        let now = clock::now();
        let due = schedule.due(
            pipeline.created_at,
            last.and_then(|last| last.due_at),
            made,
            now,
        );
        if due.passed_over > 0 {
            let condition = StatusCondition::new(
                Status::OnSchedule,
                "TicksPassedOver",
                format!(
                    "{} ticks were missed while Myelin was down; the latest {} of them started",
                    due.passed_over,
                    due.ticks.len()
                ),
                now,
            );
            self.state
                .store
                .add_condition(&pipeline.uuid, condition, false)
                .await?;
        }
        let content = shared::pipeline::without(
            pipeline.raw_content.as_deref().unwrap_or_default(),
            "schedule",
        )
        .map_err(AppError::BadRequest)?;
        let project = self
            .state
            .store
            .project(&pipeline.owner, &pipeline.project)
            .await?;
        let wanted = if schedule.depends_on_past {
            1
        } else {
            due.ticks.len()
        };
        for (offset, tick) in due.ticks.iter().take(wanted).enumerate() {
            let index = u32::try_from(children.len()).unwrap_or(u32::MAX);
            let body = OperationBody {
                content: Some(Json::Object(content.clone()).to_string()),
                name: pipeline.name.clone(),
                tags: Some(pipeline.tags.clone()),
                ..OperationBody::default()
            };
            let slot = PipelineSlot {
                uuid: pipeline.uuid.clone(),
                index,
                due_at: Some(*tick),
            };
            let by = crate::submit::Submitter::child_of(pipeline);
            match submit_run(&self.state, &project, body, None, Some(slot), by).await {
                Ok(run) => children.push(PipelineChild {
                    index,
                    uuid: run.uuid,
                    status: run.status,
                    due_at: Some(*tick),
                }),
                // Made meanwhile: the store has it, once.
                Err(AppError::Conflict(_)) => return Ok(Some((false, children.len()))),
                Err(error) => {
                    let why = format!("the run due at {tick} cannot be created: {error}");
                    self.end(&pipeline.uuid, Status::Failed, "ChildNotCreated", why)
                        .await?;
                    return Ok(None);
                }
            }
            if offset + 1 == wanted && wanted < due.ticks.len() {
                return Ok(Some((false, children.len())));
            }
        }
        match due.next {
            Some(next) => {
                self.wakes.insert(pipeline.uuid.clone(), next);
            }
            None => {
                self.wakes.remove(&pipeline.uuid);
            }
        }
        Ok(Some((due.finished, children.len())))
    }
}
