//! A running environment: its URLs and the Ed25519 key that signs its access tokens.

use crate::config::{EnvironmentConfig, EnvironmentKind};
use anyhow::Context;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use selo_wire::token::Jwk;
use std::fs;
use std::io::Write;
use std::path::Path;

/// The access-token signing key of one environment.
pub struct SigningKey {
    /// Key id (in the token header and the JWKS).
    pub kid: String,
    /// Private key for signing, parsed once (parsing derives the public point, which costs as
    /// much as a signature).
    pair: Ed25519KeyPair,
    /// `base64url(header).`: the JWT header is the same for every token of this key.
    header_prefix: String,
    /// Public key for verifying.
    pub decoding: DecodingKey,
    /// The public JWK.
    pub jwk: Jwk,
}

impl SigningKey {
    /// Loads `DIR/keys/<env>.ed25519.p8`, generating it (mode 0600) on first start.
    pub fn load_or_create(data_dir: &Path, environment: &str) -> anyhow::Result<Self> {
        let dir = data_dir.join("keys");
        selo_store::private_fs::create_dir(&dir)
            .with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(format!("{environment}.ed25519.p8"));
        let pkcs8 = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let doc = Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new())
                    .map_err(|_| anyhow::anyhow!("could not generate an Ed25519 key"))?;
                write_private(&path, doc.as_ref())?;
                doc.as_ref().to_vec()
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let pair = Ed25519KeyPair::from_pkcs8(&pkcs8)
            .map_err(|e| anyhow::anyhow!("{} is not an Ed25519 PKCS#8 key: {e}", path.display()))?;
        let public = pair.public_key().as_ref().to_vec();
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &public);
        let kid = format!(
            "{environment}-{}",
            &URL_SAFE_NO_PAD.encode(digest.as_ref())[..12]
        );
        let header = format!(r#"{{"typ":"JWT","alg":"EdDSA","kid":"{kid}"}}"#);
        Ok(SigningKey {
            pair,
            header_prefix: format!("{}.", URL_SAFE_NO_PAD.encode(header)),
            decoding: DecodingKey::from_ed_der(&public),
            jwk: public_jwk(&kid, &public),
            kid,
        })
    }

    /// The raw 32-byte public key.
    pub fn public_key(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    /// A compact JWS (`alg: EdDSA`, this key's `kid`) over `claims`.
    pub fn sign_jwt<T: serde::Serialize>(&self, claims: &T) -> serde_json::Result<String> {
        let payload = serde_json::to_vec(claims)?;
        let mut jwt = self.header_prefix.clone();
        URL_SAFE_NO_PAD.encode_string(payload, &mut jwt);
        let signature = self.pair.sign(jwt.as_bytes());
        jwt.push('.');
        URL_SAFE_NO_PAD.encode_string(signature.as_ref(), &mut jwt);
        Ok(jwt)
    }
}

/// The public JWK of an Ed25519 key.
pub fn public_jwk(kid: &str, public_key: &[u8]) -> Jwk {
    Jwk {
        kty: "OKP".into(),
        crv: "Ed25519".into(),
        x: URL_SAFE_NO_PAD.encode(public_key),
        kid: kid.to_string(),
        alg: "EdDSA".into(),
        use_: "sig".into(),
    }
}

/// Writes a secret file readable by its owner only.
pub fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut f = selo_store::private_fs::new_file()
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

/// One environment as the running server sees it.
pub struct Environment {
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: EnvironmentKind,
    /// Base URL.
    pub public_url: String,
    /// Expected `aud`.
    pub audience: String,
    /// Access-token key.
    pub key: SigningKey,
}

impl Environment {
    /// Builds the environment once its listener is bound to `bound`.
    pub fn new(
        cfg: &EnvironmentConfig,
        bound: std::net::SocketAddr,
        data_dir: &Path,
    ) -> anyhow::Result<Self> {
        let public_url = cfg
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{bound}"))
            .trim_end_matches('/')
            .to_string();
        let audience = cfg.audience.clone().unwrap_or_else(|| public_url.clone());
        Ok(Environment {
            name: cfg.name.clone(),
            kind: cfg.kind,
            key: SigningKey::load_or_create(data_dir, &cfg.name)?,
            public_url,
            audience,
        })
    }

    /// Whether the sandbox scenarios and test extensions are on.
    pub fn is_sandbox(&self) -> bool {
        self.kind == EnvironmentKind::Sandbox
    }
}
