//! SQLite: the [`ReplayLog`] role.

use super::*;
use crate::ReplayLog;

impl ReplayLog for SqliteStore {
    fn assertion_used(&self, key: &ReplayKey, now: i64) -> StoreResult<bool> {
        self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT 1 FROM replay_records WHERE expires_at = ?1 AND hash = ?2 \
                 AND expires_at >= ?3",
            )?
            .query_row(
                params![key.expires_at, key.hash.as_slice(), now],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
        })
    }

    fn record_assertion_use(&self, request: AssertionUse, done: AssertionUseDone) {
        self.replay.submit(request, done);
    }

    fn purge_used_assertions(&self, now: i64) -> StoreResult<usize> {
        self.write(|c| {
            let purged = c
                .prepare_cached("DELETE FROM replay_records WHERE expires_at < ?1")?
                .execute([now])?;
            // What an older binary recorded (the table stays for a rollback), once expired.
            c.prepare_cached("DELETE FROM used_assertions WHERE expires_at < ?1")?
                .execute([now])?;
            Ok(purged)
        })
    }
}
