//! `POST /oauth2/token`, `GET /.well-known/jwks.json`.

use crate::http::body::TokenForm;
use crate::http::context::Annotations;
use crate::http::problem::ApiResult;
use crate::services;
use crate::state::AppState;
use axum::extract::{ConnectInfo, State};
use axum::{Extension, Json};
use selo_wire::token::{Jwks, TokenResponse};
use std::net::SocketAddr;

/// Exchanges a signed assertion for an access token.
pub async fn token(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(notes): Extension<Annotations>,
    TokenForm(body): TokenForm,
) -> ApiResult<Json<TokenResponse>> {
    let mut grant_type = None;
    let mut assertion = None;
    for (k, v) in form_urlencoded::parse(&body) {
        match k.as_ref() {
            "grant_type" => grant_type = Some(v.into_owned()),
            "assertion" => assertion = Some(v.into_owned()),
            _ => {}
        }
    }
    let res = services::token::issue(
        &state,
        grant_type.as_deref(),
        assertion.as_deref(),
        peer.ip(),
        &notes,
    )
    .await?;
    Ok(Json(res))
}

/// The environment's access-token public keys: every node's (CONTRACT §18).
pub async fn jwks(State(state): State<AppState>) -> Json<Jwks> {
    let mut keys = state
        .shared
        .keyring
        .jwks(&*state.shared.store, &state.env.name);
    if !keys.iter().any(|k| k.kid == state.env.key.kid) {
        keys.push(state.env.key.jwk.clone());
    }
    Json(Jwks { keys })
}
