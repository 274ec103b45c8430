//! API keys (stored only as a hash of the secret, never the secret) and their monthly request counts, counted
//! in the database so that a quota holds across restarts and across replicas.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::error::{StoreError, StoreResult};
use crate::now_millis;
use crate::store::Store;

#[derive(Debug, Clone, PartialEq)]
pub struct NewApiKey {
    /// Public identifier, shown in listings and logs (never the secret).
    pub key_id: String,
    /// The salted hash of the secret (see `facegate-auth`), never the secret.
    pub key_hash: String,
    pub name: String,
    /// `admin`, or operations such as `faces:compare`, `collections:read`.
    pub scopes: Vec<String>,
    /// When set, the key may only touch these collections.
    pub collections: Option<Vec<String>>,
    /// When set, the key may only read and write these S3 buckets (`S3Object` inputs, liveness output).
    pub buckets: Option<Vec<String>>,
    pub rate_per_second: Option<f64>,
    pub burst: Option<u32>,
    pub monthly_quota: Option<u64>,
    /// Milliseconds since the epoch.
    pub expires_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApiKey {
    pub key_id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub collections: Option<Vec<String>>,
    pub buckets: Option<Vec<String>>,
    pub rate_per_second: Option<f64>,
    pub burst: Option<u32>,
    pub monthly_quota: Option<u64>,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub created_at: i64,
}

impl ApiKey {
    /// Neither revoked nor expired at `now` (milliseconds).
    pub fn is_active(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| now < e)
    }
}

const KEY_COLUMNS: &str =
    "key_id, name, scopes, collections, buckets, rate_per_second, burst, monthly_quota, expires_at, \
                           revoked_at, created_at";

fn join(list: &[String]) -> String {
    list.join(",")
}

fn split(text: &str) -> Vec<String> {
    text.split(',').filter(|s| !s.is_empty()).map(String::from).collect()
}

fn key_from_row(r: &AnyRow) -> StoreResult<ApiKey> {
    let collections: Option<String> = r.try_get("collections")?;
    let buckets: Option<String> = r.try_get("buckets")?;
    let burst: Option<i64> = r.try_get("burst")?;
    let quota: Option<i64> = r.try_get("monthly_quota")?;
    Ok(ApiKey {
        key_id: r.try_get("key_id")?,
        name: r.try_get("name")?,
        scopes: split(&r.try_get::<String, _>("scopes")?),
        collections: collections.as_deref().map(split),
        buckets: buckets.as_deref().map(split),
        rate_per_second: r.try_get("rate_per_second")?,
        burst: burst.map(|b| u32::try_from(b).unwrap_or(u32::MAX)),
        monthly_quota: quota.map(|q| q.max(0) as u64),
        expires_at: r.try_get("expires_at")?,
        revoked_at: r.try_get("revoked_at")?,
        created_at: r.try_get("created_at")?,
    })
}

impl Store {
    pub async fn create_api_key(&self, new: &NewApiKey) -> StoreResult<ApiKey> {
        let created_at = now_millis();
        sqlx::query(
            "INSERT INTO api_keys (key_id, key_hash, name, scopes, collections, rate_per_second, burst, \
             monthly_quota, expires_at, revoked_at, created_at, buckets) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, $10, $11)",
        )
        .bind(&new.key_id)
        .bind(&new.key_hash)
        .bind(&new.name)
        .bind(join(&new.scopes))
        .bind(new.collections.as_deref().map(join))
        .bind(new.rate_per_second)
        .bind(new.burst.map(i64::from))
        .bind(new.monthly_quota.map(|q| i64::try_from(q).unwrap_or(i64::MAX)))
        .bind(new.expires_at)
        .bind(created_at)
        .bind(new.buckets.as_deref().map(join))
        .execute(&self.pool)
        .await?;
        Ok(ApiKey {
            key_id: new.key_id.clone(),
            name: new.name.clone(),
            scopes: new.scopes.clone(),
            collections: new.collections.clone(),
            buckets: new.buckets.clone(),
            rate_per_second: new.rate_per_second,
            burst: new.burst,
            monthly_quota: new.monthly_quota,
            expires_at: new.expires_at,
            revoked_at: None,
            created_at,
        })
    }

    /// The key `key_id` with its stored hash, to check a presented secret against (revoked and expired keys
    /// included: the caller decides).
    pub async fn api_key_credentials(&self, key_id: &str) -> StoreResult<Option<(ApiKey, String)>> {
        let row = sqlx::query(&format!("SELECT {KEY_COLUMNS}, key_hash FROM api_keys WHERE key_id = $1"))
            .bind(key_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok((key_from_row(&r)?, r.try_get("key_hash")?))).transpose()
    }

    pub async fn get_api_key(&self, key_id: &str) -> StoreResult<Option<ApiKey>> {
        Ok(self.api_key_credentials(key_id).await?.map(|(k, _)| k))
    }

    pub async fn list_api_keys(&self) -> StoreResult<Vec<ApiKey>> {
        let rows = sqlx::query(&format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at, key_id"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(key_from_row).collect()
    }

    /// Revokes a key; `false` when there is no such key. Revoking twice keeps the first time.
    pub async fn revoke_api_key(&self, key_id: &str) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE key_id = $1")
            .bind(key_id)
            .bind(now_millis())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Counts one request of `key_id` in `month` (`YYYY-MM`, UTC) and returns the month's count with it; one
    /// atomic statement, so concurrent requests on any replica are all counted. With a `quota`, a request over
    /// it is not counted and `None` comes back: the quota trips at exactly `quota` requests whatever the
    /// concurrency.
    pub async fn count_request(&self, key_id: &str, month: &str, quota: Option<u64>) -> StoreResult<Option<u64>> {
        let quota = match quota {
            Some(0) => return Ok(None),
            Some(q) => i64::try_from(q).unwrap_or(i64::MAX),
            None => i64::MAX,
        };
        let row = sqlx::query(
            "INSERT INTO key_usage (key_id, month, requests) VALUES ($1, $2, 1) \
             ON CONFLICT (key_id, month) DO UPDATE SET requests = key_usage.requests + 1 \
             WHERE key_usage.requests < $3 RETURNING requests",
        )
        .bind(key_id)
        .bind(month)
        .bind(quota)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let n: i64 = row.try_get("requests")?;
        u64::try_from(n).map(Some).map_err(|_| StoreError::Corrupt(format!("negative usage count {n}")))
    }

    /// Records an AWS access key pair for `key_id` (Signature V4 needs the secret itself on the server, as AWS
    /// keeps it: the pair is only as safe as the database). `false` when there is no such key.
    pub async fn create_aws_credentials(&self, key_id: &str, access_key_id: &str, secret: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO aws_credentials (access_key_id, key_id, secret, created_at) \
             SELECT $1, key_id, $3, $4 FROM api_keys WHERE key_id = $2",
        )
        .bind(access_key_id)
        .bind(key_id)
        .bind(secret)
        .bind(now_millis())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The API key an AWS access key id belongs to, with the pair's secret.
    pub async fn aws_credentials(&self, access_key_id: &str) -> StoreResult<Option<(ApiKey, String)>> {
        let row = sqlx::query(&format!(
            "SELECT {}, c.secret AS aws_secret FROM aws_credentials c JOIN api_keys k ON k.key_id = c.key_id \
             WHERE c.access_key_id = $1",
            KEY_COLUMNS.split(", ").map(|c| format!("k.{c}")).collect::<Vec<_>>().join(", ")
        ))
        .bind(access_key_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((key_from_row(&r)?, r.try_get("aws_secret")?))).transpose()
    }

    /// The AWS access key ids issued for `key_id`, oldest first.
    pub async fn aws_access_key_ids(&self, key_id: &str) -> StoreResult<Vec<String>> {
        let rows = sqlx::query(
            "SELECT access_key_id FROM aws_credentials WHERE key_id = $1 ORDER BY created_at, access_key_id",
        )
        .bind(key_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get("access_key_id")?)).collect()
    }

    /// The month's count without counting.
    pub async fn usage(&self, key_id: &str, month: &str) -> StoreResult<u64> {
        let row = sqlx::query("SELECT requests FROM key_usage WHERE key_id = $1 AND month = $2")
            .bind(key_id)
            .bind(month)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(r) => Ok(r.try_get::<i64, _>("requests")?.max(0) as u64),
            None => Ok(0),
        }
    }
}
