//! Throw-away databases on a PostgreSQL server, for tests and benchmarks: each one created
//! empty under a unique name and dropped when its value is.

use crate::{StoreError, StoreResult};

/// The server the tests use unless `SELO_TEST_POSTGRES` names another (every development and
/// CI machine runs one here: trust authentication, user `postgres`).
pub const DEFAULT_SERVER: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A database of its own on a PostgreSQL server, dropped (with whatever is connected to it)
/// when this is.
pub struct ScratchDatabase {
    admin: tokio_postgres::Config,
    name: String,
    url: String,
}

impl ScratchDatabase {
    /// Creates an empty database on the server `server_url` names (its database is only where
    /// the `CREATE DATABASE` runs).
    pub fn create(server_url: &str) -> StoreResult<ScratchDatabase> {
        let admin: tokio_postgres::Config =
            server_url.parse().map_err(|e| StoreError::Database {
                message: format!("the database URL is not a PostgreSQL URL ({e})"),
                storage_full: false,
            })?;
        let name = format!("selo_scratch_{}", uuid::Uuid::new_v4().simple());
        run(&admin, format!("CREATE DATABASE {name}"))?;
        let url = match server_url.rsplit_once('/') {
            Some((server, _)) if server.contains("://") && !server.ends_with('/') => {
                format!("{server}/{name}")
            }
            _ => format!("{}/{name}", server_url.trim_end_matches('/')),
        };
        Ok(ScratchDatabase { admin, name, url })
    }

    /// The URL of the database (`postgres://…/selo_scratch_…`).
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(e) = run(&self.admin, drop) {
            tracing::warn!(database = %self.name, error = %e, "a scratch database was left behind");
        }
    }
}

/// Runs one statement on the server, on a thread of its own (callers may be on an async
/// runtime, where waiting on another is not allowed).
fn run(config: &tokio_postgres::Config, sql: String) -> StoreResult<()> {
    let config = config.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
            let driver = tokio::spawn(connection);
            client.batch_execute(&sql).await?;
            drop(client);
            let _ = driver.await;
            Ok(())
        })
    })
    .join()
    .unwrap_or_else(|_| {
        Err(StoreError::Interrupted(
            "a scratch database statement panicked".into(),
        ))
    })
}
