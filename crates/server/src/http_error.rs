//! How the `/v1` API answers a failure: the code's status from the table and
//! `{"error": {"code": "no_face", "message": "..."}}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use app::error::{ApiError, Code, Field};

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
    /// The request field that broke its rule (`maxResults`), for invalid input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Machine-readable facts about the failure, for some codes (e.g. `face_already_registered`: the `userId`
    /// the face belongs to).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

/// The `/v1` API's name of a use case's input (the compat doors built from it say the same).
pub fn field_name(field: Field) -> &'static str {
    match field {
        Field::PageSize => "limit",
        Field::NextToken => "nextToken",
        Field::MaxResults => "maxResults",
        Field::ClientRequestToken => "clientRequestToken",
        Field::ExternalId => "externalId",
        Field::Metadata => "metadata",
        Field::Description => "description",
        Field::MaxFaces => "maxFaces",
        Field::FaceIds => "faceIds",
        Field::MaxUsers => "maxUsers",
        Field::Threshold => "threshold",
        Field::AuditImages => "auditImagesLimit",
        Field::Challenges => "challenges",
        Field::ChallengeCount => "challengeCount",
        Field::OutputPrefix => "outputPrefix",
        Field::CollectionId => "collectionId",
    }
}

/// The HTTP status of a code.
pub fn status_of(code: Code) -> StatusCode {
    StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// A use case's error as an HTTP answer: the error type of every handler (`?` converts an [`ApiError`]).
#[derive(Debug)]
pub struct HttpError(pub ApiError);

impl From<ApiError> for HttpError {
    fn from(e: ApiError) -> Self {
        HttpError(e)
    }
}

/// What a handler returns.
pub type ApiResult<T> = Result<T, HttpError>;

/// Answers an [`ApiError`] where a response is built by hand (middleware): axum's `IntoResponse` is implemented
/// for [`HttpError`], the core's type being foreign here.
pub trait ErrorAnswer {
    fn into_response(self) -> Response;
}

impl ErrorAnswer for ApiError {
    fn into_response(self) -> Response {
        answer(self)
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        answer(self.0)
    }
}

fn answer(error: ApiError) -> Response {
    let status = status_of(error.code);
    // Front doors that answer errors in another shape re-dress the response from this (routes::table).
    let typed = error.clone();
    let body = ErrorBody {
        error: ErrorDetail {
            code: error.code.as_str().to_string(),
            message: error.worded(field_name),
            field: error.field.map(|f| field_name(f).to_string()),
            details: error.details,
        },
    };
    let mut response = (status, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    if status == StatusCode::UNAUTHORIZED {
        // RFC 9110 §15.5.2: a 401 names the scheme that would succeed.
        headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"facegate\""));
    }
    if error.code == Code::RequestTimeout {
        // The rest of a body that did not arrive in time is not waited for: the connection closes.
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    if let Some(secs) = error.retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response.extensions_mut().insert(typed);
    response
}
