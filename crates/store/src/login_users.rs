//! Users of face login: a user row (id, name, email) and the user's faces, kept in the internal collection
//! [`USERS_COLLECTION`] with the user id as their external id — so the same index, change log and replica
//! sync that serve collections serve logins too. A user and their faces are written and deleted together.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::error::{StoreError, StoreResult};
use crate::now_millis;
use crate::records::{FaceFilter, FaceRecord, NewFace, StoredImage};
use crate::store::{delete_face, insert_faces, Staged, Store};

/// The internal collection that holds the users' faces (`@` keeps it apart from API collection ids).
pub const USERS_COLLECTION: &str = "@users";

#[derive(Debug, Clone, PartialEq)]
pub struct NewUser {
    pub user_id: String,
    pub full_name: Option<String>,
    pub email: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub user_id: String,
    pub full_name: Option<String>,
    pub email: Option<String>,
    pub face_count: u64,
    pub created_at: i64,
}

/// User ids: 1-128 characters of `A-Z a-z 0-9 _ . - @ +` (room for e-mail addresses and UUIDs), and not `me`
/// (which names the caller in `/v1/users/me`).
pub fn valid_user_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id != "me"
        && !crate::text::is_dot_segment(id)
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-@+".contains(&b))
}

const USER_SELECT: &str = "SELECT u.user_id, u.full_name, u.email, u.created_at, \
     (SELECT COUNT(*) FROM faces f WHERE f.collection_id = '@users' AND f.external_id = u.user_id) AS face_count \
     FROM users u";

fn user_from_row(r: &AnyRow) -> StoreResult<User> {
    let n: i64 = r.try_get("face_count")?;
    Ok(User {
        user_id: r.try_get("user_id")?,
        full_name: r.try_get("full_name")?,
        email: r.try_get("email")?,
        face_count: n.max(0) as u64,
        created_at: r.try_get("created_at")?,
    })
}

impl Store {
    /// Registers a user with their faces (external id = user id) and, when given, the source images; all or
    /// nothing. The users' collection must exist (see [`Store::ensure_collection`]).
    pub async fn create_user(&self, user: &NewUser, faces: &[NewFace], images: &[StoredImage]) -> StoreResult<User> {
        let images: Vec<&StoredImage> = images.iter().collect();
        let staged = self.stage(&images).await?;
        let created = self.create_staged_user(user, faces, &staged).await;
        if created.is_err() {
            self.discard_staged(&staged).await;
        }
        created
    }

    async fn create_staged_user(&self, user: &NewUser, faces: &[NewFace], images: &[Staged<'_>]) -> StoreResult<User> {
        let mut tx = self.begin_write().await?;
        let created_at = now_millis();
        let inserted = sqlx::query(
            "INSERT INTO users (user_id, full_name, email, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(&user.user_id)
        .bind(&user.full_name)
        .bind(&user.email)
        .bind(created_at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            return Err(StoreError::UserExists(user.user_id.clone()));
        }
        let faces = with_user(faces, &user.user_id);
        insert_faces(&mut tx, USERS_COLLECTION, &faces, images).await?;
        tx.commit().await?;
        Ok(User {
            user_id: user.user_id.clone(),
            full_name: user.full_name.clone(),
            email: user.email.clone(),
            face_count: faces.len() as u64,
            created_at,
        })
    }

    /// Adds faces to an existing user.
    pub async fn add_user_faces(
        &self,
        user_id: &str,
        faces: &[NewFace],
        images: &[StoredImage],
    ) -> StoreResult<Vec<FaceRecord>> {
        let images: Vec<&StoredImage> = images.iter().collect();
        let staged = self.stage(&images).await?;
        let added = self.add_staged_user_faces(user_id, faces, &staged).await;
        if added.is_err() {
            self.discard_staged(&staged).await;
        }
        added
    }

    async fn add_staged_user_faces(
        &self,
        user_id: &str,
        faces: &[NewFace],
        images: &[Staged<'_>],
    ) -> StoreResult<Vec<FaceRecord>> {
        let mut tx = self.begin_write().await?;
        let exists = sqlx::query("SELECT 1 AS one FROM users WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if !exists {
            return Err(StoreError::UserNotFound(user_id.to_string()));
        }
        let records = insert_faces(&mut tx, USERS_COLLECTION, &with_user(faces, user_id), images).await?;
        tx.commit().await?;
        Ok(records)
    }

    pub async fn get_user(&self, user_id: &str) -> StoreResult<Option<User>> {
        let row = sqlx::query(&format!("{USER_SELECT} WHERE u.user_id = $1"))
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| user_from_row(&r)).transpose()
    }

    /// Users in id order, `limit` at most, after the id `after`.
    pub async fn list_users(&self, after: Option<&str>, limit: u32) -> StoreResult<Vec<User>> {
        let rows = sqlx::query(&format!("{USER_SELECT} WHERE u.user_id > $1 ORDER BY u.user_id LIMIT $2"))
            .bind(after.unwrap_or(""))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(user_from_row).collect()
    }

    /// The user's faces, in face id order.
    pub async fn user_faces(&self, user_id: &str) -> StoreResult<Vec<FaceRecord>> {
        self.list_faces(USERS_COLLECTION, None, u32::MAX, FaceFilter { external_id: Some(user_id), user_id: None })
            .await
    }

    /// Deletes a user with their faces and stored images; `None` when there is no such user, else the number of
    /// faces deleted.
    pub async fn delete_user(&self, user_id: &str) -> StoreResult<Option<u64>> {
        let mut tx = self.begin_write().await?;
        let gone = sqlx::query("DELETE FROM users WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
        if gone.rows_affected() == 0 {
            return Ok(None);
        }
        let rows = sqlx::query("SELECT face_id FROM faces WHERE collection_id = $1 AND external_id = $2")
            .bind(USERS_COLLECTION)
            .bind(user_id)
            .fetch_all(&mut *tx)
            .await?;
        let mut deleted = 0;
        for row in rows {
            let id: String = row.try_get("face_id")?;
            let id = uuid::Uuid::parse_str(&id).map_err(|_| StoreError::Corrupt(format!("{id:?} is not a UUID")))?;
            if delete_face(&mut tx, USERS_COLLECTION, id).await? {
                deleted += 1;
            }
        }
        tx.commit().await?;
        self.forget_deleted().await;
        self.sweep_objects_logged().await;
        Ok(Some(deleted))
    }
}

fn with_user(faces: &[NewFace], user_id: &str) -> Vec<NewFace> {
    faces.iter().map(|f| NewFace { external_id: Some(user_id.to_string()), ..f.clone() }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids() {
        assert!(valid_user_id("alice@example.com"));
        assert!(valid_user_id("0b9f0c7e-2f4c-4d3e-9d3b-1a2b3c4d5e6f"));
        assert!(!valid_user_id("me"));
        assert!(!valid_user_id("..") && !valid_user_id("."));
        assert!(!valid_user_id(""));
        assert!(!valid_user_id("a/b"));
        assert!(!valid_user_id("a b"));
        assert!(!valid_user_id(&"a".repeat(129)));
    }
}
