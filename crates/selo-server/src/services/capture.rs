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
                reason: "this verification is being completed by another submission".into(),
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
