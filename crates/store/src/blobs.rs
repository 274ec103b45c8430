//! Where stored images live: in the database (rows of `images` and `liveness_images`, the default) or in an
//! S3-compatible bucket (`blob_store = "s3://bucket/prefix"`), through an [`ObjectClient`] — and reading and
//! writing callers' own buckets (Rekognition's `S3Object` inputs and liveness `OutputConfig`) through the same
//! endpoint and credentials. The client is a port: the `facegate-s3` crate implements it over `object_store`, so
//! that this crate (and the core above it) carries no HTTP client.
//!
//! # Crash safety with a bucket
//!
//! An object and the row that names it cannot be written atomically, so the order is fixed and every gap is
//! recorded in `blob_pending` (one row per object key that may exist without a row naming it):
//!
//! 1. **Upload**: a pending row for the new key (a fresh UUID, never reused) is committed, due after the
//!    grace period (`blob_orphan_grace_seconds`); then the object is put.
//! 2. **Commit**: the image row naming the key is inserted, and the pending row deleted, in the same
//!    transaction as the faces (or the liveness session's state). No row ever names an object that was not
//!    written first.
//! 3. A write that fails or loses a race after the upload marks its pending rows due now and deletes the
//!    objects at once. A process killed between 1 and 2 leaves a pending row: its object is an orphan that the
//!    **sweep** deletes once the grace period is over.
//! 4. **Delete**: the transaction that deletes image rows turns their keys into pending rows due now; after the
//!    commit the objects are deleted and the pending rows with them. A failed or interrupted deletion is retried
//!    by the sweep.
//!
//! The sweep ([`crate::Store::sweep_objects`]) runs at start-up and with each replica's housekeeping: for every
//! due pending row, the object is deleted unless a row names it (then only the pending row goes). An object is
//! thus deleted only when no row names it and its writer is done or dead.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use thiserror::Error;

/// The endpoint and credentials of an S3-compatible service (the usual AWS variables, parsed by the server's
/// configuration). Never printed with its secret.
#[derive(Clone, PartialEq, Default)]
pub struct S3Settings {
    /// `https://...` of an S3-compatible service; `None`: AWS S3 in `region`.
    pub endpoint: Option<String>,
    pub region: String,
    /// Access key pair (and session token); without them the S3 client's default chain applies (instance
    /// metadata, web identity).
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    /// Allow `http://` endpoints (the server's configuration allows it for loopback endpoints only).
    pub allow_http: bool,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key.as_ref().map(|_| "<redacted>"))
            .field("session_token", &self.session_token.as_ref().map(|_| "<redacted>"))
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

#[derive(Debug, Error)]
pub enum BlobError {
    /// The bucket or the object (or that version of it) does not exist.
    #[error("s3://{bucket}/{key} does not exist")]
    NotFound { bucket: String, key: String },
    /// The service refused the server's credentials for this bucket or object.
    #[error("access to s3://{bucket}/{key} was denied: {message}")]
    AccessDenied { bucket: String, key: String, message: String },
    #[error("s3://{bucket}/{key} is {size} bytes, more than the {max} allowed")]
    TooLarge { bucket: String, key: String, size: u64, max: usize },
    /// A bucket name or object key that S3 (or this server) cannot address.
    #[error("{0}")]
    InvalidName(String),
    /// No S3-compatible store is configured.
    #[error("no S3-compatible store is configured (blob_store = \"s3://bucket/prefix\")")]
    NotConfigured,
    /// The service could not be reached or failed.
    #[error("the S3-compatible store failed: {0}")]
    Unavailable(String),
}

/// S3 bucket names: 3-63 characters of lower-case letters, digits, `.` and `-`, starting and ending with a
/// letter or digit.
pub fn valid_bucket_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && name.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && name.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
}

/// An object read from a bucket.
#[derive(Debug, Clone)]
pub struct Object {
    pub bytes: Bytes,
    pub content_type: Option<String>,
}

/// A future an [`ObjectClient`] answers with.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A client of an S3-compatible service, as the store and the use cases need one (the port; `facegate-s3` holds
/// the adapter).
pub trait ObjectClient: Send + Sync {
    /// Reads an object (a given version of it), refusing one larger than `max_bytes` before its body is read.
    fn get<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        version: Option<&'a str>,
        max_bytes: usize,
    ) -> BoxFuture<'a, Result<Object, BlobError>>;
    /// Writes an object (replacing one with the key).
    fn put<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        bytes: Bytes,
        content_type: &'a str,
    ) -> BoxFuture<'a, Result<(), BlobError>>;
    /// The keys of the objects under `prefix` (all of them: for checks and tests, not for large buckets).
    fn list<'a>(&'a self, bucket: &'a str, prefix: &'a str) -> BoxFuture<'a, Result<Vec<String>, BlobError>>;
    /// Deletes an object; one that is not there counts as deleted.
    fn delete<'a>(&'a self, bucket: &'a str, key: &'a str) -> BoxFuture<'a, Result<(), BlobError>>;
}

/// A client for an S3-compatible service, with the settings it was made with.
#[derive(Clone)]
pub struct S3 {
    settings: Arc<S3Settings>,
    client: Arc<dyn ObjectClient>,
}

impl std::fmt::Debug for S3 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3").field("settings", &self.settings).finish()
    }
}

/// Makes the client of the S3-compatible service some settings name (`s3::connect`).
pub type S3Connector = fn(S3Settings) -> S3;

/// An object key S3 can address: 1-1024 bytes, no leading or trailing `/`, no empty, `.` or `..` segment, no
/// control character.
pub fn check_object_key(key: &str) -> Result<(), BlobError> {
    if key.is_empty() || key.len() > 1024 {
        return Err(BlobError::InvalidName("an object key is 1-1024 bytes".into()));
    }
    if key.starts_with('/') || key.ends_with('/') {
        return Err(BlobError::InvalidName(format!("object key {key:?} begins or ends with /")));
    }
    if key.split('/').any(|segment| segment.is_empty() || segment == "." || segment == "..") {
        return Err(BlobError::InvalidName(format!("object key {key:?} has an empty, . or .. segment")));
    }
    if key.chars().any(char::is_control) {
        return Err(BlobError::InvalidName(format!("object key {key:?} holds a control character")));
    }
    Ok(())
}

impl S3 {
    pub fn new(settings: S3Settings, client: Arc<dyn ObjectClient>) -> Self {
        S3 { settings: Arc::new(settings), client }
    }

    pub fn settings(&self) -> &S3Settings {
        &self.settings
    }

    /// See [`ObjectClient::get`].
    pub async fn get(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        max_bytes: usize,
    ) -> Result<Object, BlobError> {
        self.client.get(bucket, key, version, max_bytes).await
    }

    /// See [`ObjectClient::put`].
    pub async fn put(&self, bucket: &str, key: &str, bytes: Bytes, content_type: &str) -> Result<(), BlobError> {
        self.client.put(bucket, key, bytes, content_type).await
    }

    /// See [`ObjectClient::list`].
    pub async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, BlobError> {
        self.client.list(bucket, prefix).await
    }

    /// See [`ObjectClient::delete`].
    pub async fn delete(&self, bucket: &str, key: &str) -> Result<(), BlobError> {
        self.client.delete(bucket, key).await
    }
}

/// Where the store keeps images.
#[derive(Debug, Clone, Default)]
pub enum Blobs {
    /// In the database's rows (the default).
    #[default]
    Database,
    /// In a bucket: objects named `{prefix}{kind}/{uuid}`.
    S3 {
        s3: S3,
        bucket: String,
        /// Empty, or ending in `/`.
        prefix: String,
        /// How long an upload may take before its object counts as an orphan (milliseconds).
        grace_ms: i64,
    },
}

impl Blobs {
    /// Images in `bucket` under `prefix` (`""` or a path such as `facegate/prod`), uploads given `grace` to commit.
    pub fn s3(s3: S3, bucket: &str, prefix: &str, grace: Duration) -> Result<Self, BlobError> {
        if !valid_bucket_name(bucket) {
            return Err(BlobError::InvalidName(format!(
                "{bucket:?} is not a bucket name (3-63 characters of a-z 0-9 . -)"
            )));
        }
        let prefix = prefix.trim_matches('/');
        if !prefix.is_empty() {
            check_object_key(prefix)?;
        }
        Ok(Blobs::S3 {
            s3,
            bucket: bucket.to_string(),
            prefix: if prefix.is_empty() { String::new() } else { format!("{prefix}/") },
            grace_ms: i64::try_from(grace.as_millis()).unwrap_or(i64::MAX),
        })
    }

    /// The S3 client, when the images are in a bucket.
    pub fn s3_client(&self) -> Option<&S3> {
        match self {
            Blobs::Database => None,
            Blobs::S3 { s3, .. } => Some(s3),
        }
    }

    /// `s3://bucket/prefix`, or `database`.
    pub fn describe(&self) -> String {
        match self {
            Blobs::Database => "database".into(),
            Blobs::S3 { bucket, prefix, .. } => format!("s3://{bucket}/{prefix}"),
        }
    }

    /// A new object key for an image of `kind` (`faces`, `liveness/SESSION`): `{prefix}{kind}/{uuid}`; `None` when
    /// images are kept in the database.
    pub fn new_key(&self, kind: &str) -> Option<String> {
        match self {
            Blobs::Database => None,
            Blobs::S3 { prefix, .. } => Some(format!("{prefix}{kind}/{}", uuid::Uuid::new_v4())),
        }
    }

    pub(crate) async fn put(&self, key: &str, bytes: Bytes, content_type: &str) -> Result<(), BlobError> {
        match self {
            Blobs::Database => Err(BlobError::NotConfigured),
            Blobs::S3 { s3, bucket, .. } => s3.put(bucket, key, bytes, content_type).await,
        }
    }

    pub(crate) async fn get(&self, key: &str) -> Result<Object, BlobError> {
        match self {
            Blobs::Database => Err(BlobError::NotConfigured),
            Blobs::S3 { s3, bucket, .. } => s3.get(bucket, key, None, usize::MAX).await,
        }
    }

    pub(crate) async fn delete(&self, key: &str) -> Result<(), BlobError> {
        match self {
            Blobs::Database => Err(BlobError::NotConfigured),
            Blobs::S3 { s3, bucket, .. } => s3.delete(bucket, key).await,
        }
    }

    /// When an upload started now becomes an orphan if its row was not committed.
    pub(crate) fn orphan_at(&self, now: i64) -> i64 {
        match self {
            Blobs::Database => now,
            Blobs::S3 { grace_ms, .. } => now.saturating_add(*grace_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names() {
        assert!(valid_bucket_name("faces") && valid_bucket_name("my.bucket-2"));
        for bad in ["", "ab", "Faces", "-faces", "faces-", "a_b", &"a".repeat(64)] {
            assert!(!valid_bucket_name(bad), "{bad}");
        }
    }

    #[test]
    fn object_keys() {
        for good in ["faces/1.jpg", "photos/me 1.jpg", "a"] {
            assert!(check_object_key(good).is_ok(), "{good}");
        }
        for bad in ["", "/a", "a/", "a//b", "a/../b", "./a", "a\u{0}b", &"k".repeat(1025)] {
            assert!(check_object_key(bad).is_err(), "{bad:?}");
        }
    }
}
