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
        Capability::named_bytes(name.as_bytes())
    }

    /// The capability spelled `name`, compared as bytes (one spelling table: [`Self::as_str`]).
    fn named_bytes(name: &[u8]) -> Option<Capability> {
        Capability::ALL
            .into_iter()
            .find(|c| c.as_str().as_bytes() == name)
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

/// A set of capabilities (one bit per [`Capability`]; read on every authenticated request, so
/// parsing and testing it allocate nothing).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capabilities(u16);

// One bit per capability.
const _: () = assert!(Capability::ALL.len() <= 16);

impl Capabilities {
    fn bit(cap: Capability) -> u16 {
        1 << cap as u16
    }

    fn with(self, cap: Capability) -> Self {
        Capabilities(self.0 | Self::bit(cap))
    }

    /// Parses a comma list (`liveness,identity`); empty items are ignored, duplicates folded.
    pub fn parse_list(list: &str) -> Result<Self, String> {
        let mut caps = Capabilities::default();
        for name in list.split(',').filter(|s| !s.trim().is_empty()) {
            caps = caps.with(name.parse()?);
        }
        if caps.0 == 0 {
            return Err("no capability given; use a comma list such as liveness,identity".into());
        }
        Ok(caps)
    }

    /// Reads a stored comma list, skipping names this version does not know (a list a newer
    /// version wrote, read after a rollback, keeps the capabilities this one knows).
    pub fn from_stored(list: &str) -> Self {
        // Bytes, not chars: this runs on every authenticated request.
        list.as_bytes()
            .split(|b| *b == b',')
            .filter_map(|name| Capability::named_bytes(name.trim_ascii()))
            .collect()
    }

    /// Every capability.
    pub fn all() -> Self {
        Capabilities::from_iter(Capability::ALL)
    }

    /// Whether `cap` is enabled.
    pub fn has(&self, cap: Capability) -> bool {
        self.0 & Self::bit(cap) != 0
    }

    /// The capabilities, in canonical order.
    pub fn iter(&self) -> impl Iterator<Item = Capability> + '_ {
        Capability::ALL.into_iter().filter(|c| self.has(*c))
    }

    /// The comma list (storage form).
    pub fn to_list(&self) -> String {
        self.names().join(",")
    }

    /// The names, in canonical order.
    pub fn names(&self) -> Vec<String> {
        self.iter().map(|c| c.as_str().to_string()).collect()
    }
}

impl FromIterator<Capability> for Capabilities {
    fn from_iter<I: IntoIterator<Item = Capability>>(caps: I) -> Self {
        caps.into_iter()
            .fold(Capabilities::default(), Capabilities::with)
    }
}

/// Stored as a JSON list of names, in canonical order.
impl serde::Serialize for Capabilities {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter().map(Capability::as_str))
    }
}

/// Read from a list of names without allocating; names this version does not know are
/// skipped, as in [`Capabilities::from_stored`].
impl<'de> serde::Deserialize<'de> for Capabilities {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// One name of the list: the capability, if this version knows it.
        struct Named(Option<Capability>);

        impl<'de> serde::Deserialize<'de> for Named {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct NameVisitor;
                impl serde::de::Visitor<'_> for NameVisitor {
                    type Value = Named;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str("a capability name")
                    }
                    fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<Named, E> {
                        Ok(Named(Capability::named(name)))
                    }
                }
                d.deserialize_str(NameVisitor)
            }
        }

        struct ListVisitor;
        impl<'de> serde::de::Visitor<'de> for ListVisitor {
            type Value = Capabilities;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of capability names")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Capabilities, A::Error> {
                let mut caps = Capabilities::default();
                while let Some(Named(cap)) = seq.next_element()? {
                    if let Some(cap) = cap {
                        caps = caps.with(cap);
                    }
                }
                Ok(caps)
            }
        }
        deserializer.deserialize_seq(ListVisitor)
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
        for cap in Capability::ALL {
            assert_eq!(Capability::named(cap.as_str()), Some(cap));
        }
        assert_eq!(
            Capabilities::all().iter().collect::<Vec<_>>(),
            Capability::ALL
        );
    }

    #[test]
    fn stored_as_a_list_of_names_and_read_back_skipping_unknown_ones() {
        let caps = Capabilities::parse_list("identity,liveness").unwrap();
        assert_eq!(
            serde_json::to_string(&caps).unwrap(),
            r#"["liveness","identity"]"#
        );
        let read: Capabilities =
            serde_json::from_str(r#"["identity","teleport","liveness"]"#).unwrap();
        assert_eq!(read, caps);
        let escaped: Capabilities = serde_json::from_str(r#"["\u0061ge"]"#).unwrap();
        assert!(escaped.has(Capability::Age));
        assert!(serde_json::from_str::<Capabilities>(r#""age""#).is_err());
    }
}
