//! The machine's ceilings for the same work the server does, measured in-process on one thread
//! with tight loops (before the server starts, so the machine is otherwise idle).

use anyhow::{Context, Result, ensure};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, Ed25519KeyPair, KeyPair as _, RsaKeyPair, UnparsedPublicKey};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long each loop runs after its warm-up.
const RUN: Duration = Duration::from_secs(2);
/// Warm-up before each timed loop.
const WARMUP: Duration = Duration::from_millis(200);

/// One measured ceiling.
#[derive(Debug, Clone)]
pub struct Ceiling {
    /// What was measured.
    pub name: &'static str,
    /// Operations per second on one core.
    pub per_sec: f64,
}

impl Ceiling {
    /// Microseconds per operation.
    pub fn us(&self) -> f64 {
        1e6 / self.per_sec
    }
}

/// Every ceiling, by name, in the order they are printed.
pub struct Ceilings {
    /// RS256 verify of an assertion-sized message (aws-lc-rs, key parsed each call).
    pub rs256_verify: Ceiling,
    /// Ed25519 sign (the server signs access tokens with Ed25519).
    pub ed25519_sign: Ceiling,
    /// Ed25519 verify (the server checks the bearer token on every API call).
    pub ed25519_verify: Ceiling,
    /// One 1 KB row per SQLite transaction, WAL, synchronous=NORMAL.
    pub sqlite_commit: Ceiling,
    /// Writing the selfie to a file the way the blob store does (write, fsync, rename, dir fsync).
    pub selfie_fsync: Ceiling,
    /// `selo_domain::image::check_image_base64` on the selfie: base64 + full JPEG decode.
    pub image_check: Ceiling,
}

impl Ceilings {
    /// All of them, for printing.
    pub fn all(&self) -> [&Ceiling; 6] {
        [
            &self.rs256_verify,
            &self.ed25519_sign,
            &self.ed25519_verify,
            &self.sqlite_commit,
            &self.selfie_fsync,
            &self.image_check,
        ]
    }
}

/// Runs `op` for [`WARMUP`], then counts calls for [`RUN`].
fn rate(name: &'static str, mut op: impl FnMut() -> Result<()>) -> Result<Ceiling> {
    let warm = Instant::now();
    while warm.elapsed() < WARMUP {
        op()?;
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < RUN {
        op()?;
        n += 1;
    }
    let c = Ceiling {
        name,
        per_sec: n as f64 / start.elapsed().as_secs_f64(),
    };
    eprintln!("  {name}: {:.0}/s ({:.1} µs)", c.per_sec, c.us());
    Ok(c)
}

/// Measures every ceiling. `selfie_b64` and `selfie` are the workloads' image; `scratch` is an
/// empty directory on the same file system as the server's data directory.
pub fn measure(selfie_b64: &str, selfie: &[u8], scratch: &Path) -> Result<Ceilings> {
    let rng = SystemRandom::new();

    // RS256: a pre-made signature over a ~750-byte message, key parsed on each call as a
    // server that looks keys up per request does.
    let rsa = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)?;
    let msg = vec![b'x'; 750];
    let mut sig = vec![0; rsa.public_modulus_len()];
    rsa.sign(&signature::RSA_PKCS1_SHA256, &rng, &msg, &mut sig)?;
    let rsa_pub = rsa.public_key().as_ref().to_vec();
    let rs256_verify = rate("RS256 verify (aws-lc-rs)", || {
        UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, &rsa_pub)
            .verify(&msg, &sig)
            .map_err(|_| anyhow::anyhow!("RS256 verify failed"))
    })?;

    // Ed25519 over an access-token-sized signing input.
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)?;
    let ed = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())?;
    let token_input = vec![b'y'; 330];
    let ed25519_sign = rate("Ed25519 sign (aws-lc-rs)", || {
        std::hint::black_box(ed.sign(&token_input));
        Ok(())
    })?;
    let ed_sig = ed.sign(&token_input);
    let ed_pub = ed.public_key().as_ref().to_vec();
    let ed25519_verify = rate("Ed25519 verify (aws-lc-rs)", || {
        UnparsedPublicKey::new(&signature::ED25519, &ed_pub)
            .verify(&token_input, ed_sig.as_ref())
            .map_err(|_| anyhow::anyhow!("Ed25519 verify failed"))
    })?;

    // SQLite: one 1 KB row per transaction, random UUID text primary key.
    let db = rusqlite::Connection::open(scratch.join("ceiling.db"))?;
    db.pragma_update(None, "journal_mode", "WAL")?;
    db.pragma_update(None, "synchronous", "NORMAL")?;
    db.execute_batch("CREATE TABLE t (id TEXT PRIMARY KEY, data TEXT NOT NULL)")?;
    let row = "r".repeat(1024);
    let sqlite_commit = rate("SQLite commit, 1 KB row (WAL, NORMAL)", || {
        db.prepare_cached("INSERT INTO t (id, data) VALUES (?1, ?2)")?
            .execute((uuid::Uuid::new_v4().to_string(), &row))?;
        Ok(())
    })?;

    // The blob store's durable write of the same selfie bytes.
    let blobs = scratch.join("blobs");
    std::fs::create_dir_all(&blobs)?;
    let mut i = 0u64;
    let selfie_fsync = rate("selfie file write + fsync + rename + dir fsync", || {
        i += 1;
        let path = blobs.join(format!("{i}.selfie"));
        let tmp = path.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(selfie)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        std::fs::File::open(&blobs)?.sync_all()?;
        Ok(())
    })?;

    // The create's validation: base64 decode and a full decode of the JPEG.
    let checked = selo_domain::image::check_image_base64(selfie_b64)
        .map_err(|e| anyhow::anyhow!("the selfie fails the server's own check: {e}"))?;
    ensure!(checked.width == 640 && checked.height == 480, "selfie size");
    let image_check = rate("image check: base64 + full JPEG decode", || {
        selo_domain::image::check_image_base64(std::hint::black_box(selfie_b64))
            .map(|_| ())
            .context("image check")
    })?;

    Ok(Ceilings {
        rs256_verify,
        ed25519_sign,
        ed25519_verify,
        sqlite_commit,
        selfie_fsync,
        image_check,
    })
}
