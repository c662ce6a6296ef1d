//! Per-account access restrictions: source-IP allow-list (1.3.1) and allowed hours (1.3.2).

use ipnet::IpNet;
use std::net::IpAddr;
use std::str::FromStr;

/// Parses a CIDR or a bare IP address (taken as a single-host network).
pub fn parse_cidr(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    IpNet::from_str(s)
        .or_else(|_| IpAddr::from_str(s).map(IpNet::from))
        .map_err(|_| format!("'{s}' is not an IP address or CIDR (e.g. 10.0.0.0/8, 127.0.0.1)"))
}

/// Whether `peer` is allowed by `allow` (an empty list allows everyone).
pub fn ip_allowed(allow: &[IpNet], peer: IpAddr) -> bool {
    let peer = match peer {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(peer),
        v4 => v4,
    };
    allow.is_empty() || allow.iter().any(|net| net.contains(&peer))
}

/// A daily UTC window `HH:MM-HH:MM`: start included, end excluded; an end before the start
/// crosses midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoursWindow {
    start_minute: u16,
    end_minute: u16,
}

impl HoursWindow {
    /// Whether the minute of the day `minute` (0..1440) is inside the window.
    pub fn contains(&self, minute: u16) -> bool {
        if self.start_minute <= self.end_minute {
            (self.start_minute..self.end_minute).contains(&minute)
        } else {
            minute >= self.start_minute || minute < self.end_minute
        }
    }
}

impl FromStr for HoursWindow {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad =
            || format!("'{s}' is not a UTC window of the form HH:MM-HH:MM (e.g. 08:00-18:00)");
        let minute = |hm: &str| -> Option<u16> {
            let (h, m) = hm.split_once(':')?;
            if h.len() != 2 || m.len() != 2 {
                return None;
            }
            let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
            (h < 24 && m < 60).then_some(h * 60 + m)
        };
        let (a, b) = s.trim().split_once('-').ok_or_else(bad)?;
        let (start_minute, end_minute) = (minute(a).ok_or_else(bad)?, minute(b).ok_or_else(bad)?);
        if start_minute == end_minute {
            return Err(format!(
                "'{s}' is an empty window; start and end must differ"
            ));
        }
        Ok(HoursWindow {
            start_minute,
            end_minute,
        })
    }
}

impl std::fmt::Display for HoursWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:02}:{:02}-{:02}:{:02}",
            self.start_minute / 60,
            self.start_minute % 60,
            self.end_minute / 60,
            self.end_minute % 60
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_include_start_exclude_end_and_cross_midnight() {
        let day: HoursWindow = "08:00-18:00".parse().unwrap();
        assert!(day.contains(8 * 60));
        assert!(!day.contains(18 * 60));
        assert!(!day.contains(7 * 60 + 59));
        let night: HoursWindow = "22:00-06:00".parse().unwrap();
        assert!(night.contains(23 * 60));
        assert!(night.contains(0));
        assert!(!night.contains(6 * 60));
        assert!(!night.contains(12 * 60));
        assert_eq!(night.to_string(), "22:00-06:00");
        assert!("8:00-18:00".parse::<HoursWindow>().is_err());
        assert!("08:00-08:00".parse::<HoursWindow>().is_err());
    }

    #[test]
    fn allow_lists() {
        let nets = vec![
            parse_cidr("10.0.0.0/8").unwrap(),
            parse_cidr("127.0.0.1").unwrap(),
        ];
        assert!(ip_allowed(&nets, "127.0.0.1".parse().unwrap()));
        assert!(ip_allowed(&nets, "::ffff:127.0.0.1".parse().unwrap()));
        assert!(!ip_allowed(&nets, "127.0.0.2".parse().unwrap()));
        assert!(ip_allowed(&[], "8.8.8.8".parse().unwrap()));
        assert!(parse_cidr("nope").is_err());
    }
}
