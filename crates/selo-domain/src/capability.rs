//! API-key capabilities (what an `APIKEY` enables).

use std::fmt;
use std::str::FromStr;

/// One capability of an API key (CONTRACT §5, §15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Capability {
    /// Liveness.
    Liveness,
    /// Identity verification (`unicoId`).
    Identity,
    /// Risk score (`score` when inconclusive).
    RiskScore,
    /// Behavior alert (`identityFraudsters`, async).
    BehaviorAlert,
    /// 1:1 validation (transactional creates).
    Validation,
    /// Document capture and reuse (`/documents/v1`).
    Documents,
    /// Age verification.
    Age,
    /// Selfie download (accepted; Web & SDK permissions are tenant settings).
    Selfie,
    /// Magic Link (`x-api-key`).
    MagicLink,
    /// **[ext]** Enrolment in the identity base (`/identities/v1`, CONTRACT §17).
    Enroll,
}

impl Capability {
    /// Every capability, in the order the CLI documents them.
    pub const ALL: [Capability; 10] = [
        Capability::Liveness,
        Capability::Identity,
        Capability::RiskScore,
        Capability::BehaviorAlert,
        Capability::Validation,
        Capability::Documents,
        Capability::Age,
        Capability::Selfie,
        Capability::MagicLink,
        Capability::Enroll,
    ];

    /// The capability spelled `name` (exactly, as stored), if any.
    pub fn named(name: &str) -> Option<Capability> {
        Capability::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// The CLI / storage spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Liveness => "liveness",
            Capability::Identity => "identity",
            Capability::RiskScore => "riskscore",
            Capability::BehaviorAlert => "behavioralert",
            Capability::Validation => "validation",
            Capability::Documents => "documents",
            Capability::Age => "age",
            Capability::Selfie => "selfie",
            Capability::MagicLink => "magiclink",
            Capability::Enroll => "enroll",
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Capability {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Capability::named(s.trim()).ok_or_else(|| {
            let known: Vec<&str> = Capability::ALL.iter().map(|c| c.as_str()).collect();
            format!(
                "unknown capability '{}'; use a comma list of: {}",
                s.trim(),
                known.join(", ")
            )
        })
    }
}

/// A set of capabilities.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities(Vec<Capability>);

impl Capabilities {
    /// Parses a comma list (`liveness,identity`); empty items are ignored, duplicates folded.
    pub fn parse_list(list: &str) -> Result<Self, String> {
        let mut caps: Vec<Capability> = list
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(str::parse)
            .collect::<Result<_, _>>()?;
        caps.sort();
        caps.dedup();
        if caps.is_empty() {
            return Err("no capability given; use a comma list such as liveness,identity".into());
        }
        Ok(Capabilities(caps))
    }

    /// Reads a stored comma list, skipping names this version does not know (a list a newer
    /// version wrote, read after a rollback, keeps the capabilities this one knows).
    pub fn from_stored(list: &str) -> Self {
        // On every authenticated request: no error message is built for an unknown name.
        let mut caps: Vec<Capability> = list
            .split(',')
            .filter_map(|s| Capability::named(s.trim()))
            .collect();
        caps.sort();
        caps.dedup();
        Capabilities(caps)
    }

    /// Every capability.
    pub fn all() -> Self {
        Capabilities(Capability::ALL.to_vec())
    }

    /// Whether `cap` is enabled.
    pub fn has(&self, cap: Capability) -> bool {
        self.0.contains(&cap)
    }

    /// The comma list (storage form).
    pub fn to_list(&self) -> String {
        self.names().join(",")
    }

    /// The names, in canonical order.
    pub fn names(&self) -> Vec<String> {
        self.0.iter().map(|c| c.as_str().to_string()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists_and_rejects_unknown_names() {
        let caps = Capabilities::parse_list("identity, liveness,identity").unwrap();
        assert_eq!(caps.to_list(), "liveness,identity");
        assert!(caps.has(Capability::Identity));
        assert!(!caps.has(Capability::RiskScore));
        let err = Capabilities::parse_list("identity,face").unwrap_err();
        assert!(err.contains("face") && err.contains("riskscore"), "{err}");
        assert!(Capabilities::parse_list(" , ").is_err());
        let stored = Capabilities::from_stored("identity,teleport,liveness");
        assert_eq!(stored.names(), ["liveness", "identity"]);
    }
}
