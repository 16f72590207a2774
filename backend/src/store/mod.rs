//! Where projects and runs are kept: the [`Store`] trait, and its embedded SQLite implementation.
//!
//! The trait speaks in the API's types so that another database (Postgres, for teams) can take
//! SQLite's place without the handlers noticing. The rules of a run's lifecycle (which status
//! may follow which) are in [`lifecycle`], shared by every implementation.

pub mod events;
pub mod lifecycle;
mod packed;
pub mod pql;
mod sqlite;

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::{Map, Value as Json};
use shared::api::{
    EdgeBody, LineageArtifact, ListResponse, MetricKind, MetricSummary, OperationBody, Project,
    ProjectBody, ProjectVersion, ProjectVersionBody, Run, RunClone, RunEdge, RunLineageArtifact,
    RunPatch, StageCondition, Status, StatusCondition, Token, User,
};

pub use events::{Notifying, RunEvent};
pub use sqlite::Sqlite;
pub use sqlite::query as sqlite_query;

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such project or run.
    #[error("{0}")]
    NotFound(String),
    /// A project of that name exists already, or a similar clash.
    #[error("{0}")]
    Conflict(String),
    /// The request cannot be carried out as asked (a bad query, say).
    #[error("{0}")]
    Invalid(String),
    /// The database failed; the server's fault, not the request's.
    #[error("the database failed: {0}")]
    Database(String),
    /// The disk holding the database is full: nothing is written until space is freed.
    #[error("{0}")]
    Full(String),
}

/// A run to record, already compiled.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// Its uuid, chosen by the caller (the compiler needs it before the run exists).
    pub uuid: String,
    /// What the client sent.
    pub body: OperationBody,
    /// The run's name.
    pub name: Option<String>,
    /// Polyaxon's run kind (`job`, `service`, …).
    pub kind: String,
    /// The kind that executes it.
    pub runtime: String,
    /// Which of Myelin's runtimes executes it.
    pub executor: String,
    /// The params' values by input name.
    pub inputs: Option<Map<String, Json>>,
    /// The compiled operation.
    pub compiled: Option<Json>,
    /// The Kubernetes resource it converts to.
    pub resource: Option<Json>,
    /// The conditions it starts with (`created`, `compiled`).
    pub conditions: Vec<StatusCondition>,
    /// When it was created.
    pub created_at: shared::time::Timestamp,
    /// The run it was restarted or copied from, and how (`restart`, `copy`).
    pub cloned_from: Option<(String, String)>,
    /// The pipeline it is a child of, and its place there.
    pub pipeline: Option<PipelineSlot>,
    /// What it computes, when its operation caches (`shared::cache`).
    pub cache_key: Option<String>,
    /// Who submitted it; nobody on a server without people.
    pub user: Option<String>,
}

/// A child's place in its pipeline: each place holds one run, ever.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineSlot {
    /// The pipeline's uuid.
    pub uuid: String,
    /// The child's place: its index among the matrix's suggestions, the DAG's operations or
    /// the schedule's ticks.
    pub index: u32,
    /// For a schedule's run, when its tick was due.
    pub due_at: Option<shared::time::Timestamp>,
}

/// A child of a pipeline, as its scheduler sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineChild {
    /// Its place in the pipeline.
    pub index: u32,
    /// Its uuid.
    pub uuid: String,
    /// Its status.
    pub status: Status,
    /// For a schedule's run, when its tick was due.
    pub due_at: Option<shared::time::Timestamp>,
}

/// Who executes a pipeline (a matrix, a DAG, a schedule): Myelin's scheduler, which creates its
/// children; no runtime ever takes the pipeline itself.
pub const SCHEDULER_EXECUTOR: &str = "scheduler";

/// A run with what only the server needs: its compiled operation and resource.
#[derive(Debug, Clone)]
pub struct StoredRun {
    /// The run as the API shows it.
    pub run: Run,
    /// The compiled operation.
    pub compiled: Option<Json>,
    /// The Kubernetes resource.
    pub resource: Option<Json>,
}

/// Which runs to list, and in what order.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// A PQL query.
    pub query: Option<pql::Query>,
    /// Sort keys; the default is newest first.
    pub sort: Vec<pql::Sort>,
    /// At most this many.
    pub limit: u32,
    /// After skipping this many.
    pub offset: u32,
    /// Only bookmarked runs (Polyaxon's `bookmarks=true`).
    pub bookmarked: bool,
    /// Only runs of the projects this person sees, in a list across projects.
    pub viewer: Option<String>,
}

/// A personal access token to record: only a hash of its secret.
#[derive(Debug, Clone, PartialEq)]
pub struct NewToken {
    /// How the API names it.
    pub uuid: String,
    /// What its owner calls it.
    pub name: String,
    /// The SHA-256 of its secret, in hex.
    pub hash: String,
    /// When it was made.
    pub created_at: shared::time::Timestamp,
    /// When it stops being taken.
    pub expires_at: Option<shared::time::Timestamp>,
}

/// Which runs a list looks at.
#[derive(Debug, Clone, PartialEq)]
pub enum RunScope {
    /// A project's runs that are not archived.
    Project {
        /// The project's owner.
        owner: String,
        /// The project.
        project: String,
    },
    /// An owner's archived runs, in every project (`archives/{owner}/runs`).
    Archived {
        /// The owner.
        owner: String,
    },
    /// An owner's bookmarked runs that are not archived, in every project.
    Bookmarked {
        /// The owner.
        owner: String,
    },
    /// An owner's runs that are not archived, in every project (`orgs/{owner}/runs`).
    Owner {
        /// The owner.
        owner: String,
    },
}

/// A mark put on or taken off runs and projects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// Out of lists, kept (Polyaxon's archive).
    Archive,
    /// Back in lists.
    Restore,
    /// Bookmarked.
    Bookmark,
    /// No longer bookmarked.
    Unbookmark,
}

/// Runs linked to a run, other than by its DAG.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Edges into it.
    Upstream,
    /// Edges out of it.
    Downstream,
}

/// Which project version: a project's, of a kind (`component`, `model`, `artifact`), by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionKey {
    /// The project's owner.
    pub owner: String,
    /// The project.
    pub project: String,
    /// The version's kind.
    pub kind: String,
    /// The version's name.
    pub name: String,
}

/// A change to a project version.
#[derive(Debug, Clone, PartialEq)]
pub enum VersionChange {
    /// The fields given change (and the content hash, when the content does).
    Fields(ProjectVersionBody, Option<String>),
    /// It enters a stage.
    Stage(StageCondition),
    /// It moves to another project of the owner.
    Transfer(String),
}

/// A run's summaries of one kind of series, as the store has them.
#[derive(Debug, Clone, PartialEq)]
pub struct RunMetrics {
    /// The run's status: a run that has ended has had its summaries recorded at its end.
    pub status: Status,
    /// What each series comes to, by name.
    pub summaries: BTreeMap<String, MetricSummary>,
}

/// What some of a run's series of one kind come to, to record.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsRecord {
    /// The run's uuid.
    pub uuid: String,
    /// Logged metrics or system resources.
    pub kind: MetricKind,
    /// Each series' summary, by name.
    pub summaries: Vec<(String, MetricSummary)>,
}

/// Where a run is and what its status is: what its watchers are told when it changes.
#[derive(Debug, Clone, PartialEq)]
pub struct RunPlace {
    /// The run's uuid.
    pub uuid: String,
    /// The owner of its project.
    pub owner: String,
    /// Its project.
    pub project: String,
    /// Its status.
    pub status: Status,
}

/// How many runs are in each status.
pub type StatusCounts = Vec<(Status, u64)>;

/// How a run's status changed when a condition was recorded.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    /// The condition was recorded; the run is now in this status.
    Recorded(Status),
    /// The lifecycle refused it (a final status is never left, for instance).
    Refused,
}

/// The projects and runs of an installation.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates a project, made by `user`; its name must be free for the owner.
    async fn create_project(
        &self,
        owner: &str,
        body: ProjectBody,
        user: Option<&str>,
    ) -> Result<Project, StoreError>;
    /// A project by owner and name.
    async fn project(&self, owner: &str, name: &str) -> Result<Project, StoreError>;
    /// An owner's projects that are not archived, newest first; those `viewer` sees when
    /// given.
    async fn projects(
        &self,
        owner: &str,
        limit: u32,
        offset: u32,
        viewer: Option<&str>,
    ) -> Result<ListResponse<Project>, StoreError>;
    /// Changes a project's description, tags, visibility or members (each a user).
    async fn update_project(
        &self,
        owner: &str,
        name: &str,
        body: ProjectBody,
    ) -> Result<Project, StoreError>;
    /// The uuids of a project's runs.
    async fn run_uuids(&self, owner: &str, project: &str) -> Result<Vec<String>, StoreError>;
    /// Deletes a project and its runs.
    async fn delete_project(&self, owner: &str, name: &str) -> Result<(), StoreError>;

    /// Records a new run in a project.
    async fn create_run(&self, owner: &str, project: &str, run: NewRun) -> Result<Run, StoreError>;
    /// A run of a project, with its compiled operation.
    async fn run(&self, owner: &str, project: &str, uuid: &str) -> Result<StoredRun, StoreError>;
    /// A run by uuid alone, as the runtimes know it.
    async fn run_by_uuid(&self, uuid: &str) -> Result<StoredRun, StoreError>;
    /// A page of runs.
    async fn runs(
        &self,
        scope: &RunScope,
        filter: &RunFilter,
    ) -> Result<ListResponse<Run>, StoreError>;
    /// Puts a mark on (or takes it off) those of `uuids` that are runs of the project, and
    /// returns them as they are now. Archiving a project archives its runs; restoring it
    /// restores them.
    async fn mark_runs(
        &self,
        owner: &str,
        project: &str,
        uuids: &[String],
        mark: Mark,
    ) -> Result<Vec<Run>, StoreError>;
    /// Puts a mark on (or takes it off) a project.
    async fn mark_project(
        &self,
        owner: &str,
        name: &str,
        mark: Mark,
    ) -> Result<Project, StoreError>;
    /// How many of a project's live runs are in each status.
    async fn status_counts(&self, owner: &str, project: &str) -> Result<StatusCounts, StoreError>;
    /// Changes a run's name, description, tags, outputs or meta info.
    async fn patch_run(
        &self,
        owner: &str,
        project: &str,
        uuid: &str,
        patch: RunPatch,
    ) -> Result<Run, StoreError>;
    /// Deletes a run.
    async fn delete_run(&self, owner: &str, project: &str, uuid: &str) -> Result<(), StoreError>;
    /// Moves a run to another project of the same owner, with its tags and values.
    async fn transfer_run(
        &self,
        owner: &str,
        project: &str,
        uuid: &str,
        to_project: &str,
    ) -> Result<Run, StoreError>;
    /// Changes what a run waits for before it may be scheduled (`pending`) from `from` to `to`,
    /// if it still waits for `from`; whether it did, so that of two approvals at once only one
    /// goes on to submit the run.
    async fn change_pending(
        &self,
        uuid: &str,
        from: &str,
        to: Option<&str>,
    ) -> Result<bool, StoreError>;
    /// Records a new attempt of a run that ended (`polyaxon ops resume`), as Polyaxon keeps it:
    /// the same run, with `resuming` forced over its final status, then `run`'s conditions
    /// (`created` is not recorded again), and `run`'s operation, name, description, tags and
    /// inputs. Refused with [`StoreError::Invalid`] when the run has not ended.
    async fn resume_run(
        &self,
        owner: &str,
        project: &str,
        resuming: StatusCondition,
        run: NewRun,
    ) -> Result<Run, StoreError>;
    /// Records a status condition, if the lifecycle accepts it (see [`lifecycle::apply`]).
    async fn add_condition(
        &self,
        uuid: &str,
        condition: StatusCondition,
        force: bool,
    ) -> Result<Transition, StoreError>;
    /// Records what a run read or wrote; an artifact of the same name and direction is replaced.
    async fn add_lineage(
        &self,
        uuid: &str,
        artifacts: Vec<LineageArtifact>,
    ) -> Result<(), StoreError>;
    /// What a run read and wrote, in the order it was first reported.
    async fn lineage(&self, uuid: &str) -> Result<Vec<LineageArtifact>, StoreError>;
    /// Forgets an artifact of a run's lineage (both directions); whether there was one.
    async fn delete_lineage(&self, uuid: &str, name: &str) -> Result<bool, StoreError>;
    /// What a project's live runs read and wrote, newest run first.
    async fn project_lineage(
        &self,
        owner: &str,
        project: &str,
        limit: u32,
        offset: u32,
    ) -> Result<ListResponse<RunLineageArtifact>, StoreError>;
    /// Replaces the edges that touch a run with `edges` (kind `manual`); an edge to a run that
    /// does not exist is refused.
    async fn set_edges(&self, uuid: &str, edges: Vec<EdgeBody>) -> Result<(), StoreError>;
    /// The edges into or out of a run, each with the run at its other end.
    async fn edges(&self, uuid: &str, link: Link) -> Result<Vec<RunEdge>, StoreError>;
    /// The runs copied, restarted or resumed from a run, oldest first.
    async fn clones(&self, uuid: &str) -> Result<Vec<RunClone>, StoreError>;

    /// Registers a version; its name must be free for the project and kind. `state` is a
    /// component version's content hash.
    async fn create_version(
        &self,
        key: &VersionKey,
        body: ProjectVersionBody,
        state: Option<String>,
    ) -> Result<ProjectVersion, StoreError>;
    /// A version.
    async fn version(&self, key: &VersionKey) -> Result<ProjectVersion, StoreError>;
    /// A page of a project's versions of a kind, most recently changed first.
    async fn versions(
        &self,
        owner: &str,
        project: &str,
        kind: &str,
        limit: u32,
        offset: u32,
    ) -> Result<ListResponse<ProjectVersion>, StoreError>;
    /// Changes a version; the version as it is now.
    async fn change_version(
        &self,
        key: &VersionKey,
        change: VersionChange,
    ) -> Result<ProjectVersion, StoreError>;
    /// Deletes a version.
    async fn delete_version(&self, key: &VersionKey) -> Result<(), StoreError>;
    /// Adds a person; the name must be free.
    async fn add_user(&self, name: &str, admin: bool) -> Result<User, StoreError>;
    /// Everyone, by name.
    async fn users(&self) -> Result<Vec<User>, StoreError>;
    /// Whether the server has people at all.
    async fn has_users(&self) -> Result<bool, StoreError>;
    /// Records a token of `user`.
    async fn add_token(&self, user: &str, token: NewToken) -> Result<Token, StoreError>;
    /// A person's tokens, revoked ones included, oldest first.
    async fn tokens(&self, user: &str) -> Result<Vec<Token>, StoreError>;
    /// Revokes a person's token (once: a revoked token keeps its first revocation time).
    async fn revoke_token(&self, user: &str, uuid: &str) -> Result<Token, StoreError>;
    /// The person a token's hash belongs to, and the token.
    async fn token_by_hash(&self, hash: &str) -> Result<Option<(User, Token)>, StoreError>;
    /// Every component version of the projects that are not archived: users' own hub; of the
    /// projects `viewer` sees, when given.
    async fn component_versions(
        &self,
        viewer: Option<&str>,
    ) -> Result<Vec<ProjectVersion>, StoreError>;
    /// The uuids of managed runs that have not ended and wait for nothing (no `pending`), oldest
    /// first: what a restarted server must pick up again. Pipelines and the children their
    /// scheduler has not handed to the runtime yet are the scheduler's, and not among them.
    async fn unfinished_runs(&self) -> Result<Vec<String>, StoreError>;
    /// The newest run of the project with the cache key `key` that succeeded at `since` or
    /// later (ever, when `None`).
    async fn cached_run(
        &self,
        owner: &str,
        project: &str,
        key: &str,
        since: Option<shared::time::Timestamp>,
    ) -> Result<Option<Run>, StoreError>;
    /// The uuids of the pipelines that have not ended, oldest first.
    async fn active_pipelines(&self) -> Result<Vec<String>, StoreError>;
    /// A pipeline's children, by their place.
    async fn pipeline_children(&self, uuid: &str) -> Result<Vec<PipelineChild>, StoreError>;

    /// Records what runs' series come to, replacing what was recorded for the same names, in
    /// one transaction; runs that do not exist (any more) are passed over. The runs whose
    /// recorded summaries changed, and where they are.
    async fn record_metrics(
        &self,
        records: Vec<MetricsRecord>,
    ) -> Result<Vec<RunPlace>, StoreError>;
    /// The recorded summaries of `kind` of those of `uuids` that are runs, by uuid.
    async fn metric_summaries(
        &self,
        uuids: &[String],
        kind: MetricKind,
    ) -> Result<BTreeMap<String, RunMetrics>, StoreError>;
    /// Where those of `uuids` that are runs are, and their statuses.
    async fn run_places(&self, uuids: &[String]) -> Result<Vec<RunPlace>, StoreError>;
}
