//! API keys (these use cases need only the store, so `facegate keys` runs them without loading models): create (the secret is handed back once), list, read, revoke; AWS access key pairs for the
//! Rekognition-compatible API; and a key's usage this month.

use auth::Scope;
use store::{ApiKey, NewApiKey, Store};

use crate::error::{ApiError, ApiResult, Code};
use crate::time;

/// What a new key may do.
#[derive(Debug, Clone, Default)]
pub struct NewKey {
    /// For people: who or what uses the key (1-200 bytes).
    pub name: String,
    /// At least one.
    pub scopes: Vec<Scope>,
    /// When given, the key may only use these collections (1-1000 ids).
    pub collections: Option<Vec<String>>,
    /// When given, the key may only read and write these S3 buckets (1-100 names).
    pub buckets: Option<Vec<String>>,
    /// The key stops working this many seconds from now.
    pub expires_in_seconds: Option<u64>,
    /// Requests per second (token bucket); none: unlimited.
    pub rate_per_second: Option<f64>,
    /// Requests allowed in a burst above the rate (default: the rate rounded up).
    pub burst: Option<u32>,
    /// Requests per calendar month (UTC); none: unlimited.
    pub monthly_quota: Option<u64>,
}

/// Scopes by their names (`admin`, `faces:detect`, ...); a name that is no scope is refused.
pub fn parse_scopes(names: &[String]) -> ApiResult<Vec<Scope>> {
    names.iter().map(|s| s.parse().map_err(|e: auth::ScopeError| ApiError::invalid_parameter(e.to_string()))).collect()
}

/// A key just created: the only time its secret is shown.
pub struct CreatedKey {
    /// `fg_<keyId>_<secret>`.
    pub token: String,
    pub key: ApiKey,
}

fn key_not_found(id: &str) -> ApiError {
    ApiError::new(Code::KeyNotFound, format!("no API key {id:?}"))
}

/// Checks the request and stores the new key (its secret only as a salted hash).
pub async fn create(store: &Store, new: NewKey) -> ApiResult<CreatedKey> {
    fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::invalid_parameter(message)
    }
    let name = new.name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(invalid("a key's name must be 1-200 bytes"));
    }
    let mut scopes = new.scopes;
    scopes.sort();
    scopes.dedup();
    if scopes.is_empty() {
        return Err(invalid("a key needs at least one scope"));
    }
    if let Some(list) = &new.collections {
        if list.is_empty() || list.len() > 1000 {
            return Err(invalid("a key's collections are 1-1000 collection ids (none listed: all)"));
        }
        if let Some(bad) = list.iter().find(|c| !store::valid_collection_id(c)) {
            return Err(invalid(format!("{bad:?} is not a collection id")));
        }
    }
    if let Some(list) = &new.buckets {
        if list.is_empty() || list.len() > 100 {
            return Err(invalid("a key's buckets are 1-100 bucket names (none listed: all)"));
        }
        if let Some(bad) = list.iter().find(|b| !store::valid_bucket_name(b)) {
            return Err(invalid(format!("{bad:?} is not an S3 bucket name (3-63 characters of a-z 0-9 . -)")));
        }
    }
    if let Some(rate) = new.rate_per_second {
        if !(rate.is_finite() && rate > 0.0 && rate <= 1e6) {
            return Err(invalid("the rate per second must be a positive number"));
        }
    } else if new.burst.is_some() {
        return Err(invalid("a burst needs a rate per second"));
    }
    if new.burst == Some(0) {
        return Err(invalid("a burst must be at least 1"));
    }
    let expires_at = match new.expires_in_seconds {
        Some(0) => return Err(invalid("a key's lifetime must be positive")),
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
            name: name.to_string(),
            scopes: scopes.iter().map(|s| s.as_str().to_string()).collect(),
            collections: new.collections,
            buckets: new.buckets,
            rate_per_second: new.rate_per_second,
            burst: new.burst,
            monthly_quota: new.monthly_quota,
            expires_at,
        })
        .await?;
    tracing::info!(key_id = %key.key_id, name = %key.name, "API key created");
    Ok(CreatedKey { token: generated.token, key })
}

/// Every key (never a secret), revoked ones included.
pub async fn list(store: &Store) -> ApiResult<Vec<ApiKey>> {
    Ok(store.list_api_keys().await?)
}

pub async fn get(store: &Store, key_id: &str) -> ApiResult<ApiKey> {
    store.get_api_key(key_id).await?.ok_or_else(|| key_not_found(key_id))
}

/// Revokes a key: it stops working at once, on every replica (its AWS pairs with it).
pub async fn revoke(store: &Store, key_id: &str) -> ApiResult<ApiKey> {
    if !store.revoke_api_key(key_id).await? {
        return Err(key_not_found(key_id));
    }
    tracing::info!(key_id = %key_id, "API key revoked");
    get(store, key_id).await
}

/// An AWS access key pair acting as an API key (shown once).
pub struct AwsPair {
    pub key_id: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// Issues an AWS access key pair for the active key `key_id`.
pub async fn issue_aws_credentials(store: &Store, key_id: &str) -> ApiResult<AwsPair> {
    let key = get(store, key_id).await?;
    if !key.is_active(store::now_millis()) {
        return Err(ApiError::invalid_parameter("the key is revoked or expired: no AWS pair is issued for it"));
    }
    let pair = auth::api_key::generate_aws_pair();
    if !store.create_aws_credentials(key_id, &pair.access_key_id, &pair.secret_access_key).await? {
        return Err(key_not_found(key_id));
    }
    tracing::info!(key_id = %key_id, access_key_id = %pair.access_key_id, "AWS access key pair issued");
    Ok(AwsPair {
        key_id: key_id.to_string(),
        access_key_id: pair.access_key_id,
        secret_access_key: pair.secret_access_key,
    })
}

/// A key's requests this calendar month (UTC).
pub struct Usage {
    pub key_id: String,
    /// `YYYY-MM`.
    pub month: String,
    pub requests: u64,
    pub monthly_quota: Option<u64>,
    /// When the count starts again from zero (Unix milliseconds).
    pub resets_at_ms: i64,
}

impl Usage {
    pub fn remaining(&self) -> Option<u64> {
        self.monthly_quota.map(|q| q.saturating_sub(self.requests))
    }
}

/// The usage of `key_id` (the caller's own when `None`); another key's only for admin callers.
pub async fn usage(store: &Store, caller: &auth::Access, key_id: Option<String>) -> ApiResult<Usage> {
    let now = store::now_millis();
    let month = time::month_of(now);
    let key_id = match key_id {
        Some(other) if other != caller.key_id => {
            if !caller.is_admin() {
                return Err(ApiError::new(Code::InsufficientScope, "only admin keys may read another key's usage"));
            }
            other
        }
        _ => caller.key_id.clone(),
    };
    let monthly_quota = match store.get_api_key(&key_id).await? {
        Some(key) => key.monthly_quota,
        None if key_id == caller.key_id && !caller.stored => None,
        None => return Err(key_not_found(&key_id)),
    };
    let requests = store.usage(&key_id, &month).await?;
    Ok(Usage { key_id, month, requests, monthly_quota, resets_at_ms: time::next_month_start(now) })
}
