//! What a handler learns about a request that the middleware needs afterwards (the tenant for
//! the log line, the rate-limit quota for the headers), shared through a request extension.

use selo_domain::rate_limit::Quota;
use std::sync::{Arc, Mutex};

/// Notes a handler leaves for the middleware.
#[derive(Debug, Default, Clone)]
pub struct Notes {
    /// The tenant the request was tied to.
    pub tenant: Option<String>,
    /// The tenant's quota after this request.
    pub quota: Option<Quota>,
}

/// The per-request cell holding [`Notes`] (cheap to clone).
#[derive(Debug, Default, Clone)]
pub struct Annotations(Arc<Mutex<Notes>>);

impl Annotations {
    /// Records the tenant and its quota.
    pub fn note(&self, tenant: &str, quota: Option<Quota>) {
        let mut n = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if n.tenant.as_deref() != Some(tenant) {
            n.tenant = Some(tenant.to_string());
        }
        if quota.is_some() {
            n.quota = quota;
        }
    }

    /// A copy of the notes.
    pub fn get(&self) -> Notes {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}
