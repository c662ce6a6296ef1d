//! SQLite: the [`Transfer`] role. An export reads one snapshot on a reader connection; an
//! import is one write transaction that first checks the store is empty.

use super::*;
use crate::transfer::{Cell, Kind, TABLES, Table, Transfer, check_row, not_empty};
use rusqlite::types::{Value, ValueRef};

/// The statement reading `table` out, in its order (rowid: insertion order).
fn select(table: &Table) -> String {
    let order = match table.order {
        Some(keys) => keys.join(", "),
        None => "rowid".into(),
    };
    format!(
        "SELECT {} FROM {} ORDER BY {order}",
        table.column_list(),
        table.name
    )
}

/// A stored value of `table.column` as a cell of `kind`.
fn cell(value: ValueRef<'_>, kind: Kind, table: &Table, column: &str) -> StoreResult<Cell> {
    let corrupt = || {
        StoreError::Corrupt(format!(
            "a value of {}.{column} is not of its column's type",
            table.name
        ))
    };
    Ok(match (kind, value) {
        (_, ValueRef::Null) => Cell::Null,
        (Kind::Text, ValueRef::Text(t)) => {
            Cell::Text(std::str::from_utf8(t).map_err(|_| corrupt())?.to_owned())
        }
        (Kind::Integer, ValueRef::Integer(i)) => Cell::Integer(i),
        (Kind::Real, ValueRef::Real(r)) => Cell::Real(r),
        (Kind::Real, ValueRef::Integer(i)) => Cell::Real(i as f64),
        (Kind::Bool, ValueRef::Integer(i)) => Cell::Bool(i != 0),
        (Kind::Bytes, ValueRef::Blob(b)) => Cell::Bytes(b.to_vec()),
        _ => return Err(corrupt()),
    })
}

/// A cell as the value SQLite stores (booleans as 0 and 1).
fn value(cell: Cell) -> Value {
    match cell {
        Cell::Null => Value::Null,
        Cell::Text(t) => Value::Text(t),
        Cell::Integer(i) => Value::Integer(i),
        Cell::Real(r) => Value::Real(r),
        Cell::Bool(b) => Value::Integer(b.into()),
        Cell::Bytes(b) => Value::Blob(b),
    }
}

/// The first table that holds a row.
fn occupied(c: &Connection) -> StoreResult<Option<&'static Table>> {
    for table in TABLES {
        if c.query_row(&table.exists_sql(), [], |r| r.get::<_, bool>(0))? {
            return Ok(Some(table));
        }
    }
    Ok(None)
}

impl Transfer for SqliteStore {
    fn occupied_table(&self) -> StoreResult<Option<&'static Table>> {
        self.read(occupied)
    }

    fn export_rows(
        &self,
        sink: &mut (dyn FnMut(&'static Table, Vec<Cell>) -> StoreResult<()> + Send),
    ) -> StoreResult<()> {
        self.read(|c| {
            // One read transaction: every table from the same snapshot.
            let tx = c.unchecked_transaction()?;
            for table in TABLES {
                let mut st = tx.prepare(&select(table))?;
                let mut rows = st.query([])?;
                while let Some(row) = rows.next()? {
                    let cells = table
                        .columns
                        .iter()
                        .enumerate()
                        .map(|(i, (column, kind))| cell(row.get_ref(i)?, *kind, table, column))
                        .collect::<StoreResult<Vec<_>>>()?;
                    sink(table, cells)?;
                }
            }
            tx.finish()?;
            Ok(())
        })
    }

    fn import_rows(
        &self,
        before_rows: &mut (dyn FnMut() -> StoreResult<()> + Send),
        source: &mut (dyn FnMut() -> StoreResult<Option<(&'static Table, Vec<Cell>)>> + Send),
    ) -> StoreResult<()> {
        // The write transaction is taken first: a server starting on this database waits for
        // it (and gives up after its busy timeout) instead of finding it empty.
        self.write_config(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            if let Some(table) = occupied(&tx)? {
                return Err(not_empty(table));
            }
            before_rows()?;
            let mut inserts = std::collections::HashMap::new();
            while let Some((table, row)) = source()? {
                check_row(table, &row)?;
                let sql = inserts
                    .entry(table.name)
                    .or_insert_with(|| table.insert_sql(|i| format!("?{i}")));
                tx.prepare_cached(sql)?
                    .execute(rusqlite::params_from_iter(row.into_iter().map(value)))?;
            }
            // Rows that carry their typed columns need nothing from the fill at open.
            tx.execute(
                "UPDATE processes SET typed = 1 WHERE finished_at IS NOT NULL",
                [],
            )?;
            tx.commit()?;
            Ok(())
        })
    }
}
