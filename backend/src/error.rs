use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use shared::Diagnostic;
use shared::api::ErrorBody;

use crate::store::StoreError;

/// Every way a request can fail, each mapped to one status code and the JSON [`ErrorBody`].
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request names something the server does not have.
    #[error("{0}")]
    NotFound(String),
    /// The request is malformed or asks for something impossible.
    #[error("{0}")]
    BadRequest(String),
    /// A submitted Polyaxonfile has problems; each is in the body with its line and column.
    #[error("{message}")]
    Invalid {
        /// A summary.
        message: String,
        /// Every problem found.
        diagnostics: Vec<Diagnostic>,
    },
    /// The request clashes with what exists (a project name taken).
    #[error("{0}")]
    Conflict(String),
    /// The request lacks the token the server requires.
    #[error("{0}")]
    Unauthorized(String),
    /// The server failed; the request was fine. The message goes to the log, not to the client.
    #[error("{0}")]
    Internal(String),
    /// The request is understood but not allowed from where it comes.
    #[error("{0}")]
    Forbidden(String),
    /// What the server forwards the request to did not answer.
    #[error("{0}")]
    BadGateway(String),
    /// The disk the server writes to is full; the message names it.
    #[error("{0}")]
    InsufficientStorage(String),
}

impl AppError {
    fn status(&self) -> StatusCode {
        match self {
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::BadRequest(_) | AppError::Invalid { .. } => StatusCode::BAD_REQUEST,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            AppError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::InsufficientStorage(_) => StatusCode::INSUFFICIENT_STORAGE,
        }
    }
}

impl From<StoreError> for AppError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(message) => AppError::NotFound(message),
            StoreError::Conflict(message) => AppError::Conflict(message),
            StoreError::Invalid(message) => AppError::BadRequest(message),
            StoreError::Database(message) => AppError::Internal(message),
            StoreError::Full(message) => AppError::InsufficientStorage(message),
        }
    }
}

impl From<crate::metrics::MetricsError> for AppError {
    fn from(error: crate::metrics::MetricsError) -> Self {
        match error {
            crate::metrics::MetricsError::Store(error) => error.into(),
            crate::metrics::MetricsError::Unreadable(_) => AppError::Internal(error.to_string()),
        }
    }
}

impl From<JsonRejection> for AppError {
    fn from(rejection: JsonRejection) -> Self {
        AppError::BadRequest(format!(
            "the request body is not valid: {}",
            rejection.body_text()
        ))
    }
}

impl From<QueryRejection> for AppError {
    fn from(rejection: QueryRejection) -> Self {
        AppError::BadRequest(format!(
            "the query string is not valid: {}",
            rejection.body_text()
        ))
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match self {
            AppError::Invalid {
                message,
                diagnostics,
            } => ErrorBody {
                message,
                diagnostics,
            },
            // What failed inside (a path, a database's words) is the server's business: the
            // client gets an id that finds the log line which says it.
            AppError::Internal(message) => {
                let id = error_id();
                tracing::error!(error_id = %id, %message, "request failed");
                ErrorBody {
                    message: format!(
                        "the server failed on this request (error id {id}); its log has the details"
                    ),
                    diagnostics: Vec::new(),
                }
            }
            other => ErrorBody {
                message: other.to_string(),
                diagnostics: Vec::new(),
            },
        };
        (status, Json(body)).into_response()
    }
}

/// A short random id, unique enough to find one failure in a log.
fn error_id() -> String {
    let mut bytes = [0u8; 6];
    // Without randomness the id is zeros: it only helps find the log line.
    let _ = getrandom::fill(&mut bytes);
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
