//! The Web & SDK contract (`/client/v1/process`, CONTRACT §6): create-body validation with the
//! IDCloud messages, the stored record, and the state/result a process shows at a given time.

use crate::person_code::{is_valid_cpf, is_valid_curp};
use crate::problem::{FieldProblem, Problem};
use crate::validation::{MAX_CLIENT_REFERENCE_CHARS, is_uuid};
use crate::verification::{CaptureDecision, IdentityResult};
use selo_wire::error::FieldReason;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// Every `flow` of the contract (reference §6.3, Postman additions included).
pub const FLOWS: [&str; 31] = [
    "idlive",
    "id",
    "idlivetrust",
    "idcheck",
    "iddocs",
    "idsign",
    "iddocssign",
    "idchecktrust",
    "idchecktrustdocs",
    "idchecktrustsign",
    "idchecktrustdocssign",
    "idcheckserpro",
    "idcheckserprodocs",
    "idcheckserprodocssign",
    "creditoconsignado",
    "idtrust",
    "idunicodocs",
    "idunicosign",
    "idunicodocssign",
    "idunicoserprodocssign",
    "idtrustdocs",
    "idtrustsign",
    "idtrustdocssign",
    "idtoken",
    "idtokentrust",
    "idtokensign",
    "idsmart",
    "idage",
    "idagedocumentless",
    "idunicodocs_r2",
    "adaptiveidtoken",
];

/// Every `purpose`.
pub const PURPOSES: [&str; 4] = [
    "creditprocess",
    "biometryonboarding",
    "carpurchase",
    "ageverification",
];

/// Every `person.duiType`.
pub const DUI_TYPES: [&str; 17] = [
    "DUI_TYPE_BR_CPF",
    "DUI_TYPE_MX_CURP",
    "DUI_TYPE_US_SSN",
    "DUI_TYPE_BR_PASSPORT",
    "DUI_TYPE_AR_PASSPORT",
    "DUI_TYPE_AR_DNI",
    "DUI_TYPE_NG_NIN",
    "DUI_TYPE_CL_RUN",
    "DUI_TYPE_EC_NI",
    "DUI_TYPE_US_PASSPORT",
    "DUI_TYPE_GT_CUI",
    "DUI_TYPE_UY_CI",
    "DUI_TYPE_ZZ_EMAIL",
    "DUI_TYPE_ID_NIK",
    "DUI_TYPE_ZZ_PHONE_NUMBER",
    "DUI_TYPE_US_DRIVER_LICENSE",
    "DUI_TYPE_NG_BVN",
];

/// Notification channels.
pub const CHANNELS: [&str; 3] = [
    "NOTIFICATION_CHANNEL_WHATSAPP",
    "NOTIFICATION_CHANNEL_SMS",
    "NOTIFICATION_CHANNEL_EMAIL",
];

/// Default lifetime of a process (`expiresIn` absent): 7 days.
pub const DEFAULT_EXPIRES_IN: i64 = 7 * 24 * 3600;
/// Longest `friendlyName`.
pub const MAX_FRIENDLY_NAME: usize = 50;
/// Longest `duiValue`.
pub const MAX_DUI_VALUE: usize = 320;
/// Longest `expiresIn` we accept (90 days, the process retention).
pub const MAX_EXPIRES_IN: i64 = 90 * 24 * 3600;

/// The person of a Web & SDK process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebPerson {
    /// `DUI_TYPE_*`.
    pub dui_type: String,
    /// Unformatted document value.
    pub dui_value: String,
    /// Shown in the journey (≤ 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub friendly_name: Option<String>,
    /// E-mail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Phone, 13 digits for BR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Notification channels.
    #[serde(default)]
    pub notifications: Vec<String>,
}

/// The person's completed capture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebCapture {
    /// When the person submitted (Unix seconds).
    pub at: i64,
    /// Which engine decided, and what.
    #[serde(flatten)]
    pub decision: CaptureDecision,
    /// Media type of the stored selfie (empty when the journey refused its selfies: none is
    /// stored).
    pub image_type: String,
}

/// A stored Web & SDK process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebProcessRecord {
    /// Process id (UUID).
    pub id: String,
    /// Owning tenant.
    pub tenant_id: String,
    /// Creation, Unix seconds.
    pub created_at: i64,
    /// Expiry, Unix seconds.
    pub expires_at: i64,
    /// `flow`.
    pub flow: String,
    /// `purpose`.
    pub purpose: String,
    /// `callbackUri`.
    pub callback_uri: String,
    /// The person.
    pub person: WebPerson,
    /// `clientReference`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_reference: Option<String>,
    /// The journey token (`token`), also required by the journey's capture call.
    pub token: String,
    /// The capture, once the person completed the journey.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture: Option<WebCapture>,
}

/// The state a process shows at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebState {
    /// Waiting for the person.
    Created,
    /// Finished with a result (`PROCESS_RESULT_*` suffix in upper case).
    Finished(&'static str),
    /// The engines failed.
    Failed,
}

impl WebProcessRecord {
    /// When the process finished, or will by expiring (Unix seconds): its process window, after
    /// which its personal data are forgotten, counts from here.
    pub fn finishes_at(&self) -> i64 {
        self.capture.as_ref().map_or(self.expires_at, |c| c.at)
    }

    /// Forgets the person (document value, name, e-mail, phone, notification channels) and
    /// keeps the tombstone: ids, flow, times and the verdict.
    pub fn scrub_personal_data(&mut self) {
        let person = &mut self.person;
        person.dui_value.clear();
        person.friendly_name = None;
        person.email = None;
        person.phone = None;
        person.notifications.clear();
    }

    /// The state at `now`: a capture decides; without one, `expiresAt` passed means
    /// `FINISHED` + `EXPIRED`.
    pub fn state_at(&self, now: i64) -> WebState {
        match &self.capture {
            Some(c) => {
                let outcome = c.decision.outcome();
                match outcome.identity {
                    _ if outcome.status == 5 => WebState::Failed,
                    _ if !outcome.live => WebState::Finished("FAILED"),
                    Some(IdentityResult::No) => WebState::Finished("INVALID_IDENTITY"),
                    _ => WebState::Finished("OK"),
                }
            }
            None if now >= self.expires_at => WebState::Finished("EXPIRED"),
            None => WebState::Created,
        }
    }

    /// When the process finished (capture time, or expiry), if it has.
    pub fn finished_at(&self, now: i64) -> Option<i64> {
        match (&self.capture, self.state_at(now)) {
            (Some(c), WebState::Finished(_)) => Some(c.at),
            (None, WebState::Finished(_)) => Some(self.expires_at),
            _ => None,
        }
    }

    /// The `process` object of the contract at `now`.
    pub fn view(&self, now: i64, redirect_url: &str) -> Value {
        let state = self.state_at(now);
        let (state_str, result) = match state {
            WebState::Created => (
                "PROCESS_STATE_CREATED",
                "PROCESS_RESULT_UNSPECIFIED".to_string(),
            ),
            WebState::Finished(r) => ("PROCESS_STATE_FINISHED", format!("PROCESS_RESULT_{r}")),
            WebState::Failed => ("PROCESS_STATE_FAILED", "PROCESS_RESULT_ERROR".to_string()),
        };
        let mut auth = json!({
            "authenticationId": "",
            "livenessResult": "LIVENESS_RESULT_UNSPECIFIED",
            "authenticationResult": "AUTHENTICATION_RESULT_UNSPECIFIED",
            "identityFraudstersResult": "TRUST_RESULT_UNSPECIFIED",
            "scoreEngineResult": {"scoreEnabled": "SCORE_ENABLED_UNSPECIFIED", "score": 0},
        });
        if let (Some(c), WebState::Finished(_)) = (&self.capture, state) {
            let outcome = c.decision.outcome();
            auth["authenticationId"] = json!(self.id);
            auth["livenessResult"] = json!(if outcome.live {
                "LIVENESS_RESULT_LIVE"
            } else {
                "NO"
            });
            auth["authenticationResult"] = json!(match outcome.identity {
                Some(IdentityResult::Yes) => "AUTHENTICATION_RESULT_POSITIVE",
                Some(IdentityResult::Inconclusive) => "AUTHENTICATION_RESULT_INCONCLUSIVE",
                _ => "AUTHENTICATION_RESULT_UNSPECIFIED",
            });
            if let Some(score) = outcome.score {
                auth["scoreEngineResult"] =
                    json!({"scoreEnabled": "SCORE_ENABLED_TRUE", "score": score});
            }
            match outcome.behavior_alert {
                // CONTRACT §8/§17: an alert reads YES, a search that found none INCONCLUSIVE.
                Some(IdentityResult::Yes) => {
                    auth["identityFraudstersResult"] = json!("TRUST_RESULT_YES")
                }
                Some(_) => auth["identityFraudstersResult"] = json!("TRUST_RESULT_INCONCLUSIVE"),
                None => {}
            }
        }
        let mut p = json!({
            "id": self.id,
            "flow": self.flow,
            "callbackUri": self.callback_uri,
            "userRedirectUrl": redirect_url,
            "state": state_str,
            "result": result,
            "createdAt": rfc3339(self.created_at),
            "expiresAt": rfc3339(self.expires_at),
            "purpose": self.purpose,
            "token": self.token,
            "person": self.person,
            "authenticationInfo": auth,
            "companyData": {"countryCode": "BR"},
        });
        if let Some(f) = self.finished_at(now) {
            p["finishedAt"] = json!(rfc3339(f));
        }
        if let Some(r) = &self.client_reference {
            p["clientReference"] = json!(r);
        }
        p
    }
}

fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .map(|t| crate::clock::rfc3339_millis(t).replace(".000Z", "Z"))
        .unwrap_or_default()
}

/// A validated create body.
#[derive(Debug, Clone)]
pub struct WebCreate {
    /// `flow`.
    pub flow: String,
    /// `purpose`.
    pub purpose: String,
    /// `callbackUri`.
    pub callback_uri: String,
    /// The person.
    pub person: WebPerson,
    /// Lifetime, seconds.
    pub expires_in: i64,
    /// `clientReference`.
    pub client_reference: Option<String>,
}

struct Checker<'a> {
    obj: &'a Map<String, Value>,
    problems: Vec<FieldProblem>,
}

impl Checker<'_> {
    fn push(&mut self, field: &str, reason: FieldReason, message: impl Into<String>) {
        self.problems
            .push(FieldProblem::new(field, reason, "3", message));
    }

    /// A string member of `obj` at `path`: `None` when absent/null; wrong type reported.
    fn text<'v>(
        &mut self,
        obj: &'v Map<String, Value>,
        key: &str,
        path: &str,
        msg: &str,
    ) -> Option<&'v str> {
        match obj.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s),
            Some(_) => {
                self.push(
                    path,
                    FieldReason::WrongType,
                    format!("{msg}: {path} must be a string"),
                );
                None
            }
        }
    }

    fn one_of(&mut self, key: &str, allowed: &[&str], message: &str) -> Option<String> {
        let obj = self.obj;
        match self.text(obj, key, key, message) {
            Some(v) if allowed.contains(&v) => Some(v.to_string()),
            Some(_) => {
                self.push(key, FieldReason::Invalid, message);
                None
            }
            None if obj.get(key).is_some_and(|v| !v.is_null()) => None,
            None => {
                self.push(key, FieldReason::Required, message);
                None
            }
        }
    }
}

/// Schemes a browser would run or read locally instead of navigating to (CONTRACT §19).
const REFUSED_CALLBACK_SCHEMES: [&str; 6] =
    ["javascript", "data", "vbscript", "file", "blob", "about"];

/// Whether `uri` starts with a refused scheme, in any letter case (with or without `//`).
fn refused_scheme(uri: &str) -> bool {
    uri.split_once(':').is_some_and(|(scheme, _)| {
        REFUSED_CALLBACK_SCHEMES
            .iter()
            .any(|refused| scheme.trim().eq_ignore_ascii_case(refused))
    })
}

fn valid_callback(uri: &str) -> bool {
    if uri == "/" {
        return true;
    }
    if refused_scheme(uri) {
        return false;
    }
    match uri.split_once("://") {
        Some((scheme, rest)) => {
            !rest.is_empty()
                && !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
                && !uri.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

fn valid_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.contains(char::is_whitespace)
}

fn valid_dui(dui_type: &str, value: &str) -> bool {
    match dui_type {
        "DUI_TYPE_BR_CPF" => is_valid_cpf(value),
        "DUI_TYPE_MX_CURP" => is_valid_curp(value),
        "DUI_TYPE_ZZ_EMAIL" => valid_email(value),
        _ => {
            !value.is_empty()
                && value.len() <= MAX_DUI_VALUE
                && !value.contains(char::is_whitespace)
        }
    }
}

/// The Unix seconds of an `expiresIn` like `"3600s"`.
fn parse_expires_in(s: &str) -> Option<i64> {
    let n: i64 = s.strip_suffix('s')?.parse().ok()?;
    (1..=MAX_EXPIRES_IN).contains(&n).then_some(n)
}

impl WebProcessRecord {
    /// Whether the process was created without a document and waits for one.
    pub fn awaiting_document(&self) -> bool {
        self.person.dui_value.is_empty()
    }
}

/// Document types `POST /client/v1/process/{id}/document` accepts.
pub const DOCUMENT_DUI_TYPES: [&str; 3] =
    ["DUI_TYPE_BR_CPF", "DUI_TYPE_MX_CURP", "DUI_TYPE_US_SSN"];

/// Validates a `POST /client/v1/process/{id}/document` body: `duiType` (CPF, CURP or SSN) and
/// `duiValue` (≤ 320, check digits for CPF and CURP).
pub fn validate_document(body: &Value) -> Result<(String, String), Problem> {
    let empty = Map::new();
    let obj = body.as_object().unwrap_or(&empty);
    let mut c = Checker {
        obj,
        problems: Vec::new(),
    };
    let dui_type = c.one_of(
        "duiType",
        &DOCUMENT_DUI_TYPES,
        "invalid duiType: must be DUI_TYPE_BR_CPF, DUI_TYPE_MX_CURP or DUI_TYPE_US_SSN",
    );
    let dui_value = match c.text(obj, "duiValue", "duiValue", "invalid duiValue") {
        Some(v) if v.len() > MAX_DUI_VALUE => {
            c.push(
                "duiValue",
                FieldReason::TooLong,
                format!("invalid duiValue: exceeds {MAX_DUI_VALUE} characters"),
            );
            None
        }
        Some(v) if !v.is_empty() && dui_type.as_deref().is_none_or(|t| valid_dui(t, v)) => {
            Some(v.to_string())
        }
        Some(v) if !v.is_empty() => {
            c.push("duiValue", FieldReason::Invalid, "idnsv2/GetPublicID request error: rpc error: code = InvalidArgument desc = invalid dui value");
            None
        }
        _ => {
            if obj
                .get("duiValue")
                .is_none_or(|v| v.is_null() || v.as_str() == Some(""))
            {
                c.push(
                    "duiValue",
                    FieldReason::Required,
                    "invalid duiValue: duiValue is required",
                );
            }
            None
        }
    };
    match (dui_type, dui_value) {
        (Some(t), Some(v)) if c.problems.is_empty() => Ok((t, v)),
        _ => Err(Problem::Invalid(c.problems)),
    }
}

/// Validates a `POST /client/v1/process` body completely (every offending field, code `3`, the
/// IDCloud messages).
pub fn validate_web_create(body: &Value) -> Result<WebCreate, Problem> {
    let empty = Map::new();
    let obj = body.as_object().unwrap_or(&empty);
    let mut c = Checker {
        obj,
        problems: Vec::new(),
    };
    let callback = match c.text(obj, "callbackUri", "callbackUri", "invalid callbackUri") {
        Some(u) if valid_callback(u) => Some(u.to_string()),
        Some("") => {
            c.push(
                "callbackUri",
                FieldReason::Required,
                "invalid callbackUri: unable to parse callbackUri: parse \"\": empty url",
            );
            None
        }
        Some(u) if refused_scheme(u) => {
            c.push("callbackUri", FieldReason::Invalid, format!("invalid callbackUri: the scheme of \"{u}\" is not allowed (javascript, data, vbscript, file, blob and about are refused); use an https URL, an app scheme or \"/\""));
            None
        }
        Some(u) => {
            c.push("callbackUri", FieldReason::Invalid, format!("invalid callbackUri: unable to parse callbackUri: parse \"{u}\": invalid URI; use an https URL, an app scheme or \"/\""));
            None
        }
        None => {
            c.push(
                "callbackUri",
                FieldReason::Required,
                "invalid callbackUri: unable to parse callbackUri: parse \"\": empty url",
            );
            None
        }
    };
    let flow = c.one_of("flow", &FLOWS, "invalid flow");
    let purpose = c.one_of("purpose", &PURPOSES, "invalid purpose");
    let person = match obj.get("person") {
        Some(Value::Object(p)) => validate_person(&mut c, p),
        None | Some(Value::Null) => {
            c.push(
                "person",
                FieldReason::Required,
                "invalid person: person is required",
            );
            None
        }
        Some(_) => {
            c.push(
                "person",
                FieldReason::WrongType,
                "invalid person: person must be an object",
            );
            None
        }
    };
    let expires_in = match c.text(obj, "expiresIn", "expiresIn", "invalid expiresIn") {
        None => Some(DEFAULT_EXPIRES_IN),
        Some(s) => {
            let n = parse_expires_in(s);
            if n.is_none() {
                c.push("expiresIn", FieldReason::Invalid, format!("invalid expiresIn: '{s}' must be seconds with a trailing s, from \"1s\" to \"{MAX_EXPIRES_IN}s\" (e.g. \"3600s\")"));
            }
            n
        }
    };
    let client_reference = match c.text(
        obj,
        "clientReference",
        "clientReference",
        "invalid clientReference",
    ) {
        Some(r) if r.is_empty() || r.chars().any(char::is_whitespace) => {
            c.push(
                "clientReference",
                FieldReason::Invalid,
                "invalid clientReference: must not be empty or contain spaces",
            );
            None
        }
        Some(r) if r.chars().count() > MAX_CLIENT_REFERENCE_CHARS => {
            c.push(
                "clientReference",
                FieldReason::TooLong,
                format!(
                    "invalid clientReference: longer than {MAX_CLIENT_REFERENCE_CHARS} characters"
                ),
            );
            None
        }
        other => other.map(String::from),
    };
    // Fields the flow's extra steps require (the steps themselves run the `id` journey).
    if let Some(f) = &flow {
        if f.starts_with("idtoken") || f == "adaptiveidtoken" {
            match c.text(obj, "bioTokenId", "bioTokenId", "invalid bioTokenId") {
                Some(id) if is_uuid(id) => {}
                Some(_) => c.push(
                    "bioTokenId",
                    FieldReason::Invalid,
                    "invalid bioTokenId: must be the id (UUID) of a finished process",
                ),
                None => c.push(
                    "bioTokenId",
                    FieldReason::Required,
                    format!("invalid bioTokenId: required for flow {f}"),
                ),
            }
        }
        if f == "idsmart"
            && c.text(obj, "useCase", "useCase", "invalid useCase")
                .is_none_or(str::is_empty)
        {
            c.push(
                "useCase",
                FieldReason::Required,
                "invalid useCase: required for flow idsmart",
            );
        }
        if f.contains("sign") {
            if !matches!(obj.get("payload"), Some(Value::Array(a)) if !a.is_empty()) {
                c.push(
                    "payload",
                    FieldReason::Required,
                    format!("invalid payload: required with its documents for flow {f}"),
                );
            }
            if person.as_ref().is_some_and(|p| p.email.is_none()) {
                c.push(
                    "person.email",
                    FieldReason::Required,
                    format!("invalid person: email required for flow {f}"),
                );
            }
        }
    }
    match (callback, flow, purpose, person, expires_in) {
        (Some(callback_uri), Some(flow), Some(purpose), Some(person), Some(expires_in))
            if c.problems.is_empty() =>
        {
            Ok(WebCreate {
                flow,
                purpose,
                callback_uri,
                person,
                expires_in,
                client_reference,
            })
        }
        _ => Err(Problem::Invalid(c.problems)),
    }
}

fn validate_person(c: &mut Checker<'_>, p: &Map<String, Value>) -> Option<WebPerson> {
    // A person without any document: a process that waits for `POST …/document` (reference
    // §3.5). One of the two without the other is an error.
    let absent = |k: &str| p.get(k).is_none_or(Value::is_null);
    let awaiting_document = absent("duiType") && absent("duiValue");
    let dui_type = match c.text(p, "duiType", "person.duiType", "invalid person") {
        None if awaiting_document => Some(String::new()),
        Some(t) if DUI_TYPES.contains(&t) => Some(t.to_string()),
        Some(t) => {
            c.push(
                "person.duiType",
                FieldReason::Invalid,
                format!("invalid person: unknown duiType {t}"),
            );
            None
        }
        None => {
            c.push(
                "person.duiType",
                FieldReason::Required,
                "invalid person: duiType is required",
            );
            None
        }
    };
    let dui_value = match c.text(p, "duiValue", "person.duiValue", "invalid person") {
        None if awaiting_document => Some(String::new()),
        Some(v) if v.len() > MAX_DUI_VALUE => {
            c.push(
                "person.duiValue",
                FieldReason::TooLong,
                format!("invalid person: duiValue exceeds {MAX_DUI_VALUE} characters"),
            );
            None
        }
        Some(v) if dui_type.as_deref().is_some_and(|t| !valid_dui(t, v)) => {
            c.push("person.duiValue", FieldReason::Invalid, "idnsv2/GetPublicID request error: rpc error: code = InvalidArgument desc = invalid dui value");
            None
        }
        Some(v) if !v.is_empty() => Some(v.to_string()),
        _ => {
            c.push(
                "person.duiValue",
                FieldReason::Required,
                "invalid person: duiValue is required",
            );
            None
        }
    };
    let friendly_name = c
        .text(p, "friendlyName", "person.friendlyName", "invalid person")
        .map(String::from);
    if friendly_name
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_FRIENDLY_NAME)
    {
        c.push(
            "person.friendlyName",
            FieldReason::TooLong,
            "invalid person: friendly name exceeds 50 characters.",
        );
    }
    let email = c
        .text(p, "email", "person.email", "invalid person")
        .map(String::from);
    let phone = c
        .text(p, "phone", "person.phone", "invalid person")
        .map(String::from);
    let mut notifications = Vec::new();
    match p.get("notifications") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let path = format!("person.notifications[{i}].notificationChannel");
                let channel = item.get("notificationChannel").and_then(Value::as_str);
                match channel {
                    Some(ch) if CHANNELS.contains(&ch) => {
                        let email_ok = email.as_deref().is_some_and(valid_email);
                        let phone_ok = phone.as_deref().is_some_and(|ph| {
                            ph.len() == 13 && ph.bytes().all(|b| b.is_ascii_digit())
                        });
                        if ch == "NOTIFICATION_CHANNEL_EMAIL" && !email_ok {
                            c.push("person.email", FieldReason::Invalid, format!("invalid person: email required for notification channel {ch}, invalid email address"));
                        } else if ch != "NOTIFICATION_CHANNEL_EMAIL" && !phone_ok {
                            c.push("person.phone", FieldReason::Invalid, format!("invalid person: phone number required for notification channel {ch}, phone number does not contain 13 chars"));
                        }
                        notifications.push(ch.to_string());
                    }
                    _ => c.push(
                        &path,
                        FieldReason::Invalid,
                        format!(
                            "invalid person: notificationChannel must be one of {}",
                            CHANNELS.join(", ")
                        ),
                    ),
                }
            }
        }
        Some(_) => c.push(
            "person.notifications",
            FieldReason::WrongType,
            "invalid person: notifications must be an array",
        ),
    }
    if friendly_name
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_FRIENDLY_NAME)
    {
        return None;
    }
    Some(WebPerson {
        dui_type: dui_type?,
        dui_value: dui_value?,
        friendly_name,
        email,
        phone,
        notifications,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    fn good() -> Value {
        json!({"callbackUri": "https://example.com/done", "flow": "id", "purpose": "biometryonboarding",
               "person": {"duiType": "DUI_TYPE_BR_CPF", "duiValue": "00000000191", "friendlyName": "Maria"}})
    }

    fn messages(body: Value) -> Vec<(String, String)> {
        match validate_web_create(&body) {
            Err(Problem::Invalid(p)) => p.into_iter().map(|f| (f.field, f.message)).collect(),
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn a_good_body_defaults_to_seven_days() {
        let v = validate_web_create(&good()).unwrap();
        assert_eq!(v.expires_in, DEFAULT_EXPIRES_IN);
        let mut b = good();
        b["expiresIn"] = json!("3600s");
        assert_eq!(validate_web_create(&b).unwrap().expires_in, 3600);
    }

    #[test]
    fn idcloud_messages() {
        let mut b = good();
        b["flow"] = json!("nope");
        assert_eq!(messages(b), vec![("flow".into(), "invalid flow".into())]);
        let mut b = good();
        b["person"]["friendlyName"] = json!("x".repeat(51));
        assert_eq!(
            messages(b)[0].1,
            "invalid person: friend name exceeds 50 characters.".replace("friend ", "friendly ")
        );
        let mut b = good();
        b["person"]["friendlyName"] = json!("x".repeat(50));
        assert!(validate_web_create(&b).is_ok());
        let mut b = good();
        b["callbackUri"] = json!("");
        assert!(messages(b)[0].1.starts_with(
            "invalid callbackUri: unable to parse callbackUri: parse \"\": empty url"
        ));
        for refused in [
            "javascript://%0aalert(1)",
            "JavaScript://x",
            "DATA:text/html,x",
            "file:///etc/passwd",
            "vbscript://x",
            "blob://x",
            "About://blank",
        ] {
            let mut b = good();
            b["callbackUri"] = json!(refused);
            let m = messages(b);
            assert_eq!(m[0].0, "callbackUri", "{refused}");
            assert!(m[0].1.contains("is not allowed"), "{refused}: {}", m[0].1);
        }
        for allowed in ["myapp://done", "http://localhost/x"] {
            let mut b = good();
            b["callbackUri"] = json!(allowed);
            assert!(validate_web_create(&b).is_ok(), "{allowed}");
        }
        let mut b = good();
        b["person"]["duiValue"] = json!("00000000192");
        assert!(messages(b)[0].1.contains("invalid dui value"));
        let mut b = good();
        b["person"]["notifications"] =
            json!([{"notificationChannel": "NOTIFICATION_CHANNEL_WHATSAPP"}]);
        assert!(
            messages(b)[0]
                .1
                .contains("phone number does not contain 13 chars")
        );
        let mut b = good();
        b["expiresIn"] = json!("3600");
        assert_eq!(messages(b)[0].0, "expiresIn");
    }

    #[test]
    fn state_follows_capture_and_expiry() {
        let v = validate_web_create(&good()).unwrap();
        let mut r = WebProcessRecord {
            id: "p".into(),
            tenant_id: "t".into(),
            created_at: 0,
            expires_at: 100,
            flow: v.flow,
            purpose: v.purpose,
            callback_uri: v.callback_uri,
            person: v.person,
            client_reference: None,
            token: "tok".into(),
            capture: None,
        };
        assert_eq!(r.state_at(99), WebState::Created);
        assert_eq!(r.state_at(100), WebState::Finished("EXPIRED"));
        r.capture = Some(WebCapture {
            at: 50,
            decision: CaptureDecision::scenario(Scenario::LivenessFailed),
            image_type: "image/jpeg".into(),
        });
        assert_eq!(r.state_at(200), WebState::Finished("FAILED"));
        let view = r.view(200, "u");
        assert_eq!(view["authenticationInfo"]["livenessResult"], "NO");
        assert_eq!(view["finishedAt"], "1970-01-01T00:00:50Z");
    }

    /// A capture stored before the engines (only `scenario`) still reads; a refused journey's
    /// and a local verdict's read back as written.
    #[test]
    fn captures_of_every_version_read_back() {
        let old: WebCapture = serde_json::from_str(
            r#"{"at":5,"scenario":"identity-denied","imageType":"image/png"}"#,
        )
        .unwrap();
        assert_eq!(
            old.decision,
            CaptureDecision::scenario(Scenario::IdentityDenied)
        );
        let refused = WebCapture {
            at: 6,
            decision: CaptureDecision::refused(),
            image_type: String::new(),
        };
        let text = serde_json::to_string(&refused).unwrap();
        assert_eq!(text, r#"{"at":6,"imageType":""}"#);
        let back: WebCapture = serde_json::from_str(&text).unwrap();
        assert!(back.decision.is_refused());
        let outcome = back.decision.outcome();
        assert!(!outcome.live && outcome.identity.is_none());
    }
}
