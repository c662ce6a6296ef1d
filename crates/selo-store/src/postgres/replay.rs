//! PostgreSQL: the [`ReplayLog`] role. Replay records are committed in groups
//! ([`crate::group_commit`]); a record holds across nodes because every node commits to the
//! same table.

use super::*;
use crate::ReplayLog;

impl ReplayLog for PostgresStore {
    fn assertion_used(&self, key: &ReplayKey, now: i64) -> StoreResult<bool> {
        Ok(self
            .query_opt(
                "SELECT 1 FROM replay_records WHERE expires_at = $1 AND hash = $2 AND expires_at >= $3",
                &[&key.expires_at, &key.hash.as_slice(), &now],
            )?
            .is_some())
    }

    fn record_assertion_use(&self, request: AssertionUse, done: AssertionUseDone) {
        self.replay.submit(request, done);
    }

    fn purge_used_assertions(&self, now: i64) -> StoreResult<usize> {
        let purged = self.execute("DELETE FROM replay_records WHERE expires_at < $1", &[&now])?;
        Ok(purged as usize)
    }
}
