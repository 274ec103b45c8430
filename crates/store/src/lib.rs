//! Persistence for Facegate: collections, the faces enrolled in them (templates, metadata, optionally the
//! source image) and a change log that every replica follows to keep its in-memory index in step.
//!
//! Two real backends behind one API: SQLite (the embedded default; WAL) and PostgreSQL (selected by a
//! `postgres://` URL, for several replicas). Both speak the same SQL through sqlx's `Any` driver; only the
//! schema (migrations) and the write lock differ per dialect.

mod blobs;
mod collection_users;
mod dialect;
mod error;
mod frame_prints;
mod keys;
mod login_tokens;
mod login_users;
mod migrations;
mod records;
mod sessions;
mod store;
pub mod text;

pub use blobs::{
    check_object_key, valid_bucket_name, BlobError, Blobs, BoxFuture, Object, ObjectClient, S3Connector, S3Settings, S3,
};
pub use collection_users::{
    valid_collection_user_id, Association, CollectionUser, Disassociation, Once, RequestKey, MAX_USER_FACES,
};
pub use dialect::Dialect;
pub use error::{StoreError, StoreResult};
pub use frame_prints::{FramePrintRow, NewFramePrint};
pub use keys::{ApiKey, NewApiKey};
pub use login_tokens::StoredSigningKey;
pub use login_users::{valid_user_id, NewUser, User, USERS_COLLECTION};
pub use records::{
    Change, ChangeOp, Collection, FaceBox, FaceFilter, FaceRecord, NewCollection, NewFace, StoredImage, TemplateRow,
};
pub use sessions::{NewSession, SessionCreated, SessionImage, SessionUpdate, StoredSession};
pub use store::{Added, Store};

/// Collection ids: 1-255 characters of `A-Z a-z 0-9 _ . -` (the same alphabet as Rekognition's), not `.` or
/// `..`, so an id is safe in a URL path, a file name and a log line.
pub fn valid_collection_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 255
        && !text::is_dot_segment(id)
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

/// Client request tokens (idempotency keys): 1-64 characters of `A-Z a-z 0-9 _ -`.
pub fn valid_client_token(token: &str) -> bool {
    !token.is_empty() && token.len() <= 64 && token.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b))
}

/// Milliseconds since the Unix epoch: every time the store writes.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Templates are stored as little-endian `f32`s.
pub fn encode_template(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|v| v.to_le_bytes()).collect()
}

pub fn decode_template(bytes: &[u8]) -> StoreResult<Vec<f32>> {
    if !bytes.len().is_multiple_of(4) {
        return Err(StoreError::Corrupt(format!("a template of {} bytes is not a whole number of f32s", bytes.len())));
    }
    Ok(bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collection_ids() {
        assert!(valid_collection_id("staff-2026_v1.0"));
        assert!(!valid_collection_id(""));
        assert!(!valid_collection_id("../etc"));
        assert!(!valid_collection_id("..") && !valid_collection_id("."));
        assert!(!valid_collection_id("a b"));
        assert!(!valid_collection_id("é"));
        assert!(!valid_collection_id(&"a".repeat(256)));
    }

    #[test]
    fn templates_round_trip() {
        let v = vec![0.5f32, -1.25, f32::MIN_POSITIVE, 3.0e7];
        assert_eq!(decode_template(&encode_template(&v)).unwrap(), v);
        assert!(decode_template(&[0, 1, 2]).is_err());
    }
}
