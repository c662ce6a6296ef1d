//! The Magic Link contract (`/v2/magic-link`, CONTRACT §7): the stored link, its verdict and the
//! response envelopes.

use crate::problem::{FieldProblem, Problem};
use crate::verification::{CaptureDecision, IdentityResult, Outcome};
use selo_wire::error::FieldReason;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// The envelope's `version`.
pub const ENVELOPE_VERSION: &str = "v1.4.2";
/// Longest `external_id`.
pub const MAX_EXTERNAL_ID: usize = 256;
/// Longest metadata URL.
pub const MAX_URL: usize = 2048;
/// The metadata members.
pub const METADATA_URLS: [&str; 3] = ["redirect_url", "webhook_url", "track_webhook_url"];

/// The person's completed journey.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkCapture {
    /// When (Unix seconds).
    pub at: i64,
    /// Which engine decided, and what.
    #[serde(flatten)]
    pub decision: CaptureDecision,
    /// Media type of the selfie (empty when the journey refused its selfies).
    pub image_type: String,
}

/// A stored magic link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MagicLinkRecord {
    /// The link token (UUID), also its id.
    pub token: String,
    /// Owning tenant.
    pub tenant_id: String,
    /// The integrator's id for the person (a sandbox CPF picks the scenario).
    pub external_id: Option<String>,
    /// `{redirect_url, webhook_url, track_webhook_url}`.
    pub metadata: Value,
    /// Creation time, RFC 3339 with nanoseconds.
    pub created_on: String,
    /// The create request as received (echoed as `request`).
    pub request: Value,
    /// The completed journey (the link is single-use).
    pub capture: Option<LinkCapture>,
    /// Whether its personal data were forgotten (past its window): it takes no capture then.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub scrubbed: bool,
}

/// Whether an outcome verifies the person: finished, live, no behavior alert, and the identity
/// confirmed or inconclusive with a positive risk score (the §8 table: approved and
/// inconclusive-positive do).
pub fn verified(outcome: Outcome) -> bool {
    outcome.status == 3
        && outcome.live
        && outcome.behavior_alert != Some(IdentityResult::Yes)
        && match outcome.identity {
            Some(IdentityResult::Yes) => true,
            Some(IdentityResult::Inconclusive) => outcome.score.is_some_and(|s| s > 0),
            _ => false,
        }
}

impl MagicLinkRecord {
    /// When the link was created (Unix seconds; 0 if `created_on` does not parse).
    pub fn created_unix(&self) -> i64 {
        time::OffsetDateTime::parse(
            &self.created_on,
            &time::format_description::well_known::Rfc3339,
        )
        .map_or(0, time::OffsetDateTime::unix_timestamp)
    }

    /// When the link was used, else created (Unix seconds): its process window, after which
    /// its personal data are forgotten, counts from here.
    pub fn finishes_at(&self) -> i64 {
        self.capture
            .as_ref()
            .map_or_else(|| self.created_unix(), |c| c.at)
    }

    /// Forgets the person (`external_id`, the request as received) and keeps the tombstone:
    /// the token, times, the redirect settings and the verdict.
    pub fn scrub_personal_data(&mut self) {
        self.external_id = None;
        self.request = Value::Null;
        self.scrubbed = true;
    }

    /// The redirect after completion, if the integrator gave one.
    pub fn redirect_url(&self) -> Option<String> {
        self.metadata
            .get("redirect_url")
            .and_then(Value::as_str)
            .map(String::from)
    }

    /// The `data` member of the envelope.
    pub fn data(&self, magic_link_url: &str) -> Value {
        let mut data = json!({
            "external_id": self.external_id,
            "created_on": self.created_on,
            "is_active": self.capture.is_none(),
            "token": self.token,
            "magic_link_url": magic_link_url,
            "metadata": self.metadata,
            "version": "v2",
        });
        match &self.capture {
            None => data["result"] = json!({"status": "pending"}),
            Some(c) => {
                let ok = verified(c.decision.outcome());
                data["result"] = json!({"status": if ok { "verified" } else { "not_verified" }});
                data["response"] = json!({"unico": {
                    "result": if ok { "APPROVED" } else { "NOT_APPROVED" },
                    "scenario": c.decision.name(),
                }});
            }
        }
        data
    }
}

/// The success envelope around `data`.
pub fn envelope(data: Value, request: Value, request_date: &str) -> Value {
    json!({
        "data": data,
        "version": ENVELOPE_VERSION,
        "status": "ok",
        "status_code": 200,
        "request_date": request_date,
        "request": request,
    })
}

/// The error envelope: `{data: {error: {message, type, atributte}}, status: "error", …}`.
pub fn error_envelope(
    status: u16,
    message: &str,
    fields: &[String],
    request_date: &str,
    request_id: &str,
) -> Value {
    let kind = match status {
        400 | 413 | 422 => "validation_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "timeout",
        409 | 410 => "conflict",
        429 => "rate_limit",
        _ => "internal_error",
    };
    json!({
        "data": {"error": {"message": message, "type": kind, "atributte": fields, "request_id": request_id}},
        "version": ENVELOPE_VERSION,
        "status": "error",
        "status_code": status,
        "request_date": request_date,
    })
}

fn valid_url(u: &str) -> bool {
    (u.starts_with("https://") || u.starts_with("http://"))
        && u.len() <= MAX_URL
        && u.len() > "http://".len()
        && !u.contains(char::is_whitespace)
}

/// Validates a create body: `external_id` string or null (≤ 256), `metadata` object or null
/// whose URLs are http(s) URLs or null.
pub fn validate_create(body: &Value) -> Result<(Option<String>, Value), Problem> {
    let empty = Map::new();
    let obj = body.as_object().unwrap_or(&empty);
    let mut problems = Vec::new();
    let mut bad = |field: &str, reason: FieldReason, message: String| {
        problems.push(FieldProblem::new(field, reason, "400", message));
    };
    let external_id = match obj.get("external_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.chars().count() > MAX_EXTERNAL_ID => {
            bad(
                "external_id",
                FieldReason::TooLong,
                format!(
                    "data provided in the field is invalid: external_id is longer than {MAX_EXTERNAL_ID} characters"
                ),
            );
            None
        }
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            bad(
                "external_id",
                FieldReason::WrongType,
                "data provided in the field is invalid: external_id must be a string or null"
                    .into(),
            );
            None
        }
    };
    let mut metadata = Map::new();
    match obj.get("metadata") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for key in METADATA_URLS {
                match m.get(key) {
                    None | Some(Value::Null) => {
                        metadata.insert(key.into(), Value::Null);
                    }
                    Some(Value::String(u)) if valid_url(u) => {
                        metadata.insert(key.into(), json!(u));
                    }
                    Some(_) => bad(
                        &format!("metadata.{key}"),
                        FieldReason::Invalid,
                        format!(
                            "data provided in the field is invalid: metadata.{key} must be an http(s) URL or null"
                        ),
                    ),
                }
            }
        }
        Some(_) => bad(
            "metadata",
            FieldReason::WrongType,
            "data provided in the field is invalid: metadata must be an object".into(),
        ),
    }
    for key in METADATA_URLS {
        metadata.entry(key).or_insert(Value::Null);
    }
    if problems.is_empty() {
        Ok((external_id, Value::Object(metadata)))
    } else {
        Err(Problem::Invalid(problems))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_and_verdicts() {
        let (id, m) = validate_create(&json!({"external_id": "00000000272", "metadata": {"redirect_url": "https://x.test/back"}})).unwrap();
        assert_eq!(id.as_deref(), Some("00000000272"));
        assert_eq!(
            m,
            json!({"redirect_url": "https://x.test/back", "webhook_url": null, "track_webhook_url": null})
        );
        assert!(validate_create(&json!({"external_id": 5})).is_err());
        assert!(validate_create(&json!({"metadata": {"webhook_url": "ftp://x"}})).is_err());
        assert!(validate_create(&json!({})).is_ok());
        use crate::scenario::{SANDBOX_TABLE, Scenario};
        let verifying: Vec<Scenario> = SANDBOX_TABLE
            .iter()
            .map(|(_, s)| *s)
            .filter(|s| verified(s.outcome()))
            .collect();
        assert_eq!(
            verifying,
            [Scenario::Approved, Scenario::InconclusivePositiveScore]
        );
        assert!(!verified(CaptureDecision::refused().outcome()));
        // A capture stored before the engines (only `scenario`) still reads.
        let old: LinkCapture =
            serde_json::from_str(r#"{"at":5,"scenario":"approved","image_type":"image/png"}"#)
                .unwrap();
        assert!(verified(old.decision.outcome()));
        assert_eq!(old.decision.name(), "approved");
    }
}
