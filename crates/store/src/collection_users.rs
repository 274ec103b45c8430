//! Users of a collection (as Rekognition has them): a user id that groups up to [`MAX_USER_FACES`] of the
//! collection's faces, a face in one user at most (`faces.user_id`). Associations are logged in the change log
//! (`user` changes) so every replica's index groups its search by user without a second scan.
//!
//! The operations that change users are idempotent on a client request token: the first call's outcome is
//! recorded in the same transaction as its changes (`user_requests`), and a retry with the same token and the
//! same parameters returns it without changing anything; the same token with other parameters is refused.
//!
//! Not to be confused with the users of face login ([`crate::login_users`]), which live in their own internal
//! collection.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{Row, Transaction};
use uuid::Uuid;

use crate::error::{StoreError, StoreResult};
use crate::now_millis;
use crate::records::ChangeOp;
use crate::store::{log_change, parse_uuid, Store};

/// The most faces one user holds.
pub const MAX_USER_FACES: u64 = 100;

/// User ids of a collection: 1-128 characters of `A-Z a-z 0-9 _ . - :` (Rekognition's alphabet).
pub fn valid_collection_user_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && !crate::text::is_dot_segment(id)
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-:".contains(&b))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectionUser {
    pub user_id: String,
    pub face_count: u64,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
}

/// A client request token of an operation on users: the same token with the same parameters (`fingerprint`)
/// replays the first call's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestKey<'a> {
    pub operation: &'static str,
    pub token: &'a str,
    /// What the call asked, canonically written: a retry must ask the same.
    pub fingerprint: String,
}

/// What an idempotent operation did: now, or on an earlier call with the same token.
#[derive(Debug, Clone, PartialEq)]
pub enum Once<T> {
    First(T),
    Repeated(T),
}

impl<T> Once<T> {
    pub fn into_inner(self) -> T {
        match self {
            Once::First(t) | Once::Repeated(t) => t,
        }
    }
}

/// What [`Store::associate_faces`] did with each face asked for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Association {
    /// Associated now.
    pub associated: Vec<Uuid>,
    /// Already the user's (nothing to do).
    pub already: Vec<Uuid>,
    /// Not in the collection.
    pub not_found: Vec<Uuid>,
    /// In another user, with that user's id.
    pub other_user: Vec<(Uuid, String)>,
    /// Refused by the caller's check before the store was asked: each with its similarity to the user.
    pub low_confidence: Vec<(Uuid, f32)>,
    /// The user's faces afterwards.
    pub face_count: u64,
}

/// What [`Store::disassociate_faces`] did with each face asked for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Disassociation {
    pub disassociated: Vec<Uuid>,
    /// Not in the collection.
    pub not_found: Vec<Uuid>,
    /// In another user, with that user's id.
    pub other_user: Vec<(Uuid, String)>,
    /// The user's faces afterwards.
    pub face_count: u64,
}

const USER_SELECT: &str = "SELECT u.user_id, u.created_at, \
     (SELECT COUNT(*) FROM faces f WHERE f.collection_id = u.collection_id AND f.user_id = u.user_id) AS face_count \
     FROM collection_users u";

fn user_from_row(r: &AnyRow) -> StoreResult<CollectionUser> {
    Ok(CollectionUser {
        user_id: r.try_get("user_id")?,
        face_count: r.try_get::<i64, _>("face_count")?.max(0) as u64,
        created_at: r.try_get("created_at")?,
    })
}

type Tx = Transaction<'static, sqlx::Any>;

/// The outcome recorded for `key`, if the token was used before (with the same parameters, else an error).
async fn earlier<T: for<'de> Deserialize<'de>>(
    tx: &mut Tx,
    collection_id: &str,
    key: Option<&RequestKey<'_>>,
) -> StoreResult<Option<T>> {
    let Some(key) = key else { return Ok(None) };
    let row = sqlx::query(
        "SELECT fingerprint, outcome FROM user_requests WHERE collection_id = $1 AND operation = $2 AND token = $3",
    )
    .bind(collection_id)
    .bind(key.operation)
    .bind(key.token)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else { return Ok(None) };
    if row.try_get::<String, _>("fingerprint")? != key.fingerprint {
        return Err(StoreError::RequestMismatch(key.token.to_string()));
    }
    let outcome: String = row.try_get("outcome")?;
    serde_json::from_str(&outcome).map(Some).map_err(|e| StoreError::Corrupt(format!("recorded outcome: {e}")))
}

/// Records the outcome of `key`'s first call, in the transaction that made its changes.
async fn remember<T: Serialize>(
    tx: &mut Tx,
    collection_id: &str,
    key: Option<&RequestKey<'_>>,
    outcome: &T,
) -> StoreResult<()> {
    let Some(key) = key else { return Ok(()) };
    let outcome = serde_json::to_string(outcome).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    sqlx::query(
        "INSERT INTO user_requests (collection_id, operation, token, fingerprint, outcome, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(collection_id)
    .bind(key.operation)
    .bind(key.token)
    .bind(&key.fingerprint)
    .bind(outcome)
    .bind(now_millis())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn collection_exists(tx: &mut Tx, collection_id: &str) -> StoreResult<()> {
    let found = sqlx::query("SELECT 1 AS one FROM collections WHERE collection_id = $1")
        .bind(collection_id)
        .fetch_optional(&mut **tx)
        .await?;
    match found {
        Some(_) => Ok(()),
        None => Err(StoreError::CollectionNotFound(collection_id.to_string())),
    }
}

async fn user_exists(tx: &mut Tx, collection_id: &str, user_id: &str) -> StoreResult<()> {
    collection_exists(tx, collection_id).await?;
    let found = sqlx::query("SELECT 1 AS one FROM collection_users WHERE collection_id = $1 AND user_id = $2")
        .bind(collection_id)
        .bind(user_id)
        .fetch_optional(&mut **tx)
        .await?;
    match found {
        Some(_) => Ok(()),
        None => Err(StoreError::UserNotFound(user_id.to_string())),
    }
}

async fn face_count(tx: &mut Tx, collection_id: &str, user_id: &str) -> StoreResult<u64> {
    let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM faces WHERE collection_id = $1 AND user_id = $2")
        .bind(collection_id)
        .bind(user_id)
        .fetch_one(&mut **tx)
        .await?
        .try_get("n")?;
    Ok(n.max(0) as u64)
}

/// The present user of each of `faces` that exists in the collection (`None`: no user).
async fn users_of(tx: &mut Tx, collection_id: &str, faces: &[Uuid]) -> StoreResult<HashMap<Uuid, Option<String>>> {
    let mut found = HashMap::new();
    for chunk in faces.chunks(500) {
        let placeholders: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "SELECT face_id, user_id FROM faces WHERE collection_id = $1 AND face_id IN ({})",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql).bind(collection_id);
        for id in chunk {
            query = query.bind(id.to_string());
        }
        for row in query.fetch_all(&mut **tx).await? {
            found.insert(parse_uuid(&row.try_get::<String, _>("face_id")?)?, row.try_get("user_id")?);
        }
    }
    Ok(found)
}

async fn set_user(tx: &mut Tx, collection_id: &str, face: Uuid, user_id: Option<&str>) -> StoreResult<()> {
    sqlx::query("UPDATE faces SET user_id = $1 WHERE collection_id = $2 AND face_id = $3")
        .bind(user_id)
        .bind(collection_id)
        .bind(face.to_string())
        .execute(&mut **tx)
        .await?;
    log_change(tx, ChangeOp::User, collection_id, Some(face)).await
}

/// Each id once, in the order first given.
fn distinct(ids: &[Uuid]) -> Vec<Uuid> {
    let mut seen = std::collections::HashSet::new();
    ids.iter().copied().filter(|id| seen.insert(*id)).collect()
}

impl Store {
    /// Creates a user in a collection.
    pub async fn create_collection_user(
        &self,
        collection_id: &str,
        user_id: &str,
        key: Option<&RequestKey<'_>>,
    ) -> StoreResult<Once<CollectionUser>> {
        let mut tx = self.begin_write().await?;
        if let Some(user) = earlier(&mut tx, collection_id, key).await? {
            return Ok(Once::Repeated(user));
        }
        collection_exists(&mut tx, collection_id).await?;
        let created_at = now_millis();
        let inserted = sqlx::query(
            "INSERT INTO collection_users (collection_id, user_id, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (collection_id, user_id) DO NOTHING",
        )
        .bind(collection_id)
        .bind(user_id)
        .bind(created_at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            return Err(StoreError::UserExists(user_id.to_string()));
        }
        let user = CollectionUser { user_id: user_id.to_string(), face_count: 0, created_at };
        remember(&mut tx, collection_id, key, &user).await?;
        tx.commit().await?;
        Ok(Once::First(user))
    }

    /// Deletes a user of a collection; its faces stay in the collection, without a user. Returns how many
    /// faces it held.
    pub async fn delete_collection_user(
        &self,
        collection_id: &str,
        user_id: &str,
        key: Option<&RequestKey<'_>>,
    ) -> StoreResult<Once<u64>> {
        let mut tx = self.begin_write().await?;
        if let Some(faces) = earlier(&mut tx, collection_id, key).await? {
            return Ok(Once::Repeated(faces));
        }
        user_exists(&mut tx, collection_id, user_id).await?;
        let rows = sqlx::query("SELECT face_id FROM faces WHERE collection_id = $1 AND user_id = $2")
            .bind(collection_id)
            .bind(user_id)
            .fetch_all(&mut *tx)
            .await?;
        for row in &rows {
            let face = parse_uuid(&row.try_get::<String, _>("face_id")?)?;
            set_user(&mut tx, collection_id, face, None).await?;
        }
        sqlx::query("DELETE FROM collection_users WHERE collection_id = $1 AND user_id = $2")
            .bind(collection_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        let faces = rows.len() as u64;
        remember(&mut tx, collection_id, key, &faces).await?;
        tx.commit().await?;
        Ok(Once::First(faces))
    }

    pub async fn get_collection_user(&self, collection_id: &str, user_id: &str) -> StoreResult<Option<CollectionUser>> {
        let row = sqlx::query(&format!("{USER_SELECT} WHERE u.collection_id = $1 AND u.user_id = $2"))
            .bind(collection_id)
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| user_from_row(&r)).transpose()
    }

    /// Users of a collection in id order, `limit` at most, after the id `after`.
    pub async fn list_collection_users(
        &self,
        collection_id: &str,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<CollectionUser>> {
        let rows = sqlx::query(&format!(
            "{USER_SELECT} WHERE u.collection_id = $1 AND u.user_id > $2 ORDER BY u.user_id LIMIT $3"
        ))
        .bind(collection_id)
        .bind(after.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(user_from_row).collect()
    }

    /// The ids of a user's faces, in face id order.
    pub async fn collection_user_faces(&self, collection_id: &str, user_id: &str) -> StoreResult<Vec<Uuid>> {
        let rows = sqlx::query("SELECT face_id FROM faces WHERE collection_id = $1 AND user_id = $2 ORDER BY face_id")
            .bind(collection_id)
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| parse_uuid(&r.try_get::<String, _>("face_id")?)).collect()
    }

    /// Associates faces with a user: each face found and without a user becomes the user's; faces already the
    /// user's are left as they are; faces of another user, or not in the collection, are reported. All or
    /// nothing: when the user would pass [`MAX_USER_FACES`], nothing changes. `low_confidence` (faces the caller
    /// refused) is only recorded with the outcome.
    pub async fn associate_faces(
        &self,
        collection_id: &str,
        user_id: &str,
        faces: &[Uuid],
        low_confidence: Vec<(Uuid, f32)>,
        key: Option<&RequestKey<'_>>,
    ) -> StoreResult<Once<Association>> {
        let mut tx = self.begin_write().await?;
        if let Some(done) = earlier(&mut tx, collection_id, key).await? {
            return Ok(Once::Repeated(done));
        }
        user_exists(&mut tx, collection_id, user_id).await?;
        let faces = distinct(faces);
        let users = users_of(&mut tx, collection_id, &faces).await?;
        let mut outcome = Association { low_confidence, ..Association::default() };
        for face in faces {
            match users.get(&face) {
                None => outcome.not_found.push(face),
                Some(Some(u)) if u == user_id => outcome.already.push(face),
                Some(Some(other)) => outcome.other_user.push((face, other.clone())),
                Some(None) => outcome.associated.push(face),
            }
        }
        let has = face_count(&mut tx, collection_id, user_id).await?;
        let adding = outcome.associated.len() as u64;
        if has + adding > MAX_USER_FACES {
            return Err(StoreError::UserFaceLimit { user_id: user_id.to_string(), has, adding, limit: MAX_USER_FACES });
        }
        for face in &outcome.associated {
            set_user(&mut tx, collection_id, *face, Some(user_id)).await?;
        }
        outcome.face_count = has + adding;
        remember(&mut tx, collection_id, key, &outcome).await?;
        tx.commit().await?;
        Ok(Once::First(outcome))
    }

    /// Disassociates faces from a user: the user's faces lose it; faces without a user are left alone; faces of
    /// another user, or not in the collection, are reported.
    pub async fn disassociate_faces(
        &self,
        collection_id: &str,
        user_id: &str,
        faces: &[Uuid],
        key: Option<&RequestKey<'_>>,
    ) -> StoreResult<Once<Disassociation>> {
        let mut tx = self.begin_write().await?;
        if let Some(done) = earlier(&mut tx, collection_id, key).await? {
            return Ok(Once::Repeated(done));
        }
        user_exists(&mut tx, collection_id, user_id).await?;
        let faces = distinct(faces);
        let users = users_of(&mut tx, collection_id, &faces).await?;
        let mut outcome = Disassociation::default();
        for face in faces {
            match users.get(&face) {
                None => outcome.not_found.push(face),
                Some(Some(u)) if u == user_id => {
                    set_user(&mut tx, collection_id, face, None).await?;
                    outcome.disassociated.push(face);
                }
                Some(Some(other)) => outcome.other_user.push((face, other.clone())),
                Some(None) => {}
            }
        }
        outcome.face_count = face_count(&mut tx, collection_id, user_id).await?;
        remember(&mut tx, collection_id, key, &outcome).await?;
        tx.commit().await?;
        Ok(Once::First(outcome))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids() {
        assert!(valid_collection_user_id("user:42_a.b-c"));
        assert!(!valid_collection_user_id(""));
        assert!(!valid_collection_user_id(".."));
        assert!(!valid_collection_user_id("a b"));
        assert!(!valid_collection_user_id("a@b"));
        assert!(!valid_collection_user_id(&"u".repeat(129)));
    }
}
