//! Who calls, and what they may do: a presented API key (or the admin key, or nobody on an open loopback server)
//! becomes an [`Access`] with its [`Limits`], and [`admit`] applies the key's rate limit, scope, collection and
//! monthly quota, in that order. Every front door authenticates through here; only reading the credential from
//! its request (a header, a signature) is theirs.

use std::net::IpAddr;
use std::time::Instant;

use auth::limiter::retry_after_secs;
use auth::{Access, Scope};

use crate::error::{ApiError, ApiResult, Code};
use crate::state::AppState;
use crate::time;
use crate::usecases::collections::CollectionRef;

/// Who calls an open loopback server (no admin key): the machine's own user, with every right.
pub const LOCAL_CALLER: &str = "local";

/// A key's limits, as stored.
#[derive(Debug, Default, Clone, Copy)]
pub struct Limits {
    rate: Option<(f64, u32)>,
    monthly_quota: Option<u64>,
}

/// Whether a call counts against the key's monthly quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    Yes,
    /// Reading one's own usage: neither counted nor refused by the quota.
    No,
}

fn too_many(code: Code, message: impl Into<String>, retry_after: u64) -> ApiError {
    ApiError::new(code, message).with_retry_after(retry_after)
}

/// Takes a token from the client address's bucket, or 429.
pub fn limit_address(app: &AppState, ip: IpAddr) -> ApiResult<()> {
    app.ip_limiter
        .acquire(&ip, app.config.ip_rate_per_second, app.config.ip_burst, Instant::now())
        .map_err(address_limited)
}

/// Whether the client address has a token left, without taking it: `Err` is the 429 it would get.
pub fn peek_address(app: &AppState, ip: IpAddr) -> ApiResult<()> {
    app.ip_limiter
        .peek(&ip, app.config.ip_rate_per_second, app.config.ip_burst, Instant::now())
        .map_err(address_limited)
}

/// Spends one of the client address's tokens on a refused credential (a bad user or session token).
pub fn spend_address(app: &AppState, ip: IpAddr) {
    let _ = app.ip_limiter.acquire(&ip, app.config.ip_rate_per_second, app.config.ip_burst, Instant::now());
}

fn address_limited(wait: std::time::Duration) -> ApiError {
    too_many(Code::RateLimited, "too many requests from this address", retry_after_secs(wait))
}

/// Who presents `credential` (the API key a request carries; `None`: none): the admin key, a stored key that is
/// neither revoked nor expired, or — with no admin key configured — the local caller with every right. 401 for a
/// missing, unknown, wrong, revoked or expired key.
pub async fn authenticate(app: &AppState, credential: Option<&str>) -> ApiResult<(Access, Limits)> {
    let presented = match credential {
        None if app.config.admin_key.is_none() => return Ok((Access::unrestricted(LOCAL_CALLER), Limits::default())),
        None => return Err(ApiError::new(Code::Unauthorized, "this endpoint needs an API key")),
        Some(presented) => presented,
    };
    if let Some(admin) = &app.config.admin_key {
        if auth::secret::secrets_equal(presented.as_bytes(), admin.expose().as_bytes()) {
            return Ok((Access::unrestricted("admin"), Limits::default()));
        }
    }
    let invalid = || ApiError::new(Code::InvalidKey, "the API key is not valid");
    let token = auth::api_key::parse(presented).ok_or_else(invalid)?;
    let (key, stored_hash) = app.store.api_key_credentials(token.key_id).await?.ok_or_else(invalid)?;
    if !auth::api_key::verify(&stored_hash, &token) {
        return Err(invalid());
    }
    if key.revoked_at.is_some() {
        return Err(ApiError::new(Code::KeyRevoked, "the API key has been revoked"));
    }
    if !key.is_active(store::now_millis()) {
        return Err(ApiError::new(Code::KeyExpired, "the API key has expired"));
    }
    Ok(access_of(key))
}

/// The key an AWS access key id belongs to, and the secret its requests are signed with: the configured admin
/// pair (no key: every right), or a key's own pair. `None`: no such access key id.
pub async fn aws_signing_secret(
    app: &AppState,
    access_key_id: &str,
) -> ApiResult<Option<(Option<store::ApiKey>, String)>> {
    if let (Some(id), Some(secret)) = (&app.config.aws_access_key_id, &app.config.aws_secret_access_key) {
        if auth::secret::secrets_equal(access_key_id.as_bytes(), id.as_bytes()) {
            return Ok(Some((None, secret.expose().to_string())));
        }
    }
    if !access_key_id.starts_with(auth::api_key::AWS_ACCESS_KEY_PREFIX) || access_key_id.len() > 64 {
        return Ok(None);
    }
    Ok(app.store.aws_credentials(access_key_id).await?.map(|(key, secret)| (Some(key), secret)))
}

/// What a stored (active) key may do, and its limits.
pub fn access_of(key: store::ApiKey) -> (Access, Limits) {
    let scopes = key
        .scopes
        .iter()
        .filter_map(|s| match s.parse::<Scope>() {
            Ok(scope) => Some(scope),
            Err(e) => {
                tracing::warn!(key_id = %key.key_id, error = %e, "ignoring a stored scope");
                None
            }
        })
        .collect();
    let limits = Limits {
        rate: key.rate_per_second.map(|r| (r, key.burst.unwrap_or_else(|| r.ceil().max(1.0) as u32))),
        monthly_quota: key.monthly_quota,
    };
    (Access { key_id: key.key_id, scopes, collections: key.collections, buckets: key.buckets, stored: true }, limits)
}

/// An authenticated caller's rate limit, scope, collection and quota, in that order.
pub async fn admit(
    app: &AppState,
    access: Access,
    limits: Limits,
    scope: Option<Scope>,
    collection: Option<&str>,
    count: Count,
) -> ApiResult<Access> {
    if let Some((rate, burst)) = limits.rate {
        app.key_limiter.acquire(&access.key_id, rate, burst, Instant::now()).map_err(|wait| {
            too_many(Code::RateLimited, "this key's rate limit is exhausted", retry_after_secs(wait))
        })?;
    }
    if let Some(scope) = scope {
        if !access.allows(scope) {
            return Err(ApiError::new(Code::InsufficientScope, format!("this key lacks the `{scope}` scope")));
        }
    }
    if let Some(id) = collection {
        CollectionRef::of(&access, id)?;
    }
    if access.stored && count == Count::Yes {
        let now = store::now_millis();
        let counted = app.store.count_request(&access.key_id, &time::month_of(now), limits.monthly_quota).await?;
        if counted.is_none() {
            let reset = time::next_month_start(now);
            let wait = u64::try_from((reset - now).div_euclid(1000)).unwrap_or(0).max(1);
            return Err(too_many(
                Code::QuotaExceeded,
                format!("this key's monthly quota is used up; it resets at {}", time::rfc3339(reset)),
                wait,
            ));
        }
    }
    Ok(access)
}
