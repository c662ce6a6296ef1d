//! Stored images (selfies), never inside the database: files under a directory
//! ([`files`], the default) or objects in an S3-compatible bucket ([`s3`], CONTRACT §18), behind
//! one [`BlobStore`]; [`BlobKey`] is the one spelling of a record's image key.

mod files;
mod s3;

use std::path::PathBuf;

/// The kind of record a stored image belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobOwner {
    /// An API-contract process's selfie.
    Process,
    /// A Web & SDK process's captured selfie.
    WebProcess,
    /// A Magic Link's captured selfie.
    MagicLink,
}

/// Where a record's image is stored: the one spelling of its path, `<tenant>/<id>.selfie` for a
/// process of either contract, `<tenant>/<token>.link-selfie` for a Magic Link. Its `Debug`
/// leaves the id out (a Magic Link's is its bearer token).
#[derive(Clone, PartialEq, Eq)]
pub struct BlobKey {
    owner: BlobOwner,
    tenant_id: String,
    id: String,
}

impl BlobKey {
    /// The image of `owner`'s record `id` in `tenant_id`.
    pub fn new(owner: BlobOwner, tenant_id: &str, id: &str) -> BlobKey {
        debug_assert!(
            !id.is_empty() && !id.contains('/') && !tenant_id.contains('/'),
            "a record's id and tenant are single path segments"
        );
        BlobKey {
            owner,
            tenant_id: tenant_id.to_string(),
            id: id.to_string(),
        }
    }

    /// The kind of record it belongs to.
    pub fn owner(&self) -> BlobOwner {
        self.owner
    }

    /// The owning tenant.
    pub fn tenant_id(&self) -> &str {
        &self.tenant_id
    }

    /// The owning record's id (a Magic Link's token: a secret, never log it).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Its path in the blob store.
    pub fn path(&self) -> String {
        format!("{}/{}{}", self.tenant_id, self.id, self.owner.suffix())
    }

    /// The keys a stored path can be (a `.selfie` is an API process's or a journey's); none
    /// for a path that is no record's image (nor one the blob store would take).
    pub fn candidates(path: &str) -> Vec<BlobKey> {
        let Some((tenant, file)) = path.split_once('/').filter(|_| safe(path)) else {
            return Vec::new();
        };
        [
            BlobOwner::Process,
            BlobOwner::WebProcess,
            BlobOwner::MagicLink,
        ]
        .into_iter()
        .filter_map(|owner| {
            let id = file.strip_suffix(owner.suffix())?;
            (!id.is_empty() && !id.contains('/')).then(|| BlobKey::new(owner, tenant, id))
        })
        .collect()
    }
}

impl BlobOwner {
    /// What its images' file names end with.
    fn suffix(self) -> &'static str {
        match self {
            BlobOwner::Process | BlobOwner::WebProcess => ".selfie",
            BlobOwner::MagicLink => ".link-selfie",
        }
    }
}

impl std::fmt::Debug for BlobKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobKey")
            .field("owner", &self.owner)
            .field("tenant_id", &self.tenant_id)
            .finish_non_exhaustive()
    }
}

/// Where images are stored (`--blobs`): files under a directory, or an S3-compatible bucket.
/// Every operation blocks until done (the crate's blocking contract).
#[derive(Debug, Clone)]
pub enum BlobStore {
    /// Files under a directory (the default, `DATA/blobs`).
    Files(files::FileBlobs),
    /// Objects in an S3-compatible bucket.
    S3(s3::S3Blobs),
}

/// A blob store named by `--blobs` / `SELO_BLOBS`: `file://DIR` or `s3://BUCKET[/PREFIX]`
/// (the S3 endpoint and credentials from the standard `AWS_*` variables).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobLocation {
    /// A directory.
    Files(PathBuf),
    /// A bucket, and a prefix inside it (empty: the bucket's root).
    S3 {
        /// Bucket name.
        bucket: String,
        /// Key prefix, without slashes at either end.
        prefix: String,
    },
}

impl std::str::FromStr for BlobLocation {
    type Err = String;

    fn from_str(text: &str) -> Result<BlobLocation, String> {
        if let Some(dir) = text.strip_prefix("file://") {
            if dir.is_empty() {
                return Err("file:// needs a directory: file:///var/lib/selo/blobs".into());
            }
            Ok(BlobLocation::Files(PathBuf::from(dir)))
        } else if let Some(rest) = text.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err("s3:// needs a bucket: s3://BUCKET[/PREFIX]".into());
            }
            Ok(BlobLocation::S3 {
                bucket: bucket.to_string(),
                prefix: prefix.trim_matches('/').to_string(),
            })
        } else {
            Err(format!(
                "'{}' is not a blob store: use file://DIR or s3://BUCKET[/PREFIX]",
                text.chars().take(80).collect::<String>()
            ))
        }
    }
}

impl BlobLocation {
    /// The default: files under the data directory's `blobs` folder.
    pub fn in_data_dir(data: &std::path::Path) -> BlobLocation {
        BlobLocation::Files(data.join("blobs"))
    }

    /// What it is, for messages and logs.
    pub fn describe(&self) -> String {
        match self {
            BlobLocation::Files(dir) => format!("file://{}", dir.display()),
            BlobLocation::S3 { bucket, prefix } if prefix.is_empty() => format!("s3://{bucket}"),
            BlobLocation::S3 { bucket, prefix } => format!("s3://{bucket}/{prefix}"),
        }
    }
}

/// A stored blob's key and when it was written (the file's or object's own time, on the
/// storage's clock; `None` when it does not say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlob {
    /// `<tenant>/<file>`.
    pub key: String,
    /// When it was last written.
    pub written: Option<std::time::SystemTime>,
}

fn safe(key: &str) -> bool {
    !key.is_empty()
        && key.split('/').all(|seg| {
            !seg.is_empty()
                && seg != ".."
                && seg != "."
                && seg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        })
}

/// Refuses a key that is not `segment/segment…` of safe characters.
fn checked(key: &str) -> std::io::Result<&str> {
    if safe(key) {
        Ok(key)
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "unsafe blob key",
        ))
    }
}

impl BlobStore {
    /// Opens the store `location` names (a directory is created when missing; a bucket must
    /// exist and is checked).
    pub fn open(location: &BlobLocation) -> std::io::Result<BlobStore> {
        Ok(match location {
            BlobLocation::Files(dir) => BlobStore::Files(files::FileBlobs::open(dir)?),
            BlobLocation::S3 { bucket, prefix } => {
                BlobStore::S3(s3::S3Blobs::open(bucket, prefix)?)
            }
        })
    }

    /// Writes `bytes` under `key` durably (a file is fsynced with its folder; an object is
    /// stored once S3 answers).
    pub fn put(&self, key: &str, bytes: &[u8]) -> std::io::Result<()> {
        let key = checked(key)?;
        match self {
            BlobStore::Files(f) => f.put(key, bytes),
            BlobStore::S3(s) => s.put(key, bytes),
        }
    }

    /// Deletes the blob under `key` (absent is fine).
    pub fn delete(&self, key: &str) -> std::io::Result<()> {
        let key = checked(key)?;
        match self {
            BlobStore::Files(f) => f.delete(key),
            BlobStore::S3(s) => s.delete(key),
        }
    }

    /// Reads the blob under `key` (`None` when absent).
    pub fn get(&self, key: &str) -> std::io::Result<Option<Vec<u8>>> {
        let key = checked(key)?;
        match self {
            BlobStore::Files(f) => f.get(key),
            BlobStore::S3(s) => s.get(key),
        }
    }

    /// Every stored blob (`<tenant>/<file>`), temporary files included.
    pub fn keys(&self) -> std::io::Result<Vec<StoredBlob>> {
        match self {
            BlobStore::Files(f) => f.keys(),
            BlobStore::S3(s) => s.keys(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_and_unsafe_keys() {
        let dir = std::env::temp_dir().join(format!("selo-blobs-{}", std::process::id()));
        let blobs = BlobStore::open(&BlobLocation::Files(dir.clone())).unwrap();
        blobs.put("t1/p1.img", b"abc").unwrap();
        assert_eq!(blobs.get("t1/p1.img").unwrap().unwrap(), b"abc");
        assert!(blobs.get("t1/none").unwrap().is_none());
        assert!(blobs.put("../x", b"").is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn blob_locations_parse_or_say_what_is_accepted() {
        assert_eq!(
            "file:///var/lib/selo/blobs"
                .parse::<BlobLocation>()
                .unwrap(),
            BlobLocation::Files("/var/lib/selo/blobs".into())
        );
        assert_eq!(
            "s3://selfies/prod/".parse::<BlobLocation>().unwrap(),
            BlobLocation::S3 {
                bucket: "selfies".into(),
                prefix: "prod".into()
            }
        );
        assert_eq!(
            "s3://selfies".parse::<BlobLocation>().unwrap().describe(),
            "s3://selfies"
        );
        for wrong in ["s3://", "file://", "/var/lib/selo", "gs://bucket"] {
            let e = wrong.parse::<BlobLocation>().unwrap_err();
            assert!(e.contains("s3://") || e.contains("file://"), "{wrong}: {e}");
        }
    }

    #[test]
    fn a_key_is_spelled_one_way_and_read_back() {
        let link = BlobKey::new(BlobOwner::MagicLink, "t1", "tok-secret");
        assert_eq!(link.path(), "t1/tok-secret.link-selfie");
        assert_eq!(
            BlobKey::candidates(&link.path()),
            std::slice::from_ref(&link)
        );
        let process = BlobKey::new(BlobOwner::Process, "t1", "p1");
        assert_eq!(process.path(), "t1/p1.selfie");
        assert_eq!(
            BlobKey::candidates("t1/p1.selfie"),
            [process, BlobKey::new(BlobOwner::WebProcess, "t1", "p1")]
        );
        for other in [
            "t1/p1.other",
            "p1.selfie",
            "t1/.selfie",
            "t1/a/b.selfie",
            "",
        ] {
            assert!(BlobKey::candidates(other).is_empty(), "{other}");
        }
        assert!(
            !format!("{link:?}").contains("tok-secret"),
            "a link's token is a secret"
        );
    }
}
