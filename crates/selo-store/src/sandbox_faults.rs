//! Sandbox fault plans (CONTRACT §12) as the nodes share them (CONTRACT §18): a plan created
//! through any node hits the matching requests on every node, each of its faults once.

use crate::StoreResult;

/// A fault plan as stored: what it matches, its faults in order (as the domain spells them),
/// and what it consumed so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultPlanRecord {
    /// Plan id.
    pub id: String,
    /// The tenant whose requests it may touch.
    pub tenant_id: String,
    /// HTTP method (any when absent).
    pub method: Option<String>,
    /// Exact path.
    pub path: String,
    /// Its faults, in order.
    pub faults: Vec<String>,
    /// Whether it applies without the `Selo-Fault-Plan` header.
    pub global: bool,
    /// When it expires, Unix seconds.
    pub expires_at: i64,
    /// The faults consumed so far, in order.
    pub consumed: Vec<FaultUse>,
}

/// One consumed fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultUse {
    /// The fault.
    pub fault: String,
    /// When (RFC 3339).
    pub at: String,
    /// The request it hit.
    pub request_id: String,
    /// `METHOD /path` of that request.
    pub request: String,
}

/// The sandbox's fault plans.
///
/// Blocking, like every role of the store (see the crate's documentation).
pub trait SandboxFaults: Send + Sync {
    /// Stores a new plan (its `consumed` is ignored) unless its tenant already holds
    /// `max_live` plans live at `now`: `false` then. Expired plans are forgotten.
    fn create_fault_plan(
        &self,
        plan: &FaultPlanRecord,
        max_live: usize,
        now: i64,
    ) -> StoreResult<bool>;
    /// A plan live at `now`, with what it consumed.
    fn fault_plan(&self, id: &str, now: i64) -> StoreResult<Option<FaultPlanRecord>>;
    /// A tenant's global plans live at `now` that match `method` and `path`, oldest first,
    /// without what they consumed (consuming says whether one has a fault left).
    fn global_fault_plans(
        &self,
        tenant_id: &str,
        method: &str,
        path: &str,
        now: i64,
    ) -> StoreResult<Vec<FaultPlanRecord>>;
    /// Consumes plan `id`'s next fault for `used` (whose `fault` is ignored) if the plan is
    /// live at `now` and has one left: the fault consumed. Concurrent requests on any node
    /// consume distinct faults.
    fn consume_fault(&self, id: &str, now: i64, used: &FaultUse) -> StoreResult<Option<String>>;
    /// Whether any plan is live at `now`.
    fn any_fault_plans(&self, now: i64) -> StoreResult<bool>;
}
