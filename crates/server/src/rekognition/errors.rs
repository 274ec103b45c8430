//! AWS's error shape: `{"__type", "message"}` with `x-amzn-errortype`; every error code maps to its AWS type
//! through the one table ([`app::error::Code::aws_type`]).

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::CONTENT_TYPE;
use app::error::{ApiError, Field};

/// An AWS-shaped error.
#[derive(Debug)]
pub struct AwsError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl AwsError {
    pub(crate) fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        AwsError { status, kind, message: app::error::bounded_message(message.into()) }
    }

    pub(super) fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidParameterException", message)
    }
}

impl IntoResponse for AwsError {
    fn into_response(self) -> Response {
        let body = json!({"__type": self.kind, "message": self.message}).to_string();
        let mut r = (self.status, [(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response();
        r.headers_mut().insert("x-amzn-errortype", header::HeaderValue::from_static(self.kind));
        r
    }
}

/// Every error code answers with its AWS error type from the one table ([`app::error::Code::aws_type`]): a
/// client's mistake is a 400, as AWS answers them; our own failures keep their status.
impl From<ApiError> for AwsError {
    fn from(e: ApiError) -> Self {
        let status = crate::http_error::status_of(e.code);
        let status = if status.is_server_error() { status } else { StatusCode::BAD_REQUEST };
        AwsError::new(status, e.code.aws_type(), e.worded(field_name))
    }
}

/// Rekognition's name of a use case's input, as its operations' requests spell it.
fn field_name(field: Field) -> &'static str {
    match field {
        Field::PageSize | Field::MaxResults => "MaxResults",
        Field::NextToken => "NextToken",
        Field::ClientRequestToken => "ClientRequestToken",
        Field::ExternalId => "ExternalImageId",
        Field::Metadata => "Metadata",
        Field::Description => "Description",
        Field::MaxFaces => "MaxFaces",
        Field::FaceIds => "FaceIds",
        Field::MaxUsers => "MaxUsers",
        Field::Threshold => "the threshold (FaceMatchThreshold, SimilarityThreshold or UserMatchThreshold)",
        Field::AuditImages => "Settings.AuditImagesLimit",
        Field::Challenges => "Settings.ChallengePreferences",
        Field::ChallengeCount => "the challenge count",
        Field::OutputPrefix => "Settings.OutputConfig.S3KeyPrefix",
        Field::CollectionId => "CollectionId",
    }
}
