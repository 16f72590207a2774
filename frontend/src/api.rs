//! The only module that talks to the server. Every call returns `shared::api` types, so the
//! browser and the server cannot disagree about a shape without the compiler noticing.

use std::fmt;

use gloo_net::http::{Request, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use shared::api::{
    DEFAULT_OWNER, ErrorBody, HEALTH_PATH, Health, ListResponse, Project, ProjectBody,
};

/// Why a call to the server failed.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// The server could not be reached, or its answer could not be read.
    Network(String),
    /// The server answered with an error status.
    Status {
        /// The HTTP status code.
        code: u16,
        /// The server's explanation.
        message: String,
    },
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Network(reason) => write!(f, "cannot reach the server: {reason}"),
            ApiError::Status { code, message } => {
                write!(f, "the server answered {code}: {message}")
            }
        }
    }
}

/// What the server says about itself: its version and the Polyaxon version it follows.
pub async fn health() -> Result<Health, ApiError> {
    get_json(HEALTH_PATH).await
}

/// The team's projects, newest first.
pub async fn projects() -> Result<ListResponse<Project>, ApiError> {
    get_json(&format!("/api/v1/{DEFAULT_OWNER}/projects/list?limit=1000")).await
}

/// Creates a project.
pub async fn create_project(body: &ProjectBody) -> Result<Project, ApiError> {
    post_json(&format!("/api/v1/{DEFAULT_OWNER}/projects/create"), body).await
}

async fn post_json<B: Serialize, T: DeserializeOwned>(path: &str, body: &B) -> Result<T, ApiError> {
    let response = Request::post(path)
        .json(body)
        .map_err(|error| ApiError::Network(error.to_string()))?
        .send()
        .await
        .map_err(|error| ApiError::Network(error.to_string()))?;
    decode(response).await
}

async fn get_json<T: DeserializeOwned>(path: &str) -> Result<T, ApiError> {
    let response = Request::get(path)
        .send()
        .await
        .map_err(|error| ApiError::Network(error.to_string()))?;
    decode(response).await
}

async fn decode<T: DeserializeOwned>(response: Response) -> Result<T, ApiError> {
    if response.ok() {
        return response
            .json()
            .await
            .map_err(|error| ApiError::Network(error.to_string()));
    }
    let code = response.status();
    // An error from our own API carries an ErrorBody; anything else (a proxy's HTML page, say)
    // is reported by its status text.
    let message = match response.json::<ErrorBody>().await {
        Ok(body) => body.message,
        Err(_) => response.status_text(),
    };
    Err(ApiError::Status { code, message })
}
