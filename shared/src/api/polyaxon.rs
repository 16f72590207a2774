//! The shapes of Polyaxon 2.18's REST API (`V1Project`, `V1Run`, `V1Status`, `V1Logs`, …), which
//! the unmodified `polyaxon` CLI and tracking client read and send. Field names are Polyaxon's;
//! what Myelin adds is optional, so Polyaxon's clients, which accept extra fields, ignore it.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value as Json};

use crate::time::Timestamp;

/// The owner of everything in a single-team installation, as Polyaxon CE names it.
pub const DEFAULT_OWNER: &str = "default";

/// A run's lifecycle status (`V1Statuses`); conditions use the same names as their type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Status {
    Created,
    Resuming,
    OnSchedule,
    Compiled,
    Queued,
    Scheduled,
    Starting,
    Running,
    Processing,
    Stopping,
    Failed,
    Stopped,
    Succeeded,
    Skipped,
    Warning,
    Unschedulable,
    UpstreamFailed,
    Retrying,
    Unknown,
    Done,
}

impl Status {
    /// Every status, in lifecycle order.
    pub const ALL: [Status; 20] = [
        Status::Created,
        Status::Resuming,
        Status::OnSchedule,
        Status::Compiled,
        Status::Queued,
        Status::Scheduled,
        Status::Starting,
        Status::Running,
        Status::Processing,
        Status::Stopping,
        Status::Failed,
        Status::Stopped,
        Status::Succeeded,
        Status::Skipped,
        Status::Warning,
        Status::Unschedulable,
        Status::UpstreamFailed,
        Status::Retrying,
        Status::Unknown,
        Status::Done,
    ];

    /// The name the API uses (`upstream_failed`).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Resuming => "resuming",
            Status::OnSchedule => "on_schedule",
            Status::Compiled => "compiled",
            Status::Queued => "queued",
            Status::Scheduled => "scheduled",
            Status::Starting => "starting",
            Status::Running => "running",
            Status::Processing => "processing",
            Status::Stopping => "stopping",
            Status::Failed => "failed",
            Status::Stopped => "stopped",
            Status::Succeeded => "succeeded",
            Status::Skipped => "skipped",
            Status::Warning => "warning",
            Status::Unschedulable => "unschedulable",
            Status::UpstreamFailed => "upstream_failed",
            Status::Retrying => "retrying",
            Status::Unknown => "unknown",
            Status::Done => "done",
        }
    }

    /// The status of this name, read case-insensitively as Polyaxon lowercases condition types.
    pub fn parse(name: &str) -> Option<Status> {
        let name = name.to_ascii_lowercase();
        Status::ALL
            .into_iter()
            .find(|status| status.as_str() == name)
    }

    /// Whether a run in this status has ended for good (Polyaxon's `LifeCycle.DONE_VALUES`).
    pub fn is_done(self) -> bool {
        matches!(
            self,
            Status::Succeeded
                | Status::Failed
                | Status::UpstreamFailed
                | Status::Stopped
                | Status::Skipped
                | Status::Done
        )
    }

    /// Whether this status marks the start of execution, which sets a run's `started_at`.
    pub fn is_start(self) -> bool {
        matches!(
            self,
            Status::Scheduled | Status::Starting | Status::Processing | Status::Running
        )
    }
}

/// One entry of a run's status history (`V1StatusCondition`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusCondition {
    /// The status this condition records.
    #[serde(rename = "type")]
    pub kind: Status,
    /// Always `"True"` as Polyaxon writes it; clients may send a boolean.
    #[serde(default = "condition_true", deserialize_with = "condition_status")]
    pub status: String,
    /// A short machine-readable cause (`ProcessRuntime`, `ExitCode1`, …).
    #[serde(default)]
    pub reason: Option<String>,
    /// What happened, in words.
    #[serde(default)]
    pub message: Option<String>,
    /// When the condition was last written.
    #[serde(default)]
    pub last_update_time: Option<Timestamp>,
    /// When the run entered this status.
    #[serde(default)]
    pub last_transition_time: Option<Timestamp>,
    /// Anything else the producer attached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_info: Option<Json>,
}

impl StatusCondition {
    /// A condition of `kind` that happened at `at`.
    pub fn new(kind: Status, reason: &str, message: impl Into<String>, at: Timestamp) -> Self {
        Self {
            kind,
            status: condition_true(),
            reason: Some(reason.to_owned()),
            message: Some(message.into()),
            last_update_time: Some(at),
            last_transition_time: Some(at),
            meta_info: None,
        }
    }
}

fn condition_true() -> String {
    "True".to_owned()
}

fn condition_status<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(match Json::deserialize(deserializer)? {
        Json::Bool(true) => "True".to_owned(),
        Json::Bool(false) => "False".to_owned(),
        Json::String(text) => text,
        other => other.to_string(),
    })
}

/// A run's status and its history (`V1Status`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    /// The run's uuid.
    pub uuid: String,
    /// The current status.
    pub status: Status,
    /// Every condition, oldest first.
    pub status_conditions: Vec<StatusCondition>,
    /// Facts the run reports about itself.
    pub meta_info: Map<String, Json>,
}

/// A new status reported by a client (`V1EntityStatusBodyRequest`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusBody {
    /// The condition to record.
    pub condition: StatusCondition,
    /// Overwrite a final status.
    #[serde(default)]
    pub force: Option<bool>,
}

/// A project (`V1Project`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Project {
    /// 32 hex digits.
    pub uuid: String,
    /// The owner, [`DEFAULT_OWNER`] in a single-team installation.
    pub owner: String,
    /// Unique per owner; what the CLI's `-p` names.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Labels.
    pub tags: Vec<String>,
    /// Whether other teams may read it.
    pub is_public: bool,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// 1 while live, 0 once archived (Polyaxon's `LiveState`).
    pub live_state: i32,
    /// Whether it is bookmarked.
    #[serde(default)]
    pub bookmarked: bool,
    /// Who created it; nobody on a server without people.
    #[serde(default)]
    pub user: Option<String>,
    /// The people it is limited to (admins see it too); anyone on the team when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
    /// Markdown shown on its page.
    #[serde(default)]
    pub readme: Option<String>,
}

/// A project to create, or the fields of one to change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProjectBody {
    /// The new project's name: letters, digits, `-` and `_`.
    #[serde(default)]
    pub name: Option<String>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Labels.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// Whether other teams may read it.
    #[serde(default)]
    pub is_public: Option<bool>,
    /// Markdown shown on its page.
    #[serde(default)]
    pub readme: Option<String>,
    /// The people to limit it to; an empty list opens it to the team again.
    #[serde(default)]
    pub members: Option<Vec<String>>,
}

/// Where a run is executed, as Polyaxon's clients read it from `V1Run.settings`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSettings {
    /// The namespace the run's resources live in; the logs URL contains it.
    pub namespace: String,
    /// The store the run's artifacts go to.
    pub artifacts_store: Option<NamedRef>,
    /// Which of Myelin's runtimes executes the run: `process` or `kubernetes`.
    pub runtime: String,
}

/// A reference to a named thing (`{name, uuid}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedRef {
    /// Its name.
    pub name: String,
    /// Its uuid.
    pub uuid: String,
}

/// A run (`V1Run`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// 32 hex digits.
    pub uuid: String,
    /// The run's name; its component's name unless given.
    pub name: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// Labels.
    pub tags: Vec<String>,
    /// Who submitted it.
    pub user: Option<String>,
    /// The owner of its project.
    pub owner: String,
    /// Its project's name.
    pub project: String,
    /// When it was submitted.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// When it started executing.
    pub started_at: Option<Timestamp>,
    /// When it reached a final status.
    pub finished_at: Option<Timestamp>,
    /// Seconds from creation to start.
    pub wait_time: Option<f64>,
    /// Seconds from start to finish.
    pub duration: Option<f64>,
    /// Who executes it: `agent` (Myelin), `user` or `cli` (the client reports its statuses).
    pub managed_by: String,
    /// Whether Myelin executes it.
    pub is_managed: bool,
    /// False while the run waits for a person's approval.
    pub is_approved: bool,
    /// What the run waits for before it may be scheduled (`approval`, `upload`, …).
    pub pending: Option<String>,
    /// The operation as submitted.
    pub content: Option<String>,
    /// The operation as submitted (Polyaxon keeps the original text here).
    pub raw_content: Option<String>,
    /// The current status.
    pub status: Status,
    /// Every condition, oldest first.
    pub status_conditions: Vec<StatusCondition>,
    /// Facts the run reports about itself (`has_metrics`, …).
    pub meta_info: Map<String, Json>,
    /// The operation's kind (`job`, `service`, `dag`, `matrix`, …).
    pub kind: String,
    /// The kind that executes it (`job` for a matrix of jobs).
    pub runtime: String,
    /// The params' values by input name.
    pub inputs: Option<Map<String, Json>>,
    /// The values the run logged as outputs.
    pub outputs: Option<Map<String, Json>>,
    /// Where it executes.
    pub settings: RunSettings,
    /// 1 while live, 0 once archived (Polyaxon's `LiveState`).
    pub live_state: i32,
    /// Whether it is bookmarked.
    #[serde(default)]
    pub bookmarked: bool,
    /// Markdown shown on its page.
    #[serde(default)]
    pub readme: Option<String>,
    /// When a schedule is due to start it; Myelin's runs start when submitted.
    #[serde(default)]
    pub schedule_at: Option<Timestamp>,
    /// The pipeline (matrix or DAG) it belongs to; none until those run.
    #[serde(default)]
    pub pipeline: Option<Json>,
    /// The resources it requested; not tracked yet.
    #[serde(default)]
    pub resources: Option<Json>,
    /// The run this one was copied or restarted from.
    pub original: Option<Cloning>,
    /// Myelin's: what each metric the run logged comes to, by name, in run lists (so a table
    /// shows a loss's last and lowest values without reading its series).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<std::collections::BTreeMap<String, super::MetricSummary>>,
}

impl Run {
    /// Where a service run's page is served through Myelin's proxy: its first port, under
    /// `/rewrite-services/` when its Polyaxonfile says `rewritePath` (the service then sees
    /// paths from `/`), else under `/services/`. `None` for a run that is not a service, or
    /// whose compiled operation (its `content`) names no port.
    pub fn service_path(&self) -> Option<String> {
        if self.kind != "service" {
            return None;
        }
        let compiled: Json = serde_json::from_str(self.content.as_deref()?).ok()?;
        let run = compiled.get("run")?;
        let port = run.get("ports")?.as_array()?.first()?.as_u64()?;
        let base = if run.get("rewritePath").and_then(Json::as_bool) == Some(true) {
            "rewrite-services"
        } else {
            "services"
        };
        Some(format!(
            "/{base}/v1/{}/{}/{}/runs/{}/{port}/",
            self.settings.namespace, self.owner, self.project, self.uuid
        ))
    }
}

/// The run another was made from, and how (`V1Cloning`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cloning {
    /// The original run's uuid.
    pub uuid: String,
    /// Its name.
    pub name: Option<String>,
    /// `copy`, `restart` or `cache`.
    pub kind: String,
}

/// A run tracked offline, uploaded as it was recorded (`polyaxon ops sync`, the body of
/// `…/runs/sync`): Myelin keeps it and never executes it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OfflineRun {
    /// Its uuid, chosen by the client.
    pub uuid: String,
    /// When it was created.
    pub created_at: Option<Timestamp>,
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Labels.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// The operation's kind (`job` unless given).
    #[serde(default)]
    pub kind: Option<String>,
    /// The kind that executed it.
    #[serde(default)]
    pub runtime: Option<String>,
    /// Facts the run reported about itself.
    #[serde(default)]
    pub meta_info: Option<Map<String, Json>>,
    /// Its last status, when no conditions are sent.
    #[serde(default)]
    pub status: Option<Status>,
    /// Every condition it went through, oldest first.
    #[serde(default)]
    pub status_conditions: Option<Vec<StatusCondition>>,
    /// Who executed it (`user` unless given).
    #[serde(default)]
    pub managed_by: Option<String>,
    /// The params' values by input name.
    #[serde(default)]
    pub inputs: Option<Map<String, Json>>,
    /// The values it logged as outputs.
    #[serde(default)]
    pub outputs: Option<Map<String, Json>>,
    /// Its Polyaxonfile, if it had one.
    #[serde(default)]
    pub content: Option<String>,
}

/// A run to create (`V1OperationBody`): the operation as JSON or YAML text.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OperationBody {
    /// The Polyaxonfile: the CLI sends the operation as a JSON string; YAML is read too.
    #[serde(default)]
    pub content: Option<String>,
    /// Whether Myelin executes it; a tracking client that runs itself sends `false`.
    #[serde(default)]
    pub is_managed: Option<bool>,
    /// `agent` when Myelin executes it, `user` or `cli` otherwise.
    #[serde(default)]
    pub managed_by: Option<String>,
    /// What the run must wait for.
    #[serde(default)]
    pub pending: Option<String>,
    /// The run's name, over the operation's.
    #[serde(default)]
    pub name: Option<String>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Labels.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// Facts to record with it.
    #[serde(default)]
    pub meta_info: Option<Map<String, Json>>,
    /// Myelin's own: values for the content's inputs, as `-P name=value` gives them, so that
    /// `content` can be the very text of the browser's editor and a problem the server finds
    /// points into it. The run records its operation with these params written in, as the CLI
    /// sends it. Polyaxon's clients do not send it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<std::collections::BTreeMap<String, String>>,
}

/// Fields of a run to change (`PATCH`); `merge` adds outputs and meta info to the existing ones
/// instead of replacing them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunPatch {
    /// A new name.
    #[serde(default)]
    pub name: Option<String>,
    /// A new description.
    #[serde(default)]
    pub description: Option<String>,
    /// New tags (added to the old ones when merging).
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// Outputs to set.
    #[serde(default)]
    pub outputs: Option<Map<String, Json>>,
    /// Meta info to set.
    #[serde(default)]
    pub meta_info: Option<Map<String, Json>>,
    /// Markdown shown on its page.
    #[serde(default)]
    pub readme: Option<String>,
    /// Merge into the existing values rather than replace them.
    #[serde(default)]
    pub merge: Option<bool>,
}

/// What a folder of a run's artifacts holds (`V1ArtifactTree`): its files with their sizes in
/// bytes, and its folders' names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ArtifactTree {
    /// The files.
    pub files: std::collections::BTreeMap<String, u64>,
    /// The folders.
    pub dirs: Vec<String>,
}

/// Runs of a project to act on at once (`V1Uuids`; `V1EntitiesTags` with `tags`): the body
/// of the bulk `runs/stop`, `runs/delete` and `runs/tag` requests.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunSelection {
    /// The runs' uuids.
    pub uuids: Vec<String>,
    /// Tags to add to each of them (`runs/tag` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// The project they move to (`runs/transfer` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
}

/// Where a run moves to (`polyaxon ops transfer`): the body of `…/runs/{uuid}/transfer`, a
/// project of the same owner.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunTransfer {
    /// The destination project's name.
    #[serde(default)]
    pub project: Option<String>,
}

/// What a run waits for before it may be scheduled (`V1RunPending`), as its `pending` says.
pub mod pending {
    /// A person must approve it (`polyaxon ops approve`): its Polyaxonfile says
    /// `isApproved: false`.
    pub const APPROVAL: &str = "approval";
    /// Its client uploads files first, then approves it (`polyaxon run -u`).
    pub const UPLOAD: &str = "upload";
}

/// One page of a list (`V1ListRunsResponse`, `V1ListProjectsResponse`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListResponse<T> {
    /// How many items match, over every page.
    pub count: u64,
    /// This page.
    pub results: Vec<T>,
    /// The query string of the previous page, if any.
    pub previous: Option<String>,
    /// The query string of the next page, if any.
    pub next: Option<String>,
}

/// One line a run printed (`V1Log`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    /// When the line was printed.
    pub timestamp: Timestamp,
    /// The machine that ran it.
    #[serde(default)]
    pub node: Option<String>,
    /// The pod (or, for the process runtime, the run's process) that printed it.
    #[serde(default)]
    pub pod: Option<String>,
    /// The container that printed it: `polyaxon-main` for the main container.
    #[serde(default)]
    pub container: Option<String>,
    /// The line, without its newline.
    pub value: String,
}

/// A batch of log lines (`V1Logs`); `last_time` is the cursor for the next request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Logs {
    /// The lines, oldest first.
    pub logs: Vec<LogLine>,
    /// The time of the last line returned; the next poll asks for lines after it. Null when the
    /// run has ended and every line was returned.
    pub last_time: Option<Timestamp>,
    /// The archive file the lines came from, for paged archives.
    pub last_file: Option<String>,
    /// The archive's files.
    pub files: Vec<String>,
}

/// What the server says about its installation (`V1Installation`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Installation {
    /// A stable identifier of this installation.
    pub key: String,
    /// The Polyaxon version whose API it speaks, as `v2.18.0`.
    pub version: String,
    /// `ce`: one team, no login.
    pub dist: String,
    /// `sandbox` for one process on a machine (Polyaxon's local server), `platform` on a
    /// cluster.
    pub mode: String,
    /// Whether requests need a token.
    pub auth: bool,
}

/// Something a run read or wrote (`V1RunArtifact`): a metric with its summary, the environment,
/// a model, a dataset….
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineageArtifact {
    /// Its name, unique per run and direction.
    pub name: String,
    /// What it is (`metric`, `env`, `model`, …).
    #[serde(default)]
    pub kind: Option<String>,
    /// Where it is, relative to the run's artifacts.
    #[serde(default)]
    pub path: Option<String>,
    /// Facts about it (a metric's count, min, max, last, …).
    #[serde(default)]
    pub summary: Option<Json>,
    /// Whether the run read it rather than wrote it.
    #[serde(default)]
    pub is_input: Option<bool>,
}

/// An artifact in a list across runs (a project's lineage): which run it belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunLineageArtifact {
    /// The artifact.
    #[serde(flatten)]
    pub artifact: LineageArtifact,
    /// The run's uuid.
    pub run: String,
    /// `{"run": {"name", "uuid"}}`, as Polyaxon's lists have it.
    pub meta_info: Json,
    /// Polyaxon's hash of the artifact's content, which Myelin does not compute.
    #[serde(default)]
    pub state: Option<String>,
}

/// A run at one end of an edge (`V1RunEdge`'s `upstream` or `downstream`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRef {
    /// 32 hex digits.
    pub uuid: String,
    /// Its name.
    pub name: Option<String>,
    /// Its kind.
    pub kind: String,
    /// The kind that executes it.
    pub runtime: String,
}

/// An edge between two runs (`V1RunEdge`), seen from one of them: the other end is given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunEdge {
    /// What flowed along it.
    pub values: Option<Json>,
    /// How it was made (`manual`, `dag`, `action`, `event`).
    pub kind: String,
    /// The upstream statuses it waited for; none for an edge a client set.
    pub statuses: Option<Vec<String>>,
    /// The run upstream, in a downstream run's list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<RunRef>,
    /// The run downstream, in an upstream run's list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downstream: Option<RunRef>,
}

/// One edge a client sets (`V1RunEdgeLineage`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EdgeBody {
    /// The run at the other end. Polyaxon's server reads it as `run`; the SDK sends `uuid`.
    #[serde(alias = "run")]
    pub uuid: String,
    /// Whether that run is upstream of this one.
    #[serde(default)]
    pub is_upstream: bool,
    /// What flows along it.
    #[serde(default)]
    pub values: Option<Json>,
}

/// A run's edges, all of them (`V1RunEdgesGraph`): setting them replaces the ones it had.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EdgesBody {
    /// The edges.
    pub edges: Vec<EdgeBody>,
}

/// A run made from another (`lineage/clones`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunClone {
    /// 32 hex digits.
    pub uuid: String,
    /// Its name.
    pub name: Option<String>,
    /// Its kind.
    pub kind: String,
    /// Its status.
    pub status: Status,
    /// The kind that executes it.
    pub runtime: String,
    /// `copy`, `restart` or `cache`.
    pub cloning_kind: String,
}

/// Lineage a client reports (`V1RunArtifacts`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineageBody {
    /// The artifacts.
    pub artifacts: Vec<LineageArtifact>,
}

/// What a project version is (`V1ProjectVersionKind`), as its URLs write it.
pub const VERSION_KINDS: &[&str] = &["component", "model", "artifact"];

/// A version of a project (`V1ProjectVersion`): a component's Polyaxonfile under a tag, or a
/// model or artifact pointing at a run and the artifacts it logged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectVersion {
    /// 32 hex digits.
    pub uuid: String,
    /// The tag (`v1`, `latest`), unique per project and kind.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Labels.
    pub tags: Vec<String>,
    /// The project's owner.
    pub owner: String,
    /// The project.
    pub project: String,
    /// Who registered it: Myelin has no accounts yet.
    pub user: Option<String>,
    /// `component`, `model` or `artifact`.
    pub kind: String,
    /// A component's Polyaxonfile (or a model's or artifact's spec).
    pub content: Option<String>,
    /// Markdown shown with it.
    pub readme: Option<String>,
    /// The run it was made from.
    pub run: Option<String>,
    /// The names of that run's artifacts (lineage) it includes.
    pub artifacts: Vec<String>,
    /// Facts about it.
    pub meta_info: Map<String, Json>,
    /// Its current stage (`testing`, `staging`, `production`, `disabled`).
    pub stage: Option<String>,
    /// Every stage it went through, oldest first.
    pub stage_conditions: Vec<StageCondition>,
    /// A component version's content hash, which a run records to say what it ran.
    pub state: Option<String>,
    /// When it was registered.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

/// A version to register, or the fields of one to change (`V1ProjectVersion` as sent).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProjectVersionBody {
    /// The tag.
    #[serde(default)]
    pub name: Option<String>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Labels.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// A component's Polyaxonfile.
    #[serde(default)]
    pub content: Option<String>,
    /// Markdown.
    #[serde(default)]
    pub readme: Option<String>,
    /// The run it comes from.
    #[serde(default)]
    pub run: Option<String>,
    /// Names of that run's artifacts it includes.
    #[serde(default)]
    pub artifacts: Option<Vec<String>>,
    /// Facts about it.
    #[serde(default)]
    pub meta_info: Option<Map<String, Json>>,
    /// Its kind; it cannot change.
    #[serde(default)]
    pub kind: Option<String>,
}

/// One stage a version went through (`V1StageCondition`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageCondition {
    /// The stage: `testing`, `staging`, `production` or `disabled`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `"True"`.
    #[serde(default = "condition_true", deserialize_with = "condition_status")]
    pub status: String,
    /// Why, in a word.
    #[serde(default)]
    pub reason: Option<String>,
    /// Why, in words.
    #[serde(default)]
    pub message: Option<String>,
    /// When it was written.
    #[serde(default)]
    pub last_update_time: Option<Timestamp>,
    /// When the version entered the stage.
    #[serde(default)]
    pub last_transition_time: Option<Timestamp>,
}

/// The stages a version may be in (`V1Stages`).
pub const STAGES: &[&str] = &["testing", "staging", "production", "disabled"];

/// A stage to record (`V1EntityStageBodyRequest`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageBody {
    /// The condition.
    pub condition: StageCondition,
}

/// A version's stage and its history (`…/stages`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageReport {
    /// The version's uuid.
    pub uuid: String,
    /// Its current stage.
    pub stage: Option<String>,
    /// Every stage it went through.
    pub stage_conditions: Vec<StageCondition>,
}
