//! People, their tokens and the members projects are limited to.

use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};
use shared::api::{Token, User};
use shared::time::Timestamp;

use super::project_id;
use crate::store::{NewToken, StoreError};

/// A user from `name, is_admin, created_at` at `first`.
fn user_at(row: &Row<'_>, first: usize) -> rusqlite::Result<User> {
    Ok(User {
        username: row.get(first)?,
        email: None,
        role: if row.get::<_, bool>(first + 1)? {
            "admin".to_owned()
        } else {
            "member".to_owned()
        },
        created_at: Some(Timestamp::from_micros(row.get(first + 2)?)),
    })
}

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<User> {
    user_at(row, 0)
}

const TOKEN_COLUMNS: &str =
    "tokens.uuid, tokens.name, users.name, tokens.created_at, tokens.expires_at, tokens.revoked_at";

fn token_from_row(row: &Row<'_>) -> rusqlite::Result<Token> {
    Ok(Token {
        uuid: row.get(0)?,
        name: row.get(1)?,
        key: None,
        user: row.get(2)?,
        created_at: Timestamp::from_micros(row.get(3)?),
        expires_at: row.get::<_, Option<i64>>(4)?.map(Timestamp::from_micros),
        revoked_at: row.get::<_, Option<i64>>(5)?.map(Timestamp::from_micros),
    })
}

fn user_id(connection: &Connection, name: &str) -> Result<i64, StoreError> {
    connection
        .query_row("SELECT id FROM users WHERE name = ?1", [name], |row| {
            row.get(0)
        })
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("no user `{name}`")))
}

pub(super) fn add_user(
    transaction: &Transaction<'_>,
    name: &str,
    admin: bool,
    now: Timestamp,
) -> Result<User, StoreError> {
    let taken = transaction
        .query_row("SELECT 1 FROM users WHERE name = ?1", [name], |_| Ok(()))
        .optional()?
        .is_some();
    if taken {
        return Err(StoreError::Conflict(format!(
            "a user named `{name}` exists already"
        )));
    }
    transaction.execute(
        "INSERT INTO users (name, is_admin, created_at) VALUES (?1, ?2, ?3)",
        params![name, admin, now.as_micros()],
    )?;
    user(transaction, name)
}

pub(super) fn user(connection: &Connection, name: &str) -> Result<User, StoreError> {
    connection
        .query_row(
            "SELECT name, is_admin, created_at FROM users WHERE name = ?1",
            [name],
            user_from_row,
        )
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("no user `{name}`")))
}

pub(super) fn users(connection: &Connection) -> Result<Vec<User>, StoreError> {
    let mut statement =
        connection.prepare_cached("SELECT name, is_admin, created_at FROM users ORDER BY name")?;
    let users = statement
        .query_map([], user_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(users)
}

pub(super) fn has_users(connection: &Connection) -> Result<bool, StoreError> {
    Ok(connection.query_row("SELECT EXISTS (SELECT 1 FROM users)", [], |row| row.get(0))?)
}

pub(super) fn add_token(
    transaction: &Transaction<'_>,
    user: &str,
    token: &NewToken,
) -> Result<Token, StoreError> {
    let user_id = user_id(transaction, user)?;
    transaction.execute(
        "INSERT INTO tokens (uuid, user_id, name, hash, created_at, expires_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            token.uuid,
            user_id,
            token.name,
            token.hash,
            token.created_at.as_micros(),
            token.expires_at.map(Timestamp::as_micros)
        ],
    )?;
    load_token(transaction, user, &token.uuid)
}

fn load_token(connection: &Connection, user: &str, uuid: &str) -> Result<Token, StoreError> {
    connection
        .query_row(
            &format!(
                "SELECT {TOKEN_COLUMNS} FROM tokens JOIN users ON users.id = tokens.user_id \
                 WHERE users.name = ?1 AND tokens.uuid = ?2"
            ),
            params![user, uuid],
            token_from_row,
        )
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("no token `{uuid}` of `{user}`")))
}

pub(super) fn tokens(connection: &Connection, user: &str) -> Result<Vec<Token>, StoreError> {
    let user_id = user_id(connection, user)?;
    let mut statement = connection.prepare_cached(&format!(
        "SELECT {TOKEN_COLUMNS} FROM tokens JOIN users ON users.id = tokens.user_id \
         WHERE tokens.user_id = ?1 ORDER BY tokens.created_at, tokens.id"
    ))?;
    let tokens = statement
        .query_map([user_id], token_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(tokens)
}

pub(super) fn revoke_token(
    transaction: &Transaction<'_>,
    user: &str,
    uuid: &str,
    now: Timestamp,
) -> Result<Token, StoreError> {
    let token = load_token(transaction, user, uuid)?;
    if token.revoked_at.is_none() {
        transaction.execute(
            "UPDATE tokens SET revoked_at = ?1 WHERE uuid = ?2",
            params![now.as_micros(), uuid],
        )?;
    }
    load_token(transaction, user, uuid)
}

pub(super) fn token_by_hash(
    connection: &Connection,
    hash: &str,
) -> Result<Option<(User, Token)>, StoreError> {
    let found = connection
        .query_row(
            &format!(
                "SELECT {TOKEN_COLUMNS}, users.name, users.is_admin, users.created_at \
                 FROM tokens JOIN users ON users.id = tokens.user_id WHERE tokens.hash = ?1"
            ),
            [hash],
            |row| Ok((user_at(row, 6)?, token_from_row(row)?)),
        )
        .optional()?;
    Ok(found)
}

/// Limits a project to `members` (each must be a user), or opens it when there are none.
pub(super) fn set_members(
    transaction: &Transaction<'_>,
    owner: &str,
    project: &str,
    members: &[String],
) -> Result<(), StoreError> {
    let project_id = project_id(transaction, owner, project)?;
    for member in members {
        user_id(transaction, member)?;
    }
    transaction.execute(
        "DELETE FROM project_members WHERE project_id = ?1",
        [project_id],
    )?;
    for member in members {
        transaction.execute(
            "INSERT OR IGNORE INTO project_members (project_id, user_name) VALUES (?1, ?2)",
            params![project_id, member],
        )?;
    }
    Ok(())
}

/// The SQL that keeps to the projects (`{table}.id` in scope) a viewer (`?`) sees: those
/// open to the team and those they are a member of.
pub(super) fn visible(table: &str) -> String {
    format!(
        "(NOT EXISTS (SELECT 1 FROM project_members m WHERE m.project_id = {table}.id) \
         OR EXISTS (SELECT 1 FROM project_members m WHERE m.project_id = {table}.id \
         AND m.user_name = ?))"
    )
}
