//! The load generator: N tasks share one keep-alive HTTP client and send requests until a
//! deadline (or until the requests prepared for them run out).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Builds request number `i`; `None` when nothing is left to send (e.g. assertions used up).
pub type MakeRequest =
    Arc<dyn Fn(&reqwest::Client, usize) -> Option<reqwest::RequestBuilder> + Send + Sync>;

/// What one run produced.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Wall time from the first request to the end of the last one.
    pub elapsed: Duration,
    /// Latency of every completed request (2xx or not), µs.
    pub latencies_us: Vec<u32>,
    /// Non-2xx responses and transport errors: kind → (count, first body seen).
    pub failures: BTreeMap<String, (u64, String)>,
    /// `id` of every 2xx JSON body that has one (the created processes).
    pub ids: Vec<String>,
    /// True when the prepared requests ran out before the deadline.
    pub exhausted: bool,
}

impl Outcome {
    /// Requests that completed (any status).
    pub fn requests(&self) -> u64 {
        self.latencies_us.len() as u64
    }

    /// Non-2xx responses plus transport errors.
    pub fn failed(&self) -> u64 {
        self.failures.values().map(|(n, _)| n).sum()
    }

    /// Completed requests per second.
    pub fn per_sec(&self) -> f64 {
        self.requests() as f64 / self.elapsed.as_secs_f64()
    }

    fn merge(&mut self, other: Outcome) {
        self.latencies_us.extend(other.latencies_us);
        self.ids.extend(other.ids);
        self.exhausted |= other.exhausted;
        for (k, (n, sample)) in other.failures {
            self.failures.entry(k).or_insert((0, sample)).0 += n;
        }
    }

    fn fail(&mut self, kind: String, sample: String) {
        self.failures.entry(kind).or_insert((0, sample)).0 += 1;
    }
}

/// Runs `connections` tasks for `duration`, each sending `make`'s requests one after another.
/// With `collect_ids`, the `id` of each 2xx JSON response is kept.
pub async fn run(
    client: &reqwest::Client,
    connections: usize,
    duration: Duration,
    collect_ids: bool,
    make: MakeRequest,
) -> Outcome {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + duration;
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let (client, make, next) = (client.clone(), make.clone(), next.clone());
            tokio::spawn(async move {
                let mut out = Outcome::default();
                while Instant::now() < deadline {
                    let Some(req) = make(&client, next.fetch_add(1, Ordering::Relaxed)) else {
                        out.exhausted = true;
                        break;
                    };
                    let t0 = Instant::now();
                    let res = req.send().await;
                    let (status, body) = match res {
                        Ok(r) => (r.status(), r.bytes().await),
                        Err(e) => {
                            out.latencies_us.push(t0.elapsed().as_micros() as u32);
                            out.fail("transport error".into(), e.to_string());
                            continue;
                        }
                    };
                    out.latencies_us.push(t0.elapsed().as_micros() as u32);
                    let body = body.unwrap_or_default();
                    if !status.is_success() {
                        let sample = String::from_utf8_lossy(&body[..body.len().min(300)]);
                        out.fail(format!("HTTP {}", status.as_u16()), sample.into_owned());
                    } else if collect_ids {
                        let v: serde_json::Value =
                            serde_json::from_slice(&body).unwrap_or_default();
                        if let Some(id) = v["id"].as_str() {
                            out.ids.push(id.to_string());
                        }
                    }
                }
                out
            })
        })
        .collect();
    let mut all = Outcome::default();
    for t in tasks {
        match t.await {
            Ok(out) => all.merge(out),
            Err(e) => all.fail("client task panicked".into(), e.to_string()),
        }
    }
    all.elapsed = start.elapsed();
    all
}
