//! The store: one connection pool, the same queries on both dialects (`$N` placeholders work on both).

use std::str::FromStr;
use std::time::Duration;

use futures_util::TryStreamExt;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row, Transaction};
use uuid::Uuid;

use crate::blobs::Blobs;
use crate::dialect::{redact_url, Dialect};
use crate::error::{StoreError, StoreResult};
use crate::records::{
    Change, ChangeOp, Collection, FaceFilter, FaceRecord, NewCollection, NewFace, StoredImage, TemplateRow,
};
use crate::{decode_template, encode_template, migrations, now_millis};

const FACE_COLUMNS: &str = "f.face_id, f.collection_id, f.image_id, f.external_id, f.metadata, f.bbox, \
     f.detection_score, f.quality, f.created_at, f.user_id, \
     CASE WHEN EXISTS (SELECT 1 FROM images i WHERE i.image_id = f.image_id) THEN 1 ELSE 0 END AS image_stored";

/// What [`Store::add_faces_once`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Added {
    /// Added now.
    New(Vec<FaceRecord>),
    /// The token was used before: these are the faces that call added.
    Earlier(Vec<FaceRecord>),
}

#[derive(Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    dialect: Dialect,
    pub(crate) blobs: Blobs,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("dialect", &self.dialect).field("blobs", &self.blobs.describe()).finish()
    }
}

/// An image ready for its row: uploaded to the bucket (its object key) or to be stored in the row.
pub(crate) struct Staged<'a> {
    pub image: &'a StoredImage,
    pub object_key: Option<String>,
}

impl Store {
    /// Connects (creating the SQLite file if needed) and brings the schema up to date. A request waits at most
    /// 3 s for a connection: when the database is down, callers learn it quickly (503) instead of hanging.
    pub async fn open(url: &str, max_connections: u32) -> StoreResult<Self> {
        sqlx::any::install_default_drivers();
        let dialect = Dialect::of_url(url)?;
        let url = match dialect {
            Dialect::Sqlite if !url.contains("mode=") => {
                format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
            }
            _ => url.to_string(),
        };
        let options = AnyConnectOptions::from_str(&url).map_err(|_| StoreError::UnsupportedUrl(redact_url(&url)))?;
        let mut pool_options =
            AnyPoolOptions::new().max_connections(max_connections.max(1)).acquire_timeout(Duration::from_secs(3));
        if dialect == Dialect::Sqlite {
            pool_options = pool_options.after_connect(|conn, _meta| {
                Box::pin(async move {
                    // WAL: readers never block the writer; a writer waits (up to 10 s) for another one.
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA busy_timeout = 10000").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    // Deleted rows (faces' images, templates) are overwritten with zeros, not left readable in
                    // the file's free pages.
                    conn.execute("PRAGMA secure_delete = ON").await?;
                    Ok(())
                })
            });
        }
        let pool = pool_options.connect_with(options).await.map_err(|e| match e {
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => StoreError::Unavailable(e.to_string()),
            e => StoreError::Database(e),
        })?;
        migrations::migrate(&pool, dialect).await?;
        Ok(Store { pool, dialect, blobs: Blobs::Database })
    }

    /// This store with its images kept in `blobs` from now on (images stored before stay readable where they
    /// are: each row names its object, or holds its bytes).
    pub fn with_blobs(mut self, blobs: Blobs) -> Self {
        self.blobs = blobs;
        self
    }

    /// Where new images go.
    pub fn blobs(&self) -> &Blobs {
        &self.blobs
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    // --- objects in the bucket (see the `blobs` module for the protocol) ---

    /// Uploads an image of `kind` to the bucket after recording it as pending (an orphan once the grace period is
    /// over, unless its row is committed first); `None` when images are kept in the database.
    pub(crate) async fn upload(&self, kind: &str, content_type: &str, bytes: &[u8]) -> StoreResult<Option<String>> {
        let Some(key) = self.blobs.new_key(kind) else { return Ok(None) };
        sqlx::query("INSERT INTO blob_pending (object_key, due_at) VALUES ($1, $2)")
            .bind(&key)
            .bind(self.blobs.orphan_at(now_millis()))
            .execute(&self.pool)
            .await?;
        if let Err(e) = self.blobs.put(&key, bytes::Bytes::copy_from_slice(bytes), content_type).await {
            self.discard_uploads(std::slice::from_ref(&key)).await;
            // The configured bucket failing or refusing the server's own credentials: the store is unavailable.
            return Err(StoreError::Unavailable(e.to_string()));
        }
        Ok(Some(key))
    }

    /// Uploads the images that go to the bucket (all or none).
    pub(crate) async fn stage<'a>(&self, images: &[&'a StoredImage]) -> StoreResult<Vec<Staged<'a>>> {
        let mut staged = Vec::with_capacity(images.len());
        for image in images {
            match self.upload("faces", &image.content_type, &image.bytes).await {
                Ok(object_key) => staged.push(Staged { image, object_key }),
                Err(e) => {
                    self.discard_staged(&staged).await;
                    return Err(e);
                }
            }
        }
        Ok(staged)
    }

    pub(crate) async fn discard_staged(&self, staged: &[Staged<'_>]) {
        let keys: Vec<String> = staged.iter().filter_map(|s| s.object_key.clone()).collect();
        self.discard_uploads(&keys).await;
    }

    /// Uploads whose rows will not be written: due for deletion now, and deleted now (else by the sweep).
    pub(crate) async fn discard_uploads(&self, keys: &[String]) {
        if keys.is_empty() {
            return;
        }
        for key in keys {
            let marked = sqlx::query("UPDATE blob_pending SET due_at = 0 WHERE object_key = $1 AND due_at > 0")
                .bind(key)
                .execute(&self.pool)
                .await;
            if let Err(e) = marked {
                tracing::warn!(error = %e, "marking an unused upload for deletion failed (the sweep deletes it later)");
            }
        }
        self.sweep_objects_logged().await;
    }

    /// Deletes the objects that are due (orphaned uploads past their grace period, objects whose rows were
    /// deleted) and that no row names; their pending rows go with them. Returns how many pending rows were
    /// settled. Nothing to do when images are kept in the database.
    pub async fn sweep_objects(&self) -> StoreResult<u64> {
        if self.blobs.s3_client().is_none() {
            return Ok(0);
        }
        let now = now_millis();
        let rows = sqlx::query("SELECT object_key FROM blob_pending WHERE due_at <= $1 ORDER BY due_at LIMIT 500")
            .bind(now)
            .fetch_all(&self.pool)
            .await?;
        let mut settled = 0;
        for row in rows {
            let key: String = row.try_get("object_key")?;
            // Claimed (due_at = -1) only while no row names the object: a writer whose commit removes the
            // pending row (only while it is not yet due) and this claim exclude each other.
            let claimed = sqlx::query(
                "UPDATE blob_pending SET due_at = -1 WHERE object_key = $1 AND due_at <= $2 \
                 AND NOT EXISTS (SELECT 1 FROM images WHERE object_key = $1) \
                 AND NOT EXISTS (SELECT 1 FROM liveness_images WHERE object_key = $1)",
            )
            .bind(&key)
            .bind(now)
            .execute(&self.pool)
            .await?
            .rows_affected()
                == 1;
            if claimed {
                if let Err(e) = self.blobs.delete(&key).await {
                    tracing::warn!(error = %e, "deleting an unreferenced object failed (retried by the next sweep)");
                    continue;
                }
            }
            // Deleted, or named by a row (a stale pending row): either way nothing is pending any more.
            let done = sqlx::query(
                "DELETE FROM blob_pending WHERE object_key = $1 AND due_at <= $2 AND (due_at = -1 \
                 OR EXISTS (SELECT 1 FROM images WHERE object_key = $1) \
                 OR EXISTS (SELECT 1 FROM liveness_images WHERE object_key = $1))",
            )
            .bind(&key)
            .bind(now)
            .execute(&self.pool)
            .await?;
            settled += done.rows_affected();
        }
        Ok(settled)
    }

    /// The object keys that rows name (images of faces and of liveness sessions), and those pending (uploads not
    /// yet committed, deletions not yet done): for checking a bucket against the database.
    pub async fn object_inventory(&self) -> StoreResult<(Vec<String>, Vec<String>)> {
        let named = sqlx::query(
            "SELECT object_key FROM images WHERE object_key IS NOT NULL \
             UNION ALL SELECT object_key FROM liveness_images WHERE object_key IS NOT NULL",
        )
        .fetch_all(&self.pool)
        .await?;
        let pending = sqlx::query("SELECT object_key FROM blob_pending").fetch_all(&self.pool).await?;
        let keys = |rows: Vec<AnyRow>| -> StoreResult<Vec<String>> {
            rows.iter().map(|r| Ok(r.try_get::<String, _>("object_key")?)).collect()
        };
        Ok((keys(named)?, keys(pending)?))
    }

    /// [`Store::sweep_objects`] after a deletion: failures are logged (the next sweep retries).
    pub(crate) async fn sweep_objects_logged(&self) {
        if let Err(e) = self.sweep_objects().await {
            tracing::warn!(error = %e, "deleting objects failed (the next sweep retries)");
        }
    }

    /// Reads an image's bytes: from its object when the row names one.
    pub(crate) async fn image_bytes(&self, bytes: Vec<u8>, object_key: Option<String>) -> StoreResult<Vec<u8>> {
        match object_key {
            None => Ok(bytes),
            Some(key) => match self.blobs.get(&key).await {
                Ok(object) => Ok(object.bytes.to_vec()),
                Err(crate::BlobError::NotFound { .. }) => {
                    Err(StoreError::Corrupt(format!("the object {key:?} of a stored image is missing")))
                }
                // The configured bucket refusing the server's own credentials is no caller's mistake.
                Err(e) => Err(StoreError::Unavailable(e.to_string())),
            },
        }
    }

    /// After a deletion of biometric data: on SQLite, copies the write-ahead log into the database (whose
    /// freed pages `secure_delete` has zeroed) and truncates it, so that no copy of the deleted rows stays in
    /// either file. Best effort: a long reader can hold the log for a moment, and the next deletion retries.
    /// On PostgreSQL dead rows stay until VACUUM reclaims them (autovacuum does).
    pub async fn forget_deleted(&self) {
        if self.dialect != Dialect::Sqlite {
            return;
        }
        // A truncating checkpoint waits for readers and holds writers meanwhile: on its own connection, it waits
        // at most 100 ms (then the log is left for the next deletion) so that it never stalls other requests.
        let checkpoint = async {
            let mut conn = self.pool.acquire().await?;
            sqlx::query("PRAGMA busy_timeout = 100").execute(&mut *conn).await?;
            let done = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut *conn).await;
            sqlx::query("PRAGMA busy_timeout = 10000").execute(&mut *conn).await?;
            done.map(|_| ())
        };
        if let Err(e) = checkpoint.await {
            tracing::warn!(error = %e, "checkpointing the write-ahead log after a deletion failed");
        }
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A transaction that holds the store's write lock from its first statement: on PostgreSQL an advisory
    /// lock, so that change-log sequence numbers become visible in the order they were taken (a follower never
    /// skips a change that commits late); on SQLite a write statement, so the transaction takes the database's
    /// write lock at once (waiting with busy_timeout) instead of failing when it upgrades from a read.
    pub(crate) async fn begin_write(&self) -> StoreResult<Transaction<'static, sqlx::Any>> {
        let mut tx = self.pool.begin().await?;
        match self.dialect {
            Dialect::Postgres => {
                sqlx::query("SELECT pg_advisory_xact_lock(7286002)").execute(&mut *tx).await?;
            }
            Dialect::Sqlite => {
                sqlx::query("UPDATE facegate_meta SET value = value WHERE key = 'write_lock'")
                    .execute(&mut *tx)
                    .await?;
            }
        }
        Ok(tx)
    }

    // --- collections ---

    /// Inserts a collection unless one has its id; whether it was inserted.
    async fn insert_collection(&self, new: &NewCollection, created_at: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO collections (collection_id, description, model, dimension, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (collection_id) DO NOTHING",
        )
        .bind(&new.collection_id)
        .bind(&new.description)
        .bind(&new.model)
        .bind(new.dimension as i64)
        .bind(created_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn create_collection(&self, new: &NewCollection) -> StoreResult<Collection> {
        let created_at = now_millis();
        if !self.insert_collection(new, created_at).await? {
            return Err(StoreError::CollectionExists(new.collection_id.clone()));
        }
        Ok(Collection {
            collection_id: new.collection_id.clone(),
            description: new.description.clone(),
            model: new.model.clone(),
            dimension: new.dimension,
            face_count: 0,
            created_at,
        })
    }

    pub async fn get_collection(&self, collection_id: &str) -> StoreResult<Option<Collection>> {
        let row = sqlx::query(
            "SELECT c.collection_id, c.description, c.model, c.dimension, c.created_at, \
             (SELECT COUNT(*) FROM faces f WHERE f.collection_id = c.collection_id) AS face_count \
             FROM collections c WHERE c.collection_id = $1",
        )
        .bind(collection_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| collection_from_row(&r)).transpose()
    }

    /// The embedding model of a collection's templates, without counting its faces (cheap at any size);
    /// `None` when the collection does not exist.
    pub async fn collection_model(&self, collection_id: &str) -> StoreResult<Option<String>> {
        let row = sqlx::query("SELECT model FROM collections WHERE collection_id = $1")
            .bind(collection_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("model")).transpose()?)
    }

    /// Creates a collection unless it exists; returns the model of the collection that is there now.
    pub async fn ensure_collection(&self, new: &NewCollection) -> StoreResult<String> {
        self.insert_collection(new, now_millis()).await?;
        self.collection_model(&new.collection_id)
            .await?
            .ok_or_else(|| StoreError::CollectionNotFound(new.collection_id.clone()))
    }

    /// Collections in id order, `limit` at most, after the id `after` (for pagination). Internal collections
    /// (ids starting with `@`, such as the users' faces) are left out.
    pub async fn list_collections(&self, after: Option<&str>, limit: u32) -> StoreResult<Vec<Collection>> {
        let rows = sqlx::query(
            "SELECT c.collection_id, c.description, c.model, c.dimension, c.created_at, \
             (SELECT COUNT(*) FROM faces f WHERE f.collection_id = c.collection_id) AS face_count \
             FROM collections c WHERE c.collection_id > $1 AND c.collection_id NOT LIKE '@%' ORDER BY c.collection_id LIMIT $2",
        )
        .bind(after.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(collection_from_row).collect()
    }

    /// Deletes a collection with its faces and stored images; returns how many faces went with it.
    pub async fn delete_collection(&self, collection_id: &str) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let faces: i64 = sqlx::query("SELECT COUNT(*) AS n FROM faces WHERE collection_id = $1")
            .bind(collection_id)
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        release_objects(&mut tx, "images", "collection_id = $1", collection_id).await?;
        sqlx::query("DELETE FROM images WHERE collection_id = $1").bind(collection_id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM client_tokens WHERE collection_id = $1").bind(collection_id).execute(&mut *tx).await?;
        for table in ["user_requests", "collection_users"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE collection_id = $1"))
                .bind(collection_id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("DELETE FROM faces WHERE collection_id = $1").bind(collection_id).execute(&mut *tx).await?;
        let gone = sqlx::query("DELETE FROM collections WHERE collection_id = $1")
            .bind(collection_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if gone == 0 {
            return Err(StoreError::CollectionNotFound(collection_id.to_string()));
        }
        log_change(&mut tx, ChangeOp::DropCollection, collection_id, None).await?;
        tx.commit().await?;
        self.forget_deleted().await;
        self.sweep_objects_logged().await;
        Ok(faces as u64)
    }

    // --- faces ---

    /// Stores faces found in one image (and the image itself when given), all or nothing.
    pub async fn add_faces(
        &self,
        collection_id: &str,
        faces: &[NewFace],
        image: Option<&StoredImage>,
    ) -> StoreResult<Vec<FaceRecord>> {
        match self.add_faces_once(collection_id, None, faces, image).await? {
            Added::New(records) | Added::Earlier(records) => Ok(records),
        }
    }

    /// As [`Store::add_faces`], at most once per `client_token` in the collection: a retry with the same token
    /// adds nothing and returns the faces the first call added (those still there).
    pub async fn add_faces_once(
        &self,
        collection_id: &str,
        client_token: Option<&str>,
        faces: &[NewFace],
        image: Option<&StoredImage>,
    ) -> StoreResult<Added> {
        let images: Vec<&StoredImage> = image.into_iter().collect();
        let staged = self.stage(&images).await?;
        let added = self.add_staged_faces(collection_id, client_token, faces, &staged).await;
        if !matches!(added, Ok(Added::New(_))) {
            self.discard_staged(&staged).await;
        }
        added
    }

    async fn add_staged_faces(
        &self,
        collection_id: &str,
        client_token: Option<&str>,
        faces: &[NewFace],
        staged: &[Staged<'_>],
    ) -> StoreResult<Added> {
        let mut tx = self.begin_write().await?;
        if let Some(token) = client_token {
            let earlier = sqlx::query("SELECT face_ids FROM client_tokens WHERE collection_id = $1 AND token = $2")
                .bind(collection_id)
                .bind(token)
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(row) = earlier {
                let ids: String = row.try_get("face_ids")?;
                let ids: Vec<Uuid> =
                    ids.split(',').filter(|s| !s.is_empty()).map(parse_uuid).collect::<StoreResult<_>>()?;
                tx.commit().await?;
                let mut records = self.get_faces(collection_id, &ids).await?;
                records.sort_by_key(|r| ids.iter().position(|i| *i == r.face_id));
                return Ok(Added::Earlier(records));
            }
        }
        let exists = sqlx::query("SELECT 1 AS one FROM collections WHERE collection_id = $1")
            .bind(collection_id)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if !exists {
            return Err(StoreError::CollectionNotFound(collection_id.to_string()));
        }
        let records = insert_faces(&mut tx, collection_id, faces, staged).await?;
        let created_at = records.first().map_or_else(now_millis, |r| r.created_at);
        if let Some(token) = client_token {
            let ids: Vec<String> = faces.iter().map(|f| f.face_id.to_string()).collect();
            sqlx::query(
                "INSERT INTO client_tokens (collection_id, token, face_ids, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(collection_id)
            .bind(token)
            .bind(ids.join(","))
            .bind(created_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Added::New(records))
    }

    pub async fn get_face(&self, collection_id: &str, face_id: Uuid) -> StoreResult<Option<FaceRecord>> {
        let row =
            sqlx::query(&format!("SELECT {FACE_COLUMNS} FROM faces f WHERE f.collection_id = $1 AND f.face_id = $2"))
                .bind(collection_id)
                .bind(face_id.to_string())
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| face_from_row(&r)).transpose()
    }

    /// The records of the given faces that exist in the collection (any order).
    pub async fn get_faces(&self, collection_id: &str, face_ids: &[Uuid]) -> StoreResult<Vec<FaceRecord>> {
        let mut out = Vec::with_capacity(face_ids.len());
        for chunk in face_ids.chunks(500) {
            let placeholders: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!(
                "SELECT {FACE_COLUMNS} FROM faces f WHERE f.collection_id = $1 AND f.face_id IN ({})",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(&sql).bind(collection_id);
            for id in chunk {
                query = query.bind(id.to_string());
            }
            for row in query.fetch_all(&self.pool).await? {
                out.push(face_from_row(&row)?);
            }
        }
        Ok(out)
    }

    pub async fn face_template(&self, collection_id: &str, face_id: Uuid) -> StoreResult<Option<Vec<f32>>> {
        let row = sqlx::query("SELECT template FROM faces WHERE collection_id = $1 AND face_id = $2")
            .bind(collection_id)
            .bind(face_id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(r) => Ok(Some(decode_template(&r.try_get::<Vec<u8>, _>("template")?)?)),
            None => Ok(None),
        }
    }

    /// Faces in enrolment order (face ids are time-ordered UUIDv7), `limit` at most, after the face `after`;
    /// only those the filter names.
    pub async fn list_faces(
        &self,
        collection_id: &str,
        after: Option<Uuid>,
        limit: u32,
        filter: FaceFilter<'_>,
    ) -> StoreResult<Vec<FaceRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {FACE_COLUMNS} FROM faces f WHERE f.collection_id = $1 AND f.face_id > $2 \
             AND ($3 IS NULL OR f.external_id = $3) AND ($4 IS NULL OR f.user_id = $4) ORDER BY f.face_id LIMIT $5"
        ))
        .bind(collection_id)
        .bind(after.map(|u| u.to_string()).unwrap_or_default())
        .bind(filter.external_id)
        .bind(filter.user_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(face_from_row).collect()
    }

    /// Deletes the given faces (and their stored images once no face refers to them); returns the ids that
    /// existed and were deleted.
    pub async fn delete_faces(&self, collection_id: &str, face_ids: &[Uuid]) -> StoreResult<Vec<Uuid>> {
        let mut tx = self.begin_write().await?;
        let mut deleted = Vec::new();
        for id in face_ids {
            if delete_face(&mut tx, collection_id, *id).await? {
                deleted.push(*id);
            }
        }
        tx.commit().await?;
        if !deleted.is_empty() {
            self.forget_deleted().await;
            self.sweep_objects_logged().await;
        }
        Ok(deleted)
    }

    pub async fn get_image(&self, collection_id: &str, image_id: Uuid) -> StoreResult<Option<StoredImage>> {
        let row = sqlx::query(
            "SELECT content_type, bytes, object_key FROM images WHERE collection_id = $1 AND image_id = $2",
        )
        .bind(collection_id)
        .bind(image_id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(r) => {
                let bytes = self.image_bytes(r.try_get("bytes")?, r.try_get("object_key")?).await?;
                Ok(Some(StoredImage { image_id, content_type: r.try_get("content_type")?, bytes }))
            }
            None => Ok(None),
        }
    }

    // --- what the index follows ---

    /// The sequence number of the newest change (0 when none).
    pub async fn latest_change(&self) -> StoreResult<i64> {
        Ok(sqlx::query("SELECT COALESCE(MAX(seq), 0) AS seq FROM face_changes")
            .fetch_one(&self.pool)
            .await?
            .try_get("seq")?)
    }

    /// Streams the stored templates (of one collection, or of all) to `each`.
    pub async fn for_each_template(
        &self,
        collection_id: Option<&str>,
        mut each: impl FnMut(TemplateRow),
    ) -> StoreResult<u64> {
        let mut rows = sqlx::query(
            "SELECT collection_id, face_id, template, user_id FROM faces WHERE ($1 IS NULL OR collection_id = $1)",
        )
        .bind(collection_id)
        .fetch(&self.pool);
        let mut n = 0;
        while let Some(row) = rows.try_next().await? {
            each(TemplateRow {
                collection_id: row.try_get("collection_id")?,
                face_id: parse_uuid(&row.try_get::<String, _>("face_id")?)?,
                template: decode_template(&row.try_get::<Vec<u8>, _>("template")?)?,
                user_id: row.try_get("user_id")?,
            });
            n += 1;
        }
        Ok(n)
    }

    /// Changes after `seq`, oldest first, `limit` at most; an added face carries its template while it exists,
    /// an added or (dis)associated face its user now.
    pub async fn changes_since(&self, seq: i64, limit: u32) -> StoreResult<Vec<Change>> {
        let rows = sqlx::query(
            "SELECT c.seq, c.op, c.collection_id, c.face_id, \
             CASE WHEN c.op = 'add' THEN f.template END AS template, f.user_id FROM face_changes c \
             LEFT JOIN faces f ON f.face_id = c.face_id AND c.op IN ('add', 'user') \
             WHERE c.seq > $1 ORDER BY c.seq LIMIT $2",
        )
        .bind(seq)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let op: String = r.try_get("op")?;
                let face_id: Option<String> = r.try_get("face_id")?;
                let template: Option<Vec<u8>> = r.try_get("template")?;
                Ok(Change {
                    seq: r.try_get("seq")?,
                    op: ChangeOp::parse(&op).ok_or_else(|| StoreError::Corrupt(format!("unknown change {op:?}")))?,
                    collection_id: r.try_get("collection_id")?,
                    face_id: face_id.as_deref().map(parse_uuid).transpose()?,
                    template: template.as_deref().map(decode_template).transpose()?,
                    user_id: r.try_get("user_id")?,
                })
            })
            .collect()
    }
}

/// Inserts faces (and their source images) into a collection inside a write transaction, logging each one.
pub(crate) async fn insert_faces(
    tx: &mut Transaction<'static, sqlx::Any>,
    collection_id: &str,
    faces: &[NewFace],
    images: &[Staged<'_>],
) -> StoreResult<Vec<FaceRecord>> {
    let created_at = now_millis();
    for staged in images {
        let img = staged.image;
        // An uploaded image's row holds no bytes: its object does.
        let bytes: &[u8] = if staged.object_key.is_some() { &[] } else { img.bytes.as_slice() };
        sqlx::query(
            "INSERT INTO images (image_id, collection_id, content_type, bytes, created_at, object_key) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(img.image_id.to_string())
        .bind(collection_id)
        .bind(&img.content_type)
        .bind(bytes)
        .bind(created_at)
        .bind(&staged.object_key)
        .execute(&mut **tx)
        .await?;
        if let Some(key) = &staged.object_key {
            commit_upload(tx, key).await?;
        }
    }
    let mut records = Vec::with_capacity(faces.len());
    for face in faces {
        let metadata = face.metadata.as_ref().map(|m| m.to_string());
        let bbox = serde_json::to_string(&face.bbox).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO faces (face_id, collection_id, image_id, external_id, metadata, bbox, detection_score, \
             quality, template, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(face.face_id.to_string())
        .bind(collection_id)
        .bind(face.image_id.to_string())
        .bind(&face.external_id)
        .bind(metadata)
        .bind(bbox)
        .bind(f64::from(face.detection_score))
        .bind(f64::from(face.quality))
        .bind(encode_template(&face.template))
        .bind(created_at)
        .execute(&mut **tx)
        .await?;
        log_change(tx, ChangeOp::Add, collection_id, Some(face.face_id)).await?;
        records.push(FaceRecord {
            face_id: face.face_id,
            collection_id: collection_id.to_string(),
            image_id: face.image_id,
            external_id: face.external_id.clone(),
            metadata: face.metadata.clone(),
            bbox: face.bbox,
            detection_score: face.detection_score,
            quality: face.quality,
            image_stored: images.iter().any(|i| i.image.image_id == face.image_id),
            user_id: None,
            created_at,
        });
    }
    Ok(records)
}

/// Deletes one face (and its stored image once no face refers to it) inside a write transaction, logging it;
/// `false` when there was no such face.
pub(crate) async fn delete_face(
    tx: &mut Transaction<'static, sqlx::Any>,
    collection_id: &str,
    face_id: Uuid,
) -> StoreResult<bool> {
    let row = sqlx::query("DELETE FROM faces WHERE collection_id = $1 AND face_id = $2 RETURNING image_id")
        .bind(collection_id)
        .bind(face_id.to_string())
        .fetch_optional(&mut **tx)
        .await?;
    let Some(row) = row else { return Ok(false) };
    let image_id: String = row.try_get("image_id")?;
    release_objects(tx, "images", "image_id = $1 AND NOT EXISTS (SELECT 1 FROM faces WHERE image_id = $1)", &image_id)
        .await?;
    sqlx::query("DELETE FROM images WHERE image_id = $1 AND NOT EXISTS (SELECT 1 FROM faces WHERE image_id = $1)")
        .bind(&image_id)
        .execute(&mut **tx)
        .await?;
    log_change(tx, ChangeOp::Delete, collection_id, Some(face_id)).await?;
    Ok(true)
}

/// In the transaction that writes the row naming an uploaded object: the upload is no longer pending. Fails when
/// the upload outlasted its grace period (the sweep may be deleting the object): the transaction then rolls back.
pub(crate) async fn commit_upload(tx: &mut Transaction<'static, sqlx::Any>, key: &str) -> StoreResult<()> {
    let done = sqlx::query("DELETE FROM blob_pending WHERE object_key = $1 AND due_at > $2")
        .bind(key)
        .bind(now_millis())
        .execute(&mut **tx)
        .await?;
    if done.rows_affected() != 1 {
        return Err(crate::BlobError::Unavailable(format!(
            "the upload of {key:?} took longer than its grace period: send the request again"
        ))
        .into());
    }
    Ok(())
}

/// In the transaction that deletes rows of `table` matching `filter` (with `$1` = `value`): their objects become
/// due for deletion (after the commit, or by the sweep).
pub(crate) async fn release_objects(
    tx: &mut Transaction<'static, sqlx::Any>,
    table: &str,
    filter: &str,
    value: &str,
) -> StoreResult<()> {
    sqlx::query(&format!(
        "INSERT INTO blob_pending (object_key, due_at) SELECT object_key, 0 FROM {table} \
         WHERE object_key IS NOT NULL AND {filter} ON CONFLICT (object_key) DO UPDATE SET due_at = 0"
    ))
    .bind(value)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(crate) async fn log_change(
    tx: &mut Transaction<'static, sqlx::Any>,
    op: ChangeOp,
    collection_id: &str,
    face_id: Option<Uuid>,
) -> StoreResult<()> {
    sqlx::query("INSERT INTO face_changes (collection_id, face_id, op, at) VALUES ($1, $2, $3, $4)")
        .bind(collection_id)
        .bind(face_id.map(|f| f.to_string()))
        .bind(op.as_str())
        .bind(now_millis())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub(crate) fn parse_uuid(s: &str) -> StoreResult<Uuid> {
    Uuid::parse_str(s).map_err(|_| StoreError::Corrupt(format!("{s:?} is not a UUID")))
}

fn collection_from_row(r: &AnyRow) -> StoreResult<Collection> {
    Ok(Collection {
        collection_id: r.try_get("collection_id")?,
        description: r.try_get("description")?,
        model: r.try_get("model")?,
        dimension: r.try_get::<i64, _>("dimension")? as usize,
        face_count: r.try_get::<i64, _>("face_count")? as u64,
        created_at: r.try_get("created_at")?,
    })
}

fn face_from_row(r: &AnyRow) -> StoreResult<FaceRecord> {
    let metadata: Option<String> = r.try_get("metadata")?;
    let bbox: String = r.try_get("bbox")?;
    Ok(FaceRecord {
        face_id: parse_uuid(&r.try_get::<String, _>("face_id")?)?,
        collection_id: r.try_get("collection_id")?,
        image_id: parse_uuid(&r.try_get::<String, _>("image_id")?)?,
        external_id: r.try_get("external_id")?,
        metadata: metadata
            .map(|m| serde_json::from_str(&m))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("face metadata: {e}")))?,
        bbox: serde_json::from_str(&bbox).map_err(|e| StoreError::Corrupt(format!("face box: {e}")))?,
        detection_score: r.try_get::<f64, _>("detection_score")? as f32,
        quality: r.try_get::<f64, _>("quality")? as f32,
        image_stored: r.try_get::<i64, _>("image_stored")? != 0,
        user_id: r.try_get("user_id")?,
        created_at: r.try_get("created_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact_url("postgres://fg:secret@db:5432/fg"), "postgres://fg:***@db:5432/fg");
        assert_eq!(redact_url("postgres://fg@db/fg"), "postgres://fg@db/fg");
        assert_eq!(redact_url("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db");
    }

    #[test]
    fn dialects() {
        assert_eq!(Dialect::of_url("sqlite://x.db").unwrap(), Dialect::Sqlite);
        assert_eq!(Dialect::of_url("postgresql://h/db").unwrap(), Dialect::Postgres);
        assert!(matches!(Dialect::of_url("mysql://h/db"), Err(StoreError::UnsupportedUrl(_))));
    }
}
