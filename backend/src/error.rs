use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use shared::api::ErrorBody;

/// Every way a request can fail, each mapped to one status code and the JSON [`ErrorBody`].
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request names something the server does not have.
    #[error("{0}")]
    NotFound(String),
}

impl AppError {
    fn status(&self) -> StatusCode {
        match self {
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            message: self.to_string(),
        };
        (self.status(), Json(body)).into_response()
    }
}
