//! The router of one environment: every contract's routes plus operations and sandbox
//! extensions, wrapped in the request middleware.

mod documents;
mod faults;
mod identities;
mod journey;
mod magic_link;
pub mod ops;
mod processes;
mod sandbox;
mod token;
mod web;

use crate::http::middleware;
use crate::http::problem::ApiError;
use crate::state::AppState;
use axum::Router;
use axum::http::Uri;
use axum::routing::{get, post};
use selo_domain::problem::Problem;

async fn not_found(uri: Uri) -> ApiError {
    ApiError(Problem::RouteNotFound {
        path: uri.path().to_string(),
    })
}

async fn method_not_allowed() -> ApiError {
    ApiError(Problem::MethodNotAllowed)
}

/// Builds the router of one environment.
pub fn router(state: AppState) -> Router {
    let mut r = Router::new()
        .route("/livez", get(ops::livez))
        .route("/readyz", get(ops::readyz))
        .route("/oauth2/token", post(token::token))
        .route("/.well-known/jwks.json", get(token::jwks))
        .route(
            "/processes/v1",
            post(processes::create).get(processes::find),
        )
        .route("/processes/v1/{id}", get(processes::get))
        .route("/processes/v1/{id}/analysis", get(processes::analysis))
        .route("/identities/v1", post(identities::enroll))
        .route(
            "/identities/v1/{code}",
            axum::routing::delete(identities::remove),
        )
        .route("/documents/v1", get(documents::list))
        .route("/client/v1/process", post(web::create).get(web::find))
        .route("/client/v1/process/{id}", get(web::get))
        .route("/client/v1/process/{id}/selfie", get(web::selfie))
        .route("/client/v1/process/{id}/analysis", get(web::analysis))
        .route(
            "/client/v1/process/{id}/evidenceset",
            get(web::evidence_set),
        )
        .route("/client/v1/process/{id}/document", post(web::set_document))
        .route("/journey/v1/process/{id}/capture", post(web::capture))
        .route("/journey/assets/journey.js", get(journey::script))
        .route("/journey/assets/journey.css", get(journey::style))
        .route("/journey/{id}", get(journey::show))
        .route("/v2/magic-link", post(magic_link::create))
        .route("/v2/magic-link/{token}", get(magic_link::get))
        .route(
            "/journey/v1/link/{token}/capture",
            post(magic_link::capture),
        )
        .route("/link/v2/{token}", get(journey::show_link));
    if state.env.is_sandbox() {
        r = r
            .route("/metrics", get(ops::metrics))
            .route("/sandbox/scenarios", get(sandbox::scenarios))
            .route("/sandbox/faults", post(faults::create))
            .route("/sandbox/faults/{id}", get(faults::show));
    }
    if state.env.is_sandbox() && state.shared.manual_clock.is_some() {
        r = r.route(
            "/sandbox/clock",
            get(sandbox::clock).post(sandbox::advance_clock),
        );
    }
    r.fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::around,
        ))
        .with_state(state)
}
