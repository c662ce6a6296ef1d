//! Files only their owner may read (CONTRACT §19): the data directory and its folders are
//! `0700`; the database (with its WAL), keys and blobs are `0600`, whatever the umask. Existing
//! ones made by older versions are tightened when they are opened.

use std::fs;
use std::io;
use std::path::Path;

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> io::Result<()> {
    Ok(())
}

/// Creates `path` and its missing parents as `0700` folders, and tightens `path` itself to
/// `0700` when it already existed.
pub fn create_dir(path: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(path)?;
    set_mode(path, 0o700)
}

/// Options that create a new file (never an existing one) readable by its owner only.
pub fn new_file() -> fs::OpenOptions {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

/// Makes sure the file at `path` exists (empty when new) and is readable by its owner only.
///
/// An existing file is never opened, only its mode set: POSIX record locks belong to the
/// process, and closing *any* descriptor of a file releases all of them. Opening and closing
/// the database while this process's SQLite connections hold their locks on it would let
/// another process (an admin command) believe it is the database's last user, checkpoint and
/// delete the WAL these connections still write to.
pub fn ensure_file(path: &Path) -> io::Result<()> {
    match new_file().open(path) {
        // The mode again: the umask may have narrowed it below 0600.
        Ok(_) => set_mode(path, 0o600),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => set_mode(path, 0o600),
        Err(e) => Err(e),
    }
}

/// Tightens an existing file to `0600`; an absent one is fine.
pub fn restrict_file(path: &Path) -> io::Result<()> {
    match set_mode(path, 0o600) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn folders_are_0700_and_files_0600_even_when_they_existed() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        fs::create_dir_all(&dir).unwrap();
        set_mode(&dir, 0o755).unwrap();
        create_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        let file = dir.join("f");
        fs::write(&file, b"x").unwrap();
        set_mode(&file, 0o644).unwrap();
        ensure_file(&file).unwrap();
        assert_eq!(mode(&file), 0o600);
        assert_eq!(
            fs::read(&file).unwrap(),
            b"x",
            "an existing file keeps its content"
        );
        let new = dir.join("g");
        new_file().open(&new).unwrap();
        assert_eq!(mode(&new), 0o600);
        assert!(new_file().open(&new).is_err(), "never an existing file");
        restrict_file(&dir.join("absent")).unwrap();
        let created = dir.join("h");
        ensure_file(&created).unwrap();
        assert_eq!(
            (mode(&created), fs::read(&created).unwrap().len()),
            (0o600, 0)
        );
    }
}
