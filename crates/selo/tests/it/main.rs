//! Black-box integration tests: every test starts the real `selo` binary on `127.0.0.1:0` with
//! a fresh data directory and talks to it over HTTP, as an integrator would.

mod support;

mod admin;
mod client_cli;
mod engines;
mod faults;
mod idempotency;
mod journey;
mod limits;
mod load;
mod magic_link;
mod models;
mod nodes;
mod ops;
mod postgres;
mod processes;
mod rate_limits;
mod resource_auth;
mod retention;
mod s3;
mod serve_flags;
mod storage;
mod token;
mod transfer;
mod web;
mod web_cli;
mod webhooks;
