//! The webhook queue: events to deliver, their attempts, and processes that finish by time.

use crate::StoreResult;
use crate::model::*;

/// The webhook events to deliver, their attempts, and the processes that finish by time.
///
/// Blocking, like every role of the store (see the crate's documentation).
pub trait WebhookQueue: Send + Sync {
    /// Processes that finished by time (async API processes, expired Web & SDK ones) of tenants
    /// with an endpoint (enabled or paused), and have no event yet.
    fn finished_without_event(&self, now: i64, limit: usize) -> StoreResult<FinishedByTime>;
    /// The earliest moment after `after` at which a process of a tenant with an endpoint
    /// finishes by time (an async API result, a Web & SDK expiry) without an event yet.
    fn next_finish_by_time(&self, after: i64) -> StoreResult<Option<i64>>;
    /// Records an event outside a state change (one per process: `false` if it existed), only
    /// when the tenant has an endpoint; a paused (disabled) endpoint's events are recorded too
    /// and wait for it to be enabled again.
    fn record_event(&self, event: &EventDraft) -> StoreResult<bool>;
    /// Claims for `node`, until `lease_until`, the pending events due at `now` of tenants with
    /// an enabled endpoint, and returns them: at most the endpoint's concurrency per tenant
    /// (one while it is failing), less what other nodes hold claimed, every tenant's oldest
    /// before any tenant's second (then oldest first), so no tenant's backlog holds up
    /// another's. An event claimed by another node is not offered until its lease ends (a
    /// node that died leaves its claims to the others then); `node`'s own claims are offered
    /// again, with their lease renewed.
    fn claim_due_events(
        &self,
        node: &str,
        now: i64,
        lease_until: i64,
        limit: usize,
    ) -> StoreResult<Vec<WebhookEvent>>;
    /// Records one attempt `node` made and, if `node` still holds the event's claim, its
    /// outcome, releasing the claim (a node whose claim ran out and was taken over leaves the
    /// event and its endpoint's failure count to the node that holds it now).
    fn record_attempt(
        &self,
        node: &str,
        attempt: &WebhookAttempt,
        outcome: AttemptOutcome,
    ) -> StoreResult<()>;
    /// A tenant's events (optionally of one process), newest first.
    fn events(
        &self,
        tenant_id: &str,
        process_id: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<WebhookEvent>>;
    /// A tenant's attempts (optionally of one process), newest first.
    fn attempts(
        &self,
        tenant_id: &str,
        process_id: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<WebhookAttempt>>;
    /// Makes a tenant's events (of one process, or created since a time) due at once, on any
    /// clock;
    /// returns how many.
    fn replay_events(
        &self,
        tenant_id: &str,
        process_id: Option<&str>,
        since: Option<i64>,
    ) -> StoreResult<usize>;
}
