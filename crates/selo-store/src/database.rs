//! Which database a process opens (CONTRACT §18): `--database sqlite` (the default: the data
//! directory's `selo.db`) or `--database postgres://USER@HOST:PORT/DB`.

use crate::postgres::PostgresStore;
use crate::sqlite::{Durability, SqliteStore};
use crate::{Store, StoreResult};
use std::path::Path;

/// A database to open, as `--database` / `SELO_DATABASE` names it.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum Database {
    /// The embedded store in the data directory.
    #[default]
    Sqlite,
    /// A PostgreSQL server's database, by URL (which may hold a password: never printed).
    Postgres(String),
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl std::str::FromStr for Database {
    type Err = String;

    fn from_str(text: &str) -> Result<Database, String> {
        if text == "sqlite" {
            Ok(Database::Sqlite)
        } else if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            text.parse::<tokio_postgres::Config>()
                .map_err(|e| format!("'{}' is not a PostgreSQL URL: {e}", redact(text)))?;
            Ok(Database::Postgres(text.to_string()))
        } else {
            Err(format!(
                "'{}' is not a database: use `sqlite` (the data directory's selo.db) or postgres://USER@HOST:PORT/DB",
                redact(text)
            ))
        }
    }
}

impl Database {
    /// Opens the database, applying the migrations it lacks (SQLite: `DATA/selo.db`, with
    /// `durability`; PostgreSQL: under an advisory lock, so nodes may start together).
    pub fn open(&self, data_dir: &Path, durability: Durability) -> StoreResult<Box<dyn Store>> {
        Ok(match self {
            Database::Sqlite => Box::new(SqliteStore::open(&sqlite_path(data_dir), durability)?),
            Database::Postgres(url) => Box::new(PostgresStore::open(url)?),
        })
    }

    /// What it is, for messages and logs: `sqlite (DATA/selo.db)` or the URL without its
    /// password.
    pub fn describe(&self) -> String {
        match self {
            Database::Sqlite => "sqlite".to_string(),
            Database::Postgres(url) => redact(url),
        }
    }
}

/// The SQLite database inside a data directory.
pub fn sqlite_path(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("selo.db")
}

/// A database URL without the password it may carry (in its user part or as a `password`
/// parameter).
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.chars().take(64).collect();
    };
    let (authority, tail) = rest
        .find(['/', '?'])
        .map_or((rest, ""), |i| rest.split_at(i));
    let authority = match authority.rsplit_once('@') {
        Some((user, host)) => {
            let user = user.split_once(':').map_or(user, |(name, _)| name);
            format!("{user}:***@{host}")
        }
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                    _ => pair.to_string(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_parse_and_never_show_their_password() {
        assert_eq!("sqlite".parse::<Database>().unwrap(), Database::Sqlite);
        let pg: Database = "postgres://selo:s3cret@db.internal:5432/selo"
            .parse()
            .unwrap();
        assert_eq!(
            pg,
            Database::Postgres("postgres://selo:s3cret@db.internal:5432/selo".into())
        );
        assert!(!format!("{pg:?}").contains("s3cret"));
        assert_eq!(pg.describe(), "postgres://selo:***@db.internal:5432/selo");
        let wrong = "mysql://root:pw@localhost/selo"
            .parse::<Database>()
            .unwrap_err();
        assert!(wrong.contains("use `sqlite`"), "{wrong}");
        assert!(!wrong.contains("pw@"), "{wrong}");
        for url in [
            "postgres://selo@db:5432/selo?password=s3cret&sslmode=disable",
            "postgres://selo:s3cret%40x@db/selo",
        ] {
            let shown = url.parse::<Database>().unwrap().describe();
            assert!(
                !shown.contains("s3cret") && shown.contains("@db"),
                "{shown}"
            );
        }
    }
}
