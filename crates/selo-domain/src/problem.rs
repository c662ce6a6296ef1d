//! The one error taxonomy of Selo. Every failure a client can see is a [`Problem`]; the HTTP
//! layer maps each variant to a status, a code and a body in exactly one place.

use selo_wire::error::FieldReason;
use std::fmt;

/// IDCloud authentication codes of the token service (CONTRACT §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthCode {
    /// Tenant/account in `iss` unknown (or mixed credentials).
    UnknownIssuer,
    /// `scope` missing.
    ScopeMissing,
    /// Assertion expired.
    Expired,
    /// Assertion cannot be validated (alg, aud, lifetime, iat).
    CannotValidate,
    /// Signed with a revoked key.
    KeyRevoked,
    /// Assertion already used.
    Replayed,
    /// Account disabled.
    AccountDisabled,
    /// Account locked after failed attempts.
    AccountLocked,
    /// Assertion not decodable / claim missing or mistyped.
    Undecodable,
    /// Signature does not verify.
    BadSignature,
    /// Claim not allowed.
    ClaimNotAllowed,
    /// Source IP not allowed.
    IpNotAllowed,
    /// Outside allowed hours.
    OutsideHours,
}

impl AuthCode {
    /// The dotted code (`1.2.21`).
    pub fn as_str(self) -> &'static str {
        match self {
            AuthCode::UnknownIssuer => "1.0.1",
            AuthCode::ScopeMissing => "1.1.1",
            AuthCode::Expired => "1.2.4",
            AuthCode::CannotValidate => "1.2.5",
            AuthCode::KeyRevoked => "1.2.6",
            AuthCode::Replayed => "1.2.7",
            AuthCode::AccountDisabled => "1.2.11",
            AuthCode::AccountLocked => "1.2.18",
            AuthCode::Undecodable => "1.2.20",
            AuthCode::BadSignature => "1.2.21",
            AuthCode::ClaimNotAllowed => "1.2.22",
            AuthCode::IpNotAllowed => "1.3.1",
            AuthCode::OutsideHours => "1.3.2",
        }
    }
}

impl fmt::Display for AuthCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One offending field of a request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    /// Dotted path from the body's root.
    pub field: String,
    /// Why.
    pub reason: FieldReason,
    /// The contract's code for this field and reason (`20005`, `20507`, …).
    pub code: &'static str,
    /// A sentence saying what was wrong and how to fix it.
    pub message: String,
}

impl FieldProblem {
    /// A new field problem.
    pub fn new(
        field: impl Into<String>,
        reason: FieldReason,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        FieldProblem {
            field: field.into(),
            reason,
            code,
            message: message.into(),
        }
    }
}

/// Everything that can go wrong, as a client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Token request form incomplete (`invalid_request`) or wrong grant (`unsupported_grant_type`).
    TokenForm {
        /// OAuth2 `error`.
        error: &'static str,
        /// What to fix.
        description: String,
    },
    /// The assertion was rejected (401 with an IDCloud code).
    TokenRejected {
        /// IDCloud code.
        code: AuthCode,
        /// Plain reason naming the claim, the expected value, the environment.
        reason: String,
    },
    /// Bearer token missing, malformed, badly signed or from another environment.
    BearerInvalid {
        /// What was wrong.
        reason: String,
    },
    /// Bearer token expired.
    BearerExpired,
    /// `APIKEY` header missing.
    ApiKeyMissing,
    /// `APIKEY` unknown, revoked, of another tenant or environment.
    ApiKeyInvalid {
        /// What was wrong.
        reason: String,
    },
    /// Authenticated but the capability is not enabled.
    Forbidden {
        /// Which capability is needed.
        reason: String,
    },
    /// The body is empty or not a JSON object.
    BodyMalformed {
        /// What was wrong.
        reason: String,
    },
    /// One or more fields are invalid (all of them listed, in schema order).
    Invalid(Vec<FieldProblem>),
    /// A path parameter is malformed.
    BadPathParameter {
        /// What was wrong.
        reason: String,
    },
    /// The resource does not exist or belongs to another tenant.
    NotFound {
        /// What was looked for.
        what: String,
    },
    /// The process ended in error (status 5): API Get Process answers 410.
    ProcessEndedInError {
        /// The process id.
        id: String,
    },
    /// No route for the path.
    RouteNotFound {
        /// The path asked for.
        path: String,
    },
    /// The route exists but not for this method.
    MethodNotAllowed,
    /// The body is over the limit.
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// Over the tenant's rate limit (429).
    RateLimited {
        /// Whole seconds to wait.
        retry_after_seconds: u64,
        /// The tenant's quota.
        quota: crate::rate_limit::Quota,
    },
    /// An `Idempotency-Key` whose first request is still running (409).
    IdempotencyInFlight,
    /// An `Idempotency-Key` reused with a different body (422).
    IdempotencyMismatch,
    /// A fault injected by a sandbox fault plan (CONTRACT §12).
    Injected {
        /// The status to answer.
        status: u16,
        /// `Retry-After` seconds, for an injected 429.
        retry_after: Option<u64>,
        /// The plan.
        plan: String,
    },
    /// The resource exists but its process has not reached the state the operation needs (409).
    NotFinished {
        /// What was asked for and why it is not there yet.
        reason: String,
    },
    /// The data was deleted under the retention policy (410).
    RetentionExpired {
        /// What, the policy and when it was deleted.
        reason: String,
    },
    /// Something failed inside Selo (detail goes to the log only).
    Internal,
    /// The request's body did not arrive in full within the per-request timeout: the
    /// client's doing (408, CONTRACT §4).
    BodyTimeout {
        /// The timeout, in seconds.
        seconds: u64,
    },
    /// The data directory's storage is full: nothing was stored (507 `50701`).
    StorageFull,
    /// The platform cannot serve the request now: overloaded, or the request took longer than
    /// the per-request timeout after its body arrived (503 `50301`).
    Unavailable,
    /// The request needs the local face engines and their models are not installed (503
    /// `50302`, CONTRACT §17).
    EnginesMissing,
}

impl Problem {
    /// A token rejection.
    pub fn token(code: AuthCode, reason: impl Into<String>) -> Self {
        Problem::TokenRejected {
            code,
            reason: reason.into(),
        }
    }
}
