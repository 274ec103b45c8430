//! API keys (admin only): create (the secret is shown once), list, read, revoke; and every key's view of its
//! own usage.

use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use store::ApiKey;
use utoipa::{IntoParams, ToSchema};

use crate::http_error::ApiResult;
use crate::http_error::ErrorBody;
use crate::input::{lenient_string, OptionsBody, QueryOptions};
use app::state::AppState;
use app::time::rfc3339;
use app::usecases::keys::{self, NewKey};

use crate::access::Requirement::*;
use crate::routes::table::Routes;
use auth::Scope;

/// What a new key may do.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateKeyRequest {
    /// For people: who or what uses the key.
    pub name: String,
    /// `admin`, or any of `faces:detect`, `faces:compare`, `collections:read`, `collections:write`, `users`,
    /// `liveness`, `metrics`.
    pub scopes: Vec<String>,
    /// When given, the key may only use these collections.
    #[serde(default)]
    pub collections: Option<Vec<String>>,
    /// When given, the key may only read and write these S3 buckets (Rekognition `S3Object` inputs, liveness
    /// `OutputConfig`).
    #[serde(default)]
    pub buckets: Option<Vec<String>>,
    /// The key stops working this many seconds from now.
    #[serde(default)]
    pub expires_in_seconds: Option<u64>,
    /// Requests per second (token bucket); none: unlimited.
    #[serde(default)]
    pub rate_per_second: Option<f64>,
    /// Requests allowed in a burst above the rate (default: the rate rounded up).
    #[serde(default)]
    pub burst: Option<u32>,
    /// Requests per calendar month (UTC); none: unlimited.
    #[serde(default)]
    pub monthly_quota: Option<u64>,
}

/// A key as listed (never its secret).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyDto {
    pub key_id: String,
    pub name: String,
    pub scopes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collections: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buckets: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_per_second: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monthly_quota: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    pub created_at: String,
    /// Neither revoked nor expired.
    pub active: bool,
}

impl From<ApiKey> for ApiKeyDto {
    fn from(k: ApiKey) -> Self {
        let active = k.is_active(store::now_millis());
        ApiKeyDto {
            key_id: k.key_id,
            name: k.name,
            scopes: k.scopes,
            collections: k.collections,
            buckets: k.buckets,
            rate_per_second: k.rate_per_second,
            burst: k.burst,
            monthly_quota: k.monthly_quota,
            expires_at: k.expires_at.map(rfc3339),
            revoked_at: k.revoked_at.map(rfc3339),
            created_at: rfc3339(k.created_at),
            active,
        }
    }
}

/// A key just created: the only time its secret is shown.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedKey {
    /// The secret key, `fg_<keyId>_<secret>`: store it now, it cannot be shown again.
    pub key: String,
    #[serde(flatten)]
    pub info: ApiKeyDto,
}

impl From<keys::CreatedKey> for CreatedKey {
    fn from(created: keys::CreatedKey) -> Self {
        CreatedKey { key: created.token, info: created.key.into() }
    }
}

/// An AWS access key pair for an API key, for the Rekognition-compatible API (shown once).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsCredentials {
    /// The API key the pair acts as: its scopes, collections, rate limit and quota apply.
    pub key_id: String,
    pub access_key_id: String,
    /// Shown once. Signature V4 is an HMAC with it, so the server keeps it (in its store, as AWS does).
    pub secret_access_key: String,
}

impl From<keys::AwsPair> for AwsCredentials {
    fn from(p: keys::AwsPair) -> Self {
        AwsCredentials { key_id: p.key_id, access_key_id: p.access_key_id, secret_access_key: p.secret_access_key }
    }
}

impl CreateKeyRequest {
    /// The key this request describes, its scope names parsed.
    pub fn new_key(self) -> ApiResult<NewKey> {
        Ok(NewKey {
            name: self.name,
            scopes: keys::parse_scopes(&self.scopes)?,
            collections: self.collections,
            buckets: self.buckets,
            expires_in_seconds: self.expires_in_seconds,
            rate_per_second: self.rate_per_second,
            burst: self.burst,
            monthly_quota: self.monthly_quota,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    pub keys: Vec<ApiKeyDto>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// Another key's usage (admin only).
    #[serde(default, deserialize_with = "lenient_string")]
    pub key_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    /// `admin` and `anonymous` callers are not counted.
    pub key_id: String,
    /// The calendar month (UTC) counted, `YYYY-MM`.
    pub month: String,
    pub requests: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monthly_quota: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining: Option<u64>,
    /// When the count starts again from zero.
    pub resets_at: String,
}

/// Create an API key. The answer holds the secret key: it is shown once and never again.
#[utoipa::path(post, path = "/v1/keys", tag = "keys", request_body = CreateKeyRequest,
    responses((status = 201, body = CreatedKey), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create(
    State(app): State<AppState>,
    OptionsBody(req): OptionsBody<CreateKeyRequest>,
) -> ApiResult<(StatusCode, Json<CreatedKey>)> {
    let created = keys::create(&app.store, req.new_key()?).await?;
    Ok((StatusCode::CREATED, Json(CreatedKey::from(created))))
}

/// List API keys (never their secrets), revoked ones included.
#[utoipa::path(get, path = "/v1/keys", tag = "keys", responses((status = 200, body = KeyList)))]
pub async fn list(State(app): State<AppState>) -> ApiResult<Json<KeyList>> {
    let keys = keys::list(&app.store).await?;
    Ok(Json(KeyList { keys: keys.into_iter().map(Into::into).collect() }))
}

#[utoipa::path(get, path = "/v1/keys/{keyId}", tag = "keys", params(("keyId" = String, Path)),
    responses((status = 200, body = ApiKeyDto), (status = 404, body = ErrorBody)))]
pub async fn get(State(app): State<AppState>, Path(key_id): Path<String>) -> ApiResult<Json<ApiKeyDto>> {
    Ok(Json(keys::get(&app.store, &key_id).await?.into()))
}

/// Revoke an API key: it stops working at once, on every replica.
#[utoipa::path(delete, path = "/v1/keys/{keyId}", tag = "keys", params(("keyId" = String, Path)),
    responses((status = 200, body = ApiKeyDto), (status = 404, body = ErrorBody)))]
pub async fn revoke(State(app): State<AppState>, Path(key_id): Path<String>) -> ApiResult<Json<ApiKeyDto>> {
    Ok(Json(keys::revoke(&app.store, &key_id).await?.into()))
}

/// Issue an AWS access key pair for a key, for the Rekognition-compatible API (`POST /` signed with Signature
/// V4): requests signed with it act as the key, with its scopes, collections, rate limit and quota. The secret
/// is shown once. Revoking the key revokes its pairs.
#[utoipa::path(post, path = "/v1/keys/{keyId}/aws-credentials", tag = "keys", params(("keyId" = String, Path)),
    responses((status = 201, body = AwsCredentials), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn aws_credentials(
    State(app): State<AppState>,
    Path(key_id): Path<String>,
) -> ApiResult<(StatusCode, Json<AwsCredentials>)> {
    Ok((StatusCode::CREATED, Json(keys::issue_aws_credentials(&app.store, &key_id).await?.into())))
}

/// This month's request count of the calling key, its quota and when it resets.
#[utoipa::path(get, path = "/v1/usage", tag = "keys", params(UsageQuery),
    responses((status = 200, body = Usage), (status = 401, body = ErrorBody)))]
pub async fn usage(
    State(app): State<AppState>,
    Extension(caller): Extension<auth::Access>,
    QueryOptions(query): QueryOptions<UsageQuery>,
) -> ApiResult<Json<Usage>> {
    let usage = keys::usage(&app.store, &caller, query.key_id).await?;
    Ok(Json(Usage {
        remaining: usage.remaining(),
        key_id: usage.key_id,
        month: usage.month,
        requests: usage.requests,
        monthly_quota: usage.monthly_quota,
        resets_at: rfc3339(usage.resets_at_ms),
    }))
}

/// The routes of this family: handler, OpenAPI operation and access requirement.
pub fn routes() -> Routes {
    Routes::new()
        .operation::<__path_create, _, _>(create, Scope(Scope::Admin))
        .operation::<__path_list, _, _>(list, Scope(Scope::Admin))
        .operation::<__path_get, _, _>(get, Scope(Scope::Admin))
        .operation::<__path_revoke, _, _>(revoke, Scope(Scope::Admin))
        .operation::<__path_aws_credentials, _, _>(aws_credentials, Scope(Scope::Admin))
        .operation::<__path_usage, _, _>(usage, AnyKey)
}
