//! The Web & SDK contract's use cases (CONTRACT §6): create, read, look up, the journey's
//! capture, and the selfie.

use crate::auth::Principal;
use crate::services::capture;
use crate::services::idempotency::Ticket;
use crate::services::store_failure;
use crate::state::AppState;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use selo_domain::problem::{FieldProblem, Problem};
use selo_domain::validation::is_uuid;
use selo_domain::verification::CaptureDecision;
use selo_domain::web::{WebCapture, WebCreate, WebProcessRecord, WebState};
use selo_store::blobs::{BlobKey, BlobOwner};
use selo_store::{StoredResponse, Tenant};
use selo_wire::analysis::ProcessAnalysis;
use serde_json::{Value, json};

/// The journey page of a process.
pub fn journey_url(state: &AppState, p: &WebProcessRecord) -> String {
    format!(
        "{}/journey/{}?token={}",
        state.env.public_url, p.id, p.token
    )
}

/// `{"process": …}` at now.
pub fn envelope(state: &AppState, p: &WebProcessRecord) -> Value {
    json!({"process": p.view(state.now(), &journey_url(state, p))})
}

/// The caller's tenant, for its flow and permission settings.
pub fn tenant(state: &AppState, principal: &Principal) -> Result<Tenant, Problem> {
    state
        .shared
        .store
        .tenant(&principal.tenant_id)
        .map_err(store_failure)?
        .ok_or(Problem::Internal)
}

/// 403 `7` when the tenant has not enabled `flow` (a new tenant has every flow).
pub fn check_flow(tenant: &Tenant, body: &Value) -> Result<(), Problem> {
    let Some(flow) = body.get("flow").and_then(Value::as_str) else {
        return Ok(());
    };
    match &tenant.flows {
        Some(flows)
            if selo_domain::web::FLOWS.contains(&flow) && !flows.iter().any(|f| f == flow) =>
        {
            Err(Problem::Forbidden {
                reason: format!(
                    "the flow '{flow}' is not enabled for this tenant (enable it with `selo admin tenant set-flows`)"
                ),
            })
        }
        _ => Ok(()),
    }
}

/// Stores a validated create and returns the response body bytes.
pub fn create(
    state: &AppState,
    principal: &Principal,
    valid: WebCreate,
    ticket: Option<&Ticket>,
) -> Result<Vec<u8>, Problem> {
    let now = state.now();
    let mut token = [0u8; 24];
    aws_lc_rs::rand::fill(&mut token).map_err(|_| Problem::Internal)?;
    let record = WebProcessRecord {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: principal.tenant_id.clone(),
        created_at: now,
        expires_at: now + valid.expires_in,
        flow: valid.flow,
        purpose: valid.purpose,
        callback_uri: valid.callback_uri,
        person: valid.person,
        client_reference: valid.client_reference,
        token: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token),
        capture: None,
    };
    let stored = StoredResponse {
        status: 200,
        content_type: "application/json".into(),
        body: serde_json::to_vec(&envelope(state, &record)).map_err(|_| Problem::Internal)?,
    };
    let expires = now + state.shared.idempotency_retention.as_secs() as i64;
    state
        .shared
        .store
        .insert_web_process(&record, ticket.map(|t| t.completion(&stored, expires)))
        .map_err(store_failure)?;
    // An expiry's event is written when it expires, not at the next periodic sweep.
    state.shared.finishing.note(record.expires_at);
    Ok(stored.body)
}

fn bad_id(id: &str) -> Problem {
    Problem::BadPathParameter {
        reason: format!("process id is invalid: '{id}' is not a UUID"),
    }
}

/// A process of the caller's tenant: 400 `3` for a malformed id, 404 `5` otherwise.
pub fn load(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<WebProcessRecord, Problem> {
    if !is_uuid(id) {
        return Err(bad_id(id));
    }
    let not_found = || Problem::NotFound {
        what: "error getting process: rpc error: code = NotFound desc = process".into(),
    };
    let p = state
        .shared
        .store
        .web_process(&principal.tenant_id, &id.to_ascii_lowercase())
        .map_err(store_failure)?
        .ok_or_else(not_found)?;
    // Past the 90-day retention the Web & SDK contract answers 404 (CONTRACT §9).
    let now = state.now();
    match p.finished_at(now) {
        Some(f)
            if crate::services::processes::past_process_window(state, &p.tenant_id, f, now)?
                .is_some() =>
        {
            Err(not_found())
        }
        _ => Ok(p),
    }
}

/// The capture of a finished process whose `kind` document (`selfie`, `evidenceset`) the tenant
/// may fetch and whose retention window (`keep` seconds after the capture) is still open:
/// 403 without the permission, 409 before finished and when it ended without a capture (the
/// process exists; it never reached a state with one), 410 after the window.
fn finished_capture<'a>(
    state: &AppState,
    tenant: &Tenant,
    p: &'a WebProcessRecord,
    kind: &str,
    keep: i64,
) -> Result<&'a selo_domain::web::WebCapture, Problem> {
    require_permission(tenant, kind)?;
    let now = state.now();
    let capture = match (p.state_at(now), &p.capture) {
        (WebState::Finished(_), Some(c)) => c,
        (WebState::Created, _) => {
            return Err(Problem::NotFinished {
                reason: format!(
                    "the process has not finished yet: the person has not completed the journey, so there is no {kind}"
                ),
            });
        }
        (state, _) => {
            let how = match state {
                WebState::Finished("EXPIRED") => "expired before the person completed the journey",
                _ => "ended without a capture",
            };
            return Err(Problem::NotFinished {
                reason: format!("the process {how}, so it has no {kind}; create a new process"),
            });
        }
    };
    let deleted_at = capture.at + keep;
    if now >= deleted_at {
        let at = time::OffsetDateTime::from_unix_timestamp(deleted_at)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        return Err(Problem::RetentionExpired {
            reason: format!(
                "the {kind} was deleted under the retention policy (kept {} after the process finished) at {}",
                selo_domain::retention::Retention::describe(keep),
                selo_domain::clock::rfc3339_millis(at)
            ),
        });
    }
    Ok(capture)
}

/// 403 `7` unless the tenant holds the Web & SDK permission `kind` (`selfie`, `evidenceset`).
pub fn require_permission(tenant: &Tenant, kind: &str) -> Result<(), Problem> {
    if tenant
        .permissions
        .as_ref()
        .is_some_and(|ps| !ps.iter().any(|x| x == kind))
    {
        return Err(Problem::Forbidden {
            reason: format!(
                "no permission: the {kind} permission is off for this tenant (`selo admin tenant set-permissions`)"
            ),
        });
    }
    Ok(())
}

/// The stored selfie (`None` once the sweeper deleted it).
fn read_selfie(state: &AppState, p: &WebProcessRecord) -> Result<Option<Vec<u8>>, Problem> {
    state.shared.blobs.get(&selfie_key(p).path()).map_err(|e| {
        tracing::error!(error = %e, "reading a selfie failed");
        Problem::Internal
    })
}

/// **[ext]** What the engines measured for a process's capture (409 before the person
/// completed the journey).
pub fn analysis(p: &WebProcessRecord) -> Result<ProcessAnalysis, Problem> {
    let capture = p.capture.as_ref().ok_or_else(|| Problem::NotFinished {
        reason: "the person has not completed the journey, so nothing was analysed yet".into(),
    })?;
    if capture.decision.is_refused() {
        return Err(Problem::NotFinished {
            reason: "the journey refused every selfie it was sent at the quality gates (each refusal named its gate), so no selfie reached a verdict to explain".into(),
        });
    }
    Ok(capture
        .decision
        .analysis
        .clone()
        .unwrap_or_else(ProcessAnalysis::scenario))
}

/// `GET /client/v1/process/{id}/selfie`: the capture, for the tenant's selfie window (8 hours
/// by default) after it.
pub fn selfie(state: &AppState, tenant: &Tenant, p: &WebProcessRecord) -> Result<Value, Problem> {
    let capture = finished_capture(state, tenant, p, "selfie", tenant.retention.selfie)?;
    if capture.decision.is_refused() {
        return Err(Problem::NotFinished {
            reason: "the journey refused every selfie it was sent (the quality gates), so none was kept; create a new process".into(),
        });
    }
    let bytes = read_selfie(state, p)?.ok_or(Problem::Internal)?;
    Ok(json!({"fileContents": STANDARD.encode(bytes), "contentType": capture.image_type}))
}

/// `GET /client/v1/process/{id}/evidenceset`: a PDF of the evidence, for the tenant's evidence
/// window (2 hours by default) after the capture.
pub fn evidence_set(
    state: &AppState,
    tenant: &Tenant,
    p: &WebProcessRecord,
) -> Result<Value, Problem> {
    finished_capture(state, tenant, p, "evidenceset", tenant.retention.evidence)?;
    // A tenant may keep evidence sets longer than selfies: without the selfie the PDF says so.
    let bytes = read_selfie(state, p)?.unwrap_or_default();
    // The selfie was checked when it arrived: its header is enough (no decode here).
    let image = selo_domain::image::header_info(&bytes);
    let now = state.shared.clock.now();
    let url = journey_url(state, p);
    let view = p.view(now.unix_timestamp(), &url);
    // The journey link without its token: the evidence must not carry a credential.
    let url = format!("{}/journey/{}", state.env.public_url, p.id);
    let pdf = selo_domain::evidence::evidence_pdf(&selo_domain::evidence::Evidence {
        process: p,
        view: &view,
        tenant_name: &tenant.name,
        authentication_url: &url,
        selfie: image.map(|(format, width, height)| (bytes.as_slice(), format, width, height)),
        generated_at: &selo_domain::clock::rfc3339_millis(now),
        client: None,
    });
    Ok(json!({"fileContents": STANDARD.encode(pdf), "contentType": "application/pdf"}))
}

/// `POST /client/v1/process/{id}/document`: sets the document of a process created without
/// one, once (400 `3` otherwise).
pub fn set_document(
    state: &AppState,
    principal: &Principal,
    id: &str,
    body: &Value,
) -> Result<Value, Problem> {
    let mut p = load(state, principal, id)?;
    let (dui_type, dui_value) = selo_domain::web::validate_document(body)?;
    let already = || {
        Problem::Invalid(vec![FieldProblem::new(
            "duiValue",
            selo_wire::error::FieldReason::Invalid,
            "3",
            "invalid process state: the document of this process is already set and cannot change",
        )])
    };
    if !p.awaiting_document() || p.state_at(state.now()) != WebState::Created {
        return Err(already());
    }
    p.person.dui_type = dui_type;
    p.person.dui_value = dui_value;
    if !state
        .shared
        .store
        .set_web_document(&p)
        .map_err(store_failure)?
    {
        return Err(already());
    }
    Ok(
        json!({"process": {"id": p.id, "person": {"duiType": p.person.dui_type, "duiValue": p.person.dui_value}}}),
    )
}

/// Where a Web & SDK process's selfie lives.
pub fn selfie_key(p: &WebProcessRecord) -> BlobKey {
    BlobKey::new(BlobOwner::WebProcess, &p.tenant_id, &p.id)
}

/// The header that carries a journey's process token to its capture route (checked before the
/// body is read).
pub const JOURNEY_TOKEN_HEADER: &str = "selo-journey-token";

/// The process a journey URL names, when `token` is its token and it belongs to this listener's
/// environment.
pub fn journey_process(
    state: &AppState,
    id: &str,
    token: &str,
) -> Result<Option<WebProcessRecord>, Problem> {
    if !is_uuid(id) {
        return Ok(None);
    }
    let Some(p) = state
        .shared
        .store
        .web_process_by_id(&id.to_ascii_lowercase())
        .map_err(store_failure)?
    else {
        return Ok(None);
    };
    let token_matches = bool::from(subtle::ConstantTimeEq::ct_eq(
        token.as_bytes(),
        p.token.as_bytes(),
    ));
    Ok((token_matches && super::in_this_environment(state, &p.tenant_id)?).then_some(p))
}

/// The journey's process when it still takes a capture: 404 for an unknown id or a wrong
/// token (or another environment's), 409 when it waits for its document or was completed, 410
/// once it expired.
fn open_journey(state: &AppState, id: &str, token: &str) -> Result<WebProcessRecord, Problem> {
    let p = journey_process(state, id, token)?.ok_or_else(|| Problem::NotFound {
        what: "journey: process (or its token)".into(),
    })?;
    if p.awaiting_document() {
        return Err(Problem::NotFinished {
            reason: "this verification is waiting for the person's document; the company must set it first (POST /client/v1/process/{id}/document)".into(),
        });
    }
    match p.state_at(state.now()) {
        WebState::Created => Ok(p),
        WebState::Finished("EXPIRED") => Err(expired()),
        _ => Err(completed()),
    }
}

fn expired() -> Problem {
    Problem::RetentionExpired {
        reason: "this verification link expired; ask for a new one".into(),
    }
}

fn completed() -> Problem {
    Problem::NotFinished {
        reason: "this verification was already completed".into(),
    }
}

/// The journey's capture (see [`crate::services::capture::receive`] for the order of checks):
/// the process token (from the header or URL) authenticates before the body is read; the image
/// runs through the same checks and engines as the API contract.
pub async fn capture(
    state: &AppState,
    notes: &crate::http::context::Annotations,
    id: &str,
    token: &str,
    body: axum::body::Body,
) -> Result<WebProcessRecord, Problem> {
    if !is_uuid(id) {
        return Err(bad_id(id));
    }
    let received = crate::services::capture::receive(
        state,
        notes,
        &id.to_ascii_lowercase(),
        || open_journey(state, id, token),
        |p| &p.tenant_id,
        body,
    )
    .await?;
    let p = &received.record;
    let judgement = capture::judge(
        state,
        &p.tenant_id,
        Some(&p.person.dui_value),
        &received.image,
    )
    .await?;
    let mut done = p.clone();
    // The capture counts at commit time: if the process expired meanwhile, the store refuses it.
    let now = state.now();
    let gone = || {
        if now >= p.expires_at {
            expired()
        } else {
            completed()
        }
    };
    let commit = |done: &WebProcessRecord| {
        let event = crate::webhooks::web_event(done, now);
        state
            .shared
            .store
            .complete_web_process(done, event.as_ref())
            .map_err(store_failure)
    };
    let decision = match judgement {
        capture::Judgement::Decided(decision) => decision,
        capture::Judgement::Refused(refused) => {
            return Err(capture::refuse(
                refused,
                || {
                    let store = &state.shared.store;
                    store.refuse_web_capture(&p.id, now).map_err(store_failure)
                },
                || {
                    done.capture = Some(WebCapture {
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
    done.capture = Some(WebCapture {
        at: now,
        decision,
        image_type: received.image.format.media_type().to_string(),
    });
    capture::store_selfie(
        state,
        &selfie_key(&done),
        &received.image.bytes,
        || commit(&done),
        gone,
    )?;
    Ok(done)
}
