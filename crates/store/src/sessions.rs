//! Liveness sessions: the state machine's serialised state, versioned so that two replicas (or two requests)
//! taking frames for one session at once cannot both apply theirs, and the session's images (reference and
//! audit), deleted with it.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::error::StoreResult;
use crate::store::{commit_upload, release_objects, Store};

#[derive(Debug, Clone, PartialEq)]
pub struct NewSession {
    pub session_id: String,
    /// The API key that created it (its id; `admin` for the configured admin key).
    pub owner_key: String,
    pub client_request_token: Option<String>,
    /// Hash of the session token (never the token).
    pub token_hash: String,
    pub status: String,
    /// The session state, JSON.
    pub state: String,
    pub created_at: i64,
    pub expires_at: i64,
    /// When the session and its images are deleted.
    pub purge_at: i64,
    /// When the face template in its state must be dropped (privacy mode), if it may hold one.
    pub biometrics_until: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoredSession {
    pub session_id: String,
    pub owner_key: String,
    pub client_request_token: Option<String>,
    pub token_hash: String,
    pub status: String,
    pub state: String,
    pub version: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub purge_at: i64,
    pub biometrics_until: Option<i64>,
}

/// An image to keep with a session.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionImage {
    pub name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

const COLUMNS: &str = "session_id, owner_key, client_request_token, token_hash, status, state, version, created_at, \
                       expires_at, purge_at, biometrics_until";

fn from_row(r: &AnyRow) -> StoreResult<StoredSession> {
    Ok(StoredSession {
        session_id: r.try_get("session_id")?,
        owner_key: r.try_get("owner_key")?,
        client_request_token: r.try_get("client_request_token")?,
        token_hash: r.try_get("token_hash")?,
        status: r.try_get("status")?,
        state: r.try_get("state")?,
        version: r.try_get("version")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        purge_at: r.try_get("purge_at")?,
        biometrics_until: r.try_get("biometrics_until")?,
    })
}

/// A session's new state, written if the session is still at `version`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SessionUpdate<'a> {
    pub session_id: &'a str,
    pub version: i64,
    pub status: &'a str,
    pub state: &'a str,
    /// When the face template in `state` must be dropped (privacy mode); `None` when it holds none to drop.
    pub biometrics_until: Option<i64>,
}

/// What [`Store::create_session`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionCreated {
    New(StoredSession),
    /// The same owner sent the same client request token before: that session.
    Existing(StoredSession),
}

impl Store {
    /// Creates a session, or returns the one this owner created with the same client request token.
    pub async fn create_session(&self, s: &NewSession) -> StoreResult<SessionCreated> {
        let done = sqlx::query(
            "INSERT INTO liveness_sessions (session_id, owner_key, client_request_token, token_hash, status, state, \
             version, created_at, expires_at, purge_at, biometrics_until) \
             VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, $9, $10) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&s.session_id)
        .bind(&s.owner_key)
        .bind(&s.client_request_token)
        .bind(&s.token_hash)
        .bind(&s.status)
        .bind(&s.state)
        .bind(s.created_at)
        .bind(s.expires_at)
        .bind(s.purge_at)
        .bind(s.biometrics_until)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 1 {
            return Ok(SessionCreated::New(StoredSession {
                session_id: s.session_id.clone(),
                owner_key: s.owner_key.clone(),
                client_request_token: s.client_request_token.clone(),
                token_hash: s.token_hash.clone(),
                status: s.status.clone(),
                state: s.state.clone(),
                version: 1,
                created_at: s.created_at,
                expires_at: s.expires_at,
                purge_at: s.purge_at,
                biometrics_until: s.biometrics_until,
            }));
        }
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM liveness_sessions WHERE owner_key = $1 AND client_request_token = $2"
        ))
        .bind(&s.owner_key)
        .bind(&s.client_request_token)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(r) => Ok(SessionCreated::Existing(from_row(&r)?)),
            // A session id collision (random 128-bit ids: never in practice); the caller retries.
            None => Err(crate::StoreError::Corrupt(format!("session id {} is taken", s.session_id))),
        }
    }

    pub async fn get_session(&self, session_id: &str) -> StoreResult<Option<StoredSession>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM liveness_sessions WHERE session_id = $1"))
            .bind(session_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Saves a session's new state if it is still at `version` (and puts its images), in one transaction.
    /// `false` when another writer got there first: nothing was written. With a bucket, the images are uploaded
    /// first (see the `blobs` module) and those of a write that did not happen are deleted.
    pub async fn update_session(&self, update: &SessionUpdate<'_>, images: &[SessionImage]) -> StoreResult<bool> {
        let mut keys = Vec::with_capacity(images.len());
        for image in images {
            match self.upload(&format!("liveness/{}", update.session_id), &image.content_type, &image.bytes).await {
                Ok(key) => keys.push(key),
                Err(e) => {
                    self.discard_uploads(&keys.into_iter().flatten().collect::<Vec<_>>()).await;
                    return Err(e);
                }
            }
        }
        let written = self.write_session(update, images, &keys).await;
        if !matches!(written, Ok(true)) {
            self.discard_uploads(&keys.into_iter().flatten().collect::<Vec<_>>()).await;
        } else if keys.iter().any(Option::is_some) {
            // The objects of images replaced by these.
            self.sweep_objects_logged().await;
        }
        written
    }

    async fn write_session(
        &self,
        update: &SessionUpdate<'_>,
        images: &[SessionImage],
        keys: &[Option<String>],
    ) -> StoreResult<bool> {
        let SessionUpdate { session_id, version, status, state, biometrics_until } = *update;
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE liveness_sessions SET status = $1, state = $2, biometrics_until = $3, version = version + 1 \
             WHERE session_id = $4 AND version = $5",
        )
        .bind(status)
        .bind(state)
        .bind(biometrics_until)
        .bind(session_id)
        .bind(version)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        for (image, key) in images.iter().zip(keys) {
            // The object of the image this one replaces, if any, goes.
            let replaced = sqlx::query(
                "INSERT INTO blob_pending (object_key, due_at) SELECT object_key, 0 FROM liveness_images \
                 WHERE object_key IS NOT NULL AND session_id = $1 AND name = $2 \
                 ON CONFLICT (object_key) DO UPDATE SET due_at = 0",
            );
            replaced.bind(session_id).bind(&image.name).execute(&mut *tx).await?;
            let bytes: &[u8] = if key.is_some() { &[] } else { &image.bytes };
            sqlx::query(
                "INSERT INTO liveness_images (session_id, name, content_type, bytes, object_key) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (session_id, name) DO UPDATE SET content_type = excluded.content_type, \
                 bytes = excluded.bytes, object_key = excluded.object_key",
            )
            .bind(session_id)
            .bind(&image.name)
            .bind(&image.content_type)
            .bind(bytes)
            .bind(key)
            .execute(&mut *tx)
            .await?;
            if let Some(key) = key {
                commit_upload(&mut tx, key).await?;
            }
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Replaces a session's token hash (a new token for a repeated creation request).
    pub async fn set_session_token(&self, session_id: &str, token_hash: &str) -> StoreResult<()> {
        sqlx::query("UPDATE liveness_sessions SET token_hash = $1 WHERE session_id = $2")
            .bind(token_hash)
            .bind(session_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Names of a session's images.
    pub async fn session_image_names(&self, session_id: &str) -> StoreResult<Vec<String>> {
        let rows = sqlx::query("SELECT name FROM liveness_images WHERE session_id = $1 ORDER BY name")
            .bind(session_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok(r.try_get("name")?)).collect()
    }

    pub async fn session_image(&self, session_id: &str, name: &str) -> StoreResult<Option<SessionImage>> {
        let row = sqlx::query(
            "SELECT name, content_type, bytes, object_key FROM liveness_images WHERE session_id = $1 AND name = $2",
        )
        .bind(session_id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(SessionImage {
            name: r.try_get("name")?,
            content_type: r.try_get("content_type")?,
            bytes: self.image_bytes(r.try_get("bytes")?, r.try_get("object_key")?).await?,
        }))
    }

    /// Deletes a session's images (kept: the session and its decision).
    pub async fn delete_session_images(&self, session_id: &str) -> StoreResult<u64> {
        let mut tx = self.pool.begin().await?;
        release_objects(&mut tx, "liveness_images", "session_id = $1", session_id).await?;
        let done =
            sqlx::query("DELETE FROM liveness_images WHERE session_id = $1").bind(session_id).execute(&mut *tx).await?;
        tx.commit().await?;
        if done.rows_affected() > 0 {
            self.forget_deleted().await;
            self.sweep_objects_logged().await;
        }
        Ok(done.rows_affected())
    }

    /// Deletes a session, its images and its frames' prints in the replay memory. `false` when there was none.
    pub async fn delete_session(&self, session_id: &str) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        release_objects(&mut tx, "liveness_images", "session_id = $1", session_id).await?;
        sqlx::query("DELETE FROM liveness_images WHERE session_id = $1").bind(session_id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM liveness_frame_prints WHERE session_id = $1")
            .bind(session_id)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM liveness_sessions WHERE session_id = $1")
            .bind(session_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.forget_deleted().await;
        self.sweep_objects_logged().await;
        Ok(done.rows_affected() > 0)
    }

    /// Sessions whose face template had to be dropped before `now` (privacy mode), at most `limit`.
    pub async fn sessions_holding_biometrics(&self, now: i64, limit: i64) -> StoreResult<Vec<StoredSession>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM liveness_sessions WHERE biometrics_until < $1 ORDER BY biometrics_until LIMIT $2"
        ))
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// How many sessions `owner` has in the store (running, or finished and not purged yet).
    pub async fn count_sessions_of(&self, owner: &str) -> StoreResult<u64> {
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM liveness_sessions WHERE owner_key = $1")
            .bind(owner)
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Deletes the sessions (and images) whose retention ended before `now`; returns how many.
    pub async fn purge_sessions(&self, now: i64) -> StoreResult<u64> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO blob_pending (object_key, due_at) SELECT object_key, 0 FROM liveness_images \
             WHERE object_key IS NOT NULL AND session_id IN \
             (SELECT session_id FROM liveness_sessions WHERE purge_at < $1) \
             ON CONFLICT (object_key) DO UPDATE SET due_at = 0",
        )
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM liveness_images WHERE session_id IN \
             (SELECT session_id FROM liveness_sessions WHERE purge_at < $1)",
        )
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let done = sqlx::query("DELETE FROM liveness_sessions WHERE purge_at < $1").bind(now).execute(&mut *tx).await?;
        tx.commit().await?;
        if done.rows_affected() > 0 {
            self.forget_deleted().await;
            self.sweep_objects_logged().await;
        }
        Ok(done.rows_affected())
    }
}

impl Store {
    /// Sessions newest first (by creation time, then id): those of `owner` (every owner's when `None`),
    /// created before the session `before` = (created_at, session_id) when given, at most `limit`.
    pub async fn list_sessions(
        &self,
        owner: Option<&str>,
        before: Option<(i64, &str)>,
        limit: u32,
    ) -> StoreResult<Vec<StoredSession>> {
        let (at, id) = before.unwrap_or((i64::MAX, ""));
        // Without a cursor every session is before (i64::MAX, ""): no creation time reaches i64::MAX.
        let cursor = "(created_at < $1 OR (created_at = $1 AND session_id < $2))";
        let sql = match owner {
            Some(_) => format!(
                "SELECT {COLUMNS} FROM liveness_sessions WHERE {cursor} AND owner_key = $3 \
                 ORDER BY created_at DESC, session_id DESC LIMIT $4"
            ),
            None => format!(
                "SELECT {COLUMNS} FROM liveness_sessions WHERE {cursor} ORDER BY created_at DESC, session_id DESC LIMIT $3"
            ),
        };
        let mut query = sqlx::query(&sql).bind(at).bind(id);
        if let Some(owner) = owner {
            query = query.bind(owner);
        }
        let rows = query.bind(i64::from(limit)).fetch_all(&self.pool).await?;
        rows.iter().map(from_row).collect()
    }
}
