//! Blobs as objects in an S3-compatible bucket (CONTRACT §18), through `object_store`: the
//! endpoint, region and credentials come from the standard `AWS_*` variables
//! (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
//! `AWS_ALLOW_HTTP=true` for a plain-http endpoint). An object is stored whole or not at all
//! (a single PUT), so no temporary names are needed.

use crate::bridge::{Bridge, wait};
use futures_util::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use std::sync::Arc;
use std::time::Duration;

/// Blobs in a bucket, under a prefix.
#[derive(Clone)]
pub struct S3Blobs {
    store: Arc<AmazonS3>,
    bucket: String,
    prefix: String,
    bridge: Arc<Bridge>,
}

impl std::fmt::Debug for S3Blobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Blobs")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl S3Blobs {
    /// An `object_store` failure as an I/O error naming the bucket and the kind of failure
    /// only: its own message names the object, and a Magic Link's image key holds the link's
    /// bearer token.
    fn failed(&self, e: object_store::Error) -> std::io::Error {
        let what = match e {
            object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. } => {
                "refused the credentials (check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
            }
            object_store::Error::NotFound { .. } => "has no such object",
            _ => "failed or did not answer",
        };
        std::io::Error::other(format!("the S3 store s3://{} {what}", self.bucket))
    }
}

impl S3Blobs {
    /// The bucket `bucket` (which must exist) under `prefix`, configured from the `AWS_*`
    /// variables.
    pub fn open(bucket: &str, prefix: &str) -> std::io::Result<S3Blobs> {
        // Bounded waits: a store that does not answer fails a request in seconds instead of
        // holding its thread for minutes of retries.
        let retry = object_store::RetryConfig {
            max_retries: 2,
            retry_timeout: Duration::from_secs(10),
            ..Default::default()
        };
        let client = object_store::ClientOptions::new()
            .with_allow_http(std::env::var("AWS_ALLOW_HTTP").is_ok_and(|v| v == "true"))
            .with_connect_timeout(Duration::from_secs(5))
            .with_timeout(Duration::from_secs(30));
        let store = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_retry(retry)
            .with_client_options(client)
            .build()
            .map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!(
                        "s3://{bucket}: {e} (set AWS_ENDPOINT_URL, AWS_REGION and the credentials)"
                    ),
                )
            })?;
        let blobs = S3Blobs {
            store: Arc::new(store),
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            bridge: Arc::new(Bridge::start("selo-s3")?),
        };
        // The bucket answers (and exists) before the server takes requests.
        blobs.wait(async {
            blobs
                .store
                .list_with_delimiter(Some(&blobs.root()))
                .await
                .map(|_| ())
                .map_err(|e| std::io::Error::other(format!("s3://{bucket} does not answer: {e}")))
        })?;
        Ok(blobs)
    }

    fn wait<T: Send>(&self, work: impl Future<Output = T> + Send) -> T {
        wait(&self.bridge.handle(), work)
    }

    /// The prefix as a path (the bucket's root when empty).
    fn root(&self) -> Path {
        Path::from(self.prefix.as_str())
    }

    fn location(&self, key: &str) -> Path {
        if self.prefix.is_empty() {
            Path::from(key)
        } else {
            Path::from(format!("{}/{key}", self.prefix))
        }
    }

    pub(super) fn put(&self, key: &str, bytes: &[u8]) -> std::io::Result<()> {
        let location = self.location(key);
        let payload = object_store::PutPayload::from(bytes.to_vec());
        self.wait(self.store.put(&location, payload))
            .map(|_| ())
            .map_err(|e| self.failed(e))
    }

    pub(super) fn delete(&self, key: &str) -> std::io::Result<()> {
        let location = self.location(key);
        match self.wait(self.store.delete(&location)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.failed(e)),
        }
    }

    pub(super) fn get(&self, key: &str) -> std::io::Result<Option<Vec<u8>>> {
        let location = self.location(key);
        self.wait(async {
            match self.store.get(&location).await {
                Ok(found) => Ok(Some(
                    found.bytes().await.map_err(|e| self.failed(e))?.to_vec(),
                )),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(self.failed(e)),
            }
        })
    }

    pub(super) fn keys(&self) -> std::io::Result<Vec<super::StoredBlob>> {
        let root = self.root();
        let objects: Vec<object_store::ObjectMeta> = self
            .wait(self.store.list(Some(&root)).try_collect())
            .map_err(|e| self.failed(e))?;
        let skip = if self.prefix.is_empty() {
            0
        } else {
            self.prefix.len() + 1
        };
        Ok(objects
            .into_iter()
            .filter_map(|o| {
                let key = o.location.as_ref().get(skip..)?.to_string();
                let written = std::time::UNIX_EPOCH.checked_add(Duration::from_millis(
                    u64::try_from(o.last_modified.timestamp_millis()).ok()?,
                ));
                Some(super::StoredBlob { key, written })
            })
            .collect())
    }
}
