//! Every failure the API reports, mapped once to an HTTP status and a stable `code`:
//! `{"error": {"code": "no_face", "message": "..."}}`.

use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use store::StoreError;
use utoipa::ToSchema;
use vision::VisionError;

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds, for 429 and 503.
    pub retry_after: Option<u64>,
    /// Machine-readable facts about the failure (e.g. the user a face already belongs to).
    pub details: Option<serde_json::Value>,
    /// Extra response headers (e.g. `WWW-Authenticate` on 401).
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `no_face`, `multiple_faces`, `invalid_json`, `collection_not_found`, ...
    pub code: String,
    /// For people; may change between versions.
    pub message: String,
    /// Machine-readable facts about the failure, for some codes (e.g. `face_already_registered`: the `userId`
    /// the face belongs to).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), retry_after: None, details: None, headers: Vec::new() }
    }

    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::bad_request("invalid_parameter", message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    pub fn collection_not_found(id: &str) -> Self {
        Self::not_found("collection_not_found", format!("collection {id:?} does not exist"))
    }

    pub fn user_not_found(id: &str) -> Self {
        Self::not_found("user_not_found", format!("user {id:?} does not exist"))
    }

    pub fn overloaded(retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", "the server is busy: retry shortly")
        }
    }

    /// A failure on our side: the details go to the log, the client gets a generic message.
    pub fn internal(context: &str, detail: impl std::fmt::Display) -> Self {
        tracing::error!(%detail, "{context}");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", format!("internal error ({context})"))
    }
}

impl From<VisionError> for ApiError {
    fn from(e: VisionError) -> Self {
        use VisionError::*;
        let message = e.to_string();
        match e {
            EmptyImage => Self::bad_request("empty_image", message),
            ImageTooLarge { .. } => Self::new(StatusCode::PAYLOAD_TOO_LARGE, "image_too_large", message),
            TooManyPixels { .. } => Self::new(StatusCode::PAYLOAD_TOO_LARGE, "image_too_many_pixels", message),
            UnsupportedFormat => Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_image_format", message),
            ImageTooSmall { .. } => Self::bad_request("image_too_small", message),
            CorruptImage(_) => Self::bad_request("invalid_image", message),
            NoFace => Self::unprocessable("no_face", message),
            FaceIndexOutOfRange { .. } => Self::unprocessable("face_index_out_of_range", message),
            ModelNotFound { .. }
            | ModelChecksum { .. }
            | ModelLoad { .. }
            | Inference { .. }
            | ModelOutput { .. }
            | Config(_)
            | Io { .. } => Self::internal("inference", message),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match &e {
            StoreError::CollectionExists(id) => {
                Self::new(StatusCode::CONFLICT, "collection_exists", format!("collection {id:?} already exists"))
            }
            StoreError::CollectionNotFound(id) => Self::collection_not_found(id),
            StoreError::UserExists(id) => {
                Self::new(StatusCode::CONFLICT, "user_exists", format!("user {id:?} already exists"))
            }
            StoreError::UserNotFound(id) => Self::user_not_found(id),
            _ if e.is_invalid_text() => {
                Self::bad_request("invalid_text", "the request holds text that cannot be stored")
            }
            _ if e.is_unavailable() => {
                tracing::warn!(error = %e, "store unavailable");
                Self {
                    retry_after: Some(1),
                    ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", "the database is unavailable")
                }
            }
            _ => Self::internal("store", e),
        }
    }
}

impl From<index::IndexError> for ApiError {
    fn from(e: index::IndexError) -> Self {
        Self::internal("index", e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail { code: self.code.to_string(), message: self.message, details: self.details },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        for (name, value) in self.headers {
            response.headers_mut().insert(name, value);
        }
        if let Some(secs) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
