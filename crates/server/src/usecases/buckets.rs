//! Images in callers' S3 buckets, through the configured S3-compatible store's endpoint and credentials
//! (`blob_store = "s3://..."`), within the buckets the caller's key may use: reading an image named by bucket,
//! key and version (Rekognition's `S3Object` inputs), and writing a liveness session's images to a bucket
//! (`OutputConfig`).

use bytes::Bytes;

use crate::error::{ApiError, ApiResult, Code};
use crate::state::AppState;

/// An object in a bucket, as a caller names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub bucket: String,
    pub key: String,
    pub version: Option<String>,
}

/// The S3 client, when an S3-compatible store is configured, and the caller may use `bucket`.
fn client<'a>(app: &'a AppState, caller: &auth::Access, bucket: &str, what: &str) -> ApiResult<&'a store::S3> {
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
    if !caller.may_use_bucket(bucket) {
        return Err(ApiError::new(Code::BucketForbidden, format!("this key may not use the bucket {bucket:?}")));
    }
    Ok(s3)
}

/// Checks, before any work, that the caller may write to `bucket` (a liveness session's output).
pub fn check_writable(app: &AppState, caller: &auth::Access, bucket: &str) -> ApiResult<()> {
    client(app, caller, bucket, "an output bucket").map(|_| ())
}

/// The bytes of an image in a bucket (at most `max_image_bytes`).
pub async fn read_image(app: &AppState, caller: &auth::Access, object: &ObjectRef) -> ApiResult<Bytes> {
    let s3 = client(app, caller, &object.bucket, "S3Object")?;
    let max = app.config.max_image_bytes;
    let found = s3.get(&object.bucket, &object.key, object.version.as_deref(), max).await;
    Ok(found.map_err(|e| ApiError::from(store::StoreError::from(e)))?.bytes)
}

/// Writes `bytes` to `bucket` under `key` (a bucket checked with [`check_writable`] for whoever asked).
pub async fn write(app: &AppState, bucket: &str, key: &str, bytes: Bytes, content_type: &str) -> ApiResult<()> {
    let s3 = client(app, &auth::Access::unrestricted("output"), bucket, "an output bucket")?;
    s3.put(bucket, key, bytes, content_type).await.map_err(|e| ApiError::from(store::StoreError::from(e)))
}
