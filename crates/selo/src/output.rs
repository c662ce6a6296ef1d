//! Printing results: one JSON document with `--json`, human text otherwise.

use serde::Serialize;

/// Prints `value` as JSON when `json`, else the human `text`.
pub fn print<T: Serialize>(
    json: bool,
    value: &T,
    text: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(value)?);
    } else {
        println!("{}", text());
    }
    Ok(())
}
