//! What the nodes of one platform share beyond the data (CONTRACT §18): each node's
//! access-token public key, so a token from any node verifies on every node, and leases, so a
//! task (the sweeper) runs on one node at a time.

use crate::StoreResult;

/// A node's access-token public key (Ed25519), as published for the other nodes. Only the
/// public half is ever stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedKey {
    /// The node that signs with it (its `DATA/node-id`).
    pub node: String,
    /// The environment whose tokens it signs.
    pub environment: String,
    /// Its key id (the tokens' `kid`).
    pub kid: String,
    /// The raw 32-byte public key.
    pub public_key: Vec<u8>,
    /// When it was first published, Unix seconds.
    pub published_at: i64,
}

/// The nodes' shared keys and leases.
///
/// Blocking, like every role of the store (see the crate's documentation).
pub trait Nodes: Send + Sync {
    /// Whether other nodes may use this store at the same time (PostgreSQL): what a single
    /// server resets at start (running idempotency records, the recorded manual clock, blobs
    /// without a record) may then be another node's, and is left to its lease or its age.
    fn shared(&self) -> bool;
    /// Publishes a node's public key (again: nothing changes), retiring the keys that node
    /// published before for the environment (a replaced key file stops verifying).
    fn publish_key(&self, key: &PublishedKey) -> StoreResult<()>;
    /// Every published key, oldest first.
    fn published_keys(&self) -> StoreResult<Vec<PublishedKey>>;
    /// Takes or renews the lease on `task` for `node` until `until`, if no other node holds
    /// it at `now`; whether `node` holds it.
    fn try_lead(&self, task: &str, node: &str, now: i64, until: i64) -> StoreResult<bool>;
}
