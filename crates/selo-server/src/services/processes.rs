//! API-contract processes: create (validate → engines → store) and read.

use crate::auth::{Caller, Principal};
use crate::services::idempotency::Ticket;
use crate::services::store_failure;
use crate::state::AppState;
use selo_domain::capability::{Capabilities, Capability};
use selo_domain::image::CheckedImage;
use selo_domain::problem::{FieldProblem, Problem};
use selo_domain::process::{ProcessKind, ProcessRecord, effective_scenario};
use selo_domain::retention::Retention;
use selo_domain::scenario::ASYNC_COMPLETION_SECONDS;
use selo_domain::validation::{
    ValidCreate, ValidReference, is_transactional, is_uuid, validate_create,
};
use selo_domain::verification::{Decider, EngineSet, EngineSettings, distance};
use selo_store::StoredResponse;
use selo_store::blobs::{BlobKey, BlobOwner};
use selo_wire::analysis::ProcessAnalysis;
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

/// What the engines decided for a create: what its record and the store get.
pub struct Decision {
    kind: ProcessKind,
    /// Seconds after creation at which it finishes (`None`: at once).
    completes_after: Option<i64>,
    analysis: Option<ProcessAnalysis>,
    /// The selfie's face embedding (local engines only).
    face: Option<Vec<f32>>,
}

/// The tenant's engine settings (defaults when the tenant is gone: its key was just checked).
pub fn engine_settings(state: &AppState, tenant_id: &str) -> Result<EngineSettings, Problem> {
    Ok(state
        .shared
        .store
        .tenant(tenant_id)
        .map_err(store_failure)?
        .map(|t| t.engines)
        .unwrap_or_default())
}

/// Runs the tenant's engines on a validated create (CONTRACT §17): a §8 scenario, or the
/// local engines (gates, liveness, the identity base, the fraud search, 1:1). A selfie that
/// fails a gate answers 400 `20901` and nothing is stored.
pub async fn decide(
    state: &AppState,
    caller: &Caller,
    valid: &ValidCreate,
) -> Result<Decision, Problem> {
    let tenant = &caller.principal.tenant_id;
    let settings = engine_settings(state, tenant)?;
    let sandbox = state.env.is_sandbox();
    match valid {
        ValidCreate::Onboarding { subject, image } => {
            match settings.decider(subject.code.as_str(), sandbox) {
                Decider::Scenario(scenario) => {
                    let scenario = effective_scenario(scenario, &caller.capabilities);
                    Ok(Decision {
                        kind: ProcessKind::Onboarding { scenario },
                        completes_after: scenario.completes_after(),
                        analysis: None,
                        face: None,
                    })
                }
                Decider::Local => {
                    onboard_locally(state, caller, subject.code.as_str(), image, settings).await
                }
            }
        }
        ValidCreate::Transactional {
            references, image, ..
        } => match settings.effective(sandbox) {
            EngineSet::Scenarios => Ok(Decision {
                kind: ProcessKind::Transactional {
                    matched: scenario_match(state, tenant, references)?,
                },
                completes_after: None,
                analysis: None,
                face: None,
            }),
            EngineSet::Local => compare_locally(state, caller, references, image, settings).await,
        },
    }
}

/// An onboarding selfie through the local engines.
async fn onboard_locally(
    state: &AppState,
    caller: &Caller,
    code: &str,
    image: &CheckedImage,
    settings: EngineSettings,
) -> Result<Decision, Problem> {
    let asked = super::verify::Asked {
        fraud_search: caller.capabilities.has(Capability::BehaviorAlert),
        liveness: caller.capabilities.has(Capability::Liveness),
    };
    let judged = super::verify::judge(
        state,
        &caller.principal.tenant_id,
        code,
        image,
        asked,
        settings,
    )
    .await?;
    let (verdict, analysis) = (judged.verdict, judged.analysis);
    Ok(Decision {
        kind: ProcessKind::Local { verdict },
        // The behavior alert is asynchronous, as the contract's capability is (§8).
        completes_after: verdict.fraud_alert.map(|_| ASYNC_COMPLETION_SECONDS),
        analysis: Some(analysis),
        face: Some(judged.embedding),
    })
}

/// Most reference images one transactional create on the local engines may carry: each is a
/// full analysis.
pub const MAX_REFERENCE_IMAGES: usize = 5;

/// A transactional create through the local engines: `true` when the selfie's face is within
/// `accept` of every referenced process's face and every reference image's (and, for a key with
/// `liveness`, the selfie looks live). Problems are reported in schema order: references, then
/// the selfie.
async fn compare_locally(
    state: &AppState,
    caller: &Caller,
    references: &[ValidReference],
    image: &CheckedImage,
    settings: EngineSettings,
) -> Result<Decision, Problem> {
    let tenant = &caller.principal.tenant_id;
    let images = references
        .iter()
        .filter(|r| matches!(r, ValidReference::Image(_)))
        .count();
    if images > MAX_REFERENCE_IMAGES {
        return Err(Problem::Invalid(vec![FieldProblem::new(
            "references",
            FieldReason::TooLong,
            "20003",
            format!(
                "references holds {images} reference images; at most {MAX_REFERENCE_IMAGES} can be compared in one create (refer to earlier processes by id instead)"
            ),
        )]));
    }
    // Process references first: cheap, and no inference runs for a create they refuse.
    let now = state.now();
    let mut faces = Vec::with_capacity(references.len());
    let mut problems = Vec::new();
    for (i, r) in references.iter().enumerate() {
        if let ValidReference::ProcessId(pid) = r {
            match reference_face(state, tenant, pid, now)? {
                Some(face) => faces.push(face),
                None => problems.push(no_reference(i, pid, "has no face to compare with (no such process in your tenant, not decided by the local engines, or past its retention window)")),
            }
        }
    }
    let engines = &state.shared.engines;
    for (i, r) in references.iter().enumerate() {
        if let ValidReference::Image(reference) = r {
            let field = format!("references[{i}].referenceContent");
            match engines.analyse(reference, &field).await {
                Ok(r) => faces.push(r.embedding),
                Err(Problem::Invalid(mut p)) => problems.append(&mut p),
                Err(other) => return Err(other),
            }
        }
    }
    let selfie = match engines.analyse(image, "imageBase64").await {
        Ok(selfie) => selfie,
        Err(Problem::Invalid(mut p)) => {
            problems.append(&mut p);
            return Err(Problem::Invalid(problems));
        }
        Err(other) => return Err(other),
    };
    if !problems.is_empty() {
        return Err(Problem::Invalid(problems));
    }
    let thresholds = settings.thresholds();
    let farthest = faces
        .iter()
        .map(|face| distance(face, &selfie.embedding))
        .max_by(f32::total_cmp);
    let live_enough = selfie.live || !caller.capabilities.has(Capability::Liveness);
    let matched = live_enough && farthest.is_some_and(|d| thresholds.accepts(d));
    let mut analysis = selfie.analysis;
    analysis.matched = Some(crate::engines::match_result(
        faces.len(),
        farthest,
        thresholds,
    ));
    Ok(Decision {
        kind: ProcessKind::Transactional { matched },
        completes_after: None,
        analysis: Some(analysis),
        face: Some(selfie.embedding),
    })
}

/// The face of a referenced process, unless it is past the tenant's process window at `now`
/// (decided by the clock, not by whether the sweeper ran yet).
fn reference_face(
    state: &AppState,
    tenant: &str,
    pid: &str,
    now: i64,
) -> Result<Option<Vec<f32>>, Problem> {
    let store = &state.shared.store;
    let Some(process) = store.process(tenant, pid).map_err(store_failure)? else {
        return Ok(None);
    };
    let finished = process.completes_at.unwrap_or(process.created_at);
    if past_process_window(state, tenant, finished, now)?.is_some() {
        return Ok(None);
    }
    store.process_face(tenant, pid).map_err(store_failure)
}

/// A process reference that cannot be used (400 on its `referenceContent`).
fn no_reference(i: usize, pid: &str, why: &str) -> FieldProblem {
    let field = format!("references[{i}].referenceContent");
    FieldProblem::new(
        &field,
        FieldReason::Invalid,
        "20003",
        format!("{field}: process {pid} {why}"),
    )
}

/// The scenario engine's 1:1: every referenced process confirmed the identity.
fn scenario_match(
    state: &AppState,
    tenant: &str,
    references: &[ValidReference],
) -> Result<bool, Problem> {
    let now = state.now();
    let mut matched = true;
    let mut problems = Vec::new();
    for (i, r) in references.iter().enumerate() {
        if let ValidReference::ProcessId(pid) = r {
            match state
                .shared
                .store
                .process(tenant, pid)
                .map_err(store_failure)?
            {
                Some(p) => matched &= p.api_view(now).unico_id.is_some_and(|u| u.result == "yes"),
                None => problems.push(no_reference(i, pid, "is not a process of your tenant")),
            }
        }
    }
    if problems.is_empty() {
        Ok(matched)
    } else {
        Err(Problem::Invalid(problems))
    }
}

/// Stores a decided create (with its idempotency record, in one transaction) and returns the
/// response body: the process's first view as JSON bytes.
pub fn create(
    state: &AppState,
    caller: &Caller,
    valid: ValidCreate,
    decision: Decision,
    ticket: Option<&Ticket>,
) -> Result<Vec<u8>, Problem> {
    let (principal, caps) = (&caller.principal, &caller.capabilities);
    let now = state.now();
    let (image, client_reference) = match valid {
        ValidCreate::Onboarding { subject, image } => (image, subject.client_reference),
        ValidCreate::Transactional { subject, image, .. } => {
            (image, subject.and_then(|s| s.client_reference))
        }
    };
    let record = ProcessRecord {
        id: crate::ids::uuid_v4().to_string(),
        tenant_id: principal.tenant_id.clone(),
        created_at: now,
        kind: decision.kind,
        capabilities: *caps,
        client_reference,
        completes_at: decision.completes_after.map(|s| now + s),
        image_type: image.format.media_type().to_string(),
        analysis: decision.analysis,
    };
    state
        .shared
        .blobs
        .put(&selfie_key(&record).path(), &image.bytes)
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
    state
        .shared
        .store
        .insert_process(
            &record,
            decision.face.as_deref(),
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
pub fn selfie_key(p: &ProcessRecord) -> BlobKey {
    BlobKey::new(BlobOwner::Process, &p.tenant_id, &p.id)
}

/// `GET /processes/v1/{id}` of `record` (read for the caller's tenant): 400 malformed id, 404
/// absent or another tenant's, 410 past its window or status 5.
pub fn view(
    state: &AppState,
    principal: &Principal,
    id: &str,
    record: Result<Option<ProcessRecord>, selo_store::StoreError>,
) -> Result<ApiProcess, Problem> {
    let (record, now) = readable(state, principal, id, record)?;
    let view = record.api_view(now);
    if view.status == 5 {
        return Err(Problem::ProcessEndedInError { id: record.id });
    }
    Ok(view)
}

/// **[ext]** `GET /processes/v1/{id}/analysis` (CONTRACT §17): what ran and what it measured,
/// once the process finished (409 while it runs: the fraud search's answer is not out yet).
pub fn analysis(
    state: &AppState,
    principal: &Principal,
    id: &str,
    record: Result<Option<ProcessRecord>, selo_store::StoreError>,
) -> Result<ProcessAnalysis, Problem> {
    let (record, now) = readable(state, principal, id, record)?;
    if record.running_at(now) {
        return Err(Problem::NotFinished {
            reason: format!(
                "process {} is still running (status 1); ask for its analysis once GET /processes/v1/{} answers status 3",
                record.id, record.id
            ),
        });
    }
    Ok(record.analysis())
}

/// A process the caller may read at `now`: 400 malformed id, 404 absent or another tenant's,
/// 410 past the tenant's process window.
fn readable(
    state: &AppState,
    principal: &Principal,
    id: &str,
    record: Result<Option<ProcessRecord>, selo_store::StoreError>,
) -> Result<(ProcessRecord, i64), Problem> {
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
    Ok((record, now))
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
