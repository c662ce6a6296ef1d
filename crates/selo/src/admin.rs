//! `selo admin …`: provisioning straight against the data directory's store, safe while the
//! server runs (the server reads the store on every request, so changes apply at once).

use crate::cli::{
    AccountCommand, AdminArgs, AdminCommand, ApiKeyCommand, KeySource, MigrateArgs, TenantCommand,
};
use crate::keys;
use crate::output::{print, usage};
use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use selo_domain::access::{HoursWindow, parse_cidr};
use selo_domain::capability::Capabilities;
use selo_domain::clock::{Clock, SystemClock};
use selo_domain::verification::{EngineSet, EngineSettings, MatchThresholds};
use selo_store::Database;
use selo_store::sqlite::Durability;
use selo_store::{Account, AccountKey, ApiKey, Store, StoreError, Tenant};
use selo_wire::admin::{
    AccountCreated, AccountInfo, ApiKeyCreated, ApiKeyInfo, EnginesInfo, KeyAdded, KeyInfo,
    TenantCreated, TenantInfo,
};
use std::path::Path;

/// Opens the store: `database`, or the data directory's embedded one.
pub fn open_store(data: &Path, database: &Database) -> anyhow::Result<Box<dyn Store>> {
    if *database == Database::Sqlite {
        selo_store::private_fs::create_dir(data)
            .with_context(|| format!("creating data directory {}", data.display()))?;
    }
    database
        .open(data, Durability::Normal)
        .with_context(|| match database {
            Database::Sqlite => format!("opening the database in {}", data.display()),
            other => format!("opening the database {}", other.describe()),
        })
}

/// Runs `selo migrate`: opens the database, which applies what it lacks, and says so.
pub fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    let database = &args.database.database()?;
    drop(open_store(&args.common.data, database)?);
    let where_ = match database {
        Database::Sqlite => format!(
            "{}",
            selo_store::database::sqlite_path(&args.common.data).display()
        ),
        other => other.describe(),
    };
    print(
        args.common.json,
        &serde_json::json!({"ok": true, "database": where_}),
        || format!("migrated: {where_} holds the current schema"),
    )
}

/// Web & SDK permissions a tenant can hold.
pub const PERMISSIONS: [&str; 2] = ["selfie", "evidenceset"];

/// Now on the server's clock: the manual clock a test-rig server recorded in the store, else
/// the real one (CONTRACT §9: one clock for every time rule).
pub fn now(store: &dyn Store) -> i64 {
    match store.manual_clock() {
        Ok(Some(nanos)) => nanos.div_euclid(1_000_000_000),
        _ => SystemClock.unix(),
    }
}

fn valid_account_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !ok {
        return Err(usage(format!(
            "account name '{name}' must be 1-64 characters of letters, digits, '.', '_' or '-'"
        )));
    }
    Ok(())
}

/// The tenant, or an error saying how to find its id.
pub fn require_tenant(store: &dyn Store, tenant: &str) -> anyhow::Result<Tenant> {
    store.tenant(tenant)?.with_context(|| {
        format!("tenant '{tenant}' not found; list tenants with `selo admin tenant list`")
    })
}

fn public_key_from(source: &KeySource) -> anyhow::Result<String> {
    match (&source.key_out, &source.public_key) {
        (Some(out), _) => keys::generate_to(out),
        (None, Some(public)) => keys::read_public(public),
        (None, None) => Err(usage("give --key-out FILE or --public-key FILE")),
    }
}

fn parse_allow_ips(list: &[String]) -> anyhow::Result<Vec<String>> {
    list.iter()
        .map(|c| {
            parse_cidr(c)
                .map(|n| n.to_string())
                .map_err(|e| usage(format!("--allow-ip: {e}")))
        })
        .collect()
}

/// Parses a comma list of Web & SDK flows.
fn parse_flows(list: &str) -> anyhow::Result<Vec<String>> {
    parse_names(list, &selo_domain::web::FLOWS, "flow")
}

fn parse_names(list: &str, known: &[&str], what: &str) -> anyhow::Result<Vec<String>> {
    let names: Vec<String> = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    if let Some(bad) = names.iter().find(|n| !known.contains(&n.as_str())) {
        return Err(usage(format!(
            "unknown {what} '{bad}'; use a comma list of: {}",
            known.join(", ")
        )));
    }
    Ok(names)
}

fn new_key_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Creates a tenant.
pub fn create_tenant(
    store: &dyn Store,
    name: &str,
    env: &str,
    rate_limit: Option<u32>,
    flows: Option<&str>,
) -> anyhow::Result<TenantCreated> {
    let flows = flows.map(parse_flows).transpose()?;
    if name.trim().is_empty() || name.len() > 200 {
        return Err(usage("tenant name must be 1-200 characters"));
    }
    let tenant = Tenant {
        id: uuid::Uuid::new_v4().to_string(),
        name: name.trim().to_string(),
        environment: env.to_string(),
        rate_limit,
        created_at: now(store),
        flows,
        permissions: None,
        retention: Default::default(),
        engines: Default::default(),
    };
    store.create_tenant(&tenant)?;
    Ok(TenantCreated {
        tenant_id: tenant.id,
        environment: tenant.environment,
    })
}

/// A tenant's engines as `tenant list` and `set-engines` print them.
fn engines_info(t: &Tenant) -> EnginesInfo {
    let thresholds = t.engines.thresholds();
    EnginesInfo {
        set: t
            .engines
            .effective(t.environment == "sandbox")
            .as_str()
            .to_string(),
        match_accept: thresholds.accept,
        match_reject: thresholds.reject,
    }
}

/// `selo admin tenant set-engines` (CONTRACT §17): production never runs on scenarios, and
/// `local` needs the models installed.
pub fn set_engines(
    store: &dyn Store,
    tenant_id: &str,
    engines: &str,
    accept: Option<f32>,
    reject: Option<f32>,
    models: &Path,
) -> anyhow::Result<Tenant> {
    let tenant = require_tenant(store, tenant_id)?;
    let set = EngineSet::parse(engines)
        .ok_or_else(|| usage(format!("engines '{engines}' must be local or scenarios")))?;
    if set == EngineSet::Scenarios && tenant.environment != "sandbox" {
        return Err(usage(format!(
            "tenant {tenant_id} is a {} tenant, and production never uses scenarios; only sandbox tenants can run on them",
            tenant.environment
        )));
    }
    if set == EngineSet::Local
        && let Err(e) = selo_engine::Engine::load(models)
    {
        return Err(usage(format!(
            "tenant {tenant_id} cannot run on the local engines: {e}"
        )));
    }
    let current = tenant.engines.thresholds();
    let thresholds = MatchThresholds {
        accept: accept.unwrap_or(current.accept),
        reject: reject.unwrap_or(current.reject),
    };
    if !thresholds.valid() {
        return Err(usage(format!(
            "--match-accept {} and --match-reject {} must be numbers with 0 < accept <= reject",
            thresholds.accept, thresholds.reject
        )));
    }
    let settings = EngineSettings {
        set: Some(set),
        thresholds: (accept.is_some() || reject.is_some() || tenant.engines.thresholds.is_some())
            .then_some(thresholds),
    };
    store
        .set_tenant_engines(tenant_id, settings)
        .map_err(not_found_hint)?;
    require_tenant(store, tenant_id)
}

/// Creates a service account with its first key.
pub fn create_account(
    store: &dyn Store,
    tenant: &str,
    name: &str,
    key: &KeySource,
    allow_ip: &[String],
) -> anyhow::Result<AccountCreated> {
    valid_account_name(name)?;
    let tenant = require_tenant(store, tenant)?;
    let allow_ips = parse_allow_ips(allow_ip)?;
    if store.account(&tenant.id, name)?.is_some() {
        bail!("account '{name}' already exists in tenant {}", tenant.id);
    }
    let public_key_pem = public_key_from(key)?;
    let t = now(store);
    let key = AccountKey {
        id: new_key_id(),
        tenant_id: tenant.id.clone(),
        account: name.to_string(),
        public_key_pem,
        revoked_at: None,
        created_at: t,
    };
    store.create_account(
        &Account {
            tenant_id: tenant.id.clone(),
            name: name.to_string(),
            enabled: true,
            allow_ips,
            allowed_hours: None,
            locked_until: None,
            created_at: t,
        },
        &key,
    )?;
    Ok(AccountCreated {
        iss: format!("{name}@{}.iam.acesso.io", tenant.id),
        tenant_id: tenant.id,
        account: name.to_string(),
        key_id: key.id,
    })
}

/// Creates an API key; the secret is returned once, only its hash is stored.
pub fn create_api_key(
    store: &dyn Store,
    tenant: &str,
    capabilities: &Capabilities,
) -> anyhow::Result<ApiKeyCreated> {
    let tenant = require_tenant(store, tenant)?;
    let mut secret = [0u8; 32];
    aws_lc_rs::rand::fill(&mut secret).map_err(|_| anyhow::anyhow!("no randomness"))?;
    let api_key = format!("selo_{}", URL_SAFE_NO_PAD.encode(secret));
    let key = ApiKey {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: tenant.id,
        hash: selo_server::auth::sha256(api_key.as_bytes()),
        capabilities: capabilities.to_list(),
        revoked_at: None,
        created_at: now(store),
    };
    store.create_api_key(&key)?;
    Ok(ApiKeyCreated {
        api_key,
        id: key.id,
    })
}

fn not_found_hint(e: StoreError) -> anyhow::Error {
    match e {
        StoreError::NotFound(what) => anyhow::anyhow!("{what} not found"),
        other => other.into(),
    }
}

fn account_info(store: &dyn Store, a: Account) -> anyhow::Result<AccountInfo> {
    let keys = store.account_keys(&a.tenant_id, &a.name)?;
    Ok(AccountInfo {
        iss: format!("{}@{}.iam.acesso.io", a.name, a.tenant_id),
        account: a.name,
        enabled: a.enabled,
        allow_ips: a.allow_ips,
        allowed_hours: a.allowed_hours,
        keys: keys
            .into_iter()
            .map(|k| KeyInfo {
                key_id: k.id,
                revoked: k.revoked_at.is_some(),
            })
            .collect(),
    })
}

fn done(json: bool, what: String) -> anyhow::Result<()> {
    print(json, &serde_json::json!({"ok": true}), || what)
}

/// Runs `selo admin …`.
pub fn run(args: AdminArgs) -> anyhow::Result<()> {
    let database = args.database.database()?;
    if let AdminCommand::Export { blobs, out } = &args.command {
        // The export opens its store itself: only one that exists.
        let data = &args.common.data;
        return crate::transfer::export(data, &database, blobs.as_deref(), out, args.common.json);
    }
    let opened = open_store(&args.common.data, &database)?;
    let store = &*opened;
    let json = args.common.json;
    match args.command {
        AdminCommand::Tenant(TenantCommand::Create {
            name,
            env,
            rate_limit,
            flows,
        }) => {
            let out = create_tenant(store, &name, &env, rate_limit, flows.as_deref())?;
            print(json, &out, || {
                format!("created tenant {} in {}", out.tenant_id, out.environment)
            })
        }
        AdminCommand::Tenant(TenantCommand::SetRateLimit { tenant_id, rps }) => {
            store
                .set_tenant_rate_limit(&tenant_id, Some(rps))
                .map_err(not_found_hint)?;
            done(
                json,
                format!("tenant {tenant_id} may send {rps} requests per second"),
            )
        }
        AdminCommand::Tenant(TenantCommand::SetEngines {
            tenant_id,
            engines,
            match_accept,
            match_reject,
        }) => {
            let models = args.models.resolve(&args.common);
            let t = set_engines(
                store,
                &tenant_id,
                &engines,
                match_accept,
                match_reject,
                &models,
            )?;
            let info = engines_info(&t);
            print(json, &info, || {
                format!(
                    "tenant {tenant_id} runs on the {} engines (match accept {}, reject {})",
                    info.set, info.match_accept, info.match_reject
                )
            })
        }
        AdminCommand::Tenant(TenantCommand::SetFlows { tenant_id, flows }) => {
            let flows = parse_flows(&flows)?;
            store
                .set_tenant_flows(&tenant_id, &flows)
                .map_err(not_found_hint)?;
            done(
                json,
                format!("tenant {tenant_id} flows: {}", flows.join(",")),
            )
        }
        AdminCommand::Tenant(TenantCommand::SetPermissions {
            tenant_id,
            permissions,
        }) => {
            let permissions = parse_names(&permissions, &PERMISSIONS, "permission")?;
            store
                .set_tenant_permissions(&tenant_id, &permissions)
                .map_err(not_found_hint)?;
            done(
                json,
                format!("tenant {tenant_id} permissions: {}", permissions.join(",")),
            )
        }
        AdminCommand::Tenant(TenantCommand::SetRetention {
            tenant_id,
            selfie,
            evidence,
            process,
        }) => {
            use selo_domain::retention::{MIN_PROCESS_WINDOW, MIN_WINDOW};
            if selfie.is_some_and(|s| s < MIN_WINDOW) || evidence.is_some_and(|s| s < MIN_WINDOW) {
                return Err(usage(format!(
                    "--selfie and --evidence must be at least {MIN_WINDOW} seconds"
                )));
            }
            if process.is_some_and(|s| s < MIN_PROCESS_WINDOW) {
                return Err(usage(format!(
                    "--process must be at least {MIN_PROCESS_WINDOW} seconds (a day)"
                )));
            }
            store
                .set_tenant_retention(&tenant_id, selfie, evidence, process)
                .map_err(not_found_hint)?;
            let t = require_tenant(store, &tenant_id)?;
            print(json, &t.retention, || {
                format!(
                    "tenant {tenant_id} keeps selfies {} s, evidence sets {} s, processes {} s",
                    t.retention.selfie, t.retention.evidence, t.retention.process
                )
            })
        }
        AdminCommand::Tenant(TenantCommand::List) => {
            let list: Vec<TenantInfo> = store
                .list_tenants()?
                .into_iter()
                .map(|t| TenantInfo {
                    engines: engines_info(&t),
                    tenant_id: t.id,
                    name: t.name,
                    environment: t.environment,
                    rate_limit: t.rate_limit,
                    flows: t.flows,
                    permissions: t.permissions,
                    retention: serde_json::to_value(t.retention).unwrap_or_default(),
                })
                .collect();
            print(json, &list, || {
                list.iter()
                    .map(|t| format!("{}  {:<10}  {}", t.tenant_id, t.environment, t.name))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        AdminCommand::Account(cmd) => run_account(store, json, cmd),
        AdminCommand::Webhook(cmd) => crate::webhook_admin::run(store, json, cmd),
        AdminCommand::Export { .. } => unreachable!("the export is run above"),
        AdminCommand::Import { blobs, input } => {
            crate::transfer::import(store, &args.common.data, blobs.as_deref(), &input, json)
        }
        AdminCommand::Identity(cmd) => {
            let models = args.models.resolve(&args.common);
            crate::identity_admin::run(store, json, &models, cmd)
        }
        AdminCommand::Apikey(ApiKeyCommand::Create {
            tenant,
            capabilities,
        }) => {
            let caps = Capabilities::parse_list(&capabilities)
                .map_err(|e| usage(format!("--capabilities: {e}")))?;
            let out = create_api_key(store, &tenant, &caps)?;
            print(json, &out, || {
                format!(
                    "API key {} (shown once, store it now):\n{}",
                    out.id, out.api_key
                )
            })
        }
        AdminCommand::Apikey(ApiKeyCommand::Revoke { id }) => {
            store
                .revoke_api_key(&id, now(store))
                .map_err(not_found_hint)?;
            done(json, format!("revoked API key {id}"))
        }
        AdminCommand::Apikey(ApiKeyCommand::List { tenant }) => {
            require_tenant(store, &tenant)?;
            let list: Vec<ApiKeyInfo> = store
                .list_api_keys(&tenant)?
                .into_iter()
                .map(|k| ApiKeyInfo {
                    id: k.id,
                    capabilities: k.capabilities.split(',').map(String::from).collect(),
                    revoked: k.revoked_at.is_some(),
                })
                .collect();
            print(json, &list, || {
                list.iter()
                    .map(|k| {
                        format!(
                            "{}  {}{}",
                            k.id,
                            k.capabilities.join(","),
                            if k.revoked { "  (revoked)" } else { "" }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
    }
}

fn run_account(store: &dyn Store, json: bool, cmd: AccountCommand) -> anyhow::Result<()> {
    match cmd {
        AccountCommand::Create {
            tenant,
            name,
            key,
            allow_ip,
        } => {
            let out = create_account(store, &tenant, &name, &key, &allow_ip)?;
            print(json, &out, || {
                format!("created account {} (key {})", out.iss, out.key_id)
            })
        }
        AccountCommand::Disable { tenant, name } => {
            store
                .set_account_enabled(&tenant, &name, false)
                .map_err(not_found_hint)?;
            done(json, format!("disabled account {name}"))
        }
        AccountCommand::Enable { tenant, name } => {
            store
                .set_account_enabled(&tenant, &name, true)
                .map_err(not_found_hint)?;
            done(json, format!("enabled account {name}"))
        }
        AccountCommand::SetAccess {
            tenant,
            name,
            allow_ip,
            allowed_hours,
        } => {
            let ips = parse_allow_ips(&allow_ip)?;
            let hours = allowed_hours
                .as_deref()
                .map(|h| h.parse::<HoursWindow>().map(|w| w.to_string()))
                .transpose()
                .map_err(|e| usage(format!("--allowed-hours: {e}")))?;
            store
                .set_account_access(&tenant, &name, &ips, hours.as_deref())
                .map_err(not_found_hint)?;
            done(json, format!("updated access of account {name}"))
        }
        AccountCommand::AddKey { tenant, name, key } => {
            if store.account(&tenant, &name)?.is_none() {
                bail!("account '{name}' not found in tenant '{tenant}'");
            }
            let key = AccountKey {
                id: new_key_id(),
                tenant_id: tenant,
                account: name,
                public_key_pem: public_key_from(&key)?,
                revoked_at: None,
                created_at: now(store),
            };
            store.add_account_key(&key).map_err(not_found_hint)?;
            let out = KeyAdded { key_id: key.id };
            print(json, &out, || format!("added key {}", out.key_id))
        }
        AccountCommand::RevokeKey {
            tenant,
            name,
            key_id,
        } => {
            store
                .revoke_account_key(&tenant, &name, &key_id, now(store))
                .map_err(not_found_hint)?;
            done(json, format!("revoked key {key_id}"))
        }
        AccountCommand::List { tenant } => {
            require_tenant(store, &tenant)?;
            let list = store
                .list_accounts(&tenant)?
                .into_iter()
                .map(|a| account_info(store, a))
                .collect::<anyhow::Result<Vec<_>>>()?;
            print(json, &list, || {
                list.iter()
                    .map(|a| {
                        format!(
                            "{}  {}  keys: {}",
                            a.iss,
                            if a.enabled { "enabled" } else { "disabled" },
                            a.keys
                                .iter()
                                .map(|k| format!(
                                    "{}{}",
                                    k.key_id,
                                    if k.revoked { " (revoked)" } else { "" }
                                ))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
    }
}
