//! The error envelope of the API and Web & SDK contracts (CONTRACT §4).

use serde::{Deserialize, Serialize};

/// The code of a 410 whose data was deleted under the retention policy (CONTRACT §9): the
/// data is gone, which says nothing of how the process ended.
pub const RETENTION_EXPIRED_CODE: &str = "41002";

/// `{"error": {...}}`, the body of every 4xx/5xx of the API contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    /// The error itself.
    pub error: ErrorBody,
}

/// The members of an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// IDCloud code as a JSON string (`"20009"`).
    pub code: String,
    /// What was wrong and how to fix it; starts with the IDCloud message where one exists.
    pub description: String,
    /// **[ext]** Every offending field (present on every 400).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<FieldError>>,
    /// **[ext]** The request id, also in the `Request-Id` header.
    pub request_id: String,
    /// **[ext]** RFC 3339 UTC time of the error, with milliseconds.
    pub timestamp: String,
}

/// One offending field of a 400.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// Dotted path from the body's root (`subject.code`, `references[0].referenceType`).
    pub field: String,
    /// Why it was rejected.
    pub reason: FieldReason,
}

/// Why a field was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldReason {
    /// Missing or empty.
    Required,
    /// Present but not acceptable (bad check digit, bad enum value, not decodable).
    Invalid,
    /// Of the wrong JSON type.
    WrongType,
    /// Longer than the limit.
    TooLong,
    /// An image format other than PNG, JPEG or WebP.
    UnsupportedFormat,
    /// An image below 640×480.
    TooSmall,
    /// An image over 800 KiB.
    TooLarge,
    /// A selfie refused by a quality gate of the local engines (CONTRACT §17), spelled as the
    /// gate's reason (`face_not_found`, `blurry`, …).
    #[serde(untagged)]
    Gate(crate::analysis::GateReason),
}

impl FieldReason {
    /// The wire spelling (`wrong_type`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            FieldReason::Required => "required",
            FieldReason::Invalid => "invalid",
            FieldReason::WrongType => "wrong_type",
            FieldReason::TooLong => "too_long",
            FieldReason::UnsupportedFormat => "unsupported_format",
            FieldReason::TooSmall => "too_small",
            FieldReason::TooLarge => "too_large",
            FieldReason::Gate(gate) => gate.as_str(),
        }
    }
}
