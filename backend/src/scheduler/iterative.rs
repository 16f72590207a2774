//! An `iterative` matrix: the user's tuner run suggests each iteration's runs
//! (`shared::iterative`). The iterations so far are read back from the places: a tuner at
//! [`TUNER_PLACE`]` + k`, its suggestions from the place after the runs of the iterations
//! before it, so a restart continues the iteration it was in.

use serde_json::{Map, Value as Json};
use shared::api::Status;
use shared::iterative::{Iterative, TUNER_PLACE};
use shared::matrix::{MAX_RUNS, Suggestion};

use super::Scheduler;
use crate::AppError;
use crate::store::{PipelineChild, StoredRun};

impl Scheduler {
    /// Creates the runs the finished tuners suggested, and the next tuner once they have all
    /// ended; whether the search is complete, and how many runs it has.
    pub(super) async fn advance_iterative(
        &mut self,
        stored: &StoredRun,
        children: &mut Vec<PipelineChild>,
    ) -> Result<Option<(bool, usize)>, AppError> {
        let uuid = &stored.run.uuid;
        let matrix = super::section(stored, "matrix");
        let search = match Iterative::read(matrix) {
            Ok(search) => search,
            Err(why) => {
                self.end(uuid, Status::Failed, "MatrixInvalid", why).await?;
                return Ok(None);
            }
        };
        let mut tuners: Vec<PipelineChild> = children
            .iter()
            .filter(|child| child.index >= TUNER_PLACE)
            .cloned()
            .collect();
        tuners.sort_by_key(|child| child.index);
        let mut wanted: Vec<(u32, Suggestion)> = Vec::new();
        let mut last_suggested = None;
        for tuner in &tuners {
            let iteration = tuner.index - TUNER_PLACE;
            if !tuner.status.is_done() {
                return Ok(Some((false, children.len())));
            }
            if tuner.status != Status::Succeeded {
                let why = format!(
                    "the tuner of iteration {iteration} ({}) is {}",
                    tuner.uuid,
                    tuner.status.as_str()
                );
                self.end(uuid, Status::Failed, "TunerFailed", why).await?;
                return Ok(None);
            }
            let outputs = self.state.store.run_by_uuid(&tuner.uuid).await?.run.outputs;
            let suggested =
                shared::iterative::suggestions(outputs.as_ref(), iteration).and_then(|suggested| {
                    if wanted.len() + suggested.len() > MAX_RUNS {
                        return Err(format!(
                            "the tuner of iteration {iteration} suggested {} runs more than \
                             the {MAX_RUNS} one matrix may make",
                            wanted.len() + suggested.len() - MAX_RUNS
                        ));
                    }
                    Ok(suggested)
                });
            let suggested = match suggested {
                Ok(suggested) => suggested,
                Err(why) => {
                    self.end(uuid, Status::Failed, "TunerSuggestions", why)
                        .await?;
                    return Ok(None);
                }
            };
            last_suggested = Some(suggested.len());
            for params in suggested {
                wanted.push((wanted.len() as u32, params));
            }
        }
        if let Err(why) = self.create_children(stored, &wanted, children).await {
            self.end(uuid, Status::Failed, "ChildNotCreated", why)
                .await?;
            return Ok(None);
        }
        let trials: Vec<&PipelineChild> = children
            .iter()
            .filter(|child| child.index < TUNER_PLACE)
            .collect();
        if !trials.iter().all(|child| child.status.is_done()) {
            return Ok(Some((false, children.len())));
        }
        // Polyaxon's tuner ends a search by suggesting nothing.
        let iteration = tuners.len() as u32;
        if last_suggested == Some(0) || iteration >= search.iterations {
            return Ok(Some((true, children.len())));
        }
        let observed = self.observed(&trials).await?;
        let operation = search.tuner_operation(matrix, iteration, &observed);
        let name = Some(format!(
            "{}-tuner-{iteration}",
            stored.run.name.as_deref().unwrap_or("iterative")
        ));
        let project = self
            .state
            .store
            .project(&stored.run.owner, &stored.run.project)
            .await?;
        let place = TUNER_PLACE + iteration;
        if let Err(error) = self
            .place_child(stored, &project, place, operation, name, children)
            .await
        {
            let why = format!("the tuner of iteration {iteration} cannot be created: {error}");
            self.end(uuid, Status::Failed, "TunerNotCreated", why)
                .await?;
            return Ok(None);
        }
        Ok(Some((false, children.len())))
    }

    /// Each ended run's inputs, and the last value of each metric it logged (none for a run
    /// that did not succeed), in place order.
    async fn observed(
        &self,
        runs: &[&PipelineChild],
    ) -> Result<Vec<(Suggestion, Map<String, Json>)>, AppError> {
        let uuids: Vec<String> = runs.iter().map(|child| child.uuid.clone()).collect();
        let mut summaries = self
            .state
            .metrics
            .summaries(&uuids, shared::api::MetricKind::Metric)
            .await?
            .runs;
        let mut ordered: Vec<&PipelineChild> = runs.to_vec();
        ordered.sort_by_key(|child| child.index);
        let mut observed = Vec::with_capacity(ordered.len());
        for child in ordered {
            let inputs = self
                .state
                .store
                .run_by_uuid(&child.uuid)
                .await?
                .run
                .inputs
                .unwrap_or_default();
            let metrics: Map<String, Json> = summaries
                .remove(&child.uuid)
                .filter(|_| child.status == Status::Succeeded)
                .into_iter()
                .flatten()
                .filter_map(|(name, summary)| Some((name, Json::from(summary.last?))))
                .collect();
            observed.push((inputs, metrics));
        }
        Ok(observed)
    }
}
