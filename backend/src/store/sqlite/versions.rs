//! Project versions: components' Polyaxonfiles, models and artifacts, with their stages.

use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};
use shared::api::{ProjectVersion, ProjectVersionBody};
use shared::time::Timestamp;

use super::{json_column, project_id, to_text};
use crate::clock;
use crate::store::{StoreError, VersionChange, VersionKey};

const COLUMNS: &str = "v.uuid, v.name, v.description, v.tags, p.owner, p.name, v.kind, \
     v.content, v.readme, v.run_uuid, v.artifacts, v.meta_info, v.stage, v.stage_conditions, \
     v.state, v.created_at, v.updated_at";

fn from_row(row: &Row<'_>) -> rusqlite::Result<ProjectVersion> {
    Ok(ProjectVersion {
        uuid: row.get(0)?,
        name: row.get(1)?,
        description: row.get(2)?,
        tags: json_column(row, 3)?,
        owner: row.get(4)?,
        project: row.get(5)?,
        user: None,
        kind: row.get(6)?,
        content: row.get(7)?,
        readme: row.get(8)?,
        run: row.get(9)?,
        artifacts: json_column(row, 10)?,
        meta_info: json_column(row, 11)?,
        stage: row.get(12)?,
        stage_conditions: json_column(row, 13)?,
        state: row.get(14)?,
        created_at: Timestamp::from_micros(row.get(15)?),
        updated_at: Timestamp::from_micros(row.get(16)?),
    })
}

fn not_found(key: &VersionKey) -> StoreError {
    StoreError::NotFound(format!(
        "no {} version `{}` in project `{}/{}`",
        key.kind, key.name, key.owner, key.project
    ))
}

pub(super) fn load(
    connection: &Connection,
    key: &VersionKey,
) -> Result<ProjectVersion, StoreError> {
    let project_id = project_id(connection, &key.owner, &key.project)?;
    connection
        .query_row(
            &format!(
                "SELECT {COLUMNS} FROM project_versions v JOIN projects p ON p.id = v.project_id \
                 WHERE v.project_id = ?1 AND v.kind = ?2 AND v.name = ?3"
            ),
            params![project_id, key.kind, key.name],
            from_row,
        )
        .optional()?
        .ok_or_else(|| not_found(key))
}

pub(super) fn create(
    transaction: &Transaction<'_>,
    key: &VersionKey,
    body: ProjectVersionBody,
    state: Option<String>,
) -> Result<ProjectVersion, StoreError> {
    let project_id = project_id(transaction, &key.owner, &key.project)?;
    let now = clock::now().as_micros();
    let inserted = transaction.execute(
        "INSERT INTO project_versions (uuid, project_id, kind, name, description, tags, content, \
         readme, run_uuid, artifacts, meta_info, state, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13) \
         ON CONFLICT (project_id, kind, name) DO NOTHING",
        params![
            clock::new_uuid(),
            project_id,
            key.kind,
            key.name,
            body.description,
            to_text(&body.tags.unwrap_or_default())?,
            body.content,
            body.readme,
            body.run,
            to_text(&body.artifacts.unwrap_or_default())?,
            to_text(&body.meta_info.unwrap_or_default())?,
            state,
            now,
        ],
    )?;
    if inserted == 0 {
        return Err(StoreError::Conflict(format!(
            "A version with name {} already exists on the requested project.",
            key.name
        )));
    }
    load(transaction, key)
}

pub(super) fn change(
    transaction: &Transaction<'_>,
    key: &VersionKey,
    change: VersionChange,
) -> Result<ProjectVersion, StoreError> {
    let version = load(transaction, key)?;
    let now = clock::now().as_micros();
    let mut current = key.clone();
    match change {
        VersionChange::Fields(body, state) => {
            let name = body.name.clone().unwrap_or(version.name);
            transaction
                .execute(
                    "UPDATE project_versions SET name = ?1, description = ?2, tags = ?3, \
                     content = ?4, readme = ?5, run_uuid = ?6, artifacts = ?7, meta_info = ?8, \
                     state = ?9, updated_at = ?10 WHERE uuid = ?11",
                    params![
                        name,
                        body.description.or(version.description),
                        to_text(&body.tags.unwrap_or(version.tags))?,
                        body.content.or(version.content),
                        body.readme.or(version.readme),
                        body.run.or(version.run),
                        to_text(&body.artifacts.unwrap_or(version.artifacts))?,
                        to_text(&body.meta_info.unwrap_or(version.meta_info))?,
                        state.or(version.state),
                        now,
                        version.uuid,
                    ],
                )
                .map_err(|error| match error.sqlite_error_code() {
                    Some(rusqlite::ErrorCode::ConstraintViolation) => {
                        StoreError::Conflict(format!(
                            "A version with name {name} already exists on the requested project."
                        ))
                    }
                    _ => error.into(),
                })?;
            current.name = name;
        }
        VersionChange::Stage(condition) => {
            let mut conditions = version.stage_conditions;
            let stage = condition.kind.clone();
            conditions.push(condition);
            transaction.execute(
                "UPDATE project_versions SET stage = ?1, stage_conditions = ?2, updated_at = ?3 \
                 WHERE uuid = ?4",
                params![stage, to_text(&conditions)?, now, version.uuid],
            )?;
        }
        VersionChange::Transfer(to_project) => {
            let to_id = project_id(transaction, &key.owner, &to_project)?;
            transaction
                .execute(
                    "UPDATE project_versions SET project_id = ?1, updated_at = ?2 WHERE uuid = ?3",
                    params![to_id, now, version.uuid],
                )
                .map_err(|error| match error.sqlite_error_code() {
                    Some(rusqlite::ErrorCode::ConstraintViolation) => {
                        StoreError::Conflict(format!(
                            "project `{to_project}` has a {} version `{}` already",
                            key.kind, key.name
                        ))
                    }
                    _ => error.into(),
                })?;
            current.project = to_project;
        }
    }
    load(transaction, &current)
}

pub(super) fn delete(transaction: &Transaction<'_>, key: &VersionKey) -> Result<(), StoreError> {
    let project_id = project_id(transaction, &key.owner, &key.project)?;
    let deleted = transaction.execute(
        "DELETE FROM project_versions WHERE project_id = ?1 AND kind = ?2 AND name = ?3",
        params![project_id, key.kind, key.name],
    )?;
    if deleted == 0 {
        return Err(not_found(key));
    }
    Ok(())
}

/// A project's versions of a kind, most recently changed first, and how many there are.
pub(super) fn list(
    connection: &Connection,
    owner: &str,
    project: &str,
    kind: &str,
    limit: i64,
    offset: i64,
) -> Result<(i64, Vec<ProjectVersion>), StoreError> {
    let project_id = project_id(connection, owner, project)?;
    let count = connection.query_row(
        "SELECT count(*) FROM project_versions WHERE project_id = ?1 AND kind = ?2",
        params![project_id, kind],
        |row| row.get(0),
    )?;
    let mut statement = connection.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM project_versions v JOIN projects p ON p.id = v.project_id \
         WHERE v.project_id = ?1 AND v.kind = ?2 ORDER BY v.updated_at DESC, v.id DESC \
         LIMIT ?3 OFFSET ?4"
    ))?;
    let versions = statement
        .query_map(params![project_id, kind, limit, offset], from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok((count, versions))
}

/// Every component version of every project that is not archived, by owner and project, oldest
/// first within a project.
pub(super) fn components(
    connection: &Connection,
    viewer: Option<&str>,
) -> Result<Vec<ProjectVersion>, StoreError> {
    let visible = match viewer {
        Some(_) => format!(" AND {}", super::people::visible("p")),
        None => String::new(),
    };
    let mut statement = connection.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM project_versions v JOIN projects p ON p.id = v.project_id \
         WHERE v.kind = 'component' AND p.archived_at IS NULL{visible} \
         ORDER BY p.owner, p.name, v.created_at, v.id"
    ))?;
    let versions = statement
        .query_map(rusqlite::params_from_iter(viewer), from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(versions)
}
