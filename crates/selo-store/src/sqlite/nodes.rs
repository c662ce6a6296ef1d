//! SQLite: the [`Nodes`] role (one node, or the server and `selo admin` on one data directory).

use super::*;
use crate::nodes::{Nodes, PublishedKey};

impl Nodes for SqliteStore {
    fn publish_key(&self, k: &PublishedKey) -> StoreResult<()> {
        self.write(|c| {
            c.prepare_cached(
                "INSERT INTO node_keys (kid, environment, public_key, published_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (kid) DO NOTHING",
            )?
            .execute(params![k.kid, k.environment, k.public_key, k.published_at])?;
            Ok(())
        })
    }

    fn published_keys(&self) -> StoreResult<Vec<PublishedKey>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT environment, kid, public_key, published_at FROM node_keys ORDER BY published_at, kid",
            )?;
            let rows = st
                .query_map([], |r| {
                    Ok(PublishedKey {
                        environment: r.get(0)?,
                        kid: r.get(1)?,
                        public_key: r.get(2)?,
                        published_at: r.get(3)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
    }

    fn try_lead(&self, task: &str, node: &str, now: i64, until: i64) -> StoreResult<bool> {
        self.write(|c| {
            let held = c
                .prepare_cached(
                    "INSERT INTO leases (task, holder, until) VALUES (?1, ?2, ?4) ON CONFLICT (task) DO UPDATE SET holder = excluded.holder, until = excluded.until WHERE leases.holder = excluded.holder OR leases.until < ?3",
                )?
                .execute(params![task, node, now, until])?;
            Ok(held == 1)
        })
    }
}
