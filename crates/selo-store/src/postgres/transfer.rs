//! PostgreSQL: the [`Transfer`] role. An export reads one repeatable-read snapshot through a
//! portal, a batch at a time; an import is one transaction that first checks the store is
//! empty.

use super::*;
use crate::transfer::{Cell, Kind, TABLES, Table, Transfer, check_row, not_empty};
use std::collections::HashMap;
use tokio_postgres::IsolationLevel;

/// Rows fetched at a time while exporting.
const EXPORT_BATCH: i32 = 500;

/// The statement reading `table` out in its order: insertion order is the identity column
/// (`seq`, or `identity_faces.id`), and text keys compare byte by byte, as SQLite's do.
fn select(table: &Table) -> String {
    let order = match table.order {
        Some(keys) => keys
            .iter()
            .map(
                |key| match table.columns.iter().find(|(name, _)| name == key) {
                    Some((_, Kind::Text)) => format!("{key} COLLATE \"C\""),
                    _ => (*key).to_owned(),
                },
            )
            .collect::<Vec<_>>()
            .join(", "),
        None if table.name == "identity_faces" => "id".into(),
        None => "seq".into(),
    };
    format!(
        "SELECT {} FROM {} ORDER BY {order}",
        table.column_list(),
        table.name
    )
}

/// A row read out as cells of its table's kinds.
fn cells(row: &Row, table: &Table) -> StoreResult<Vec<Cell>> {
    table
        .columns
        .iter()
        .enumerate()
        .map(|(i, (_, kind))| {
            Ok(match kind {
                Kind::Text => row.try_get::<_, Option<String>>(i)?.map(Cell::Text),
                Kind::Integer => row.try_get::<_, Option<i64>>(i)?.map(Cell::Integer),
                Kind::Real => row.try_get::<_, Option<f64>>(i)?.map(Cell::Real),
                Kind::Bool => row.try_get::<_, Option<bool>>(i)?.map(Cell::Bool),
                Kind::Bytes => row.try_get::<_, Option<Vec<u8>>>(i)?.map(Cell::Bytes),
            }
            .unwrap_or(Cell::Null))
        })
        .collect()
}

/// A cell as a statement parameter of its column's type (NULL typed too, as PostgreSQL checks).
fn parameter(cell: Cell, kind: Kind) -> Box<dyn ToSql + Sync + Send> {
    match (cell, kind) {
        (Cell::Text(t), _) => Box::new(t),
        (Cell::Integer(i), _) => Box::new(i),
        (Cell::Real(r), _) => Box::new(r),
        (Cell::Bool(b), _) => Box::new(b),
        (Cell::Bytes(b), _) => Box::new(b),
        (Cell::Null, Kind::Text) => Box::new(None::<String>),
        (Cell::Null, Kind::Integer) => Box::new(None::<i64>),
        (Cell::Null, Kind::Real) => Box::new(None::<f64>),
        (Cell::Null, Kind::Bool) => Box::new(None::<bool>),
        (Cell::Null, Kind::Bytes) => Box::new(None::<Vec<u8>>),
    }
}

/// The first table that holds a row.
async fn occupied(c: &impl tokio_postgres::GenericClient) -> StoreResult<Option<&'static Table>> {
    for table in TABLES {
        if c.query_one(&table.exists_sql(), &[])
            .await?
            .try_get::<_, bool>(0)?
        {
            return Ok(Some(table));
        }
    }
    Ok(None)
}

impl Transfer for PostgresStore {
    fn occupied_table(&self) -> StoreResult<Option<&'static Table>> {
        self.wait(async {
            let c = self.client().await?;
            occupied(&**c).await
        })
    }

    fn export_rows(
        &self,
        sink: &mut (dyn FnMut(&'static Table, Vec<Cell>) -> StoreResult<()> + Send),
    ) -> StoreResult<()> {
        self.wait(async {
            let mut c = self.client().await?;
            let tx = c
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await?;
            // Sorting a large table for its order may take longer than a request's timeout.
            tx.batch_execute("SET LOCAL statement_timeout = 0").await?;
            for table in TABLES {
                let statement = tx.prepare(&select(table)).await?;
                let portal = tx.bind(&statement, &[]).await?;
                loop {
                    let rows = tx.query_portal(&portal, EXPORT_BATCH).await?;
                    for row in &rows {
                        sink(table, cells(row, table)?)?;
                    }
                    if rows.len() < EXPORT_BATCH as usize {
                        break;
                    }
                }
            }
            tx.commit().await?;
            Ok(())
        })
    }

    fn import_rows(
        &self,
        before_rows: &mut (dyn FnMut() -> StoreResult<()> + Send),
        source: &mut (dyn FnMut() -> StoreResult<Option<(&'static Table, Vec<Cell>)>> + Send),
    ) -> StoreResult<()> {
        self.wait(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            // An import may take longer than a request's statement timeout. Nobody reads or
            // writes the tables while it checks they are empty and fills them, and a node
            // starting meanwhile waits in its migration (the same lock) instead of finding
            // the database empty; a target in use is refused within seconds, not waited for.
            tx.batch_execute("SET LOCAL statement_timeout = 0; SET LOCAL lock_timeout = '10s'")
                .await?;
            let tables: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
            let held = async {
                tx.execute(
                    "SELECT pg_advisory_xact_lock($1)",
                    &[&super::migrations::MIGRATION_LOCK],
                )
                .await?;
                tx.batch_execute(&format!(
                    "LOCK TABLE {} IN ACCESS EXCLUSIVE MODE",
                    tables.join(", ")
                ))
                .await
            };
            if let Err(e) = held.await {
                let in_use = e.code().is_some_and(|c| {
                    *c == SqlState::LOCK_NOT_AVAILABLE || *c == SqlState::T_R_DEADLOCK_DETECTED
                });
                if in_use {
                    return Err(StoreError::Conflict(
                        "the target database is in use (its tables stayed locked for 10 s): stop the nodes running on it, then import".into(),
                    ));
                }
                return Err(e.into());
            }
            if let Some(table) = occupied(&*tx).await? {
                return Err(not_empty(table));
            }
            before_rows()?;
            let mut inserts = HashMap::new();
            while let Some((table, row)) = source()? {
                check_row(table, &row)?;
                let insert = match inserts.get(table.name) {
                    Some(insert) => insert,
                    None => {
                        let statement = tx.prepare(&table.insert_sql(|i| format!("${i}"))).await?;
                        inserts.entry(table.name).or_insert(statement)
                    }
                };
                let parameters: Vec<_> = row
                    .into_iter()
                    .zip(table.columns)
                    .map(|(cell, (_, kind))| parameter(cell, *kind))
                    .collect();
                let parameters: Vec<&(dyn ToSql + Sync)> = parameters
                    .iter()
                    .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                    .collect();
                tx.execute(insert, &parameters).await?;
            }
            tx.commit().await?;
            // Imported faces join the 1:N search's index now rather than at the next start;
            // the import is done either way (a face without its vector is still found).
            if self.face_index == FaceIndex::Hnsw
                && let Err(e) = vector::fill(&c).await
            {
                tracing::warn!(error = %e, "imported faces join the 1:N index at the next start");
            }
            Ok(())
        })
    }
}
