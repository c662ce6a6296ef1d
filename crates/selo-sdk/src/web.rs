//! Bodies of the Web & SDK contract (`/client/v1/process`, CONTRACT §6, reference §3).
//!
//! Enumerations (`flow`, `state`, `result`, `livenessResult`, …) are kept as the strings the
//! server sent, so a value the SDK does not know never makes decoding fail; members the SDK
//! does not model are kept in `other` and sent back out unchanged when a body is re-serialized.

use crate::verdict::{Assessment, Verdict};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};
use std::fmt;

/// `duiType` of a Brazilian CPF.
pub const DUI_TYPE_BR_CPF: &str = "DUI_TYPE_BR_CPF";
/// `duiType` of a Mexican CURP.
pub const DUI_TYPE_MX_CURP: &str = "DUI_TYPE_MX_CURP";

/// The body of `POST /client/v1/process`.
///
/// ```
/// use selo_sdk::{WebPerson, WebProcessRequest};
///
/// let request = WebProcessRequest {
///     client_reference: Some("order-8812".into()),
///     ..WebProcessRequest::new("id", "biometryonboarding", "https://example.com/done",
///         WebPerson::cpf("00000000191", "Maria da Silva"))
/// };
/// let body = serde_json::to_value(&request).unwrap();
/// assert_eq!(body["person"]["duiType"], "DUI_TYPE_BR_CPF");
/// assert_eq!(body["callbackUri"], "https://example.com/done");
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebProcessRequest {
    /// Where the person lands after the journey: an HTTPS URL, an app URL scheme, or `"/"`
    /// for no redirect.
    pub callback_uri: String,
    /// The flow (`id`, `idcheck`, `iddocs`, `idtoken`, …; reference §6.3).
    pub flow: String,
    /// The LGPD purpose (`biometryonboarding`, `creditprocess`, `carpurchase`,
    /// `ageverification`).
    pub purpose: String,
    /// Who is verified.
    pub person: WebPerson,
    /// Lifetime as seconds with a trailing `s` (`"3600s"`); the server's default is 7 days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<String>,
    /// Your correlation id. When empty, [`Client::create_web_process`](crate::Client::create_web_process)
    /// puts a generated UUID here, so that an [`Error::OutcomeUnknown`](crate::Error::OutcomeUnknown)
    /// always names a reference to look up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_reference: Option<String>,
    /// Any other member of the contract (`bioTokenId`, `references`, `useCase`,
    /// `companyBranchId`, `flow_config`, `payload`, …), sent as given.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl WebProcessRequest {
    /// A request with the four required members (no `expiresIn`, no `clientReference`).
    pub fn new(
        flow: impl Into<String>,
        purpose: impl Into<String>,
        callback_uri: impl Into<String>,
        person: WebPerson,
    ) -> Self {
        WebProcessRequest {
            callback_uri: callback_uri.into(),
            flow: flow.into(),
            purpose: purpose.into(),
            person,
            ..WebProcessRequest::default()
        }
    }
}

/// `person` of [`WebProcessRequest`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebPerson {
    /// `DUI_TYPE_BR_CPF`, `DUI_TYPE_MX_CURP`, …
    pub dui_type: String,
    /// The document number, digits only for a CPF.
    pub dui_value: String,
    /// The name the journey shows (at most 50 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub friendly_name: Option<String>,
    /// E-mail (needed for the e-mail notification channel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Phone, DDI + DDD + number without separators (needed for SMS / WhatsApp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Channels the platform sends the journey link through:
    /// `{"notificationChannel": "NOTIFICATION_CHANNEL_EMAIL" | "…_SMS" | "…_WHATSAPP"}`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notifications: Vec<Value>,
    /// Any other member (`phoneCountryCodeAlpha3`, …), sent as given.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl WebPerson {
    /// A person identified by a Brazilian CPF, with `friendlyName` set to `name`.
    pub fn cpf(cpf: impl Into<String>, name: impl Into<String>) -> Self {
        WebPerson {
            dui_type: DUI_TYPE_BR_CPF.into(),
            dui_value: cpf.into(),
            friendly_name: Some(name.into()),
            ..WebPerson::default()
        }
    }
}

/// The `process` object of the Web & SDK contract (create, get, lookup). Check its
/// [`verdict`](WebProcess::verdict): a 200 is not a pass.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct WebProcess {
    /// The process id (a UUID).
    pub id: String,
    /// The flow it runs.
    #[serde(default)]
    pub flow: String,
    /// `PROCESS_STATE_CREATED`, `PROCESS_STATE_FINISHED`, `PROCESS_STATE_FAILED`, or a value
    /// the SDK does not know.
    #[serde(default)]
    pub state: String,
    /// `PROCESS_RESULT_UNSPECIFIED`, `…_OK`, `…_INVALID_IDENTITY`, `…_FAILED`, `…_EXPIRED`,
    /// `…_ERROR`, or a value the SDK does not know.
    #[serde(default)]
    pub result: String,
    /// The journey link to send the person to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_redirect_url: Option<String>,
    /// The SDK / embedding token of the journey.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Where the journey redirects when done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_uri: Option<String>,
    /// The purpose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// Your correlation id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_reference: Option<String>,
    /// RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// RFC 3339; after it an unfinished process reads `FINISHED` + `PROCESS_RESULT_EXPIRED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// RFC 3339, once finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// The engines' results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication_info: Option<AuthenticationInfo>,
    /// Every other member (`person`, `companyData`, `services`, …), as received.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl WebProcess {
    /// The verdict ([`Verdict::from_web_process`]'s table).
    pub fn verdict(&self) -> Verdict {
        self.assessment().into_verdict()
    }

    /// The verdict with its reason and fields.
    pub fn assessment(&self) -> Assessment {
        Assessment::from_web_process(&self.to_value())
    }

    /// The process as JSON (the object, not the `{"process": …}` envelope).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// `authenticationInfo` of a [`WebProcess`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AuthenticationInfo {
    /// Empty until finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication_id: Option<String>,
    /// `LIVENESS_RESULT_LIVE`, `LIVENESS_RESULT_UNSPECIFIED`, `NO` (the seed's negative value), …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness_result: Option<String>,
    /// `AUTHENTICATION_RESULT_POSITIVE`, `…_INCONCLUSIVE`, `…_UNSPECIFIED`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication_result: Option<String>,
    /// `TRUST_RESULT_UNSPECIFIED`, `TRUST_RESULT_INCONCLUSIVE`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_fraudsters_result: Option<String>,
    /// The risk score, when enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_engine_result: Option<ScoreEngineResult>,
    /// Every other member, as received.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `authenticationInfo.scoreEngineResult`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ScoreEngineResult {
    /// `SCORE_ENABLED_TRUE`, `…_FALSE`, `…_UNSPECIFIED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_enabled: Option<String>,
    /// The score (−100 … 100), as sent (integer or not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<Number>,
    /// Every other member, as received.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `{"process": …}`.
#[derive(Deserialize)]
pub(crate) struct ProcessEnvelope {
    pub(crate) process: WebProcess,
}

/// `{"items": […]}` of the `clientReference` lookup.
#[derive(Deserialize)]
pub(crate) struct WebProcessList {
    #[serde(default)]
    pub(crate) items: Vec<WebProcess>,
}

/// `{"fileContents": <base64>, "contentType": …}` on the wire.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FileBody {
    pub(crate) file_contents: String,
    #[serde(default)]
    pub(crate) content_type: String,
}

/// A file of a Web & SDK process — the selfie ([`Client::get_selfie`](crate::Client::get_selfie))
/// or the evidence set ([`Client::get_evidence_set`](crate::Client::get_evidence_set)) — with
/// `fileContents` already decoded from base64.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FileContents {
    /// `contentType` as sent (`image/jpeg`, `image/png`, `application/pdf`, …).
    pub content_type: String,
    /// The decoded file.
    pub bytes: Vec<u8>,
}

impl fmt::Debug for FileContents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileContents")
            .field("content_type", &self.content_type)
            .field("len", &self.bytes.len())
            .finish()
    }
}
