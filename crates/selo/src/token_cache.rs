//! The client commands' access-token cache (CONTRACT §13; issue: two commands in the same
//! second must not present the same assertion). One file per server URL and `iss`, readable by
//! its owner only, in `SELO_TOKEN_CACHE` (`off` disables it), else `$XDG_CACHE_HOME/selo`,
//! else `~/.cache/selo`. A token is used until less than a minute is left.

use selo_sdk::TokenStore;
use selo_sdk::selo_wire::token::TokenResponse;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long before its expiry a cached token is replaced.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// What one cache file holds.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Saved {
    token: TokenResponse,
    /// Unix seconds.
    expires_at: u64,
}

/// A file-backed [`TokenStore`] for one server URL and service account.
pub struct FileTokenStore {
    path: PathBuf,
}

/// The folder of the cache, or `None` when it is turned off or no home is known.
fn folder() -> Option<PathBuf> {
    match std::env::var_os("SELO_TOKEN_CACHE") {
        Some(v) if v == "off" => None,
        Some(v) if !v.is_empty() => Some(PathBuf::from(v)),
        _ => std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
            .map(|cache| cache.join("selo")),
    }
}

impl FileTokenStore {
    /// The cache of `iss`'s tokens at `url`, when the cache is on.
    pub fn for_account(url: &str, iss: &str) -> Option<FileTokenStore> {
        let digest = aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            format!("{}\n{iss}", url.trim_end_matches('/')).as_bytes(),
        );
        let name: String = digest.as_ref()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Some(FileTokenStore {
            path: folder()?.join(format!("token-{name}.json")),
        })
    }

    fn write(&self, saved: &Saved) -> std::io::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        // A folder the user named (SELO_TOKEN_CACHE) keeps its own mode; one made here is 0700.
        if !dir.is_dir() {
            selo_store::private_fs::create_dir(dir)?;
        }
        let tmp = self
            .path
            .with_extension(format!("tmp-{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        let mut file = selo_store::private_fs::new_file().open(&tmp)?;
        file.write_all(&serde_json::to_vec(saved)?)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &self.path)
    }
}

impl TokenStore for FileTokenStore {
    fn load(&self) -> Option<(TokenResponse, SystemTime)> {
        let saved: Saved = serde_json::from_slice(&std::fs::read(&self.path).ok()?).ok()?;
        Some((
            saved.token,
            UNIX_EPOCH + Duration::from_secs(saved.expires_at),
        ))
    }

    fn save(&self, token: &TokenResponse, expires_at: SystemTime) {
        let saved = Saved {
            token: token.clone(),
            expires_at: expires_at
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        };
        // A cache that cannot be written only costs the next command a token request.
        if let Err(e) = self.write(&saved) {
            eprintln!(
                "note: could not cache the access token in {}: {e}",
                self.path.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_token_loads_back_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileTokenStore {
            path: dir.path().join("cache").join("token-x.json"),
        };
        assert!(store.load().is_none());
        let token = TokenResponse {
            access_token: "abc".into(),
            token_type: "Bearer".into(),
            expires_in: 3600,
        };
        let at = UNIX_EPOCH + Duration::from_secs(1_900_000_000);
        store.save(&token, at);
        let (loaded, expires) = store.load().unwrap();
        assert_eq!((loaded.access_token.as_str(), expires), ("abc", at));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&store.path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
