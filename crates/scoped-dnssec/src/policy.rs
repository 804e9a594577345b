//! What the validator accepts: the algorithms and digest types it validates (RFC 8624) and the
//! NSEC3 iteration limit (RFC 9276).

use hickory_proto::dnssec::{Algorithm, DigestType};

/// The NSEC3 iteration count above which a zone is treated as insecure (RFC 9276 §3.2).
///
/// 150 is Unbound's and Knot Resolver's limit: every NSEC3-signed zone measured when RFC 9276
/// was written stays under it, while one denial check still costs at most a few hundred
/// SHA-1 blocks per name. BIND's 50 is stricter; an operator can lower the limit.
pub const DEFAULT_NSEC3_MAX_ITERATIONS: u16 = 150;

/// Validation policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// NSEC3 records with more iterations make the answer insecure (EDE 27).
    pub nsec3_max_iterations: u16,
    /// Validate the SHA-1 based algorithms RSASHA1 (5) and RSASHA1-NSEC3-SHA1 (7), and accept
    /// SHA-1 DS digests. RFC 8624 §3.1 still lists them MUST-validate; with `false` zones using
    /// only them become insecure (as on systems whose crypto policy forbids SHA-1 signatures).
    pub sha1: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            nsec3_max_iterations: DEFAULT_NSEC3_MAX_ITERATIONS,
            sha1: true,
        }
    }
}

impl Policy {
    /// Is a signature with this DNSKEY algorithm validated (RFC 8624 §3.1)?
    /// RSASHA256, RSASHA512, ECDSAP256SHA256, ECDSAP384SHA384 and ED25519 always; the SHA-1
    /// algorithms per [`Policy::sha1`]. ED448 is not in hickory-proto 0.26, so it is unsupported
    /// (an ED448-only zone is insecure).
    #[allow(deprecated)]
    pub fn supports_algorithm(&self, algorithm: Algorithm) -> bool {
        match algorithm {
            Algorithm::RSASHA256
            | Algorithm::RSASHA512
            | Algorithm::ECDSAP256SHA256
            | Algorithm::ECDSAP384SHA384
            | Algorithm::ED25519 => true,
            Algorithm::RSASHA1 | Algorithm::RSASHA1NSEC3SHA1 => self.sha1,
            _ => false,
        }
    }

    /// Is a DS with this digest type usable (RFC 8624 §3.3): SHA-256 and SHA-384 always,
    /// SHA-1 per [`Policy::sha1`].
    pub fn supports_digest(&self, digest: DigestType) -> bool {
        match digest {
            DigestType::SHA256 | DigestType::SHA384 => true,
            DigestType::SHA1 => self.sha1,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(deprecated)]
    fn rfc_8624_algorithms() {
        let policy = Policy::default();
        for alg in [8, 10, 13, 14, 15, 5, 7] {
            assert!(policy.supports_algorithm(Algorithm::from_u8(alg)), "{alg}");
        }
        for alg in [1, 3, 6, 12, 16, 253] {
            assert!(!policy.supports_algorithm(Algorithm::from_u8(alg)), "{alg}");
        }
        let strict = Policy {
            sha1: false,
            ..Policy::default()
        };
        assert!(!strict.supports_algorithm(Algorithm::RSASHA1));
        assert!(!strict.supports_digest(DigestType::SHA1));
        assert!(strict.supports_digest(DigestType::SHA384));
        assert!(!policy.supports_digest(DigestType::from(3)));
    }
}
