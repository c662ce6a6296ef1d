//! **[ext]** The identity base over HTTP (CONTRACT §17): `POST /identities/v1` and
//! `DELETE /identities/v1/{code}`, for API keys with the `enroll` capability.

use crate::auth::Caller;
use crate::services::store_failure;
use crate::state::AppState;
use selo_domain::capability::Capability;
use selo_domain::person_code::parse_person_code;
use selo_domain::problem::{FieldProblem, Problem};
use selo_domain::validation::validate_enrolment;
use selo_store::faces::{Enrolment, MAX_FACES_PER_IDENTITY};
use selo_wire::analysis::Enrolled;
use selo_wire::error::FieldReason;
use serde_json::Value;

/// 403 unless the key has `enroll`.
pub fn check_capability(caller: &Caller) -> Result<(), Problem> {
    if caller.capabilities.has(Capability::Enroll) {
        Ok(())
    } else {
        Err(Problem::Forbidden {
            reason: "the identity base needs an API key with the 'enroll' capability".into(),
        })
    }
}

/// Enrols the face of a body `{"code", "imageBase64"}`: the image checks and the gates of a
/// create, then the face is added under the code.
pub async fn enroll(state: &AppState, caller: &Caller, body: Value) -> Result<Enrolled, Problem> {
    let valid = super::decode_off_workers(state, move || validate_enrolment(&body)).await??;
    let selfie = state
        .shared
        .engines
        .analyse(&valid.image, "imageBase64")
        .await?;
    let code = valid.code.as_str();
    let enrolment = tokio::task::block_in_place(|| {
        state.shared.store.enroll(
            &caller.principal.tenant_id,
            code,
            &[selfie.embedding],
            state.now(),
        )
    })
    .map_err(store_failure)?;
    match enrolment {
        Enrolment::Enrolled(faces) => Ok(Enrolled {
            code: code.to_string(),
            faces,
        }),
        Enrolment::Full(_) => Err(Problem::Invalid(vec![FieldProblem::new(
            "code",
            FieldReason::Invalid,
            "20003",
            format!(
                "code {code} already holds {MAX_FACES_PER_IDENTITY} faces, the most one identity may hold; remove it (DELETE /identities/v1/{code}) and enrol again"
            ),
        )])),
    }
}

/// Erases the faces enrolled under `code` (LGPD). Answers 204 whether or not there were any,
/// so that a retried delete is not an error.
pub fn remove(state: &AppState, caller: &Caller, code: &str) -> Result<(), Problem> {
    let code = parse_person_code(code).ok_or_else(|| Problem::BadPathParameter {
        reason: format!(
            "'{code}' is not a valid CPF (11 digits, no dots or dashes) or CURP (18 characters)"
        ),
    })?;
    let removed = state
        .shared
        .store
        .remove_identity(&caller.principal.tenant_id, code.as_str())
        .map_err(store_failure)?;
    tracing::info!(faces = removed, "identity removed");
    Ok(())
}
