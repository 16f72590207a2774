//! What runs' series come to (`run_metrics`): recorded as their event files grow, read for the
//! runs a list shows and for the names a chart offers.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};
use shared::api::{MetricKind, MetricSummary, Run, Status};
use shared::time::Timestamp;

use crate::store::{MetricsRecord, RunMetrics, RunPlace, StoreError};

/// The columns [`summary_from_row`] reads, after the name.
const SUMMARY_COLUMNS: &str = "count, non_finite, last, min, max, first_step, last_step, \
     first_time, last_time";

/// A summary from [`SUMMARY_COLUMNS`] starting at `first`.
fn summary_from_row(row: &Row<'_>, first: usize) -> rusqlite::Result<MetricSummary> {
    let time = |index: usize| -> rusqlite::Result<Option<Timestamp>> {
        Ok(row
            .get::<_, Option<i64>>(first + index)?
            .map(Timestamp::from_micros))
    };
    Ok(MetricSummary {
        count: row.get::<_, i64>(first)?.try_into().unwrap_or_default(),
        non_finite: row.get::<_, i64>(first + 1)?.try_into().unwrap_or_default(),
        last: row.get(first + 2)?,
        min: row.get(first + 3)?,
        max: row.get(first + 4)?,
        first_step: row.get(first + 5)?,
        last_step: row.get(first + 6)?,
        first_time: time(7)?,
        last_time: time(8)?,
    })
}

/// A count as SQLite keeps integers.
fn count(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

pub(super) fn record(
    transaction: &Transaction<'_>,
    records: &[MetricsRecord],
) -> Result<Vec<RunPlace>, StoreError> {
    let mut run = transaction.prepare_cached(
        "SELECT runs.id, projects.owner, projects.name, runs.status FROM runs \
         JOIN projects ON projects.id = runs.project_id WHERE runs.uuid = ?1",
    )?;
    // A summary the same as the one recorded is left alone, so that a run whose files were
    // read again (after a restart) is not told as changed.
    let columns = SUMMARY_COLUMNS.split(", ");
    let set: Vec<String> = columns
        .clone()
        .map(|column| format!("{column} = excluded.{column}"))
        .collect();
    let old: Vec<String> = columns
        .clone()
        .map(|column| format!("run_metrics.{column}"))
        .collect();
    let new: Vec<String> = columns.map(|column| format!("excluded.{column}")).collect();
    let mut upsert = transaction.prepare_cached(&format!(
        "INSERT INTO run_metrics (run_id, kind, name, project_id, {SUMMARY_COLUMNS}) \
         VALUES (?1, ?2, ?3, (SELECT project_id FROM runs WHERE id = ?1), \
         ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
         ON CONFLICT (run_id, kind, name) DO UPDATE SET {} WHERE ({}) IS NOT ({})",
        set.join(", "),
        old.join(", "),
        new.join(", ")
    ))?;
    let mut changed = Vec::new();
    for record in records {
        let found = run
            .query_row(params![record.uuid], |row| {
                let status: String = row.get(3)?;
                Ok((
                    row.get::<_, i64>(0)?,
                    RunPlace {
                        uuid: record.uuid.clone(),
                        owner: row.get(1)?,
                        project: row.get(2)?,
                        status: Status::parse(&status).unwrap_or(Status::Unknown),
                    },
                ))
            })
            .optional()?;
        let Some((run_id, place)) = found else {
            continue;
        };
        let mut written = 0;
        for (name, summary) in &record.summaries {
            // SQLite keeps a NaN as NULL; an infinite last value is no more use to a filter.
            let last = summary.last.filter(|last| last.is_finite());
            written += upsert.execute(params![
                run_id,
                record.kind.as_str(),
                name,
                count(summary.count),
                count(summary.non_finite),
                last,
                summary.min,
                summary.max,
                summary.first_step,
                summary.last_step,
                summary.first_time.map(Timestamp::as_micros),
                summary.last_time.map(Timestamp::as_micros),
            ])?;
        }
        if written > 0 {
            changed.push(place);
        }
    }
    Ok(changed)
}

pub(super) fn summaries(
    connection: &Connection,
    uuids: &[String],
    kind: MetricKind,
) -> Result<BTreeMap<String, RunMetrics>, StoreError> {
    let mut status = connection.prepare_cached("SELECT status FROM runs WHERE uuid = ?1")?;
    let mut found = BTreeMap::new();
    for uuid in uuids {
        let Some(status) = status
            .query_row(params![uuid], |row| row.get::<_, String>(0))
            .optional()?
        else {
            continue;
        };
        found.insert(
            uuid.clone(),
            RunMetrics {
                status: Status::parse(&status).unwrap_or(Status::Unknown),
                summaries: of_run(connection, uuid, kind)?,
            },
        );
    }
    Ok(found)
}

/// The summaries of one run's series of `kind`, by name: a range of the table's key.
fn of_run(
    connection: &Connection,
    uuid: &str,
    kind: MetricKind,
) -> Result<BTreeMap<String, MetricSummary>, StoreError> {
    let mut statement = connection.prepare_cached(&format!(
        "SELECT name, {SUMMARY_COLUMNS} FROM run_metrics \
         WHERE run_id = (SELECT id FROM runs WHERE uuid = ?1) AND kind = ?2"
    ))?;
    let summaries = statement
        .query_map(params![uuid, kind.as_str()], |row| {
            Ok((row.get(0)?, summary_from_row(row, 1)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(summaries)
}

/// Gives each run of a list the summaries of its logged metrics.
pub(super) fn attach(connection: &Connection, runs: &mut [Run]) -> Result<(), StoreError> {
    for run in runs {
        let summaries = of_run(connection, &run.uuid, MetricKind::Metric)?;
        run.metrics = (!summaries.is_empty()).then_some(summaries);
    }
    Ok(())
}
