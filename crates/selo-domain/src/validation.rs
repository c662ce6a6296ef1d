//! Validation of `POST /processes/v1` bodies (CONTRACT §4–§5): every offending field is
//! reported, in the order of the contract's schema, before anything is done.

use crate::image::{CheckedImage, ImageProblem, check_image_base64};
use crate::person_code::{PersonCode, parse_person_code};
use crate::problem::{FieldProblem, Problem};
use selo_wire::error::FieldReason;
use serde_json::{Map, Value};

/// Longest accepted `subject.name`.
pub const MAX_NAME_CHARS: usize = 256;
/// Longest accepted `clientReference`.
pub const MAX_CLIENT_REFERENCE_CHARS: usize = 256;
/// Longest accepted free-text field (`useCase`, `email`, `phone`).
pub const MAX_TEXT_CHARS: usize = 256;

/// Most references one transactional create may carry.
pub const MAX_REFERENCES: usize = 100;

/// Reference types of a transactional create.
pub const REFERENCE_TYPES: [&str; 2] = ["REFERENCE_TYPE_IMAGE_BASE64", "REFERENCE_TYPE_PROCESS_ID"];

/// A validated onboarding subject.
#[derive(Debug, Clone)]
pub struct ValidSubject {
    /// CPF or CURP.
    pub code: PersonCode,
    /// Full name.
    pub name: String,
    /// Correlation id.
    pub client_reference: Option<String>,
}

/// One validated reference of a transactional create.
#[derive(Debug, Clone)]
pub enum ValidReference {
    /// A reference image, checked like the selfie.
    Image(CheckedImage),
    /// A previous process of the tenant.
    ProcessId(String),
}

/// A create body that passed validation.
#[derive(Debug, Clone)]
pub enum ValidCreate {
    /// `subject` + selfie.
    Onboarding {
        /// The person.
        subject: ValidSubject,
        /// The selfie.
        image: CheckedImage,
    },
    /// `references` + selfie.
    Transactional {
        /// The references.
        references: Vec<ValidReference>,
        /// The optional subject.
        subject: Option<ValidSubject>,
        /// The selfie.
        image: CheckedImage,
    },
}

/// Whether a create body is transactional (has a `references` member); used to pick the
/// capability a create needs before the body is validated.
pub fn is_transactional(body: &Value) -> bool {
    body.get("references").is_some_and(|r| !r.is_null())
}

/// Whether `s` is a UUID in its canonical hyphenated form (any version, any case).
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Collects field problems in schema order.
struct Checker {
    problems: Vec<FieldProblem>,
}

/// A JSON member looked up for checking: absent, of the wrong type, or a string.
enum Member<'a> {
    Absent,
    WrongType,
    Text(&'a str),
}

fn member<'a>(obj: &'a Map<String, Value>, key: &str) -> Member<'a> {
    match obj.get(key) {
        None | Some(Value::Null) => Member::Absent,
        Some(Value::String(s)) => Member::Text(s),
        Some(_) => Member::WrongType,
    }
}

impl Checker {
    fn push(&mut self, field: &str, reason: FieldReason, code: &'static str, message: String) {
        self.problems
            .push(FieldProblem::new(field, reason, code, message));
    }

    /// A required string: missing/blank → `required`, non-string → `wrong_type`.
    fn required_text<'a>(
        &mut self,
        obj: &'a Map<String, Value>,
        key: &str,
        path: &str,
        code: &'static str,
    ) -> Option<&'a str> {
        match member(obj, key) {
            Member::Text(s) if !s.trim().is_empty() => Some(s),
            Member::WrongType => {
                self.push(
                    path,
                    FieldReason::WrongType,
                    code,
                    format!("{path} must be a string"),
                );
                None
            }
            _ => {
                self.push(
                    path,
                    FieldReason::Required,
                    code,
                    format!("{path} is required"),
                );
                None
            }
        }
    }

    /// An optional string with a length limit and a rule; returns it when valid.
    fn optional_text<'a>(
        &mut self,
        obj: &'a Map<String, Value>,
        key: &str,
        path: &str,
        code: &'static str,
        rule: (&str, fn(&str) -> bool),
    ) -> Option<&'a str> {
        match member(obj, key) {
            Member::Absent => None,
            Member::WrongType => {
                self.push(
                    path,
                    FieldReason::WrongType,
                    code,
                    format!("{path} must be a string"),
                );
                None
            }
            Member::Text(s) if s.chars().count() > MAX_TEXT_CHARS => {
                self.push(
                    path,
                    FieldReason::TooLong,
                    code,
                    format!("{path} is longer than {MAX_TEXT_CHARS} characters"),
                );
                None
            }
            Member::Text(s) if !(rule.1)(s) => {
                self.push(
                    path,
                    FieldReason::Invalid,
                    code,
                    format!("{path} {}", rule.0),
                );
                None
            }
            Member::Text(s) => Some(s),
        }
    }

    /// A required CPF or CURP at `obj[key]` (`path` in messages).
    fn person_code(
        &mut self,
        obj: &Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Option<PersonCode> {
        let raw = self.required_text(obj, key, path, "20005")?;
        let parsed = parse_person_code(raw);
        if parsed.is_none() {
            self.push(
                path,
                FieldReason::Invalid,
                "20507",
                format!("{path} is not a valid CPF (11 digits, no dots or dashes) or CURP (18 characters); check the digits"),
            );
        }
        parsed
    }

    fn subject(&mut self, subject: Option<&Value>, required: bool) -> Option<ValidSubject> {
        let obj = match subject {
            None | Some(Value::Null) if !required => return None,
            None | Some(Value::Null) => {
                self.push(
                    "subject",
                    FieldReason::Required,
                    "20004",
                    "subject is required: send the person's code (CPF or CURP) and name".into(),
                );
                return None;
            }
            Some(Value::Object(obj)) => obj,
            Some(_) => {
                self.push(
                    "subject",
                    FieldReason::WrongType,
                    "20004",
                    "subject must be an object with code and name".into(),
                );
                return None;
            }
        };
        let code = self.person_code(obj, "code", "subject.code");
        let name = self
            .required_text(obj, "name", "subject.name", "20006")
            .and_then(|n| {
                if n.chars().count() > MAX_NAME_CHARS {
                    self.push(
                        "subject.name",
                        FieldReason::TooLong,
                        "20006",
                        format!("subject.name is longer than {MAX_NAME_CHARS} characters"),
                    );
                    None
                } else if n.contains("  ") {
                    self.push(
                        "subject.name",
                        FieldReason::Invalid,
                        "20006",
                        "subject.name must not contain two consecutive spaces".into(),
                    );
                    None
                } else {
                    Some(n.trim().to_string())
                }
            });
        self.optional_text(
            obj,
            "gender",
            "subject.gender",
            "20508",
            ("must be M, F or empty", |g| matches!(g, "M" | "F" | "")),
        );
        self.optional_text(
            obj,
            "birthDate",
            "subject.birthDate",
            "20019",
            ("must be a date in the form YYYY-MM-DD", is_iso_date),
        );
        self.optional_text(
            obj,
            "email",
            "subject.email",
            "20003",
            ("is not an e-mail address", is_email),
        );
        self.optional_text(
            obj,
            "phone",
            "subject.phone",
            "20003",
            (
                "must be digits only with country and area code (e.g. 5511974749090)",
                |p| (8..=15).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()),
            ),
        );
        let client_reference = self
            .optional_text(
                obj,
                "clientReference",
                "subject.clientReference",
                "20003",
                ("must not be empty or contain spaces", |r| {
                    !r.is_empty() && !r.chars().any(char::is_whitespace)
                }),
            )
            .map(String::from);
        Some(ValidSubject {
            code: code?,
            name: name?,
            client_reference,
        })
    }

    fn top_level_extras(&mut self, obj: &Map<String, Value>) {
        self.optional_text(
            obj,
            "useCase",
            "useCase",
            "20003",
            ("must not be empty", |u| !u.trim().is_empty()),
        );
        self.optional_text(
            obj,
            "subsidiaryId",
            "subsidiaryId",
            "20003",
            ("must be a UUID", is_uuid),
        );
    }

    fn image(
        &mut self,
        value: Option<&Value>,
        path: &str,
        missing_code: &'static str,
    ) -> Option<CheckedImage> {
        match value {
            Some(Value::String(s)) if !s.is_empty() => match check_image_base64(s) {
                Ok(img) => Some(img),
                Err(p) => {
                    let (reason, code) = image_problem_code(p);
                    self.push(path, reason, code, format!("{path}: {p}"));
                    None
                }
            },
            None | Some(Value::Null) | Some(Value::String(_)) => {
                self.push(
                    path,
                    FieldReason::Required,
                    missing_code,
                    format!("{path} is required: send the selfie as base64 (PNG, JPEG or WebP)"),
                );
                None
            }
            Some(_) => {
                self.push(
                    path,
                    FieldReason::WrongType,
                    missing_code,
                    format!("{path} must be a base64 string"),
                );
                None
            }
        }
    }

    fn references(&mut self, value: &Value) -> Option<Vec<ValidReference>> {
        let items = match value {
            Value::Array(items) if items.len() > MAX_REFERENCES => {
                self.push(
                    "references",
                    FieldReason::TooLong,
                    "20003",
                    format!("references holds more than {MAX_REFERENCES} references"),
                );
                return None;
            }
            Value::Array(items) if !items.is_empty() => items,
            Value::Array(_) => {
                self.push(
                    "references",
                    FieldReason::Required,
                    "20003",
                    "references must hold at least one reference".into(),
                );
                return None;
            }
            _ => {
                self.push(
                    "references",
                    FieldReason::WrongType,
                    "20003",
                    "references must be an array of {referenceType, referenceContent}".into(),
                );
                return None;
            }
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let base = format!("references[{i}]");
            let Value::Object(obj) = item else {
                self.push(
                    &base,
                    FieldReason::WrongType,
                    "20003",
                    format!("{base} must be an object"),
                );
                continue;
            };
            let ty_path = format!("{base}.referenceType");
            let ty = self.required_text(obj, "referenceType", &ty_path, "20003");
            let ty = ty.filter(|t| {
                let known = REFERENCE_TYPES.contains(t);
                if !known {
                    self.push(
                        &ty_path,
                        FieldReason::Invalid,
                        "20003",
                        format!("{ty_path} must be one of {}", REFERENCE_TYPES.join(", ")),
                    );
                }
                known
            });
            let content_path = format!("{base}.referenceContent");
            match ty {
                Some("REFERENCE_TYPE_IMAGE_BASE64") => {
                    if let Some(img) =
                        self.image(obj.get("referenceContent"), &content_path, "20003")
                    {
                        out.push(ValidReference::Image(img));
                    }
                }
                _ => {
                    if let Some(c) =
                        self.required_text(obj, "referenceContent", &content_path, "20003")
                    {
                        if is_uuid(c) {
                            out.push(ValidReference::ProcessId(c.to_ascii_lowercase()));
                        } else if ty.is_some() {
                            self.push(
                                &content_path,
                                FieldReason::Invalid,
                                "20003",
                                format!("{content_path} must be a process id (UUID)"),
                            );
                        }
                    }
                }
            }
        }
        Some(out)
    }
}

/// The API code and field reason for an image problem (CONTRACT §5).
pub fn image_problem_code(p: ImageProblem) -> (FieldReason, &'static str) {
    match p {
        ImageProblem::InvalidBase64 | ImageProblem::Undecodable => (FieldReason::Invalid, "20900"),
        ImageProblem::TooLarge => (FieldReason::TooLarge, "20506"),
        ImageProblem::TooManyPixels => (FieldReason::TooLarge, "20900"),
        ImageProblem::UnsupportedFormat => (FieldReason::UnsupportedFormat, "20505"),
        ImageProblem::TooSmall => (FieldReason::TooSmall, "20807"),
    }
}

fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(char::is_whitespace)
        && !domain.contains('@')
}

fn is_iso_date(s: &str) -> bool {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    s.len() == 10 && time::Date::parse(s, &fmt).is_ok()
}

/// Parses a body into a JSON object: empty or not JSON → 20003.
pub fn parse_body(bytes: &[u8]) -> Result<Value, Problem> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Problem::BodyMalformed {
            reason: "the request body is empty; send a JSON object".into(),
        });
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(Problem::BodyMalformed {
            reason: "the request body must be a JSON object".into(),
        }),
        Err(e) => Err(Problem::BodyMalformed {
            reason: format!("the request body is not valid JSON ({e})"),
        }),
    }
}

/// Validates a create body (already known to be a JSON object) completely.
pub fn validate_create(body: &Value) -> Result<ValidCreate, Problem> {
    let empty = Map::new();
    let obj = body.as_object().unwrap_or(&empty);
    let mut c = Checker {
        problems: Vec::new(),
    };
    let valid = if let Some(refs) = obj.get("references").filter(|r| !r.is_null()) {
        // Transactional schema order: references, imageBase64, useCase, subsidiaryId, subject.
        let references = c.references(refs);
        let image = c.image(obj.get("imageBase64"), "imageBase64", "20009");
        c.top_level_extras(obj);
        let subject = c.subject(obj.get("subject"), false);
        match (references, image) {
            (Some(references), Some(image)) => Some(ValidCreate::Transactional {
                references,
                subject,
                image,
            }),
            _ => None,
        }
    } else {
        // Onboarding schema order: subject.*, useCase, subsidiaryId, imageBase64.
        let subject = c.subject(obj.get("subject"), true);
        c.top_level_extras(obj);
        let image = c.image(obj.get("imageBase64"), "imageBase64", "20009");
        match (subject, image) {
            (Some(subject), Some(image)) => Some(ValidCreate::Onboarding { subject, image }),
            _ => None,
        }
    };
    match valid {
        Some(v) if c.problems.is_empty() => Ok(v),
        _ => Err(Problem::Invalid(c.problems)),
    }
}

/// A validated enrolment (`POST /identities/v1`, CONTRACT §17).
#[derive(Debug, Clone)]
pub struct ValidEnrolment {
    /// The person's code.
    pub code: PersonCode,
    /// The face.
    pub image: CheckedImage,
}

/// Validates an enrolment body (already known to be a JSON object): `code`, then
/// `imageBase64` with a create's image checks; unknown members are ignored (CONTRACT §4).
pub fn validate_enrolment(body: &Value) -> Result<ValidEnrolment, Problem> {
    let empty = Map::new();
    let obj = body.as_object().unwrap_or(&empty);
    let mut c = Checker {
        problems: Vec::new(),
    };
    let code = c.person_code(obj, "code", "code");
    let image = c.image(obj.get("imageBase64"), "imageBase64", "20009");
    match (code, image) {
        (Some(code), Some(image)) if c.problems.is_empty() => Ok(ValidEnrolment { code, image }),
        _ => Err(Problem::Invalid(c.problems)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_enrolment_names_each_bad_field() {
        let problems = |body: Value| match validate_enrolment(&body) {
            Err(Problem::Invalid(p)) => p
                .into_iter()
                .map(|f| (f.field, f.reason))
                .collect::<Vec<_>>(),
            Ok(_) => panic!("accepted {body}"),
            Err(other) => panic!("{other:?}"),
        };
        assert_eq!(
            problems(json!({"code": "00000000190", "imageBase64": "", "extra": 1})),
            [
                ("code".to_string(), FieldReason::Invalid),
                ("imageBase64".to_string(), FieldReason::Required),
            ]
        );
        assert_eq!(
            problems(json!({})),
            [
                ("code".to_string(), FieldReason::Required),
                ("imageBase64".to_string(), FieldReason::Required),
            ]
        );
    }

    fn fields(body: Value) -> Vec<(String, &'static str)> {
        match validate_create(&body) {
            Err(Problem::Invalid(p)) => p.into_iter().map(|f| (f.field, f.code)).collect(),
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn every_offending_field_is_listed_in_schema_order() {
        let got = fields(json!({"subject": {"code": "123", "name": 5, "gender": "X"}}));
        let want = vec![
            ("subject.code".to_string(), "20507"),
            ("subject.name".to_string(), "20006"),
            ("subject.gender".to_string(), "20508"),
            ("imageBase64".to_string(), "20009"),
        ];
        assert_eq!(got, want);
        assert_eq!(
            fields(json!({})),
            vec![
                ("subject".to_string(), "20004"),
                ("imageBase64".to_string(), "20009")
            ]
        );
        assert_eq!(
            fields(json!({"subject": {}, "imageBase64": "@@@"})),
            vec![
                ("subject.code".to_string(), "20005"),
                ("subject.name".to_string(), "20006"),
                ("imageBase64".to_string(), "20900")
            ]
        );
    }

    #[test]
    fn transactional_references_are_checked() {
        let got = fields(
            json!({"references": [{"referenceType": "X"}, {"referenceType": "REFERENCE_TYPE_PROCESS_ID", "referenceContent": "nope"}]}),
        );
        assert_eq!(
            got,
            vec![
                ("references[0].referenceType".to_string(), "20003"),
                ("references[0].referenceContent".to_string(), "20003"),
                ("references[1].referenceContent".to_string(), "20003"),
                ("imageBase64".to_string(), "20009"),
            ]
        );
        assert!(is_transactional(&json!({"references": []})));
    }

    #[test]
    fn bodies_and_uuids() {
        assert!(parse_body(b"").is_err());
        assert!(parse_body(b"[1]").is_err());
        assert!(parse_body(b"{").is_err());
        assert!(parse_body(b"{}").is_ok());
        assert!(is_uuid("0190f5c2-7a8e-7cc1-9a0e-2f1d3c4b5a69"));
        assert!(!is_uuid("0190f5c2-7a8e-7cc1-9a0e-2f1d3c4b5a6"));
        assert!(is_iso_date("1990-02-28"));
        assert!(!is_iso_date("1990-02-30"));
        assert!(is_email("a@b.co"));
        assert!(!is_email("a@b"));
    }
}
