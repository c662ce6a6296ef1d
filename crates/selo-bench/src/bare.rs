//! The bare routes: a minimal axum server doing only the essential work of each workload, run
//! by this binary in a separate process (the hidden `selo-bench bare-server --dir DIR …`) so
//! that its CPU time and peak RSS are read from `/proc/<pid>` exactly like the selo server's.
//! They are the denominators of the benchmark goals (perf-limits.md §6).
//!
//! - `POST /oauth2/token`: urlencoded form; `jsonwebtoken::decode` of the RS256 assertion
//!   (`aud`, `iss`, `exp` with the default leeway); replay check in an in-memory map; a random
//!   opaque access token.
//! - With `--contract-token` (a second bare server), `POST /oauth2/token` also does the two
//!   costly parts of CONTRACT §2's mandatory work (its other rows, such as the account lookup,
//!   lockout and rate limit, stay out): the replay record is committed to SQLite
//!   (one autocommit insert through the writer, keyed by expiry then hash) instead of kept in
//!   memory, and the access token is an Ed25519-signed JWT instead of random bytes. It shows
//!   how much of selo's token cost is the contract's and how much is selo's own.
//! - `POST /processes/v1`: `Json` of a typed body; base64 decode of the image; JPEG header
//!   parse and one full decode (zune-jpeg; the create goal's reference is the bare create plus
//!   one decode, measured here under the same load); SHA-256; one ~1.1 KB JSON row committed
//!   to SQLite (WAL, `synchronous=NORMAL`, one `Mutex<Connection>` writer, one transaction per
//!   insert). The image is not stored.
//! - `GET /processes/v1/{id}`: one point read on a thread-local read connection, inline on the
//!   async worker; the stored row is the body.
//!
//! No middleware, no logging, and authentication headers are ignored.

use crate::server::Process;
use anyhow::{Context, Result};
use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeyPair;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header::CONTENT_TYPE};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};

/// The only grant type the token route accepts.
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// The replay map is swept of expired entries once it holds at least this many.
const MIN_SWEEP: usize = 4_096;
/// Bytes of filler in each stored row, which brings it to about 1.1 KB.
const ROW_FILLER: usize = 820;

/// The options of the hidden `bare-server` subcommand, which the bench runs itself.
#[derive(Debug, clap::Args)]
pub struct BareArgs {
    /// The directory for the SQLite database.
    #[arg(long)]
    pub dir: PathBuf,
    /// The audience assertions must name.
    #[arg(long)]
    pub audience: String,
    /// The `iss` assertions must carry.
    #[arg(long)]
    pub issuer: String,
    /// The account's RSA public key, PEM.
    #[arg(long)]
    pub public_key: PathBuf,
    /// Record replays durably and sign Ed25519 access tokens (see the module docs).
    #[arg(long)]
    pub contract_token: bool,
}

/// A running bare server (this binary's hidden `bare-server` subcommand), killed when dropped.
pub struct BareServer {
    /// The server process (declared before `dir`, so it is killed before `dir` is removed).
    pub process: Process,
    /// Its base URL.
    pub url: String,
    /// The temporary directory holding its database and the account's public key, removed
    /// when dropped.
    _dir: tempfile::TempDir,
}

impl BareServer {
    /// Writes the public key of `account` to a temporary directory and starts the bare server
    /// there, accepting assertions signed by `account` from `issuer` for `audience`; with
    /// `contract_token`, its token route also does the costly parts of the contract's work.
    pub fn start(
        account: &KeyPair,
        issuer: &str,
        audience: &str,
        contract_token: bool,
    ) -> Result<BareServer> {
        let dir = tempfile::tempdir()?;
        let public_key = dir.path().join("account.pub.pem");
        std::fs::write(&public_key, public_pem(account)?)?;
        let mut command = Command::new(std::env::current_exe()?);
        command
            .args(["bare-server", "--dir"])
            .arg(dir.path())
            .args(["--audience", audience, "--issuer", issuer, "--public-key"])
            .arg(&public_key);
        if contract_token {
            command.arg("--contract-token");
        }
        let (process, line) = Process::spawn(&mut command)?;
        let url = line["publicUrl"].as_str().context("publicUrl")?.to_string();
        Ok(BareServer {
            process,
            url,
            _dir: dir,
        })
    }
}

/// The public key of an RSA key pair as SPKI PEM (`-----BEGIN PUBLIC KEY-----`).
fn public_pem(pair: &KeyPair) -> Result<String> {
    let der: PublicKeyX509Der<'_> = pair
        .public_key()
        .as_der()
        .map_err(|_| anyhow::anyhow!("encoding the public key failed"))?;
    let body = STANDARD.encode(der.as_ref());
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    Ok(format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        lines.join("\n")
    ))
}

/// Assertions already used, by SHA-256, each kept until its `exp` plus the leeway.
#[derive(Default)]
struct Replay {
    seen: HashMap<[u8; 32], u64>,
    sweep_at: usize,
}

impl Replay {
    /// Records the assertion `hash`, valid until `until`; false if it was already recorded.
    /// Entries past their `until` are swept whenever the map has doubled since the last sweep.
    fn first_use(&mut self, hash: [u8; 32], until: u64, now: u64) -> bool {
        if self.seen.len() >= self.sweep_at.max(MIN_SWEEP) {
            self.seen.retain(|_, u| *u >= now);
            self.sweep_at = 2 * self.seen.len();
        }
        self.seen.insert(hash, until).is_none()
    }
}

/// The server's state.
struct Bare {
    key: jsonwebtoken::DecodingKey,
    validation: jsonwebtoken::Validation,
    replay: Mutex<Replay>,
    /// With `--contract-token`: the key signing access tokens (replays are then recorded in
    /// SQLite).
    signer: Option<Ed25519KeyPair>,
    writer: Mutex<Connection>,
    db: PathBuf,
    filler: String,
}

thread_local! {
    /// Each async worker's read connection, opened on its first read.
    static READER: RefCell<Option<Connection>> = const { RefCell::new(None) };
}

/// Runs the bare server until killed: binds 127.0.0.1:0, prints
/// `{"publicUrl":"http://127.0.0.1:PORT"}` on stdout, then serves.
pub fn serve(args: BareArgs) -> Result<()> {
    let pem = std::fs::read(&args.public_key)
        .with_context(|| format!("reading {}", args.public_key.display()))?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[&args.audience]);
    validation.set_issuer(&[&args.issuer]);
    let db = args.dir.join("bare.db");
    let writer = Connection::open(&db)?;
    writer.pragma_update(None, "journal_mode", "WAL")?;
    writer.pragma_update(None, "synchronous", "NORMAL")?;
    writer.execute_batch(
        "CREATE TABLE IF NOT EXISTS processes (id TEXT PRIMARY KEY, data TEXT NOT NULL);
         CREATE TABLE IF NOT EXISTS used_assertions (
             expires_at INTEGER NOT NULL, hash BLOB NOT NULL, PRIMARY KEY (expires_at, hash)
         ) WITHOUT ROWID;",
    )?;
    let signer = match args.contract_token {
        false => None,
        true => {
            let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
                .map_err(|_| anyhow::anyhow!("generating an Ed25519 key failed"))?;
            Some(
                Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
                    .map_err(|_| anyhow::anyhow!("parsing the Ed25519 key failed"))?,
            )
        }
    };
    let state = Arc::new(Bare {
        key: jsonwebtoken::DecodingKey::from_rsa_pem(&pem)?,
        validation,
        replay: Mutex::default(),
        signer,
        writer: Mutex::new(writer),
        db,
        filler: "x".repeat(ROW_FILLER),
    });
    let app = Router::new()
        .route("/oauth2/token", post(token))
        .route("/processes/v1", post(create))
        .route("/processes/v1/{id}", get(read))
        .with_state(state);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let line =
                serde_json::json!({ "publicUrl": format!("http://{}", listener.local_addr()?) });
            let mut out = std::io::stdout().lock();
            writeln!(out, "{line}")?;
            out.flush()?;
            drop(out);
            axum::serve(listener, app).await?;
            Ok(())
        })
}

/// The token request's form.
#[derive(Deserialize)]
struct TokenForm {
    grant_type: String,
    assertion: String,
}

/// The assertion claims the route uses after validation.
#[derive(Deserialize)]
struct Claims {
    exp: u64,
}

/// The token response.
#[derive(Serialize)]
struct Token {
    access_token: String,
    token_type: &'static str,
    expires_in: u32,
}

/// `POST /oauth2/token`.
async fn token(
    State(s): State<Arc<Bare>>,
    Form(form): Form<TokenForm>,
) -> Result<Json<Token>, StatusCode> {
    if form.grant_type != JWT_BEARER {
        return Err(StatusCode::BAD_REQUEST);
    }
    let claims = jsonwebtoken::decode::<Claims>(&form.assertion, &s.key, &s.validation)
        .map_err(|_| StatusCode::UNAUTHORIZED)?
        .claims;
    let hash: [u8; 32] = digest(&SHA256, form.assertion.as_bytes())
        .as_ref()
        .try_into()
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    let now = jsonwebtoken::get_current_timestamp();
    let until = claims.exp.saturating_add(s.validation.leeway);
    let first = match &s.signer {
        None => s
            .replay
            .lock()
            .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?
            .first_use(hash, until, now),
        Some(_) => {
            s.writer
                .lock()
                .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?
                .prepare_cached(
                    "INSERT INTO used_assertions (expires_at, hash) VALUES (?1, ?2) \
                 ON CONFLICT DO NOTHING",
                )
                .and_then(|mut insert| insert.execute((until as i64, hash.as_slice())))
                .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?
                == 1
        }
    };
    if !first {
        return Err(StatusCode::UNAUTHORIZED);
    }
    let mut raw = [0u8; 32];
    aws_lc_rs::rand::fill(&mut raw).map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    let access_token = match &s.signer {
        None => hex(&raw),
        Some(key) => access_jwt(key, &s.validation, hex(&raw[..16]), now)
            .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?,
    };
    Ok(Json(Token {
        access_token,
        token_type: "Bearer",
        expires_in: 3600,
    }))
}

/// The claims of an access token, as many and as long as selo's.
#[derive(Serialize)]
struct AccessClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    tid: &'a str,
    acc: &'a str,
    env: &'a str,
    iat: u64,
    exp: u64,
    jti: String,
}

/// An Ed25519-signed JWT access token (`alg: EdDSA`) for the validated account.
fn access_jwt(
    key: &Ed25519KeyPair,
    validation: &jsonwebtoken::Validation,
    jti: String,
    now: u64,
) -> serde_json::Result<String> {
    let first = |set: &Option<std::collections::HashSet<String>>| {
        set.as_ref()
            .and_then(|s| s.iter().next().cloned())
            .unwrap_or_default()
    };
    let (iss, aud) = (first(&validation.iss), first(&validation.aud));
    let claims = serde_json::to_vec(&AccessClaims {
        iss: &aud,
        sub: &iss,
        tid: "bench",
        acc: "svc",
        env: "sandbox",
        iat: now,
        exp: now + 3600,
        jti,
    })?;
    let mut jwt = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"EdDSA","kid":"k1"}"#);
    jwt.push('.');
    URL_SAFE_NO_PAD.encode_string(claims, &mut jwt);
    let signature = key.sign(jwt.as_bytes());
    jwt.push('.');
    URL_SAFE_NO_PAD.encode_string(signature.as_ref(), &mut jwt);
    Ok(jwt)
}

/// The create request's body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateBody {
    subject: Subject,
    image_base64: String,
}

/// The person a process is about.
#[derive(Deserialize, Serialize)]
struct Subject {
    code: String,
    name: String,
}

/// The stored row.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Row<'a> {
    id: &'a str,
    status: u8,
    created_at: i64,
    subject: &'a Subject,
    image: ImageMeta,
    filler: &'a str,
}

/// What is kept of the image.
#[derive(Serialize)]
struct ImageMeta {
    sha256: String,
    width: u16,
    height: u16,
    bytes: usize,
}

/// The create response.
#[derive(Serialize)]
struct Created {
    id: String,
    status: u8,
}

/// `POST /processes/v1`.
async fn create(
    State(s): State<Arc<Bare>>,
    Json(body): Json<CreateBody>,
) -> Result<Json<Created>, StatusCode> {
    let image = STANDARD
        .decode(&body.image_base64)
        .map_err(|_| StatusCode::BAD_REQUEST)?;
    let (width, height) = jpeg_size(&image).ok_or(StatusCode::BAD_REQUEST)?;
    // The goal's reference is this route plus one full decode of the image: done here, so both
    // are measured under the same load.
    zune_jpeg::JpegDecoder::new(&image)
        .decode()
        .map_err(|_| StatusCode::BAD_REQUEST)?;
    let id = uuid::Uuid::new_v4().to_string();
    let row = serde_json::to_string(&Row {
        id: &id,
        status: 1,
        created_at: time::OffsetDateTime::now_utc().unix_timestamp(),
        subject: &body.subject,
        image: ImageMeta {
            sha256: hex(digest(&SHA256, &image).as_ref()),
            width,
            height,
            bytes: image.len(),
        },
        filler: &s.filler,
    })
    .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    s.writer
        .lock()
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?
        .prepare_cached("INSERT INTO processes (id, data) VALUES (?1, ?2)")
        .and_then(|mut insert| insert.execute((&id, &row)))
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    Ok(Json(Created { id, status: 1 }))
}

/// `GET /processes/v1/{id}`.
async fn read(
    State(s): State<Arc<Bare>>,
    UrlPath(id): UrlPath<String>,
) -> Result<([(axum::http::HeaderName, &'static str); 1], String), StatusCode> {
    let row = READER
        .with_borrow_mut(|slot| -> rusqlite::Result<Option<String>> {
            let conn = match slot {
                Some(conn) => conn,
                None => slot.insert(Connection::open_with_flags(
                    &s.db,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?),
            };
            conn.prepare_cached("SELECT data FROM processes WHERE id = ?1")?
                .query_row([&id], |r| r.get(0))
                .optional()
        })
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    let row = row.ok_or(StatusCode::NOT_FOUND)?;
    Ok(([(CONTENT_TYPE, "application/json")], row))
}

/// Width and height from a baseline (SOF0) or progressive (SOF2) JPEG's frame header, by
/// walking the marker segments after SOI; `None` if that is not a JPEG or the header is cut.
fn jpeg_size(b: &[u8]) -> Option<(u16, u16)> {
    if b.get(..2)? != [0xFF, 0xD8] {
        return None;
    }
    let be16 = |i: usize| Some(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]));
    let mut i = 2;
    loop {
        if *b.get(i)? != 0xFF {
            return None;
        }
        match *b.get(i + 1)? {
            0xFF => i += 1, // fill byte
            0xC0 | 0xC2 => return Some((be16(i + 7)?, be16(i + 5)?)),
            0xD9 | 0xDA => return None, // end of image or scan data before any frame header
            _ => i += 2 + usize::from(be16(i + 2)?),
        }
    }
}

/// Lower-case hexadecimal.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xF)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_frame_header_without_decoding() {
        // SOI, an APP0 segment of 4 bytes, a fill byte, SOF0 for 640×480.
        let jpeg = [
            0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0xAA, 0xBB, 0xFF, 0xFF, 0xC0, 0x00, 0x11, 0x08,
            0x01, 0xE0, 0x02, 0x80, 0x03,
        ];
        assert_eq!(jpeg_size(&jpeg), Some((640, 480)));
        assert_eq!(jpeg_size(&jpeg[..15]), None);
        assert_eq!(jpeg_size(b"\x89PNG\r\n\x1a\n"), None);
        assert_eq!(jpeg_size(&[0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02]), None);
    }

    #[test]
    fn contract_access_tokens_are_eddsa_jwts_that_verify() {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        let key = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.set_audience(&["https://aud"]);
        validation.set_issuer(&["svc@t.iam.acesso.io"]);
        let jwt = access_jwt(&key, &validation, "j1".into(), 1_000).unwrap();
        let mut check = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
        check.validate_exp = false;
        check.set_issuer(&["https://aud"]);
        check.set_required_spec_claims(&["iss"]);
        let decoding = jsonwebtoken::DecodingKey::from_ed_der(key.public_key().as_ref());
        let claims = jsonwebtoken::decode::<serde_json::Value>(&jwt, &decoding, &check)
            .unwrap()
            .claims;
        assert_eq!(claims["sub"], "svc@t.iam.acesso.io");
        assert_eq!(claims["exp"], 4_600);
        assert!(
            jsonwebtoken::decode::<serde_json::Value>(&format!("{jwt}x"), &decoding, &check)
                .is_err()
        );
    }

    #[test]
    fn replay_map_refuses_repeats_and_sweeps_expired_entries() {
        let mut r = Replay::default();
        assert!(r.first_use([1; 32], 100, 50));
        assert!(!r.first_use([1; 32], 100, 60));
        for k in 0..MIN_SWEEP as u32 - 1 {
            let mut h = [2; 32];
            h[..4].copy_from_slice(&k.to_be_bytes());
            assert!(r.first_use(h, 10, 5));
        }
        // The map is full: this insert sweeps every entry that expired before 20.
        assert!(r.first_use([3; 32], 100, 20));
        assert_eq!(r.seen.len(), 2);
        assert!(!r.first_use([1; 32], 100, 20));
    }

    #[test]
    fn the_derived_public_key_verifies_the_accounts_assertions() {
        use aws_lc_rs::encoding::Pkcs8V1Der;
        let pair = KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let der: Pkcs8V1Der<'_> = pair.as_der().unwrap();
        let private = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            STANDARD.encode(der.as_ref())
        );
        let claims = serde_json::json!({ "iss": "i", "aud": "a", "exp": u64::MAX / 2 });
        let jwt = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_rsa_pem(private.as_bytes()).unwrap(),
        )
        .unwrap();
        let tenant = crate::server::Tenant {
            id: "t".into(),
            iss: "i".into(),
            key_pem: private.clone().into_bytes(),
            api_key: String::new(),
        };
        let public = public_pem(&tenant.private_key().unwrap()).unwrap();
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(public.as_bytes()).unwrap();
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        v.set_audience(&["a"]);
        v.set_issuer(&["i"]);
        assert!(jsonwebtoken::decode::<Claims>(&jwt, &key, &v).is_ok());
        v.set_issuer(&["other"]);
        assert!(jsonwebtoken::decode::<Claims>(&jwt, &key, &v).is_err());
    }

    #[test]
    fn hex_is_lower_case() {
        assert_eq!(hex(&[0x00, 0x9F, 0xA0, 0xFF]), "009fa0ff");
    }
}
