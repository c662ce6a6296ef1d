//! Blob files under a directory: written to a temporary file, fsynced and renamed, so a blob
//! either exists whole or not at all; folders `0700`, files `0600`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Blob files under a directory.
#[derive(Debug, Clone)]
pub struct FileBlobs {
    root: PathBuf,
}

impl FileBlobs {
    /// Blob storage rooted at `root` (created when missing).
    pub fn open(root: &Path) -> std::io::Result<Self> {
        crate::private_fs::create_dir(root)?;
        Ok(FileBlobs {
            root: root.to_path_buf(),
        })
    }

    fn path(&self, key: &str) -> std::io::Result<PathBuf> {
        Ok(self.root.join(super::checked(key)?))
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
    pub fn keys(&self) -> std::io::Result<Vec<super::StoredBlob>> {
        let mut keys = Vec::new();
        for dir in fs::read_dir(&self.root)? {
            let dir = dir?;
            if !dir.file_type()?.is_dir() {
                continue;
            }
            let tenant = dir.file_name().to_string_lossy().into_owned();
            for file in fs::read_dir(dir.path())? {
                let file = file?;
                let name = file.file_name().to_string_lossy().into_owned();
                keys.push(super::StoredBlob {
                    key: format!("{tenant}/{name}"),
                    written: file.metadata().and_then(|m| m.modified()).ok(),
                });
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
