//! How a browser carries the server's token. Polyaxon's clients send `Authorization: Token …`
//! on every request, but a browser cannot put a header on a WebSocket or an `EventSource`: the
//! web app signs in once, and the token travels in an `HttpOnly`, `SameSite=Strict` cookie that
//! page scripts cannot read and other sites' pages cannot send.

use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;

use crate::people::identify;
use crate::{AppError, AppState};

/// The cookie's name.
const COOKIE: &str = "myelin_token";

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/session", post(sign_in).delete(sign_out))
}

#[derive(Debug, Deserialize)]
struct SignIn {
    token: String,
}

/// Checks the token and, when it is the server's or a person's, sets the cookie; a server
/// without a token or people needs no sign-in and says so with the same success.
async fn sign_in(
    State(state): State<AppState>,
    body: Result<Json<SignIn>, JsonRejection>,
) -> Result<Response, AppError> {
    let Json(SignIn { token }) = body?;
    let token = token.trim();
    if state.config.token.is_none() && !state.store.has_users().await? {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    // The server's token or a person's live one; each request checks it again.
    identify(&state, Some(token)).await?;
    let cookie = format!(
        "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict",
        hex(token.as_bytes())
    );
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, header_value(&cookie)?)],
    )
        .into_response())
}

async fn sign_out() -> Result<Response, AppError> {
    let cookie = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, header_value(&cookie)?)],
    )
        .into_response())
}

fn header_value(text: &str) -> Result<HeaderValue, AppError> {
    HeaderValue::from_str(text).map_err(|error| AppError::Internal(error.to_string()))
}

/// The token a request's cookie carries, if any. Hex keeps any token inside the characters a
/// cookie value may hold.
pub fn token_from_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
        .find_map(unhex)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn unhex(text: &str) -> Option<String> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let bytes = (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(text.get(at..at + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}
