//! Pure helpers: latency percentiles and `/proc` parsing. No IO here, so they are unit-tested.

/// Latency summary of one workload, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latency {
    /// Median.
    pub p50_us: u32,
    /// 99th percentile.
    pub p99_us: u32,
    /// Slowest request.
    pub max_us: u32,
}

/// The nearest-rank percentile `p` (0–100) of an ascending slice; 0 when it is empty.
pub fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Sorts `samples` and summarises them.
pub fn summarize(samples: &mut [u32]) -> Latency {
    samples.sort_unstable();
    Latency {
        p50_us: percentile(samples, 50.0),
        p99_us: percentile(samples, 99.0),
        max_us: samples.last().copied().unwrap_or(0),
    }
}

/// `(utime, stime)` in clock ticks from the text of `/proc/<pid>/stat`.
///
/// The command name (field 2) is in parentheses and may contain spaces, so fields are counted
/// from the last `)`: after it come field 3 (state) onwards, so utime (field 14) and stime
/// (field 15) are the 12th and 13th.
pub fn cpu_ticks(stat: &str) -> Option<(u64, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime, stime))
}

/// A `Key:   1234 kB` value (in KiB) from `/proc/<pid>/status` or `/proc/meminfo`.
pub fn kib_field(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let mut v: Vec<u32> = (1..=100).rev().collect();
        let s = summarize(&mut v);
        assert_eq!((s.p50_us, s.p99_us, s.max_us), (50, 99, 100));
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(percentile(&[], 50.0), 0);
        assert_eq!(percentile(&[1, 2, 3], 0.0), 1);
        assert_eq!(percentile(&[1, 2, 3], 100.0), 3);
    }

    #[test]
    fn parses_proc_stat_with_spaces_in_the_name() {
        let stat = "4242 (selo serve) S 1 4242 4242 0 -1 4194560 900 0 0 0 1234 567 0 0 20 0 3 0 99 1000000 500 18446744073709551615";
        assert_eq!(cpu_ticks(stat), Some((1234, 567)));
        assert_eq!(cpu_ticks("garbage"), None);
    }

    #[test]
    fn parses_status_fields() {
        let status =
            "Name:\tselo\nVmPeak:\t  200000 kB\nVmHWM:\t   51234 kB\nVmRSS:\t   40000 kB\n";
        assert_eq!(kib_field(status, "VmHWM"), Some(51_234));
        assert_eq!(kib_field(status, "VmRSS"), Some(40_000));
        assert_eq!(kib_field(status, "VmSwap"), None);
        assert_eq!(
            kib_field("MemTotal:       24000000 kB\n", "MemTotal"),
            Some(24_000_000)
        );
    }
}
