//! The one place where a [`Problem`] becomes a status, headers and a body (CONTRACT §2–§4).
//!
//! Handlers return [`ApiError`]; its response carries the problem as an extension and the
//! [`crate::http::middleware`] layer, which knows the request id and the clock, renders it.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use selo_domain::problem::Problem;
use selo_store::StoreError;
use selo_wire::error::{ErrorBody, ErrorEnvelope, FieldError};
use selo_wire::token::OAuthError;

/// A handler failure.
#[derive(Debug)]
pub struct ApiError(pub Problem);

impl From<Problem> for ApiError {
    fn from(p: Problem) -> Self {
        ApiError(p)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError(crate::services::store_failure(e))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = StatusCode::INTERNAL_SERVER_ERROR.into_response();
        res.extensions_mut().insert(self.0);
        res
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

/// Status, code and description of a problem for the API contract.
fn api_parts(p: &Problem) -> (StatusCode, String, String) {
    let s = |code: &str, d: String| (code.to_string(), d);
    let (status, (code, description)) = match p {
        Problem::BearerInvalid { reason } => (
            StatusCode::UNAUTHORIZED,
            s("10501", format!("Invalid access token: {reason}")),
        ),
        Problem::BearerExpired => (
            StatusCode::UNAUTHORIZED,
            s(
                "10502",
                "Expired access token: obtain a new one from POST /oauth2/token".into(),
            ),
        ),
        Problem::ApiKeyMissing => (
            StatusCode::UNAUTHORIZED,
            s(
                "20002",
                "API key header is required (APIKEY on the API contract, x-api-key on Magic Link): send the key created with `selo admin apikey create`".into(),
            ),
        ),
        Problem::ApiKeyInvalid { reason } => (
            StatusCode::UNAUTHORIZED,
            s("10201", format!("Invalid APIKEY: {reason}")),
        ),
        Problem::Forbidden { reason } => (
            StatusCode::FORBIDDEN,
            s("30017", format!("No permission for this capability: {reason}")),
        ),
        Problem::BodyMalformed { reason } => (
            StatusCode::BAD_REQUEST,
            s("20003", format!("Request body missing or invalid: {reason}")),
        ),
        Problem::Invalid(fields) => {
            let first = fields.first();
            (
                StatusCode::BAD_REQUEST,
                s(
                    first.map_or("20003", |f| f.code),
                    fields
                        .iter()
                        .map(|f| f.message.as_str())
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
            )
        }
        Problem::BadPathParameter { reason } => {
            (StatusCode::BAD_REQUEST, s("40001", reason.clone()))
        }
        Problem::NotFound { what } => (
            StatusCode::NOT_FOUND,
            s("40401", format!("{what} not found")),
        ),
        Problem::RouteNotFound { path } => (
            StatusCode::NOT_FOUND,
            s(
                "40401",
                format!("no route for {path}; see the contract for the paths Selo serves"),
            ),
        ),
        Problem::ProcessEndedInError { id } => (
            StatusCode::GONE,
            s(
                "41001",
                format!("process {id} ended in error (status 5); create a new process"),
            ),
        ),
        Problem::MethodNotAllowed => (
            StatusCode::METHOD_NOT_ALLOWED,
            s("40501", "method not allowed on this route".into()),
        ),
        Problem::PayloadTooLarge { limit } => (
            StatusCode::PAYLOAD_TOO_LARGE,
            s(
                "41301",
                format!("request body is larger than {limit} bytes; send a smaller image (at most 800 KiB decoded)"),
            ),
        ),
        Problem::RateLimited {
            retry_after_seconds,
            quota,
        } => (
            StatusCode::TOO_MANY_REQUESTS,
            s(
                "42901",
                format!(
                    "Too many requests: this tenant may send {} requests per {} s; retry after {retry_after_seconds} s",
                    quota.limit, quota.window_seconds
                ),
            ),
        ),
        Problem::IdempotencyInFlight => (
            StatusCode::CONFLICT,
            s(
                "40901",
                "A request with this Idempotency-Key is still being processed; retry it later to get its response".into(),
            ),
        ),
        Problem::IdempotencyMismatch => (
            StatusCode::UNPROCESSABLE_ENTITY,
            s(
                "42201",
                "This Idempotency-Key was used with a different request body; use a new key for a new request".into(),
            ),
        ),
        Problem::Injected { status, plan, .. } => (
            StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            s(
                &format!("{status}01"),
                format!("Injected fault: sandbox fault plan {plan} answered {status}"),
            ),
        ),
        Problem::NotFinished { reason } => (StatusCode::CONFLICT, s("40901", reason.clone())),
        Problem::RetentionExpired { reason } => (
            StatusCode::GONE,
            s(selo_wire::error::RETENTION_EXPIRED_CODE, reason.clone()),
        ),
        Problem::BodyTimeout { seconds } => (
            StatusCode::REQUEST_TIMEOUT,
            s(
                "40801",
                format!("The request body did not arrive in full within {seconds} s; check the connection and send the request again"),
            ),
        ),
        Problem::StorageFull => (
            StatusCode::INSUFFICIENT_STORAGE,
            s(
                "50701",
                "The platform's storage is full, so nothing was stored; retry later (the operator must free space)".into(),
            ),
        ),
        Problem::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            s(
                "50301",
                "The platform is overloaded and could not finish the request in time; retry with backoff".into(),
            ),
        ),
        Problem::EnginesMissing => (
            StatusCode::SERVICE_UNAVAILABLE,
            s(
                "50302",
                "The local face engines are not installed on this server, so nothing was stored: the operator must run `selo models install` (with the server's --models or SELO_MODELS) and restart `selo serve`".into(),
            ),
        ),
        Problem::TokenForm { .. } | Problem::TokenRejected { .. } | Problem::Internal => (
            StatusCode::INTERNAL_SERVER_ERROR,
            s(
                "50001",
                "Internal failure! Try again later; if it persists, contact support with this requestId and timestamp".into(),
            ),
        ),
    };
    (status, code, description)
}

/// Which contract's error codes a response uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contract {
    /// The API contract (`/processes/v1`, `/documents/v1`, Selo's extensions): numeric codes.
    Api,
    /// The Web & SDK contract (`/client/v1/…`, the journey): gRPC-style codes.
    Web,
    /// The Magic Link contract (`/v2/magic-link…`): its own envelope.
    MagicLink,
    /// The token service (`/oauth2/token`): every failure in the OAuth2 error body (CONTRACT §2).
    OAuth,
}

impl Contract {
    /// The contract a path belongs to.
    pub fn of(path: &str) -> Contract {
        if path == "/oauth2/token" {
            Contract::OAuth
        } else if path.starts_with("/client/") || path.starts_with("/journey/") {
            Contract::Web
        } else if path.starts_with("/v2/magic-link") {
            Contract::MagicLink
        } else {
            Contract::Api
        }
    }
}

/// The Web & SDK code of a status: gRPC numbering (3 invalid argument, 5 not found,
/// 7 permission denied, 8 resource exhausted, 9 failed precondition, 12 unimplemented,
/// 16 unauthenticated, 4 deadline exceeded) and `99999` for internal failures.
fn web_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        408 => "4",
        401 => "16",
        403 => "7",
        404 => "5",
        405 => "12",
        409 | 410 => "9",
        429 => "8",
        s if s >= 500 => "99999",
        _ => "3",
    }
}

/// Whether `Should-Retry` says `true` (CONTRACT §4): for 429, 408, a 409 of an idempotency key
/// still in flight and a 5xx — except a 5xx on a create sent without an `Idempotency-Key`,
/// whose process may exist.
fn should_retry(problem: &Problem, status: StatusCode, blind_create: bool) -> bool {
    match status {
        StatusCode::TOO_MANY_REQUESTS | StatusCode::REQUEST_TIMEOUT => true,
        StatusCode::CONFLICT => matches!(problem, Problem::IdempotencyInFlight),
        s => s.is_server_error() && !blind_create,
    }
}

/// Renders `problem` as the final response for `request_id` at `timestamp`. `blind_create`
/// is how the client can find out whether a create sent without an `Idempotency-Key` took
/// effect (`None` for every other request): a 5xx then says so instead of inviting a retry.
pub fn render(
    problem: &Problem,
    contract: Contract,
    request_id: &str,
    timestamp: &str,
    blind_create: Option<&str>,
) -> Response {
    // A full storage or missing engines stored nothing: even a create without a key is safe
    // to send again.
    let blind_create =
        blind_create.filter(|_| !matches!(problem, Problem::StorageFull | Problem::EnginesMissing));
    let mut res = match problem {
        Problem::TokenForm { error, description } => (
            StatusCode::BAD_REQUEST,
            axum::Json(OAuthError {
                error: (*error).to_string(),
                error_description: description.clone(),
                code: None,
            }),
        )
            .into_response(),
        Problem::TokenRejected { code, reason } => {
            let mut res = (
                StatusCode::UNAUTHORIZED,
                axum::Json(OAuthError {
                    error: "invalid_grant".into(),
                    error_description: format!("Authentication failed ({code}): {reason}"),
                    code: Some(code.as_str().to_string()),
                }),
            )
                .into_response();
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            res
        }
        other => {
            let (status, mut code, mut description) = api_parts(other);
            if let Some(lookup) = blind_create.filter(|_| status.is_server_error()) {
                description = format!(
                    "{description}. The create may have taken effect: {lookup} before you send it again (a create sent with an Idempotency-Key can be retried safely)"
                );
            }
            if contract == Contract::Web {
                code = web_code(status).to_string();
            }
            let fields = match other {
                Problem::Invalid(fields) => Some(
                    fields
                        .iter()
                        .map(|f| FieldError {
                            field: f.field.clone(),
                            reason: f.reason,
                        })
                        .collect(),
                ),
                Problem::BodyMalformed { .. } | Problem::BadPathParameter { .. } => Some(vec![]),
                _ => None,
            };
            let mut res = if contract == Contract::OAuth {
                // RFC 6749 §5.2's error names; Selo's code as `code`, as on the 401s.
                let error = match status {
                    StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                        "temporarily_unavailable"
                    }
                    s if s.is_server_error() => "server_error",
                    _ => "invalid_request",
                };
                (
                    status,
                    axum::Json(OAuthError {
                        error: error.to_string(),
                        error_description: description,
                        code: Some(code),
                    }),
                )
                    .into_response()
            } else if contract == Contract::MagicLink {
                let names: Vec<String> = fields.iter().flatten().map(|f| f.field.clone()).collect();
                let body = selo_domain::magic_link::error_envelope(
                    status.as_u16(),
                    &description,
                    &names,
                    timestamp,
                    request_id,
                );
                (status, axum::Json(body)).into_response()
            } else {
                (
                    status,
                    axum::Json(ErrorEnvelope {
                        error: ErrorBody {
                            code,
                            description,
                            fields,
                            request_id: request_id.to_string(),
                            timestamp: timestamp.to_string(),
                        },
                    }),
                )
                    .into_response()
            };
            if let Problem::Injected {
                retry_after: Some(seconds),
                ..
            } = other
            {
                res.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*seconds));
            }
            if let Problem::RateLimited {
                retry_after_seconds,
                quota,
            } = other
            {
                res.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_seconds));
                crate::http::middleware::add_quota_headers(res.headers_mut(), quota);
            }
            if status == StatusCode::UNAUTHORIZED {
                let value = if matches!(
                    other,
                    Problem::BearerInvalid { .. } | Problem::BearerExpired
                ) {
                    "Bearer error=\"invalid_token\""
                } else {
                    "Bearer"
                };
                res.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(value));
            }
            res
        }
    };
    let retry = should_retry(problem, res.status(), blind_create.is_some());
    res.headers_mut().insert(
        "should-retry",
        HeaderValue::from_static(if retry { "true" } else { "false" }),
    );
    res
}
