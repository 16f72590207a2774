//! What ties runs to artifacts and to each other: lineage across a project, the edges people
//! draw between runs, and the runs cloned from a run.

use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};
use serde_json::json;
use shared::api::{
    EdgeBody, LineageArtifact, RunClone, RunEdge, RunLineageArtifact, RunRef, Status,
};

use super::{optional_json_column, to_text};
use crate::store::{Link, StoreError};

fn run_id(connection: &Connection, uuid: &str) -> Result<i64, StoreError> {
    connection
        .query_row(
            "SELECT id FROM runs WHERE uuid = ?1",
            params![uuid],
            |row| row.get(0),
        )
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("no run `{uuid}`")))
}

pub(super) fn delete_lineage(
    transaction: &Transaction<'_>,
    uuid: &str,
    name: &str,
) -> Result<bool, StoreError> {
    let run_id = run_id(transaction, uuid)?;
    let deleted = transaction.execute(
        "DELETE FROM run_lineage WHERE run_id = ?1 AND name = ?2",
        params![run_id, name],
    )?;
    Ok(deleted > 0)
}

/// A lineage row from `name, kind, path, summary, is_input` at `first`.
pub(super) fn artifact_from_row(row: &Row<'_>, first: usize) -> rusqlite::Result<LineageArtifact> {
    Ok(LineageArtifact {
        name: row.get(first)?,
        kind: row.get(first + 1)?,
        path: row.get(first + 2)?,
        summary: optional_json_column(row, first + 3)?,
        is_input: Some(row.get(first + 4)?),
    })
}

pub(super) fn project_lineage(
    connection: &Connection,
    project_id: i64,
    limit: i64,
    offset: i64,
) -> Result<(i64, Vec<RunLineageArtifact>), StoreError> {
    let count = connection.query_row(
        "SELECT count(*) FROM run_lineage JOIN runs ON runs.id = run_lineage.run_id \
         WHERE runs.project_id = ?1 AND runs.archived_at IS NULL",
        params![project_id],
        |row| row.get(0),
    )?;
    let mut statement = connection.prepare_cached(
        "SELECT run_lineage.name, run_lineage.kind, run_lineage.path, run_lineage.summary, \
         run_lineage.is_input, runs.uuid, runs.name FROM run_lineage \
         JOIN runs ON runs.id = run_lineage.run_id \
         WHERE runs.project_id = ?1 AND runs.archived_at IS NULL \
         ORDER BY runs.created_at DESC, runs.id DESC, run_lineage.created_at, run_lineage.name \
         LIMIT ?2 OFFSET ?3",
    )?;
    let results = statement
        .query_map(params![project_id, limit, offset], |row| {
            let uuid: String = row.get(5)?;
            let name: Option<String> = row.get(6)?;
            Ok(RunLineageArtifact {
                artifact: artifact_from_row(row, 0)?,
                meta_info: json!({"run": {"name": name, "uuid": uuid}}),
                run: uuid,
                state: None,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok((count, results))
}

pub(super) fn set_edges(
    transaction: &Transaction<'_>,
    uuid: &str,
    edges: &[EdgeBody],
) -> Result<(), StoreError> {
    let this = run_id(transaction, uuid)?;
    transaction.execute(
        "DELETE FROM run_edges WHERE upstream_id = ?1 OR downstream_id = ?1",
        params![this],
    )?;
    let mut insert = transaction.prepare_cached(
        "INSERT OR REPLACE INTO run_edges (upstream_id, downstream_id, kind, edge_values) \
         VALUES (?1, ?2, 'manual', ?3)",
    )?;
    for (index, edge) in edges.iter().enumerate() {
        let other = edge.uuid.replace('-', "").to_ascii_lowercase();
        if other == uuid {
            return Err(StoreError::Invalid(format!(
                "edges[{index}]: a run cannot be its own upstream or downstream"
            )));
        }
        let other = run_id(transaction, &other)
            .map_err(|_| StoreError::Invalid(format!("edges[{index}]: no run `{}`", edge.uuid)))?;
        let (upstream, downstream) = if edge.is_upstream {
            (other, this)
        } else {
            (this, other)
        };
        let values = edge.values.as_ref().map(to_text).transpose()?;
        insert.execute(params![upstream, downstream, values])?;
    }
    Ok(())
}

pub(super) fn edges(
    connection: &Connection,
    uuid: &str,
    link: Link,
) -> Result<Vec<RunEdge>, StoreError> {
    let this = run_id(connection, uuid)?;
    let (other, this_end) = match link {
        Link::Upstream => ("upstream_id", "downstream_id"),
        Link::Downstream => ("downstream_id", "upstream_id"),
    };
    let mut statement = connection.prepare_cached(&format!(
        "SELECT e.edge_values, e.kind, e.statuses, r.uuid, r.name, r.kind, r.runtime \
         FROM run_edges e JOIN runs r ON r.id = e.{other} WHERE e.{this_end} = ?1 \
         ORDER BY r.id"
    ))?;
    let edges = statement
        .query_map(params![this], |row| {
            let end = RunRef {
                uuid: row.get(3)?,
                name: row.get(4)?,
                kind: row.get(5)?,
                runtime: row.get(6)?,
            };
            let (upstream, downstream) = match link {
                Link::Upstream => (Some(end), None),
                Link::Downstream => (None, Some(end)),
            };
            Ok(RunEdge {
                values: optional_json_column(row, 0)?,
                kind: row.get(1)?,
                statuses: optional_json_column(row, 2)?,
                upstream,
                downstream,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(edges)
}

pub(super) fn clones(connection: &Connection, uuid: &str) -> Result<Vec<RunClone>, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT uuid, name, kind, status, runtime, cloning_kind FROM runs \
         WHERE original_uuid = ?1 AND archived_at IS NULL ORDER BY id",
    )?;
    let clones = statement
        .query_map(params![uuid], |row| {
            let status: String = row.get(3)?;
            Ok(RunClone {
                uuid: row.get(0)?,
                name: row.get(1)?,
                kind: row.get(2)?,
                status: Status::parse(&status).unwrap_or(Status::Unknown),
                runtime: row.get(4)?,
                cloning_kind: row.get::<_, Option<String>>(5)?.unwrap_or_default(),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(clones)
}
