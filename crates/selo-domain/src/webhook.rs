//! Webhooks (CONTRACT §16, reference §9): receiver authentication, the event payload, the
//! Standard Webhooks signed content and secrets, and the retry schedule.
//!
//! No cryptography lives here (this crate has no crypto dependency and performs no IO): the
//! caller computes HMAC-SHA256 and passes it in as a function, see [`signature_header`].

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The only `state` a webhook reports (events fire at the terminal state only).
pub const STATE_FINISHED: &str = "PROCESS_STATE_FINISHED";
/// `result` of a process that expired before completion (adds `lastEvent*` to the payload).
pub const RESULT_EXPIRED: &str = "expired";
/// `lastEvent` of an expired process.
pub const LAST_EVENT_SESSION_ENDED: &str = "EVENT_TYPE_SESSION_ENDED";
/// `lastEventDescription` of an expired process.
pub const LAST_EVENT_SESSION_ENDED_DESCRIPTION: &str =
    "Session ended by timeout or by new session created";

/// Prefix of a Standard Webhooks signing secret (`whsec_<base64>`).
pub const SECRET_PREFIX: &str = "whsec_";
/// Version tag of an HMAC-SHA256 entry of `webhook-signature` (`v1,<base64>`).
pub const SIGNATURE_VERSION: &str = "v1";

/// Default number of delivery attempts (CONTRACT §16).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 8;
/// Default retry interval in seconds: the delay before the second attempt.
pub const DEFAULT_RETRY_INTERVAL_SECONDS: i64 = 10;
/// Default per-attempt timeout in seconds.
pub const DEFAULT_TIMEOUT_SECONDS: i64 = 10;
/// Default number of deliveries in flight per endpoint.
pub const DEFAULT_CONCURRENCY: u32 = 10;
/// Largest concurrency limit (reference §9).
pub const MAX_CONCURRENCY: u32 = 500;
/// Longest delay between two attempts, in seconds (1 h).
pub const MAX_RETRY_DELAY_SECONDS: i64 = 3600;

/// The `--auth` grammar, quoted in parse errors (CONTRACT §15).
pub const AUTH_GRAMMAR: &str =
    "none | basic:USER:PASS | apikey:VALUE | oauth2:TOKEN_URL,CLIENT_ID,CLIENT_SECRET";

/// How deliveries authenticate to the receiver (reference §9; CONTRACT §15 `AUTH`).
///
/// Parsed from the `AUTH` spelling with [`str::parse`]; [`ReceiverAuth::headers`] gives the
/// headers each delivery carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReceiverAuth {
    /// No credentials (development only).
    None,
    /// `Authorization: Basic base64(user:password)` on every call.
    Basic {
        /// User name (contains no colon).
        user: String,
        /// Password (may contain colons).
        password: String,
    },
    /// The platform's API-key string, split on its first colon into header name and value
    /// (no colon: the whole string is the `Authorization` value).
    ApiKey {
        /// The configured string as given, e.g. `X-API-Key:abc123`.
        value: String,
    },
    /// OAuth2 client credentials: a token from `token_url` is sent as
    /// `Authorization: Bearer <token>`.
    OAuth2 {
        /// The provider's token endpoint.
        token_url: String,
        /// Client id.
        client_id: String,
        /// Client secret.
        client_secret: String,
    },
}

/// An `AUTH` string that does not follow [`AUTH_GRAMMAR`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid webhook auth ({reason}); expected {AUTH_GRAMMAR}")]
pub struct ReceiverAuthError {
    /// What is wrong with it.
    pub reason: String,
}

fn auth_error(reason: impl Into<String>) -> ReceiverAuthError {
    ReceiverAuthError {
        reason: reason.into(),
    }
}

/// RFC 9110 `tchar`: the characters of a header name.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Visible ASCII and spaces/tabs only: nothing that could split or corrupt a header.
fn is_header_value(s: &str) -> bool {
    s.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
}

/// Splits an API-key string into (header name, header value) per reference §9.
fn split_api_key(value: &str) -> (&str, &str) {
    match value.split_once(':') {
        Some((name, rest)) => (name, rest.trim_start_matches(' ')),
        None => ("Authorization", value),
    }
}

impl std::str::FromStr for ReceiverAuth {
    type Err = ReceiverAuthError;

    /// Parses `none`, `basic:USER:PASS` (split on the first colon after `basic:`, so the
    /// password may contain colons), `apikey:VALUE` or `oauth2:TOKEN_URL,CLIENT_ID,CLIENT_SECRET`
    /// (split on the first two commas, so the secret may contain commas). Mode names are
    /// case-insensitive.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (mode, rest) = match s.split_once(':') {
            Some((mode, rest)) => (mode, Some(rest)),
            None => (s, None),
        };
        match (mode.to_ascii_lowercase().as_str(), rest) {
            ("none", None) => Ok(Self::None),
            ("none", Some(_)) => Err(auth_error("`none` takes no value")),
            ("basic", Some(rest)) => {
                let (user, password) = rest
                    .split_once(':')
                    .ok_or_else(|| auth_error("basic needs USER:PASS"))?;
                if user.is_empty() {
                    return Err(auth_error("basic needs a non-empty USER"));
                }
                if user.chars().chain(password.chars()).any(char::is_control) {
                    return Err(auth_error(
                        "basic USER and PASS must not contain control characters",
                    ));
                }
                Ok(Self::Basic {
                    user: user.to_owned(),
                    password: password.to_owned(),
                })
            }
            ("apikey", Some(value)) => {
                if !is_header_value(value) {
                    return Err(auth_error("apikey VALUE must be printable ASCII"));
                }
                let (name, header_value) = split_api_key(value);
                if !is_token(name) {
                    return Err(auth_error(format!(
                        "apikey header name {name:?} is not a valid header name"
                    )));
                }
                if header_value.is_empty() {
                    return Err(auth_error("apikey needs a non-empty VALUE"));
                }
                Ok(Self::ApiKey {
                    value: value.to_owned(),
                })
            }
            ("oauth2", Some(rest)) => {
                let mut parts = rest.splitn(3, ',');
                let (Some(token_url), Some(client_id), Some(client_secret)) =
                    (parts.next(), parts.next(), parts.next())
                else {
                    return Err(auth_error("oauth2 needs TOKEN_URL,CLIENT_ID,CLIENT_SECRET"));
                };
                if token_url.is_empty() || client_id.is_empty() || client_secret.is_empty() {
                    return Err(auth_error(
                        "oauth2 TOKEN_URL, CLIENT_ID and CLIENT_SECRET must be non-empty",
                    ));
                }
                if !(token_url.starts_with("https://") || token_url.starts_with("http://")) {
                    return Err(auth_error("oauth2 TOKEN_URL must be an http(s) URL"));
                }
                Ok(Self::OAuth2 {
                    token_url: token_url.to_owned(),
                    client_id: client_id.to_owned(),
                    client_secret: client_secret.to_owned(),
                })
            }
            ("basic" | "apikey" | "oauth2", None) => Err(auth_error(format!(
                "`{mode}` needs a value after the colon"
            ))),
            _ => Err(auth_error(format!("unknown mode {mode:?}"))),
        }
    }
}

impl ReceiverAuth {
    /// The headers to send, given an OAuth2 access token when the mode is OAuth2.
    ///
    /// - `None` → no header.
    /// - `Basic` → `Authorization: Basic base64(user:password)` (`u:p` → `Basic dTpw`).
    /// - `ApiKey` → the value split on its first colon: `X-API-Key:abc123` →
    ///   `X-API-Key: abc123` (leading spaces of the value trimmed);
    ///   `Authorization:Bearer abc123` → `Authorization: Bearer abc123`; no colon
    ///   (`abc123`) → `Authorization: abc123`.
    /// - `OAuth2` → `Authorization: Bearer <token>`; no header when `oauth_token` is `None`.
    pub fn headers(&self, oauth_token: Option<&str>) -> Vec<(String, String)> {
        match self {
            Self::None => Vec::new(),
            Self::Basic { user, password } => vec![(
                "Authorization".to_owned(),
                format!("Basic {}", STANDARD.encode(format!("{user}:{password}"))),
            )],
            Self::ApiKey { value } => {
                let (name, value) = split_api_key(value);
                vec![(name.to_owned(), value.to_owned())]
            }
            Self::OAuth2 { .. } => oauth_token
                .map(|token| ("Authorization".to_owned(), format!("Bearer {token}")))
                .into_iter()
                .collect(),
        }
    }

    /// A redacted description for `webhook show`: the mode and its non-secret parts (user
    /// name, API-key header name, token URL and client id), never a password, key or secret.
    pub fn describe(&self) -> String {
        match self {
            Self::None => "none".to_owned(),
            Self::Basic { user, .. } => format!("basic (user {user}, password redacted)"),
            Self::ApiKey { value } => {
                let (name, _) = split_api_key(value);
                format!("apikey (header {name}, value redacted)")
            }
            Self::OAuth2 {
                token_url,
                client_id,
                ..
            } => format!(
                "oauth2 (token URL {token_url}, client id {client_id}, client secret redacted)"
            ),
        }
    }
}

/// The event payload (reference §9 / CONTRACT §16): `{processId, state, flow, result}`, plus
/// `lastEvent` and `lastEventDescription` when `result` is `expired`. `state` is always
/// `PROCESS_STATE_FINISHED`.
pub fn event_payload(process_id: &str, flow: &str, result: &str) -> Value {
    let mut payload = json!({
        "processId": process_id,
        "state": STATE_FINISHED,
        "flow": flow,
        "result": result,
    });
    if result == RESULT_EXPIRED {
        payload["lastEvent"] = json!(LAST_EVENT_SESSION_ENDED);
        payload["lastEventDescription"] = json!(LAST_EVENT_SESSION_ENDED_DESCRIPTION);
    }
    payload
}

/// The Standard Webhooks signed content: `{id}.{timestamp}.{body}`.
pub fn signed_content(id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    let prefix = format!("{id}.{timestamp}.");
    let mut content = Vec::with_capacity(prefix.len() + body.len());
    content.extend_from_slice(prefix.as_bytes());
    content.extend_from_slice(body);
    content
}

/// The `webhook-signature` header value: one `v1,<base64 HMAC-SHA256>` entry per secret,
/// space-separated (two during a rotation's overlap). `hmac(key, message)` computes
/// HMAC-SHA256; each secret is the raw key (see [`parse_secret`]).
pub fn signature_header(
    hmac: impl Fn(&[u8], &[u8]) -> [u8; 32],
    secrets: &[&[u8]],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    let content = signed_content(id, timestamp, body);
    secrets
        .iter()
        .map(|key| {
            format!(
                "{SIGNATURE_VERSION},{}",
                STANDARD.encode(hmac(key, &content))
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Parses a `whsec_<base64>` secret to its raw bytes; `None` without the prefix, for invalid
/// base64 (standard alphabet, padded) or an empty key.
pub fn parse_secret(s: &str) -> Option<Vec<u8>> {
    let raw = STANDARD.decode(s.strip_prefix(SECRET_PREFIX)?).ok()?;
    (!raw.is_empty()).then_some(raw)
}

/// Formats raw secret bytes as `whsec_<base64>`.
pub fn format_secret(raw: &[u8]) -> String {
    format!("{SECRET_PREFIX}{}", STANDARD.encode(raw))
}

/// Retry schedule: the delay in seconds before attempt n+1 after `attempts_made` = n ≥ 1
/// attempts is `interval × 2^(n−1)`, capped at 3600 s (a negative interval counts as 0; n = 0
/// counts as 1).
pub fn retry_delay(interval_seconds: i64, attempts_made: u32) -> i64 {
    let factor = 2i64.saturating_pow(attempts_made.saturating_sub(1));
    interval_seconds
        .max(0)
        .saturating_mul(factor)
        .min(MAX_RETRY_DELAY_SECONDS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> ReceiverAuth {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn header(s: &str) -> Vec<(String, String)> {
        parse(s).headers(None)
    }

    fn pair(name: &str, value: &str) -> Vec<(String, String)> {
        vec![(name.to_owned(), value.to_owned())]
    }

    #[test]
    fn webhook_auth_none() {
        assert_eq!(parse("none"), ReceiverAuth::None);
        assert_eq!(parse("NONE"), ReceiverAuth::None);
        assert!(header("none").is_empty());
        assert_eq!(ReceiverAuth::None.describe(), "none");
    }

    #[test]
    fn webhook_auth_basic() {
        assert_eq!(header("basic:u:p"), pair("Authorization", "Basic dTpw"));
        // The password may contain colons: split on the first colon after `basic:`.
        assert_eq!(
            parse("basic:alice:pa:ss:"),
            ReceiverAuth::Basic {
                user: "alice".into(),
                password: "pa:ss:".into()
            }
        );
        assert_eq!(
            header("basic:alice:pa:ss:"),
            pair(
                "Authorization",
                &format!("Basic {}", STANDARD.encode("alice:pa:ss:"))
            )
        );
        let described = parse("basic:alice:s3cret").describe();
        assert!(described.contains("alice"), "{described}");
        assert!(!described.contains("s3cret"), "{described}");
    }

    #[test]
    fn webhook_auth_api_key_reference_examples() {
        assert_eq!(
            header("apikey:X-API-Key:abc123"),
            pair("X-API-Key", "abc123")
        );
        assert_eq!(
            header("apikey:X-API-Key: abc123"),
            pair("X-API-Key", "abc123")
        );
        assert_eq!(
            header("apikey:Authorization:Bearer abc123"),
            pair("Authorization", "Bearer abc123")
        );
        assert_eq!(header("apikey:abc123"), pair("Authorization", "abc123"));
        // Only the first colon splits.
        assert_eq!(header("apikey:X-Key:a:b"), pair("X-Key", "a:b"));
        let described = parse("apikey:X-API-Key:abc123").describe();
        assert!(described.contains("X-API-Key"), "{described}");
        assert!(!described.contains("abc123"), "{described}");
        assert!(!parse("apikey:abc123").describe().contains("abc123"));
    }

    #[test]
    fn webhook_auth_oauth2() {
        let auth = parse("oauth2:https://idp.example.com/token,client-1,sec,ret");
        assert_eq!(
            auth,
            ReceiverAuth::OAuth2 {
                token_url: "https://idp.example.com/token".into(),
                client_id: "client-1".into(),
                client_secret: "sec,ret".into()
            }
        );
        assert_eq!(
            auth.headers(Some("tok")),
            pair("Authorization", "Bearer tok")
        );
        assert!(auth.headers(None).is_empty());
        let described = auth.describe();
        assert!(
            described.contains("https://idp.example.com/token"),
            "{described}"
        );
        assert!(described.contains("client-1"), "{described}");
        assert!(!described.contains("sec,ret"), "{described}");
    }

    #[test]
    fn webhook_auth_parse_errors_name_the_grammar() {
        for bad in [
            "",
            "bearer:x",
            "none:x",
            "basic",
            "basic:",
            "basic:nopassword",
            "basic::p",
            "apikey",
            "apikey:",
            "apikey:X-API-Key:",
            "apikey:X-API-Key:   ",
            "apikey::abc",
            "apikey:Bad Name:abc",
            "apikey:X-Key:a\r\nInjected: 1",
            "oauth2",
            "oauth2:https://idp/token",
            "oauth2:https://idp/token,client",
            "oauth2:https://idp/token,,secret",
            "oauth2:ftp://idp/token,client,secret",
        ] {
            let err = bad
                .parse::<ReceiverAuth>()
                .expect_err(&format!("{bad:?} should not parse"));
            assert!(err.to_string().contains(AUTH_GRAMMAR), "{bad:?}: {err}");
        }
    }

    #[test]
    fn webhook_auth_serde_round_trip() {
        for s in [
            "none",
            "basic:u:p",
            "apikey:X-API-Key:abc123",
            "oauth2:https://idp.example.com/token,id,secret",
        ] {
            let auth = parse(s);
            let json = serde_json::to_string(&auth).unwrap();
            assert_eq!(serde_json::from_str::<ReceiverAuth>(&json).unwrap(), auth);
        }
    }

    #[test]
    fn webhook_payload() {
        assert_eq!(
            event_payload("8263a268-5388-492a-bca2-28e1ff4a69f0", "id", "ok"),
            json!({
                "processId": "8263a268-5388-492a-bca2-28e1ff4a69f0",
                "state": "PROCESS_STATE_FINISHED",
                "flow": "id",
                "result": "ok"
            })
        );
        assert_eq!(
            event_payload("p1", "api", "invalid_identity"),
            json!({
                "processId": "p1",
                "state": "PROCESS_STATE_FINISHED",
                "flow": "api",
                "result": "invalid_identity"
            })
        );
        assert_eq!(
            event_payload("p2", "idtoken", "expired"),
            json!({
                "processId": "p2",
                "state": "PROCESS_STATE_FINISHED",
                "flow": "idtoken",
                "result": "expired",
                "lastEvent": "EVENT_TYPE_SESSION_ENDED",
                "lastEventDescription": "Session ended by timeout or by new session created"
            })
        );
    }

    #[test]
    fn webhook_signed_content_and_header() {
        assert_eq!(
            signed_content("msg_1", 1614265330, br#"{"a":1}"#),
            br#"msg_1.1614265330.{"a":1}"#.to_vec()
        );
        // A fake "HMAC" that records its inputs: one entry per secret, space-separated.
        let fake = |key: &[u8], msg: &[u8]| {
            assert_eq!(msg, b"id.7.body");
            [key[0]; 32]
        };
        let header = signature_header(fake, &[b"\x01", b"\x02"], "id", 7, b"body");
        assert_eq!(
            header,
            format!(
                "v1,{} v1,{}",
                STANDARD.encode([1u8; 32]),
                STANDARD.encode([2u8; 32])
            )
        );
        assert_eq!(signature_header(fake, &[], "id", 7, b"body"), "");
    }

    #[test]
    fn webhook_secret_round_trip() {
        let raw: Vec<u8> = (0u8..32).collect();
        let formatted = format_secret(&raw);
        assert!(formatted.starts_with("whsec_"), "{formatted}");
        assert_eq!(parse_secret(&formatted), Some(raw));
        assert_eq!(
            parse_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").map(|k| k.len()),
            Some(24)
        );
        assert_eq!(parse_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), None);
        assert_eq!(parse_secret("whsec_not base64!"), None);
        assert_eq!(parse_secret("whsec_"), None);
    }

    #[test]
    fn webhook_retry_schedule_doubles_and_caps() {
        let schedule: Vec<i64> = (1..=8).map(|n| retry_delay(10, n)).collect();
        assert_eq!(schedule, [10, 20, 40, 80, 160, 320, 640, 1280]);
        assert_eq!(retry_delay(10, 9), 2560);
        assert_eq!(retry_delay(10, 10), 3600);
        assert_eq!(retry_delay(10, 11), 3600);
        assert_eq!(retry_delay(10, u32::MAX), 3600);
        assert_eq!(retry_delay(i64::MAX, 40), 3600);
        assert_eq!(retry_delay(7200, 1), 3600);
        assert_eq!(retry_delay(10, 0), 10);
        assert_eq!(retry_delay(0, 5), 0);
        assert_eq!(retry_delay(-5, 3), 0);
    }
}
