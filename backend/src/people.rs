//! Who is calling. A request carries a token (`Authorization: Token …`, as Polyaxon's clients
//! send it, or the web app's cookie): the server's own (`--token`, the admin's), or a person's
//! personal access token, of which the store keeps only a SHA-256. A server with neither a
//! token nor people answers anyone, as on a laptop; once it has either, every request needs
//! one.
//!
//! A project whose members are listed is seen by them and by admins alone: to everyone else
//! every route that names it answers as if it did not exist (`hide_projects`), and lists
//! across projects leave its runs out.

use std::collections::HashMap;

use axum::extract::{FromRequestParts, RawPathParams, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};
use shared::api::{Project, Token, TokenBody, User};

use crate::store::{NewToken, Store, StoreError};
use crate::{AppError, AppState, clock};

/// The prefix of a personal access token: a leaked one is easy to search for.
const TOKEN_PREFIX: &str = "myl_";

/// Who made a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Caller {
    /// Anyone: the server has neither a token nor people.
    Anyone,
    /// The holder of the server's own token: its admin.
    Server,
    /// A person, by their token.
    Person(User),
}

impl Caller {
    /// The name runs and projects record as their maker.
    pub fn user(&self) -> Option<String> {
        match self {
            Caller::Person(user) => Some(user.username.clone()),
            Caller::Anyone | Caller::Server => None,
        }
    }

    /// Whether they may see every project and add people.
    pub fn is_admin(&self) -> bool {
        match self {
            Caller::Person(user) => user.role == "admin",
            Caller::Anyone | Caller::Server => true,
        }
    }

    /// The person whose view lists are limited to, `None` for one who sees every project.
    pub fn viewer(&self) -> Option<&str> {
        match self {
            Caller::Person(user) if !self.is_admin() => Some(&user.username),
            _ => None,
        }
    }

    /// Whether they see `project`.
    pub fn sees(&self, project: &Project) -> bool {
        self.viewer().is_none_or(|name| {
            project.members.is_empty() || project.members.iter().any(|m| m == name)
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            AppError::Internal(
                "a route that needs its caller is not behind `authenticate`".to_owned(),
            )
        })
    }
}

/// A new token's secret: the prefix and 32 random bytes in hex.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the system has a source of randomness");
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("{TOKEN_PREFIX}{hex}")
}

/// What the store keeps of a secret.
pub fn hash(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The token a request carries: `Authorization: Token …` (or `Bearer …`), else the web app's
/// cookie.
pub fn given_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            value
                .strip_prefix("Token ")
                .or_else(|| value.strip_prefix("Bearer "))
        })
        .map(|token| token.trim().to_owned())
        .or_else(|| crate::routes::session::token_from_cookie(headers))
}

/// Who `given` makes the caller: the server's token, a person's live token, or (on a server
/// with neither a token nor people) anyone. A missing, unknown, revoked or expired token is
/// refused, saying which.
pub async fn identify(state: &AppState, given: Option<&str>) -> Result<Caller, AppError> {
    let server = state.config.token.as_deref();
    let Some(given) = given else {
        if server.is_none() && !state.store.has_users().await? {
            return Ok(Caller::Anyone);
        }
        return Err(AppError::Unauthorized(
            "this server requires a token: send `Authorization: Token <token>` \
             (for the polyaxon CLI, set POLYAXON_AUTH_TOKEN)"
                .to_owned(),
        ));
    };
    if server.is_some_and(|server| constant_time_eq(given.as_bytes(), server.as_bytes())) {
        return Ok(Caller::Server);
    }
    let refused = || AppError::Unauthorized("the token is not this server's".to_owned());
    // Only the server's own token may be anything; a person's has the prefix.
    if !given.starts_with(TOKEN_PREFIX) {
        return Err(refused());
    }
    let Some((user, token)) = state.store.token_by_hash(&hash(given)).await? else {
        return Err(refused());
    };
    check_live(&token)?;
    Ok(Caller::Person(user))
}

/// Refuses a revoked or expired token, naming it.
fn check_live(token: &Token) -> Result<(), AppError> {
    if let Some(at) = token.revoked_at {
        return Err(AppError::Unauthorized(format!(
            "the token `{}` of {} was revoked at {at}",
            token.name, token.user
        )));
    }
    if let Some(at) = token.expires_at.filter(|at| *at <= clock::now()) {
        return Err(AppError::Unauthorized(format!(
            "the token `{}` of {} expired at {at}",
            token.name, token.user
        )));
    }
    Ok(())
}

/// Compares without returning at the first difference, so timing tells nothing of the token.
pub fn constant_time_eq(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0, |difference, (a, b)| difference | (a ^ b))
            == 0
}

/// The middleware in front of every route but health, sign-in and the public registry: it
/// names the caller for the handlers, and hides the projects they may not see.
pub async fn authenticate(
    State(state): State<AppState>,
    params: RawPathParams,
    mut request: Request,
    next: Next,
) -> Result<Response, AppError> {
    let caller = identify(&state, given_token(request.headers()).as_deref()).await?;
    hide_projects(&state, &caller, &params).await?;
    request.extensions_mut().insert(caller);
    Ok(next.run(request).await)
}

/// Every route whose path names a project (`{owner}` and `{project}`) answers a caller who may
/// not see it as it answers for a project that does not exist: the rule is the path's, so a
/// route added later is covered too.
async fn hide_projects(
    state: &AppState,
    caller: &Caller,
    params: &RawPathParams,
) -> Result<(), AppError> {
    if caller.viewer().is_none() {
        return Ok(());
    }
    let params: HashMap<&str, &str> = params.iter().collect();
    let (Some(owner), Some(name)) = (params.get("owner"), params.get("project")) else {
        return Ok(());
    };
    match state.store.project(owner, name).await {
        Ok(project) if !caller.sees(&project) => Err(AppError::NotFound(format!(
            "no project `{name}` for owner `{owner}`"
        ))),
        Ok(_) | Err(StoreError::NotFound(_)) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// Records a new token of `user` from what `body` asks: the token as listed, and its secret,
/// which nothing keeps.
pub async fn add_token(
    store: &dyn Store,
    user: &str,
    body: TokenBody,
) -> Result<(Token, String), AppError> {
    let now = clock::now();
    if body.expires_at.is_some_and(|at| at <= now) {
        return Err(AppError::BadRequest(
            "`expires_at` is in the past: the token would never be taken".to_owned(),
        ));
    }
    let name = body.name.unwrap_or_else(|| "token".to_owned());
    if name.is_empty() || name.len() > 128 {
        return Err(AppError::BadRequest(
            "a token's `name` has 1 to 128 characters".to_owned(),
        ));
    }
    let secret = new_secret();
    let token = store
        .add_token(
            user,
            NewToken {
                uuid: clock::new_uuid(),
                name,
                hash: hash(&secret),
                created_at: now,
                expires_at: body.expires_at,
            },
        )
        .await?;
    Ok((token, secret))
}
