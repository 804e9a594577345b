//! The security status of validated data (RFC 4033 §5, RFC 4035 §4.3) and why it is what it is,
//! with the Extended DNS Error (RFC 8914) each reason maps to.

use std::fmt;

use hickory_proto::rr::Name;

/// What a validation concluded about one RRset, denial or zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Security {
    /// A chain of signed DNSKEY and DS records from a trust anchor proves the data.
    Secure,
    /// The data is provably outside any chain of trust (an unsigned delegation proven by a
    /// signed denial, an NSEC3 opt-out span, only unsupported algorithms or digests, too many
    /// NSEC3 iterations, a negative trust anchor). The reason says which.
    Insecure(Reason),
    /// A chain of trust says the data should be signed, and it is not, or not correctly: the
    /// resolver answers SERVFAIL with the reason's EDE.
    Bogus(Reason),
    /// No trust anchor covers the name, so nothing can be said.
    Indeterminate,
}

impl Security {
    /// The EDE code (RFC 8914) to attach to an answer with this status, if any: the bogus
    /// reasons, and on insecure answers the informational 1, 2 and 27.
    pub fn ede(&self) -> Option<u16> {
        match self {
            Self::Secure | Self::Indeterminate => None,
            Self::Insecure(reason) | Self::Bogus(reason) => reason.kind.ede(),
        }
    }

    /// True for [`Security::Secure`].
    pub fn is_secure(&self) -> bool {
        matches!(self, Self::Secure)
    }

    /// True for [`Security::Bogus`].
    pub fn is_bogus(&self) -> bool {
        matches!(self, Self::Bogus(_))
    }

    /// The name of the status, as counters and traces label it.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Secure => "secure",
            Self::Insecure(_) => "insecure",
            Self::Bogus(_) => "bogus",
            Self::Indeterminate => "indeterminate",
        }
    }
}

impl fmt::Display for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Secure => f.write_str("secure"),
            Self::Indeterminate => f.write_str("indeterminate: no trust anchor covers the name"),
            Self::Insecure(reason) => write!(f, "insecure: {reason}"),
            Self::Bogus(reason) => write!(f, "bogus: {reason}"),
        }
    }
}

/// Why data is bogus or insecure: the kind, the zone it concerns and, when one key or DS is
/// at fault, its key tag (EXTRA-TEXT of the EDE names both).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reason {
    /// What went wrong (or what made the data insecure).
    pub kind: Kind,
    /// The zone whose keys, signatures or denial records are concerned.
    pub zone: Name,
    /// The key tag of the DS, DNSKEY or RRSIG concerned, when there is one.
    pub key_tag: Option<u16>,
}

impl Reason {
    /// A reason about `zone` with no particular key.
    pub fn new(kind: Kind, zone: &Name) -> Self {
        Self {
            kind,
            zone: zone.clone(),
            key_tag: None,
        }
    }

    /// A reason about one key (or signature) of `zone`.
    pub fn with_key(kind: Kind, zone: &Name, key_tag: u16) -> Self {
        Self {
            kind,
            zone: zone.clone(),
            key_tag: Some(key_tag),
        }
    }

    /// The EDE EXTRA-TEXT: what, which zone, which key tag.
    pub fn extra_text(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (zone {}", self.kind, self.zone)?;
        if let Some(tag) = self.key_tag {
            write!(f, ", key tag {tag}")?;
        }
        f.write_str(")")
    }
}

/// The kinds of finding, bogus or insecure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Bogus: a signature did not verify, or the records contradict themselves (EDE 6).
    SignatureInvalid,
    /// Bogus: a denial (NSEC/NSEC3) was present but proves nothing, or proves the opposite
    /// (EDE 6).
    DenialInvalid,
    /// Bogus: every signature had expired (EDE 7).
    SignatureExpired,
    /// Bogus: every signature's inception is still in the future (EDE 8).
    SignatureNotYetValid,
    /// Bogus: no DNSKEY matches the DS set, or the key an RRSIG names (EDE 9).
    DnskeyMissing,
    /// Bogus: the data carries no RRSIG by the zone (EDE 10).
    RrsigsMissing,
    /// Bogus: a negative answer without the NSEC/NSEC3 records to prove it (EDE 12).
    NsecMissing,
    /// Insecure: the DS set or the zone's signatures use only algorithms not validated here
    /// (EDE 1, RFC 8624: insecure, never bogus).
    UnsupportedAlgorithm,
    /// Insecure: the DS set uses only digest types not supported here (EDE 2).
    UnsupportedDigest,
    /// Insecure: NSEC3 with more iterations than the limit (RFC 9276; EDE 27).
    Nsec3Iterations,
    /// Insecure: the parent proves there is no DS (an unsigned delegation).
    UnsignedDelegation,
    /// Insecure: the name falls in an NSEC3 opt-out span, which may hide an unsigned
    /// delegation (RFC 5155 §6).
    OptOut,
    /// Insecure: the operator configured a negative trust anchor (RFC 7646) at or above the name.
    NegativeTrustAnchor,
}

impl Kind {
    /// The EDE INFO-CODE (RFC 8914 §4, plus 27 from RFC 9276's registration).
    pub fn ede(self) -> Option<u16> {
        match self {
            Self::SignatureInvalid | Self::DenialInvalid => Some(6),
            Self::SignatureExpired => Some(7),
            Self::SignatureNotYetValid => Some(8),
            Self::DnskeyMissing => Some(9),
            Self::RrsigsMissing => Some(10),
            Self::NsecMissing => Some(12),
            Self::UnsupportedAlgorithm => Some(1),
            Self::UnsupportedDigest => Some(2),
            Self::Nsec3Iterations => Some(27),
            Self::UnsignedDelegation | Self::OptOut | Self::NegativeTrustAnchor => None,
        }
    }

    /// Does this kind make data bogus (as opposed to insecure)?
    pub fn is_bogus(self) -> bool {
        matches!(
            self,
            Self::SignatureInvalid
                | Self::DenialInvalid
                | Self::SignatureExpired
                | Self::SignatureNotYetValid
                | Self::DnskeyMissing
                | Self::RrsigsMissing
                | Self::NsecMissing
        )
    }

    /// The status this kind leads to for `zone`.
    pub fn status(self, zone: &Name) -> Security {
        self.status_with(Reason::new(self, zone))
    }

    /// The status this kind leads to, with a reason already built.
    pub(crate) fn status_with(self, reason: Reason) -> Security {
        if self.is_bogus() {
            Security::Bogus(reason)
        } else {
            Security::Insecure(reason)
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::SignatureInvalid => "signature does not verify",
            Self::DenialInvalid => "denial of existence does not prove the answer",
            Self::SignatureExpired => "signature expired",
            Self::SignatureNotYetValid => "signature not yet valid",
            Self::DnskeyMissing => "no DNSKEY matches",
            Self::RrsigsMissing => "RRSIGs missing",
            Self::NsecMissing => "NSEC/NSEC3 records missing",
            Self::UnsupportedAlgorithm => "only unsupported DNSKEY algorithms",
            Self::UnsupportedDigest => "only unsupported DS digest types",
            Self::Nsec3Iterations => "NSEC3 iterations above the limit",
            Self::UnsignedDelegation => "unsigned delegation (no DS)",
            Self::OptOut => "NSEC3 opt-out span",
            Self::NegativeTrustAnchor => "negative trust anchor",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ede_codes_follow_rfc_8914() {
        let cases = [
            (Kind::SignatureInvalid, 6),
            (Kind::DenialInvalid, 6),
            (Kind::SignatureExpired, 7),
            (Kind::SignatureNotYetValid, 8),
            (Kind::DnskeyMissing, 9),
            (Kind::RrsigsMissing, 10),
            (Kind::NsecMissing, 12),
            (Kind::UnsupportedAlgorithm, 1),
            (Kind::UnsupportedDigest, 2),
            (Kind::Nsec3Iterations, 27),
        ];
        for (kind, code) in cases {
            assert_eq!(kind.ede(), Some(code), "{kind:?}");
        }
        assert_eq!(Kind::OptOut.ede(), None);
        assert_eq!(Kind::UnsignedDelegation.ede(), None);
    }

    #[test]
    fn unsupported_kinds_are_insecure_not_bogus() {
        let zone = Name::from_ascii("example.").unwrap();
        for kind in [
            Kind::UnsupportedAlgorithm,
            Kind::UnsupportedDigest,
            Kind::Nsec3Iterations,
            Kind::OptOut,
        ] {
            assert!(
                matches!(kind.status(&zone), Security::Insecure(_)),
                "{kind:?}"
            );
        }
        assert!(Kind::SignatureExpired.status(&zone).is_bogus());
    }

    #[test]
    fn display_names_zone_and_key_tag() {
        let zone = Name::from_ascii("example.").unwrap();
        let status = Security::Bogus(Reason::with_key(Kind::SignatureExpired, &zone, 4711));
        assert_eq!(
            status.to_string(),
            "bogus: signature expired (zone example., key tag 4711)"
        );
        assert_eq!(status.ede(), Some(7));
        assert_eq!(status.label(), "bogus");
    }
}
