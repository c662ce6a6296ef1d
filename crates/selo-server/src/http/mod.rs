//! HTTP plumbing shared by every route: request ids, the problem renderer, body limits, logs.

pub mod body;
pub mod connections;
pub mod context;
pub mod fault;
pub mod metrics;
pub mod middleware;
pub mod problem;
