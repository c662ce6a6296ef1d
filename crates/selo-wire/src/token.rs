//! OAuth2 token service bodies (`POST /oauth2/token`, `/.well-known/jwks.json`).

use serde::{Deserialize, Serialize};

/// The jwt-bearer grant type every token request must carry.
pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// `200` body of `POST /oauth2/token`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    /// The access token (a JWT signed with the environment's Ed25519 key).
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Lifetime in seconds (3600).
    pub expires_in: u64,
}

/// Error body of `POST /oauth2/token` (RFC 6749 §5.2 plus the IDCloud code).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthError {
    /// `invalid_request`, `unsupported_grant_type` or `invalid_grant`.
    pub error: String,
    /// `Authentication failed (<code>): <plain reason>` for authentication failures.
    pub error_description: String,
    /// The IDCloud authentication code (`1.2.21`, …), absent for form errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// `/.well-known/jwks.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    /// The environment's access-token signing keys.
    pub keys: Vec<Jwk>,
}

/// One Ed25519 public key (RFC 8037 OKP form).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// `OKP`.
    pub kty: String,
    /// `Ed25519`.
    pub crv: String,
    /// base64url public key.
    pub x: String,
    /// Key id, also in the access token header.
    pub kid: String,
    /// `EdDSA`.
    pub alg: String,
    /// `sig`.
    #[serde(rename = "use")]
    pub use_: String,
}
