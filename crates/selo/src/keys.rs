//! Service-account keys: RSA-2048 generation (`--key-out`) and public-key checks
//! (`--public-key`). Only public keys ever reach the store.

use anyhow::{Context, bail};
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::path::Path;

/// PEM-encodes DER bytes under `label`.
pub fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Generates an RSA-2048 key pair, writes the private key (PKCS#8 PEM, mode 0600) to
/// `key_out` and returns the public key PEM.
pub fn generate_to(key_out: &Path) -> anyhow::Result<String> {
    if key_out.exists() {
        bail!(
            "{} already exists; choose another --key-out path (Selo never overwrites a key)",
            key_out.display()
        );
    }
    let pair = KeyPair::generate(KeySize::Rsa2048)
        .map_err(|_| anyhow::anyhow!("generating an RSA key failed"))?;
    let private: Pkcs8V1Der<'_> = pair
        .as_der()
        .map_err(|_| anyhow::anyhow!("encoding the private key failed"))?;
    let public: PublicKeyX509Der<'_> = pair
        .public_key()
        .as_der()
        .map_err(|_| anyhow::anyhow!("encoding the public key failed"))?;
    if let Some(dir) = key_out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    selo_server::environment::write_private(
        key_out,
        pem("PRIVATE KEY", private.as_ref()).as_bytes(),
    )?;
    Ok(pem("PUBLIC KEY", public.as_ref()))
}

/// Reads and checks an RSA public key PEM (`PUBLIC KEY` or `RSA PUBLIC KEY`).
pub fn read_public(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the public key {}", path.display()))?;
    if text.contains("PRIVATE KEY") {
        bail!(
            "{} holds a private key; pass the public key (openssl rsa -in key.pem -pubout)",
            path.display()
        );
    }
    jsonwebtoken::DecodingKey::from_rsa_pem(text.as_bytes()).map_err(|e| {
        anyhow::anyhow!(
            "{} is not an RSA public key in PEM form ({e}); expected -----BEGIN PUBLIC KEY-----",
            path.display()
        )
    })?;
    Ok(text)
}
