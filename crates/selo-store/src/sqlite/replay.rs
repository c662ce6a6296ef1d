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
        let mut job = (request, done);
        // The writer thread is (re)started when it is not running: on first use, and should it
        // ever have ended, so a lost thread never stalls token requests.
        for _ in 0..2 {
            let queue = {
                let mut slot = self.replay_queue.lock().unwrap_or_else(|p| p.into_inner());
                match slot.as_ref() {
                    Some(q) => q.clone(),
                    None => match self.start_replay_writer() {
                        Ok(q) => slot.insert(q).clone(),
                        Err(e) => {
                            (job.1)(Err(StoreError::Io(e)));
                            return;
                        }
                    },
                }
            };
            match queue.send(job) {
                Ok(()) => return,
                Err(mpsc::SendError(back)) => {
                    tracing::error!("the replay-record writer had stopped; starting it again");
                    *self.replay_queue.lock().unwrap_or_else(|p| p.into_inner()) = None;
                    job = back;
                }
            }
        }
        (job.1)(Err(StoreError::Interrupted(
            "the replay-record writer could not be started".into(),
        )));
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
