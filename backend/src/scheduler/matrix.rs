//! A matrix's children: the params of each (`shared::matrix` draws them), created in order.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::Value as Json;
use shared::api::{OperationBody, Status};
use shared::matrix::Suggestion;

use super::Scheduler;
use crate::AppError;
use crate::store::{PipelineChild, PipelineSlot, StoredRun};
use crate::submit::submit_run;

impl Scheduler {
    /// Creates the matrix's children that do not exist yet; whether all of them do, and how
    /// many it has.
    pub(super) async fn advance_matrix(
        &mut self,
        stored: &StoredRun,
        children: &mut Vec<PipelineChild>,
    ) -> Result<Option<(bool, usize)>, AppError> {
        let uuid = &stored.run.uuid;
        let plan = match self.plan(stored) {
            Ok(plan) => plan,
            Err(why) => {
                self.end(uuid, Status::Failed, "MatrixInvalid", why).await?;
                return Ok(None);
            }
        };
        if let Err(why) = self.create_children(stored, &plan, children).await {
            self.end(uuid, Status::Failed, "ChildNotCreated", why)
                .await?;
            return Ok(None);
        }
        Ok(Some((children.len() >= plan.len(), plan.len())))
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
                due_at: None,
            };
            match submit_run(&self.state, &project, body, None, Some(slot)).await {
                Ok(run) => children.push(PipelineChild {
                    index,
                    uuid: run.uuid,
                    status: run.status,
                    due_at: None,
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
}
