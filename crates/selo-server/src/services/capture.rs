//! The journey's capture step shared by the Web & SDK and Magic Link journeys: the selfie in a
//! capture body, checked like the API contract's (CONTRACT §5), off the async workers.

use crate::state::AppState;
use selo_domain::image::{CheckedImage, check_image_base64};
use selo_domain::problem::{FieldProblem, Problem};
use selo_domain::validation::image_problem_code;
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
    key: &str,
    bytes: &[u8],
    commit: impl FnOnce() -> Result<bool, Problem>,
    refused: impl FnOnce() -> Problem,
) -> Result<(), Problem> {
    state
        .shared
        .blobs
        .put(key, bytes)
        .map_err(crate::services::blob_failure)?;
    match commit() {
        Ok(true) => Ok(()),
        outcome => {
            if let Err(e) = state.shared.blobs.delete(key) {
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
