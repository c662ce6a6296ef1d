//! Magic Link use cases (CONTRACT §7): create, read, and the journey's capture.

use crate::services::capture;
use crate::services::idempotency::Ticket;
use crate::services::store_failure;
use crate::state::AppState;
use selo_domain::clock::rfc3339_millis;
use selo_domain::magic_link::{LinkCapture, MagicLinkRecord, envelope, validate_create};
use selo_domain::person_code::{PersonCode, parse_person_code};
use selo_domain::problem::Problem;
use selo_domain::validation::is_uuid;
use selo_domain::verification::CaptureDecision;
use selo_store::StoredResponse;
use selo_store::blobs::{BlobKey, BlobOwner};
use serde_json::Value;

/// The journey page of a link.
pub fn link_url(state: &AppState, token: &str) -> String {
    format!("{}/link/v2/{token}", state.env.public_url)
}

/// `request_date` in the contract's form (`2025-07-28T18:11:54+0000`).
fn request_date(state: &AppState) -> String {
    state
        .shared
        .clock
        .now()
        .format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]+0000"
        ))
        .unwrap_or_default()
}

/// The envelope of a link.
pub fn view(state: &AppState, link: &MagicLinkRecord, request: Value) -> Value {
    envelope(
        link.data(&link_url(state, &link.token)),
        request,
        &request_date(state),
    )
}

/// Creates a link and returns the response body bytes.
pub fn create(
    state: &AppState,
    tenant_id: &str,
    body: &Value,
    ticket: Option<&Ticket>,
) -> Result<Vec<u8>, Problem> {
    let (external_id, metadata) = validate_create(body)?;
    let now = state.shared.clock.now();
    let link = MagicLinkRecord {
        token: uuid::Uuid::new_v4().to_string(),
        tenant_id: tenant_id.to_string(),
        external_id,
        metadata,
        created_on: now
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|_| rfc3339_millis(now)),
        request: body.clone(),
        capture: None,
        scrubbed: false,
    };
    let stored = StoredResponse {
        status: 200,
        content_type: "application/json".into(),
        body: serde_json::to_vec(&view(state, &link, body.clone()))
            .map_err(|_| Problem::Internal)?,
    };
    let expires = state.now() + state.shared.idempotency_retention.as_secs() as i64;
    state
        .shared
        .store
        .insert_magic_link(&link, ticket.map(|t| t.completion(&stored, expires)))
        .map_err(store_failure)?;
    Ok(stored.body)
}

/// A link of the tenant (404 otherwise).
pub fn load(state: &AppState, tenant_id: &str, token: &str) -> Result<MagicLinkRecord, Problem> {
    let not_found = || Problem::NotFound {
        what: format!("magic link {token}"),
    };
    if !is_uuid(token) {
        return Err(not_found());
    }
    state
        .shared
        .store
        .magic_link(tenant_id, &token.to_ascii_lowercase())
        .map_err(store_failure)?
        .ok_or_else(not_found)
}

/// The link a journey URL names, when it belongs to this listener's environment.
pub fn journey_link(state: &AppState, token: &str) -> Result<Option<MagicLinkRecord>, Problem> {
    if !is_uuid(token) {
        return Ok(None);
    }
    let link = state
        .shared
        .store
        .magic_link_by_token(&token.to_ascii_lowercase())
        .map_err(store_failure)?;
    match link {
        Some(link) if super::in_this_environment(state, &link.tenant_id)? => Ok(Some(link)),
        _ => Ok(None),
    }
}

fn used() -> Problem {
    Problem::NotFinished {
        reason: "this link was already used; a new verification needs a new link".into(),
    }
}

/// The link when it still takes a capture: 404 unknown (or another environment's), 409 used,
/// 410 once its personal data were forgotten (past its window).
fn open_link(state: &AppState, token: &str) -> Result<MagicLinkRecord, Problem> {
    let link = journey_link(state, token)?.ok_or_else(|| Problem::NotFound {
        what: "journey: magic link".into(),
    })?;
    if link.capture.is_some() {
        return Err(used());
    }
    if link.scrubbed {
        return Err(Problem::RetentionExpired {
            reason:
                "this link expired under the retention policy; a new verification needs a new link"
                    .into(),
        });
    }
    Ok(link)
}

/// The journey's capture of a link (see [`crate::services::capture::receive`] for the order of
/// checks): the link token in the path authenticates before the body is read; single use; the
/// same image checks and engines; a sandbox CPF in `external_id` picks the scenario.
pub async fn capture(
    state: &AppState,
    notes: &crate::http::context::Annotations,
    token: &str,
    body: axum::body::Body,
) -> Result<MagicLinkRecord, Problem> {
    let received = crate::services::capture::receive(
        state,
        notes,
        &token.to_ascii_lowercase(),
        || open_link(state, token),
        |link| &link.tenant_id,
        body,
    )
    .await?;
    let link = &received.record;
    let code = link.external_id.as_deref().and_then(parse_person_code);
    let judgement = capture::judge(
        state,
        &link.tenant_id,
        code.as_ref().map(PersonCode::as_str),
        &received.image,
    )
    .await?;
    let mut done = link.clone();
    let now = state.now();
    // Refused: used meanwhile (409), or forgotten meanwhile (410), as the link says now.
    let gone = || open_link(state, token).err().unwrap_or_else(used);
    let commit = |done: &MagicLinkRecord| {
        state
            .shared
            .store
            .complete_magic_link(done)
            .map_err(store_failure)
    };
    let decision = match judgement {
        capture::Judgement::Decided(decision) => decision,
        capture::Judgement::Refused(refused) => {
            return Err(capture::refuse(
                refused,
                || {
                    let store = &state.shared.store;
                    store
                        .refuse_link_capture(&link.token)
                        .map_err(store_failure)
                },
                || {
                    done.capture = Some(LinkCapture {
                        at: now,
                        decision: CaptureDecision::refused(),
                        image_type: String::new(),
                    });
                    commit(&done)
                },
                gone,
            ));
        }
    };
    done.capture = Some(LinkCapture {
        at: now,
        decision,
        image_type: received.image.format.media_type().to_string(),
    });
    capture::store_selfie(
        state,
        &BlobKey::new(BlobOwner::MagicLink, &done.tenant_id, &done.token),
        &received.image.bytes,
        || commit(&done),
        gone,
    )?;
    Ok(done)
}
