//! API keys (admin only): create (the secret is shown once), list, read, revoke; and every key's view of its
//! own usage.

use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api_keys::{create_key, issue_aws_credentials, ApiKeyDto, AwsCredentials, CreateKeyRequest, CreatedKey};
use crate::error::{ApiError, ApiResult, Code};
use crate::http_error::ErrorBody;
use crate::input::{lenient_string, JsonBody, QueryOptions};
use crate::state::AppState;
use crate::time;

use crate::access::Requirement::*;
use crate::routes::table::Routes;
use auth::Scope;

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

fn key_not_found(id: &str) -> ApiError {
    ApiError::new(Code::KeyNotFound, format!("no API key {id:?}"))
}

/// Create an API key. The answer holds the secret key: it is shown once and never again.
#[utoipa::path(post, path = "/v1/keys", tag = "keys", request_body = CreateKeyRequest,
    responses((status = 201, body = CreatedKey), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create(
    State(app): State<AppState>,
    JsonBody(req): JsonBody<CreateKeyRequest>,
) -> ApiResult<(StatusCode, Json<CreatedKey>)> {
    Ok((StatusCode::CREATED, Json(create_key(&app.store, req).await?)))
}

/// List API keys (never their secrets), revoked ones included.
#[utoipa::path(get, path = "/v1/keys", tag = "keys", responses((status = 200, body = KeyList)))]
pub async fn list(State(app): State<AppState>) -> ApiResult<Json<KeyList>> {
    let keys = app.store.list_api_keys().await?;
    Ok(Json(KeyList { keys: keys.into_iter().map(Into::into).collect() }))
}

#[utoipa::path(get, path = "/v1/keys/{keyId}", tag = "keys", params(("keyId" = String, Path)),
    responses((status = 200, body = ApiKeyDto), (status = 404, body = ErrorBody)))]
pub async fn get(State(app): State<AppState>, Path(key_id): Path<String>) -> ApiResult<Json<ApiKeyDto>> {
    let key = app.store.get_api_key(&key_id).await?.ok_or_else(|| key_not_found(&key_id))?;
    Ok(Json(key.into()))
}

/// Revoke an API key: it stops working at once, on every replica.
#[utoipa::path(delete, path = "/v1/keys/{keyId}", tag = "keys", params(("keyId" = String, Path)),
    responses((status = 200, body = ApiKeyDto), (status = 404, body = ErrorBody)))]
pub async fn revoke(State(app): State<AppState>, Path(key_id): Path<String>) -> ApiResult<Json<ApiKeyDto>> {
    if !app.store.revoke_api_key(&key_id).await? {
        return Err(key_not_found(&key_id));
    }
    tracing::info!(key_id = %key_id, "API key revoked");
    let key = app.store.get_api_key(&key_id).await?.ok_or_else(|| key_not_found(&key_id))?;
    Ok(Json(key.into()))
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
    Ok((StatusCode::CREATED, Json(issue_aws_credentials(&app.store, &key_id).await?)))
}

/// This month's request count of the calling key, its quota and when it resets.
#[utoipa::path(get, path = "/v1/usage", tag = "keys", params(UsageQuery),
    responses((status = 200, body = Usage), (status = 401, body = ErrorBody)))]
pub async fn usage(
    State(app): State<AppState>,
    Extension(caller): Extension<auth::Access>,
    QueryOptions(query): QueryOptions<UsageQuery>,
) -> ApiResult<Json<Usage>> {
    let now = store::now_millis();
    let month = time::month_of(now);
    let key_id = match query.key_id {
        Some(other) if other != caller.key_id => {
            if !caller.is_admin() {
                return Err(ApiError::new(Code::InsufficientScope, "only admin keys may read another key's usage"));
            }
            other
        }
        _ => caller.key_id.clone(),
    };
    let quota = match app.store.get_api_key(&key_id).await? {
        Some(key) => key.monthly_quota,
        None if key_id == caller.key_id && !caller.stored => None,
        None => return Err(key_not_found(&key_id)),
    };
    let requests = app.store.usage(&key_id, &month).await?;
    Ok(Json(Usage {
        key_id,
        month,
        requests,
        monthly_quota: quota,
        remaining: quota.map(|q| q.saturating_sub(requests)),
        resets_at: time::rfc3339(time::next_month_start(now)),
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
