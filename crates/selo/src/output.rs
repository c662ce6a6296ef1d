//! Printing results: one JSON document with `--json`, human text otherwise; and the usage
//! error that makes a command exit 2.

use serde::Serialize;

/// A value on the command line that is not valid (an unknown flow, a malformed CIDR or hours
/// window, an out-of-range number): the command exits 2 like clap's own usage errors (CONTRACT
/// §15), not 3, which says a call failed.
#[derive(Debug)]
pub struct UsageError(String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// A [`UsageError`] saying `message`.
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError(message.into()))
}

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
