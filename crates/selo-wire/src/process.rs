//! API contract bodies (`/processes/v1`, `/documents/v1`).

use serde::{Deserialize, Serialize};

/// The person of an onboarding create (`subject`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subject {
    /// CPF (11 digits) or CURP (18 characters), unformatted.
    pub code: String,
    /// Full name.
    pub name: String,
    /// `M` or `F`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gender: Option<String>,
    /// `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<String>,
    /// E-mail address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Phone, digits only with country code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// The integrator's own correlation id (≤ 256, no spaces).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_reference: Option<String>,
}

/// One reference of a transactional (1:1) create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reference {
    /// `REFERENCE_TYPE_IMAGE_BASE64` or `REFERENCE_TYPE_PROCESS_ID`.
    pub reference_type: String,
    /// The base64 image or the process id.
    pub reference_content: String,
}

/// `POST /processes/v1` body, onboarding (`subject`) or transactional (`references`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateProcessRequest {
    /// The person (onboarding; optional on a transactional create).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Subject>,
    /// Transactional references.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub references: Option<Vec<Reference>>,
    /// The selfie, base64 (optionally with a `data:image/...;base64,` prefix).
    pub image_base64: String,
    /// Free-text use case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_case: Option<String>,
    /// Branch id (UUID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subsidiary_id: Option<String>,
}

/// `{"result": "..."}` members (`unicoId`, `identityFraudsters`, `biometryToken`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultValue {
    /// `yes` / `no` / `inconclusive` (or `"true"`/`"false"` for `biometryToken`).
    pub result: String,
}

/// A process as the API contract shows it (create response and `GET /processes/v1/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiProcess {
    /// Process id (UUID).
    pub id: String,
    /// 1 processing, 2 divergence, 3 finished, 4 canceled, 5 error.
    pub status: u8,
    /// Identity verification result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unico_id: Option<ResultValue>,
    /// 1 passed, 2 failed; omitted when `unicoId.result` is `yes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness: Option<u8>,
    /// Risk score (only when `unicoId.result` is `inconclusive` and risk score is enabled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<i32>,
    /// Behavior alert result (async; only on GET once finished).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_fraudsters: Option<ResultValue>,
    /// 1:1 validation result (transactional creates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub biometry_token: Option<ResultValue>,
}

/// **[ext]** `GET /processes/v1?clientReference=X`: the caller's processes with that
/// reference, newest first, at most 50.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessList {
    /// The processes.
    pub items: Vec<ApiProcess>,
}

/// `GET /documents/v1` body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentList {
    /// Reusable documents (empty when none).
    pub items: Vec<DocumentItem>,
}

/// One reusable document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentItem {
    /// e.g. `unico.moja.dictionary.br.cnh.v2.Cnh`.
    pub document_type: String,
    /// Id to pass in `document.documentId`.
    pub document_id: String,
}
