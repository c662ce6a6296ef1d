//! `Idempotency-Key` on creates (CONTRACT §11): the same key and body replay the stored
//! response byte for byte; another body is 422; a request still running is 409. Only 2xx
//! responses are kept — written in the same transaction as the process they created.

use crate::services::store_failure;
use crate::state::AppState;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use selo_domain::problem::{FieldProblem, Problem};
use selo_store::{IdempotencyBegin, IdempotencyCompletion, IdempotencyScope, StoredResponse};
use selo_wire::error::FieldReason;

/// The route scope of `POST /processes/v1`.
pub const CREATE_PROCESS: &str = "POST /processes/v1";
/// The route scope of `POST /v2/magic-link`.
pub const CREATE_MAGIC_LINK: &str = "POST /v2/magic-link";
/// The route scope of `POST /client/v1/process`.
pub const CREATE_WEB_PROCESS: &str = "POST /client/v1/process";
/// For a create sent without an `Idempotency-Key` (`route` as the router matched it, the
/// method a POST): how the client finds out whether it took effect after a 5xx. `None` for
/// every other route.
pub fn blind_create_lookup(route: &str) -> Option<&'static str> {
    let is = |scope: &str| scope.strip_prefix("POST ") == Some(route);
    if is(CREATE_PROCESS) {
        Some("look it up with GET /processes/v1?clientReference=<the clientReference you sent>")
    } else if is(CREATE_WEB_PROCESS) {
        Some(
            "look it up with GET /client/v1/process?clientReference=<the clientReference you sent>",
        )
    } else if is(CREATE_MAGIC_LINK) {
        Some(
            "a link may already exist for this request (Magic Link has no lookup; with an Idempotency-Key a retry answers the same link)",
        )
    } else {
        None
    }
}

/// Longest accepted key.
pub const MAX_KEY_LEN: usize = 255;

/// A request running under an idempotency key.
pub struct Ticket {
    tenant_id: String,
    route: &'static str,
    key: String,
}

impl Ticket {
    fn scope(&self) -> IdempotencyScope<'_> {
        IdempotencyScope {
            tenant_id: &self.tenant_id,
            route: self.route,
            key: &self.key,
        }
    }

    /// The completion to commit with the created resource.
    pub fn completion<'a>(
        &'a self,
        response: &'a StoredResponse,
        expires_at: i64,
    ) -> IdempotencyCompletion<'a> {
        IdempotencyCompletion {
            scope: self.scope(),
            response,
            expires_at,
        }
    }
}

/// What to do with a create.
pub enum Start {
    /// Run it (under this ticket when a key was sent).
    Run(Option<Ticket>),
    /// Answer with the first request's response.
    Replay(StoredResponse),
}

fn key_from(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let bad = |reason: FieldReason, why: &str| {
        Problem::Invalid(vec![FieldProblem::new(
            "Idempotency-Key",
            reason,
            "20003",
            format!("the Idempotency-Key header {why}"),
        )])
    };
    let bytes = value.as_bytes();
    if bytes.len() > MAX_KEY_LEN {
        return Err(bad(FieldReason::TooLong, "is longer than 255 characters"));
    }
    if bytes.is_empty() || !bytes.iter().all(|b| (0x20..=0x7e).contains(b)) {
        return Err(bad(
            FieldReason::Invalid,
            "must be 1-255 printable ASCII characters (a UUID is a good key)",
        ));
    }
    Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
}

/// Checks the key (if any) of a create whose raw body is `body`.
pub fn begin(
    state: &AppState,
    tenant_id: &str,
    route: &'static str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Start, Problem> {
    let Some(key) = key_from(headers)? else {
        return Ok(Start::Run(None));
    };
    let ticket = Ticket {
        tenant_id: tenant_id.to_string(),
        route,
        key,
    };
    let now = state.now();
    let lease_until = now + state.shared.request_timeout.as_secs() as i64 + 30;
    let hash = crate::auth::sha256(body);
    match state
        .shared
        .store
        .idempotency_begin(ticket.scope(), &hash, now, lease_until)
        .map_err(store_failure)?
    {
        IdempotencyBegin::Started => Ok(Start::Run(Some(ticket))),
        IdempotencyBegin::Replay(stored) => Ok(Start::Replay(stored)),
        IdempotencyBegin::InFlight => Err(Problem::IdempotencyInFlight),
        IdempotencyBegin::Mismatch => Err(Problem::IdempotencyMismatch),
    }
}

/// Forgets the record of a request that failed (its response is not kept).
pub fn abandon(state: &AppState, ticket: &Ticket) {
    if let Err(e) = state.shared.store.idempotency_abandon(ticket.scope()) {
        tracing::error!(error = %e, "abandoning an idempotency record failed");
    }
}

/// The stored response, replayed byte for byte with `Idempotent-Replayed: true`.
pub fn replay(stored: StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut res = (status, stored.body).into_response();
    if let Ok(ct) = HeaderValue::from_str(&stored.content_type) {
        res.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    res.headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    res
}

/// Abandons a ticket's running record when dropped.
struct Forget<'a> {
    state: &'a AppState,
    ticket: &'a Ticket,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        abandon(self.state, self.ticket);
    }
}

/// Runs a create under its `Idempotency-Key` (if any): replays a finished first request,
/// refuses a mismatch or a running one, else runs `create` (which commits its record with the
/// resource) and forgets the record when `create` fails. Answers the JSON body bytes.
pub async fn keyed(
    state: &AppState,
    tenant_id: &str,
    route: &'static str,
    headers: &HeaderMap,
    body: &[u8],
    create: impl AsyncFnOnce(Option<&Ticket>) -> Result<Vec<u8>, Problem>,
) -> Result<Response, Problem> {
    let ticket = match begin(state, tenant_id, route, headers, body)? {
        Start::Replay(stored) => return Ok(replay(stored)),
        Start::Run(ticket) => ticket,
    };
    // Forget a running record however this request ends early (error, client gone, timeout);
    // after a commit the record is done and this is a no-op.
    let _forget = ticket.as_ref().map(|t| Forget { state, ticket: t });
    let result = create(ticket.as_ref()).await;
    let mut res = result?.into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(res)
}
