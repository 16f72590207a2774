//! People and their tokens: who is calling, who made a run or a project, and who may see a
//! project. Polyaxon's shapes where it has them (`V1User`, `V1Token`).

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// A person who uses the server (`V1User`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// Unique; what runs and projects record as their maker.
    pub username: String,
    /// Polyaxon's field; Myelin keeps no addresses.
    #[serde(default)]
    pub email: Option<String>,
    /// `admin` (adds people, sees and changes every project) or `member`.
    pub role: String,
    /// When they were added.
    #[serde(default)]
    pub created_at: Option<Timestamp>,
}

/// A person to add.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserBody {
    /// Letters, digits, `-`, `_` and `.`.
    pub username: String,
    /// `admin` or `member` (the default).
    #[serde(default)]
    pub role: Option<String>,
}

/// A personal access token (`V1Token`). Its secret (`key`) is shown once, when it is made: the
/// server keeps only a hash of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Token {
    /// 32 hex digits: how the token is named in the API.
    pub uuid: String,
    /// What its owner calls it.
    pub name: String,
    /// The secret, only in the answer that made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Whose it is.
    pub user: String,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it stops being taken, if ever.
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
    /// When it was revoked, if it was.
    #[serde(default)]
    pub revoked_at: Option<Timestamp>,
}

/// A token to make.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TokenBody {
    /// What to call it.
    #[serde(default)]
    pub name: Option<String>,
    /// When it stops being taken; never when unset.
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
}

/// The longest a user name may be.
pub const MAX_USERNAME: usize = 64;

/// Whether `name` may name a person: 1 to [`MAX_USERNAME`] letters, digits, `-`, `_` and `.`,
/// not starting with `.` or `-`; an error saying why not.
pub fn check_username(name: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if name.is_empty() || name.len() > MAX_USERNAME {
        return Err(format!(
            "a user name has 1 to {MAX_USERNAME} characters, not {}",
            name.len()
        ));
    }
    if let Some(bad) = name.chars().find(|c| !allowed(*c)) {
        return Err(format!(
            "`{name}` may not name a user: `{bad}` is not a letter, digit, `-`, `_` or `.`"
        ));
    }
    if name.starts_with(['.', '-']) {
        return Err(format!(
            "`{name}` may not name a user: it starts with `{}`",
            &name[..1]
        ));
    }
    Ok(())
}
