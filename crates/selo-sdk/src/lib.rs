//! # selo-sdk — Rust client for Selo and IDCloud
//!
//! An async (tokio) client for the IDCloud contracts as Selo serves them: the OAuth2
//! JWT-bearer token service; the API contract (`POST /processes/v1`, `GET /processes/v1/{id}`,
//! `GET /documents/v1`); the Web & SDK contract (`POST /client/v1/process`,
//! `GET /client/v1/process/{id}`, its `selfie` and `evidenceset`); and Selo's `clientReference`
//! lookups of both. It caches tokens, applies the platform's retry policy (never retrying a
//! create blindly), and turns every contract's body into one [`Verdict`], because **a 200 is
//! not a pass**.
//!
//! API-contract bodies are the shared types of [`selo_wire`]; Web & SDK bodies are this
//! crate's [`WebProcessRequest`], [`WebProcess`] and [`FileContents`].
//!
//! ```no_run
//! use selo_sdk::{Client, Credentials, Verdict};
//! use selo_wire::process::{CreateProcessRequest, Subject};
//! use std::time::Duration;
//!
//! # async fn run() -> Result<(), selo_sdk::Error> {
//! let credentials = Credentials::from_rsa_pem(
//!     std::fs::read("private-key.pem").expect("key"),
//!     "integrator@3f0c…-tenant.iam.acesso.io",
//!     "https://selo.example.com",
//! )?
//! .with_api_key("sk_…");
//! let client = Client::new(credentials)?;
//!
//! let process = client
//!     .create_process(&CreateProcessRequest {
//!         subject: Some(Subject {
//!             code: "00000000191".into(),
//!             name: "Maria da Silva".into(),
//!             client_reference: Some("order-8812".into()),
//!             ..Subject::default()
//!         }),
//!         image_base64: "/9j/4AAQ…".into(),
//!         ..CreateProcessRequest::default()
//!     })
//!     .await?;
//! let process = client.wait_for_result(&process.id, Duration::from_secs(60)).await?;
//! match Verdict::from_api(&process) {
//!     Verdict::Approved => { /* onboard */ }
//!     Verdict::Inconclusive => { /* manual review */ }
//!     other => println!("not approved: {other}"),
//! }
//! # Ok(()) }
//! ```
//!
//! ## The Web & SDK contract
//!
//! Bearer only: no API key is needed (or sent). The person completes a journey at the
//! process's `userRedirectUrl`; the result is read afterwards.
//!
//! ```no_run
//! use selo_sdk::{Client, Verdict, WebPerson, WebProcessRequest};
//! use std::time::Duration;
//!
//! # async fn run(client: Client) -> Result<(), selo_sdk::Error> {
//! let process = client
//!     .create_web_process(&WebProcessRequest::new(
//!         "id",
//!         "biometryonboarding",
//!         "https://shop.example.com/verified",
//!         WebPerson::cpf("00000000191", "Maria da Silva"),
//!     ))
//!     .await?;
//! println!("send the person to {}", process.user_redirect_url.as_deref().unwrap_or(""));
//! let done = client.wait_for_web_result(&process.id, Duration::from_secs(600)).await?;
//! if done.verdict() == Verdict::Approved {
//!     let selfie = client.get_selfie(&done.id).await?; // 409 before, 410 after 8 h
//!     std::fs::write("selfie.jpg", &selfie.bytes).expect("write");
//! }
//! # Ok(()) }
//! ```
//!
//! Its errors use the same envelope as the API contract, with gRPC-style string codes in
//! [`ApiError::code`]: `"3"` invalid argument, `"5"` not found, `"7"` no permission, `"9"`
//! not finished / retention (with HTTP 409 / 410), `"16"` unauthenticated, `"99999"` internal.
//! The retry policy below applies unchanged; a Web create's lookup is
//! [`Client::find_web_processes_by_client_reference`], keyed by the body's `clientReference`.
//!
//! ## Credentials and tokens
//!
//! [`Credentials`] hold the service account's RSA private key (PEM), its `iss`, the base URL,
//! the audience (default: the base URL without a trailing slash) and the API key; or come from
//! the demo folder of `selo serve --demo` ([`Credentials::from_demo_file`]).
//!
//! The client signs RS256 assertions with exactly the claims `iss`, `aud`, `scope: "*"`, `iat`
//! and `exp = iat + 3600`, posts them to `{url}/oauth2/token`, and caches the access token.
//! It refreshes when **less than 10 minutes** remain
//! ([`ClientBuilder::refresh_margin`]); concurrent callers share one refresh (a tokio mutex is
//! held across it), and no assertion is ever signed per request.
//!
//! RS256 signatures are deterministic, so two assertions with the same `iat` would be
//! byte-identical and the server would refuse the second as a replay (`1.2.7`). The client
//! therefore never reuses an `iat`: each assertion gets `max(now, previous iat + 1)`. That can
//! only run ahead of the clock by a few seconds under a burst of refreshes; it is never put more
//! than 30 s ahead (the server accepts 60 s): past that the client waits for the clock.
//! Another client signing with the same key in the same second (two runs of a command-line tool,
//! say) cannot be seen from here, so a token request refused with `1.2.7` is signed again at
//! once with the next `iat` (up to 10 times per refresh; these do not count as attempts).
//!
//! A refused token request is [`Error::Token`], carrying the IDCloud code (`1.2.21`, … from
//! the body's `code`, or from `error_description`) and the server's description.
//!
//! ## Retry policy
//!
//! CONTRACT §13, the platform's error-codes page made precise. All numbers are
//! [`ClientBuilder`] knobs.
//!
//! | Failure | What the client does |
//! |---|---|
//! | 5xx, transport error | retries after 1 s, 2 s, 4 s, 8 s (each ± 20 %, see below): **5 attempts in all**; a `Retry-After` on a 5xx is a floor |
//! | 429 | waits `Retry-After` (delta-seconds or HTTP-date) exactly; without one, the same backoff capped at 60 s; counts as an attempt. A `Retry-After` over 60 s ([`ClientBuilder::max_retry_after`]) is not slept through: the call fails with [`ApiError::retry_after`] set |
//! | 401 on a resource call | drops the cached token, fetches a new one and retries once (no delay); a second 401 is [`Error::Configuration`] with the server's description; no more retries |
//! | other 4xx | never retried: [`Error::Api`] with status, code, description, fields and request id |
//! | token endpoint 5xx / 429 / transport | as above, with a newly signed assertion per attempt; any other failure is [`Error::Token`] |
//!
//! **Jitter.** A computed delay is drawn uniformly from ± 20 % of its nominal value
//! (0.8–1.2 s, 1.6–2.4 s, 3.2–4.8 s, 6.4–9.6 s), then capped at 60 s. This keeps the seed's
//! average schedule while spreading clients apart. `Retry-After` waits are not jittered.
//! [`ClientBuilder::jitter`]`(false)` gives the exact schedule.
//!
//! **Creates are never blindly retried.** A `POST /processes/v1` or `POST /client/v1/process`
//! that fails with a 5xx or a transport error after the request may have reached the server
//! (anything but a failed connect) may have created the process. It is retried only
//! 1. with an `Idempotency-Key`: when the server has advertised `idempotency-key` in a
//!    `Selo-Features` response header on any earlier response to this client (the token
//!    response counts), every create carries a key — a UUID v4 generated per call and the same
//!    on every attempt — and is retried like a read (a 409 "still running" too); or
//! 2. after a [`Client::find_processes_by_client_reference`] (Web & SDK:
//!    [`Client::find_web_processes_by_client_reference`]) lookup (made after the backoff
//!    delay): if it finds the process, the create returns it ([`Reply::from_lookup`]) instead
//!    of creating a duplicate; if it finds nothing, the create is retried; if the lookup fails
//!    (e.g. 404 from a server without the extension), nothing more is tried.
//!
//! Otherwise — and whenever retries run out after an attempt that may have created the
//! process — the call fails with [`Error::OutcomeUnknown`] naming the `clientReference`. When
//! the caller gave no `subject.clientReference` (Web & SDK: `clientReference`), the SDK
//! generates one (UUID v4) and puts it in the body, so that reference always exists for
//! onboarding and Web & SDK creates. A 429 or 401 on a create
//! is retried as usual: a rejected request does no work (CONTRACT §10).
//!
//! Time is injectable ([`time::Sleeper`], [`time::Clock`]); [`time::VirtualTime`] runs a retry
//! schedule instantly in tests and records every delay.
//!
//! ## Verdicts
//!
//! [`Verdict`] is one enum for every contract: `Approved`, `Denied`, `Inconclusive`,
//! `RetryCapture`, `Pending`, `Error`, `Expired` and `Unknown(value)` for enum values the SDK
//! does not know (which never make deserialization fail). [`Assessment`] adds the reason and
//! the fields the verdict was derived from. Only `Approved` is a pass. The seed's negative values
//! are in **bold**.
//!
//! **API contract** ([`Verdict::from_api`]), first matching row wins:
//!
//! | Body | Verdict |
//! |---|---|
//! | `status` 1 (processing) | `Pending` |
//! | `status` 2 (divergence) | `Inconclusive` |
//! | `status` 4 (canceled) | `Error` |
//! | `status` 5 (error; `GET` answers **410**, see [`Verdict::from_api_error`]) | `Error` |
//! | any other status but 3 | `Unknown("status N")` |
//! | `status` 3, **`liveness` 2** | `Denied` (liveness failed, whatever `unicoId` says) |
//! | `status` 3, `liveness` other than 1/2 | `Unknown("liveness N")` |
//! | `status` 3, `biometryToken.result` `"true"` / `"false"` / other | `Approved` / `Denied` / `Unknown(value)` |
//! | `status` 3, `unicoId.result` `yes`, no `identityFraudsters` or `inconclusive` | `Approved` |
//! | `status` 3, `unicoId.result` `yes`, `identityFraudsters.result` `yes` (behavior alert) | `Inconclusive` (reason "behavior alert") |
//! | `status` 3, **`unicoId.result` `no`** | `Denied` |
//! | `status` 3, `unicoId.result` `inconclusive` (any `score`) | `Inconclusive` |
//! | `status` 3, no `unicoId`, `liveness` 1 (liveness-only key) | `Approved` |
//! | any other `unicoId.result` / `identityFraudsters.result` | `Unknown(value)` |
//!
//! Decisions: a failed liveness is `Denied`, not `RetryCapture`, so that the same sandbox
//! scenario gets the same verdict on the API and Web & SDK contracts (where the seed's
//! `PROCESS_RESULT_FAILED` / `livenessResult NO` are negative); a behavior alert on a confirmed
//! identity is `Inconclusive` (route to review) rather than `Denied`; the SDK never turns a
//! risk `score` into an approval or a denial — it is in [`Assessment::score`] for your policy.
//! `RetryCapture` is reserved for the platform's `retry` decision; no field of today's
//! contracts maps to it.
//!
//! **Web & SDK contract** ([`Verdict::from_web_process`], the `{"process": …}` body or the
//! object; [`WebProcess::verdict`] for a typed process):
//!
//! | Body | Verdict |
//! |---|---|
//! | `state` `PROCESS_STATE_CREATED` (or `PROCESS_STATE_AWAITING…`) | `Pending` |
//! | `state` `PROCESS_STATE_FAILED` | `Error` |
//! | `FINISHED`, **`authenticationInfo.livenessResult` `NO`** | `Denied` |
//! | `FINISHED`, **`PROCESS_RESULT_INVALID_IDENTITY`** | `Denied` |
//! | `FINISHED`, **`PROCESS_RESULT_FAILED`** | `Denied` |
//! | `FINISHED`, `PROCESS_RESULT_EXPIRED` | `Expired` |
//! | `FINISHED`, `PROCESS_RESULT_ERROR` | `Error` |
//! | `FINISHED`, `PROCESS_RESULT_OK`, `AUTHENTICATION_RESULT_POSITIVE` | `Approved` (`Inconclusive` when `identityFraudstersResult` is set and not `…_UNSPECIFIED`/`TRUST_RESULT_INCONCLUSIVE`: behavior alert) |
//! | `FINISHED`, `PROCESS_RESULT_OK`, `AUTHENTICATION_RESULT_INCONCLUSIVE` | `Inconclusive` |
//! | `FINISHED`, `PROCESS_RESULT_OK`, no authentication result, `LIVENESS_RESULT_LIVE` | `Approved` (liveness-only flow) |
//! | any other state / result / authenticationResult value | `Unknown(value)` |
//!
//! **Magic Link** ([`Verdict::from_magic_link`], the envelope or its `data`):
//!
//! | Body | Verdict |
//! |---|---|
//! | `data.error` present | `Error` |
//! | **`data.result.status` `not_verified`** or **`data.response.unico.result` `NOT_APPROVED`** (either) | `Denied` |
//! | another value in either field | `Unknown(value)` |
//! | `data.result.status` `pending`, or neither field yet | `Pending` |
//! | `verified` / `APPROVED` | `Approved` |
//!
//! ## Errors
//!
//! [`Error`] distinguishes configuration ([`Error::Credentials`], [`Error::Token`],
//! [`Error::Configuration`]), request ([`Error::Api`] with [`ApiError`]: status, code,
//! description, fields, request id from the body or the `Request-Id` header), transport,
//! [`Error::OutcomeUnknown`], and [`Error::Timeout`] / [`Error::WebTimeout`] of
//! [`Client::wait_for_result`] / [`Client::wait_for_web_result`].

#![warn(missing_docs)]

mod client;
mod credentials;
mod error;
pub mod retry;
pub mod time;
mod verdict;
mod web;
pub mod webhook;

pub use client::{Client, ClientBuilder, DEFAULT_REFRESH_MARGIN, Reply, TokenStore};
pub use credentials::{ASSERTION_LIFETIME_SECS, Credentials};
pub use error::{ApiError, Error, TokenError};
pub use retry::{PollPolicy, RetryPolicy};
pub use selo_wire;
pub use verdict::{Assessment, Verdict};
pub use web::{
    AuthenticationInfo, DUI_TYPE_BR_CPF, DUI_TYPE_MX_CURP, FileContents, ScoreEngineResult,
    WebPerson, WebProcess, WebProcessRequest,
};
pub use webhook::{WebhookError, verify_webhook};
