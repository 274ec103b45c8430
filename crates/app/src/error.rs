//! Every failure Facegate reports, as one typed value: an error [`Code`] from the one table below, a message for
//! people, and sometimes machine-readable details. The use cases return it; each front door translates it from
//! the table (the `/v1` API to `{"error": {"code", "message"}}` with the code's status, the Rekognition API to
//! the code's AWS error type). Nothing here knows of HTTP beyond the status number in the table.

use store::{BlobError, StoreError};
use vision::VisionError;

/// Declares the error codes: variant => HTTP status, stable code string, AWS error type (what the
/// Rekognition-compatible API answers). Adding a code is one line; every match over codes is exhaustive.
macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident => $status:literal, $code:literal, $aws:literal;)*) => {
        /// A stable, machine-readable error code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $($(#[$doc])* $variant,)*
        }

        impl Code {
            /// Every code, in the table's order.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The stable string clients match on (`no_face`).
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $code,)* }
            }

            /// The HTTP status of the `/v1` API's answer.
            pub fn status(self) -> u16 {
                match self { $(Code::$variant => $status,)* }
            }

            /// The AWS error type the Rekognition-compatible API answers with (`__type`).
            pub fn aws_type(self) -> &'static str {
                match self { $(Code::$variant => $aws,)* }
            }
        }
    };
}

error_codes! {
    // Malformed requests.
    /// A request that does not have the shape the endpoint takes.
    InvalidRequest => 400, "invalid_request", "InvalidParameterException";
    /// A parameter outside its range or format.
    InvalidParameter => 400, "invalid_parameter", "InvalidParameterException";
    InvalidJson => 400, "invalid_json", "InvalidParameterException";
    InvalidBase64 => 400, "invalid_base64", "InvalidParameterException";
    InvalidMultipart => 400, "invalid_multipart", "InvalidParameterException";
    /// The body could not be read off the connection.
    InvalidBody => 400, "invalid_body", "InvalidParameterException";
    /// Text that cannot be stored (NUL, lone surrogates, control characters).
    InvalidText => 400, "invalid_text", "InvalidParameterException";
    InvalidCollectionId => 400, "invalid_collection_id", "InvalidParameterException";
    InvalidUserId => 400, "invalid_user_id", "InvalidParameterException";
    MissingImage => 400, "missing_image", "InvalidParameterException";
    /// Two credentials in one request (a key and a token, or a header and `?token=`).
    AmbiguousCredentials => 400, "ambiguous_credentials", "InvalidParameterException";
    RequestTimeout => 408, "request_timeout", "InvalidParameterException";
    PayloadTooLarge => 413, "payload_too_large", "ImageTooLargeException";
    UnsupportedMediaType => 415, "unsupported_media_type", "InvalidParameterException";
    MethodNotAllowed => 405, "method_not_allowed", "InvalidParameterException";

    // Images.
    EmptyImage => 400, "empty_image", "InvalidImageFormatException";
    InvalidImage => 400, "invalid_image", "InvalidImageFormatException";
    /// A liveness stream's video that cannot be decoded (or is larger than allowed).
    InvalidVideo => 400, "invalid_video", "ValidationException";
    ImageTooSmall => 400, "image_too_small", "InvalidImageFormatException";
    UnsupportedImageFormat => 415, "unsupported_image_format", "InvalidImageFormatException";
    ImageTooLarge => 413, "image_too_large", "ImageTooLargeException";
    ImageTooManyPixels => 413, "image_too_many_pixels", "ImageTooLargeException";
    /// An image named in a bucket that cannot be read: no such bucket, object or version, or refused to the
    /// server's credentials (AWS answers all of these alike).
    InvalidS3Object => 400, "invalid_s3_object", "InvalidS3ObjectException";

    // Faces.
    NoFace => 422, "no_face", "InvalidParameterException";
    MultipleFaces => 422, "multiple_faces", "InvalidParameterException";
    FaceIndexOutOfRange => 422, "face_index_out_of_range", "InvalidParameterException";
    /// The face of an image is not the user's.
    FaceMismatch => 422, "face_mismatch", "InvalidParameterException";

    // Who is calling.
    Unauthorized => 401, "unauthorized", "UnrecognizedClientException";
    InvalidKey => 401, "invalid_key", "UnrecognizedClientException";
    KeyRevoked => 401, "key_revoked", "UnrecognizedClientException";
    KeyExpired => 401, "key_expired", "UnrecognizedClientException";
    InvalidToken => 401, "invalid_token", "UnrecognizedClientException";
    InvalidSessionToken => 401, "invalid_session_token", "UnrecognizedClientException";
    /// Face login that needs a liveness session, without one.
    LivenessRequired => 401, "liveness_required", "AccessDeniedException";
    /// A liveness session that did not see the face that logs in.
    LivenessMismatch => 401, "liveness_mismatch", "AccessDeniedException";
    /// Face login: no registered user matches the face.
    NoMatch => 401, "no_match", "AccessDeniedException";
    InsufficientScope => 403, "insufficient_scope", "AccessDeniedException";
    CollectionForbidden => 403, "collection_forbidden", "AccessDeniedException";
    BucketForbidden => 403, "bucket_forbidden", "AccessDeniedException";
    /// On an open loopback server (no admin key): a request from a web page of another origin, or addressed to
    /// a host name that is not this machine's (DNS rebinding).
    ForeignOrigin => 403, "foreign_origin", "AccessDeniedException";
    ForeignHost => 403, "foreign_host", "AccessDeniedException";
    SessionTokenMismatch => 403, "session_token_mismatch", "AccessDeniedException";

    // Things that are not there.
    NotFound => 404, "not_found", "ResourceNotFoundException";
    CollectionNotFound => 404, "collection_not_found", "ResourceNotFoundException";
    FaceNotFound => 404, "face_not_found", "ResourceNotFoundException";
    UserNotFound => 404, "user_not_found", "ResourceNotFoundException";
    SessionNotFound => 404, "session_not_found", "ResourceNotFoundException";
    KeyNotFound => 404, "key_not_found", "ResourceNotFoundException";
    ImageNotFound => 404, "image_not_found", "ResourceNotFoundException";
    /// The face exists, its image was not kept.
    ImageNotStored => 404, "image_not_stored", "ResourceNotFoundException";

    // Conflicts with the state of things.
    CollectionExists => 409, "collection_exists", "ResourceAlreadyExistsException";
    /// A user id taken (face login, or a collection's users: AWS answers `ConflictException` for CreateUser).
    UserExists => 409, "user_exists", "ConflictException";
    /// A client request token used before with other parameters.
    RequestTokenReused => 409, "request_token_reused", "IdempotentParameterMismatchException";
    /// A collection's user holds as many faces as it may.
    UserFaceLimit => 409, "user_face_limit", "ServiceQuotaExceededException";
    FaceAlreadyRegistered => 409, "face_already_registered", "InvalidParameterException";
    /// A collection of templates of another model than the running one.
    ModelMismatch => 409, "model_mismatch", "InvalidParameterException";
    /// The operation does not apply to this object (e.g. a token for a finished session).
    NotApplicable => 409, "not_applicable", "InvalidParameterException";
    /// Another request is working on the same liveness session.
    SessionBusy => 409, "session_busy", "InvalidParameterException";
    SessionTemplateDiscarded => 409, "session_template_discarded", "InvalidParameterException";
    SessionFinished => 409, "session_finished", "InvalidParameterException";
    SessionExpired => 410, "session_expired", "InvalidParameterException";
    FrameOutOfSequence => 409, "frame_out_of_sequence", "InvalidParameterException";
    FrameTimestampNotIncreasing => 409, "frame_timestamp_not_increasing", "InvalidParameterException";
    FrameTimestampOutOfRange => 409, "frame_timestamp_out_of_range", "InvalidParameterException";
    FrameReplayed => 409, "frame_replayed", "InvalidParameterException";

    // Limits.
    RateLimited => 429, "rate_limited", "ThrottlingException";
    QuotaExceeded => 429, "quota_exceeded", "ProvisionedThroughputExceededException";

    // Our side.
    Internal => 500, "internal", "InternalServerError";
    /// A model this operation needs is not installed.
    ModelUnavailable => 501, "model_unavailable", "InternalServerError";
    Overloaded => 503, "overloaded", "ThrottlingException";
    StoreUnavailable => 503, "store_unavailable", "ThrottlingException";
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An input of a use case, as the core knows it: each front door words it in its own vocabulary (`/v1`'s
/// `maxResults`, Rekognition's `MaxResults`) from its own exhaustive table, so that no use case holds a wire name
/// and a door that forgets one does not compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// A listing's page size.
    PageSize,
    /// A listing's continuation token.
    NextToken,
    /// Matches per searched face.
    MaxResults,
    ClientRequestToken,
    ExternalId,
    Metadata,
    Description,
    MaxFaces,
    FaceIds,
    MaxUsers,
    /// A similarity threshold (0-100).
    Threshold,
    /// Audit images a liveness session keeps.
    AuditImages,
    /// A liveness session's challenge kinds.
    Challenges,
    ChallengeCount,
    /// The key prefix of a liveness session's output bucket.
    OutputPrefix,
    CollectionId,
}

impl Field {
    pub const ALL: &'static [Field] = &[
        Field::PageSize,
        Field::NextToken,
        Field::MaxResults,
        Field::ClientRequestToken,
        Field::ExternalId,
        Field::Metadata,
        Field::Description,
        Field::MaxFaces,
        Field::FaceIds,
        Field::MaxUsers,
        Field::Threshold,
        Field::AuditImages,
        Field::Challenges,
        Field::ChallengeCount,
        Field::OutputPrefix,
        Field::CollectionId,
    ];

    /// The core's own name, for logs and the command line (`max_results`).
    pub fn as_str(self) -> &'static str {
        match self {
            Field::PageSize => "page_size",
            Field::NextToken => "next_token",
            Field::MaxResults => "max_results",
            Field::ClientRequestToken => "client_request_token",
            Field::ExternalId => "external_id",
            Field::Metadata => "metadata",
            Field::Description => "description",
            Field::MaxFaces => "max_faces",
            Field::FaceIds => "face_ids",
            Field::MaxUsers => "max_users",
            Field::Threshold => "threshold",
            Field::AuditImages => "audit_images",
            Field::Challenges => "challenges",
            Field::ChallengeCount => "challenge_count",
            Field::OutputPrefix => "output_prefix",
            Field::CollectionId => "collection_id",
        }
    }
}

/// A failure: its code, a message for people, and for some codes machine-readable details.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: Code,
    /// For people; may change between versions. For an input's failure (`field`), the rule it broke without the
    /// input's name (`must lie in 1..1000`): see [`ApiError::worded`].
    pub message: String,
    /// The input that broke its rule, named by each door in its own words.
    pub field: Option<Field>,
    /// Seconds after which a retry may succeed (rate limits, overload).
    pub retry_after: Option<u64>,
    /// Machine-readable facts about the failure (e.g. the user a face already belongs to).
    pub details: Option<serde_json::Value>,
}

/// The longest error message answered, in bytes: a message quoting the request (an unknown field's name, a bad
/// value) never echoes more of it than this.
pub const MAX_MESSAGE_BYTES: usize = 1024;

/// `message` cut to [`MAX_MESSAGE_BYTES`] at a character boundary, marked with an ellipsis where cut.
pub fn bounded_message(message: String) -> String {
    if message.len() <= MAX_MESSAGE_BYTES {
        return message;
    }
    let mut end = MAX_MESSAGE_BYTES;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &message[..end])
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.worded(Field::as_str))
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self { code, message: bounded_message(message.into()), field: None, retry_after: None, details: None }
    }

    /// Input `field` broke its `rule` (`must lie in 1..1000`): `invalid_parameter`, the field as data.
    pub fn invalid_field(field: Field, rule: impl Into<String>) -> Self {
        Self::new(Code::InvalidParameter, rule).with_field(field)
    }

    pub fn with_field(mut self, field: Field) -> Self {
        self.field = Some(field);
        self
    }

    /// The message as a door words it, the field (if any) named by `name`: `maxResults must lie in 1..1000`.
    pub fn worded(&self, name: impl Fn(Field) -> &'static str) -> String {
        match self.field {
            Some(field) => format!("{} {}", name(field), self.message),
            None => self.message.clone(),
        }
    }

    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidParameter, message)
    }

    pub fn collection_not_found(id: &str) -> Self {
        Self::new(Code::CollectionNotFound, format!("collection {id:?} does not exist"))
    }

    pub fn user_not_found(id: &str) -> Self {
        Self::new(Code::UserNotFound, format!("user {id:?} does not exist"))
    }

    pub fn overloaded(retry_after: u64) -> Self {
        Self::new(Code::Overloaded, "the server is busy: retry shortly").with_retry_after(retry_after)
    }

    /// A failure on our side: the details go to the log, the client gets a generic message.
    pub fn internal(context: &str, detail: impl std::fmt::Display) -> Self {
        tracing::error!(%detail, "{context}");
        Self::new(Code::Internal, format!("internal error ({context})"))
    }
}

impl From<VisionError> for ApiError {
    fn from(e: VisionError) -> Self {
        use VisionError::*;
        let code = match e {
            EmptyImage => Code::EmptyImage,
            ImageTooLarge { .. } => Code::ImageTooLarge,
            TooManyPixels { .. } => Code::ImageTooManyPixels,
            UnsupportedFormat => Code::UnsupportedImageFormat,
            ImageTooSmall { .. } => Code::ImageTooSmall,
            CorruptImage(_) => Code::InvalidImage,
            NoFace => Code::NoFace,
            FaceIndexOutOfRange { .. } => Code::FaceIndexOutOfRange,
            ModelNotFound { .. }
            | ModelChecksum { .. }
            | ModelLoad { .. }
            | EngineUnavailable(_)
            | Inference { .. }
            | ModelOutput { .. }
            | Config(_)
            | Io { .. } => return Self::internal("inference", e),
        };
        Self::new(code, e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match &e {
            StoreError::CollectionExists(id) => {
                Self::new(Code::CollectionExists, format!("collection {id:?} already exists"))
            }
            StoreError::CollectionNotFound(id) => Self::collection_not_found(id),
            StoreError::UserExists(id) => Self::new(Code::UserExists, format!("user {id:?} already exists")),
            StoreError::UserNotFound(id) => Self::user_not_found(id),
            StoreError::UserFaceLimit { .. } => Self::new(Code::UserFaceLimit, e.to_string()),
            StoreError::RequestMismatch(_) => Self::new(Code::RequestTokenReused, e.to_string()),
            StoreError::Blob(b) => match b {
                BlobError::NotFound { .. } | BlobError::AccessDenied { .. } => Self::new(
                    Code::InvalidS3Object,
                    format!("unable to get the object from S3 ({b}): check the bucket, the key and the version"),
                ),
                BlobError::TooLarge { .. } => Self::new(Code::ImageTooLarge, b.to_string()),
                BlobError::InvalidName(m) => Self::new(Code::InvalidS3Object, m.clone()),
                BlobError::NotConfigured => Self::invalid_parameter(b.to_string()),
                BlobError::Unavailable(_) => {
                    tracing::warn!(error = %b, "object store unavailable");
                    Self::new(Code::StoreUnavailable, "the S3-compatible store is unavailable").with_retry_after(1)
                }
            },
            _ if e.is_invalid_text() => Self::new(Code::InvalidText, "the request holds text that cannot be stored"),
            _ if e.is_unavailable() => {
                tracing::warn!(error = %e, "store unavailable");
                Self::new(Code::StoreUnavailable, "the database is unavailable").with_retry_after(1)
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

impl From<&liveness::FrameError> for ApiError {
    fn from(e: &liveness::FrameError) -> Self {
        use liveness::FrameError::*;
        let code = match e {
            Finished(_) => Code::SessionFinished,
            Expired => Code::SessionExpired,
            OutOfSequence { .. } => Code::FrameOutOfSequence,
            TimestampNotIncreasing { .. } => Code::FrameTimestampNotIncreasing,
            TimestampOutOfRange { .. } => Code::FrameTimestampOutOfRange,
            Replayed => Code::FrameReplayed,
        };
        Self::new(code, e.to_string())
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_bounded_at_a_character_boundary() {
        assert_eq!(bounded_message("short".into()), "short");
        let long = "é".repeat(MAX_MESSAGE_BYTES);
        let cut = ApiError::new(Code::InvalidRequest, long).message;
        assert!(cut.len() <= MAX_MESSAGE_BYTES + '…'.len_utf8() && cut.ends_with('…'), "{}", cut.len());
    }

    #[test]
    fn a_field_error_names_its_field_in_each_doors_words() {
        let e = ApiError::invalid_field(Field::MaxResults, "must lie in 1..1000");
        assert_eq!(
            (e.code, e.field, e.message.as_str()),
            (Code::InvalidParameter, Some(Field::MaxResults), "must lie in 1..1000")
        );
        assert_eq!(e.to_string(), "invalid_parameter: max_results must lie in 1..1000");
        assert_eq!(e.worded(|_| "MaxResults"), "MaxResults must lie in 1..1000");
        let plain = ApiError::invalid_parameter("no field here");
        assert_eq!(plain.worded(|_| "unused"), "no field here");
        let names: std::collections::HashSet<&str> = Field::ALL.iter().map(|f| f.as_str()).collect();
        assert_eq!(names.len(), Field::ALL.len(), "each field has its own name");
    }

    #[test]
    fn codes_are_unique_snake_case_with_error_statuses() {
        let mut seen = std::collections::HashSet::new();
        for code in Code::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "{s} is declared twice");
            assert!(
                !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{s} is not snake_case"
            );
            assert!((400..600).contains(&code.status()), "{s} has status {}", code.status());
            assert!(code.aws_type().ends_with("Exception") || code.aws_type() == "InternalServerError");
            if code.status() >= 500 {
                assert!(matches!(code.aws_type(), "InternalServerError" | "ThrottlingException"), "{s}");
            }
        }
    }

    #[test]
    fn store_and_vision_failures_map_to_their_codes() {
        assert_eq!(ApiError::from(VisionError::NoFace).code, Code::NoFace);
        assert_eq!(ApiError::from(StoreError::CollectionNotFound("c".into())).code, Code::CollectionNotFound);
        assert_eq!(ApiError::from(StoreError::UserExists("u".into())).code, Code::UserExists);
        let expired = ApiError::from(&liveness::FrameError::Expired);
        assert_eq!((expired.code, expired.code.status()), (Code::SessionExpired, 410));
    }
}
