//! Creating API keys (for the admin API and `facegate keys create`): the request, checked, and the key stored
//! as a hash with its secret handed back once.

use auth::Scope;
use serde::{Deserialize, Serialize};
use store::{ApiKey, NewApiKey, Store};
use utoipa::ToSchema;

use crate::error::{ApiError, Code};
use crate::time::rfc3339;

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

/// Checks the request and stores the new key.
pub async fn create_key(store: &Store, req: CreateKeyRequest) -> Result<CreatedKey, ApiError> {
    fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::invalid_parameter(message)
    }
    if req.name.trim().is_empty() || req.name.len() > 200 {
        return Err(invalid("name must be 1-200 bytes"));
    }
    if req.scopes.is_empty() {
        return Err(invalid("a key needs at least one scope"));
    }
    let mut scopes = Vec::with_capacity(req.scopes.len());
    for s in &req.scopes {
        let scope: Scope = s.parse().map_err(|e: auth::ScopeError| invalid(e.to_string()))?;
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    scopes.sort();
    if let Some(list) = &req.collections {
        if list.is_empty() || list.len() > 1000 {
            return Err(invalid("collections must list 1-1000 collection ids (leave it out for all)"));
        }
        if let Some(bad) = list.iter().find(|c| !store::valid_collection_id(c)) {
            return Err(invalid(format!("{bad:?} is not a collection id")));
        }
    }
    if let Some(rate) = req.rate_per_second {
        if !(rate.is_finite() && rate > 0.0 && rate <= 1e6) {
            return Err(invalid("ratePerSecond must be a positive number"));
        }
    } else if req.burst.is_some() {
        return Err(invalid("burst needs ratePerSecond"));
    }
    if req.burst == Some(0) {
        return Err(invalid("burst must be at least 1"));
    }
    let expires_at = match req.expires_in_seconds {
        Some(0) => return Err(invalid("expiresInSeconds must be positive")),
        Some(secs) => {
            let ms = i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX);
            Some(store::now_millis().saturating_add(ms))
        }
        None => None,
    };
    let generated = auth::api_key::generate();
    let key = store
        .create_api_key(&NewApiKey {
            key_id: generated.key_id.clone(),
            key_hash: generated.stored_hash.clone(),
            name: req.name.trim().to_string(),
            scopes: scopes.iter().map(|s| s.as_str().to_string()).collect(),
            collections: req.collections,
            rate_per_second: req.rate_per_second,
            burst: req.burst,
            monthly_quota: req.monthly_quota,
            expires_at,
        })
        .await?;
    tracing::info!(key_id = %key.key_id, name = %key.name, "API key created");
    Ok(CreatedKey { key: generated.token, info: key.into() })
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

/// Issues an AWS access key pair for the active key `key_id`.
pub async fn issue_aws_credentials(store: &Store, key_id: &str) -> Result<AwsCredentials, ApiError> {
    let not_found = || ApiError::new(Code::KeyNotFound, format!("no API key {key_id:?}"));
    let key = store.get_api_key(key_id).await?.ok_or_else(not_found)?;
    if !key.is_active(store::now_millis()) {
        return Err(ApiError::invalid_parameter("the key is revoked or expired: no AWS pair is issued for it"));
    }
    let pair = auth::api_key::generate_aws_pair();
    if !store.create_aws_credentials(key_id, &pair.access_key_id, &pair.secret_access_key).await? {
        return Err(not_found());
    }
    tracing::info!(key_id = %key_id, access_key_id = %pair.access_key_id, "AWS access key pair issued");
    Ok(AwsCredentials {
        key_id: key_id.to_string(),
        access_key_id: pair.access_key_id,
        secret_access_key: pair.secret_access_key,
    })
}
