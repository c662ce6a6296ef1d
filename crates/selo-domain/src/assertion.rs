//! The JWT-bearer assertion a service account signs (CONTRACT §2): parsing and the checks that
//! need no storage. The token service runs them in the order of the contract's table.

use crate::problem::{AuthCode, Problem};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

/// The only claims an assertion may carry.
pub const ALLOWED_CLAIMS: [&str; 5] = ["iss", "aud", "scope", "iat", "exp"];
/// Clock leeway for `exp` and `iat`, seconds.
pub const LEEWAY_SECONDS: i64 = 60;
/// Longest allowed `exp − iat`, seconds.
pub const MAX_LIFETIME_SECONDS: i64 = 3600;
/// Domain suffix of an `iss`.
pub const ISS_SUFFIX: &str = ".iam.acesso.io";

/// Who signed an assertion: `<account>@<tenant_id>.iam.acesso.io`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuer {
    /// Service account name.
    pub account: String,
    /// Tenant id.
    pub tenant_id: String,
}

impl Issuer {
    /// Parses the `iss` form; `None` when it is not `<account>@<tenant>.iam.acesso.io`.
    pub fn parse(iss: &str) -> Option<Issuer> {
        let (account, rest) = iss.split_once('@')?;
        let tenant_id = rest.strip_suffix(ISS_SUFFIX)?;
        let ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 128
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        (ok(account) && ok(tenant_id)).then(|| Issuer {
            account: account.to_string(),
            tenant_id: tenant_id.to_string(),
        })
    }

    /// The `iss` string.
    pub fn iss(&self) -> String {
        format!("{}@{}{}", self.account, self.tenant_id, ISS_SUFFIX)
    }
}

/// A structurally valid assertion whose signature has not been checked yet.
#[derive(Debug, Clone)]
pub struct Assertion {
    /// The signer.
    pub issuer: Issuer,
    /// `aud` claim.
    pub aud: String,
    /// `iat` claim (Unix seconds).
    pub iat: i64,
    /// `exp` claim (Unix seconds).
    pub exp: i64,
    /// `base64url(header).base64url(payload)`, the signed bytes.
    pub signing_input: String,
    /// The RS256 signature, base64url as sent (checked to decode).
    pub signature: String,
}

fn undecodable(reason: impl Into<String>) -> Problem {
    Problem::token(AuthCode::Undecodable, reason)
}

fn decode_json_object(part: &str, what: &str) -> Result<Map<String, Value>, Problem> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| {
        undecodable(format!(
            "the assertion's {what} is not base64url without padding"
        ))
    })?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(undecodable(format!(
            "the assertion's {what} is not a JSON object"
        ))),
    }
}

fn numeric_claim(claims: &Map<String, Value>, name: &str) -> Result<i64, Problem> {
    match claims.get(name) {
        None => Err(undecodable(format!(
            "the claim '{name}' is missing; set it to a Unix time in seconds"
        ))),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f.floor() as i64))
            .ok_or_else(|| undecodable(format!("the claim '{name}' is not a Unix time"))),
        Some(_) => Err(undecodable(format!(
            "the claim '{name}' must be a number (Unix time in seconds)"
        ))),
    }
}

fn string_claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Result<&'a str, Problem> {
    match claims.get(name) {
        None => Err(undecodable(format!("the claim '{name}' is missing"))),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(undecodable(format!("the claim '{name}' must be a string"))),
    }
}

/// Parses a compact JWS and runs the structural checks of CONTRACT §2 in table order:
/// decodable (1.2.20), `alg` RS256 (1.2.5), no extra claim (1.2.22), `scope` present (1.1.1),
/// `iss aud iat exp` present and typed (1.2.20), `iss` form (1.0.1).
pub fn parse_assertion(raw: &str) -> Result<Assertion, Problem> {
    let parts: Vec<&str> = raw.trim().split('.').collect();
    if parts.len() != 3 {
        return Err(undecodable(
            "the assertion is not a compact JWS (header.payload.signature)",
        ));
    }
    let header = decode_json_object(parts[0], "header")?;
    let claims = decode_json_object(parts[1], "payload")?;
    // Compact JWS segments are unpadded base64url (RFC 7515 §2): one encoding per byte string,
    // so the assertion's text is canonical and its hash identifies it for replay detection.
    let signature = parts[2].to_string();
    if URL_SAFE_NO_PAD.decode(&signature).is_err() {
        return Err(undecodable(
            "the assertion's signature is not base64url without padding",
        ));
    }

    match header.get("alg").and_then(Value::as_str) {
        Some("RS256") => {}
        other => {
            return Err(Problem::token(
                AuthCode::CannotValidate,
                format!(
                    "the assertion's header alg is {}; sign it with RS256",
                    other.map_or("missing".to_string(), |a| format!("'{a}'"))
                ),
            ));
        }
    }
    let mut extra: Vec<&str> = claims
        .keys()
        .map(String::as_str)
        .filter(|k| !ALLOWED_CLAIMS.contains(k))
        .collect();
    if !extra.is_empty() {
        extra.sort_unstable();
        return Err(Problem::token(
            AuthCode::ClaimNotAllowed,
            format!(
                "the assertion carries claims that are not allowed: {}; send exactly iss, aud, scope, iat and exp",
                extra.join(", ")
            ),
        ));
    }
    match claims.get("scope") {
        None => {
            return Err(Problem::token(
                AuthCode::ScopeMissing,
                "the claim 'scope' is missing; add \"scope\": \"*\"",
            ));
        }
        Some(Value::String(_)) => {}
        Some(_) => return Err(undecodable("the claim 'scope' must be the string \"*\"")),
    }
    let iss = string_claim(&claims, "iss")?;
    let aud = string_claim(&claims, "aud")?.to_string();
    let iat = numeric_claim(&claims, "iat")?;
    let exp = numeric_claim(&claims, "exp")?;
    let issuer = Issuer::parse(iss).ok_or_else(|| {
        Problem::token(
            AuthCode::UnknownIssuer,
            format!(
                "iss '{iss}' is not of the form <account>@<tenant_id>{ISS_SUFFIX}; copy the iss that `selo admin account create` printed"
            ),
        )
    })?;
    Ok(Assertion {
        issuer,
        aud,
        iat,
        exp,
        signing_input: format!("{}.{}", parts[0], parts[1]),
        signature,
    })
}

/// The environments' audiences, to tell a wrong `aud` from mixed credentials.
#[derive(Debug, Clone)]
pub struct Audiences<'a> {
    /// This environment's name.
    pub environment: &'a str,
    /// This environment's audience.
    pub audience: &'a str,
    /// Every other environment of the server: (name, audience).
    pub others: &'a [(String, String)],
}

/// `aud` must equal this environment's audience exactly (1.2.5; "mixed credentials" when it is
/// another environment's audience).
pub fn check_audience(aud: &str, envs: &Audiences<'_>) -> Result<(), Problem> {
    if aud == envs.audience {
        return Ok(());
    }
    if let Some((other, _)) = envs.others.iter().find(|(_, a)| a == aud) {
        return Err(Problem::token(
            AuthCode::CannotValidate,
            format!(
                "mixed credentials: aud '{aud}' is the audience of the {other} environment, but this is the {} environment; set aud to '{}'",
                envs.environment, envs.audience
            ),
        ));
    }
    Err(Problem::token(
        AuthCode::CannotValidate,
        format!(
            "aud '{aud}' does not match the {} environment's audience; set aud to exactly '{}' (no trailing slash)",
            envs.environment, envs.audience
        ),
    ))
}

/// The last second at which an assertion with this `exp` is accepted (`exp` plus the leeway):
/// its replay record must live at least this long, and need not live longer.
pub fn accepted_until(exp: i64) -> i64 {
    exp.saturating_add(LEEWAY_SECONDS)
}

/// `exp` not past (60 s leeway; 1.2.4), lifetime ≤ 3600 s and `iat` not more than 60 s ahead (1.2.5).
pub fn check_times(iat: i64, exp: i64, now: i64) -> Result<(), Problem> {
    if now > accepted_until(exp) {
        return Err(Problem::token(
            AuthCode::Expired,
            format!(
                "the assertion expired: exp {exp} is {} s before the server's time {now}; sign a new assertion with exp = now + 3600 at most",
                now.saturating_sub(exp)
            ),
        ));
    }
    if exp
        .checked_sub(iat)
        .is_none_or(|lifetime| lifetime > MAX_LIFETIME_SECONDS)
    {
        return Err(Problem::token(
            AuthCode::CannotValidate,
            format!(
                "exp - iat is {} s; an assertion may live at most {MAX_LIFETIME_SECONDS} s",
                exp.saturating_sub(iat)
            ),
        ));
    }
    if iat > now.saturating_add(LEEWAY_SECONDS) {
        return Err(Problem::token(
            AuthCode::CannotValidate,
            format!(
                "iat {iat} is {} s in the future (server time {now}); check your clock",
                iat.saturating_sub(now)
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jws(header: &str, claims: &str) -> String {
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims),
            URL_SAFE_NO_PAD.encode(b"sig")
        )
    }

    fn code(r: Result<Assertion, Problem>) -> &'static str {
        match r {
            Err(Problem::TokenRejected { code, .. }) => code.as_str(),
            Err(other) => panic!("unexpected {other:?}"),
            Ok(_) => "ok",
        }
    }

    const RS: &str = r#"{"alg":"RS256","typ":"JWT"}"#;

    #[test]
    fn table_order_of_structural_checks() {
        assert_eq!(code(parse_assertion("abc")), "1.2.20");
        assert_eq!(code(parse_assertion("a.b.c")), "1.2.20");
        let good = r#"{"iss":"acc@t1.iam.acesso.io","aud":"x","scope":"*","iat":1,"exp":2}"#;
        assert_eq!(code(parse_assertion(&jws(RS, good))), "ok");
        assert_eq!(
            code(parse_assertion(&jws(r#"{"alg":"HS256"}"#, good))),
            "1.2.5"
        );
        assert_eq!(
            code(parse_assertion(&jws(r#"{"alg":"none"}"#, good))),
            "1.2.5"
        );
        let extra =
            r#"{"iss":"acc@t1.iam.acesso.io","aud":"x","scope":"*","iat":1,"exp":2,"sub":"x"}"#;
        assert_eq!(code(parse_assertion(&jws(RS, extra))), "1.2.22");
        let no_scope = r#"{"iss":"acc@t1.iam.acesso.io","aud":"x","iat":1,"exp":2}"#;
        assert_eq!(code(parse_assertion(&jws(RS, no_scope))), "1.1.1");
        let no_exp = r#"{"iss":"acc@t1.iam.acesso.io","aud":"x","scope":"*","iat":1}"#;
        assert_eq!(code(parse_assertion(&jws(RS, no_exp))), "1.2.20");
        let bad_iat = r#"{"iss":"acc@t1.iam.acesso.io","aud":"x","scope":"*","iat":"1","exp":2}"#;
        assert_eq!(code(parse_assertion(&jws(RS, bad_iat))), "1.2.20");
        let bad_iss = r#"{"iss":"acc@t1.example.com","aud":"x","scope":"*","iat":1,"exp":2}"#;
        assert_eq!(code(parse_assertion(&jws(RS, bad_iss))), "1.0.1");
    }

    #[test]
    fn time_rules() {
        assert!(check_times(1000, 4600, 1000).is_ok());
        assert!(check_times(1000, 4601, 1000).is_err());
        assert!(check_times(1000, 1100, 1160).is_ok());
        assert!(check_times(1000, 1100, 1161).is_err());
        assert!(check_times(1061, 1100, 1000).is_err());
        assert!(check_times(1060, 1100, 1000).is_ok());
    }

    #[test]
    fn audience_mismatch_names_mixed_credentials() {
        let others = vec![("production".to_string(), "http://p".to_string())];
        let envs = Audiences {
            environment: "sandbox",
            audience: "http://s",
            others: &others,
        };
        assert!(check_audience("http://s", &envs).is_ok());
        let Err(Problem::TokenRejected { reason, .. }) = check_audience("http://p", &envs) else {
            panic!()
        };
        assert!(reason.contains("mixed credentials"));
        assert!(check_audience("http://s/", &envs).is_err());
    }
}
