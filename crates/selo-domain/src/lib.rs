//! Selo's domain core: the rules of the IDCloud contract with no IO.
//!
//! Architecture invariant: this crate performs no IO (no files, sockets, database or clock
//! reads of its own; time comes in through [`clock::Clock`]) and knows nothing of HTTP or SQL.
//! The server crate maps [`problem::Problem`] to statuses and bodies, once.

pub mod access;
pub mod assertion;
pub mod capability;
pub mod clock;
pub mod evidence;
pub mod fault;
pub mod image;
pub mod magic_link;
pub mod person_code;
pub mod problem;
pub mod process;
pub mod rate_limit;
pub mod retention;
pub mod scenario;
pub mod validation;
pub mod verification;
pub mod web;
pub mod webhook;
