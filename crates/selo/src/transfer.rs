//! `selo admin export` / `selo admin import` (CONTRACT §18): everything a platform holds, moved
//! between any two stores (the embedded one and PostgreSQL + S3, either way) through one file.
//!
//! The file is JSON Lines: a header, each table's name and columns followed by its rows, the
//! stored images (`blob`), and an `end` line with the counts (which let an import refuse a
//! file that was cut short). The rows are read in one snapshot before the images are listed,
//! so every image a row owns is in the file even while nodes run. An import reads the file
//! three times: to check all of it, to store the images once the target is held and found
//! empty, and to write the rows in the same transaction. The file holds personal data and
//! webhook secrets: it is created readable by its owner only, and never overwrites a file.

use crate::output::{print, usage};
use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use selo_store::Database;
use selo_store::blobs::{BlobKey, BlobLocation, BlobStore};
use selo_store::transfer::{Cell, Kind, TABLES, Table, not_empty_message};
use selo_store::{Store, StoreError};
use selo_wire::admin::TransferCounts;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

/// What the first line says.
const FORMAT: &str = "selo-export";
/// The layout this release writes and reads.
const VERSION: u32 = 1;
/// The count of stored images in [`TransferCounts`].
const BLOBS: &str = "blobs";

/// One line of the file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum Line {
    /// The first line.
    Header { format: String, version: u32 },
    /// A stored image: its key and its bytes (base64).
    Blob { key: String, bytes: String },
    /// The rows that follow are this table's, with these columns.
    Table { name: String, columns: Vec<String> },
    /// A row of the last table named, one value per column.
    Row(Vec<Value>),
    /// The last line: what the file holds.
    End { counts: BTreeMap<String, u64> },
}

/// Counts of every table (zero included) and of images.
fn zero_counts() -> BTreeMap<String, u64> {
    TABLES
        .iter()
        .map(|t| t.name.to_owned())
        .chain([BLOBS.to_owned()])
        .map(|name| (name, 0))
        .collect()
}

/// Counts one more of `name` (every name is in [`zero_counts`]).
fn count(counts: &mut BTreeMap<String, u64>, name: &str) {
    if let Some(n) = counts.get_mut(name) {
        *n += 1;
    }
}

/// A cell as its JSON value (bytes as base64).
fn to_json(cell: Cell) -> Value {
    match cell {
        Cell::Null => Value::Null,
        Cell::Text(t) => Value::String(t),
        Cell::Integer(i) => i.into(),
        Cell::Real(r) => serde_json::Number::from_f64(r).map_or(Value::Null, Value::Number),
        Cell::Bool(b) => b.into(),
        Cell::Bytes(b) => Value::String(STANDARD.encode(b)),
    }
}

/// A JSON value as a cell of `kind`, or why it is not one.
fn from_json(value: Value, kind: Kind) -> Result<Cell, &'static str> {
    Ok(match (kind, value) {
        (_, Value::Null) => Cell::Null,
        (Kind::Text, Value::String(t)) => Cell::Text(t),
        (Kind::Integer, Value::Number(n)) => Cell::Integer(n.as_i64().ok_or("not an integer")?),
        (Kind::Real, Value::Number(n)) => Cell::Real(n.as_f64().ok_or("not a number")?),
        (Kind::Bool, Value::Bool(b)) => Cell::Bool(b),
        (Kind::Bytes, Value::String(s)) => {
            Cell::Bytes(STANDARD.decode(s).map_err(|_| "not base64")?)
        }
        _ => return Err("of another type"),
    })
}

/// Opens the blob store `blobs` names (default: the data directory's).
fn open_blobs(data: &Path, blobs: Option<&str>) -> anyhow::Result<(BlobStore, String)> {
    let location = match blobs {
        Some(url) => url.parse().map_err(usage)?,
        None => BlobLocation::in_data_dir(data),
    };
    let store = BlobStore::open(&location)
        .with_context(|| format!("opening the blob store {}", location.describe()))?;
    Ok((store, location.describe()))
}

/// The record images a blob store holds (not its temporary files), sorted.
fn image_keys(blobs: &BlobStore) -> anyhow::Result<Vec<String>> {
    let mut keys: Vec<String> = blobs
        .keys()
        .context("listing the stored images")?
        .into_iter()
        .map(|b| b.key)
        .filter(|key| !BlobKey::candidates(key).is_empty())
        .collect();
    keys.sort();
    Ok(keys)
}

fn write_line(out: &mut impl Write, line: &Line) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, line)?;
    out.write_all(b"\n")
}

fn counts_text(counts: &BTreeMap<String, u64>) -> String {
    counts
        .iter()
        .map(|(name, n)| format!("  {name:<18} {n}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs `selo admin export`: writes everything the store `database` names and the blob store
/// hold to `out` (refusing an existing file), then prints the counts. The embedded store of a
/// data directory without one is refused, not made: an export of nothing is a mistyped `--data`.
pub fn export(
    data: &Path,
    database: &Database,
    blobs: Option<&str>,
    out: &Path,
    json: bool,
) -> anyhow::Result<()> {
    let embedded = selo_store::database::sqlite_path(data);
    if *database == Database::Sqlite && !embedded.exists() {
        bail!(
            "there is no database at {} to export: name the data directory with --data (or a PostgreSQL database with --database)",
            embedded.display()
        );
    }
    let store = &*crate::admin::open_store(data, database)?;
    let (blobs, _) = open_blobs(data, blobs)?;
    // Written beside its final name and linked to it once complete: a file under `out` is
    // whole.
    let mut partial = out.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    if out.exists() {
        return Err(usage(format!(
            "{} exists; name a new file with --out (an export never overwrites one)",
            out.display()
        )));
    }
    let file = selo_store::private_fs::new_file()
        .open(&partial)
        .with_context(|| {
            format!(
                "creating {} (its folder must exist; if the file does, an earlier export left it: remove it)",
                partial.display()
            )
        })?;
    let result = write_export(store, &blobs, file).and_then(|counts| {
        // A link, not a rename: a file that appeared under `out` meanwhile is not replaced.
        std::fs::hard_link(&partial, out)
            .with_context(|| format!("naming the export {}", out.display()))?;
        if let Some(folder) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
            File::open(folder)?.sync_all()?;
        }
        Ok(counts)
    });
    let _ = std::fs::remove_file(&partial);
    let counts = result?;
    report(json, "exported to", out, counts)
}

/// Prints what moved: `done` the file, then the counts.
fn report(
    json: bool,
    done: &str,
    file: &Path,
    counts: BTreeMap<String, u64>,
) -> anyhow::Result<()> {
    let report = TransferCounts {
        file: file.display().to_string(),
        counts,
    };
    print(json, &report, || {
        format!("{done} {}:\n{}", report.file, counts_text(&report.counts))
    })
}

fn write_export(
    store: &dyn Store,
    blobs: &BlobStore,
    file: File,
) -> anyhow::Result<BTreeMap<String, u64>> {
    let mut out = BufWriter::new(file);
    let mut counts = zero_counts();
    write_line(
        &mut out,
        &Line::Header {
            format: FORMAT.into(),
            version: VERSION,
        },
    )?;
    let mut current: Option<&'static str> = None;
    store
        .export_rows(&mut |table: &'static Table, row: Vec<Cell>| {
            let io = |e: std::io::Error| StoreError::Io(e);
            if current != Some(table.name) {
                current = Some(table.name);
                write_line(
                    &mut out,
                    &Line::Table {
                        name: table.name.into(),
                        columns: table.columns.iter().map(|(c, _)| (*c).into()).collect(),
                    },
                )
                .map_err(io)?;
            }
            write_line(&mut out, &Line::Row(row.into_iter().map(to_json).collect())).map_err(io)?;
            count(&mut counts, table.name);
            Ok(())
        })
        .context("reading the store")?;
    for key in image_keys(blobs)? {
        // An image deleted since the listing (its record's window ended) is not exported.
        let Some(bytes) = blobs.get(&key).context("reading a stored image")? else {
            continue;
        };
        write_line(
            &mut out,
            &Line::Blob {
                key,
                bytes: STANDARD.encode(bytes),
            },
        )?;
        count(&mut counts, BLOBS);
    }
    write_line(
        &mut out,
        &Line::End {
            counts: counts.clone(),
        },
    )?;
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    Ok(counts)
}

/// An item of an export file, read and checked.
enum Item {
    Blob(String, Vec<u8>),
    Row(&'static Table, Vec<Cell>),
    End(BTreeMap<String, u64>),
}

/// Reads an export file line by line, checking each against this release's tables.
struct Reader {
    lines: std::io::Lines<BufReader<File>>,
    number: usize,
    table: Option<&'static Table>,
    ended: bool,
}

impl Reader {
    fn open(path: &Path) -> anyhow::Result<Reader> {
        let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let mut reader = Reader {
            lines: BufReader::new(file).lines(),
            number: 0,
            table: None,
            ended: false,
        };
        match reader.line()? {
            Some(Line::Header { format, version }) if format == FORMAT => {
                if version != VERSION {
                    bail!(
                        "{} is an export of layout {version}; this release reads layout {VERSION} (import it with the release that wrote it)",
                        path.display()
                    );
                }
                Ok(reader)
            }
            _ => bail!(
                "{} is not a Selo export (its first line is not an export header)",
                path.display()
            ),
        }
    }

    fn line(&mut self) -> anyhow::Result<Option<Line>> {
        let Some(text) = self.lines.next() else {
            return Ok(None);
        };
        self.number += 1;
        let text = text.with_context(|| format!("reading line {}", self.number))?;
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| anyhow::anyhow!("line {} is not an export line ({e})", self.number))
    }

    /// The next item; `None` after the end line (a file that stops before it is refused).
    fn next_item(&mut self) -> anyhow::Result<Option<Item>> {
        if self.ended {
            if self.line()?.is_some() {
                bail!("line {}: the file goes on after its end line", self.number);
            }
            return Ok(None);
        }
        loop {
            let line = self.line()?.ok_or_else(|| {
                anyhow::anyhow!(
                    "the file stops at line {} without its end line: it was cut short (export again)",
                    self.number
                )
            })?;
            let at = self.number;
            match line {
                Line::Header { .. } => bail!("line {at}: a second header"),
                Line::Blob { key, bytes } => {
                    if BlobKey::candidates(&key).is_empty() {
                        bail!("line {at}: '{key}' is not a stored image's key");
                    }
                    let bytes = STANDARD
                        .decode(bytes)
                        .map_err(|_| anyhow::anyhow!("line {at}: the image is not base64"))?;
                    return Ok(Some(Item::Blob(key, bytes)));
                }
                Line::Table { name, columns } => {
                    let table = Table::named(&name)
                        .ok_or_else(|| anyhow::anyhow!("line {at}: unknown table '{name}'"))?;
                    let expected: Vec<&str> = table.columns.iter().map(|(c, _)| *c).collect();
                    if columns != expected {
                        bail!(
                            "line {at}: the file's {name} has columns {columns:?}, this release's has {expected:?} (import with the release that exported it)"
                        );
                    }
                    self.table = Some(table);
                }
                Line::Row(values) => {
                    let table = self
                        .table
                        .ok_or_else(|| anyhow::anyhow!("line {at}: a row before any table"))?;
                    if values.len() != table.columns.len() {
                        bail!(
                            "line {at}: a row of {} with {} values, not {}",
                            table.name,
                            values.len(),
                            table.columns.len()
                        );
                    }
                    let row = values
                        .into_iter()
                        .zip(table.columns)
                        .map(|(value, (column, kind))| {
                            from_json(value, *kind).map_err(|why| {
                                anyhow::anyhow!("line {at}: {}.{column} is {why}", table.name)
                            })
                        })
                        .collect::<anyhow::Result<Vec<_>>>()?;
                    return Ok(Some(Item::Row(table, row)));
                }
                Line::End { counts } => {
                    self.ended = true;
                    return Ok(Some(Item::End(counts)));
                }
            }
        }
    }
}

/// Reads the whole file once, checking every line and that it holds what its end line says:
/// an import changes nothing unless the file is whole.
fn check_file(path: &Path) -> anyhow::Result<BTreeMap<String, u64>> {
    let mut reader = Reader::open(path)?;
    let mut counts = zero_counts();
    let mut images = std::collections::HashSet::new();
    while let Some(item) = reader.next_item()? {
        match item {
            Item::Blob(key, _) => {
                if !images.insert(key) {
                    bail!("line {}: an image appears twice", reader.number);
                }
                count(&mut counts, BLOBS);
            }
            Item::Row(table, _) => count(&mut counts, table.name),
            Item::End(stated) => {
                if stated != counts {
                    bail!(
                        "the file's end line counts {stated:?}, its lines hold {counts:?}: it is damaged (export again)"
                    );
                }
            }
        }
    }
    Ok(counts)
}

/// Runs `selo admin import`: checks the whole file, refuses a target that holds anything, then,
/// once the target is held, stores the images and writes every row in one transaction (the
/// images are removed again if the rows fail), and prints the counts.
pub fn import(
    store: &dyn Store,
    data: &Path,
    blobs: Option<&str>,
    input: &Path,
    json: bool,
) -> anyhow::Result<()> {
    let counts = check_file(input)?;
    let (blobs, blobs_name) = open_blobs(data, blobs)?;
    if let Some(table) = store.occupied_table().context("reading the target store")? {
        bail!(not_empty_message(table));
    }
    let held = image_keys(&blobs)?;
    if !held.is_empty() {
        bail!(
            "the target blob store {blobs_name} is not empty ({} images, the first {}): import only into an empty one (images a failed import left behind can be deleted: nothing in the database owns them)",
            held.len(),
            held[0]
        );
    }
    let mut stored = Vec::new();
    let mut images_failed: Option<anyhow::Error> = None;
    let mut rows_failed: Option<anyhow::Error> = None;
    let mut last_row = (0, "");
    let mut rows = Reader::open(input)?;
    let result = store.import_rows(
        &mut || {
            let outcome = store_images(input, &blobs, &mut stored);
            outcome.map_err(|e| {
                images_failed = Some(e);
                StoreError::Interrupted("storing the images".into())
            })
        },
        &mut || loop {
            match rows.next_item() {
                Ok(Some(Item::Row(table, row))) => {
                    last_row = (rows.number, table.name);
                    return Ok(Some((table, row)));
                }
                Ok(Some(Item::Blob(..))) => continue,
                Ok(Some(Item::End(_)) | None) => return Ok(None),
                Err(e) => {
                    rows_failed = Some(e);
                    return Err(StoreError::Interrupted("reading the file".into()));
                }
            }
        },
    );
    let Err(e) = result else {
        return report(json, "imported from", input, counts);
    };
    // Nothing was written, unless the commit's answer was lost: then the images stay with
    // the rows that own them.
    match store.occupied_table() {
        Ok(None) => remove_images(&blobs, &stored),
        _ if stored.is_empty() => {}
        _ => eprintln!(
            "warning: the target database may hold the imported rows; the {} images this import stored are kept",
            stored.len()
        ),
    }
    Err(match (images_failed.or(rows_failed), e) {
        (Some(failure), _) => failure,
        (None, StoreError::Conflict(what)) => anyhow::anyhow!(what),
        (None, e) if last_row.0 > 0 => anyhow::Error::new(e).context(format!(
            "writing line {} (a row of {}) into the target",
            last_row.0, last_row.1
        )),
        (None, e) => anyhow::Error::new(e).context("importing into the target"),
    })
}

/// Stores every image of the file at `input` in `blobs`, noting each key stored.
fn store_images(input: &Path, blobs: &BlobStore, stored: &mut Vec<String>) -> anyhow::Result<()> {
    let mut reader = Reader::open(input)?;
    while let Some(item) = reader.next_item()? {
        if let Item::Blob(key, bytes) = item {
            blobs
                .put(&key, &bytes)
                .with_context(|| format!("storing the image of line {}", reader.number))?;
            stored.push(key);
        }
    }
    Ok(())
}

/// Removes the images an import stored before it failed (best effort: the error says why the
/// import failed; a leftover image only makes the next import refuse the blob store).
fn remove_images(blobs: &BlobStore, keys: &[String]) {
    for key in keys {
        if let Err(e) = blobs.delete(key) {
            eprintln!("warning: an image stored by the failed import could not be removed ({e})");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_survive_the_file_encoding() {
        let cells = [
            (Cell::Null, Kind::Text),
            (Cell::Text("ação \"x\"\n".into()), Kind::Text),
            (Cell::Integer(i64::MIN), Kind::Integer),
            (Cell::Real(0.1 + 0.2), Kind::Real),
            (Cell::Bool(true), Kind::Bool),
            (Cell::Bytes(vec![0, 255, 10, 13]), Kind::Bytes),
        ];
        for (cell, kind) in cells {
            let line = serde_json::to_string(&to_json(cell.clone())).unwrap();
            let back = from_json(serde_json::from_str(&line).unwrap(), kind).unwrap();
            assert_eq!(back, cell);
        }
        assert!(from_json(Value::String("x".into()), Kind::Integer).is_err());
        assert!(from_json(1.5.into(), Kind::Integer).is_err());
        assert!(from_json(Value::String("not base64!".into()), Kind::Bytes).is_err());
    }
}
