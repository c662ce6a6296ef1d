//! Black-box tests of the client against wiremock servers, in virtual time.
//!
//! One test binary (links once); the modules follow the brief's areas.

mod create;
mod retry;
mod support;
mod token;
mod wait;
mod web;
