//! `GET /documents/v1?code=&type=`: reusable documents of a person (an empty list when none).

use crate::auth;
use crate::http::context::Annotations;
use crate::http::problem::ApiResult;
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::{Extension, Json};
use selo_domain::capability::Capability;
use selo_domain::person_code::parse_person_code;
use selo_domain::problem::{FieldProblem, Problem};
use selo_wire::error::FieldReason;
use selo_wire::process::DocumentList;
use std::collections::HashMap;

/// Document types accepted in `type`.
pub const DOCUMENT_TYPES: [&str; 4] = ["BR_RG", "BR_CNH", "BR_CIN", "BR_PASSPORT"];

/// Lists the reusable documents of a person. Selo does not capture documents yet, so the list
/// is always empty once the query is valid.
pub async fn list(
    State(state): State<AppState>,
    Extension(notes): Extension<Annotations>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Json<DocumentList>> {
    let caller = auth::authenticate(&state, &headers, &notes)?;
    if !caller.capabilities.has(Capability::Documents) {
        return Err(Problem::Forbidden {
            reason: "listing documents needs an API key with the 'documents' capability".into(),
        }
        .into());
    }
    let mut problems = Vec::new();
    match query.get("code").map(String::as_str) {
        None | Some("") => problems.push(FieldProblem::new(
            "code",
            FieldReason::Required,
            "20005",
            "code is required: the person's CPF or CURP",
        )),
        Some(c) if parse_person_code(c).is_none() => problems.push(FieldProblem::new(
            "code",
            FieldReason::Invalid,
            "20507",
            "code is not a valid CPF or CURP",
        )),
        Some(_) => {}
    }
    match query.get("type").map(String::as_str) {
        None | Some("") => problems.push(FieldProblem::new(
            "type",
            FieldReason::Required,
            "20003",
            format!("type is required: one of {}", DOCUMENT_TYPES.join(", ")),
        )),
        Some(t) if !DOCUMENT_TYPES.contains(&t) => problems.push(FieldProblem::new(
            "type",
            FieldReason::Invalid,
            "20003",
            format!("type must be one of {}", DOCUMENT_TYPES.join(", ")),
        )),
        Some(_) => {}
    }
    if !problems.is_empty() {
        return Err(Problem::Invalid(problems).into());
    }
    Ok(Json(DocumentList::default()))
}
