//! `selo serve --demo`: a ready sandbox on first start (tenant, account, private key, API key
//! and a sample selfie under `DATA/demo`), reused on later starts.

use crate::admin;
use crate::cli::KeySource;
use anyhow::Context;
use selo_domain::capability::Capabilities;
use selo_wire::admin::DemoCredentials;
use std::path::Path;

/// File name of the demo credentials inside `DATA/demo`.
pub const CREDENTIALS_FILE: &str = "credentials.json";
/// File name of the demo private key inside `DATA/demo`.
pub const PRIVATE_KEY_FILE: &str = "private-key.pem";
/// File name of the sample selfie inside `DATA/demo`.
pub const SELFIE_FILE: &str = "selfie.jpg";

/// Provisions the demo tenant on first start, or updates the URL of an existing one. Returns
/// the credentials.
pub fn ensure(
    data: &Path,
    database: &selo_store::Database,
    sandbox_url: &str,
) -> anyhow::Result<DemoCredentials> {
    let dir = data.join("demo");
    let path = dir.join(CREDENTIALS_FILE);
    let mut creds = match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice::<DemoCredentials>(&bytes).with_context(|| {
            format!(
                "{} is not a demo credentials file; delete it to start over",
                path.display()
            )
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            provision(data, database, &dir, sandbox_url)?
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    creds.url = sandbox_url.to_string();
    let selfie = dir.join(SELFIE_FILE);
    if !selfie.exists() {
        std::fs::write(&selfie, sample_selfie())
            .with_context(|| format!("writing {}", selfie.display()))?;
    }
    // The file holds the API key: readable by its owner only.
    let tmp = dir.join(format!("{CREDENTIALS_FILE}.tmp"));
    let _ = std::fs::remove_file(&tmp);
    selo_server::environment::write_private(&tmp, &serde_json::to_vec_pretty(&creds)?)?;
    std::fs::rename(&tmp, &path)?;
    Ok(creds)
}

fn provision(
    data: &Path,
    database: &selo_store::Database,
    dir: &Path,
    url: &str,
) -> anyhow::Result<DemoCredentials> {
    selo_store::private_fs::create_dir(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    let opened = admin::open_store(data, database)?;
    let store = &*opened;
    let tenant = admin::create_tenant(store, "Demo", "sandbox", None, None)?;
    let key_path = dir.join(PRIVATE_KEY_FILE);
    if key_path.exists() {
        std::fs::remove_file(&key_path)?;
    }
    let account = admin::create_account(
        store,
        &tenant.tenant_id,
        "demo",
        &KeySource {
            key_out: Some(key_path),
            public_key: None,
        },
        &[],
    )?;
    let key = admin::create_api_key(store, &tenant.tenant_id, &Capabilities::all())?;
    Ok(DemoCredentials {
        url: url.to_string(),
        tenant_id: tenant.tenant_id,
        iss: account.iss,
        private_key_file: PRIVATE_KEY_FILE.to_string(),
        api_key: key.api_key,
    })
}

/// A 640×480 JPEG (a soft gradient with a face-like oval) that passes the image checks.
pub fn sample_selfie() -> Vec<u8> {
    let (w, h) = (640u16, 480u16);
    let mut pixels = Vec::with_capacity(usize::from(w) * usize::from(h) * 3);
    for y in 0..h {
        for x in 0..w {
            let (fx, fy) = (f32::from(x) - 320.0, f32::from(y) - 240.0);
            let face = (fx / 130.0).powi(2) + (fy / 170.0).powi(2) < 1.0;
            let (r, g, b) = if face {
                (224, 182, 150)
            } else {
                (60 + (x / 8) as u8, 90 + (y / 8) as u8, 150)
            };
            pixels.extend_from_slice(&[r, g, b]);
        }
    }
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 85)
        .encode(&pixels, w, h, jpeg_encoder::ColorType::Rgb)
        .map(|()| out)
        .unwrap_or_default()
}
