//! Wire types: the JSON bodies Selo's server sends and receives, shared by the server, the SDK
//! and the CLI so that there is one source of truth for every field name.
//!
//! Field names follow the IDCloud contract exactly (`camelCase` for the API contract,
//! `snake_case` for OAuth2). Response types implement both `Serialize` and `Deserialize`;
//! unknown fields are ignored when deserializing (forward compatibility).

pub mod admin;
pub mod analysis;
pub mod error;
pub mod process;
pub mod sandbox;
pub mod token;
