//! One verdict type across the contracts (CONTRACT §13: "a 200 is not a pass").
//!
//! The mapping from each contract's body is the table in the [crate docs](crate#verdicts).

use crate::ApiError;
use selo_wire::process::ApiProcess;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// The decision a process body amounts to. Derive it with [`Verdict::from_api`],
/// [`Verdict::from_web_process`] or [`Verdict::from_magic_link`]; use [`Assessment`] to also get
/// the reason and the fields it was derived from.
///
/// Only [`Approved`](Verdict::Approved) is a pass. Enum values the SDK does not know map to
/// [`Unknown`](Verdict::Unknown) (carrying the value), never to a parse failure: treat it as
/// "not approved" and log it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// The person is who they claim to be and is live.
    Approved,
    /// Identity not confirmed, liveness failed, or the platform refused the person.
    Denied,
    /// Neither confirmed nor refused (divergence, inconclusive identity, behavior alert):
    /// route to manual review or your own risk policy.
    Inconclusive,
    /// The capture was not usable; ask the person for a new capture. Reserved for the
    /// platform's `retry` decision: no field of today's contracts maps to it.
    RetryCapture,
    /// Not finished yet; poll later ([`Client::wait_for_result`](crate::Client::wait_for_result))
    /// or wait for the webhook.
    Pending,
    /// The process ended in error (or was canceled); create a new one.
    Error,
    /// The person did not finish before the process expired.
    Expired,
    /// A value the SDK does not know (a new enum value, a status outside the contract).
    Unknown(String),
}

impl Verdict {
    /// The verdict of an API-contract process (`POST /processes/v1`, `GET /processes/v1/{id}`).
    pub fn from_api(process: &ApiProcess) -> Verdict {
        Assessment::from_api(process).verdict
    }

    /// The verdict of a Web & SDK process: the `{"process": {…}}` body of
    /// `GET /client/v1/process/{id}`, or the `process` object itself.
    pub fn from_web_process(body: &Value) -> Verdict {
        Assessment::from_web_process(body).verdict
    }

    /// The verdict of a Magic Link envelope (`GET /v2/magic-link/{token}`, or its `data`).
    pub fn from_magic_link(body: &Value) -> Verdict {
        Assessment::from_magic_link(body).verdict
    }

    /// The verdict an error of `GET /processes/v1/{id}` implies: a **410** that says the process
    /// ended in error (status 5, [`ApiError::is_ended_in_error`]) is [`Verdict::Error`]; any
    /// other error, a retention 410 included, implies none.
    pub fn from_api_error(error: &ApiError) -> Option<Verdict> {
        Assessment::from_api_error(error).map(Assessment::into_verdict)
    }

    /// `true` only for [`Verdict::Approved`].
    pub fn is_approved(&self) -> bool {
        matches!(self, Verdict::Approved)
    }

    /// `false` only for [`Verdict::Pending`]: the process will not change any more.
    pub fn is_final(&self) -> bool {
        !matches!(self, Verdict::Pending)
    }

    /// Lower-case name: `approved`, `denied`, `inconclusive`, `retry_capture`, `pending`,
    /// `error`, `expired`, `unknown`.
    pub fn as_str(&self) -> &str {
        match self {
            Verdict::Approved => "approved",
            Verdict::Denied => "denied",
            Verdict::Inconclusive => "inconclusive",
            Verdict::RetryCapture => "retry_capture",
            Verdict::Pending => "pending",
            Verdict::Error => "error",
            Verdict::Expired => "expired",
            Verdict::Unknown(_) => "unknown",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Unknown(v) => write!(f, "unknown ({v})"),
            other => f.write_str(other.as_str()),
        }
    }
}

impl Serialize for Verdict {
    /// Serializes as [`as_str`](Verdict::as_str).
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A [`Verdict`] with why: a one-line reason and the body fields it was derived from.
///
/// ```
/// use selo_sdk::{Assessment, Verdict};
/// use selo_wire::process::{ApiProcess, ResultValue};
///
/// let p = ApiProcess {
///     id: "7b6f…".into(),
///     status: 3,
///     unico_id: Some(ResultValue { result: "inconclusive".into() }),
///     liveness: Some(2),
///     score: None,
///     identity_fraudsters: None,
///     biometry_token: None,
/// };
/// let a = Assessment::from_api(&p);
/// assert_eq!(a.verdict(), &Verdict::Denied);
/// assert_eq!(a.reason(), "liveness failed (liveness 2)");
/// assert_eq!(a.fields()["liveness"], 2);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assessment {
    verdict: Verdict,
    reason: String,
    fields: BTreeMap<String, Value>,
}

impl Assessment {
    /// The verdict.
    pub fn verdict(&self) -> &Verdict {
        &self.verdict
    }

    /// Consumes the assessment, returning the verdict.
    pub fn into_verdict(self) -> Verdict {
        self.verdict
    }

    /// Why, in one line (`"identity not confirmed (unicoId.result no)"`).
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The decision-relevant fields found in the body, by dotted path
    /// (`status`, `unicoId.result`, `liveness`, `score`, `authenticationInfo.livenessResult`,
    /// `data.result.status`, …), as they were on the wire.
    pub fn fields(&self) -> &BTreeMap<String, Value> {
        &self.fields
    }

    /// The risk score, when the body has one (`score`,
    /// `authenticationInfo.scoreEngineResult.score`). The SDK never turns a score into
    /// approval; apply your own policy to inconclusive results.
    pub fn score(&self) -> Option<f64> {
        self.fields
            .get("score")
            .or_else(|| {
                self.fields
                    .get("authenticationInfo.scoreEngineResult.score")
            })
            .and_then(Value::as_f64)
    }

    fn new(verdict: Verdict, reason: impl Into<String>, fields: BTreeMap<String, Value>) -> Self {
        Assessment {
            verdict,
            reason: reason.into(),
            fields,
        }
    }

    /// The assessment an error of `GET /processes/v1/{id}` implies: [`Verdict::Error`] for the
    /// 410 of a process that ended in error, none for any other error.
    pub fn from_api_error(error: &ApiError) -> Option<Assessment> {
        error.is_ended_in_error().then(|| {
            let mut fields = BTreeMap::new();
            fields.insert("httpStatus".to_string(), Value::from(error.status));
            Assessment::new(
                Verdict::Error,
                "the process ended in error (HTTP 410); create a new process",
                fields,
            )
        })
    }

    /// Assesses an API-contract process. See the [crate docs](crate#verdicts) for the table.
    pub fn from_api(p: &ApiProcess) -> Assessment {
        let mut fields = BTreeMap::new();
        fields.insert("status".to_string(), Value::from(p.status));
        let unico = p.unico_id.as_ref().map(|r| r.result.as_str());
        let fraud = p.identity_fraudsters.as_ref().map(|r| r.result.as_str());
        let token = p.biometry_token.as_ref().map(|r| r.result.as_str());
        if let Some(v) = unico {
            fields.insert("unicoId.result".into(), Value::from(v));
        }
        if let Some(v) = p.liveness {
            fields.insert("liveness".into(), Value::from(v));
        }
        if let Some(v) = p.score {
            fields.insert("score".into(), Value::from(v));
        }
        if let Some(v) = fraud {
            fields.insert("identityFraudsters.result".into(), Value::from(v));
        }
        if let Some(v) = token {
            fields.insert("biometryToken.result".into(), Value::from(v));
        }
        let (verdict, reason) = api_verdict(p.status, unico, p.liveness, fraud, token);
        Assessment::new(verdict, reason, fields)
    }

    /// Assesses a Web & SDK process (`{"process": {…}}` or the object itself). See the
    /// [crate docs](crate#verdicts) for the table.
    pub fn from_web_process(body: &Value) -> Assessment {
        let p = body.get("process").unwrap_or(body);
        let mut fields = BTreeMap::new();
        let mut take = |path: &str| -> Option<String> {
            let v = pointer(p, path)?;
            fields.insert(path.to_string(), v.clone());
            Some(match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        };
        let state = take("state");
        let result = take("result");
        let auth = take("authenticationInfo.authenticationResult");
        let live = take("authenticationInfo.livenessResult");
        let fraud = take("authenticationInfo.identityFraudstersResult");
        take("authenticationInfo.scoreEngineResult.score");
        let (verdict, reason) = web_verdict(
            state.as_deref(),
            result.as_deref(),
            auth.as_deref(),
            live.as_deref(),
            fraud.as_deref(),
        );
        Assessment::new(verdict, reason, fields)
    }

    /// Assesses a Magic Link envelope (or its `data`). See the [crate docs](crate#verdicts) for
    /// the table.
    pub fn from_magic_link(body: &Value) -> Assessment {
        let data = body.get("data").unwrap_or(body);
        let mut fields = BTreeMap::new();
        let mut take = |path: &str| -> Option<String> {
            let v = pointer(data, path)?;
            fields.insert(format!("data.{path}"), v.clone());
            Some(match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        };
        let status = take("result.status");
        let unico = take("response.unico.result");
        let error = take("error");
        let (verdict, reason) =
            magic_link_verdict(status.as_deref(), unico.as_deref(), error.is_some());
        Assessment::new(verdict, reason, fields)
    }
}

impl From<Assessment> for Verdict {
    fn from(a: Assessment) -> Verdict {
        a.verdict
    }
}

/// `a.b.c` lookup in a JSON object; `null` counts as absent.
fn pointer<'a>(v: &'a Value, dotted: &str) -> Option<&'a Value> {
    dotted
        .split('.')
        .try_fold(v, |cur, key| cur.get(key))
        .filter(|v| !v.is_null())
}

fn api_verdict(
    status: u8,
    unico: Option<&str>,
    liveness: Option<u8>,
    fraud: Option<&str>,
    token: Option<&str>,
) -> (Verdict, String) {
    use Verdict::*;
    match status {
        1 => return (Pending, "processing (status 1)".into()),
        2 => return (Inconclusive, "divergence (status 2)".into()),
        3 => {}
        4 => return (Error, "process canceled (status 4)".into()),
        5 => return (Error, "process ended in error (status 5)".into()),
        other => {
            return (
                Unknown(format!("status {other}")),
                format!("unknown status {other}"),
            );
        }
    }
    match liveness {
        None | Some(1) => {}
        Some(2) => return (Denied, "liveness failed (liveness 2)".into()),
        Some(other) => {
            return (
                Unknown(format!("liveness {other}")),
                format!("unknown liveness value {other}"),
            );
        }
    }
    if let Some(t) = token {
        return match t {
            "true" => (
                Approved,
                "1:1 validation matched (biometryToken.result true)".into(),
            ),
            "false" => (
                Denied,
                "1:1 validation did not match (biometryToken.result false)".into(),
            ),
            other => (
                Unknown(other.to_string()),
                format!("unknown biometryToken.result {other:?}"),
            ),
        };
    }
    match unico {
        Some("yes") => match fraud {
            None | Some("inconclusive") => {
                (Approved, "identity confirmed (unicoId.result yes)".into())
            }
            Some("yes") => (
                Inconclusive,
                "behavior alert (identityFraudsters.result yes) on a confirmed identity".into(),
            ),
            Some(other) => (
                Unknown(other.to_string()),
                format!("unknown identityFraudsters.result {other:?}"),
            ),
        },
        Some("no") => (Denied, "identity not confirmed (unicoId.result no)".into()),
        Some("inconclusive") => (
            Inconclusive,
            "identity inconclusive (unicoId.result inconclusive)".into(),
        ),
        Some(other) => (
            Unknown(other.to_string()),
            format!("unknown unicoId.result {other:?}"),
        ),
        None => match liveness {
            Some(1) => (
                Approved,
                "liveness passed (liveness 1, no identity capability)".into(),
            ),
            _ => (
                Unknown(String::new()),
                "finished without unicoId, liveness or biometryToken".into(),
            ),
        },
    }
}

fn is_unspecified(v: Option<&str>) -> bool {
    v.is_none_or(|s| s.is_empty() || s.ends_with("_UNSPECIFIED"))
}

fn web_verdict(
    state: Option<&str>,
    result: Option<&str>,
    auth: Option<&str>,
    live: Option<&str>,
    fraud: Option<&str>,
) -> (Verdict, String) {
    use Verdict::*;
    match state {
        Some("PROCESS_STATE_CREATED") => return (Pending, "not finished (CREATED)".into()),
        Some("PROCESS_STATE_FAILED") => return (Error, "process failed (FAILED)".into()),
        Some(s) if s.starts_with("PROCESS_STATE_AWAITING") => {
            return (Pending, format!("not finished ({s})"));
        }
        Some("PROCESS_STATE_FINISHED") => {}
        Some(other) => {
            return (
                Unknown(other.to_string()),
                format!("unknown state {other:?}"),
            );
        }
        None => return (Unknown(String::new()), "no process state".into()),
    }
    if matches!(live, Some("NO" | "LIVENESS_RESULT_NO")) {
        return (
            Denied,
            format!("liveness failed (livenessResult {})", live.unwrap_or("NO")),
        );
    }
    match result {
        Some("PROCESS_RESULT_OK") => {}
        Some("PROCESS_RESULT_INVALID_IDENTITY") => {
            return (Denied, "identity refused (INVALID_IDENTITY)".into());
        }
        Some("PROCESS_RESULT_FAILED") => return (Denied, "process failed (RESULT_FAILED)".into()),
        Some("PROCESS_RESULT_EXPIRED") => return (Expired, "process expired".into()),
        Some("PROCESS_RESULT_ERROR") => return (Error, "process ended in error".into()),
        Some(other) => {
            return (
                Unknown(other.to_string()),
                format!("unknown result {other:?}"),
            );
        }
        None => return (Unknown(String::new()), "finished without a result".into()),
    }
    match auth {
        Some("AUTHENTICATION_RESULT_POSITIVE") => {
            if is_unspecified(fraud) || fraud == Some("TRUST_RESULT_INCONCLUSIVE") {
                (Approved, "identity confirmed (POSITIVE)".into())
            } else {
                (
                    Inconclusive,
                    format!(
                        "behavior alert (identityFraudstersResult {}) on a confirmed identity",
                        fraud.unwrap_or_default()
                    ),
                )
            }
        }
        Some("AUTHENTICATION_RESULT_INCONCLUSIVE") => {
            (Inconclusive, "identity inconclusive (INCONCLUSIVE)".into())
        }
        a if is_unspecified(a) => match live {
            Some("LIVENESS_RESULT_LIVE") => (
                Approved,
                "liveness passed (LIVE, no identity result)".into(),
            ),
            _ => (
                Unknown(a.unwrap_or_default().to_string()),
                "finished OK without an authentication or liveness result".into(),
            ),
        },
        other => {
            let other = other.unwrap_or_default();
            (
                Unknown(other.to_string()),
                format!("unknown authenticationResult {other:?}"),
            )
        }
    }
}

fn magic_link_verdict(status: Option<&str>, unico: Option<&str>, error: bool) -> (Verdict, String) {
    use Verdict::*;
    if error {
        return (Error, "error envelope (data.error)".into());
    }
    let from_status = status.map(|s| match s {
        "verified" => Approved,
        "not_verified" => Denied,
        "pending" => Pending,
        other => Unknown(other.to_string()),
    });
    let from_unico = unico.map(|s| match s {
        "APPROVED" => Approved,
        "NOT_APPROVED" => Denied,
        other => Unknown(other.to_string()),
    });
    let describe = || {
        let mut parts = Vec::new();
        if let Some(s) = status {
            parts.push(format!("data.result.status {s}"));
        }
        if let Some(u) = unico {
            parts.push(format!("data.response.unico.result {u}"));
        }
        parts.join(", ")
    };
    match (from_status, from_unico) {
        (None, None) => (Pending, "no result yet".into()),
        // Any negative wins; then any unknown value; then agreement.
        (a, b) if a == Some(Denied) || b == Some(Denied) => {
            (Denied, format!("not verified ({})", describe()))
        }
        (Some(Unknown(v)), _) | (_, Some(Unknown(v))) => {
            (Unknown(v), format!("unknown value ({})", describe()))
        }
        (Some(Pending), _) => (Pending, format!("not finished ({})", describe())),
        (_, _) => (Approved, format!("verified ({})", describe())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use selo_wire::process::ResultValue;
    use serde_json::json;

    fn api(status: u8) -> ApiProcess {
        ApiProcess {
            id: "p".into(),
            status,
            unico_id: None,
            liveness: None,
            score: None,
            identity_fraudsters: None,
            biometry_token: None,
        }
    }

    fn rv(s: &str) -> Option<ResultValue> {
        Some(ResultValue { result: s.into() })
    }

    fn with(status: u8, unico: Option<&str>, liveness: Option<u8>) -> ApiProcess {
        ApiProcess {
            unico_id: unico.and_then(rv),
            liveness,
            ..api(status)
        }
    }

    #[test]
    fn api_statuses() {
        assert_eq!(Verdict::from_api(&api(1)), Verdict::Pending);
        assert_eq!(
            Verdict::from_api(&with(2, Some("inconclusive"), Some(1))),
            Verdict::Inconclusive
        );
        assert_eq!(Verdict::from_api(&api(4)), Verdict::Error);
        assert_eq!(Verdict::from_api(&api(5)), Verdict::Error);
        assert_eq!(
            Verdict::from_api(&api(9)),
            Verdict::Unknown("status 9".into())
        );
    }

    #[test]
    fn api_finished_rows() {
        // Sandbox approved: unicoId yes, liveness omitted.
        assert_eq!(
            Verdict::from_api(&with(3, Some("yes"), None)),
            Verdict::Approved
        );
        // identity-denied: the seed's `unicoId.result no`.
        assert_eq!(
            Verdict::from_api(&with(3, Some("no"), Some(1))),
            Verdict::Denied
        );
        // liveness-failed: the seed's `liveness 2`.
        let a = Assessment::from_api(&with(3, Some("inconclusive"), Some(2)));
        assert_eq!(a.verdict(), &Verdict::Denied);
        assert!(a.reason().contains("liveness"));
        // liveness 2 wins even over unicoId yes (inconsistent body: fail safe).
        assert_eq!(
            Verdict::from_api(&with(3, Some("yes"), Some(2))),
            Verdict::Denied
        );
        // inconclusive with or without score stays inconclusive; the score is exposed.
        for score in [None, Some(50), Some(-60)] {
            let p = ApiProcess {
                score,
                ..with(3, Some("inconclusive"), Some(1))
            };
            let a = Assessment::from_api(&p);
            assert_eq!(a.verdict(), &Verdict::Inconclusive);
            assert_eq!(a.score(), score.map(f64::from));
        }
        // Liveness-only key.
        assert_eq!(
            Verdict::from_api(&with(3, None, Some(1))),
            Verdict::Approved
        );
        assert_eq!(Verdict::from_api(&with(3, None, Some(2))), Verdict::Denied);
        assert_eq!(
            Verdict::from_api(&with(3, None, None)),
            Verdict::Unknown(String::new())
        );
        // Unknown values.
        assert_eq!(
            Verdict::from_api(&with(3, Some("maybe"), None)),
            Verdict::Unknown("maybe".into())
        );
        assert_eq!(
            Verdict::from_api(&with(3, Some("yes"), Some(7))),
            Verdict::Unknown("liveness 7".into())
        );
    }

    #[test]
    fn api_behavior_alert() {
        let alert = ApiProcess {
            identity_fraudsters: rv("yes"),
            ..with(3, Some("yes"), None)
        };
        let a = Assessment::from_api(&alert);
        assert_eq!(a.verdict(), &Verdict::Inconclusive);
        assert!(a.reason().contains("behavior alert"));
        assert_eq!(a.fields()["identityFraudsters.result"], "yes");
        let no_alert = ApiProcess {
            identity_fraudsters: rv("inconclusive"),
            ..with(3, Some("yes"), None)
        };
        assert_eq!(Verdict::from_api(&no_alert), Verdict::Approved);
        let odd = ApiProcess {
            identity_fraudsters: rv("perhaps"),
            ..with(3, Some("yes"), None)
        };
        assert_eq!(Verdict::from_api(&odd), Verdict::Unknown("perhaps".into()));
    }

    #[test]
    fn api_biometry_token() {
        let t = |v: &str| ApiProcess {
            biometry_token: rv(v),
            ..api(3)
        };
        assert_eq!(Verdict::from_api(&t("true")), Verdict::Approved);
        assert_eq!(Verdict::from_api(&t("false")), Verdict::Denied);
        assert_eq!(
            Verdict::from_api(&t("TRUE?")),
            Verdict::Unknown("TRUE?".into())
        );
    }

    #[test]
    fn api_fields_are_reported() {
        let a = Assessment::from_api(&ApiProcess {
            score: Some(28),
            ..with(3, Some("inconclusive"), Some(1))
        });
        let f = a.fields();
        assert_eq!(f["status"], 3);
        assert_eq!(f["unicoId.result"], "inconclusive");
        assert_eq!(f["liveness"], 1);
        assert_eq!(f["score"], 28);
    }

    fn web(state: &str, result: &str, auth: Value) -> Value {
        json!({"process": {"id": "w", "state": state, "result": result, "authenticationInfo": auth}})
    }

    #[test]
    fn web_rows() {
        let v = |b: &Value| Verdict::from_web_process(b);
        assert_eq!(
            v(&web(
                "PROCESS_STATE_CREATED",
                "PROCESS_RESULT_UNSPECIFIED",
                json!({"authenticationResult": "AUTHENTICATION_RESULT_UNSPECIFIED"})
            )),
            Verdict::Pending
        );
        assert_eq!(
            v(&web(
                "PROCESS_STATE_FAILED",
                "PROCESS_RESULT_ERROR",
                json!({})
            )),
            Verdict::Error
        );
        assert_eq!(
            v(&web(
                "PROCESS_STATE_FINISHED",
                "PROCESS_RESULT_OK",
                json!({"authenticationResult": "AUTHENTICATION_RESULT_POSITIVE",
                       "livenessResult": "LIVENESS_RESULT_LIVE"})
            )),
            Verdict::Approved
        );
        let inconclusive = web(
            "PROCESS_STATE_FINISHED",
            "PROCESS_RESULT_OK",
            json!({"authenticationResult": "AUTHENTICATION_RESULT_INCONCLUSIVE",
                   "scoreEngineResult": {"scoreEnabled": "SCORE_ENABLED_TRUE", "score": 50}}),
        );
        let a = Assessment::from_web_process(&inconclusive);
        assert_eq!(a.verdict(), &Verdict::Inconclusive);
        assert_eq!(a.score(), Some(50.0));
        // The seed's negative values.
        assert_eq!(
            v(&web(
                "PROCESS_STATE_FINISHED",
                "PROCESS_RESULT_INVALID_IDENTITY",
                json!({})
            )),
            Verdict::Denied
        );
        assert_eq!(
            v(&web(
                "PROCESS_STATE_FINISHED",
                "PROCESS_RESULT_FAILED",
                json!({"livenessResult": "NO"})
            )),
            Verdict::Denied
        );
        assert_eq!(
            v(&web(
                "PROCESS_STATE_FINISHED",
                "PROCESS_RESULT_OK",
                json!({"authenticationResult": "AUTHENTICATION_RESULT_POSITIVE", "livenessResult": "NO"})
            )),
            Verdict::Denied
        );
        assert_eq!(
            v(&web(
                "PROCESS_STATE_FINISHED",
                "PROCESS_RESULT_EXPIRED",
                json!({})
            )),
            Verdict::Expired
        );
        assert_eq!(
            v(&web(
                "PROCESS_STATE_FINISHED",
                "PROCESS_RESULT_ERROR",
                json!({})
            )),
            Verdict::Error
        );
    }

    #[test]
    fn web_liveness_only_alerts_and_unknowns() {
        let v = |b: &Value| Verdict::from_web_process(b);
        // idlive flow: no identity result, live.
        assert_eq!(
            v(&web(
                "PROCESS_STATE_FINISHED",
                "PROCESS_RESULT_OK",
                json!({"authenticationResult": "AUTHENTICATION_RESULT_UNSPECIFIED",
                       "livenessResult": "LIVENESS_RESULT_LIVE"})
            )),
            Verdict::Approved
        );
        // Behavior alert on a positive identity.
        assert_eq!(
            v(&web(
                "PROCESS_STATE_FINISHED",
                "PROCESS_RESULT_OK",
                json!({"authenticationResult": "AUTHENTICATION_RESULT_POSITIVE",
                       "identityFraudstersResult": "TRUST_RESULT_YES"})
            )),
            Verdict::Inconclusive
        );
        assert_eq!(
            v(&web(
                "PROCESS_STATE_FINISHED",
                "PROCESS_RESULT_OK",
                json!({"authenticationResult": "AUTHENTICATION_RESULT_POSITIVE",
                       "identityFraudstersResult": "TRUST_RESULT_UNSPECIFIED"})
            )),
            Verdict::Approved
        );
        assert_eq!(
            v(&web("PROCESS_STATE_PAUSED", "PROCESS_RESULT_OK", json!({}))),
            Verdict::Unknown("PROCESS_STATE_PAUSED".into())
        );
        assert_eq!(
            v(&web(
                "PROCESS_STATE_FINISHED",
                "PROCESS_RESULT_NEW",
                json!({})
            )),
            Verdict::Unknown("PROCESS_RESULT_NEW".into())
        );
        assert_eq!(
            v(&web(
                "PROCESS_STATE_FINISHED",
                "PROCESS_RESULT_OK",
                json!({"authenticationResult": "AUTHENTICATION_RESULT_NEGATIVE"})
            )),
            Verdict::Unknown("AUTHENTICATION_RESULT_NEGATIVE".into())
        );
        assert_eq!(
            v(&json!({"state": "PROCESS_STATE_AWAITING_FOR_DOCUMENT"})),
            Verdict::Pending
        );
        assert_eq!(v(&json!({})), Verdict::Unknown(String::new()));
        assert_eq!(v(&json!("not an object")), Verdict::Unknown(String::new()));
    }

    #[test]
    fn magic_link_rows() {
        let v = |b: Value| Verdict::from_magic_link(&b);
        assert_eq!(
            v(
                json!({"data": {"result": {"status": "verified"}, "response": {"unico": {"result": "APPROVED"}}}})
            ),
            Verdict::Approved
        );
        // The seed's `data.result.status not_verified` and NOT_APPROVED.
        assert_eq!(
            v(json!({"data": {"result": {"status": "not_verified"}}})),
            Verdict::Denied
        );
        assert_eq!(
            v(json!({"data": {"response": {"unico": {"result": "NOT_APPROVED"}}}})),
            Verdict::Denied
        );
        assert_eq!(
            v(
                json!({"data": {"result": {"status": "verified"}, "response": {"unico": {"result": "NOT_APPROVED"}}}})
            ),
            Verdict::Denied
        );
        assert_eq!(
            v(json!({"data": {"result": {"status": "pending"}, "is_active": true}})),
            Verdict::Pending
        );
        assert_eq!(
            v(json!({"data": {"is_active": true, "token": "t"}})),
            Verdict::Pending
        );
        assert_eq!(
            v(json!({"result": {"status": "verified"}})),
            Verdict::Approved
        );
        assert_eq!(
            v(json!({"data": {"result": {"status": "under_review"}}})),
            Verdict::Unknown("under_review".into())
        );
        assert_eq!(
            v(
                json!({"data": {"error": {"message": "bad", "type": "x", "atributte": []}}, "status": "error"})
            ),
            Verdict::Error
        );
        let a =
            Assessment::from_magic_link(&json!({"data": {"result": {"status": "not_verified"}}}));
        assert_eq!(a.fields()["data.result.status"], "not_verified");
    }

    #[test]
    fn names_and_helpers() {
        assert_eq!(Verdict::RetryCapture.as_str(), "retry_capture");
        assert_eq!(Verdict::Unknown("x".into()).to_string(), "unknown (x)");
        assert!(Verdict::Approved.is_approved());
        assert!(!Verdict::Inconclusive.is_approved());
        assert!(!Verdict::Pending.is_final());
        assert!(Verdict::Denied.is_final());
        assert_eq!(
            serde_json::to_value(Verdict::Denied).unwrap(),
            json!("denied")
        );
        let gone = crate::ApiError::from_response(410, None, None, b"{}");
        assert_eq!(Verdict::from_api_error(&gone), Some(Verdict::Error));
        let nf = crate::ApiError::from_response(404, None, None, b"{}");
        assert_eq!(Verdict::from_api_error(&nf), None);
        let retention = crate::ApiError::from_response(
            410,
            None,
            None,
            br#"{"error": {"code": "41002", "description": "deleted"}}"#,
        );
        assert!(retention.is_gone() && !retention.is_ended_in_error());
        assert_eq!(Verdict::from_api_error(&retention), None);
    }
}
