//! Use cases: each orchestrates domain rules and the store for one operation, so that handlers
//! only translate HTTP.

pub mod capture;
pub mod idempotency;
pub mod magic_link;
pub mod processes;
pub mod token;
pub mod web;
