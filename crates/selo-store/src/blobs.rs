//! Blob files (selfies) beside the database: written to a temporary file, fsynced and renamed,
//! so a blob either exists whole or not at all; folders `0700`, files `0600`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

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
    /// for a path that is no record's image.
    pub fn candidates(path: &str) -> Vec<BlobKey> {
        let Some((tenant, file)) = path.split_once('/') else {
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

/// Local blob storage under a directory.
#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
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

impl BlobStore {
    /// Blob storage rooted at `root` (created when missing).
    pub fn open(root: &Path) -> std::io::Result<Self> {
        crate::private_fs::create_dir(root)?;
        Ok(BlobStore {
            root: root.to_path_buf(),
        })
    }

    fn path(&self, key: &str) -> std::io::Result<PathBuf> {
        if !safe(key) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "unsafe blob key",
            ));
        }
        Ok(self.root.join(key))
    }

    /// Writes `bytes` under `key` durably (fsync of the file and its folder).
    pub fn put(&self, key: &str, bytes: &[u8]) -> std::io::Result<()> {
        let path = self.path(key)?;
        let dir = path.parent().unwrap_or(&self.root).to_path_buf();
        crate::private_fs::create_dir(&dir)?;
        // A temporary name of its own: two writers of one key never share a half-written file.
        let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
        let mut f = crate::private_fs::new_file().open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, &path)?;
        fs::File::open(&dir)?.sync_all()
    }

    /// Deletes the blob under `key` (absent is fine).
    pub fn delete(&self, key: &str) -> std::io::Result<()> {
        match fs::remove_file(self.path(key)?) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Every blob key (`<tenant>/<file>`), temporary files included.
    pub fn keys(&self) -> std::io::Result<Vec<String>> {
        let mut keys = Vec::new();
        for dir in fs::read_dir(&self.root)? {
            let dir = dir?;
            if !dir.file_type()?.is_dir() {
                continue;
            }
            let tenant = dir.file_name().to_string_lossy().into_owned();
            for file in fs::read_dir(dir.path())? {
                let name = file?.file_name().to_string_lossy().into_owned();
                keys.push(format!("{tenant}/{name}"));
            }
        }
        Ok(keys)
    }

    /// Reads the blob under `key` (`None` when absent).
    pub fn get(&self, key: &str) -> std::io::Result<Option<Vec<u8>>> {
        match fs::read(self.path(key)?) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_and_unsafe_keys() {
        let dir = std::env::temp_dir().join(format!("selo-blobs-{}", std::process::id()));
        let blobs = BlobStore::open(&dir).unwrap();
        blobs.put("t1/p1.img", b"abc").unwrap();
        assert_eq!(blobs.get("t1/p1.img").unwrap().unwrap(), b"abc");
        assert!(blobs.get("t1/none").unwrap().is_none());
        assert!(blobs.put("../x", b"").is_err());
        fs::remove_dir_all(dir).unwrap();
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
