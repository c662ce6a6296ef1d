//! Verifying Selo's webhook deliveries (CONTRACT §16): Standard Webhooks signatures.
//!
//! Every delivery carries `webhook-id` (the same on every attempt of one event),
//! `webhook-timestamp` (Unix seconds) and `webhook-signature`: one or more space-separated
//! `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` entries, keyed with the endpoint's
//! `whsec_…` signing secret (two entries during a secret rotation's overlap).
//!
//! ```
//! use selo_sdk::{WebhookError, verify_webhook};
//! use selo_sdk::webhook::{DEFAULT_TOLERANCE, HeaderMap};
//! use std::time::SystemTime;
//!
//! fn receive(headers: &HeaderMap, body: &[u8]) -> Result<(), WebhookError> {
//!     verify_webhook(
//!         "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
//!         headers,
//!         body, // the raw bytes as received, before any JSON parsing
//!         SystemTime::now(),
//!         DEFAULT_TOLERANCE,
//!     )?;
//!     // Authentic: acknowledge with a 2xx, deduplicate on `processId`, process asynchronously.
//!     Ok(())
//! }
//! ```

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The header map [`verify_webhook`] reads: `http::HeaderMap` (as re-exported by `reqwest`), the
/// same type `axum` and `hyper` 1 hand you.
pub use reqwest::header::HeaderMap;

/// The Standard Webhooks default tolerance between `webhook-timestamp` and now (5 minutes).
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(5 * 60);

const HEADER_ID: &str = "webhook-id";
const HEADER_TIMESTAMP: &str = "webhook-timestamp";
const HEADER_SIGNATURE: &str = "webhook-signature";
const SECRET_PREFIX: &str = "whsec_";

/// Why a delivery failed verification. Answer any of them with a 4xx and do not process the
/// body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// A Standard Webhooks header (`webhook-id`, `webhook-timestamp` or `webhook-signature`)
    /// is absent.
    #[error("missing `{0}` header")]
    MissingHeader(&'static str),
    /// `webhook-timestamp` is not an integer number of Unix seconds.
    #[error("`webhook-timestamp` is not Unix seconds")]
    BadTimestamp,
    /// `webhook-timestamp` is further from now than the tolerance (in the past, or in the
    /// future): a possible replay.
    #[error("`webhook-timestamp` is outside the tolerance")]
    TooOld,
    /// The secret is not `whsec_<base64>` (the prefix may be omitted).
    #[error("the signing secret is not `whsec_<base64>`")]
    BadSecret,
    /// No `v1` entry of `webhook-signature` matches the secret and the body.
    #[error("no matching webhook signature")]
    NoMatchingSignature,
}

/// Verifies a Standard Webhooks delivery.
///
/// Checks the headers `webhook-id`, `webhook-timestamp` and `webhook-signature` against
/// `secret` (`whsec_<base64>`; the prefix may be omitted) and the raw `body`: the timestamp
/// must be within `tolerance` of `now` (either way), and at least one space-separated `v1,<base64>`
/// entry of the signature header must be the HMAC-SHA256 of `{id}.{timestamp}.{body}` (any one
/// matching passes, so both signatures of a rotation's overlap are accepted; entries of other
/// versions are ignored). Signatures are compared in constant time.
///
/// The secret is checked first, then the headers in the order above, then the timestamp,
/// then the signatures.
pub fn verify_webhook(
    secret: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
    tolerance: Duration,
) -> Result<(), WebhookError> {
    let key = parse_secret(secret).ok_or(WebhookError::BadSecret)?;
    let header = |name: &'static str| {
        headers
            .get(name)
            .map(|value| value.as_bytes())
            .ok_or(WebhookError::MissingHeader(name))
    };
    let id = header(HEADER_ID)?;
    let timestamp = header(HEADER_TIMESTAMP)?;
    let signatures = header(HEADER_SIGNATURE)?;

    let seconds: i64 = std::str::from_utf8(timestamp)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .ok_or(WebhookError::BadTimestamp)?;
    let now = match now.duration_since(UNIX_EPOCH) {
        Ok(after) => i128::from(after.as_secs()),
        Err(before) => -i128::from(before.duration().as_secs()),
    };
    if (now - i128::from(seconds)).unsigned_abs() > u128::from(tolerance.as_secs()) {
        return Err(WebhookError::TooOld);
    }

    let key = hmac::Key::new(hmac::HMAC_SHA256, &key);
    let mut content = Vec::with_capacity(id.len() + 22 + body.len());
    content.extend_from_slice(id);
    content.push(b'.');
    content.extend_from_slice(seconds.to_string().as_bytes());
    content.push(b'.');
    content.extend_from_slice(body);

    let matched = signatures
        .split(|&b| b == b' ')
        .filter_map(|entry| entry.strip_prefix(b"v1,"))
        .filter_map(|signature| STANDARD.decode(signature).ok())
        .any(|signature| hmac::verify(&key, &content, &signature).is_ok());
    if matched {
        Ok(())
    } else {
        Err(WebhookError::NoMatchingSignature)
    }
}

/// `whsec_<base64>` (or bare base64) to the raw key; `None` when invalid or empty.
fn parse_secret(secret: &str) -> Option<Vec<u8>> {
    let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    let key = STANDARD.decode(encoded).ok()?;
    (!key.is_empty()).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: i64 = 1614265330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;

    fn at(seconds: i64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds.try_into().unwrap())
    }

    fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &parse_secret(secret).unwrap());
        let content = [format!("{id}.{timestamp}.").as_bytes(), body].concat();
        format!("v1,{}", STANDARD.encode(hmac::sign(&key, &content)))
    }

    fn headers(id: &str, timestamp: &str, signature: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(HEADER_ID, HeaderValue::from_str(id).unwrap());
        headers.insert(HEADER_TIMESTAMP, HeaderValue::from_str(timestamp).unwrap());
        headers.insert(HEADER_SIGNATURE, HeaderValue::from_str(signature).unwrap());
        headers
    }

    fn verify(headers: &HeaderMap, body: &[u8], now: i64) -> Result<(), WebhookError> {
        verify_webhook(SECRET, headers, body, at(now), DEFAULT_TOLERANCE)
    }

    #[test]
    fn webhook_standard_webhooks_test_vector() {
        let expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        assert_eq!(sign(SECRET, ID, TIMESTAMP, BODY), expected);
        let h = headers(ID, &TIMESTAMP.to_string(), expected);
        assert_eq!(verify(&h, BODY, TIMESTAMP), Ok(()));
        // The prefix is optional on the secret.
        let bare = SECRET.strip_prefix("whsec_").unwrap();
        assert_eq!(
            verify_webhook(bare, &h, BODY, at(TIMESTAMP), DEFAULT_TOLERANCE),
            Ok(())
        );
    }

    #[test]
    fn webhook_signed_in_test_verifies_and_tampering_fails() {
        let id = "msg_2";
        let ts = 1_700_000_000;
        let body =
            br#"{"processId":"p1","state":"PROCESS_STATE_FINISHED","flow":"id","result":"ok"}"#;
        let h = headers(id, &ts.to_string(), &sign(SECRET, id, ts, body));
        assert_eq!(verify(&h, body, ts + 30), Ok(()));

        let mut tampered = body.to_vec();
        let last = tampered.len() - 3;
        tampered[last] = b'X';
        assert_eq!(
            verify(&h, &tampered, ts),
            Err(WebhookError::NoMatchingSignature)
        );
        // The id and timestamp are signed too.
        let other_id = headers("msg_3", &ts.to_string(), &sign(SECRET, id, ts, body));
        assert_eq!(
            verify(&other_id, body, ts),
            Err(WebhookError::NoMatchingSignature)
        );
        let other_ts = headers(id, &(ts + 1).to_string(), &sign(SECRET, id, ts, body));
        assert_eq!(
            verify(&other_ts, body, ts),
            Err(WebhookError::NoMatchingSignature)
        );
    }

    #[test]
    fn webhook_wrong_secret_fails() {
        let h = headers(
            ID,
            &TIMESTAMP.to_string(),
            &sign(SECRET, ID, TIMESTAMP, BODY),
        );
        let other = "whsec_c2VsbyB0ZXN0IHNlY3JldCBrZXkgMzI=";
        assert_eq!(
            verify_webhook(other, &h, BODY, at(TIMESTAMP), DEFAULT_TOLERANCE),
            Err(WebhookError::NoMatchingSignature)
        );
        for bad in ["whsec_", "", "whsec_not base64!"] {
            assert_eq!(
                verify_webhook(bad, &h, BODY, at(TIMESTAMP), DEFAULT_TOLERANCE),
                Err(WebhookError::BadSecret),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn webhook_timestamp_tolerance() {
        let h = headers(
            ID,
            &TIMESTAMP.to_string(),
            &sign(SECRET, ID, TIMESTAMP, BODY),
        );
        assert_eq!(verify(&h, BODY, TIMESTAMP + 300), Ok(()));
        assert_eq!(verify(&h, BODY, TIMESTAMP - 300), Ok(()));
        assert_eq!(verify(&h, BODY, TIMESTAMP + 301), Err(WebhookError::TooOld));
        assert_eq!(verify(&h, BODY, TIMESTAMP - 301), Err(WebhookError::TooOld));
        assert_eq!(
            verify_webhook(SECRET, &h, BODY, UNIX_EPOCH, DEFAULT_TOLERANCE),
            Err(WebhookError::TooOld)
        );
        for bad in ["", "soon", "1614265330.5", "99999999999999999999999"] {
            let h = headers(ID, bad, &sign(SECRET, ID, TIMESTAMP, BODY));
            assert_eq!(
                verify(&h, BODY, TIMESTAMP),
                Err(WebhookError::BadTimestamp),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn webhook_missing_headers_fail() {
        let full = headers(
            ID,
            &TIMESTAMP.to_string(),
            &sign(SECRET, ID, TIMESTAMP, BODY),
        );
        for name in [HEADER_ID, HEADER_TIMESTAMP, HEADER_SIGNATURE] {
            let mut h = full.clone();
            h.remove(name);
            assert_eq!(
                verify(&h, BODY, TIMESTAMP),
                Err(WebhookError::MissingHeader(name))
            );
        }
        // Header names are case-insensitive.
        let mut h = HeaderMap::new();
        for (name, value) in &full {
            h.insert(
                reqwest::header::HeaderName::from_bytes(name.as_str().to_uppercase().as_bytes())
                    .unwrap(),
                value.clone(),
            );
        }
        assert_eq!(verify(&h, BODY, TIMESTAMP), Ok(()));
    }

    #[test]
    fn webhook_rotation_any_signature_matches() {
        let old = "whsec_c2VsbyB0ZXN0IHNlY3JldCBrZXkgMzI=";
        let both = format!(
            "{} {}",
            sign(old, ID, TIMESTAMP, BODY),
            sign(SECRET, ID, TIMESTAMP, BODY)
        );
        let h = headers(ID, &TIMESTAMP.to_string(), &both);
        assert_eq!(verify(&h, BODY, TIMESTAMP), Ok(()));
        assert_eq!(
            verify_webhook(old, &h, BODY, at(TIMESTAMP), DEFAULT_TOLERANCE),
            Ok(())
        );
        // Other versions and garbage entries are skipped, not fatal.
        let mixed = format!(
            "v1a,AAAA v1,!!! v2,{} {}",
            STANDARD.encode([0u8; 32]),
            sign(SECRET, ID, TIMESTAMP, BODY)
        );
        let h = headers(ID, &TIMESTAMP.to_string(), &mixed);
        assert_eq!(verify(&h, BODY, TIMESTAMP), Ok(()));
        let none = headers(ID, &TIMESTAMP.to_string(), "v1a,AAAA v1,!!!");
        assert_eq!(
            verify(&none, BODY, TIMESTAMP),
            Err(WebhookError::NoMatchingSignature)
        );
    }
}
