//! The client: token cache, typed calls and the retry loop.

use crate::credentials::Credentials;
use crate::error::{ApiError, Error, TokenError};
use crate::retry::{PollPolicy, RetryPolicy, parse_retry_after};
use crate::time::{Clock, Sleeper, SystemClock, TokioSleeper, unix_seconds};
use crate::verdict::Verdict;
use crate::web::{
    FileBody, FileContents, ProcessEnvelope, WebProcess, WebProcessList, WebProcessRequest,
};
use base64::Engine;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{Method, RequestBuilder, Url};
use selo_wire::analysis::ProcessAnalysis;
use selo_wire::process::{ApiProcess, CreateProcessRequest, DocumentList, ProcessList};
use selo_wire::token::{JWT_BEARER_GRANT, TokenResponse};
use serde::de::DeserializeOwned;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, SystemTime};

/// The access token is refreshed when less than this remains (CONTRACT §13: 10 minutes).
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(600);
/// The furthest ahead of the clock an assertion's `iat` is ever put (the server allows 60 s).
const MAX_IAT_LEAD_SECS: u64 = 30;
/// The token endpoint's code for a replayed assertion.
const REPLAY_CODE: &str = "1.2.7";
/// How many times a refresh re-signs after a `1.2.7` (an `iat` used by another client).
const MAX_REPLAY_RETRIES: u32 = 10;
/// The `Selo-Features` member that advertises `Idempotency-Key` support (CONTRACT §11).
const FEATURE_IDEMPOTENCY: &str = "idempotency-key";

const FEATURES_UNKNOWN: u8 = 0;
const FEATURES_IDEMPOTENT: u8 = 1;
const FEATURES_NOT_IDEMPOTENT: u8 = 2;

/// A client of one Selo (or IDCloud) environment. Cheap to clone; clones share the token
/// cache, so create one per set of credentials and share it.
///
/// ```no_run
/// use selo_sdk::{Client, Credentials, Verdict};
/// use selo_wire::process::{CreateProcessRequest, Subject};
///
/// # async fn run() -> Result<(), selo_sdk::Error> {
/// let client = Client::new(Credentials::from_demo_file("selo-data/demo/credentials.json")?)?;
/// let process = client
///     .create_process(&CreateProcessRequest {
///         subject: Some(Subject {
///             code: "00000000191".into(),
///             name: "Maria da Silva".into(),
///             ..Subject::default()
///         }),
///         image_base64: "/9j/4AAQ…".into(),
///         ..CreateProcessRequest::default()
///     })
///     .await?;
/// match Verdict::from_api(&process) {
///     Verdict::Approved => println!("welcome"),
///     other => println!("not approved: {other}"),
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    credentials: Credentials,
    base: Url,
    api_key: Option<HeaderValue>,
    retry: RetryPolicy,
    poll: PollPolicy,
    refresh_margin: Duration,
    sleeper: Arc<dyn Sleeper>,
    clock: Arc<dyn Clock>,
    idempotency_keys: bool,
    token_store: Option<Box<dyn TokenStore>>,
    features: AtomicU8,
    /// Held across a refresh, so concurrent callers share one (single-flight).
    tokens: tokio::sync::Mutex<TokenState>,
}

#[derive(Default)]
struct TokenState {
    current: Option<Arc<CachedToken>>,
    /// `iat` of the last assertion signed; the next one is strictly later.
    last_iat: Option<u64>,
}

struct CachedToken {
    response: TokenResponse,
    bearer: HeaderValue,
    expires_at: SystemTime,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("credentials", &self.inner.credentials)
            .field("retry", &self.inner.retry)
            .field("poll", &self.inner.poll)
            .field("supports_idempotency", &self.supports_idempotency())
            .finish_non_exhaustive()
    }
}

/// Configures a [`Client`]. Every knob of the retry policy, the token refresh and the polling
/// is here; defaults are CONTRACT §13's.
#[must_use]
pub struct ClientBuilder {
    credentials: Credentials,
    retry: RetryPolicy,
    poll: PollPolicy,
    refresh_margin: Duration,
    sleeper: Arc<dyn Sleeper>,
    clock: Arc<dyn Clock>,
    timeout: Duration,
    connect_timeout: Duration,
    http: Option<reqwest::Client>,
    idempotency_keys: bool,
    token_store: Option<Box<dyn TokenStore>>,
}

/// Keeps a client's access token between processes (the `selo` CLI keeps it in a file), so
/// short-lived programs do not sign an assertion each: the token is used until less than the
/// refresh margin is left, and a new one is saved. A token is a secret: keep it where only its
/// owner can read it.
pub trait TokenStore: Send + Sync {
    /// The token saved for these credentials, with when it expires, if any.
    fn load(&self) -> Option<(TokenResponse, SystemTime)>;
    /// Saves the token just obtained, which expires at `expires_at`.
    fn save(&self, token: &TokenResponse, expires_at: SystemTime);
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("credentials", &self.credentials)
            .field("retry", &self.retry)
            .field("poll", &self.poll)
            .field("refresh_margin", &self.refresh_margin)
            .field("timeout", &self.timeout)
            .field("idempotency_keys", &self.idempotency_keys)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// Attempts in all, the first included (default 5; at least 1).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.retry.max_attempts = n.max(1);
        self
    }

    /// Delay before the first retry, doubling after (default 1 s).
    pub fn base_delay(mut self, d: Duration) -> Self {
        self.retry.base_delay = d;
        self
    }

    /// Cap on a computed backoff, jitter included; also the cap of a 429's backoff when it
    /// has no `Retry-After` (default 60 s).
    pub fn max_delay(mut self, d: Duration) -> Self {
        self.retry.max_delay = d;
        self
    }

    /// The longest `Retry-After` the client sleeps through (default 60 s). A longer one ends
    /// the call with the error, [`ApiError::retry_after`] set.
    pub fn max_retry_after(mut self, d: Duration) -> Self {
        self.retry.max_retry_after = d;
        self
    }

    /// Jitter (± 20 %) on retry backoff and polling delays (default on). Turn it off for
    /// exact schedules in tests.
    pub fn jitter(mut self, on: bool) -> Self {
        self.retry.jitter = on;
        self.poll.jitter = on;
        self
    }

    /// Replaces the whole retry policy.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Polling delays of [`Client::wait_for_result`]: first `initial`, doubling up to `max`
    /// (defaults 1 s and 30 s).
    pub fn poll_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.poll.initial = initial;
        self.poll.max = max;
        self
    }

    /// Refresh the access token when less than this remains (default 10 minutes).
    pub fn refresh_margin(mut self, d: Duration) -> Self {
        self.refresh_margin = d;
        self
    }

    /// What the client waits with (default [`TokioSleeper`]).
    pub fn sleeper(mut self, sleeper: impl Sleeper + 'static) -> Self {
        self.sleeper = Arc::new(sleeper);
        self
    }

    /// The clock the client reads (default [`SystemClock`]).
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Timeout of one HTTP attempt (default 30 s). Ignored with [`http_client`](Self::http_client).
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    /// Connect timeout of one HTTP attempt (default 10 s). Ignored with
    /// [`http_client`](Self::http_client).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// Uses this reqwest client (proxies, custom TLS roots). It should not follow redirects,
    /// so that credentials never go to another host; the default client does not.
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// Whether creates carry an `Idempotency-Key` when the server advertises support in
    /// `Selo-Features` (default `true`). Off, a create that fails ambiguously is retried only
    /// after a `clientReference` lookup finds nothing.
    pub fn idempotency_keys(mut self, on: bool) -> Self {
        self.idempotency_keys = on;
        self
    }

    /// Keeps the access token in `store` between processes (none by default).
    pub fn token_store(mut self, store: impl TokenStore + 'static) -> Self {
        self.token_store = Some(Box::new(store));
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<Client, Error> {
        let base = Url::parse(self.credentials.base_url())
            .map_err(|e| Error::Credentials(format!("base URL: {e}")))?;
        let api_key = match self.credentials.api_key() {
            Some(k) => {
                let mut v = HeaderValue::from_str(k).map_err(|_| {
                    Error::Credentials("the API key has characters a header cannot carry".into())
                })?;
                v.set_sensitive(true);
                Some(v)
            }
            None => None,
        };
        let http = match self.http {
            Some(h) => h,
            None => reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(self.timeout)
                .connect_timeout(self.connect_timeout)
                .user_agent(concat!("selo-sdk/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| Error::Credentials(format!("building the HTTP client: {e}")))?,
        };
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                credentials: self.credentials,
                base,
                api_key,
                retry: self.retry,
                poll: self.poll,
                refresh_margin: self.refresh_margin,
                sleeper: self.sleeper,
                clock: self.clock,
                idempotency_keys: self.idempotency_keys,
                token_store: self.token_store,
                features: AtomicU8::new(FEATURES_UNKNOWN),
                tokens: tokio::sync::Mutex::new(TokenState::default()),
            }),
        })
    }
}

/// A successful response with its metadata, from the `*_reply` methods.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Reply<T> {
    /// The decoded body.
    pub value: T,
    /// HTTP status (200; 0 when `from_lookup`).
    pub status: u16,
    /// The `Request-Id` response header.
    pub request_id: Option<String>,
    /// `true` when a create's outcome was recovered by the `clientReference` lookup after an
    /// ambiguous failure: the value is the process that first attempt created.
    pub from_lookup: bool,
}

impl<T> Reply<T> {
    /// A create's outcome recovered by the `clientReference` lookup.
    fn looked_up(value: T) -> Self {
        Reply {
            value,
            status: 0,
            request_id: None,
            from_lookup: true,
        }
    }

    /// The same metadata around another value.
    fn map<U>(self, f: impl FnOnce(T) -> U) -> Reply<U> {
        Reply {
            value: f(self.value),
            status: self.status,
            request_id: self.request_id,
            from_lookup: self.from_lookup,
        }
    }
}

/// A raw successful response.
struct Raw {
    status: u16,
    request_id: Option<String>,
    body: Vec<u8>,
}

/// A failed attempt.
enum Failure {
    Status {
        status: u16,
        request_id: Option<String>,
        retry_after: Option<Duration>,
        body: Vec<u8>,
    },
    Transport {
        error: reqwest::Error,
        /// `false` only when the request certainly never left (connect failure).
        maybe_sent: bool,
    },
}

impl Failure {
    fn into_api_error(self, attempts: u32) -> Error {
        match self {
            Failure::Status {
                status,
                request_id,
                retry_after,
                body,
            } => Error::Api(Box::new(ApiError::from_response(
                status,
                request_id,
                retry_after,
                &body,
            ))),
            Failure::Transport { error, .. } => Error::Transport {
                attempts,
                source: error,
            },
        }
    }
}

/// Which contract a call belongs to: the API contract sends `APIKEY` and looks a create up
/// with `GET /processes/v1?clientReference=`; the Web & SDK contract is Bearer only and looks
/// up with `GET /client/v1/process?clientReference=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Contract {
    Api,
    Web,
}

enum Kind<'a> {
    Read,
    Create { reference: Option<&'a str> },
}

enum Done {
    Raw(Raw),
    Found(Found),
}

/// The process a create's `clientReference` lookup found.
enum Found {
    Api(ApiProcess),
    Web(Box<WebProcess>),
}

impl Client {
    /// A client with the default settings.
    pub fn new(credentials: Credentials) -> Result<Client, Error> {
        Client::builder(credentials).build()
    }

    /// A builder to change the defaults.
    pub fn builder(credentials: Credentials) -> ClientBuilder {
        ClientBuilder {
            credentials,
            retry: RetryPolicy::default(),
            poll: PollPolicy::default(),
            refresh_margin: DEFAULT_REFRESH_MARGIN,
            sleeper: Arc::new(TokioSleeper),
            clock: Arc::new(SystemClock),
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            http: None,
            idempotency_keys: true,
            token_store: None,
        }
    }

    /// The credentials.
    pub fn credentials(&self) -> &Credentials {
        &self.inner.credentials
    }

    /// Whether the server advertised `Idempotency-Key` support (`Selo-Features`) on a response
    /// this client received; `None` before any response said either way (an IDCloud server
    /// never does).
    pub fn supports_idempotency(&self) -> Option<bool> {
        match self.inner.features.load(Ordering::Relaxed) {
            FEATURES_IDEMPOTENT => Some(true),
            FEATURES_NOT_IDEMPOTENT => Some(false),
            _ => None,
        }
    }

    // ----- tokens -------------------------------------------------------------------------

    /// The access token, from the cache (or the [`TokenStore`]), or fetched when less than
    /// the refresh margin remains. `expires_in` counts from now: a cached token reports the
    /// seconds it has left, not those it was issued with.
    pub async fn token(&self) -> Result<TokenResponse, Error> {
        let cached = self.cached_token().await?;
        let mut response = cached.response.clone();
        // Rounded up: a token just issued for 3600 s says 3600, not 3599.
        response.expires_in = cached
            .expires_at
            .duration_since(self.inner.clock.now())
            .map_or(0, |left| {
                left.as_secs() + u64::from(left.subsec_nanos() > 0)
            });
        Ok(response)
    }

    /// The access token string (see [`token`](Self::token)).
    pub async fn access_token(&self) -> Result<String, Error> {
        Ok(self.cached_token().await?.response.access_token.clone())
    }

    async fn cached_token(&self) -> Result<Arc<CachedToken>, Error> {
        let mut st = self.inner.tokens.lock().await;
        if st.current.is_none() {
            st.current = self.saved_token();
        }
        if let Some(t) = st.current.as_ref().filter(|t| self.is_fresh(t)) {
            return Ok(t.clone());
        }
        self.refresh(&mut st).await
    }

    /// The token the [`TokenStore`] kept, if any.
    fn saved_token(&self) -> Option<Arc<CachedToken>> {
        let (response, expires_at) = self.inner.token_store.as_ref()?.load()?;
        let mut bearer =
            HeaderValue::from_str(&format!("Bearer {}", response.access_token)).ok()?;
        bearer.set_sensitive(true);
        Some(Arc::new(CachedToken {
            response,
            bearer,
            expires_at,
        }))
    }

    /// After a 401 with `stale`: a fresh token, unless another caller already replaced it.
    async fn token_after_401(&self, stale: &Arc<CachedToken>) -> Result<Arc<CachedToken>, Error> {
        let mut st = self.inner.tokens.lock().await;
        if let Some(t) = st
            .current
            .as_ref()
            .filter(|t| !Arc::ptr_eq(t, stale) && self.is_fresh(t))
        {
            return Ok(t.clone());
        }
        st.current = None;
        self.refresh(&mut st).await
    }

    fn is_fresh(&self, t: &CachedToken) -> bool {
        t.expires_at
            .duration_since(self.inner.clock.now())
            .is_ok_and(|left| left >= self.inner.refresh_margin)
    }

    /// The `iat` of the next assertion: now, or one second after the previous one when that
    /// is not earlier (two assertions with the same claims are byte-identical, and the second
    /// would be refused as a replay). Never more than `MAX_IAT_LEAD_SECS` ahead of the clock:
    /// past that, it waits for the clock to catch up.
    async fn next_iat(&self, st: &TokenState) -> u64 {
        loop {
            let now = unix_seconds(self.inner.clock.now());
            let iat = match st.last_iat {
                Some(last) if last >= now => last + 1,
                _ => now,
            };
            if iat <= now + MAX_IAT_LEAD_SECS {
                return iat;
            }
            self.inner.sleeper.sleep(Duration::from_secs(1)).await;
        }
    }

    /// Fetches a token (the caller holds the lock). Each attempt signs a new assertion.
    async fn refresh(&self, st: &mut TokenState) -> Result<Arc<CachedToken>, Error> {
        let url = self.url(&["oauth2", "token"]);
        let policy = &self.inner.retry;
        let (mut attempts, mut backoffs, mut replays) = (0u32, 0u32, 0u32);
        loop {
            attempts += 1;
            let iat = self.next_iat(st).await;
            let assertion = self.inner.credentials.sign_assertion(iat)?;
            st.last_iat = Some(iat);
            let sent_at = self.inner.clock.now();
            let rb = self
                .inner
                .http
                .post(url.clone())
                .header(ACCEPT, "application/json")
                .form(&[
                    ("grant_type", JWT_BEARER_GRANT),
                    ("assertion", assertion.as_str()),
                ]);
            let failure = match self.send(rb).await {
                Ok(raw) => {
                    let response: TokenResponse = decode(&raw)?;
                    let mut bearer =
                        HeaderValue::from_str(&format!("Bearer {}", response.access_token))
                            .map_err(|_| Error::Decode {
                                status: raw.status,
                                message: "the access token cannot be sent in a header".into(),
                                request_id: raw.request_id.clone(),
                            })?;
                    bearer.set_sensitive(true);
                    let expires_at = sent_at + Duration::from_secs(response.expires_in);
                    if let Some(store) = &self.inner.token_store {
                        store.save(&response, expires_at);
                    }
                    let token = Arc::new(CachedToken {
                        expires_at,
                        response,
                        bearer,
                    });
                    st.current = Some(token.clone());
                    return Ok(token);
                }
                Err(f) => f,
            };
            let last = attempts >= policy.max_attempts;
            let delay = match &failure {
                Failure::Status {
                    status,
                    retry_after,
                    ..
                } if *status == 429 || *status >= 500 => {
                    self.delay_for(*status, *retry_after, &mut backoffs)
                }
                Failure::Transport { .. } => self.delay_for(0, None, &mut backoffs),
                Failure::Status { .. } => None,
            };
            match (delay, failure) {
                (Some(d), _) if !last => self.inner.sleeper.sleep(d).await,
                (
                    _,
                    Failure::Status {
                        status,
                        request_id,
                        body,
                        ..
                    },
                ) => {
                    let error = TokenError::from_response(status, request_id, &body);
                    if error.code.as_deref() == Some(REPLAY_CODE) && replays < MAX_REPLAY_RETRIES {
                        // Another client (e.g. another process with the same key) used this
                        // `iat` already: sign again with the next one, at once. Does not count
                        // as an attempt.
                        replays += 1;
                        attempts -= 1;
                        continue;
                    }
                    return Err(Error::Token(Box::new(error)));
                }
                (_, f) => return Err(f.into_api_error(attempts)),
            }
        }
    }

    // ----- API contract -------------------------------------------------------------------

    /// `POST /processes/v1`: creates a process and returns it with its synchronous result.
    /// **Check [`Verdict::from_api`]**: a 200 is not a pass.
    ///
    /// A create is never blindly retried (see the crate docs). If `subject.clientReference` is
    /// empty, the SDK puts a generated UUID there, so that [`Error::OutcomeUnknown`] always
    /// names a reference to look up.
    pub async fn create_process(
        &self,
        request: &CreateProcessRequest,
    ) -> Result<ApiProcess, Error> {
        Ok(self.create_process_reply(request).await?.value)
    }

    /// [`create_process`](Self::create_process) with the response's metadata.
    pub async fn create_process_reply(
        &self,
        request: &CreateProcessRequest,
    ) -> Result<Reply<ApiProcess>, Error> {
        let mut body = request.clone();
        let reference = body.subject.as_mut().map(|s| {
            let r = match s.client_reference.take() {
                Some(r) if !r.is_empty() => r,
                _ => uuid::Uuid::new_v4().to_string(),
            };
            s.client_reference = Some(r.clone());
            r
        });
        let bytes = serde_json::to_vec(&body)
            .map_err(|e| Error::InvalidArgument(format!("serializing the request: {e}")))?;
        let url = self.url(&["processes", "v1"]);
        let done = self
            .call(
                Contract::Api,
                Method::POST,
                url,
                Some(&bytes),
                Kind::Create {
                    reference: reference.as_deref(),
                },
            )
            .await?;
        match done {
            Done::Raw(raw) => Ok(reply(&raw)?),
            Done::Found(Found::Api(p)) => Ok(Reply::looked_up(p)),
            Done::Found(Found::Web(_)) => unreachable!("an API create looks up API processes"),
        }
    }

    /// `GET /processes/v1/{id}`. A **410** that is not the retention one
    /// ([`ApiError::is_ended_in_error`]) means the process ended in error:
    /// [`Verdict::from_api_error`] maps it to [`Verdict::Error`].
    pub async fn get_process(&self, id: &str) -> Result<ApiProcess, Error> {
        Ok(self.get_process_reply(id).await?.value)
    }

    /// [`get_process`](Self::get_process) with the response's metadata.
    pub async fn get_process_reply(&self, id: &str) -> Result<Reply<ApiProcess>, Error> {
        let id = id.trim();
        if id.is_empty() {
            return Err(Error::InvalidArgument("the process id is empty".into()));
        }
        let url = self.url(&["processes", "v1", id]);
        reply(&self.read(Contract::Api, url).await?)
    }

    /// **\[ext\]** `GET /processes/v1/{id}/analysis` (CONTRACT §17): what the engines that
    /// decided the process measured — the models, the faces, each quality gate against its
    /// threshold, liveness, the face distance against the tenant's thresholds, the fraud
    /// search, the timings. **409** while the process runs.
    pub async fn get_process_analysis(&self, id: &str) -> Result<ProcessAnalysis, Error> {
        let id = id.trim();
        if id.is_empty() {
            return Err(Error::InvalidArgument("the process id is empty".into()));
        }
        let url = self.url(&["processes", "v1", id, "analysis"]);
        decode(&self.read(Contract::Api, url).await?)
    }

    /// `GET /documents/v1?code=&type=`: the person's reusable documents (`type`: `BR_RG`,
    /// `BR_CNH`, `BR_CIN`, `BR_PASSPORT`). An empty list when there are none.
    pub async fn list_documents(
        &self,
        code: &str,
        document_type: &str,
    ) -> Result<DocumentList, Error> {
        let mut url = self.url(&["documents", "v1"]);
        url.query_pairs_mut()
            .append_pair("code", code)
            .append_pair("type", document_type);
        decode(&self.read(Contract::Api, url).await?)
    }

    /// **\[ext\]** `GET /processes/v1?clientReference=X`: the caller's processes with that
    /// reference, newest first (at most 50). An IDCloud server, or a Selo server without the
    /// extension, answers 404.
    pub async fn find_processes_by_client_reference(
        &self,
        reference: &str,
    ) -> Result<Vec<ApiProcess>, Error> {
        if reference.is_empty() {
            return Err(Error::InvalidArgument(
                "the clientReference is empty".into(),
            ));
        }
        let mut url = self.url(&["processes", "v1"]);
        url.query_pairs_mut()
            .append_pair("clientReference", reference);
        let list: ProcessList = decode(&self.read(Contract::Api, url).await?)?;
        Ok(list.items)
    }

    /// Polls `GET /processes/v1/{id}` until its verdict is no longer
    /// [`Pending`](Verdict::Pending), waiting 1 s, 2 s, 4 s … up to 30 s between polls (± 20 %,
    /// see [`ClientBuilder::poll_backoff`]). Gives up with [`Error::Timeout`] once `timeout`
    /// has passed on the client's clock (one last poll happens at the deadline). Each poll
    /// has the usual retries; a 410 (process ended in error) is returned as the error it is.
    pub async fn wait_for_result(&self, id: &str, timeout: Duration) -> Result<ApiProcess, Error> {
        let clock = &self.inner.clock;
        let start = clock.now();
        let deadline = start + timeout;
        let mut polls = 0u32;
        loop {
            let process = self.get_process(id).await?;
            if Verdict::from_api(&process).is_final() {
                return Ok(process);
            }
            let now = clock.now();
            let Ok(left) = deadline.duration_since(now) else {
                return Err(timeout_error(id, start, now, process));
            };
            if left.is_zero() {
                return Err(timeout_error(id, start, now, process));
            }
            polls += 1;
            let delay = self.inner.poll.delay(polls).min(left);
            self.inner.sleeper.sleep(delay).await;
        }
    }

    // ----- Web & SDK contract -------------------------------------------------------------

    /// `POST /client/v1/process` (Bearer only): creates a process whose person completes the
    /// journey at [`WebProcess::user_redirect_url`]. The process starts
    /// `PROCESS_STATE_CREATED` ([`Verdict::Pending`]); poll it with
    /// [`wait_for_web_result`](Self::wait_for_web_result) or wait for the webhook.
    ///
    /// Retried like [`create_process`](Self::create_process), never blindly: with an
    /// `Idempotency-Key` when the server advertises one, else after a
    /// [`find_web_processes_by_client_reference`](Self::find_web_processes_by_client_reference)
    /// lookup finds nothing; otherwise [`Error::OutcomeUnknown`]. An empty `clientReference` is
    /// replaced by a generated UUID.
    pub async fn create_web_process(
        &self,
        request: &WebProcessRequest,
    ) -> Result<WebProcess, Error> {
        Ok(self.create_web_process_reply(request).await?.value)
    }

    /// [`create_web_process`](Self::create_web_process) with the response's metadata.
    pub async fn create_web_process_reply(
        &self,
        request: &WebProcessRequest,
    ) -> Result<Reply<WebProcess>, Error> {
        let mut body = request.clone();
        let reference = match body.client_reference.take() {
            Some(r) if !r.is_empty() => r,
            _ => uuid::Uuid::new_v4().to_string(),
        };
        body.client_reference = Some(reference.clone());
        let bytes = serde_json::to_vec(&body)
            .map_err(|e| Error::InvalidArgument(format!("serializing the request: {e}")))?;
        let url = self.url(&["client", "v1", "process"]);
        let done = self
            .call(
                Contract::Web,
                Method::POST,
                url,
                Some(&bytes),
                Kind::Create {
                    reference: Some(&reference),
                },
            )
            .await?;
        match done {
            Done::Raw(raw) => Ok(reply::<ProcessEnvelope>(&raw)?.map(|e| e.process)),
            Done::Found(Found::Web(p)) => Ok(Reply::looked_up(*p)),
            Done::Found(Found::Api(_)) => unreachable!("a Web create looks up Web processes"),
        }
    }

    /// `GET /client/v1/process/{id}`: the process (unwrapped from `{"process": …}`). 400 code
    /// `3` for an id that is not a UUID, 404 code `5` when unknown or another tenant's.
    pub async fn get_web_process(&self, id: &str) -> Result<WebProcess, Error> {
        Ok(self.get_web_process_reply(id).await?.value)
    }

    /// [`get_web_process`](Self::get_web_process) with the response's metadata.
    pub async fn get_web_process_reply(&self, id: &str) -> Result<Reply<WebProcess>, Error> {
        let url = self.url(&["client", "v1", "process", process_id(id)?]);
        Ok(reply::<ProcessEnvelope>(&self.read(Contract::Web, url).await?)?.map(|e| e.process))
    }

    /// **\[ext\]** `GET /client/v1/process?clientReference=X`: the caller's Web & SDK processes
    /// with that reference, newest first (at most 50). An IDCloud server answers 404.
    pub async fn find_web_processes_by_client_reference(
        &self,
        reference: &str,
    ) -> Result<Vec<WebProcess>, Error> {
        if reference.is_empty() {
            return Err(Error::InvalidArgument(
                "the clientReference is empty".into(),
            ));
        }
        let mut url = self.url(&["client", "v1", "process"]);
        url.query_pairs_mut()
            .append_pair("clientReference", reference);
        let list: WebProcessList = decode(&self.read(Contract::Web, url).await?)?;
        Ok(list.items)
    }

    /// **\[ext\]** `GET /client/v1/process/{id}/analysis` (CONTRACT §17): what the engines
    /// measured on the journey's capture (see [`get_process_analysis`](Self::get_process_analysis)).
    /// **409** before the person completed the journey.
    pub async fn get_web_process_analysis(&self, id: &str) -> Result<ProcessAnalysis, Error> {
        let id = id.trim();
        if id.is_empty() {
            return Err(Error::InvalidArgument("the process id is empty".into()));
        }
        let url = self.url(&["client", "v1", "process", id, "analysis"]);
        decode(&self.read(Contract::Web, url).await?)
    }

    /// `GET /client/v1/process/{id}/selfie`: the captured selfie, decoded. **409** while the
    /// process has not finished, **410** after the retention window (8 h after finishing by
    /// default), **403** code `7` without the tenant's selfie permission.
    pub async fn get_selfie(&self, id: &str) -> Result<FileContents, Error> {
        Ok(self.get_selfie_reply(id).await?.value)
    }

    /// [`get_selfie`](Self::get_selfie) with the response's metadata.
    pub async fn get_selfie_reply(&self, id: &str) -> Result<Reply<FileContents>, Error> {
        self.get_file(id, "selfie").await
    }

    /// `GET /client/v1/process/{id}/evidenceset`: the evidence set, a PDF (decoded). **409**
    /// before the process finished, **410** after the retention window (2 h by default),
    /// **403** code `7` without the tenant's evidence-set permission.
    pub async fn get_evidence_set(&self, id: &str) -> Result<FileContents, Error> {
        Ok(self.get_evidence_set_reply(id).await?.value)
    }

    /// [`get_evidence_set`](Self::get_evidence_set) with the response's metadata.
    pub async fn get_evidence_set_reply(&self, id: &str) -> Result<Reply<FileContents>, Error> {
        self.get_file(id, "evidenceset").await
    }

    async fn get_file(&self, id: &str, what: &str) -> Result<Reply<FileContents>, Error> {
        let url = self.url(&["client", "v1", "process", process_id(id)?, what]);
        let raw = self.read(Contract::Web, url).await?;
        let body: FileBody = decode(&raw)?;
        let bytes = decode_base64(&body.file_contents).map_err(|e| Error::Decode {
            status: raw.status,
            message: format!("fileContents is not base64: {e}"),
            request_id: raw.request_id.clone(),
        })?;
        Ok(Reply {
            value: FileContents {
                content_type: body.content_type,
                bytes,
            },
            status: raw.status,
            request_id: raw.request_id,
            from_lookup: false,
        })
    }

    /// Polls `GET /client/v1/process/{id}` until its verdict is no longer
    /// [`Pending`](Verdict::Pending) (the person finished the journey, or it expired), with the
    /// delays of [`wait_for_result`](Self::wait_for_result). Gives up with
    /// [`Error::WebTimeout`] once `timeout` has passed on the client's clock (one last poll
    /// happens at the deadline). Polling burns the rate limit: prefer the webhook for long
    /// waits.
    pub async fn wait_for_web_result(
        &self,
        id: &str,
        timeout: Duration,
    ) -> Result<WebProcess, Error> {
        let clock = &self.inner.clock;
        let start = clock.now();
        let deadline = start + timeout;
        let mut polls = 0u32;
        loop {
            let process = self.get_web_process(id).await?;
            if process.verdict().is_final() {
                return Ok(process);
            }
            let now = clock.now();
            let left = deadline.duration_since(now).unwrap_or_default();
            if left.is_zero() {
                return Err(Error::WebTimeout {
                    process_id: id.to_string(),
                    waited: now.duration_since(start).unwrap_or_default(),
                    last: Some(Box::new(process)),
                });
            }
            polls += 1;
            let delay = self.inner.poll.delay(polls).min(left);
            self.inner.sleeper.sleep(delay).await;
        }
    }

    // ----- machinery ----------------------------------------------------------------------

    /// The first process a create's `clientReference` lookup finds on `contract`.
    async fn lookup(&self, contract: Contract, reference: &str) -> Result<Option<Found>, Error> {
        Ok(match contract {
            Contract::Api => self
                .find_processes_by_client_reference(reference)
                .await?
                .into_iter()
                .next()
                .map(Found::Api),
            Contract::Web => self
                .find_web_processes_by_client_reference(reference)
                .await?
                .into_iter()
                .next()
                .map(|p| Found::Web(Box::new(p))),
        })
    }

    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.inner.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    async fn read(&self, contract: Contract, url: Url) -> Result<Raw, Error> {
        match self
            .call(contract, Method::GET, url, None, Kind::Read)
            .await?
        {
            Done::Raw(raw) => Ok(raw),
            Done::Found(_) => unreachable!("only creates look up"),
        }
    }

    /// One logical call of `contract` with CONTRACT §13's retry policy.
    async fn call(
        &self,
        contract: Contract,
        method: Method,
        url: Url,
        body: Option<&[u8]>,
        kind: Kind<'_>,
    ) -> Result<Done, Error> {
        let api_key = match contract {
            Contract::Web => None,
            Contract::Api => match self.inner.api_key.clone() {
                Some(k) => Some(k),
                None => {
                    return Err(Error::Credentials(
                        "the API contract needs an API key (Credentials::with_api_key)".into(),
                    ));
                }
            },
        };
        let policy = &self.inner.retry;
        let mut token = self.cached_token().await?;
        let (is_create, reference) = match kind {
            Kind::Read => (false, None),
            Kind::Create { reference } => (true, reference),
        };
        // Decided once per logical call, from what the server advertised so far, and reused on
        // every attempt.
        let idempotency_key =
            (is_create && self.inner.idempotency_keys && self.supports_idempotency() == Some(true))
                .then(|| uuid::Uuid::new_v4().to_string());
        let unknown = |cause: Error| Error::OutcomeUnknown {
            client_reference: reference.map(str::to_string),
            cause: Box::new(cause),
        };
        let (mut attempts, mut backoffs) = (0u32, 0u32);
        let mut refreshed = false;
        // Whether an earlier attempt of this create may have created the process.
        let mut maybe_created = false;
        loop {
            attempts += 1;
            let mut rb = self
                .inner
                .http
                .request(method.clone(), url.clone())
                .header(AUTHORIZATION, token.bearer.clone())
                .header(ACCEPT, "application/json");
            if let Some(k) = &api_key {
                rb = rb.header("APIKEY", k.clone());
            }
            if let Some(b) = body {
                rb = rb.header(CONTENT_TYPE, "application/json").body(b.to_vec());
            }
            if let Some(k) = &idempotency_key {
                rb = rb.header("Idempotency-Key", k.as_str());
            }
            let failure = match self.send(rb).await {
                Ok(raw) => return Ok(Done::Raw(raw)),
                Err(f) => f,
            };
            let last = attempts >= policy.max_attempts;
            let (status, retry_after, ambiguous) = match &failure {
                Failure::Status {
                    status,
                    retry_after,
                    ..
                } => (*status, *retry_after, *status >= 500),
                Failure::Transport { maybe_sent, .. } => (0, None, *maybe_sent),
            };
            if is_create && ambiguous {
                maybe_created = true;
            }
            let settle = |e: Error| if maybe_created { unknown(e) } else { e };
            if status == 401 {
                let error = failure.into_api_error(attempts);
                if refreshed {
                    let Error::Api(e) = error else {
                        unreachable!("a status failure is an API error")
                    };
                    return Err(settle(Error::Configuration(e)));
                }
                if last {
                    return Err(settle(error));
                }
                refreshed = true;
                token = self.token_after_401(&token).await.map_err(settle)?;
                continue;
            }
            let retryable = match status {
                0 | 429 | 500.. => true,
                // A keyed create whose first attempt is still running (CONTRACT §11).
                409 => idempotency_key.is_some(),
                _ => false,
            };
            let delay = if retryable {
                self.delay_for(status, retry_after, &mut backoffs)
            } else {
                None
            };
            let Some(delay) = delay else {
                return Err(settle(failure.into_api_error(attempts)));
            };
            if is_create && ambiguous && idempotency_key.is_none() {
                // No key: only a lookup by clientReference that finds nothing makes a retry
                // safe; one that finds the process returns it.
                let Some(r) = reference else {
                    return Err(unknown(failure.into_api_error(attempts)));
                };
                // Let a slow commit land before looking.
                self.inner.sleeper.sleep(delay).await;
                match Box::pin(self.lookup(contract, r)).await {
                    Ok(found) => {
                        if let Some(p) = found {
                            return Ok(Done::Found(p));
                        }
                        // Known: not created.
                        maybe_created = false;
                        if last {
                            return Err(failure.into_api_error(attempts));
                        }
                        continue;
                    }
                    Err(_) => return Err(unknown(failure.into_api_error(attempts))),
                }
            }
            if last {
                return Err(settle(failure.into_api_error(attempts)));
            }
            self.inner.sleeper.sleep(delay).await;
        }
    }

    /// The wait before retrying after a retryable failure (`status` 0 = transport), or `None`
    /// when the server asks for a longer wait than the policy allows.
    fn delay_for(
        &self,
        status: u16,
        retry_after: Option<Duration>,
        backoffs: &mut u32,
    ) -> Option<Duration> {
        let policy = &self.inner.retry;
        if let Some(ra) = retry_after {
            if ra > policy.max_retry_after {
                return None;
            }
            if status == 429 {
                return Some(ra);
            }
        }
        *backoffs += 1;
        let backoff = policy.backoff(*backoffs);
        Some(retry_after.map_or(backoff, |ra| backoff.max(ra)))
    }

    /// One HTTP attempt.
    async fn send(&self, rb: RequestBuilder) -> Result<Raw, Failure> {
        let response = match rb.send().await {
            Ok(r) => r,
            Err(error) => {
                return Err(Failure::Transport {
                    maybe_sent: !error.is_connect(),
                    error,
                });
            }
        };
        let status = response.status().as_u16();
        let headers = response.headers();
        self.note_features(headers);
        let request_id = header_str(headers, "request-id");
        let retry_after = header_str(headers, RETRY_AFTER.as_str())
            .and_then(|v| parse_retry_after(&v, self.inner.clock.now()));
        let body = match response.bytes().await {
            Ok(b) => b.to_vec(),
            Err(error) => {
                return Err(Failure::Transport {
                    error,
                    maybe_sent: true,
                });
            }
        };
        if (200..300).contains(&status) {
            Ok(Raw {
                status,
                request_id,
                body,
            })
        } else {
            Err(Failure::Status {
                status,
                request_id,
                retry_after,
                body,
            })
        }
    }

    fn note_features(&self, headers: &HeaderMap) {
        let mut seen = false;
        let mut idempotent = false;
        for v in headers.get_all("selo-features") {
            seen = true;
            if let Ok(s) = v.to_str() {
                idempotent |= s
                    .split(',')
                    .any(|f| f.trim().eq_ignore_ascii_case(FEATURE_IDEMPOTENCY));
            }
        }
        if seen {
            let v = if idempotent {
                FEATURES_IDEMPOTENT
            } else {
                FEATURES_NOT_IDEMPOTENT
            };
            self.inner.features.store(v, Ordering::Relaxed);
        }
    }
}

fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn decode<T: DeserializeOwned>(raw: &Raw) -> Result<T, Error> {
    serde_json::from_slice(&raw.body).map_err(|e| Error::Decode {
        status: raw.status,
        message: e.to_string(),
        request_id: raw.request_id.clone(),
    })
}

fn reply<T: DeserializeOwned>(raw: &Raw) -> Result<Reply<T>, Error> {
    Ok(Reply {
        value: decode(raw)?,
        status: raw.status,
        request_id: raw.request_id.clone(),
        from_lookup: false,
    })
}

/// A trimmed, non-empty process id.
fn process_id(id: &str) -> Result<&str, Error> {
    let id = id.trim();
    if id.is_empty() {
        return Err(Error::InvalidArgument("the process id is empty".into()));
    }
    Ok(id)
}

/// Standard base64, padded or not, ignoring line breaks and other ASCII whitespace.
fn decode_base64(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    if text.bytes().any(|b| b.is_ascii_whitespace()) {
        let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        LENIENT.decode(compact)
    } else {
        LENIENT.decode(text)
    }
}

fn timeout_error(id: &str, start: SystemTime, now: SystemTime, last: ApiProcess) -> Error {
    Error::Timeout {
        process_id: id.to_string(),
        waited: now.duration_since(start).unwrap_or_default(),
        last: Some(Box::new(last)),
    }
}
