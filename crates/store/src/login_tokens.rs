//! What signed tokens need to be shared by every replica: the signing keys (one current, older ones kept
//! retired until their tokens have expired) and the ids of revoked tokens.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::error::StoreResult;
use crate::now_millis;
use crate::store::Store;

#[derive(Clone, PartialEq)]
pub struct StoredSigningKey {
    pub kid: String,
    /// `EdDSA`.
    pub algorithm: String,
    pub private_key: Vec<u8>,
    pub public_key: Vec<u8>,
    pub created_at: i64,
    /// When it stopped signing (milliseconds); `None` for the current key.
    pub retired_at: Option<i64>,
}

impl std::fmt::Debug for StoredSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredSigningKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

const COLUMNS: &str = "kid, algorithm, private_key, public_key, created_at, retired_at";

fn key_from_row(r: &AnyRow) -> StoreResult<StoredSigningKey> {
    Ok(StoredSigningKey {
        kid: r.try_get("kid")?,
        algorithm: r.try_get("algorithm")?,
        private_key: r.try_get("private_key")?,
        public_key: r.try_get("public_key")?,
        created_at: r.try_get("created_at")?,
        retired_at: r.try_get("retired_at")?,
    })
}

impl Store {
    /// The current signing key, or `new` stored as the current one when there is none (under the write lock,
    /// so replicas starting together agree on one key).
    pub async fn current_signing_key_or(&self, new: &StoredSigningKey) -> StoreResult<StoredSigningKey> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM signing_keys WHERE retired_at IS NULL ORDER BY created_at DESC, kid LIMIT 1"
        ))
        .fetch_optional(&mut *tx)
        .await?;
        let key = match row {
            Some(r) => key_from_row(&r)?,
            None => {
                insert_key(&mut tx, new).await?;
                new.clone()
            }
        };
        tx.commit().await?;
        Ok(key)
    }

    /// The current key and the keys retired after `retired_after` (milliseconds), newest first.
    pub async fn signing_keys(&self, retired_after: i64) -> StoreResult<Vec<StoredSigningKey>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM signing_keys WHERE retired_at IS NULL OR retired_at > $1 \
             ORDER BY created_at DESC, kid"
        ))
        .bind(retired_after)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(key_from_row).collect()
    }

    /// Retires the current key and makes `new` the current one.
    pub async fn rotate_signing_key(&self, new: &StoredSigningKey) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL")
            .bind(now_millis())
            .execute(&mut *tx)
            .await?;
        insert_key(&mut tx, new).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Revokes the token `jti` (which expires at `expires_at`, milliseconds); revocations of tokens that have
    /// expired anyway are dropped on the way. `false` when it was revoked already.
    pub async fn revoke_token(&self, jti: &str, expires_at: i64) -> StoreResult<bool> {
        let now = now_millis();
        sqlx::query("DELETE FROM revoked_tokens WHERE expires_at < $1").bind(now).execute(&self.pool).await?;
        let done = sqlx::query(
            "INSERT INTO revoked_tokens (jti, expires_at, revoked_at) VALUES ($1, $2, $3) ON CONFLICT (jti) DO NOTHING",
        )
        .bind(jti)
        .bind(expires_at)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn is_token_revoked(&self, jti: &str) -> StoreResult<bool> {
        Ok(sqlx::query("SELECT 1 AS one FROM revoked_tokens WHERE jti = $1")
            .bind(jti)
            .fetch_optional(&self.pool)
            .await?
            .is_some())
    }
}

async fn insert_key(tx: &mut sqlx::Transaction<'static, sqlx::Any>, key: &StoredSigningKey) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO signing_keys (kid, algorithm, private_key, public_key, created_at, retired_at) \
         VALUES ($1, $2, $3, $4, $5, NULL)",
    )
    .bind(&key.kid)
    .bind(&key.algorithm)
    .bind(key.private_key.as_slice())
    .bind(key.public_key.as_slice())
    .bind(key.created_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
