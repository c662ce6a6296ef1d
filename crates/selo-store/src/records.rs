//! What every backend shares about stored rows: records as JSON text (read and written only
//! whole, by the domain's own types: no statement reads a field inside one), comma lists, and
//! the "nothing changed" answer.

use crate::{StoreError, StoreResult};
use selo_domain::magic_link::MagicLinkRecord;
use selo_domain::web::WebProcessRecord;

/// A record as stored.
pub(crate) fn encode<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A stored record.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Rewrites a stored record without its personal data.
pub(crate) type ScrubRecord = fn(&str) -> StoreResult<String>;

/// A stored Web & SDK process without its personal data.
pub(crate) fn scrub_web_record(record: &str) -> StoreResult<String> {
    let mut p: WebProcessRecord = decode(record)?;
    p.scrub_personal_data();
    encode(&p)
}

/// A stored Magic Link without its personal data.
pub(crate) fn scrub_link_record(record: &str) -> StoreResult<String> {
    let mut link: MagicLinkRecord = decode(record)?;
    link.scrub_personal_data();
    encode(&link)
}

/// A comma-list column as its items (`None` stays `None`: the default applies).
pub(crate) fn list_column(value: Option<String>) -> Option<Vec<String>> {
    value.map(|v| {
        v.split(',')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    })
}

/// [`StoreError::NotFound`] naming `what` when a change touched no row.
pub(crate) fn changed(rows: u64, what: impl FnOnce() -> String) -> StoreResult<()> {
    if rows == 0 {
        Err(StoreError::NotFound(what()))
    } else {
        Ok(())
    }
}
