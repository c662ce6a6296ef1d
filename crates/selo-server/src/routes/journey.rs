//! The hosted journey page (`userRedirectUrl`): plain HTML, CSS and JS served from the binary.
//! The page posts the capture to `/journey/v1/process/{id}/capture`.

use crate::http::problem::ApiError;
use crate::services::web;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use selo_domain::web::{WebProcessRecord, WebState};
use serde_json::json;
use std::collections::HashMap;

const PAGE: &str = include_str!("../../assets/journey.html");
const SCRIPT: &str = include_str!("../../assets/journey.js");
const STYLE: &str = include_str!("../../assets/journey.css");

/// What the person reads about why they are asked, per `purpose`.
fn purpose_text(purpose: &str) -> &'static str {
    match purpose {
        "creditprocess" => "This is part of your credit application.",
        "carpurchase" => "This is part of your vehicle purchase.",
        "ageverification" => "This confirms your age.",
        _ => "This is part of opening your account.",
    }
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page(tenant: &str, purpose: &str, process: serde_json::Value, status: StatusCode) -> Response {
    let data = process.to_string().replace('<', "\\u003c");
    let html = PAGE
        .replace("{{tenant}}", &escape_html(tenant))
        .replace("{{purpose}}", purpose_text(purpose))
        .replace("{{process_json}}", &data);
    let mut res = (status, Html(html)).into_response();
    res.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob: mediastream:; connect-src 'self'; frame-ancestors 'none'",
        ),
    );
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

fn closed_message(p: &WebProcessRecord, now: i64) -> Option<&'static str> {
    match p.state_at(now) {
        WebState::Created => None,
        WebState::Finished("EXPIRED") => Some("This verification link expired. Ask for a new one."),
        _ => Some("This verification was already completed. You can close this page."),
    }
}

/// The page for a link that names nothing (or carries a wrong token).
fn invalid_link() -> Response {
    page(
        "Selo",
        "",
        json!({"state": "closed", "message": "This link is not valid. Check that you opened the whole link you received."}),
        StatusCode::NOT_FOUND,
    )
}

/// The display name of the company asking.
fn tenant_name(state: &AppState, tenant_id: &str) -> String {
    state
        .shared
        .store
        .tenant(tenant_id)
        .ok()
        .flatten()
        .map_or_else(|| "A company".to_string(), |t| t.name)
}

/// `GET /journey/{id}?token=…`.
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let token = query.get("token").map(String::as_str).unwrap_or_default();
    let p = match web::journey_process(&state, &id, token) {
        Ok(Some(p)) => p,
        Ok(None) => return invalid_link(),
        Err(problem) => return ApiError(problem).into_response(),
    };
    let tenant = tenant_name(&state, &p.tenant_id);
    let now = state.now();
    let process = match closed_message(&p, now) {
        Some(message) => json!({"state": "closed", "message": message}),
        None => json!({
            "state": "open",
            "token": p.token,
            "captureUrl": format!("/journey/v1/process/{}/capture", p.id),
        }),
    };
    page(&tenant, &p.purpose, process, StatusCode::OK)
}

/// `GET /link/v2/{token}`: the Magic Link journey (single use).
pub async fn show_link(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let link = match crate::services::magic_link::journey_link(&state, &token) {
        Ok(Some(link)) => link,
        Ok(None) => return invalid_link(),
        Err(problem) => return ApiError(problem).into_response(),
    };
    let tenant = tenant_name(&state, &link.tenant_id);
    let process = if link.capture.is_some() {
        json!({"state": "closed", "message": "This link was already used. You can close this page."})
    } else {
        json!({"state": "open", "token": link.token, "captureUrl": format!("/journey/v1/link/{}/capture", link.token)})
    };
    page(&tenant, "biometryonboarding", process, StatusCode::OK)
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut res = body.into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    res
}

/// The page's script.
pub async fn script() -> Response {
    asset(SCRIPT, "text/javascript; charset=utf-8")
}

/// The page's style sheet.
pub async fn style() -> Response {
    asset(STYLE, "text/css; charset=utf-8")
}
