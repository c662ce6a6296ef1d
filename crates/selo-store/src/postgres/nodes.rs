//! PostgreSQL: the [`Nodes`] role: the platform's nodes publish their keys here and take turns
//! on tasks by lease.

use super::*;
use crate::nodes::{Nodes, PublishedKey};

impl Nodes for PostgresStore {
    fn shared(&self) -> bool {
        true
    }

    fn publish_key(&self, k: &PublishedKey) -> StoreResult<()> {
        self.wait(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            tx.execute(
                "DELETE FROM node_keys WHERE node = $1 AND environment = $2 AND kid <> $3",
                &[&k.node, &k.environment, &k.kid],
            )
            .await?;
            tx.execute(
                "INSERT INTO node_keys (kid, node, environment, public_key, published_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (kid) DO NOTHING",
                &[&k.kid, &k.node, &k.environment, &k.public_key, &k.published_at],
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn published_keys(&self) -> StoreResult<Vec<PublishedKey>> {
        self.query(
            "SELECT node, environment, kid, public_key, published_at FROM node_keys ORDER BY published_at, kid",
            &[],
        )?
        .iter()
        .map(|r| {
            Ok(PublishedKey {
                node: r.try_get::<_, Option<String>>(0)?.unwrap_or_default(),
                environment: r.try_get(1)?,
                kid: r.try_get(2)?,
                public_key: r.try_get(3)?,
                published_at: r.try_get(4)?,
            })
        })
        .collect()
    }

    fn try_lead(&self, task: &str, node: &str, now: i64, until: i64) -> StoreResult<bool> {
        let held = self.execute(
            "INSERT INTO leases (task, holder, until) VALUES ($1, $2, $4) ON CONFLICT (task) DO UPDATE SET holder = excluded.holder, until = excluded.until WHERE leases.holder = excluded.holder OR leases.until < $3",
            &[&task, &node, &now, &until],
        )?;
        Ok(held == 1)
    }
}
