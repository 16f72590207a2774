//! People and their tokens (`/api/v1/users`, as Polyaxon's clients ask who they are and manage
//! their tokens; `/api/v1/orgs/{owner}/members`, where an admin adds people and gives them
//! their first token).

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use shared::api::{ListResponse, Token, TokenBody, User, UserBody, check_username};

use crate::people::{self, Caller};
use crate::{AppError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/users", get(me))
        .route("/v1/users/tokens", get(my_tokens).post(add_my_token))
        .route("/v1/users/tokens/{uuid}", delete(revoke_my_token))
        .route("/v1/orgs/{owner}/members", get(members).post(add_member))
        .route(
            "/v1/orgs/{owner}/members/{user}/tokens",
            get(tokens_of).post(add_token_of),
        )
        .route(
            "/v1/orgs/{owner}/members/{user}/tokens/{uuid}",
            delete(revoke_token_of),
        )
}

/// Who the caller is; the server's token is its admin's, and a server without people answers
/// as Polyaxon CE does, for its one `default` user.
async fn me(caller: Caller) -> Json<User> {
    Json(match caller {
        Caller::Person(user) => user,
        Caller::Server => admin("admin"),
        Caller::Anyone => admin("default"),
    })
}

fn admin(name: &str) -> User {
    User {
        username: name.to_owned(),
        email: None,
        role: "admin".to_owned(),
        created_at: None,
    }
}

/// The person the caller is; the server's token belongs to no one.
fn person(caller: &Caller) -> Result<String, AppError> {
    caller.user().ok_or_else(|| {
        AppError::BadRequest(
            "this token is the server's own, not a person's: tokens belong to people an admin \
             added (`myelin users add NAME`)"
                .to_owned(),
        )
    })
}

fn only_admins(caller: &Caller) -> Result<(), AppError> {
    if caller.is_admin() {
        return Ok(());
    }
    Err(AppError::Forbidden(
        "only an admin may manage people and their tokens".to_owned(),
    ))
}

fn listed<T>(results: Vec<T>) -> Json<ListResponse<T>> {
    Json(ListResponse {
        count: results.len() as u64,
        results,
        previous: None,
        next: None,
    })
}

async fn my_tokens(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<ListResponse<Token>>, AppError> {
    Ok(listed(state.store.tokens(&person(&caller)?).await?))
}

async fn add_my_token(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<TokenBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Token>), AppError> {
    let Json(body) = body?;
    make_token(&state, &person(&caller)?, body).await
}

async fn revoke_my_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(uuid): Path<String>,
) -> Result<Json<Token>, AppError> {
    Ok(Json(
        state.store.revoke_token(&person(&caller)?, &uuid).await?,
    ))
}

async fn members(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<ListResponse<User>>, AppError> {
    only_admins(&caller)?;
    Ok(listed(state.store.users().await?))
}

async fn add_member(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<UserBody>, JsonRejection>,
) -> Result<(StatusCode, Json<User>), AppError> {
    only_admins(&caller)?;
    let Json(body) = body?;
    check_username(&body.username).map_err(AppError::BadRequest)?;
    let admin = match body.role.as_deref() {
        None | Some("member") => false,
        Some("admin") => true,
        Some(other) => {
            return Err(AppError::BadRequest(format!(
                "`role` is `admin` or `member`, not `{other}`"
            )));
        }
    };
    let user = state.store.add_user(&body.username, admin).await?;
    Ok((StatusCode::CREATED, Json(user)))
}

async fn tokens_of(
    State(state): State<AppState>,
    caller: Caller,
    Path((_owner, user)): Path<(String, String)>,
) -> Result<Json<ListResponse<Token>>, AppError> {
    only_admins(&caller)?;
    Ok(listed(state.store.tokens(&user).await?))
}

async fn add_token_of(
    State(state): State<AppState>,
    caller: Caller,
    Path((_owner, user)): Path<(String, String)>,
    body: Result<Json<TokenBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Token>), AppError> {
    only_admins(&caller)?;
    let Json(body) = body?;
    make_token(&state, &user, body).await
}

async fn revoke_token_of(
    State(state): State<AppState>,
    caller: Caller,
    Path((_owner, user, uuid)): Path<(String, String, String)>,
) -> Result<Json<Token>, AppError> {
    only_admins(&caller)?;
    Ok(Json(state.store.revoke_token(&user, &uuid).await?))
}

/// Makes a token for `user`; its secret is in this answer alone.
async fn make_token(
    state: &AppState,
    user: &str,
    body: TokenBody,
) -> Result<(StatusCode, Json<Token>), AppError> {
    let (token, secret) = people::add_token(state.store.as_ref(), user, body).await?;
    Ok((
        StatusCode::CREATED,
        Json(Token {
            key: Some(secret),
            ..token
        }),
    ))
}
