//! Signature V4 admission: the body is read first (within the configured limit: it is signed), the signature
//! checked against the admin pair or an API key's pair (failures spend the client address's tokens, as wrong
//! keys do), then the operation's scope and collection, the key's rate limit and quota apply through the access
//! layer exactly as on the operation's `/v1` route. And the operation table: operation → scope and collection.

use std::net::IpAddr;

use auth::{Access, Scope};
use axum::extract::Request;
use axum::http::{header, HeaderMap, StatusCode};
use serde_json::{json, Value};

use super::AwsError;
use app::callers::{self, access_of, Count, Limits};
use app::state::AppState;

const TARGET_PREFIX: &str = "RekognitionService.";

/// The operation a request names (`X-Amz-Target: RekognitionService.<Operation>`).
fn operation(headers: &HeaderMap) -> Result<&str, AwsError> {
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default();
    target.strip_prefix(TARGET_PREFIX).ok_or_else(|| {
        AwsError::new(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            "X-Amz-Target must name a RekognitionService operation",
        )
    })
}

pub(super) fn unknown_operation(name: &str) -> AwsError {
    AwsError::new(
        StatusCode::BAD_REQUEST,
        "UnknownOperationException",
        format!("{name} is not supported by this server"),
    )
}

/// The request body: a JSON object (an empty body is `{}`).
fn request_object(body: &[u8]) -> Result<Value, AwsError> {
    let request: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(body)
            .map_err(|e| AwsError::new(StatusCode::BAD_REQUEST, "SerializationException", e.to_string()))?
    };
    if !request.is_object() {
        return Err(AwsError::new(StatusCode::BAD_REQUEST, "SerializationException", "the body must be a JSON object"));
    }
    let mut request = request;
    crate::text_input::clean_json("", &mut request)
        .map_err(|e| AwsError::new(StatusCode::BAD_REQUEST, "InvalidParameterException", e.message))?;
    Ok(request)
}

/// A signed request, parsed once (its body may carry megabytes of base64 images).
#[derive(Debug, Clone)]
pub struct SignedRequest {
    pub operation: String,
    pub request: Value,
}

impl SignedRequest {
    pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Self, AwsError> {
        Ok(SignedRequest { operation: operation(headers)?.to_string(), request: request_object(body)? })
    }
}

/// What an operation asks of its caller: the scope of its `/v1` twin, and the collection it touches (checked
/// against the key's collections). One table, as the route table is for the `/v1` routes.
pub fn operation_requirement(signed: &SignedRequest) -> Result<(Scope, Option<String>), AwsError> {
    let request = &signed.request;
    let collection = || request.get("CollectionId").and_then(Value::as_str).map(String::from);
    Ok(match signed.operation.as_str() {
        "DetectFaces" => (Scope::FacesDetect, None),
        "CompareFaces" => (Scope::FacesCompare, None),
        "ListCollections" => (Scope::CollectionsRead, None),
        "DescribeCollection" | "ListFaces" | "SearchFaces" | "SearchFacesByImage" | "ListUsers" | "SearchUsers"
        | "SearchUsersByImage" => (Scope::CollectionsRead, collection()),
        "CreateCollection" | "DeleteCollection" | "IndexFaces" | "DeleteFaces" | "CreateUser" | "DeleteUser"
        | "AssociateFaces" | "DisassociateFaces" => (Scope::CollectionsWrite, collection()),
        "CreateFaceLivenessSession" | "GetFaceLivenessSessionResults" => (Scope::Liveness, None),
        other => return Err(unknown_operation(other)),
    })
}

/// Requests signed with AWS Signature V4 (the Rekognition-compatible API). The body is read first (within the
/// configured limit: it is signed), the signature checked against the admin pair or an API key's pair (failures
/// spend the client address's tokens, as wrong keys do), then the operation's scope and collection, the key's
/// rate limit and quota apply exactly as on the operation's `/v1` route. Errors come in AWS's shape.
/// Returns the credential scope's region, the caller and the parsed request.
pub(super) async fn admit(
    app: &AppState,
    ip: IpAddr,
    request: Request,
) -> Result<(String, Access, SignedRequest), AwsError> {
    let (parts, body) = request.into_parts();
    let bytes = crate::input::read_body(body, app.body_limit(), app.body_timeout()).await?;
    let region = auth::sigv4::parse_authorization(
        parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default(),
    )
    .map(|a| a.region)
    .unwrap_or_default();
    let admitted = async {
        let (access, limits) = match authenticate_signed(app, &parts, &bytes).await {
            Ok(found) => found,
            Err(e) => {
                callers::limit_address(app, ip)?;
                return Err(e);
            }
        };
        let signed = SignedRequest::parse(&parts.headers, &bytes)?;
        let (scope, collection) = operation_requirement(&signed)?;
        let access = callers::admit(app, access, limits, Some(scope), collection.as_deref(), Count::Yes).await?;
        Ok((access, signed))
    }
    .await;
    admitted.map(|(access, signed)| (region, access, signed))
}

/// Who signed the request: the configured admin pair (unrestricted) or a key's pair (that key, if active).
///
/// The signature must bind what the request does: `Host`, `X-Amz-Date` and `X-Amz-Target` (the operation) among
/// its signed headers, each of them and `Authorization` sent once, and a credential scope of `rekognition` in an
/// accepted region on the day of `X-Amz-Date`. Those checks need no secret and run before the key is looked up.
async fn authenticate_signed(
    app: &AppState,
    parts: &axum::http::request::Parts,
    body: &[u8],
) -> Result<(Access, Limits), AwsError> {
    use auth::sigv4::{Policy, SigV4Error};
    let denied = |kind, message: &str| AwsError::new(StatusCode::FORBIDDEN, kind, message);
    // Not a complete signature (malformed, or short of a header it must sign), or a wrong, expired or
    // misscoped one: AWS's two refusals.
    let refused = |e: SigV4Error| match e {
        SigV4Error::Skew(_) => {
            denied("InvalidSignatureException", "Signature expired: the request time is too far from the server's")
        }
        e if e.is_incomplete() => denied("IncompleteSignatureException", &e.to_string()),
        e => denied("InvalidSignatureException", &e.to_string()),
    };
    let unrecognized =
        || denied("UnrecognizedClientException", "the security token included in the request is invalid");
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| denied("MissingAuthenticationTokenException", "the request is not signed"))?;
    let authorization = auth::sigv4::parse_authorization(value).map_err(refused)?;
    let policy = Policy { service: "rekognition", regions: &app.config.aws_regions, signed_headers: &["x-amz-target"] };
    let mut pairs: Vec<(String, String)> = Vec::with_capacity(parts.headers.len());
    for (name, value) in &parts.headers {
        let name = name.as_str();
        match value.to_str() {
            Ok(value) => pairs.push((name.to_string(), value.to_string())),
            // A value that is not text cannot be signed as received here; one that counts is refused rather
            // than left out (a second copy of a header would then go unseen).
            Err(_) if policy.single_valued(name) || authorization.signed_headers.iter().any(|h| h == name) => {
                return Err(refused(SigV4Error::HeaderNotText(name.to_string())));
            }
            Err(_) => {}
        }
    }
    let request = auth::sigv4::Request {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &pairs,
        body,
    };
    let now = store::now_millis() / 1000;
    auth::sigv4::check(&request, &authorization, &policy, now).map_err(refused)?;
    let (identity, secret) =
        callers::aws_signing_secret(app, &authorization.access_key_id).await?.ok_or_else(unrecognized)?;
    auth::sigv4::verify(&request, &authorization, &secret, now, &policy).map_err(refused)?;
    signer(identity)
}

/// Who a verified signature's pair belongs to: the configured admin pair (`None`: unrestricted) or an API key's
/// pair, while that key is active.
pub(crate) fn signer(identity: Option<store::ApiKey>) -> Result<(Access, Limits), AwsError> {
    let denied = |message: &str| AwsError::new(StatusCode::FORBIDDEN, "UnrecognizedClientException", message);
    let Some(key) = identity else { return Ok((Access::unrestricted("aws-admin"), Limits::default())) };
    if key.revoked_at.is_some() {
        return Err(denied("the API key of this access key pair has been revoked"));
    }
    if !key.is_active(store::now_millis()) {
        return Err(denied("the API key of this access key pair has expired"));
    }
    Ok(access_of(key))
}
