//! Request metrics in the Prometheus text format (`GET /metrics`, CONTRACT §14).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

#[derive(Default)]
struct Series {
    count: u64,
    seconds: f64,
}

/// Series by status, by route, by environment (nested, so that counting a request of a series
/// that exists allocates nothing).
type SeriesTree = BTreeMap<String, BTreeMap<String, BTreeMap<u16, Series>>>;

/// Counters by environment, route and status.
#[derive(Default)]
pub struct Metrics {
    series: Mutex<SeriesTree>,
}

impl Metrics {
    /// Records one answered request.
    pub fn record(&self, env: &str, route: &str, status: u16, latency: Duration) {
        let mut tree = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let routes = match tree.get_mut(env) {
            Some(routes) => routes,
            None => tree.entry(env.to_string()).or_default(),
        };
        let statuses = match routes.get_mut(route) {
            Some(statuses) => statuses,
            None => routes.entry(route.to_string()).or_default(),
        };
        let s = statuses.entry(status).or_default();
        s.count += 1;
        s.seconds += latency.as_secs_f64();
    }

    /// The Prometheus text exposition of every environment's counters, or of `only` one's.
    pub fn render(&self, only: Option<&str>) -> String {
        let tree = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let map: Vec<((&String, &String, &u16), &Series)> = tree
            .iter()
            .filter(|(env, _)| only.is_none_or(|o| o == env.as_str()))
            .flat_map(|(env, routes)| {
                routes.iter().flat_map(move |(route, statuses)| {
                    statuses
                        .iter()
                        .map(move |(status, s)| ((env, route, status), s))
                })
            })
            .collect();
        let mut out = String::new();
        out.push_str("# HELP selo_http_requests_total Requests answered, by environment, route and status.\n");
        out.push_str("# TYPE selo_http_requests_total counter\n");
        for ((env, route, status), s) in map.iter() {
            let _ = writeln!(
                out,
                "selo_http_requests_total{{environment=\"{env}\",route=\"{route}\",status=\"{status}\"}} {}",
                s.count
            );
        }
        out.push_str("# HELP selo_http_request_duration_seconds Time to answer, by environment, route and status.\n");
        out.push_str("# TYPE selo_http_request_duration_seconds summary\n");
        for ((env, route, status), s) in map.iter() {
            let labels = format!("environment=\"{env}\",route=\"{route}\",status=\"{status}\"");
            let _ = writeln!(
                out,
                "selo_http_request_duration_seconds_sum{{{labels}}} {}",
                s.seconds
            );
            let _ = writeln!(
                out,
                "selo_http_request_duration_seconds_count{{{labels}}} {}",
                s.count
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_summaries() {
        let m = Metrics::default();
        m.record("sandbox", "/livez", 200, Duration::from_millis(2));
        m.record("sandbox", "/livez", 200, Duration::from_millis(2));
        m.record("production", "/livez", 200, Duration::from_millis(2));
        assert!(!m.render(Some("sandbox")).contains("production"));
        let text = m.render(None);
        assert!(text.contains("environment=\"production\""));
        assert!(text.contains(
            "selo_http_requests_total{environment=\"sandbox\",route=\"/livez\",status=\"200\"} 2"
        ));
        assert!(text.contains("selo_http_request_duration_seconds_count{environment=\"sandbox\",route=\"/livez\",status=\"200\"} 2"));
    }
}
