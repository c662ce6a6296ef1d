//! Selo's HTTP layer: one axum router per environment serving the token service and the API
//! contract. Handlers are thin: they authenticate, hand the request to a service module and
//! return a [`selo_domain::problem::Problem`] on failure, which [`http::problem`] renders once.

pub mod auth;
pub mod caches;
pub mod config;
pub mod engines;
pub mod environment;
pub mod faults;
pub mod health;
pub mod http;
pub mod ids;
pub mod keyring;
pub mod rate_limit;
pub mod routes;
pub mod serve;
pub mod services;
pub mod state;
pub mod sweeper;
pub mod webhooks;

pub use config::{EnvironmentConfig, EnvironmentKind, ServerConfig};
pub use serve::{ServeHandle, start};
