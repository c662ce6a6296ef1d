//! API-contract processes: create (validate → engines → store) and read.

use crate::auth::{Caller, Principal};
use crate::services::idempotency::Ticket;
use crate::services::store_failure;
use crate::state::AppState;
use selo_domain::capability::{Capabilities, Capability};
use selo_domain::problem::{FieldProblem, Problem};
use selo_domain::process::{ProcessKind, ProcessRecord, effective_scenario};
use selo_domain::retention::Retention;
use selo_domain::scenario::Scenario;
use selo_domain::validation::{
    ValidCreate, ValidReference, is_transactional, is_uuid, validate_create,
};
use selo_store::StoredResponse;
use selo_wire::error::FieldReason;
use selo_wire::process::{ApiProcess, ProcessList};
use serde_json::Value;

/// The capability check of a create (403 before 400): onboarding needs `identity` or
/// `liveness`, a transactional body needs `validation`.
pub fn check_create_capability(body: Option<&Value>, caps: &Capabilities) -> Result<(), Problem> {
    if body.is_some_and(is_transactional) {
        if !caps.has(Capability::Validation) {
            return Err(Problem::Forbidden {
                reason: "a transactional (references) create needs an API key with the 'validation' capability".into(),
            });
        }
    } else if !caps.has(Capability::Identity) && !caps.has(Capability::Liveness) {
        return Err(Problem::Forbidden {
            reason:
                "creating a process needs an API key with the 'identity' or 'liveness' capability"
                    .into(),
        });
    }
    Ok(())
}

/// Validates a create body completely (CPU-heavy: decodes the image). Runs off the async
/// workers.
pub async fn validate(state: &AppState, body: Value) -> Result<ValidCreate, Problem> {
    super::decode_off_workers(state, move || validate_create(&body)).await?
}

/// Stores a validated create (with its idempotency record, in one transaction) and returns the
/// response body: the process's first view as JSON bytes.
pub fn create(
    state: &AppState,
    caller: &Caller,
    valid: ValidCreate,
    ticket: Option<&Ticket>,
) -> Result<Vec<u8>, Problem> {
    let (principal, caps) = (&caller.principal, &caller.capabilities);
    let store = &state.shared.store;
    let now = state.now();
    let id = crate::ids::uuid_v4().to_string();
    let (kind, image, client_reference, completes_at) = match valid {
        ValidCreate::Onboarding { subject, image } => {
            let scenario = effective_scenario(
                Scenario::for_person(subject.code.as_str(), state.env.is_sandbox()),
                caps,
            );
            (
                ProcessKind::Onboarding { scenario },
                image,
                subject.client_reference,
                scenario.completes_after().map(|s| now + s),
            )
        }
        ValidCreate::Transactional {
            references,
            subject,
            image,
        } => {
            let mut matched = true;
            let mut problems = Vec::new();
            for (i, r) in references.iter().enumerate() {
                if let ValidReference::ProcessId(pid) = r {
                    match store
                        .process(&principal.tenant_id, pid)
                        .map_err(store_failure)?
                    {
                        Some(p) => {
                            matched &= p.api_view(now).unico_id.is_some_and(|u| u.result == "yes")
                        }
                        None => problems.push(FieldProblem::new(
                            format!("references[{i}].referenceContent"),
                            FieldReason::Invalid,
                            "20003",
                            format!(
                                "references[{i}].referenceContent: no process {pid} in your tenant"
                            ),
                        )),
                    }
                }
            }
            if !problems.is_empty() {
                return Err(Problem::Invalid(problems));
            }
            (
                ProcessKind::Transactional { matched },
                image,
                subject.and_then(|s| s.client_reference),
                None,
            )
        }
    };
    let record = ProcessRecord {
        id: id.clone(),
        tenant_id: principal.tenant_id.clone(),
        created_at: now,
        kind,
        capabilities: caps.names(),
        client_reference,
        completes_at,
        image_type: image.format.media_type().to_string(),
    };
    state
        .shared
        .blobs
        .put(&selfie_key(&record), &image.bytes)
        .map_err(crate::services::blob_failure)?;
    let body = serde_json::to_vec(&record.api_view(now)).map_err(|e| {
        tracing::error!(error = %e, "serializing a process failed");
        Problem::Internal
    })?;
    let stored = StoredResponse {
        status: 200,
        content_type: "application/json".into(),
        body,
    };
    let expires_at = now + state.shared.idempotency_retention.as_secs() as i64;
    store
        .insert_process(
            &record,
            ticket.map(|t| t.completion(&stored, expires_at)),
            crate::webhooks::api_event(&record, now).as_ref(),
        )
        .map_err(store_failure)?;
    if let Some(at) = record.completes_at {
        // Its event is written when it finishes, not at the next periodic sweep.
        state.shared.finishing.note(at);
    }
    Ok(stored.body)
}

/// Where a process's selfie lives in the blob store.
pub fn selfie_key(p: &ProcessRecord) -> String {
    format!("{}/{}.selfie", p.tenant_id, p.id)
}

/// `GET /processes/v1/{id}` of `record` (read for the caller's tenant): 400 malformed id, 404
/// absent or another tenant's, 410 status 5.
pub fn view(
    state: &AppState,
    principal: &Principal,
    id: &str,
    record: Result<Option<ProcessRecord>, selo_store::StoreError>,
) -> Result<ApiProcess, Problem> {
    if !is_uuid(id) {
        return Err(Problem::BadPathParameter {
            reason: format!("processId '{id}' is not a valid process id (a UUID)"),
        });
    }
    let id = id.to_ascii_lowercase();
    let record = record
        .map_err(store_failure)?
        .ok_or_else(|| Problem::NotFound {
            what: format!("process {id}"),
        })?;
    let now = state.now();
    let finished = record.completes_at.unwrap_or(record.created_at);
    if let Some(window) = past_process_window(state, &principal.tenant_id, finished, now)? {
        return Err(Problem::RetentionExpired {
            reason: format!(
                "process {id} was deleted under the retention policy (finished processes are kept {})",
                Retention::describe(window)
            ),
        });
    }
    let view = record.api_view(now);
    if view.status == 5 {
        return Err(Problem::ProcessEndedInError { id });
    }
    Ok(view)
}

/// The tenant's process window when a process that finished at `finished` is past it at
/// `now` (the tenant is read only for processes older than the shortest allowed window).
pub fn past_process_window(
    state: &AppState,
    tenant_id: &str,
    finished: i64,
    now: i64,
) -> Result<Option<i64>, Problem> {
    if now < finished + selo_domain::retention::MIN_PROCESS_WINDOW {
        return Ok(None);
    }
    let window = state
        .shared
        .store
        .tenant(tenant_id)
        .map_err(store_failure)?
        .map_or(Retention::default().process, |t| t.retention.process);
    Ok((now >= finished + window).then_some(window))
}

/// Most processes one lookup returns.
pub const LOOKUP_LIMIT: usize = 50;

/// **[ext]** The caller's processes with `clientReference`, newest first, at most 50.
pub fn find(
    state: &AppState,
    principal: &Principal,
    reference: Option<&str>,
) -> Result<ProcessList, Problem> {
    let reference = reference.filter(|r| !r.is_empty()).ok_or_else(|| {
        Problem::Invalid(vec![FieldProblem::new(
            "clientReference",
            FieldReason::Required,
            "20003",
            "clientReference is required: GET /processes/v1?clientReference=<your reference>",
        )])
    })?;
    let now = state.now();
    let items = state
        .shared
        .store
        .processes_by_reference(&principal.tenant_id, reference, LOOKUP_LIMIT)
        .map_err(store_failure)?
        .iter()
        .map(|p| p.api_view(now))
        .collect();
    Ok(ProcessList { items })
}
