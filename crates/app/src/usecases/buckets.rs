//! Images in callers' S3 buckets, through the configured S3-compatible store's endpoint and credentials
//! (`blob_store = "s3://..."`): reading an image named by bucket, key and version (Rekognition's `S3Object`
//! inputs), and writing a liveness session's images to a bucket (`OutputConfig`).
//!
//! The server's credentials are its own: a caller reaches only what the operator opened to callers
//! (`s3_caller_buckets`, none by default), within its key's own bucket list, and never the server's image store
//! (the `blob_store` bucket under its prefix), which holds every tenant's faces.

use bytes::Bytes;

use crate::config::{BlobStore, ServerConfig};
use crate::error::{ApiError, ApiResult, Code};
use crate::state::AppState;

/// An object in a bucket, as a caller names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub bucket: String,
    pub key: String,
    pub version: Option<String>,
}

/// Where in a bucket a caller reads or writes: one object, or every key under a prefix (an output's).
#[derive(Debug, Clone, Copy)]
pub enum Keys<'a> {
    Object(&'a str),
    Prefix(&'a str),
}

/// Why a caller may not use an object or prefix of `bucket`, or `None` when it may.
pub fn refusal(config: &ServerConfig, caller: &auth::Access, bucket: &str, keys: Keys<'_>) -> Option<String> {
    if let BlobStore::S3 { bucket: own, prefix } = &config.blob_store {
        if own == bucket {
            let own_keys = if prefix.is_empty() { String::new() } else { format!("{prefix}/") };
            let overlaps = match keys {
                Keys::Object(key) => key.starts_with(&own_keys),
                // Keys under the prefix may fall under the store's, or the reverse.
                Keys::Prefix(p) => p.starts_with(&own_keys) || own_keys.starts_with(p),
            };
            if overlaps {
                return Some(format!("{bucket:?} under {own_keys:?} is the server's own image store"));
            }
        }
    }
    let opened = &config.s3_caller_buckets;
    if !opened.iter().any(|b| b == "*" || b == bucket) {
        return Some(format!("the server opens no bucket {bucket:?} to callers (s3_caller_buckets)"));
    }
    if !caller.may_use_bucket(bucket) {
        return Some(format!("this key may not use the bucket {bucket:?}"));
    }
    None
}

/// The S3 client, when an S3-compatible store is configured, and the caller may use `keys` of `bucket`.
fn client<'a>(app: &'a AppState, caller: &auth::Access, bucket: &str, keys: Keys<'_>) -> ApiResult<&'a store::S3> {
    let what = match keys {
        Keys::Object(_) => "S3Object",
        Keys::Prefix(_) => "an output bucket",
    };
    let s3 = app.store.blobs().s3_client().ok_or_else(|| {
        ApiError::invalid_parameter(format!(
            "{what} needs an S3-compatible store, and none is configured (blob_store = \"s3://bucket/prefix\")"
        ))
    })?;
    if !store::valid_bucket_name(bucket) {
        return Err(ApiError::new(
            Code::InvalidS3Object,
            format!("{bucket:?} is not an S3 bucket name (3-63 characters of a-z 0-9 . -)"),
        ));
    }
    if let Some(why) = refusal(&app.config, caller, bucket, keys) {
        return Err(ApiError::new(Code::BucketForbidden, why));
    }
    Ok(s3)
}

/// Checks, before any work, that the caller may write under `prefix` in `bucket` (a liveness session's output).
pub fn check_writable(app: &AppState, caller: &auth::Access, bucket: &str, prefix: &str) -> ApiResult<()> {
    client(app, caller, bucket, Keys::Prefix(prefix)).map(|_| ())
}

/// The bytes of an image in a bucket (at most `max_image_bytes`).
pub async fn read_image(app: &AppState, caller: &auth::Access, object: &ObjectRef) -> ApiResult<Bytes> {
    let s3 = client(app, caller, &object.bucket, Keys::Object(&object.key))?;
    let max = app.config.max_image_bytes;
    let found = s3.get(&object.bucket, &object.key, object.version.as_deref(), max).await;
    Ok(found.map_err(|e| ApiError::from(store::StoreError::from(e)))?.bytes)
}

/// Writes `bytes` to `bucket` under `key` (a bucket and prefix checked with [`check_writable`] for whoever asked;
/// checked again here against the server's own store).
pub async fn write(app: &AppState, bucket: &str, key: &str, bytes: Bytes, content_type: &str) -> ApiResult<()> {
    let s3 = client(app, &auth::Access::unrestricted("output"), bucket, Keys::Object(key))?;
    s3.put(bucket, key, bytes, content_type).await.map_err(|e| ApiError::from(store::StoreError::from(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(store: &str, opened: &[&str]) -> ServerConfig {
        ServerConfig {
            blob_store: store.parse().expect("a blob store"),
            s3_caller_buckets: opened.iter().map(|b| b.to_string()).collect(),
            ..ServerConfig::default()
        }
    }

    fn key(buckets: Option<&[&str]>) -> auth::Access {
        let mut access = auth::Access::unrestricted("k");
        access.scopes = vec![auth::Scope::FacesDetect];
        access.buckets = buckets.map(|b| b.iter().map(|s| s.to_string()).collect());
        access
    }

    #[test]
    fn callers_reach_only_opened_buckets_and_never_the_image_store() {
        let admin = auth::Access::unrestricted("admin");
        let any_bucket = key(None);
        // Nothing opened: nobody, admin included.
        let closed = config("s3://images/fg", &[]);
        assert!(refusal(&closed, &admin, "inputs", Keys::Object("a.jpg")).is_some());
        assert!(refusal(&closed, &any_bucket, "inputs", Keys::Object("a.jpg")).is_some());
        // Opened by name: those; a key's own list narrows them.
        let opened = config("s3://images/fg", &["inputs", "images"]);
        assert_eq!(refusal(&opened, &any_bucket, "inputs", Keys::Object("a.jpg")), None);
        assert!(refusal(&opened, &any_bucket, "others", Keys::Object("a.jpg")).is_some());
        assert!(refusal(&opened, &key(Some(&["others"])), "inputs", Keys::Object("a.jpg")).is_some());
        // The image store's prefix is nobody's, even opened, even for admin; the rest of its bucket may be.
        for caller in [&admin, &any_bucket] {
            assert!(refusal(&opened, caller, "images", Keys::Object("fg/0195/face.jpg")).is_some());
            assert!(refusal(&opened, caller, "images", Keys::Prefix("fg/")).is_some());
            assert!(refusal(&opened, caller, "images", Keys::Prefix("")).is_some(), "a prefix above the store's");
            assert_eq!(refusal(&opened, caller, "images", Keys::Object("fgx/a.jpg")), None);
            assert_eq!(refusal(&opened, caller, "images", Keys::Prefix("audits/")), None);
        }
        // `*`: any bucket, but a store without a prefix keeps its whole bucket.
        let whole = config("s3://images", &["*"]);
        assert_eq!(refusal(&whole, &any_bucket, "elsewhere", Keys::Object("a.jpg")), None);
        assert!(refusal(&whole, &admin, "images", Keys::Object("anything.jpg")).is_some());
        assert!(refusal(&whole, &admin, "images", Keys::Prefix("audits/")).is_some());
    }
}
