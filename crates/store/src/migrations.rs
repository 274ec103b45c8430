//! Schema migrations, one list per dialect, applied in order inside one transaction each and recorded in
//! `facegate_migrations`. On PostgreSQL an advisory lock makes replicas that start together take turns.

use sqlx::{AnyPool, Row};

use crate::dialect::Dialect;
use crate::error::{StoreError, StoreResult};
use crate::now_millis;

struct Migration {
    version: i64,
    name: &'static str,
    /// PostgreSQL's SQL; SQLite's is derived by [`for_dialect`].
    statements: &'static [&'static str],
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "collections, faces, images, change log",
        statements: &[
            "CREATE TABLE facegate_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            "INSERT INTO facegate_meta (key, value) VALUES ('write_lock', '0')",
            "CREATE TABLE collections (
            collection_id TEXT PRIMARY KEY,
            description TEXT,
            model TEXT NOT NULL,
            dimension BIGINT NOT NULL,
            created_at BIGINT NOT NULL)",
            "CREATE TABLE faces (
            face_id TEXT PRIMARY KEY,
            collection_id TEXT NOT NULL REFERENCES collections(collection_id) ON DELETE CASCADE,
            image_id TEXT NOT NULL,
            external_id TEXT,
            metadata TEXT,
            bbox TEXT NOT NULL,
            detection_score DOUBLE PRECISION NOT NULL,
            quality DOUBLE PRECISION NOT NULL,
            template BYTEA NOT NULL,
            created_at BIGINT NOT NULL)",
            "CREATE INDEX faces_by_collection ON faces (collection_id, face_id)",
            "CREATE INDEX faces_by_external_id ON faces (collection_id, external_id)",
            "CREATE TABLE images (
            image_id TEXT PRIMARY KEY,
            collection_id TEXT NOT NULL REFERENCES collections(collection_id) ON DELETE CASCADE,
            content_type TEXT NOT NULL,
            bytes BYTEA NOT NULL,
            created_at BIGINT NOT NULL)",
            "CREATE TABLE face_changes (
            seq BIGSERIAL PRIMARY KEY,
            collection_id TEXT NOT NULL,
            face_id TEXT,
            op TEXT NOT NULL,
            at BIGINT NOT NULL)",
        ],
    },
    Migration {
        version: 2,
        name: "client request tokens (idempotent indexing)",
        statements: &["CREATE TABLE client_tokens (
            collection_id TEXT NOT NULL,
            token TEXT NOT NULL,
            face_ids TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (collection_id, token))"],
    },
    Migration {
        version: 3,
        name: "API keys and their monthly usage",
        statements: &[
            "CREATE TABLE api_keys (
            key_id TEXT PRIMARY KEY,
            key_hash TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            scopes TEXT NOT NULL,
            collections TEXT,
            rate_per_second DOUBLE PRECISION,
            burst BIGINT,
            monthly_quota BIGINT,
            expires_at BIGINT,
            revoked_at BIGINT,
            created_at BIGINT NOT NULL)",
            "CREATE TABLE key_usage (
            key_id TEXT NOT NULL,
            month TEXT NOT NULL,
            requests BIGINT NOT NULL,
            PRIMARY KEY (key_id, month))",
        ],
    },
    Migration {
        version: 4,
        name: "users (face login), token signing keys, revoked tokens",
        statements: &[
            "CREATE TABLE users (
            user_id TEXT PRIMARY KEY,
            full_name TEXT,
            email TEXT,
            created_at BIGINT NOT NULL)",
            "CREATE TABLE signing_keys (
            kid TEXT PRIMARY KEY,
            algorithm TEXT NOT NULL,
            private_key BYTEA NOT NULL,
            public_key BYTEA NOT NULL,
            created_at BIGINT NOT NULL,
            retired_at BIGINT)",
            "CREATE TABLE revoked_tokens (
            jti TEXT PRIMARY KEY,
            expires_at BIGINT NOT NULL,
            revoked_at BIGINT NOT NULL)",
        ],
    },
    Migration {
        version: 5,
        name: "liveness sessions and their images",
        statements: &[
            "CREATE TABLE liveness_sessions (
            session_id TEXT PRIMARY KEY,
            owner_key TEXT NOT NULL,
            client_request_token TEXT,
            token_hash TEXT NOT NULL,
            status TEXT NOT NULL,
            state TEXT NOT NULL,
            version BIGINT NOT NULL,
            created_at BIGINT NOT NULL,
            expires_at BIGINT NOT NULL,
            purge_at BIGINT NOT NULL)",
            "CREATE UNIQUE INDEX liveness_sessions_request ON liveness_sessions (owner_key, client_request_token)",
            "CREATE INDEX liveness_sessions_purge ON liveness_sessions (purge_at)",
            "CREATE TABLE liveness_images (
            session_id TEXT NOT NULL,
            name TEXT NOT NULL,
            content_type TEXT NOT NULL,
            bytes BYTEA NOT NULL,
            PRIMARY KEY (session_id, name))",
        ],
    },
    Migration {
        version: 6,
        name: "AWS access key pairs of API keys (Signature V4)",
        statements: &[
            "CREATE TABLE aws_credentials (
            access_key_id TEXT PRIMARY KEY,
            key_id TEXT NOT NULL REFERENCES api_keys(key_id) ON DELETE CASCADE,
            secret TEXT NOT NULL,
            created_at BIGINT NOT NULL)",
            "CREATE INDEX aws_credentials_by_key ON aws_credentials (key_id)",
        ],
    },
    Migration {
        version: 7,
        name: "the replay memory of liveness sessions (frame prints)",
        statements: &[
            "CREATE TABLE liveness_frame_prints (
            cell BIGINT NOT NULL,
            session_id TEXT NOT NULL,
            sequence BIGINT NOT NULL,
            points BYTEA NOT NULL,
            created_at BIGINT NOT NULL)",
            "CREATE INDEX liveness_frame_prints_by_cell ON liveness_frame_prints (cell, created_at)",
            "CREATE INDEX liveness_frame_prints_by_age ON liveness_frame_prints (created_at)",
        ],
    },
    Migration {
        version: 8,
        name: "when a liveness session's face template must go (privacy mode)",
        statements: &[
            "ALTER TABLE liveness_sessions ADD COLUMN biometrics_until BIGINT",
            "CREATE INDEX liveness_sessions_by_biometrics ON liveness_sessions (biometrics_until)",
        ],
    },
    Migration {
        version: 9,
        name: "users of a collection (faces grouped under a user id) and their idempotent requests",
        statements: &[
            "CREATE TABLE collection_users (
            collection_id TEXT NOT NULL REFERENCES collections(collection_id) ON DELETE CASCADE,
            user_id TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (collection_id, user_id))",
            "ALTER TABLE faces ADD COLUMN user_id TEXT",
            "CREATE INDEX faces_by_user ON faces (collection_id, user_id)",
            "CREATE TABLE user_requests (
            collection_id TEXT NOT NULL REFERENCES collections(collection_id) ON DELETE CASCADE,
            operation TEXT NOT NULL,
            token TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            outcome TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (collection_id, operation, token))",
        ],
    },
    Migration {
        version: 10,
        name: "images in an S3-compatible bucket: object keys, pending uploads and deletions",
        statements: &[
            "ALTER TABLE images ADD COLUMN object_key TEXT",
            "CREATE INDEX images_by_object ON images (object_key)",
            "ALTER TABLE liveness_images ADD COLUMN object_key TEXT",
            "CREATE INDEX liveness_images_by_object ON liveness_images (object_key)",
            "CREATE TABLE blob_pending (object_key TEXT PRIMARY KEY, due_at BIGINT NOT NULL)",
            "CREATE INDEX blob_pending_by_due ON blob_pending (due_at)",
        ],
    },
    Migration {
        version: 11,
        name: "the buckets an API key may read and write (S3Object inputs, liveness output)",
        statements: &["ALTER TABLE api_keys ADD COLUMN buckets TEXT"],
    },
    Migration {
        version: 12,
        name: "liveness sessions listed newest first, all or one key's, without a sort of the whole table",
        statements: &[
            "CREATE INDEX liveness_sessions_by_age ON liveness_sessions (created_at, session_id)",
            "CREATE INDEX liveness_sessions_by_owner ON liveness_sessions (owner_key, created_at, session_id)",
        ],
    },
];

/// A statement in the dialect's types: SQLite's `INTEGER PRIMARY KEY AUTOINCREMENT` (a rowid that is never
/// reused), `BLOB`, `REAL` and `INTEGER` for PostgreSQL's `BIGSERIAL PRIMARY KEY`, `BYTEA`, `DOUBLE PRECISION`
/// and `BIGINT`.
fn for_dialect(sql: &str, dialect: Dialect) -> String {
    match dialect {
        Dialect::Postgres => sql.to_string(),
        Dialect::Sqlite => sql
            .replace("BIGSERIAL PRIMARY KEY", "INTEGER PRIMARY KEY AUTOINCREMENT")
            .replace("BYTEA", "BLOB")
            .replace("DOUBLE PRECISION", "REAL")
            .replace("BIGINT", "INTEGER"),
    }
}

/// The newest schema version this build knows.
pub fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

pub async fn migrate(pool: &AnyPool, dialect: Dialect) -> StoreResult<()> {
    let mut tx = pool.begin().await?;
    if dialect == Dialect::Postgres {
        // Held to the end of the transaction: two replicas starting at once migrate one after the other.
        sqlx::query("SELECT pg_advisory_xact_lock(7286001)").execute(&mut *tx).await?;
    }
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS facegate_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .execute(&mut *tx)
    .await?;
    let current: i64 = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM facegate_migrations")
        .fetch_one(&mut *tx)
        .await?
        .try_get("v")?;
    if current > latest_version() {
        return Err(StoreError::Migration {
            version: current,
            message: format!(
                "the database is at schema version {current}, newer than this build's {}: upgrade facegate",
                latest_version()
            ),
        });
    }
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        for sql in m.statements {
            sqlx::query(&for_dialect(sql, dialect))
                .execute(&mut *tx)
                .await
                .map_err(|e| StoreError::Migration { version: m.version, message: e.to_string() })?;
        }
        sqlx::query("INSERT INTO facegate_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
            .bind(m.version)
            .bind(m.name)
            .bind(now_millis())
            .execute(&mut *tx)
            .await?;
        tracing::info!(version = m.version, name = m.name, "applied schema migration");
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_types_are_derived() {
        let sql = "CREATE TABLE t (seq BIGSERIAL PRIMARY KEY, n BIGINT, x DOUBLE PRECISION, b BYTEA)";
        assert_eq!(
            for_dialect(sql, Dialect::Sqlite),
            "CREATE TABLE t (seq INTEGER PRIMARY KEY AUTOINCREMENT, n INTEGER, x REAL, b BLOB)"
        );
        assert_eq!(for_dialect(sql, Dialect::Postgres), sql);
    }
}
