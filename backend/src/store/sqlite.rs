//! The embedded store: one SQLite file in the data folder, in WAL mode, with one writer
//! connection and a few readers. Calls run on tokio's blocking threads.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params, params_from_iter};
use serde_json::{Map, Value as Json};
use shared::api::{
    Cloning, EdgeBody, LineageArtifact, ListResponse, MetricKind, NamedRef, Project, ProjectBody,
    ProjectVersion, ProjectVersionBody, Run, RunClone, RunEdge, RunLineageArtifact, RunPatch,
    RunSettings, Status, StatusCondition, Token, User,
};
use shared::time::Timestamp;

use super::lifecycle::{self, RunState};
use super::{
    Link, Mark, MetricsRecord, NewRun, NewToken, PipelineChild, RunFilter, RunMetrics, RunPlace,
    RunScope, StatusCounts, Store, StoreError, StoredRun, Transition, VersionChange, VersionKey,
    packed, pql,
};
use crate::clock;

mod links;
mod metrics;
mod people;
pub mod query;
mod specs;
mod versions;

/// The schema versions, in order; `PRAGMA user_version` says how many are applied.
const MIGRATIONS: &[&str] = &[
    include_str!("schema.sql"),
    include_str!("schema_2.sql"),
    include_str!("schema_3.sql"),
    include_str!("schema_4.sql"),
    include_str!("schema_5.sql"),
    include_str!("schema_6.sql"),
    include_str!("schema_7.sql"),
    include_str!("schema_8.sql"),
];

/// How many read connections are kept open.
const READERS: usize = 4;

/// The store in a SQLite file.
#[derive(Clone)]
pub struct Sqlite {
    writer: Arc<Mutex<Connection>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    path: Arc<std::path::PathBuf>,
    settings: Arc<Settings>,
}

/// What every run of this installation shares, shown in its settings.
#[derive(Debug, Clone)]
struct Settings {
    namespace: String,
    artifacts_store: Option<NamedRef>,
    /// Specs' bases, inflated.
    bases: specs::Bases,
}

impl std::fmt::Debug for Sqlite {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Sqlite")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        if error.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) {
            StoreError::Full(error.to_string())
        } else {
            StoreError::Database(error.to_string())
        }
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(error: serde_json::Error) -> Self {
        StoreError::Database(format!("a stored value does not read back: {error}"))
    }
}

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let connection = Connection::open(path)?;
    // WAL lets readers go on while the writer writes; NORMAL sync keeps every committed write
    // through a crash of the process (only a power cut may lose the last ones).
    connection.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA foreign_keys = ON;
         PRAGMA busy_timeout = 5000;",
    )?;
    Ok(connection)
}

impl Sqlite {
    /// The uuids a query selects, given the scheduler's executor name as `?1`.
    async fn scheduler_uuids(&self, sql: &'static str) -> Result<Vec<String>, StoreError> {
        self.read(move |connection, _| {
            let mut statement = connection.prepare_cached(sql)?;
            let uuids = statement
                .query_map([super::SCHEDULER_EXECUTOR], |row| row.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            Ok(uuids)
        })
        .await
    }
    /// Opens (creating and migrating it if needed) the database at `path`. Runs get the
    /// `namespace` and artifacts store of the agent that executes them.
    pub fn open(
        path: &Path,
        namespace: &str,
        artifacts_store: Option<NamedRef>,
    ) -> Result<Self, StoreError> {
        let mut writer = open_connection(path)?;
        migrate(&mut writer)?;
        Ok(Self {
            writer: Arc::new(Mutex::new(writer)),
            readers: Arc::new(Mutex::new(Vec::new())),
            path: Arc::new(path.to_owned()),
            settings: Arc::new(Settings {
                namespace: namespace.to_owned(),
                artifacts_store,
                bases: specs::Bases::default(),
            }),
        })
    }

    async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>, &Settings) -> Result<T, StoreError> + Send + 'static,
    {
        let writer = Arc::clone(&self.writer);
        let settings = Arc::clone(&self.settings);
        let written = blocking(move || {
            let mut connection = writer
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let transaction = connection.transaction()?;
            let result = work(&transaction, &settings)?;
            transaction.commit()?;
            Ok(result)
        })
        .await;
        // The one failure the user can act on: say which disk to free.
        written.map_err(|error| match error {
            StoreError::Full(_) => StoreError::Full(format!(
                "the disk holding {} is full: nothing can be recorded until space is freed there",
                self.path.parent().unwrap_or(&self.path).display()
            )),
            other => other,
        })
    }

    async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &Settings) -> Result<T, StoreError> + Send + 'static,
    {
        let readers = Arc::clone(&self.readers);
        let path = Arc::clone(&self.path);
        let settings = Arc::clone(&self.settings);
        blocking(move || {
            let pooled = readers
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .pop();
            let connection = match pooled {
                Some(connection) => connection,
                None => open_connection(&path)?,
            };
            let result = work(&connection, &settings);
            let mut pool = readers
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if pool.len() < READERS {
                pool.push(connection);
            }
            result
        })
        .await
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| StoreError::Database(format!("a store task failed: {error}")))?
}

fn migrate(connection: &mut Connection) -> Result<(), StoreError> {
    let applied: usize =
        connection.query_row("PRAGMA user_version", [], |row| row.get::<_, i64>(0))? as usize;
    if applied > MIGRATIONS.len() {
        return Err(StoreError::Database(format!(
            "the database has schema version {applied}, newer than this server knows ({}); \
             use a newer Myelin",
            MIGRATIONS.len()
        )));
    }
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(applied) {
        let transaction = connection.transaction()?;
        transaction.execute_batch(migration)?;
        transaction.pragma_update(None, "user_version", index + 1)?;
        transaction.commit()?;
    }
    Ok(())
}

const PROJECT_COLUMNS: &str = "uuid, owner, name, description, tags, is_public, created_at, \
     updated_at, archived_at IS NULL, bookmarked, readme, created_by, \
     (SELECT json_group_array(user_name) FROM (SELECT user_name FROM project_members \
     WHERE project_members.project_id = projects.id ORDER BY user_name))";

fn project_from_row(row: &Row<'_>) -> rusqlite::Result<Project> {
    Ok(Project {
        uuid: row.get(0)?,
        owner: row.get(1)?,
        name: row.get(2)?,
        description: row.get(3)?,
        tags: json_column(row, 4)?,
        is_public: row.get(5)?,
        created_at: Timestamp::from_micros(row.get(6)?),
        updated_at: Timestamp::from_micros(row.get(7)?),
        live_state: i32::from(row.get::<_, bool>(8)?),
        bookmarked: row.get(9)?,
        readme: row.get(10)?,
        user: row.get(11)?,
        members: json_column(row, 12)?,
    })
}

/// A run's status conditions as stored: their JSON packed with the built-in dictionary of
/// conditions, a tenth of its size.
fn conditions_value(conditions: &[StatusCondition]) -> Result<Vec<u8>, StoreError> {
    let text = to_text(&conditions)?;
    Ok(packed::pack(
        text.as_bytes(),
        packed::Dictionary::BuiltIn(packed::CONDITIONS),
    ))
}

/// A run's status conditions: packed, or the JSON text of a row from before packing.
fn conditions_column(row: &Row<'_>, index: usize) -> rusqlite::Result<Vec<StatusCondition>> {
    let failed = |error: Box<dyn std::error::Error + Send + Sync>| {
        rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Blob, error)
    };
    match row.get_ref(index)? {
        rusqlite::types::ValueRef::Blob(bytes) => {
            let text = packed::unpack(bytes, None).map_err(|why| failed(why.into()))?;
            serde_json::from_slice(&text).map_err(|error| failed(Box::new(error)))
        }
        _ => json_column(row, index),
    }
}

/// A JSON column read into `T`; a value that does not parse is a conversion error, not a panic.
fn json_column<T: serde::de::DeserializeOwned>(row: &Row<'_>, index: usize) -> rusqlite::Result<T> {
    let text: String = row.get(index)?;
    serde_json::from_str(&text).map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Text,
            Box::new(error),
        )
    })
}

fn optional_json_column<T: serde::de::DeserializeOwned>(
    row: &Row<'_>,
    index: usize,
) -> rusqlite::Result<Option<T>> {
    let text: Option<String> = row.get(index)?;
    text.map(|text| {
        serde_json::from_str(&text).map_err(|error| {
            rusqlite::Error::FromSqlConversionFailure(
                index,
                rusqlite::types::Type::Text,
                Box::new(error),
            )
        })
    })
    .transpose()
}

/// The columns [`run_from_row`] reads, with `content` for the run's Polyaxonfile: lists leave it
/// out (`NULL`), as Polyaxon's do, so they never read the specs table.
fn run_columns(content: &str) -> String {
    format!(
        "runs.uuid, runs.name, runs.description, runs.tags, runs.user, projects.owner, \
         projects.name, runs.created_at, runs.updated_at, runs.started_at, runs.finished_at, \
         runs.wait_time, runs.duration, runs.managed_by, runs.is_managed, runs.pending, \
         {content}, runs.status, runs.conditions, runs.meta_info, runs.kind, runs.runtime, \
         runs.inputs, runs.outputs, runs.executor, runs.original_uuid, runs.cloning_kind, \
         (SELECT original.name FROM runs original WHERE original.uuid = runs.original_uuid), \
         runs.archived_at IS NULL, runs.bookmarked, runs.readme, runs.pipeline_uuid, \
         (SELECT pipeline.name FROM runs pipeline WHERE pipeline.uuid = runs.pipeline_uuid), \
         (SELECT pipeline.kind FROM runs pipeline WHERE pipeline.uuid = runs.pipeline_uuid), \
         runs.schedule_at"
    )
}

/// The compiled operation and resource, after [`run_columns`].
const STORED_RUN_COLUMNS: &str = "run_specs.compiled, run_specs.resource";

fn run_from_row(row: &Row<'_>, settings: &Settings) -> rusqlite::Result<Run> {
    let status: String = row.get(17)?;
    // Text only where it was stored as text; a packed one is unpacked by `load_run`.
    let content = match row.get_ref(16)? {
        rusqlite::types::ValueRef::Text(text) => Some(String::from_utf8_lossy(text).into_owned()),
        _ => None,
    };
    let pending: Option<String> = row.get(15)?;
    Ok(Run {
        uuid: row.get(0)?,
        name: row.get(1)?,
        description: row.get(2)?,
        tags: json_column(row, 3)?,
        user: row.get(4)?,
        owner: row.get(5)?,
        project: row.get(6)?,
        created_at: Timestamp::from_micros(row.get(7)?),
        updated_at: Timestamp::from_micros(row.get(8)?),
        started_at: row.get::<_, Option<i64>>(9)?.map(Timestamp::from_micros),
        finished_at: row.get::<_, Option<i64>>(10)?.map(Timestamp::from_micros),
        wait_time: row.get(11)?,
        duration: row.get(12)?,
        managed_by: row.get(13)?,
        is_managed: row.get(14)?,
        is_approved: pending.as_deref() != Some(shared::api::pending::APPROVAL),
        pending,
        // The compiled operation replaces it in `content` where there is one.
        raw_content: content.clone(),
        content,
        status: Status::parse(&status).unwrap_or(Status::Unknown),
        status_conditions: conditions_column(row, 18)?,
        meta_info: json_column(row, 19)?,
        kind: row.get(20)?,
        runtime: row.get(21)?,
        inputs: optional_json_column(row, 22)?,
        outputs: optional_json_column(row, 23)?,
        settings: RunSettings {
            namespace: settings.namespace.clone(),
            artifacts_store: settings.artifacts_store.clone(),
            runtime: row.get(24)?,
        },
        live_state: i32::from(row.get::<_, bool>(28)?),
        bookmarked: row.get(29)?,
        readme: row.get(30)?,
        // Lists add them; a run alone does not carry them.
        metrics: None,
        schedule_at: row.get::<_, Option<i64>>(34)?.map(Timestamp::from_micros),
        pipeline: row
            .get::<_, Option<String>>(31)?
            .map(|uuid| -> rusqlite::Result<Json> {
                Ok(serde_json::json!({
                    "uuid": uuid,
                    "name": row.get::<_, Option<String>>(32)?,
                    "kind": row.get::<_, Option<String>>(33)?,
                }))
            })
            .transpose()?,
        resources: None,
        original: row
            .get::<_, Option<String>>(25)?
            .map(|uuid| -> rusqlite::Result<Cloning> {
                Ok(Cloning {
                    uuid,
                    kind: row.get::<_, Option<String>>(26)?.unwrap_or_default(),
                    name: row.get(27)?,
                })
            })
            .transpose()?,
    })
}

/// A run with its compiled operation. As Polyaxon shows a run, its `content` is the compiled
/// operation (what executes: the CLI reads its mounts from it) and `raw_content` what was
/// submitted; a client's own run, never compiled, shows what it sent in both.
fn stored_run(
    connection: &Connection,
    settings: &Settings,
    (mut run, [content, compiled, resource]): (Run, [specs::Stored; 3]),
) -> Result<StoredRun, StoreError> {
    let text = |stored| specs::text(connection, &settings.bases, stored);
    let json = |stored| -> Result<Option<Json>, StoreError> {
        text(stored)?
            .map(|text| {
                serde_json::from_str(&text).map_err(|error| {
                    StoreError::Invalid(format!("a run's stored spec is not JSON: {error}"))
                })
            })
            .transpose()
    };
    if let Some(content) = text(content)? {
        run.raw_content = Some(content.clone());
        run.content = Some(content);
    }
    let compiled = json(compiled)?;
    if let Some(compiled) = &compiled {
        run.content = Some(compiled.to_string());
    }
    Ok(StoredRun {
        run,
        compiled,
        resource: json(resource)?,
    })
}

fn project_id(connection: &Connection, owner: &str, name: &str) -> Result<i64, StoreError> {
    connection
        .query_row(
            "SELECT id FROM projects WHERE owner = ?1 AND name = ?2",
            params![owner, name],
            |row| row.get(0),
        )
        .optional()?
        .ok_or_else(|| project_not_found(owner, name))
}

/// The SQL that keeps runs to an owner's projects, those `viewer` sees when given, and its
/// values.
fn owner_projects(owner: &str, viewer: Option<&str>) -> (String, Vec<SqlValue>) {
    let mut values = vec![SqlValue::Text(owner.to_owned())];
    let visible = match viewer {
        Some(viewer) => {
            values.push(SqlValue::Text(viewer.to_owned()));
            format!(" AND {}", people::visible("projects"))
        }
        None => String::new(),
    };
    (
        format!("runs.project_id IN (SELECT id FROM projects WHERE owner = ?{visible})"),
        values,
    )
}

fn project_not_found(owner: &str, name: &str) -> StoreError {
    StoreError::NotFound(format!("no project `{name}` for owner `{owner}`"))
}

fn run_not_found(uuid: &str) -> StoreError {
    StoreError::NotFound(format!("no run `{uuid}` in this project"))
}

fn load_project(connection: &Connection, owner: &str, name: &str) -> Result<Project, StoreError> {
    connection
        .query_row(
            &format!("SELECT {PROJECT_COLUMNS} FROM projects WHERE owner = ?1 AND name = ?2"),
            params![owner, name],
            project_from_row,
        )
        .optional()?
        .ok_or_else(|| project_not_found(owner, name))
}

fn load_run(
    connection: &Connection,
    settings: &Settings,
    condition: &str,
    values: &[&dyn rusqlite::ToSql],
) -> Result<Option<StoredRun>, StoreError> {
    let sql = format!(
        "SELECT {}, {STORED_RUN_COLUMNS} FROM runs \
         JOIN projects ON projects.id = runs.project_id \
         LEFT JOIN run_specs ON run_specs.run_id = runs.id WHERE {condition}",
        run_columns("run_specs.content")
    );
    let found = connection
        .query_row(&sql, values, |row| {
            let specs = [16, 35, 36].map(|index| specs::column(row, index));
            let [content, compiled, resource] = specs;
            Ok((
                run_from_row(row, settings)?,
                [content?, compiled?, resource?],
            ))
        })
        .optional()?;
    found
        .map(|found| stored_run(connection, settings, found))
        .transpose()
}

fn load_project_run(
    connection: &Connection,
    settings: &Settings,
    owner: &str,
    project: &str,
    uuid: &str,
) -> Result<StoredRun, StoreError> {
    project_id(connection, owner, project)?;
    load_run(
        connection,
        settings,
        "projects.owner = ?1 AND projects.name = ?2 AND runs.uuid = ?3",
        &[&owner, &project, &uuid],
    )?
    .ok_or_else(|| run_not_found(uuid))
}

/// A run's id and the part of it its statuses change.
fn run_state(connection: &Connection, uuid: &str) -> Result<Option<(i64, RunState)>, StoreError> {
    Ok(connection
        .query_row(
            "SELECT id, status, conditions, created_at, started_at, finished_at, wait_time, \
             duration FROM runs WHERE uuid = ?1",
            params![uuid],
            |row| {
                let status: String = row.get(1)?;
                let state = RunState {
                    status: Status::parse(&status).unwrap_or(Status::Unknown),
                    conditions: conditions_column(row, 2)?,
                    created_at: Timestamp::from_micros(row.get(3)?),
                    started_at: row.get::<_, Option<i64>>(4)?.map(Timestamp::from_micros),
                    finished_at: row.get::<_, Option<i64>>(5)?.map(Timestamp::from_micros),
                    wait_time: row.get(6)?,
                    duration: row.get(7)?,
                };
                Ok((row.get(0)?, state))
            },
        )
        .optional()?)
}

/// Rewrites the index rows of a run's inputs or outputs.
fn index_values(
    transaction: &Transaction<'_>,
    run_id: i64,
    project_id: i64,
    section: &str,
    values: Option<&Map<String, Json>>,
) -> Result<(), StoreError> {
    transaction
        .prepare_cached("DELETE FROM run_values WHERE run_id = ?1 AND section = ?2")?
        .execute(params![run_id, section])?;
    let mut insert = transaction.prepare_cached(
        "INSERT INTO run_values (run_id, project_id, section, key, number, text) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for (key, value) in values.into_iter().flatten() {
        let (number, text) = match value {
            Json::Null => (None, None),
            Json::Bool(flag) => (Some(f64::from(u8::from(*flag))), None),
            Json::Number(number) => (number.as_f64(), None),
            other => (None, Some(other.to_string())),
        };
        insert.execute(params![run_id, project_id, section, key, number, text])?;
    }
    Ok(())
}

/// A run's Polyaxonfile, compiled operation and resource, and the indexes of its tags and
/// inputs: written when it is created, and again when it goes once more (resumed).
fn write_spec(
    transaction: &Transaction<'_>,
    settings: &Settings,
    run_id: i64,
    project_id: i64,
    run: &NewRun,
    tags: &[String],
) -> Result<(), StoreError> {
    // The runs of one component share their bases: it names the compiled operation, whatever
    // each run is called.
    let component = run
        .compiled
        .as_ref()
        .and_then(|compiled| compiled.get("name"))
        .and_then(Json::as_str)
        .or(run.name.as_deref())
        .unwrap_or_default();
    let key = format!("{}/{component}", run.kind);
    let pack = |part: &str, text: Option<String>| {
        text.map(|text| specs::packed(transaction, &settings.bases, project_id, part, &key, &text))
            .transpose()
    };
    let content = pack("content", run.body.content.clone())?;
    let compiled = pack("compiled", run.compiled.as_ref().map(to_text).transpose()?)?;
    let resource = pack("resource", run.resource.as_ref().map(to_text).transpose()?)?;
    transaction
        .prepare_cached(
            "INSERT OR REPLACE INTO run_specs (run_id, content, compiled, resource) \
             VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![run_id, content, compiled, resource])?;
    index_tags(transaction, run_id, project_id, tags)?;
    index_values(
        transaction,
        run_id,
        project_id,
        "inputs",
        run.inputs.as_ref(),
    )
}

fn index_tags(
    transaction: &Transaction<'_>,
    run_id: i64,
    project_id: i64,
    tags: &[String],
) -> Result<(), StoreError> {
    transaction
        .prepare_cached("DELETE FROM run_tags WHERE run_id = ?1")?
        .execute(params![run_id])?;
    let mut insert = transaction.prepare_cached(
        "INSERT OR IGNORE INTO run_tags (run_id, project_id, tag) VALUES (?1, ?2, ?3)",
    )?;
    for tag in tags {
        insert.execute(params![run_id, project_id, tag])?;
    }
    Ok(())
}

fn to_text(value: &impl serde::Serialize) -> Result<String, StoreError> {
    Ok(serde_json::to_string(value)?)
}

fn page(limit: u32, offset: u32) -> (i64, i64) {
    (i64::from(limit), i64::from(offset))
}

/// A page of `count` matches; the caller, who knows the URL, adds the links.
fn list<T>(count: i64, results: Vec<T>) -> ListResponse<T> {
    ListResponse {
        count: u64::try_from(count).unwrap_or_default(),
        results,
        previous: None,
        next: None,
    }
}

/// Whether a list shows archived runs too: when its query asks for them by their
/// `live_state`.
fn archived(filter: &RunFilter) -> bool {
    filter
        .query
        .as_ref()
        .is_some_and(|query| query.mentions(pql::Column::LiveState))
}

/// For a list of live runs of a project or an owner, the scope as [`query::MetricScope`] takes
/// it: a test of a row's project (none when the owner has every project), the ids of the
/// scope's archived runs (none when it has none), and their values. Leaving out a test that
/// holds for every row saves testing each of the many rows a broad filter matches.
fn metric_scope(
    connection: &Connection,
    scope: &RunScope,
    project_id: Option<i64>,
) -> Result<Option<SummaryScope>, StoreError> {
    let (projects, values) = match (scope, project_id) {
        (RunScope::Project { .. }, Some(project_id)) => {
            ("= ?", vec![SqlValue::Integer(project_id)])
        }
        (RunScope::Owner { owner }, _) => (
            "IN (SELECT id FROM projects WHERE owner = ?)",
            vec![SqlValue::Text(owner.clone())],
        ),
        _ => return Ok(None),
    };
    let exists = |sql: &str| -> Result<bool, StoreError> {
        Ok(connection
            .prepare_cached(&format!("SELECT EXISTS ({sql})"))?
            .query_row(params_from_iter(&values), |row| row.get(0))?)
    };
    let archived =
        format!("SELECT id FROM runs WHERE project_id {projects} AND archived_at IS NOT NULL");
    let every_project = match scope {
        RunScope::Owner { .. } => !exists("SELECT 1 FROM projects WHERE owner <> ?")?,
        _ => false,
    };
    let has_archived = exists(&archived)?;
    Ok(Some(SummaryScope {
        projects: (!every_project).then(|| format!("{{row}}.project_id {projects}")),
        archived: has_archived.then_some(archived),
        values,
    }))
}

/// What [`metric_scope`] finds, which [`query::MetricScope`] borrows.
struct SummaryScope {
    projects: Option<String>,
    archived: Option<String>,
    values: Vec<SqlValue>,
}

impl SummaryScope {
    fn borrowed(&self) -> query::MetricScope<'_> {
        query::MetricScope {
            projects: self.projects.as_deref(),
            archived: self.archived.as_deref(),
            values: &self.values,
        }
    }
}

/// Whether a list is in creation order (Polyaxon's default, newest first), which the runs'
/// indexes give without sorting.
fn by_creation(sorts: &[pql::Sort]) -> bool {
    match sorts {
        [] => true,
        [sort] => sort.key == pql::SortKey::Column(pql::Column::CreatedAt),
        _ => false,
    }
}

/// Matches past which reading a page by probing is weighed at all: reading and sorting fewer
/// takes a few milliseconds at most.
const PROBE_FROM: i64 = 1_000;

/// Whether a page in creation order of a list whose filter tests metrics is read faster by
/// walking the scope's runs in that order and probing each one's summaries
/// ([`query::Membership::Probe`]) than by reading its `matches` runs and sorting them. Walking
/// finds a match in every `scope / matches` runs, so a page of `wanted` costs about
/// `wanted × scope / matches` probes against `matches` lookups and a sort: it pays when
/// `matches² > wanted × scope`. The scope is taken at the largest run id, which no scope
/// exceeds and which the primary key's last entry gives at once.
fn probing_pays(connection: &Connection, matches: i64, wanted: i64) -> Result<bool, StoreError> {
    if matches < PROBE_FROM.max(wanted) {
        return Ok(false);
    }
    let scope: i64 = connection
        .prepare_cached("SELECT coalesce(max(id), 0) FROM runs")?
        .query_row([], |row| row.get(0))?;
    Ok(matches.saturating_mul(matches) > wanted.saturating_mul(scope))
}

/// A list ordered by one input or output.
struct ValueOrder<'a> {
    project_id: i64,
    section: &'static str,
    key: &'a str,
    descending: bool,
}

/// A page of runs ordered by an input or output, as `query::order_by` orders them (by the value,
/// then by id, runs without the value last), but read from `run_values_by_number` in order:
/// sorting every matching run by a per-run lookup takes a hundred times longer at 100,000 runs.
fn page_by_value(
    connection: &Connection,
    settings: &Settings,
    condition: &str,
    values: &[SqlValue],
    by: &ValueOrder<'_>,
    limit: i64,
    offset: i64,
) -> Result<Vec<Run>, StoreError> {
    let direction = if by.descending { "DESC" } else { "ASC" };
    let columns = run_columns("NULL");
    let keyed = || {
        [
            SqlValue::Integer(by.project_id),
            SqlValue::Text(by.section.to_owned()),
            SqlValue::Text(by.key.to_owned()),
        ]
        .into_iter()
        .chain(values.iter().cloned())
    };
    let read = |sql: &str, parameters: Vec<SqlValue>| -> Result<Vec<Run>, StoreError> {
        let mut statement = connection.prepare_cached(sql)?;
        let runs = statement
            .query_map(params_from_iter(parameters), |row| {
                run_from_row(row, settings)
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(runs)
    };
    let with_value = "FROM run_values s JOIN runs ON runs.id = s.run_id \
         JOIN projects ON projects.id = runs.project_id \
         WHERE s.project_id = ? AND s.section = ? AND s.key = ? AND s.number IS NOT NULL";
    let mut runs = read(
        &format!(
            "SELECT {columns} {with_value} AND {condition} \
             ORDER BY s.number {direction}, s.run_id {direction} LIMIT {limit} OFFSET {offset}"
        ),
        keyed().collect(),
    )?;
    let missing = limit - runs.len() as i64;
    if missing == 0 {
        return Ok(runs);
    }
    // The page reaches the runs without the value: they follow in id order.
    let valued: i64 = connection
        .prepare_cached(&format!("SELECT count(*) {with_value} AND {condition}"))?
        .query_row(params_from_iter(keyed()), |row| row.get(0))?;
    let rest_offset = (offset - valued).max(0);
    let without_value = format!(
        "SELECT {columns} FROM runs JOIN projects ON projects.id = runs.project_id \
         WHERE {condition} AND NOT EXISTS (SELECT 1 FROM run_values s WHERE s.run_id = runs.id \
         AND s.section = ? AND s.key = ? AND s.number IS NOT NULL) \
         ORDER BY runs.id {direction} LIMIT {missing} OFFSET {rest_offset}"
    );
    let parameters = values
        .iter()
        .cloned()
        .chain([
            SqlValue::Text(by.section.to_owned()),
            SqlValue::Text(by.key.to_owned()),
        ])
        .collect();
    runs.extend(read(&without_value, parameters)?);
    Ok(runs)
}

/// A list ordered by one part of a metric's summary.
struct MetricOrder<'a> {
    name: &'a str,
    stat: pql::Stat,
    descending: bool,
}

/// The uuids of a page of runs ordered by a part of a metric's summary, as `query::order_by`
/// orders them (by the value, then by id, runs without the value last), but read from the
/// summaries' index in order (`run_metrics_by_last`, …), so that only the page's runs are
/// visited rather than every run sorted. A run without a last value is ordered by its output of
/// the same name: those come from `run_values_by_key` in order, and the two lists are merged.
fn page_by_metric(
    connection: &Connection,
    condition: &str,
    values: &[SqlValue],
    by: &MetricOrder<'_>,
    limit: i64,
    offset: i64,
) -> Result<Vec<String>, StoreError> {
    let direction = if by.descending { "DESC" } else { "ASC" };
    let column = by.stat.column();
    let name = || SqlValue::Text(by.name.to_owned());
    let with_summary = format!(
        "FROM run_metrics m JOIN runs ON runs.id = m.run_id \
         JOIN projects ON projects.id = runs.project_id \
         WHERE m.kind = 'metric' AND m.name = ? AND m.{column} IS NOT NULL AND {condition}"
    );
    let summary_parameters = || std::iter::once(name()).chain(values.iter().cloned());
    // Runs that logged no last value of the metric, with an output of its name.
    let with_output = format!(
        "FROM run_values v JOIN runs ON runs.id = v.run_id \
         JOIN projects ON projects.id = runs.project_id \
         WHERE v.section = 'outputs' AND v.key = ? AND v.number IS NOT NULL \
         AND v.run_id NOT IN (SELECT m.run_id FROM run_metrics m \
         WHERE m.kind = 'metric' AND m.name = ? AND m.{column} IS NOT NULL) AND {condition}"
    );
    let output_parameters = || [name(), name()].into_iter().chain(values.iter().cloned());
    let fallback = by.stat == pql::Stat::Last;
    let ranked = |sql: String, parameters: Vec<SqlValue>| -> Result<_, StoreError> {
        let mut statement = connection.prepare_cached(&sql)?;
        let rows = statement
            .query_map(params_from_iter(parameters), |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, f64>(2)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    };
    let end = limit + offset;
    let mut valued = ranked(
        format!(
            "SELECT runs.uuid, runs.id, m.{column} {with_summary} \
             ORDER BY m.{column} {direction}, m.run_id {direction} LIMIT {end}"
        ),
        summary_parameters().collect(),
    )?;
    if fallback {
        valued.extend(ranked(
            format!(
                "SELECT runs.uuid, runs.id, v.number {with_output} \
                 ORDER BY v.number {direction}, v.run_id {direction} LIMIT {end}"
            ),
            output_parameters().collect(),
        )?);
        valued.sort_by(|(_, a_id, a), (_, b_id, b)| {
            let ascending = a
                .partial_cmp(b)
                .unwrap_or(std::cmp::Ordering::Equal)
                .then(a_id.cmp(b_id));
            if by.descending {
                ascending.reverse()
            } else {
                ascending
            }
        });
    }
    let skip = usize::try_from(offset).unwrap_or(usize::MAX);
    let take = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut uuids: Vec<String> = valued
        .into_iter()
        .skip(skip)
        .take(take)
        .map(|(uuid, _, _)| uuid)
        .collect();
    let missing = limit - uuids.len() as i64;
    if missing == 0 {
        return Ok(uuids);
    }
    // The page reaches the runs without the value: they follow in id order.
    let count = |sql: &str, parameters: Vec<SqlValue>| -> Result<i64, StoreError> {
        Ok(connection
            .prepare_cached(&format!("SELECT count(*) {sql}"))?
            .query_row(params_from_iter(parameters), |row| row.get(0))?)
    };
    let mut valued = count(&with_summary, summary_parameters().collect())?;
    let mut without = format!(
        "SELECT runs.uuid FROM runs JOIN projects ON projects.id = runs.project_id \
         WHERE {condition} AND NOT EXISTS (SELECT 1 FROM run_metrics m \
         WHERE m.run_id = runs.id AND m.kind = 'metric' AND m.name = ? \
         AND m.{column} IS NOT NULL)"
    );
    let mut parameters: Vec<SqlValue> = values.iter().cloned().chain([name()]).collect();
    if fallback {
        valued += count(&with_output, output_parameters().collect())?;
        without.push_str(
            " AND NOT EXISTS (SELECT 1 FROM run_values v WHERE v.run_id = runs.id \
             AND v.section = 'outputs' AND v.key = ? AND v.number IS NOT NULL)",
        );
        parameters.push(name());
    }
    let rest_offset = (offset - valued).max(0);
    let mut statement = connection.prepare_cached(&format!(
        "{without} ORDER BY runs.id {direction} LIMIT {missing} OFFSET {rest_offset}"
    ))?;
    let rest = statement
        .query_map(params_from_iter(parameters), |row| row.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    uuids.extend(rest);
    Ok(uuids)
}

/// The runs of `uuids`, in that order.
fn load_page(
    connection: &Connection,
    settings: &Settings,
    uuids: &[String],
) -> Result<Vec<Run>, StoreError> {
    if uuids.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders = vec!["?"; uuids.len()].join(", ");
    let mut statement = connection.prepare_cached(&format!(
        "SELECT {} FROM runs JOIN projects ON projects.id = runs.project_id \
         WHERE runs.uuid IN ({placeholders})",
        run_columns("NULL")
    ))?;
    let mut runs = statement
        .query_map(params_from_iter(uuids.iter()), |row| {
            run_from_row(row, settings)
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let position: std::collections::HashMap<&str, usize> = uuids
        .iter()
        .enumerate()
        .map(|(index, uuid)| (uuid.as_str(), index))
        .collect();
    runs.sort_by_key(|run| position.get(run.uuid.as_str()).copied());
    Ok(runs)
}

#[async_trait]
impl Store for Sqlite {
    async fn create_project(
        &self,
        owner: &str,
        body: ProjectBody,
        user: Option<&str>,
    ) -> Result<Project, StoreError> {
        let owner = owner.to_owned();
        let user = user.map(str::to_owned);
        self.write(move |transaction, _| {
            let name = body
                .name
                .ok_or_else(|| StoreError::Invalid("a project needs a `name`".to_owned()))?;
            let exists = transaction
                .query_row(
                    "SELECT 1 FROM projects WHERE owner = ?1 AND name = ?2",
                    params![owner, name],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            if exists {
                return Err(StoreError::Conflict(format!(
                    "a project named `{name}` exists already"
                )));
            }
            let now = clock::now().as_micros();
            transaction.execute(
                "INSERT INTO projects (uuid, owner, name, description, tags, is_public, \
                 created_at, updated_at, created_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8)",
                params![
                    clock::new_uuid(),
                    owner,
                    name,
                    body.description,
                    to_text(&body.tags.unwrap_or_default())?,
                    body.is_public.unwrap_or(false),
                    now,
                    user
                ],
            )?;
            if let Some(members) = &body.members {
                people::set_members(transaction, &owner, &name, members)?;
            }
            load_project(transaction, &owner, &name)
        })
        .await
    }

    async fn project(&self, owner: &str, name: &str) -> Result<Project, StoreError> {
        let (owner, name) = (owner.to_owned(), name.to_owned());
        self.read(move |connection, _| load_project(connection, &owner, &name))
            .await
    }

    async fn projects(
        &self,
        owner: &str,
        limit: u32,
        offset: u32,
        viewer: Option<&str>,
    ) -> Result<ListResponse<Project>, StoreError> {
        let owner = owner.to_owned();
        let viewer = viewer.map(str::to_owned);
        self.read(move |connection, _| {
            let (visible, mut values) = match &viewer {
                Some(viewer) => (
                    format!(" AND {}", people::visible("projects")),
                    vec![
                        SqlValue::Text(owner.clone()),
                        SqlValue::Text(viewer.clone()),
                    ],
                ),
                None => (String::new(), vec![SqlValue::Text(owner.clone())]),
            };
            let count: i64 = connection.query_row(
                &format!(
                    "SELECT count(*) FROM projects WHERE owner = ? AND archived_at IS NULL{visible}"
                ),
                params_from_iter(&values),
                |row| row.get(0),
            )?;
            let (limit, offset) = page(limit, offset);
            values.extend([SqlValue::Integer(limit), SqlValue::Integer(offset)]);
            let mut statement = connection.prepare_cached(&format!(
                "SELECT {PROJECT_COLUMNS} FROM projects WHERE owner = ? AND archived_at IS NULL\
                 {visible} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?"
            ))?;
            let results = statement
                .query_map(params_from_iter(&values), project_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(list(count, results))
        })
        .await
    }

    async fn update_project(
        &self,
        owner: &str,
        name: &str,
        body: ProjectBody,
    ) -> Result<Project, StoreError> {
        let (owner, name) = (owner.to_owned(), name.to_owned());
        self.write(move |transaction, _| {
            let project = load_project(transaction, &owner, &name)?;
            let new_name = body.name.unwrap_or(project.name);
            if new_name != name
                && transaction
                    .query_row(
                        "SELECT 1 FROM projects WHERE owner = ?1 AND name = ?2",
                        params![owner, new_name],
                        |_| Ok(()),
                    )
                    .optional()?
                    .is_some()
            {
                return Err(StoreError::Conflict(format!(
                    "a project named `{new_name}` exists already"
                )));
            }
            transaction.execute(
                "UPDATE projects SET name = ?1, description = ?2, tags = ?3, is_public = ?4, \
                 updated_at = ?5, readme = ?6 WHERE uuid = ?7",
                params![
                    new_name,
                    body.description.or(project.description),
                    to_text(&body.tags.unwrap_or(project.tags))?,
                    body.is_public.unwrap_or(project.is_public),
                    clock::now().as_micros(),
                    body.readme.or(project.readme),
                    project.uuid
                ],
            )?;
            if let Some(members) = &body.members {
                people::set_members(transaction, &owner, &new_name, members)?;
            }
            load_project(transaction, &owner, &new_name)
        })
        .await
    }

    async fn run_uuids(&self, owner: &str, project: &str) -> Result<Vec<String>, StoreError> {
        let (owner, project) = (owner.to_owned(), project.to_owned());
        self.read(move |connection, _| {
            let project_id = project_id(connection, &owner, &project)?;
            let mut statement =
                connection.prepare_cached("SELECT uuid FROM runs WHERE project_id = ?1")?;
            let uuids = statement
                .query_map(params![project_id], |row| row.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            Ok(uuids)
        })
        .await
    }

    async fn delete_project(&self, owner: &str, name: &str) -> Result<(), StoreError> {
        let (owner, name) = (owner.to_owned(), name.to_owned());
        self.write(move |transaction, _| {
            let deleted = transaction.execute(
                "DELETE FROM projects WHERE owner = ?1 AND name = ?2",
                params![owner, name],
            )?;
            if deleted == 0 {
                return Err(project_not_found(&owner, &name));
            }
            Ok(())
        })
        .await
    }

    async fn create_run(&self, owner: &str, project: &str, run: NewRun) -> Result<Run, StoreError> {
        let (owner, project) = (owner.to_owned(), project.to_owned());
        self.write(move |transaction, settings| {
            let project_id = project_id(transaction, &owner, &project)?;
            let mut state = RunState {
                status: Status::Created,
                conditions: Vec::new(),
                created_at: run.created_at,
                started_at: None,
                finished_at: None,
                wait_time: None,
                duration: None,
            };
            for condition in run.conditions.iter().cloned() {
                lifecycle::apply(&mut state, condition, false);
            }
            let tags = run.body.tags.clone().unwrap_or_default();
            let managed_by = run.body.managed_by.clone().unwrap_or_else(|| {
                if run.body.is_managed == Some(false) {
                    "user".to_owned()
                } else {
                    "agent".to_owned()
                }
            });
            let is_managed = run.body.is_managed.unwrap_or(managed_by == "agent");
            let clash = transaction
                .query_row(
                    "SELECT 1 FROM runs WHERE uuid = ?1",
                    [&run.uuid],
                    |_| Ok(()),
                )
                .optional()?;
            if clash.is_some() {
                return Err(StoreError::Conflict(format!(
                    "a run `{}` exists already",
                    run.uuid
                )));
            }
            if let Some(slot) = &run.pipeline {
                let taken: Option<String> = transaction
                    .query_row(
                        "SELECT uuid FROM runs WHERE pipeline_uuid = ?1 AND pipeline_index = ?2",
                        params![slot.uuid, slot.index],
                        |row| row.get(0),
                    )
                    .optional()?;
                if let Some(taken) = taken {
                    return Err(StoreError::Conflict(format!(
                        "run {} of pipeline {} exists already: {taken}",
                        slot.index, slot.uuid
                    )));
                }
            }
            transaction.prepare_cached(
                "INSERT INTO runs (uuid, project_id, name, description, kind, runtime, executor, \
                 status, conditions, inputs, tags, meta_info, managed_by, is_managed, pending, \
                 created_at, updated_at, started_at, finished_at, wait_time, duration, \
                 original_uuid, cloning_kind, pipeline_uuid, pipeline_index, schedule_at, \
                 cache_key, user) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, \
                 ?14, ?15, ?16, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27)",
            )?.execute(params![
                    run.uuid,
                    project_id,
                    run.name,
                    run.body.description,
                    run.kind,
                    run.runtime,
                    run.executor,
                    state.status.as_str(),
                    conditions_value(&state.conditions)?,
                    run.inputs.as_ref().map(to_text).transpose()?,
                    to_text(&tags)?,
                    to_text(&run.body.meta_info.clone().unwrap_or_default())?,
                    managed_by,
                    is_managed,
                    run.body.pending,
                    run.created_at.as_micros(),
                    state.started_at.map(Timestamp::as_micros),
                    state.finished_at.map(Timestamp::as_micros),
                    state.wait_time,
                    state.duration,
                    run.cloned_from.as_ref().map(|(original, _)| original),
                    run.cloned_from.as_ref().map(|(_, kind)| kind),
                    run.pipeline.as_ref().map(|slot| &slot.uuid),
                    run.pipeline.as_ref().map(|slot| slot.index),
                    run.pipeline
                        .as_ref()
                        .and_then(|slot| slot.due_at)
                        .map(Timestamp::as_micros),
                    run.cache_key,
                    run.user,
                ],
            )?;
            let run_id = transaction.last_insert_rowid();
            write_spec(transaction, settings, run_id, project_id, &run, &tags)?;
            let stored = load_run(transaction, settings, "runs.id = ?1", &[&run_id])?
                .ok_or_else(|| run_not_found(&run.uuid))?;
            Ok(stored.run)
        })
        .await
    }

    async fn run(&self, owner: &str, project: &str, uuid: &str) -> Result<StoredRun, StoreError> {
        let (owner, project, uuid) = (owner.to_owned(), project.to_owned(), uuid.to_owned());
        self.read(move |connection, settings| {
            load_project_run(connection, settings, &owner, &project, &uuid)
        })
        .await
    }

    async fn run_by_uuid(&self, uuid: &str) -> Result<StoredRun, StoreError> {
        let uuid = uuid.to_owned();
        self.read(move |connection, settings| {
            load_run(connection, settings, "runs.uuid = ?1", &[&uuid])?
                .ok_or_else(|| StoreError::NotFound(format!("no run `{uuid}`")))
        })
        .await
    }

    async fn runs(
        &self,
        scope: &RunScope,
        filter: &RunFilter,
    ) -> Result<ListResponse<Run>, StoreError> {
        let (scope, filter) = (scope.clone(), filter.clone());
        self.read(move |connection, settings| {
            let live = !archived(&filter);
            let (mut condition, mut values, project_id) = match &scope {
                RunScope::Project { owner, project } => {
                    let project_id = project_id(connection, owner, project)?;
                    let condition = if live {
                        "runs.project_id = ? AND runs.archived_at IS NULL"
                    } else {
                        "runs.project_id = ?"
                    };
                    (
                        condition.to_owned(),
                        vec![SqlValue::Integer(project_id)],
                        Some(project_id),
                    )
                }
                RunScope::Archived { owner } => {
                    let (projects, values) = owner_projects(owner, filter.viewer.as_deref());
                    (
                        format!("{projects} AND runs.archived_at IS NOT NULL"),
                        values,
                        None,
                    )
                }
                RunScope::Bookmarked { owner } => {
                    let (projects, values) = owner_projects(owner, filter.viewer.as_deref());
                    (
                        format!("{projects} AND runs.bookmarked = 1 AND runs.archived_at IS NULL"),
                        values,
                        None,
                    )
                }
                RunScope::Owner { owner } => {
                    let live = if live {
                        " AND runs.archived_at IS NULL"
                    } else {
                        ""
                    };
                    let (projects, values) = owner_projects(owner, filter.viewer.as_deref());
                    (format!("{projects}{live}"), values, None)
                }
            };
            if filter.bookmarked {
                condition.push_str(" AND runs.bookmarked = 1");
            }
            // The scope alone, for walking its runs when a page is read by probing.
            let (scope_condition, scope_values) = (condition.clone(), values.clone());
            let now = clock::now();
            if let Some(query) = &filter.query {
                let (sql, query_values) = query::to_sql(query, now, query::Membership::List);
                condition.push_str(&format!(" AND ({sql})"));
                values.extend(query_values);
            }
            let value_only = filter
                .query
                .as_ref()
                .filter(|_| !filter.bookmarked)
                .and_then(|query| query::run_value_only(query, now));
            let metric_only = match filter.query.as_ref().filter(|_| live && !filter.bookmarked) {
                // The scope's facts are read only for a query the summaries can count.
                Some(query) if query::counts_from_summaries(query) => {
                    metric_scope(connection, &scope, project_id)?
                        .and_then(|scope| query::metric_only_count(query, now, &scope.borrowed()))
                }
                _ => None,
            };
            let count: i64 = match (project_id, value_only, metric_only) {
                // Counted on the summaries' index alone.
                (_, _, Some((count, count_values))) => connection
                    .prepare_cached(&format!("SELECT {count}"))?
                    .query_row(params_from_iter(count_values), |row| row.get(0))?,
                // Counted on the values' index alone; the (few) archived runs are taken out.
                (Some(project_id), Some((test, test_values)), None) => connection
                    .prepare_cached(&format!(
                        "SELECT count(*) FROM run_values v WHERE v.project_id = ? AND {test} \
                         AND v.run_id NOT IN (SELECT id FROM runs WHERE project_id = ? \
                         AND archived_at IS NOT NULL)"
                    ))?
                    .query_row(
                        params_from_iter(
                            std::iter::once(SqlValue::Integer(project_id))
                                .chain(test_values)
                                .chain([SqlValue::Integer(project_id)]),
                        ),
                        |row| row.get(0),
                    )?,
                _ => connection
                    .prepare_cached(&format!("SELECT count(*) FROM runs WHERE {condition}"))?
                    .query_row(params_from_iter(values.iter()), |row| row.get(0))?,
            };
            let (limit, offset) = page(filter.limit, filter.offset);
            if let (
                Some(project_id),
                [
                    pql::Sort {
                        key: pql::SortKey::RunValue { section, key },
                        descending,
                    },
                ],
            ) = (project_id, filter.sort.as_slice())
            {
                let by = ValueOrder {
                    project_id,
                    section: section.as_str(),
                    key,
                    descending: *descending,
                };
                let mut results = page_by_value(
                    connection, settings, &condition, &values, &by, limit, offset,
                )?;
                metrics::attach(connection, &mut results)?;
                return Ok(list(count, results));
            }
            if let [
                pql::Sort {
                    key: pql::SortKey::Metric { name, stat },
                    descending,
                },
            ] = filter.sort.as_slice()
            {
                let by = MetricOrder {
                    name,
                    stat: *stat,
                    descending: *descending,
                };
                let uuids = page_by_metric(connection, &condition, &values, &by, limit, offset)?;
                let mut results = load_page(connection, settings, &uuids)?;
                metrics::attach(connection, &mut results)?;
                return Ok(list(count, results));
            }
            if let Some(query) = &filter.query
                && by_creation(&filter.sort)
                && query::tests_metrics(query)
                && probing_pays(connection, count, limit + offset)?
            {
                let (sql, query_values) = query::to_sql(query, now, query::Membership::Probe);
                condition = format!("{scope_condition} AND ({sql})");
                values = scope_values.into_iter().chain(query_values).collect();
            }
            let (order, order_values) = query::order_by(&filter.sort);
            // Placeholders bind in the order they appear: the filter's, then the sort's.
            let values: Vec<SqlValue> = values.into_iter().chain(order_values).collect();
            // The page's uuids first, then their columns: sorting every match with all its
            // columns would copy each match's JSON into the sorter.
            let uuids = connection
                .prepare_cached(&format!(
                    "SELECT runs.uuid FROM runs JOIN projects ON projects.id = runs.project_id \
                     WHERE {condition} ORDER BY {order} LIMIT {limit} OFFSET {offset}"
                ))?
                .query_map(params_from_iter(values.iter()), |row| {
                    row.get::<_, String>(0)
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut results = load_page(connection, settings, &uuids)?;
            metrics::attach(connection, &mut results)?;
            Ok(list(count, results))
        })
        .await
    }

    async fn patch_run(
        &self,
        owner: &str,
        project: &str,
        uuid: &str,
        patch: RunPatch,
    ) -> Result<Run, StoreError> {
        let (owner, project, uuid) = (owner.to_owned(), project.to_owned(), uuid.to_owned());
        self.write(move |transaction, settings| {
            let project_id = project_id(transaction, &owner, &project)?;
            let run = load_project_run(transaction, settings, &owner, &project, &uuid)?.run;
            let merge = patch.merge.unwrap_or(false);
            let merged =
                |old: Option<Map<String, Json>>, new: Option<Map<String, Json>>| match (old, new) {
                    (Some(mut old), Some(new)) if merge => {
                        old.extend(new);
                        Some(old)
                    }
                    (old, None) => old,
                    (_, new) => new,
                };
            let outputs_changed = patch.outputs.is_some();
            let outputs = merged(run.outputs, patch.outputs);
            let meta_info = merged(Some(run.meta_info), patch.meta_info).unwrap_or_default();
            let tags = match patch.tags {
                Some(new) if merge => {
                    let mut tags = run.tags;
                    for tag in new {
                        if !tags.contains(&tag) {
                            tags.push(tag);
                        }
                    }
                    tags
                }
                Some(new) => new,
                None => run.tags,
            };
            let run_id: i64 = transaction.query_row(
                "SELECT id FROM runs WHERE uuid = ?1",
                params![uuid],
                |row| row.get(0),
            )?;
            transaction.execute(
                "UPDATE runs SET name = ?1, description = ?2, tags = ?3, outputs = ?4, \
                 meta_info = ?5, updated_at = ?6, readme = ?7 WHERE id = ?8",
                params![
                    patch.name.or(run.name),
                    patch.description.or(run.description),
                    to_text(&tags)?,
                    outputs.as_ref().map(to_text).transpose()?,
                    to_text(&meta_info)?,
                    clock::now().as_micros(),
                    patch.readme.or(run.readme),
                    run_id
                ],
            )?;
            index_tags(transaction, run_id, project_id, &tags)?;
            if outputs_changed {
                index_values(transaction, run_id, project_id, "outputs", outputs.as_ref())?;
            }
            Ok(load_project_run(transaction, settings, &owner, &project, &uuid)?.run)
        })
        .await
    }

    async fn delete_run(&self, owner: &str, project: &str, uuid: &str) -> Result<(), StoreError> {
        let (owner, project, uuid) = (owner.to_owned(), project.to_owned(), uuid.to_owned());
        self.write(move |transaction, _| {
            let project_id = project_id(transaction, &owner, &project)?;
            let deleted = transaction.execute(
                "DELETE FROM runs WHERE project_id = ?1 AND uuid = ?2",
                params![project_id, uuid],
            )?;
            if deleted == 0 {
                return Err(run_not_found(&uuid));
            }
            Ok(())
        })
        .await
    }

    async fn transfer_run(
        &self,
        owner: &str,
        project: &str,
        uuid: &str,
        to_project: &str,
    ) -> Result<Run, StoreError> {
        let (owner, project, uuid, to_project) = (
            owner.to_owned(),
            project.to_owned(),
            uuid.to_owned(),
            to_project.to_owned(),
        );
        self.write(move |transaction, settings| {
            let from_id = project_id(transaction, &owner, &project)?;
            let to_id = project_id(transaction, &owner, &to_project)?;
            let run_id: i64 = transaction
                .query_row(
                    "SELECT id FROM runs WHERE project_id = ?1 AND uuid = ?2",
                    params![from_id, uuid],
                    |row| row.get(0),
                )
                .optional()?
                .ok_or_else(|| run_not_found(&uuid))?;
            transaction.execute(
                "UPDATE runs SET project_id = ?1, updated_at = ?2 WHERE id = ?3",
                params![to_id, clock::now().as_micros(), run_id],
            )?;
            // The index rows carry the project, so filters in the new one find the run.
            for table in ["run_tags", "run_values", "run_metrics"] {
                transaction.execute(
                    &format!("UPDATE {table} SET project_id = ?1 WHERE run_id = ?2"),
                    params![to_id, run_id],
                )?;
            }
            Ok(load_project_run(transaction, settings, &owner, &to_project, &uuid)?.run)
        })
        .await
    }

    async fn change_pending(
        &self,
        uuid: &str,
        from: &str,
        to: Option<&str>,
    ) -> Result<bool, StoreError> {
        let (uuid, from, to) = (uuid.to_owned(), from.to_owned(), to.map(str::to_owned));
        self.write(move |transaction, _| {
            let changed = transaction.execute(
                "UPDATE runs SET pending = ?1, updated_at = ?2 WHERE uuid = ?3 AND pending = ?4",
                params![to, clock::now().as_micros(), uuid, from],
            )?;
            Ok(changed > 0)
        })
        .await
    }

    async fn resume_run(
        &self,
        owner: &str,
        project: &str,
        resuming: StatusCondition,
        run: NewRun,
    ) -> Result<Run, StoreError> {
        let (owner, project) = (owner.to_owned(), project.to_owned());
        self.write(move |transaction, settings| {
            // In the project, or not at all.
            load_project_run(transaction, settings, &owner, &project, &run.uuid)?;
            let project_id = project_id(transaction, &owner, &project)?;
            let (run_id, mut state) =
                run_state(transaction, &run.uuid)?.ok_or_else(|| run_not_found(&run.uuid))?;
            if !state.status.is_done() {
                return Err(StoreError::Invalid(format!(
                    "run `{}` cannot be resumed before it ends: it is {}",
                    run.uuid,
                    state.status.as_str()
                )));
            }
            lifecycle::apply(&mut state, resuming, true);
            // Going again, it has not ended: a restarted server picks it up, and its next end
            // is its end. (Polyaxon keeps the first end's time until then.)
            state.finished_at = None;
            state.duration = None;
            for condition in run.conditions.iter().cloned() {
                lifecycle::apply(&mut state, condition, false);
            }
            let tags = run.body.tags.clone().unwrap_or_default();
            transaction.execute(
                "UPDATE runs SET name = ?1, description = ?2, kind = ?3, runtime = ?4, \
                 executor = ?5, status = ?6, conditions = ?7, inputs = ?8, tags = ?9, \
                 started_at = ?10, finished_at = ?11, wait_time = ?12, duration = ?13, \
                 updated_at = ?14 WHERE id = ?15",
                params![
                    run.name,
                    run.body.description,
                    run.kind,
                    run.runtime,
                    run.executor,
                    state.status.as_str(),
                    conditions_value(&state.conditions)?,
                    run.inputs.as_ref().map(to_text).transpose()?,
                    to_text(&tags)?,
                    state.started_at.map(Timestamp::as_micros),
                    state.finished_at.map(Timestamp::as_micros),
                    state.wait_time,
                    state.duration,
                    clock::now().as_micros(),
                    run_id
                ],
            )?;
            write_spec(transaction, settings, run_id, project_id, &run, &tags)?;
            Ok(load_project_run(transaction, settings, &owner, &project, &run.uuid)?.run)
        })
        .await
    }

    async fn add_condition(
        &self,
        uuid: &str,
        condition: StatusCondition,
        force: bool,
    ) -> Result<Transition, StoreError> {
        let uuid = uuid.to_owned();
        self.write(move |transaction, _| {
            let (_, mut state) = run_state(transaction, &uuid)?
                .ok_or_else(|| StoreError::NotFound(format!("no run `{uuid}`")))?;
            if !lifecycle::apply(&mut state, condition, force) {
                return Ok(Transition::Refused);
            }
            transaction.execute(
                "UPDATE runs SET status = ?1, conditions = ?2, started_at = ?3, \
                 finished_at = ?4, wait_time = ?5, duration = ?6, updated_at = ?7 \
                 WHERE uuid = ?8",
                params![
                    state.status.as_str(),
                    conditions_value(&state.conditions)?,
                    state.started_at.map(Timestamp::as_micros),
                    state.finished_at.map(Timestamp::as_micros),
                    state.wait_time,
                    state.duration,
                    clock::now().as_micros(),
                    uuid
                ],
            )?;
            Ok(Transition::Recorded(state.status))
        })
        .await
    }

    async fn add_lineage(
        &self,
        uuid: &str,
        artifacts: Vec<LineageArtifact>,
    ) -> Result<(), StoreError> {
        let uuid = uuid.to_owned();
        self.write(move |transaction, _| {
            let run_id: i64 = transaction
                .query_row(
                    "SELECT id FROM runs WHERE uuid = ?1",
                    params![uuid],
                    |row| row.get(0),
                )
                .optional()?
                .ok_or_else(|| StoreError::NotFound(format!("no run `{uuid}`")))?;
            let mut upsert = transaction.prepare_cached(
                "INSERT INTO run_lineage (run_id, name, is_input, kind, path, summary, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (run_id, name, is_input) DO \
                 UPDATE SET kind = excluded.kind, path = excluded.path, summary = excluded.summary",
            )?;
            let now = clock::now().as_micros();
            for artifact in artifacts {
                upsert.execute(params![
                    run_id,
                    artifact.name,
                    artifact.is_input.unwrap_or(false),
                    artifact.kind,
                    artifact.path,
                    artifact.summary.as_ref().map(to_text).transpose()?,
                    now
                ])?;
            }
            Ok(())
        })
        .await
    }

    async fn lineage(&self, uuid: &str) -> Result<Vec<LineageArtifact>, StoreError> {
        let uuid = uuid.to_owned();
        self.read(move |connection, _| {
            let mut statement = connection.prepare_cached(
                "SELECT run_lineage.name, run_lineage.kind, run_lineage.path, \
                 run_lineage.summary, run_lineage.is_input FROM run_lineage \
                 JOIN runs ON runs.id = run_lineage.run_id WHERE runs.uuid = ?1 \
                 ORDER BY run_lineage.created_at, run_lineage.name",
            )?;
            let artifacts = statement
                .query_map(params![uuid], |row| links::artifact_from_row(row, 0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(artifacts)
        })
        .await
    }

    async fn mark_runs(
        &self,
        owner: &str,
        project: &str,
        uuids: &[String],
        mark: Mark,
    ) -> Result<Vec<Run>, StoreError> {
        let (owner, project, uuids) = (owner.to_owned(), project.to_owned(), uuids.to_vec());
        self.write(move |transaction, settings| {
            let project_id = project_id(transaction, &owner, &project)?;
            let set = match mark {
                Mark::Archive => "archived_at = coalesce(archived_at, ?3), updated_at = ?3",
                Mark::Restore => "archived_at = NULL, updated_at = ?3",
                Mark::Bookmark => "bookmarked = 1 + 0 * ?3",
                Mark::Unbookmark => "bookmarked = 0 * ?3",
            };
            let now = clock::now().as_micros();
            let mut update = transaction.prepare_cached(&format!(
                "UPDATE runs SET {set} WHERE project_id = ?1 AND uuid = ?2"
            ))?;
            let mut runs = Vec::new();
            for uuid in &uuids {
                if update.execute(params![project_id, uuid, now])? == 0 {
                    continue;
                }
                let marked = load_run(
                    transaction,
                    settings,
                    "runs.project_id = ?1 AND runs.uuid = ?2",
                    &[&project_id, uuid],
                )?;
                runs.extend(marked.map(|stored| stored.run));
            }
            Ok(runs)
        })
        .await
    }

    async fn mark_project(
        &self,
        owner: &str,
        name: &str,
        mark: Mark,
    ) -> Result<Project, StoreError> {
        let (owner, name) = (owner.to_owned(), name.to_owned());
        self.write(move |transaction, _| {
            let project_id = project_id(transaction, &owner, &name)?;
            let now = clock::now().as_micros();
            let statements: &[&str] = match mark {
                Mark::Archive => &[
                    "UPDATE projects SET archived_at = coalesce(archived_at, ?2), \
                     updated_at = ?2 WHERE id = ?1",
                    "UPDATE runs SET archived_at = ?2, updated_at = ?2 \
                     WHERE project_id = ?1 AND archived_at IS NULL",
                ],
                Mark::Restore => &[
                    "UPDATE projects SET archived_at = NULL, updated_at = ?2 WHERE id = ?1",
                    "UPDATE runs SET archived_at = NULL, updated_at = ?2 \
                     WHERE project_id = ?1 AND archived_at IS NOT NULL",
                ],
                Mark::Bookmark => &["UPDATE projects SET bookmarked = 1 + 0 * ?2 WHERE id = ?1"],
                Mark::Unbookmark => &["UPDATE projects SET bookmarked = 0 * ?2 WHERE id = ?1"],
            };
            for statement in statements {
                transaction.execute(statement, params![project_id, now])?;
            }
            load_project(transaction, &owner, &name)
        })
        .await
    }

    async fn status_counts(&self, owner: &str, project: &str) -> Result<StatusCounts, StoreError> {
        let (owner, project) = (owner.to_owned(), project.to_owned());
        self.read(move |connection, _| {
            let project_id = project_id(connection, &owner, &project)?;
            let mut statement = connection.prepare_cached(
                "SELECT status, count(*) FROM runs WHERE project_id = ?1 \
                 AND archived_at IS NULL GROUP BY status ORDER BY status",
            )?;
            let counts = statement
                .query_map(params![project_id], |row| {
                    let status: String = row.get(0)?;
                    let count: i64 = row.get(1)?;
                    Ok((
                        Status::parse(&status).unwrap_or(Status::Unknown),
                        u64::try_from(count).unwrap_or_default(),
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(counts)
        })
        .await
    }

    async fn delete_lineage(&self, uuid: &str, name: &str) -> Result<bool, StoreError> {
        let (uuid, name) = (uuid.to_owned(), name.to_owned());
        self.write(move |transaction, _| links::delete_lineage(transaction, &uuid, &name))
            .await
    }

    async fn project_lineage(
        &self,
        owner: &str,
        project: &str,
        limit: u32,
        offset: u32,
    ) -> Result<ListResponse<RunLineageArtifact>, StoreError> {
        let (owner, project) = (owner.to_owned(), project.to_owned());
        self.read(move |connection, _| {
            let project_id = project_id(connection, &owner, &project)?;
            let (limit, offset) = page(limit, offset);
            let (count, results) = links::project_lineage(connection, project_id, limit, offset)?;
            Ok(list(count, results))
        })
        .await
    }

    async fn set_edges(&self, uuid: &str, edges: Vec<EdgeBody>) -> Result<(), StoreError> {
        let uuid = uuid.to_owned();
        self.write(move |transaction, _| links::set_edges(transaction, &uuid, &edges))
            .await
    }

    async fn edges(&self, uuid: &str, link: Link) -> Result<Vec<RunEdge>, StoreError> {
        let uuid = uuid.to_owned();
        self.read(move |connection, _| links::edges(connection, &uuid, link))
            .await
    }

    async fn clones(&self, uuid: &str) -> Result<Vec<RunClone>, StoreError> {
        let uuid = uuid.to_owned();
        self.read(move |connection, _| links::clones(connection, &uuid))
            .await
    }

    async fn create_version(
        &self,
        key: &VersionKey,
        body: ProjectVersionBody,
        state: Option<String>,
    ) -> Result<ProjectVersion, StoreError> {
        let key = key.clone();
        self.write(move |transaction, _| versions::create(transaction, &key, body, state))
            .await
    }

    async fn version(&self, key: &VersionKey) -> Result<ProjectVersion, StoreError> {
        let key = key.clone();
        self.read(move |connection, _| versions::load(connection, &key))
            .await
    }

    async fn versions(
        &self,
        owner: &str,
        project: &str,
        kind: &str,
        limit: u32,
        offset: u32,
    ) -> Result<ListResponse<ProjectVersion>, StoreError> {
        let (owner, project, kind) = (owner.to_owned(), project.to_owned(), kind.to_owned());
        self.read(move |connection, _| {
            let (limit, offset) = page(limit, offset);
            let (count, results) =
                versions::list(connection, &owner, &project, &kind, limit, offset)?;
            Ok(list(count, results))
        })
        .await
    }

    async fn change_version(
        &self,
        key: &VersionKey,
        change: VersionChange,
    ) -> Result<ProjectVersion, StoreError> {
        let key = key.clone();
        self.write(move |transaction, _| versions::change(transaction, &key, change))
            .await
    }

    async fn delete_version(&self, key: &VersionKey) -> Result<(), StoreError> {
        let key = key.clone();
        self.write(move |transaction, _| versions::delete(transaction, &key))
            .await
    }

    async fn add_user(&self, name: &str, admin: bool) -> Result<User, StoreError> {
        let name = name.to_owned();
        self.write(move |transaction, _| people::add_user(transaction, &name, admin, clock::now()))
            .await
    }

    async fn users(&self) -> Result<Vec<User>, StoreError> {
        self.read(|connection, _| people::users(connection)).await
    }

    async fn has_users(&self) -> Result<bool, StoreError> {
        self.read(|connection, _| people::has_users(connection))
            .await
    }

    async fn add_token(&self, user: &str, token: NewToken) -> Result<Token, StoreError> {
        let user = user.to_owned();
        self.write(move |transaction, _| people::add_token(transaction, &user, &token))
            .await
    }

    async fn tokens(&self, user: &str) -> Result<Vec<Token>, StoreError> {
        let user = user.to_owned();
        self.read(move |connection, _| people::tokens(connection, &user))
            .await
    }

    async fn revoke_token(&self, user: &str, uuid: &str) -> Result<Token, StoreError> {
        let (user, uuid) = (user.to_owned(), uuid.to_owned());
        self.write(move |transaction, _| {
            people::revoke_token(transaction, &user, &uuid, clock::now())
        })
        .await
    }

    async fn token_by_hash(&self, hash: &str) -> Result<Option<(User, Token)>, StoreError> {
        let hash = hash.to_owned();
        self.read(move |connection, _| people::token_by_hash(connection, &hash))
            .await
    }

    async fn component_versions(
        &self,
        viewer: Option<&str>,
    ) -> Result<Vec<ProjectVersion>, StoreError> {
        let viewer = viewer.map(str::to_owned);
        self.read(move |connection, _| versions::components(connection, viewer.as_deref()))
            .await
    }

    async fn record_metrics(
        &self,
        records: Vec<MetricsRecord>,
    ) -> Result<Vec<RunPlace>, StoreError> {
        self.write(move |transaction, _| metrics::record(transaction, &records))
            .await
    }

    async fn metric_summaries(
        &self,
        uuids: &[String],
        kind: MetricKind,
    ) -> Result<std::collections::BTreeMap<String, RunMetrics>, StoreError> {
        let uuids = uuids.to_vec();
        self.read(move |connection, _| metrics::summaries(connection, &uuids, kind))
            .await
    }

    async fn run_places(&self, uuids: &[String]) -> Result<Vec<RunPlace>, StoreError> {
        let uuids = uuids.to_vec();
        self.read(move |connection, _| {
            let mut statement = connection.prepare_cached(
                "SELECT runs.uuid, projects.owner, projects.name, runs.status FROM runs \
                 JOIN projects ON projects.id = runs.project_id WHERE runs.uuid = ?1",
            )?;
            let mut places = Vec::with_capacity(uuids.len());
            for uuid in &uuids {
                let place = statement
                    .query_row([uuid], |row| {
                        let status: String = row.get(3)?;
                        Ok(RunPlace {
                            uuid: row.get(0)?,
                            owner: row.get(1)?,
                            project: row.get(2)?,
                            status: Status::parse(&status).unwrap_or(Status::Unknown),
                        })
                    })
                    .optional()?;
                places.extend(place);
            }
            Ok(places)
        })
        .await
    }

    async fn unfinished_runs(&self) -> Result<Vec<String>, StoreError> {
        self.scheduler_uuids(
            "SELECT uuid FROM runs WHERE finished_at IS NULL AND is_managed = 1 \
             AND pending IS NULL AND executor != ?1 AND NOT (pipeline_uuid IS NOT NULL \
             AND status IN ('created', 'compiled')) ORDER BY id",
        )
        .await
    }

    async fn cached_run(
        &self,
        owner: &str,
        project: &str,
        key: &str,
        since: Option<Timestamp>,
    ) -> Result<Option<Run>, StoreError> {
        let (owner, project, key) = (owner.to_owned(), project.to_owned(), key.to_owned());
        self.read(move |connection, settings| {
            let project_id = project_id(connection, &owner, &project)?;
            let id: Option<i64> = connection
                .query_row(
                    "SELECT id FROM runs WHERE cache_key = ?1 AND project_id = ?2 \
                     AND status = 'succeeded' AND finished_at >= ?3 \
                     ORDER BY finished_at DESC LIMIT 1",
                    params![
                        key,
                        project_id,
                        since.map_or(i64::MIN, Timestamp::as_micros)
                    ],
                    |row| row.get(0),
                )
                .optional()?;
            let Some(id) = id else {
                return Ok(None);
            };
            Ok(load_run(connection, settings, "runs.id = ?1", &[&id])?.map(|stored| stored.run))
        })
        .await
    }

    async fn active_pipelines(&self) -> Result<Vec<String>, StoreError> {
        self.scheduler_uuids(
            "SELECT uuid FROM runs WHERE finished_at IS NULL AND executor = ?1 ORDER BY id",
        )
        .await
    }

    async fn pipeline_children(&self, uuid: &str) -> Result<Vec<PipelineChild>, StoreError> {
        let uuid = uuid.to_owned();
        self.read(move |connection, _| {
            let mut statement = connection.prepare_cached(
                "SELECT pipeline_index, uuid, status, schedule_at FROM runs \
                 WHERE pipeline_uuid = ?1 \
                 ORDER BY pipeline_index",
            )?;
            let children = statement
                .query_map([&uuid], |row| {
                    let status: String = row.get(2)?;
                    Ok(PipelineChild {
                        index: row.get(0)?,
                        uuid: row.get(1)?,
                        status: Status::parse(&status).unwrap_or(Status::Unknown),
                        due_at: row.get::<_, Option<i64>>(3)?.map(Timestamp::from_micros),
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(children)
        })
        .await
    }
}
