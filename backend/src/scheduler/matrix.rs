//! A matrix's children: the params of each (`shared::matrix` draws them), created in order.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::Value as Json;
use shared::api::{OperationBody, Project, Status};
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
        let is_hyperband = stored
            .compiled
            .as_ref()
            .and_then(|compiled| compiled.pointer("/matrix/kind"))
            .and_then(Json::as_str)
            == Some("hyperband");
        if is_hyperband {
            return self.advance_hyperband(stored, children).await;
        }
        let matrix = super::section(stored, "matrix");
        if matrix.get("kind").and_then(Json::as_str) == Some("iterative") {
            return self.advance_iterative(stored, children).await;
        }
        if let Some(budget) = shared::guided::budget(matrix) {
            return self.advance_guided(stored, budget, children).await;
        }
        let plan = match self.plan(stored) {
            Ok(plan) => plan,
            Err(why) => {
                self.end(uuid, Status::Failed, "MatrixInvalid", why).await?;
                return Ok(None);
            }
        };
        let items: Vec<(u32, Suggestion)> = plan
            .iter()
            .enumerate()
            .map(|(index, params)| (u32::try_from(index).unwrap_or(u32::MAX), params.clone()))
            .collect();
        if children.len() < plan.len()
            && let Err(why) = self.create_children(stored, &items, children).await
        {
            self.end(uuid, Status::Failed, "ChildNotCreated", why)
                .await?;
            return Ok(None);
        }
        Ok(Some((children.len() >= plan.len(), plan.len())))
    }

    /// Hyperband's rungs in turn: a rung's runs are created once the rung before it has
    /// ended (the first of a bracket from a random draw, the others from the best of the one
    /// before), so the search waits at the first rung that has not ended.
    async fn advance_hyperband(
        &mut self,
        stored: &StoredRun,
        children: &mut Vec<PipelineChild>,
    ) -> Result<Option<(bool, usize)>, AppError> {
        let uuid = &stored.run.uuid;
        let matrix = super::section(stored, "matrix");
        let hyperband = match shared::hyperband::Hyperband::read(matrix) {
            Ok(hyperband) => hyperband,
            Err(why) => {
                self.end(uuid, Status::Failed, "MatrixInvalid", why).await?;
                return Ok(None);
            }
        };
        let rungs = hyperband.rungs();
        let planned = rungs.iter().map(|rung| rung.runs).sum();
        let order = shared::matrix::written_order(stored.run.raw_content.as_deref().unwrap_or(""));
        let names: Vec<String> = matrix
            .get("params")
            .and_then(Json::as_object)
            .map(|params| params.keys().cloned().collect())
            .unwrap_or_default();
        for (at, rung) in rungs.iter().enumerate() {
            let range = rung.first..rung.first + rung.runs;
            let in_rung = |child: &&PipelineChild| range.contains(&(child.index as usize));
            let existing = children.iter().filter(in_rung).count();
            if existing < rung.runs {
                let configs = if rung.bracket_iteration == 0 {
                    shared::matrix::draw(matrix, &order, rung.runs as u64, 0).map(|configs| {
                        configs
                            .iter()
                            .map(|params| hyperband.with_resource(params, rung))
                            .collect()
                    })
                } else {
                    let before = &rungs[at - 1];
                    let mut ran: Vec<&PipelineChild> = children
                        .iter()
                        .filter(|child| {
                            (before.first..before.first + before.runs)
                                .contains(&(child.index as usize))
                        })
                        .collect();
                    ran.sort_by_key(|child| child.index);
                    let results = self.results(&ran, &names, hyperband.metric()).await?;
                    Ok(hyperband.promote(rung, &results))
                };
                let configs = match configs {
                    Ok(configs) => configs,
                    Err(why) => {
                        self.end(uuid, Status::Failed, "MatrixInvalid", why).await?;
                        return Ok(None);
                    }
                };
                let items: Vec<(u32, Suggestion)> = configs
                    .into_iter()
                    .enumerate()
                    .map(|(offset, params)| {
                        (
                            u32::try_from(rung.first + offset).unwrap_or(u32::MAX),
                            params,
                        )
                    })
                    .collect();
                if let Err(why) = self.create_children(stored, &items, children).await {
                    self.end(uuid, Status::Failed, "ChildNotCreated", why)
                        .await?;
                    return Ok(None);
                }
            }
            let ended = children
                .iter()
                .filter(in_rung)
                .all(|child| child.status.is_done());
            if !ended {
                return Ok(Some((false, planned)));
            }
        }
        Ok(Some((true, planned)))
    }

    /// A bayes or tpe search: its initial runs drawn at random, then, whenever fewer than
    /// `concurrency` of its runs are active, as many suggestions as there are free places,
    /// from what the ended runs reported and with the active ones counted, until its budget
    /// is spent.
    async fn advance_guided(
        &mut self,
        stored: &StoredRun,
        budget: Result<shared::guided::Budget, String>,
        children: &mut Vec<PipelineChild>,
    ) -> Result<Option<(bool, usize)>, AppError> {
        let uuid = &stored.run.uuid;
        let matrix = super::section(stored, "matrix");
        let order = shared::matrix::written_order(stored.run.raw_content.as_deref().unwrap_or(""));
        let read = shared::guided::Guided::read(matrix, &order)
            .unwrap_or_else(|| Err("the matrix is not a guided search".to_owned()));
        let (search, budget) = match read.and_then(|search| Ok((search, budget?))) {
            Ok(read) => read,
            Err(why) => {
                self.end(uuid, Status::Failed, "MatrixInvalid", why).await?;
                return Ok(None);
            }
        };
        let (initial, planned) = (budget.initial, budget.total);
        let seed = matrix.get("seed").and_then(Json::as_u64).unwrap_or(0);
        let wanted: Vec<(u32, Suggestion)> = if children.len() < initial {
            match shared::matrix::draw(matrix, &order, initial as u64, seed) {
                Ok(configs) => configs
                    .into_iter()
                    .enumerate()
                    .map(|(index, params)| (u32::try_from(index).unwrap_or(u32::MAX), params))
                    .collect(),
                Err(why) => {
                    self.end(uuid, Status::Failed, "MatrixInvalid", why).await?;
                    return Ok(None);
                }
            }
        } else if children.len() < planned {
            let concurrency = matrix
                .get("concurrency")
                .and_then(Json::as_u64)
                .map_or(1, |concurrency| concurrency.max(1) as usize);
            let active: Vec<&PipelineChild> = children
                .iter()
                .filter(|child| !child.status.is_done())
                .collect();
            let free = concurrency
                .saturating_sub(active.len())
                .min(planned - children.len());
            if free == 0 {
                return Ok(Some((false, planned)));
            }
            let names: Vec<String> = matrix
                .get("params")
                .and_then(Json::as_object)
                .map(|params| params.keys().cloned().collect())
                .unwrap_or_default();
            let mut ended: Vec<&PipelineChild> = children
                .iter()
                .filter(|child| child.status.is_done())
                .collect();
            ended.sort_by_key(|child| child.index);
            let observed: Vec<(Suggestion, f64)> = self
                .results(&ended, &names, search.metric())
                .await?
                .into_iter()
                .filter_map(|(params, value)| Some((params, value?)))
                .collect();
            let pending: Vec<Suggestion> = self
                .results(&active, &names, search.metric())
                .await?
                .into_iter()
                .map(|(params, _)| params)
                .collect();
            let first = children.len();
            search
                .suggest(&observed, &pending, free, seed.wrapping_add(first as u64))
                .into_iter()
                .enumerate()
                .map(|(offset, params)| (u32::try_from(first + offset).unwrap_or(u32::MAX), params))
                .collect()
        } else {
            Vec::new()
        };
        if let Err(why) = self.create_children(stored, &wanted, children).await {
            self.end(uuid, Status::Failed, "ChildNotCreated", why)
                .await?;
            return Ok(None);
        }
        Ok(Some((children.len() >= planned, planned)))
    }

    /// What `runs` came to: each one's params (the matrix's `names`) and its metric's last
    /// value, `None` for a run that did not succeed.
    async fn results(
        &self,
        runs: &[&PipelineChild],
        names: &[String],
        metric: &str,
    ) -> Result<Vec<(Suggestion, Option<f64>)>, AppError> {
        let uuids: Vec<String> = runs.iter().map(|child| child.uuid.clone()).collect();
        // Read from the runs' files where the store may not have them yet (a run that just
        // ended).
        let mut summaries = self
            .state
            .metrics
            .summaries(&uuids, shared::api::MetricKind::Metric)
            .await?
            .runs;
        let mut results = Vec::with_capacity(runs.len());
        for child in runs.iter().copied() {
            let inputs = self.state.store.run_by_uuid(&child.uuid).await?.run.inputs;
            let params: Suggestion = names
                .iter()
                .filter_map(|name| Some((name.clone(), inputs.as_ref()?.get(name)?.clone())))
                .collect();
            let value = summaries
                .remove(&child.uuid)
                .and_then(|metrics| metrics.get(metric).and_then(|summary| summary.last));
            // A run that did not succeed ranks last, whatever it logged.
            let value = value.filter(|_| child.status == Status::Succeeded);
            results.push((params, value));
        }
        Ok(results)
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

    /// Creates the children of `items` (each a place and its params) whose places are empty.
    pub(super) async fn create_children(
        &self,
        stored: &StoredRun,
        items: &[(u32, Suggestion)],
        children: &mut Vec<PipelineChild>,
    ) -> Result<(), String> {
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
        for (index, params) in items {
            if taken.contains(index) {
                continue;
            }
            let operation = shared::matrix::child_operation(content, compiled, params)?;
            let name = pipeline.name.clone();
            self.place_child(stored, &project, *index, operation, name, children)
                .await
                .map_err(|error| {
                    format!(
                        "run {index} of the matrix ({}) cannot be created: {error}",
                        Json::Object(params.clone())
                    )
                })?;
        }
        Ok(())
    }

    /// Submits `operation` as the pipeline's child at place `index`, named `name`, and adds it
    /// to `children`; nothing when another pass took the place meanwhile (it exists, once).
    pub(super) async fn place_child(
        &self,
        stored: &StoredRun,
        project: &Project,
        index: u32,
        operation: String,
        name: Option<String>,
        children: &mut Vec<PipelineChild>,
    ) -> Result<(), AppError> {
        let pipeline = &stored.run;
        let body = OperationBody {
            content: Some(operation),
            name,
            tags: Some(pipeline.tags.clone()),
            ..OperationBody::default()
        };
        let slot = PipelineSlot {
            uuid: pipeline.uuid.clone(),
            index,
            due_at: None,
        };
        let by = crate::submit::Submitter::child_of(pipeline);
        match submit_run(&self.state, project, body, None, Some(slot), by).await {
            Ok(run) => {
                children.push(PipelineChild {
                    index,
                    uuid: run.uuid,
                    status: run.status,
                    due_at: None,
                });
                Ok(())
            }
            Err(AppError::Conflict(_)) => Ok(()),
            Err(error) => Err(error),
        }
    }
}
