//! Where stored images live: in the database (rows of `images` and `liveness_images`, the default) or in an
//! S3-compatible bucket (`blob_store = "s3://bucket/prefix"`), through the `object_store` crate's S3 client —
//! and reading and writing callers' own buckets (Rekognition's `S3Object` inputs and liveness `OutputConfig`)
//! through the same endpoint and credentials.
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

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{
    Attribute, Attributes, BackoffConfig, ClientOptions, GetOptions, ObjectStore, PutOptions, PutPayload, RetryConfig,
};
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

/// A client for an S3-compatible service: one `object_store` client per bucket, made on first use.
#[derive(Clone)]
pub struct S3 {
    settings: Arc<S3Settings>,
    buckets: Arc<Mutex<HashMap<String, Arc<AmazonS3>>>>,
}

impl std::fmt::Debug for S3 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3").field("settings", &self.settings).finish()
    }
}

fn object_path(key: &str) -> Result<Path, BlobError> {
    if key.is_empty() || key.len() > 1024 {
        return Err(BlobError::InvalidName("an object key is 1-1024 bytes".into()));
    }
    if key.starts_with('/') || key.ends_with('/') {
        return Err(BlobError::InvalidName(format!("object key {key:?} begins or ends with /")));
    }
    Path::parse(key).map_err(|e| BlobError::InvalidName(format!("object key {key:?}: {e}")))
}

/// Whether an error's text reports a 4xx answer (`object_store` words them "non-2xx status code: 400 ...").
fn client_refusal(text: &str) -> bool {
    ["status code: 400", "status code: 405", "status code: 411", "status code: 416"].iter().any(|s| text.contains(s))
}

impl S3 {
    pub fn new(settings: S3Settings) -> Self {
        S3 { settings: Arc::new(settings), buckets: Arc::default() }
    }

    pub fn settings(&self) -> &S3Settings {
        &self.settings
    }

    fn bucket(&self, name: &str) -> Result<Arc<AmazonS3>, BlobError> {
        if !valid_bucket_name(name) {
            return Err(BlobError::InvalidName(format!(
                "{name:?} is not a bucket name (3-63 characters of a-z 0-9 . -)"
            )));
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(found) = buckets.get(name) {
            return Ok(found.clone());
        }
        let s = &self.settings;
        // Requests fail within seconds when the service is down, instead of retrying for minutes.
        let retry =
            RetryConfig { backoff: BackoffConfig::default(), max_retries: 2, retry_timeout: Duration::from_secs(10) };
        let options = ClientOptions::new()
            .with_allow_http(s.allow_http)
            .with_connect_timeout(Duration::from_secs(5))
            .with_timeout(Duration::from_secs(60));
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(name)
            .with_region(&s.region)
            .with_retry(retry)
            .with_client_options(options)
            .with_virtual_hosted_style_request(false);
        if let Some(endpoint) = &s.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(id) = &s.access_key_id {
            builder = builder.with_access_key_id(id);
        }
        if let Some(secret) = &s.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        if let Some(token) = &s.session_token {
            builder = builder.with_token(token);
        }
        let client = Arc::new(builder.build().map_err(|e| BlobError::Unavailable(e.to_string()))?);
        // A few buckets in practice; a caller naming many cannot grow this without bound.
        if buckets.len() >= 256 {
            buckets.clear();
        }
        buckets.insert(name.to_string(), client.clone());
        Ok(client)
    }

    fn error(bucket: &str, key: &str, e: object_store::Error) -> BlobError {
        match e {
            object_store::Error::NotFound { .. } => BlobError::NotFound { bucket: bucket.into(), key: key.into() },
            object_store::Error::PermissionDenied { source, .. }
            | object_store::Error::Unauthenticated { source, .. } => {
                BlobError::AccessDenied { bucket: bucket.into(), key: key.into(), message: source.to_string() }
            }
            object_store::Error::InvalidPath { source } => BlobError::InvalidName(source.to_string()),
            // Another refusal of the request itself (S3 answers a malformed version id with 400): the object
            // cannot be read as named, as with one that is not there. The client does not expose the status.
            e if client_refusal(&e.to_string()) => {
                BlobError::AccessDenied { bucket: bucket.into(), key: key.into(), message: e.to_string() }
            }
            e => BlobError::Unavailable(e.to_string()),
        }
    }

    /// Reads an object (a given version of it), refusing one larger than `max_bytes` before its body is read.
    pub async fn get(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
        max_bytes: usize,
    ) -> Result<Object, BlobError> {
        let client = self.bucket(bucket)?;
        let path = object_path(key)?;
        let options = GetOptions { version: version.map(String::from), ..GetOptions::default() };
        let result = client.get_opts(&path, options).await.map_err(|e| Self::error(bucket, key, e))?;
        if result.meta.size > max_bytes as u64 {
            return Err(BlobError::TooLarge {
                bucket: bucket.into(),
                key: key.into(),
                size: result.meta.size,
                max: max_bytes,
            });
        }
        let content_type = result.attributes.get(&Attribute::ContentType).map(|v| v.to_string());
        let bytes = result.bytes().await.map_err(|e| Self::error(bucket, key, e))?;
        Ok(Object { bytes, content_type })
    }

    /// Writes an object (replacing one with the key).
    pub async fn put(&self, bucket: &str, key: &str, bytes: Bytes, content_type: &str) -> Result<(), BlobError> {
        let client = self.bucket(bucket)?;
        let path = object_path(key)?;
        let attributes = Attributes::from_iter([(Attribute::ContentType, content_type.to_string())]);
        let options = PutOptions { attributes, ..PutOptions::default() };
        client
            .put_opts(&path, PutPayload::from_bytes(bytes), options)
            .await
            .map_err(|e| Self::error(bucket, key, e))?;
        Ok(())
    }

    /// The keys of the objects under `prefix` (all of them: for checks and tests, not for large buckets).
    pub async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, BlobError> {
        use futures_util::TryStreamExt;
        let client = self.bucket(bucket)?;
        let prefix = (!prefix.is_empty()).then(|| object_path(prefix.trim_end_matches('/'))).transpose()?;
        let objects: Vec<object_store::ObjectMeta> = client
            .list(prefix.as_ref())
            .try_collect()
            .await
            .map_err(|e| Self::error(bucket, prefix.as_ref().map_or("", |p| p.as_ref()), e))?;
        Ok(objects.into_iter().map(|o| o.location.to_string()).collect())
    }

    /// Deletes an object; one that is not there counts as deleted.
    pub async fn delete(&self, bucket: &str, key: &str) -> Result<(), BlobError> {
        let client = self.bucket(bucket)?;
        let path = object_path(key)?;
        match client.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(Self::error(bucket, key, e)),
        }
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
            object_path(prefix)?;
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

    /// A new object key for an image of `kind` (`faces`, `liveness/SESSION`).
    pub(crate) fn new_key(&self, kind: &str) -> Option<String> {
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
    fn keys_and_secrets() {
        let s3 = S3::new(S3Settings {
            region: "us-east-1".into(),
            secret_access_key: Some("very-secret".into()),
            ..Default::default()
        });
        assert!(!format!("{s3:?}").contains("very-secret"));
        let blobs = Blobs::s3(s3, "faces", "/fg/prod/", Duration::from_secs(60)).unwrap();
        let key = blobs.new_key("faces").unwrap();
        assert!(key.starts_with("fg/prod/faces/") && key.len() == "fg/prod/faces/".len() + 36, "{key}");
        assert_eq!(blobs.describe(), "s3://faces/fg/prod/");
        assert!(Blobs::s3(S3::new(S3Settings::default()), "Bad_Bucket", "", Duration::ZERO).is_err());
        assert!(object_path("a/../b").is_err() && object_path("").is_err());
        assert!(object_path("photos/me 1.jpg").is_ok());
    }
}
