//! Runs' specs packed against their component's bases (`crate::store::packed`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};

use crate::store::StoreError;
use crate::store::packed::{self, Dictionary, pack, unpack};

/// The most bases kept inflated in memory.
const CACHED_BASES: usize = 256;

/// Bases read from committed rows, inflated, by id: a base never changes once committed.
#[derive(Default, Clone)]
pub(super) struct Bases(Arc<Mutex<HashMap<i64, Arc<Vec<u8>>>>>);

impl std::fmt::Debug for Bases {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cached = self.0.lock().map_or(0, |cached| cached.len());
        write!(formatter, "Bases({cached} cached)")
    }
}

impl Bases {
    /// The base `id`'s bytes. Only what a connection outside any transaction reads is
    /// remembered: a base written by a transaction that is then rolled back leaves its id
    /// free for another.
    fn get(&self, connection: &Connection, id: i64) -> Result<Arc<Vec<u8>>, StoreError> {
        if let Some(base) = self.0.lock().expect("never poisoned").get(&id) {
            return Ok(Arc::clone(base));
        }
        let body: Vec<u8> = connection
            .query_row("SELECT body FROM spec_bases WHERE id = ?1", [id], |row| {
                row.get(0)
            })
            .optional()?
            .ok_or_else(|| {
                StoreError::Invalid(format!("a run's spec names base {id}, which is missing"))
            })?;
        let base = Arc::new(
            unpack(&body, None).map_err(|why| StoreError::Invalid(format!("base {id}: {why}")))?,
        );
        if connection.is_autocommit() {
            let mut cached = self.0.lock().expect("never poisoned");
            if cached.len() >= CACHED_BASES {
                cached.clear();
            }
            cached.insert(id, Arc::clone(&base));
        }
        Ok(base)
    }
}

/// A spec column as stored.
pub(super) enum Stored {
    Missing,
    /// Written before specs were packed.
    Text(String),
    Packed(Vec<u8>),
}

pub(super) fn column(row: &Row<'_>, index: usize) -> rusqlite::Result<Stored> {
    Ok(match row.get_ref(index)? {
        ValueRef::Null => Stored::Missing,
        ValueRef::Text(text) => Stored::Text(String::from_utf8_lossy(text).into_owned()),
        ValueRef::Blob(bytes) => Stored::Packed(bytes.to_vec()),
        ValueRef::Integer(_) | ValueRef::Real(_) => {
            return Err(rusqlite::Error::InvalidColumnType(
                index,
                "spec".to_owned(),
                rusqlite::types::Type::Integer,
            ));
        }
    })
}

/// The text a spec column holds.
pub(super) fn text(
    connection: &Connection,
    bases: &Bases,
    stored: Stored,
) -> Result<Option<String>, StoreError> {
    let packed = match stored {
        Stored::Missing => return Ok(None),
        Stored::Text(text) => return Ok(Some(text)),
        Stored::Packed(packed) => packed,
    };
    let base = packed::base_of(&packed)
        .map(|id| bases.get(connection, id))
        .transpose()?;
    let bytes = unpack(&packed, base.as_deref().map(Vec::as_slice))
        .map_err(|why| StoreError::Invalid(format!("a run's spec does not unpack: {why}")))?;
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| StoreError::Invalid("a run's spec is not UTF-8".to_owned()))
}

/// `text`, packed against the latest base of the project's runs of the same `key` for `part`;
/// when there is none, or this text has drifted from it (packed, it would not be under half
/// of its size alone), it becomes the new base.
pub(super) fn packed(
    transaction: &Transaction<'_>,
    bases: &Bases,
    project_id: i64,
    part: &str,
    key: &str,
    text: &str,
) -> Result<Vec<u8>, StoreError> {
    let alone = pack(text.as_bytes(), Dictionary::None);
    let latest: Option<i64> = transaction
        .prepare_cached(
            "SELECT id FROM spec_bases WHERE project_id = ?1 AND part = ?2 AND key = ?3 \
             ORDER BY id DESC LIMIT 1",
        )?
        .query_row(params![project_id, part, key], |row| row.get(0))
        .optional()?;
    if let Some(id) = latest {
        let base = bases.get(transaction, id)?;
        let against = pack(text.as_bytes(), Dictionary::Base(id, &base));
        if against.len() <= alone.len() / 2 {
            return Ok(against);
        }
    }
    transaction
        .prepare_cached(
            "INSERT INTO spec_bases (project_id, part, key, body) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![project_id, part, key, alone])?;
    let id = transaction.last_insert_rowid();
    Ok(pack(text.as_bytes(), Dictionary::Base(id, text.as_bytes())))
}
