//! Sandbox fault plans (CONTRACT §12), kept in memory: test tooling, not data. A plan belongs
//! to one tenant and only ever touches that tenant's requests.

use selo_domain::fault::Fault;
use selo_wire::sandbox::{ConsumedFault, FaultMatch, FaultPlanView};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

struct Plan {
    tenant_id: String,
    matcher: FaultMatch,
    faults: Vec<Fault>,
    global: bool,
    consumed: Vec<ConsumedFault>,
    created: u64,
}

impl Plan {
    fn matches(&self, method: &str, path: &str) -> bool {
        self.matcher.path == path
            && self
                .matcher
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
    }

    fn view(&self, id: &str) -> FaultPlanView {
        FaultPlanView {
            id: id.to_string(),
            matcher: self.matcher.clone(),
            faults: self.faults.iter().map(ToString::to_string).collect(),
            global: self.global,
            consumed: self.consumed.clone(),
            remaining: self.faults.len() - self.consumed.len(),
        }
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
    /// Now, RFC 3339.
    pub now: String,
}

/// Every plan of the server.
#[derive(Default)]
pub struct FaultPlans {
    plans: Mutex<HashMap<String, Plan>>,
    any: AtomicBool,
    next: Mutex<u64>,
}

impl FaultPlans {
    /// Whether any plan exists (a cheap check on every request).
    pub fn active(&self) -> bool {
        self.any.load(Ordering::Relaxed)
    }

    /// Adds a plan for `tenant_id`.
    pub fn create(
        &self,
        tenant_id: &str,
        matcher: FaultMatch,
        faults: Vec<Fault>,
        global: bool,
    ) -> FaultPlanView {
        let id = uuid::Uuid::new_v4().to_string();
        let created = {
            let mut n = self.next.lock().unwrap_or_else(|p| p.into_inner());
            *n += 1;
            *n
        };
        let plan = Plan {
            tenant_id: tenant_id.to_string(),
            matcher,
            faults,
            global,
            consumed: Vec::new(),
            created,
        };
        let view = plan.view(&id);
        self.plans
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, plan);
        self.any.store(true, Ordering::Relaxed);
        view
    }

    /// A plan of `tenant_id`.
    pub fn view(&self, tenant_id: &str, id: &str) -> Option<FaultPlanView> {
        let plans = self.plans.lock().unwrap_or_else(|p| p.into_inner());
        plans
            .get(id)
            .filter(|p| p.tenant_id == tenant_id)
            .map(|p| p.view(id))
    }

    /// Consumes the next fault for `t`: the plan named by its header (when it matches and, if
    /// the caller is known, is the caller's), else the caller's oldest matching global plan.
    pub fn take(&self, t: &Target<'_>) -> Option<(String, Fault)> {
        let mut plans = self.plans.lock().unwrap_or_else(|p| p.into_inner());
        let usable = |p: &Plan| p.matches(t.method, t.path) && p.consumed.len() < p.faults.len();
        let id = match t.plan {
            Some(id) => plans
                .get(id)
                .filter(|p| usable(p) && t.tenant.is_none_or(|tenant| tenant == p.tenant_id))
                .map(|_| id.to_string()),
            None => {
                let tenant = t.tenant?;
                plans
                    .iter()
                    .filter(|(_, p)| p.global && p.tenant_id == tenant && usable(p))
                    .min_by_key(|(_, p)| p.created)
                    .map(|(id, _)| id.clone())
            }
        }?;
        let plan = plans.get_mut(&id)?;
        let fault = plan.faults[plan.consumed.len()];
        plan.consumed.push(ConsumedFault {
            fault: fault.to_string(),
            at: t.now.clone(),
            request_id: t.request_id.to_string(),
            request: format!("{} {}", t.method, t.path),
        });
        Some((id, fault))
    }
}
