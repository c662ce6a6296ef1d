//! Service-account credentials and the RS256 assertion they sign (CONTRACT §2).

use crate::Error;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use selo_wire::admin::DemoCredentials;
use serde::Serialize;
use std::fmt;
use std::path::Path;

/// Lifetime of a signed assertion: `exp = iat + 3600`, the longest the server accepts.
pub const ASSERTION_LIFETIME_SECS: u64 = 3600;

/// What the client authenticates with: the service account's RSA private key and `iss`, the
/// base URL of the environment, the `aud` its assertions carry, and the API key of the API
/// contract.
///
/// ```no_run
/// use selo_sdk::Credentials;
///
/// # fn main() -> Result<(), selo_sdk::Error> {
/// // From the files `selo admin` gave you:
/// let pem = std::fs::read("private-key.pem").expect("key file");
/// let creds = Credentials::from_rsa_pem(
///     &pem,
///     "integrator@3f0c…-tenant.iam.acesso.io",
///     "http://127.0.0.1:8080",
/// )?
/// .with_api_key("sk_…");
///
/// // Or from the folder `selo serve --demo` prepared:
/// let demo = Credentials::from_demo_file("selo-data/demo/credentials.json")?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Credentials {
    iss: String,
    base_url: String,
    audience: String,
    api_key: Option<String>,
    key: EncodingKey,
}

/// The claims of an assertion: exactly these five, nothing else (CONTRACT §2 rejects any other
/// claim with `1.2.22`).
#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    aud: &'a str,
    scope: &'a str,
    iat: u64,
    exp: u64,
}

impl Credentials {
    /// Credentials from an RSA private key in PEM form (`-----BEGIN PRIVATE KEY-----` PKCS#8 or
    /// `-----BEGIN RSA PRIVATE KEY-----` PKCS#1), the account's `iss`
    /// (`<account>@<tenant>.iam.acesso.io`) and the environment's base URL. The audience
    /// defaults to the base URL without its trailing slash; there is no API key until
    /// [`with_api_key`](Self::with_api_key).
    pub fn from_rsa_pem(
        pem: impl AsRef<[u8]>,
        iss: impl Into<String>,
        base_url: impl Into<String>,
    ) -> Result<Self, Error> {
        let key = EncodingKey::from_rsa_pem(pem.as_ref()).map_err(|e| {
            Error::Credentials(format!(
                "not an RSA private key in PEM form ({e}); expected -----BEGIN PRIVATE KEY-----"
            ))
        })?;
        let iss = iss.into();
        if iss.trim().is_empty() {
            return Err(Error::Credentials("iss is empty".into()));
        }
        let base_url = normalize_base_url(&base_url.into())?;
        Ok(Credentials {
            iss,
            audience: base_url.clone(),
            base_url,
            api_key: None,
            key,
        })
    }

    /// Like [`from_rsa_pem`](Self::from_rsa_pem), reading the key from a file.
    pub fn from_rsa_pem_file(
        path: impl AsRef<Path>,
        iss: impl Into<String>,
        base_url: impl Into<String>,
    ) -> Result<Self, Error> {
        let path = path.as_ref();
        let pem = std::fs::read(path).map_err(|e| {
            Error::Credentials(format!("reading the private key {}: {e}", path.display()))
        })?;
        Self::from_rsa_pem(pem, iss, base_url)
    }

    /// Credentials from the `credentials.json` that `selo serve --demo` writes
    /// (`DATA/demo/credentials.json`): URL, `iss`, API key, and the private key file named
    /// relative to the JSON file's folder.
    pub fn from_demo_file(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| {
            Error::Credentials(format!(
                "reading {}: {e} (run `selo serve --demo` to create it)",
                path.display()
            ))
        })?;
        let demo: DemoCredentials = serde_json::from_slice(&bytes).map_err(|e| {
            Error::Credentials(format!(
                "{} is not a demo credentials file: {e}",
                path.display()
            ))
        })?;
        let dir = path.parent().unwrap_or_else(|| Path::new(""));
        Self::from_demo(&demo, dir)
    }

    /// Credentials from already-parsed demo credentials; `dir` is the folder that
    /// `private_key_file` is relative to.
    pub fn from_demo(demo: &DemoCredentials, dir: &Path) -> Result<Self, Error> {
        let key_path = dir.join(&demo.private_key_file);
        Ok(Self::from_rsa_pem_file(&key_path, &demo.iss, &demo.url)?.with_api_key(&demo.api_key))
    }

    /// Sets the API key sent as the `APIKEY` header on API-contract calls.
    pub fn with_api_key(mut self, api_key: impl Into<String>) -> Self {
        self.api_key = Some(api_key.into()).filter(|k| !k.is_empty());
        self
    }

    /// Sets the `aud` of the assertions, for an environment whose audience is not its URL
    /// (e.g. `https://identityhomolog.acesso.io`). A trailing slash is kept: the server compares
    /// the audience exactly.
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = audience.into();
        self
    }

    /// The account's `iss`.
    pub fn iss(&self) -> &str {
        &self.iss
    }

    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The `aud` of the assertions.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The API key, if any.
    pub fn api_key(&self) -> Option<&str> {
        self.api_key.as_deref()
    }

    /// Signs an assertion issued at `iat` (Unix seconds): header `{"alg":"RS256","typ":"JWT"}`,
    /// claims exactly `iss`, `aud`, `scope: "*"`, `iat`, `exp = iat + 3600`.
    ///
    /// RS256 is deterministic: two assertions with the same `iat` are byte-identical and the
    /// server rejects the second as a replay (`1.2.7`). The [`Client`](crate::Client) never
    /// signs two with the same `iat`; callers signing their own must do the same.
    pub fn sign_assertion(&self, iat: u64) -> Result<String, Error> {
        let claims = Claims {
            iss: &self.iss,
            aud: &self.audience,
            scope: "*",
            iat,
            exp: iat.saturating_add(ASSERTION_LIFETIME_SECS),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key)
            .map_err(|e| Error::Credentials(format!("signing the assertion failed: {e}")))
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("iss", &self.iss)
            .field("base_url", &self.base_url)
            .field("audience", &self.audience)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("key", &"<redacted>")
            .finish()
    }
}

fn normalize_base_url(raw: &str) -> Result<String, Error> {
    let trimmed = raw.trim().trim_end_matches('/');
    let url = reqwest::Url::parse(trimmed)
        .map_err(|e| Error::Credentials(format!("base URL {raw:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::Credentials(format!(
            "base URL {raw:?} must be http:// or https://"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::Credentials(format!(
            "base URL {raw:?} must not have a query or fragment"
        )));
    }
    Ok(trimmed.to_string())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
    use aws_lc_rs::rsa::{KeyPair, KeySize};
    use aws_lc_rs::signature::KeyPair as _;
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use std::sync::OnceLock;

    fn pem(label: &str, der: &[u8]) -> String {
        let b64 = STANDARD.encode(der);
        let mut out = format!("-----BEGIN {label}-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(chunk).unwrap());
            out.push('\n');
        }
        out.push_str(&format!("-----END {label}-----\n"));
        out
    }

    /// (private PEM, public PEM), generated once per test binary.
    pub(crate) fn keys() -> &'static (String, String) {
        static KEYS: OnceLock<(String, String)> = OnceLock::new();
        KEYS.get_or_init(|| {
            let pair = KeyPair::generate(KeySize::Rsa2048).unwrap();
            let private: Pkcs8V1Der<'_> = pair.as_der().unwrap();
            let public: PublicKeyX509Der<'_> = pair.public_key().as_der().unwrap();
            (
                pem("PRIVATE KEY", private.as_ref()),
                pem("PUBLIC KEY", public.as_ref()),
            )
        })
    }

    fn part(jwt: &str, i: usize) -> serde_json::Value {
        let seg = jwt.split('.').nth(i).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(seg).unwrap()).unwrap()
    }

    fn creds() -> Credentials {
        Credentials::from_rsa_pem(&keys().0, "demo@t1.iam.acesso.io", "http://127.0.0.1:8080/")
            .unwrap()
    }

    #[test]
    fn assertion_has_exactly_the_five_claims_and_rs256() {
        let jwt = creds().sign_assertion(1_767_225_600).unwrap();
        assert_eq!(jwt.split('.').count(), 3);
        assert_eq!(
            part(&jwt, 0),
            serde_json::json!({"alg": "RS256", "typ": "JWT"})
        );
        assert_eq!(
            part(&jwt, 1),
            serde_json::json!({
                "iss": "demo@t1.iam.acesso.io",
                "aud": "http://127.0.0.1:8080",
                "scope": "*",
                "iat": 1_767_225_600u64,
                "exp": 1_767_225_600u64 + 3600,
            })
        );
    }

    #[test]
    fn assertion_signature_verifies_under_the_public_key() {
        let jwt = creds().sign_assertion(1_767_225_600).unwrap();
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(keys().1.as_bytes()).unwrap();
        let mut v = jsonwebtoken::Validation::new(Algorithm::RS256);
        v.set_audience(&["http://127.0.0.1:8080"]);
        v.validate_exp = false;
        v.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<serde_json::Value>(&jwt, &key, &v).unwrap();
        assert_eq!(data.claims["iss"], "demo@t1.iam.acesso.io");
    }

    #[test]
    fn assertions_differ_only_when_iat_differs() {
        let c = creds();
        assert_eq!(
            c.sign_assertion(100).unwrap(),
            c.sign_assertion(100).unwrap()
        );
        assert_ne!(
            c.sign_assertion(100).unwrap(),
            c.sign_assertion(101).unwrap()
        );
    }

    #[test]
    fn audience_defaults_to_the_base_url_without_slash_and_can_be_set() {
        let c = creds();
        assert_eq!(c.base_url(), "http://127.0.0.1:8080");
        assert_eq!(c.audience(), "http://127.0.0.1:8080");
        let c = c.with_audience("https://identityhomolog.acesso.io");
        let jwt = c.sign_assertion(5).unwrap();
        assert_eq!(part(&jwt, 1)["aud"], "https://identityhomolog.acesso.io");
    }

    #[test]
    fn bad_inputs_are_credential_errors() {
        assert!(matches!(
            Credentials::from_rsa_pem("not a key", "a@b.iam.acesso.io", "http://x"),
            Err(Error::Credentials(_))
        ));
        assert!(matches!(
            Credentials::from_rsa_pem(&keys().0, "a@b.iam.acesso.io", "ftp://x"),
            Err(Error::Credentials(_))
        ));
        assert!(matches!(
            Credentials::from_rsa_pem(&keys().0, " ", "http://x"),
            Err(Error::Credentials(_))
        ));
    }

    #[test]
    fn debug_never_shows_secrets() {
        let c = creds().with_api_key("sk_secret_value");
        let shown = format!("{c:?}");
        assert!(!shown.contains("sk_secret_value"));
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn demo_file_is_read_relative_to_its_folder() {
        let dir = std::env::temp_dir().join(format!("selo-sdk-demo-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("private-key.pem"), &keys().0).unwrap();
        let demo = DemoCredentials {
            url: "http://127.0.0.1:9999".into(),
            tenant_id: "t1".into(),
            iss: "demo@t1.iam.acesso.io".into(),
            private_key_file: "private-key.pem".into(),
            api_key: "sk_demo".into(),
        };
        std::fs::write(
            dir.join("credentials.json"),
            serde_json::to_vec(&demo).unwrap(),
        )
        .unwrap();
        let c = Credentials::from_demo_file(dir.join("credentials.json")).unwrap();
        assert_eq!(c.iss(), "demo@t1.iam.acesso.io");
        assert_eq!(c.api_key(), Some("sk_demo"));
        assert_eq!(c.audience(), "http://127.0.0.1:9999");
        let missing = Credentials::from_demo_file(dir.join("nope.json")).unwrap_err();
        assert!(missing.to_string().contains("selo serve --demo"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
