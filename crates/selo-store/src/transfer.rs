//! The [`Transfer`] role: everything a platform holds, read out of one store and written into
//! another of either backend (`selo admin export` / `import`, CONTRACT §18).
//!
//! What moves is described once, here, as tables of typed columns ([`TABLES`]): both backends
//! hold these tables under the same names (the SQLite and PostgreSQL migrations keep them
//! parallel), so each backend only converts its own column types to [`Cell`]s and back. What
//! does not move is what belongs to a running deployment rather than to its data: nodes'
//! access-token keys (each node of the target publishes its own), task leases, rate-limit
//! buckets, the test rig's manual clock and the backends' bookkeeping.

use crate::StoreResult;

/// A column's type, the same on every backend (SQLite keeps booleans as integers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// UTF-8 text.
    Text,
    /// A 64-bit integer.
    Integer,
    /// A double-precision number.
    Real,
    /// True or false.
    Bool,
    /// Bytes.
    Bytes,
}

/// One value of a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// No value (SQL NULL).
    Null,
    /// [`Kind::Text`].
    Text(String),
    /// [`Kind::Integer`].
    Integer(i64),
    /// [`Kind::Real`].
    Real(f64),
    /// [`Kind::Bool`].
    Bool(bool),
    /// [`Kind::Bytes`].
    Bytes(Vec<u8>),
}

/// A table that moves, with its columns in the order rows carry them.
#[derive(Debug)]
pub struct Table {
    /// The table's name on every backend.
    pub name: &'static str,
    /// Its columns.
    pub columns: &'static [(&'static str, Kind)],
    /// How rows are read out, so that both backends write the same file for the same data:
    /// `None` for insertion order (tables whose order is part of what they mean: processes
    /// listed newest first, events delivered oldest first), else these key columns (text
    /// compared byte by byte).
    pub order: Option<&'static [&'static str]>,
}

impl Table {
    /// The table named `name`.
    pub fn named(name: &str) -> Option<&'static Table> {
        TABLES.iter().find(|t| t.name == name)
    }

    /// The statement that inserts one row, its parameters spelled by `placeholder` (1-based:
    /// `?1` on SQLite, `$1` on PostgreSQL).
    pub fn insert_sql(&self, placeholder: impl Fn(usize) -> String) -> String {
        let placeholders: Vec<String> = (1..=self.columns.len()).map(placeholder).collect();
        format!(
            "INSERT INTO {} ({}) VALUES ({})",
            self.name,
            self.column_list(),
            placeholders.join(", ")
        )
    }

    /// The statement that says whether the table holds a row.
    pub fn exists_sql(&self) -> String {
        format!("SELECT EXISTS (SELECT 1 FROM {})", self.name)
    }

    /// Its column names, comma-separated, for a statement.
    pub fn column_list(&self) -> String {
        self.columns
            .iter()
            .map(|(name, _)| *name)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

use Kind::{Bool, Bytes, Integer, Real, Text};

/// Everything that moves, parents before children (a row's foreign keys are satisfied when it
/// is written in this order).
pub const TABLES: &[Table] = &[
    Table {
        name: "tenants",
        columns: &[
            ("id", Text),
            ("name", Text),
            ("environment", Text),
            ("rate_limit", Integer),
            ("created_at", Integer),
            ("flows", Text),
            ("permissions", Text),
            ("selfie_retention", Integer),
            ("evidence_retention", Integer),
            ("process_retention", Integer),
            ("engines", Text),
            ("match_accept", Real),
            ("match_reject", Real),
        ],
        order: Some(&["id"]),
    },
    Table {
        name: "accounts",
        columns: &[
            ("tenant_id", Text),
            ("name", Text),
            ("enabled", Bool),
            ("allow_ips", Text),
            ("allowed_hours", Text),
            ("locked_until", Integer),
            ("created_at", Integer),
        ],
        order: Some(&["tenant_id", "name"]),
    },
    Table {
        name: "account_keys",
        columns: &[
            ("id", Text),
            ("tenant_id", Text),
            ("account", Text),
            ("public_key_pem", Text),
            ("revoked_at", Integer),
            ("created_at", Integer),
        ],
        order: Some(&["id"]),
    },
    Table {
        name: "auth_failures",
        columns: &[("tenant_id", Text), ("account", Text), ("at", Integer)],
        order: Some(&["tenant_id", "account", "at"]),
    },
    Table {
        name: "api_keys",
        columns: &[
            ("id", Text),
            ("tenant_id", Text),
            ("hash", Bytes),
            ("capabilities", Text),
            ("revoked_at", Integer),
            ("created_at", Integer),
        ],
        order: Some(&["id"]),
    },
    Table {
        name: "replay_records",
        columns: &[("expires_at", Integer), ("hash", Bytes)],
        order: Some(&["expires_at", "hash"]),
    },
    Table {
        name: "idempotency_keys",
        columns: &[
            ("tenant_id", Text),
            ("route", Text),
            ("key", Text),
            ("body_hash", Bytes),
            ("running", Bool),
            ("lease_until", Integer),
            ("expires_at", Integer),
            ("status", Integer),
            ("content_type", Text),
            ("body", Bytes),
        ],
        order: Some(&["tenant_id", "route", "key"]),
    },
    Table {
        name: "processes",
        columns: &[
            ("id", Text),
            ("tenant_id", Text),
            ("client_reference", Text),
            ("created_at", Integer),
            ("record", Text),
            ("completes_at", Integer),
            ("finished_at", Integer),
            ("face", Bytes),
            ("blob_deleted_at", Integer),
        ],
        order: None,
    },
    Table {
        name: "web_processes",
        columns: &[
            ("id", Text),
            ("tenant_id", Text),
            ("client_reference", Text),
            ("created_at", Integer),
            ("record", Text),
            ("captured", Bool),
            ("has_document", Bool),
            ("finished_at", Integer),
            ("scrubbed_at", Integer),
            ("refusals", Integer),
            ("blob_deleted_at", Integer),
        ],
        order: None,
    },
    Table {
        name: "magic_links",
        columns: &[
            ("token", Text),
            ("tenant_id", Text),
            ("created_at", Integer),
            ("record", Text),
            ("completed", Bool),
            ("finished_at", Integer),
            ("scrubbed_at", Integer),
            ("refusals", Integer),
            ("blob_deleted_at", Integer),
        ],
        order: Some(&["token"]),
    },
    Table {
        name: "identity_faces",
        columns: &[
            ("tenant_id", Text),
            ("code", Text),
            ("embedding", Bytes),
            ("enrolled_at", Integer),
        ],
        order: None,
    },
    Table {
        name: "webhooks",
        columns: &[
            ("tenant_id", Text),
            ("url", Text),
            ("auth", Text),
            ("max_attempts", Integer),
            ("retry_interval", Integer),
            ("timeout", Integer),
            ("concurrency", Integer),
            ("secret", Text),
            ("previous_secret", Text),
            ("previous_until", Integer),
            ("enabled", Bool),
            ("consecutive_failures", Integer),
        ],
        order: Some(&["tenant_id"]),
    },
    Table {
        name: "webhook_events",
        columns: &[
            ("id", Text),
            ("tenant_id", Text),
            ("process_id", Text),
            ("payload", Text),
            ("created_at", Integer),
            ("status", Text),
            ("attempts", Integer),
            ("next_attempt_at", Integer),
            ("claimed_by", Text),
            ("claimed_until", Integer),
        ],
        order: None,
    },
    Table {
        name: "webhook_attempts",
        columns: &[
            ("event_id", Text),
            ("tenant_id", Text),
            ("process_id", Text),
            ("attempt", Integer),
            ("at", Integer),
            ("status", Integer),
            ("latency_ms", Integer),
            ("error", Text),
        ],
        order: Some(&["tenant_id", "process_id", "at", "attempt", "event_id"]),
    },
    Table {
        name: "fault_plans",
        columns: &[
            ("id", Text),
            ("tenant_id", Text),
            ("method", Text),
            ("path", Text),
            ("faults", Text),
            ("global", Bool),
            ("expires_at", Integer),
        ],
        order: None,
    },
    Table {
        name: "fault_uses",
        columns: &[
            ("plan_id", Text),
            ("n", Integer),
            ("fault", Text),
            ("at", Text),
            ("request_id", Text),
            ("request", Text),
        ],
        order: Some(&["plan_id", "n"]),
    },
];

/// Reads a whole store out and writes one in. Both calls are blocking (the crate's contract)
/// and run in one transaction: an export is one consistent snapshot, an import all or nothing.
pub trait Transfer {
    /// Hands every row of every [`TABLES`] entry to `sink`, table by table in that order.
    /// Rows are read a batch at a time, so memory stays bounded whatever the store holds.
    fn export_rows(
        &self,
        sink: &mut (dyn FnMut(&'static Table, Vec<Cell>) -> StoreResult<()> + Send),
    ) -> StoreResult<()>;

    /// The first of [`TABLES`] that holds a row, if any (an import's target must hold none).
    fn occupied_table(&self) -> StoreResult<Option<&'static Table>>;

    /// Writes the rows `source` yields (`None` ends them) into this store, which must hold
    /// none of [`TABLES`]' rows: a target that does is refused with
    /// [`StoreError::Conflict`](crate::StoreError::Conflict) saying so, and nothing is written.
    /// The target is held for the whole import (nodes starting on it wait; PostgreSQL gives
    /// up after a few seconds if something else holds its tables, and says so), and
    /// `before_rows` runs once it is held and found empty, before the first row: the place to
    /// store what the rows will own. A row of the wrong shape, one the schema rejects, or a
    /// failure of either callback rolls the whole import back.
    fn import_rows(
        &self,
        before_rows: &mut (dyn FnMut() -> StoreResult<()> + Send),
        source: &mut (dyn FnMut() -> StoreResult<Option<(&'static Table, Vec<Cell>)>> + Send),
    ) -> StoreResult<()>;
}

/// Checks that `row` has `table`'s shape: one cell per column, each of its column's kind or
/// NULL.
pub fn check_row(table: &Table, row: &[Cell]) -> StoreResult<()> {
    if row.len() != table.columns.len() {
        return Err(crate::StoreError::Corrupt(format!(
            "a row of {} has {} values, not {}",
            table.name,
            row.len(),
            table.columns.len()
        )));
    }
    for ((name, kind), cell) in table.columns.iter().zip(row) {
        let fits = matches!(
            (kind, cell),
            (_, Cell::Null)
                | (Text, Cell::Text(_))
                | (Integer, Cell::Integer(_))
                | (Real, Cell::Real(_))
                | (Bool, Cell::Bool(_))
                | (Bytes, Cell::Bytes(_))
        );
        if !fits {
            return Err(crate::StoreError::Corrupt(format!(
                "{}.{name} holds a value of another type",
                table.name
            )));
        }
    }
    Ok(())
}

/// Why an import into a store whose `table` holds rows is refused.
pub fn not_empty_message(table: &Table) -> String {
    format!(
        "the target database is not empty (its {} table holds rows): import only into a new database",
        table.name
    )
}

/// The refusal to import into a store that holds rows.
pub(crate) fn not_empty(table: &Table) -> crate::StoreError {
    crate::StoreError::Conflict(not_empty_message(table))
}

/// Columns of the moving tables that do not move: each backend's own bookkeeping (`seq`,
/// `identity_faces.id`, SQLite's `typed`) or what is derived from a moving column
/// (`embedding_vector`, pgvector's copy of `embedding`). Every other column of a moving table must be in
/// [`TABLES`] (the contract suite checks both schemas).
pub const NOT_MOVED_COLUMNS: &[(&str, &str)] = &[
    ("processes", "seq"),
    ("web_processes", "seq"),
    ("webhook_events", "seq"),
    ("fault_plans", "seq"),
    ("identity_faces", "id"),
    ("identity_faces", "embedding_vector"),
    ("processes", "typed"),
];

/// Tables that do not move (they belong to a running deployment or to a backend's
/// bookkeeping); every other table must be in [`TABLES`].
pub const NOT_MOVED_TABLES: &[&str] = &[
    "node_keys",
    "leases",
    "rate_buckets",
    "server_clock",
    "config_epoch",
    "schema_migrations",
    "used_assertions",
];
