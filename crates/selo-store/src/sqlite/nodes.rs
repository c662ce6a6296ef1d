//! SQLite: the [`Nodes`] role (one node, or the server and `selo admin` on one data directory).

use super::*;
use crate::nodes::{Nodes, PublishedKey};

impl Nodes for SqliteStore {
    /// One server per data directory (`selo admin` writes no running state).
    fn shared(&self) -> bool {
        false
    }

    fn publish_key(&self, k: &PublishedKey) -> StoreResult<()> {
        self.write(|c| {
            let tx = c.transaction()?;
            tx.prepare_cached(
                "DELETE FROM node_keys WHERE node = ?1 AND environment = ?2 AND kid <> ?3",
            )?
            .execute(params![k.node, k.environment, k.kid])?;
            tx.prepare_cached(
                "INSERT INTO node_keys (kid, node, environment, public_key, published_at) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (kid) DO NOTHING",
            )?
            .execute(params![k.kid, k.node, k.environment, k.public_key, k.published_at])?;
            tx.commit()?;
            Ok(())
        })
    }

    fn published_keys(&self) -> StoreResult<Vec<PublishedKey>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT node, environment, kid, public_key, published_at FROM node_keys ORDER BY published_at, kid",
            )?;
            let rows = st
                .query_map([], |r| {
                    Ok(PublishedKey {
                        node: r.get::<_, Option<String>>(0)?.unwrap_or_default(),
                        environment: r.get(1)?,
                        kid: r.get(2)?,
                        public_key: r.get(3)?,
                        published_at: r.get(4)?,
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
