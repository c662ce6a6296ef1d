//! Sandbox fault plans (CONTRACT §12), kept in memory: test tooling, not data. A plan belongs
//! to one tenant and only ever touches that tenant's requests. Plans are bounded (CONTRACT
//! §19): each expires after its TTL, a tenant holds at most [`MAX_LIVE_PLANS`] live ones, and
//! finding a request's fault looks only at its tenant's plans.

use selo_domain::clock::rfc3339_millis;
use selo_domain::fault::Fault;
use selo_wire::sandbox::{ConsumedFault, FaultMatch, FaultPlanView};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Live (unexpired) plans one tenant may hold.
pub const MAX_LIVE_PLANS: usize = 100;

struct Plan {
    matcher: FaultMatch,
    faults: Vec<Fault>,
    global: bool,
    consumed: Vec<ConsumedFault>,
    created: u64,
    /// Unix seconds.
    expires_at: i64,
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

    fn usable(&self, method: &str, path: &str, now: i64) -> bool {
        now < self.expires_at
            && self.matches(method, path)
            && self.consumed.len() < self.faults.len()
    }

    fn view(&self, id: &str) -> FaultPlanView {
        FaultPlanView {
            id: id.to_string(),
            matcher: self.matcher.clone(),
            faults: self.faults.iter().map(ToString::to_string).collect(),
            global: self.global,
            consumed: self.consumed.clone(),
            remaining: self.faults.len() - self.consumed.len(),
            expires_at: time::OffsetDateTime::from_unix_timestamp(self.expires_at)
                .map(rfc3339_millis)
                .unwrap_or_default(),
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

#[derive(Default)]
struct Plans {
    /// Plans by tenant, then by id.
    by_tenant: HashMap<String, HashMap<String, Plan>>,
    /// The tenant of each plan id (a request naming a plan may carry no credentials).
    owner: HashMap<String, String>,
    created: u64,
}

impl Plans {
    /// Forgets `tenant_id`'s expired plans.
    fn purge(&mut self, tenant_id: &str, now: i64) {
        let Some(plans) = self.by_tenant.get_mut(tenant_id) else {
            return;
        };
        let expired: Vec<String> = plans
            .iter()
            .filter(|(_, p)| now >= p.expires_at)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            plans.remove(&id);
            self.owner.remove(&id);
        }
        if plans.is_empty() {
            self.by_tenant.remove(tenant_id);
        }
    }
}

/// Every plan of the server.
#[derive(Default)]
pub struct FaultPlans {
    plans: Mutex<Plans>,
    any: AtomicBool,
}

impl FaultPlans {
    /// Whether any plan exists (a cheap check on every request).
    pub fn active(&self) -> bool {
        self.any.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Plans> {
        self.plans.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a plan for `tenant_id`; `None` when the tenant already holds [`MAX_LIVE_PLANS`]
    /// live plans.
    pub fn create(&self, tenant_id: &str, plan: NewPlan, now: i64) -> Option<FaultPlanView> {
        let mut all = self.lock();
        all.purge(tenant_id, now);
        if all.by_tenant.get(tenant_id).map_or(0, HashMap::len) >= MAX_LIVE_PLANS {
            return None;
        }
        all.created += 1;
        let plan = Plan {
            matcher: plan.matcher,
            faults: plan.faults,
            global: plan.global,
            consumed: Vec::new(),
            created: all.created,
            expires_at: plan.expires_at,
        };
        let id = uuid::Uuid::new_v4().to_string();
        let view = plan.view(&id);
        all.owner.insert(id.clone(), tenant_id.to_string());
        all.by_tenant
            .entry(tenant_id.to_string())
            .or_default()
            .insert(id, plan);
        self.any.store(true, Ordering::Relaxed);
        Some(view)
    }

    /// A live plan of `tenant_id`.
    pub fn view(&self, tenant_id: &str, id: &str, now: i64) -> Option<FaultPlanView> {
        let mut all = self.lock();
        all.purge(tenant_id, now);
        all.by_tenant.get(tenant_id)?.get(id).map(|p| p.view(id))
    }

    /// Consumes the next fault for `t`: the plan named by its header (when it matches and, if
    /// the caller is known, is the caller's), else the caller's oldest matching global plan.
    /// Only the plans of one tenant are looked at.
    pub fn take(&self, t: &Target<'_>) -> Option<(String, Fault)> {
        let now = t.now.unix_timestamp();
        let mut all = self.lock();
        let (tenant, id) = match t.plan {
            Some(id) => {
                let owner = all.owner.get(id)?.clone();
                if t.tenant.is_some_and(|tenant| tenant != owner) {
                    return None;
                }
                (owner, id.to_string())
            }
            None => {
                let tenant = t.tenant?;
                let id = all
                    .by_tenant
                    .get(tenant)?
                    .iter()
                    .filter(|(_, p)| p.global && p.usable(t.method, t.path, now))
                    .min_by_key(|(_, p)| p.created)
                    .map(|(id, _)| id.clone())?;
                (tenant.to_string(), id)
            }
        };
        let plan = all
            .by_tenant
            .get_mut(&tenant)?
            .get_mut(&id)
            .filter(|p| p.usable(t.method, t.path, now))?;
        let fault = plan.faults[plan.consumed.len()];
        plan.consumed.push(ConsumedFault {
            fault: fault.to_string(),
            at: rfc3339_millis(t.now),
            request_id: t.request_id.to_string(),
            request: format!("{} {}", t.method, t.path),
        });
        Some((id, fault))
    }
}
