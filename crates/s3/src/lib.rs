//! The S3-compatible object storage client: the store's [`store::ObjectClient`] port over the `object_store`
//! crate's S3 client (one client per bucket, made on first use). An adapter, kept out of the store and the core
//! so that neither carries an HTTP client: the server and the command line connect with [`connect`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{
    Attribute, Attributes, BackoffConfig, ClientOptions, GetOptions, ObjectStore, PutOptions, PutPayload, RetryConfig,
};
use store::{valid_bucket_name, BlobError, BoxFuture, Object, ObjectClient, S3Settings, S3};

/// A client for the S3-compatible service `settings` name (the server's `store::S3Connector`).
pub fn connect(settings: S3Settings) -> S3 {
    let client = ObjectStoreClient { settings: Arc::new(settings.clone()), buckets: Arc::default() };
    S3::new(settings, Arc::new(client))
}

/// One `object_store` client per bucket, made on first use.
struct ObjectStoreClient {
    settings: Arc<S3Settings>,
    buckets: Arc<Mutex<HashMap<String, Arc<AmazonS3>>>>,
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

impl ObjectStoreClient {
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
    async fn get_object(
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
    async fn put_object(&self, bucket: &str, key: &str, bytes: Bytes, content_type: &str) -> Result<(), BlobError> {
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
    async fn list_objects(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, BlobError> {
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
    async fn delete_object(&self, bucket: &str, key: &str) -> Result<(), BlobError> {
        let client = self.bucket(bucket)?;
        let path = object_path(key)?;
        match client.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(Self::error(bucket, key, e)),
        }
    }
}

impl ObjectClient for ObjectStoreClient {
    fn get<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        version: Option<&'a str>,
        max_bytes: usize,
    ) -> BoxFuture<'a, Result<Object, BlobError>> {
        Box::pin(self.get_object(bucket, key, version, max_bytes))
    }

    fn put<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        bytes: Bytes,
        content_type: &'a str,
    ) -> BoxFuture<'a, Result<(), BlobError>> {
        Box::pin(self.put_object(bucket, key, bytes, content_type))
    }

    fn list<'a>(&'a self, bucket: &'a str, prefix: &'a str) -> BoxFuture<'a, Result<Vec<String>, BlobError>> {
        Box::pin(self.list_objects(bucket, prefix))
    }

    fn delete<'a>(&'a self, bucket: &'a str, key: &'a str) -> BoxFuture<'a, Result<(), BlobError>> {
        Box::pin(self.delete_object(bucket, key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_secrets() {
        let s3 = connect(S3Settings {
            region: "us-east-1".into(),
            secret_access_key: Some("very-secret".into()),
            ..Default::default()
        });
        assert!(!format!("{s3:?}").contains("very-secret"));
        let blobs = store::Blobs::s3(s3, "faces", "/fg/prod/", Duration::from_secs(60)).expect("blobs");
        let key = blobs.new_key("faces").expect("a key");
        assert!(key.starts_with("fg/prod/faces/") && key.len() == "fg/prod/faces/".len() + 36, "{key}");
        assert_eq!(blobs.describe(), "s3://faces/fg/prod/");
        assert!(store::Blobs::s3(connect(S3Settings::default()), "Bad_Bucket", "", Duration::ZERO).is_err());
        assert!(object_path("a/../b").is_err() && object_path("").is_err());
        assert!(object_path("photos/me 1.jpg").is_ok());
    }
}
