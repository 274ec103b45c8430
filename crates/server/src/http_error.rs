//! How the `/v1` API answers a failure: the code's status from the table and
//! `{"error": {"code": "no_face", "message": "..."}}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, Code};

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

/// The HTTP status of a code.
pub fn status_of(code: Code) -> StatusCode {
    StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = status_of(self.code);
        // Front doors that answer errors in another shape re-dress the response from this (routes::table).
        let typed = self.clone();
        let body = ErrorBody {
            error: ErrorDetail { code: self.code.as_str().to_string(), message: self.message, details: self.details },
        };
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        if status == StatusCode::UNAUTHORIZED {
            // RFC 9110 §15.5.2: a 401 names the scheme that would succeed.
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"facegate\""));
        }
        if self.code == Code::RequestTimeout {
            // The rest of a body that did not arrive in time is not waited for: the connection closes.
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response.extensions_mut().insert(typed);
        response
    }
}
