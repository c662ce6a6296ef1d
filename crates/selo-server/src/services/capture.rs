//! The journey's capture step shared by the Web & SDK and Magic Link journeys: the selfie in a
//! capture body, checked like the API contract's (CONTRACT §5), off the async workers.

use crate::state::AppState;
use selo_domain::image::{CheckedImage, check_image_base64};
use selo_domain::problem::{FieldProblem, Problem};
use selo_domain::validation::image_problem_code;
use selo_domain::verification::{CaptureDecision, Decider, MAX_CAPTURE_REFUSALS};
use selo_store::blobs::BlobKey;
use selo_wire::error::FieldReason;
use serde_json::Value;
use std::collections::HashSet;
use std::sync::Mutex;

/// A capture received and checked, ready to be judged and committed while its slot is held.
pub struct Received<'a, R> {
    /// The journey's record, read under the slot.
    pub record: R,
    /// The checked selfie.
    pub image: CheckedImage,
    /// The journey's capture slot.
    pub slot: CaptureSlot<'a>,
}

/// The steps both journeys' captures share, in this order:
/// 1. `open` reads the journey and refuses one that takes no capture any more (404 unknown
///    or wrong token, 409 completed, 410 expired) — before anything is spent, so an old link
///    costs its tenant nothing;
/// 2. the tenant's rate limit (a capture counts like any request of the tenant);
/// 3. the journey's capture slot (one submission per journey at a time: a second is 409
///    without its body being read, so one journey holds at most one upload place);
/// 4. the body, within the tenant's upload places;
/// 5. `open` again under the slot (a submission that finished meanwhile is seen);
/// 6. the image checks.
pub async fn receive<'a, R>(
    state: &'a AppState,
    notes: &crate::http::context::Annotations,
    slot_id: &str,
    open: impl Fn() -> Result<R, Problem>,
    tenant_of: impl Fn(&R) -> &str,
    body: axum::body::Body,
) -> Result<Received<'a, R>, Problem> {
    let first = open()?;
    let tenant = tenant_of(&first).to_string();
    crate::auth::rate_limit(state, &tenant, notes)?;
    let slot = state.shared.captures.claim(slot_id)?;
    let (_permit, body) = crate::http::body::read_upload(state, &tenant, body).await?;
    let body = selo_domain::validation::parse_body(&body)?;
    let record = open()?;
    let image = image(state, &body).await?;
    Ok(Received {
        record,
        image,
        slot,
    })
}

/// Writes a capture's selfie, then `commit`s the capture; when the store refuses the commit
/// (the journey expired or was completed meanwhile) the selfie is deleted again and `refused`
/// is the answer.
pub fn store_selfie(
    state: &AppState,
    key: &BlobKey,
    bytes: &[u8],
    commit: impl FnOnce() -> Result<bool, Problem>,
    refused: impl FnOnce() -> Problem,
) -> Result<(), Problem> {
    state
        .shared
        .blobs
        .put(&key.path(), bytes)
        .map_err(crate::services::blob_failure)?;
    match commit() {
        Ok(true) => Ok(()),
        outcome => {
            if let Err(e) = state.shared.blobs.delete(&key.path()) {
                tracing::error!(error = %e, "deleting a refused capture's selfie failed");
            }
            Err(outcome.err().unwrap_or_else(refused))
        }
    }
}

/// The checked `imageBase64` of a capture body (400 with the field otherwise).
pub async fn image(state: &AppState, body: &Value) -> Result<CheckedImage, Problem> {
    let Some(text) = body
        .get("imageBase64")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    else {
        return Err(Problem::Invalid(vec![FieldProblem::new(
            "imageBase64",
            FieldReason::Required,
            "20009",
            "imageBase64 is required: the captured selfie as base64",
        )]));
    };
    let text = text.to_string();
    super::decode_off_workers(state, move || check_image_base64(&text))
        .await?
        .map_err(|e| {
            let (reason, code) = image_problem_code(e);
            Problem::Invalid(vec![FieldProblem::new(
                "imageBase64",
                reason,
                code,
                format!("imageBase64: {e}"),
            )])
        })
}

/// What the tenant's engines made of a journey's selfie.
pub enum Judgement {
    /// Decided: the capture is committed with this decision.
    Decided(CaptureDecision),
    /// Refused at a gate: the 400 that names it (the journey stays open, and counts it).
    Refused(Problem),
}

/// Runs the tenant's engines on a journey's selfie for the person whose CPF or CURP is `code`
/// (CONTRACT §17): a §8 scenario, or the local engines. The fraud search runs whenever the
/// person has a code (a journey has no key capabilities; it answers `TRUST_RESULT_YES` or
/// `TRUST_RESULT_INCONCLUSIVE`); without one (a Magic Link whose `external_id` is not a CPF or
/// CURP) there is no identity to compare with nor "another code" to search, so the verdict is
/// inconclusive.
pub async fn judge(
    state: &AppState,
    tenant_id: &str,
    code: Option<&str>,
    image: &CheckedImage,
) -> Result<Judgement, Problem> {
    let settings = super::processes::engine_settings(state, tenant_id)?;
    let person = code.unwrap_or_default();
    match settings.decider(person, state.env.is_sandbox()) {
        Decider::Scenario(scenario) => Ok(Judgement::Decided(CaptureDecision::scenario(scenario))),
        Decider::Local => {
            let asked = super::verify::Asked {
                fraud_search: code.is_some(),
                liveness: true,
            };
            match super::verify::judge(state, tenant_id, person, image, asked, settings).await {
                Ok(judged) => Ok(Judgement::Decided(CaptureDecision {
                    scenario: None,
                    verdict: Some(judged.verdict),
                    analysis: Some(judged.analysis),
                })),
                Err(refused @ Problem::Invalid(_)) => Ok(Judgement::Refused(refused)),
                Err(other) => Err(other),
            }
        }
    }
}

/// A selfie refused at a gate (CONTRACT §17): counted with `count`; the last one a journey
/// takes finishes it with `finish` (failed, no selfie kept). The answer is the refusal's 400 (the
/// last one saying the verification has finished), or `gone` when the journey stopped taking
/// captures meanwhile.
pub fn refuse(
    refused: Problem,
    count: impl FnOnce() -> Result<Option<u32>, Problem>,
    finish: impl FnOnce() -> Result<bool, Problem>,
    gone: impl Fn() -> Problem,
) -> Problem {
    let refusals = match count() {
        Ok(Some(refusals)) => refusals,
        Ok(None) => return gone(),
        Err(e) => return e,
    };
    let (answer, last) = after_refusal(refusals, refused);
    if last {
        match finish() {
            Ok(true) => {}
            Ok(false) => return gone(),
            Err(e) => return e,
        }
    }
    answer
}

/// What a counted refusal means for the journey: the answer, and whether the journey must now
/// finish as failed (the [`MAX_CAPTURE_REFUSALS`]th refusal, whose answer says so).
fn after_refusal(refusals: u32, refused: Problem) -> (Problem, bool) {
    if refusals < MAX_CAPTURE_REFUSALS {
        return (refused, false);
    }
    let last = match refused {
        Problem::Invalid(mut fields) => {
            for f in &mut fields {
                f.message = format!(
                    "{}; this was the {MAX_CAPTURE_REFUSALS}th selfie refused, so the verification has finished (PROCESS_RESULT_FAILED)",
                    f.message
                );
            }
            Problem::Invalid(fields)
        }
        other => other,
    };
    (last, true)
}

/// Processes (or links) whose capture is being handled right now.
#[derive(Default)]
pub struct InProgress(Mutex<HashSet<String>>);

/// Holds a process's capture slot until dropped: a second submission of the same journey
/// while the first is running gets 409 instead of racing it.
pub struct CaptureSlot<'a> {
    set: &'a InProgress,
    id: String,
}

impl InProgress {
    /// Claims the slot of `id`.
    pub fn claim(&self, id: &str) -> Result<CaptureSlot<'_>, Problem> {
        let mut set = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if !set.insert(id.to_string()) {
            return Err(Problem::NotFinished {
                reason: "this verification is being completed by another submission; if that one stalled, try again in a minute".into(),
            });
        }
        Ok(CaptureSlot {
            set: self,
            id: id.to_string(),
        })
    }
}

impl Drop for CaptureSlot<'_> {
    fn drop(&mut self) {
        self.set
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}
