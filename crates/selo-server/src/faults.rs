//! Sandbox fault plans (CONTRACT §12): test tooling, kept in the store so that a plan created
//! through any node hits the matching requests on every node (CONTRACT §18). A plan belongs to
//! one tenant and only ever touches that tenant's requests. Plans are bounded (CONTRACT §19):
//! each expires after its TTL, a tenant holds at most [`MAX_LIVE_PLANS`] live ones, and
//! finding a request's fault looks only at its tenant's plans. Whether any plan exists is
//! known here (set at a create, read from the store with the configuration epoch), so a
//! sandbox without plans costs no store read per request.

use selo_domain::clock::rfc3339_millis;
use selo_domain::fault::Fault;
use selo_store::Store;
use selo_store::sandbox_faults::{FaultPlanRecord, FaultUse};
use selo_wire::sandbox::{ConsumedFault, FaultMatch, FaultPlanView};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Live (unexpired) plans one tenant may hold.
pub const MAX_LIVE_PLANS: usize = 100;

/// Whether a plan applies to `method path`.
fn matches(plan: &FaultPlanRecord, method: &str, path: &str) -> bool {
    plan.path == path
        && plan
            .method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
}

/// Whether a plan has a fault left for `method path`.
fn usable(plan: &FaultPlanRecord, method: &str, path: &str) -> bool {
    matches(plan, method, path) && plan.consumed.len() < plan.faults.len()
}

/// What `GET /sandbox/faults/{id}` shows of a plan.
fn view(plan: &FaultPlanRecord) -> FaultPlanView {
    FaultPlanView {
        id: plan.id.clone(),
        matcher: FaultMatch {
            method: plan.method.clone(),
            path: plan.path.clone(),
        },
        faults: plan.faults.clone(),
        global: plan.global,
        consumed: plan
            .consumed
            .iter()
            .map(|u| ConsumedFault {
                fault: u.fault.clone(),
                at: u.at.clone(),
                request_id: u.request_id.clone(),
                request: u.request.clone(),
            })
            .collect(),
        remaining: plan.faults.len().saturating_sub(plan.consumed.len()),
        expires_at: time::OffsetDateTime::from_unix_timestamp(plan.expires_at)
            .map(rfc3339_millis)
            .unwrap_or_default(),
    }
}

/// A request a fault may hit.
pub struct Target<'a> {
    /// `Selo-Fault-Plan` header.
    pub plan: Option<&'a str>,
    /// The caller's tenant, when the request carries a valid access token.
    pub tenant: Option<&'a str>,
    /// Method.
    pub method: &'a str,
    /// Path.
    pub path: &'a str,
    /// Request id.
    pub request_id: &'a str,
    /// Now (the server clock).
    pub now: time::OffsetDateTime,
}

/// A new plan.
pub struct NewPlan {
    /// Which requests it applies to.
    pub matcher: FaultMatch,
    /// Its faults, in order.
    pub faults: Vec<Fault>,
    /// Whether it applies without the header.
    pub global: bool,
    /// When it expires, Unix seconds.
    pub expires_at: i64,
}

/// The server's view of the fault plans in the store.
#[derive(Default)]
pub struct FaultPlans {
    any: AtomicBool,
    /// Moves at every create, so a refresh that read the store before a create committed
    /// does not clear the flag the create set.
    created: AtomicU64,
}

impl FaultPlans {
    /// Whether a plan may exist (a cheap check on every request: plans named by the
    /// `Selo-Fault-Plan` header are looked up whatever it says).
    pub fn active(&self) -> bool {
        self.any.load(Ordering::SeqCst)
    }

    /// Reads from the store whether any plan is live at `now` (another node may have created
    /// one).
    pub fn refresh(&self, store: &dyn Store, now: i64) {
        let before = self.created.load(Ordering::SeqCst);
        match store.any_fault_plans(now) {
            Ok(true) => self.any.store(true, Ordering::SeqCst),
            Ok(false) => {
                if self.created.load(Ordering::SeqCst) == before {
                    self.any.store(false, Ordering::SeqCst);
                }
            }
            Err(e) => tracing::warn!(error = %e, "reading whether fault plans exist failed"),
        }
    }

    /// Adds a plan for `tenant_id`; `None` when the tenant already holds [`MAX_LIVE_PLANS`]
    /// live plans.
    pub fn create(
        &self,
        store: &dyn Store,
        tenant_id: &str,
        plan: NewPlan,
        now: i64,
    ) -> selo_store::StoreResult<Option<FaultPlanView>> {
        let record = FaultPlanRecord {
            id: uuid::Uuid::new_v4().to_string(),
            tenant_id: tenant_id.to_string(),
            method: plan.matcher.method,
            path: plan.matcher.path,
            faults: plan.faults.iter().map(ToString::to_string).collect(),
            global: plan.global,
            expires_at: plan.expires_at,
            consumed: Vec::new(),
        };
        if !store.create_fault_plan(&record, MAX_LIVE_PLANS, now)? {
            return Ok(None);
        }
        self.created.fetch_add(1, Ordering::SeqCst);
        self.any.store(true, Ordering::SeqCst);
        Ok(Some(view(&record)))
    }

    /// A live plan of `tenant_id`.
    pub fn view(
        &self,
        store: &dyn Store,
        tenant_id: &str,
        id: &str,
        now: i64,
    ) -> selo_store::StoreResult<Option<FaultPlanView>> {
        Ok(store
            .fault_plan(id, now)?
            .filter(|p| p.tenant_id == tenant_id)
            .map(|p| view(&p)))
    }

    /// Consumes the next fault for `t`: the plan named by its header (when it matches and, if
    /// the caller is known, is the caller's), else the caller's oldest matching global plan.
    /// Only the plans of one tenant are looked at; a store that fails injects nothing.
    pub fn take(&self, store: &dyn Store, t: &Target<'_>) -> Option<(String, Fault)> {
        let now = t.now.unix_timestamp();
        let used = FaultUse {
            fault: String::new(),
            at: rfc3339_millis(t.now),
            request_id: t.request_id.to_string(),
            request: format!("{} {}", t.method, t.path),
        };
        let candidates: Vec<FaultPlanRecord> = match t.plan {
            Some(id) => store
                .fault_plan(id, now)
                .map_err(|e| tracing::warn!(error = %e, "reading a fault plan failed"))
                .ok()?
                .filter(|p| t.tenant.is_none_or(|tenant| tenant == p.tenant_id))
                .into_iter()
                .collect(),
            None if self.active() => store
                .global_fault_plans(t.tenant?, t.method, t.path, now)
                .map_err(|e| tracing::warn!(error = %e, "reading fault plans failed"))
                .ok()?,
            None => return None,
        };
        // A named plan carries what it consumed; the global ones the store found match the
        // request, and consuming says whether one has a fault left.
        let named_usable = |p: &&FaultPlanRecord| t.plan.is_none() || usable(p, t.method, t.path);
        for plan in candidates.iter().filter(named_usable) {
            // Another request (on any node) may take the last fault first: then the next plan.
            match store.consume_fault(&plan.id, now, &used) {
                Ok(Some(fault)) => return Some((plan.id.clone(), fault.parse().ok()?)),
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "consuming a fault failed");
                    return None;
                }
            }
        }
        None
    }
}
