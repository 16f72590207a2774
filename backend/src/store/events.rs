//! Changes to runs as they are recorded, for whoever watches (the browser's tables and pages, over
//! server-sent events). A [`Notifying`] store wraps any store and tells after each write that
//! succeeded; watchers that fall behind are told to read again rather than being buffered for.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;
use shared::api::{
    EdgeBody, LineageArtifact, ListResponse, MetricKind, Project, ProjectBody, ProjectVersion,
    ProjectVersionBody, Run, RunClone, RunEdge, RunLineageArtifact, RunPatch, Status,
    StatusCondition, Token, User,
};
use tokio::sync::broadcast;

use super::{
    Link, Mark, MetricsRecord, NewRun, NewToken, PipelineChild, RunFilter, RunMetrics, RunPlace,
    RunScope, StatusCounts, Store, StoreError, StoredRun, Transition, VersionChange, VersionKey,
};

/// How many changes wait for a slow watcher before it is told it missed some.
const BACKLOG: usize = 1024;

/// One change to a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunEvent {
    /// The run's owner.
    pub owner: String,
    /// The run's project.
    pub project: String,
    /// The run.
    pub uuid: String,
    /// `created`, `status`, `updated`, `metrics` (its summaries changed as it logged) or
    /// `deleted`.
    pub change: &'static str,
    /// The run's status after the change, when it has one.
    pub status: Option<Status>,
    /// The run's kind (`job`, `matrix`, …), when the change comes with the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The uuid of the pipeline the run is a child of.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<String>,
}

/// A store that tells watchers of every change it records.
pub struct Notifying {
    inner: Arc<dyn Store>,
    events: broadcast::Sender<RunEvent>,
}

impl Notifying {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            events: broadcast::channel(BACKLOG).0,
        }
    }

    /// Changes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<RunEvent> {
        self.events.subscribe()
    }

    fn tell(&self, run: &Run, change: &'static str) {
        // Nobody watching is not a failure.
        let _ = self.events.send(RunEvent {
            owner: run.owner.clone(),
            project: run.project.clone(),
            uuid: run.uuid.clone(),
            change,
            status: Some(run.status),
            kind: Some(run.kind.clone()),
            pipeline: run
                .pipeline
                .as_ref()
                .and_then(|pipeline| pipeline.get("uuid"))
                .and_then(|uuid| uuid.as_str())
                .map(str::to_owned),
        });
    }
}

#[async_trait]
impl Store for Notifying {
    async fn create_project(
        &self,
        owner: &str,
        body: ProjectBody,
        user: Option<&str>,
    ) -> Result<Project, StoreError> {
        self.inner.create_project(owner, body, user).await
    }

    async fn project(&self, owner: &str, name: &str) -> Result<Project, StoreError> {
        self.inner.project(owner, name).await
    }

    async fn projects(
        &self,
        owner: &str,
        limit: u32,
        offset: u32,
        viewer: Option<&str>,
    ) -> Result<ListResponse<Project>, StoreError> {
        self.inner.projects(owner, limit, offset, viewer).await
    }

    async fn update_project(
        &self,
        owner: &str,
        name: &str,
        body: ProjectBody,
    ) -> Result<Project, StoreError> {
        self.inner.update_project(owner, name, body).await
    }

    async fn run_uuids(&self, owner: &str, project: &str) -> Result<Vec<String>, StoreError> {
        self.inner.run_uuids(owner, project).await
    }

    async fn delete_project(&self, owner: &str, name: &str) -> Result<(), StoreError> {
        self.inner.delete_project(owner, name).await
    }

    async fn create_run(&self, owner: &str, project: &str, run: NewRun) -> Result<Run, StoreError> {
        let run = self.inner.create_run(owner, project, run).await?;
        self.tell(&run, "created");
        Ok(run)
    }

    async fn run(&self, owner: &str, project: &str, uuid: &str) -> Result<StoredRun, StoreError> {
        self.inner.run(owner, project, uuid).await
    }

    async fn run_by_uuid(&self, uuid: &str) -> Result<StoredRun, StoreError> {
        self.inner.run_by_uuid(uuid).await
    }

    async fn runs(
        &self,
        scope: &RunScope,
        filter: &RunFilter,
    ) -> Result<ListResponse<Run>, StoreError> {
        self.inner.runs(scope, filter).await
    }

    async fn mark_runs(
        &self,
        owner: &str,
        project: &str,
        uuids: &[String],
        mark: Mark,
    ) -> Result<Vec<Run>, StoreError> {
        let runs = self.inner.mark_runs(owner, project, uuids, mark).await?;
        for run in &runs {
            self.tell(run, "updated");
        }
        Ok(runs)
    }

    async fn mark_project(
        &self,
        owner: &str,
        name: &str,
        mark: Mark,
    ) -> Result<Project, StoreError> {
        self.inner.mark_project(owner, name, mark).await
    }

    async fn status_counts(&self, owner: &str, project: &str) -> Result<StatusCounts, StoreError> {
        self.inner.status_counts(owner, project).await
    }

    async fn patch_run(
        &self,
        owner: &str,
        project: &str,
        uuid: &str,
        patch: RunPatch,
    ) -> Result<Run, StoreError> {
        let run = self.inner.patch_run(owner, project, uuid, patch).await?;
        self.tell(&run, "updated");
        Ok(run)
    }

    async fn delete_run(&self, owner: &str, project: &str, uuid: &str) -> Result<(), StoreError> {
        self.inner.delete_run(owner, project, uuid).await?;
        let _ = self.events.send(RunEvent {
            owner: owner.to_owned(),
            project: project.to_owned(),
            uuid: uuid.to_owned(),
            change: "deleted",
            status: None,
            kind: None,
            pipeline: None,
        });
        Ok(())
    }

    async fn transfer_run(
        &self,
        owner: &str,
        project: &str,
        uuid: &str,
        to_project: &str,
    ) -> Result<Run, StoreError> {
        let run = self
            .inner
            .transfer_run(owner, project, uuid, to_project)
            .await?;
        // For watchers of either project, it leaves one and arrives in the other.
        let _ = self.events.send(RunEvent {
            owner: owner.to_owned(),
            project: project.to_owned(),
            uuid: uuid.to_owned(),
            change: "deleted",
            status: None,
            kind: None,
            pipeline: None,
        });
        self.tell(&run, "created");
        Ok(run)
    }

    async fn change_pending(
        &self,
        uuid: &str,
        from: &str,
        to: Option<&str>,
    ) -> Result<bool, StoreError> {
        let changed = self.inner.change_pending(uuid, from, to).await?;
        if changed && let Ok(stored) = self.inner.run_by_uuid(uuid).await {
            self.tell(&stored.run, "updated");
        }
        Ok(changed)
    }

    async fn resume_run(
        &self,
        owner: &str,
        project: &str,
        resuming: StatusCondition,
        run: NewRun,
    ) -> Result<Run, StoreError> {
        let run = self.inner.resume_run(owner, project, resuming, run).await?;
        self.tell(&run, "status");
        Ok(run)
    }

    async fn add_condition(
        &self,
        uuid: &str,
        condition: StatusCondition,
        force: bool,
    ) -> Result<Transition, StoreError> {
        let transition = self.inner.add_condition(uuid, condition, force).await?;
        if matches!(transition, Transition::Recorded(_)) && self.events.receiver_count() > 0 {
            // The condition names no project: the run does.
            if let Ok(stored) = self.inner.run_by_uuid(uuid).await {
                self.tell(&stored.run, "status");
            }
        }
        Ok(transition)
    }

    async fn add_lineage(
        &self,
        uuid: &str,
        artifacts: Vec<LineageArtifact>,
    ) -> Result<(), StoreError> {
        self.inner.add_lineage(uuid, artifacts).await
    }

    async fn lineage(&self, uuid: &str) -> Result<Vec<LineageArtifact>, StoreError> {
        self.inner.lineage(uuid).await
    }

    async fn delete_lineage(&self, uuid: &str, name: &str) -> Result<bool, StoreError> {
        self.inner.delete_lineage(uuid, name).await
    }

    async fn project_lineage(
        &self,
        owner: &str,
        project: &str,
        limit: u32,
        offset: u32,
    ) -> Result<ListResponse<RunLineageArtifact>, StoreError> {
        self.inner
            .project_lineage(owner, project, limit, offset)
            .await
    }

    async fn set_edges(&self, uuid: &str, edges: Vec<EdgeBody>) -> Result<(), StoreError> {
        self.inner.set_edges(uuid, edges).await
    }

    async fn edges(&self, uuid: &str, link: Link) -> Result<Vec<RunEdge>, StoreError> {
        self.inner.edges(uuid, link).await
    }

    async fn clones(&self, uuid: &str) -> Result<Vec<RunClone>, StoreError> {
        self.inner.clones(uuid).await
    }
    async fn create_version(
        &self,
        key: &VersionKey,
        body: ProjectVersionBody,
        state: Option<String>,
    ) -> Result<ProjectVersion, StoreError> {
        self.inner.create_version(key, body, state).await
    }
    async fn version(&self, key: &VersionKey) -> Result<ProjectVersion, StoreError> {
        self.inner.version(key).await
    }
    async fn versions(
        &self,
        owner: &str,
        project: &str,
        kind: &str,
        limit: u32,
        offset: u32,
    ) -> Result<ListResponse<ProjectVersion>, StoreError> {
        self.inner
            .versions(owner, project, kind, limit, offset)
            .await
    }
    async fn change_version(
        &self,
        key: &VersionKey,
        change: VersionChange,
    ) -> Result<ProjectVersion, StoreError> {
        self.inner.change_version(key, change).await
    }
    async fn delete_version(&self, key: &VersionKey) -> Result<(), StoreError> {
        self.inner.delete_version(key).await
    }
    async fn add_user(&self, name: &str, admin: bool) -> Result<User, StoreError> {
        self.inner.add_user(name, admin).await
    }
    async fn users(&self) -> Result<Vec<User>, StoreError> {
        self.inner.users().await
    }
    async fn has_users(&self) -> Result<bool, StoreError> {
        self.inner.has_users().await
    }
    async fn add_token(&self, user: &str, token: NewToken) -> Result<Token, StoreError> {
        self.inner.add_token(user, token).await
    }
    async fn tokens(&self, user: &str) -> Result<Vec<Token>, StoreError> {
        self.inner.tokens(user).await
    }
    async fn revoke_token(&self, user: &str, uuid: &str) -> Result<Token, StoreError> {
        self.inner.revoke_token(user, uuid).await
    }
    async fn token_by_hash(&self, hash: &str) -> Result<Option<(User, Token)>, StoreError> {
        self.inner.token_by_hash(hash).await
    }
    async fn component_versions(
        &self,
        viewer: Option<&str>,
    ) -> Result<Vec<ProjectVersion>, StoreError> {
        self.inner.component_versions(viewer).await
    }

    async fn unfinished_runs(&self) -> Result<Vec<String>, StoreError> {
        self.inner.unfinished_runs().await
    }

    async fn cached_run(
        &self,
        owner: &str,
        project: &str,
        key: &str,
        since: Option<shared::time::Timestamp>,
    ) -> Result<Option<Run>, StoreError> {
        self.inner.cached_run(owner, project, key, since).await
    }

    async fn active_pipelines(&self) -> Result<Vec<String>, StoreError> {
        self.inner.active_pipelines().await
    }

    async fn pipeline_children(&self, uuid: &str) -> Result<Vec<PipelineChild>, StoreError> {
        self.inner.pipeline_children(uuid).await
    }

    async fn record_metrics(
        &self,
        records: Vec<MetricsRecord>,
    ) -> Result<Vec<RunPlace>, StoreError> {
        let changed = self.inner.record_metrics(records).await?;
        // Charts and tables of a running run grow as it logs.
        for place in &changed {
            let _ = self.events.send(RunEvent {
                owner: place.owner.clone(),
                project: place.project.clone(),
                uuid: place.uuid.clone(),
                change: "metrics",
                status: Some(place.status),
                kind: None,
                pipeline: None,
            });
        }
        Ok(changed)
    }

    async fn metric_summaries(
        &self,
        uuids: &[String],
        kind: MetricKind,
    ) -> Result<BTreeMap<String, RunMetrics>, StoreError> {
        self.inner.metric_summaries(uuids, kind).await
    }
    async fn run_places(&self, uuids: &[String]) -> Result<Vec<RunPlace>, StoreError> {
        self.inner.run_places(uuids).await
    }
}
