//! Signatures already verified, so that the same signature over the same data with the same key
//! is checked by the cryptography once.
//!
//! A miss under a signed wildcard brings the same RRSIG over the same data every time (the
//! signature covers the wildcard owner, whatever name it was expanded to) and the same NSEC
//! proving that no closer name exists; each was verified again for every new name, two ECDSA
//! verifications per miss, about 70 % of a validated miss's CPU (perf, docs/benchmarks.md).
//! Unbound avoids the second by keeping the security status of an RRset it already holds with
//! the same data.
//!
//! The result of a verification depends on the key, the signed data and the signature alone,
//! and the memo compares all three in full (no hash stands in for them), so a hit means exactly
//! what the cryptography said. Everything that depends on time or policy (the validity period,
//! the signer, the algorithm, the key's flags) is still checked on every use before the memo is
//! asked. Only successes are kept; memory is bounded by bytes.

use std::time::Duration;

use hickory_proto::dnssec::PublicKey;
use hickory_proto::dnssec::rdata::DNSKEY;
use scoped_dnssec::{Crypto, SigCheck};

/// Bytes of (key, signed data, signature) kept, all entries together.
const MEMO_BYTES: u64 = 4 << 20;

/// The memo of verified signatures.
pub(super) struct Signatures {
    verified: moka::sync::Cache<Box<[u8]>, ()>,
}

impl Default for Signatures {
    fn default() -> Self {
        Self {
            verified: moka::sync::Cache::builder()
                .weigher(weight)
                .max_capacity(MEMO_BYTES)
                .time_to_idle(Duration::from_secs(86_400))
                .build(),
        }
    }
}

/// What an entry weighs: its key's bytes. (moka hands the weigher a reference to the key type.)
#[allow(clippy::borrowed_box)]
fn weight(key: &Box<[u8]>, _: &()) -> u32 {
    u32::try_from(key.len()).unwrap_or(u32::MAX)
}

/// The memo's key: the key's algorithm and public key, the signed data and the signature, each
/// behind its length, so that no two different triples make the same bytes.
fn memo_key(key: &DNSKEY, tbs: &[u8], signature: &[u8]) -> Box<[u8]> {
    let public = key.public_key().public_bytes();
    let mut out = Vec::with_capacity(1 + 12 + public.len() + tbs.len() + signature.len());
    out.push(u8::from(key.public_key().algorithm()));
    for part in [public, tbs, signature] {
        out.extend_from_slice(&(part.len() as u32).to_be_bytes());
        out.extend_from_slice(part);
    }
    out.into_boxed_slice()
}

impl SigCheck for Signatures {
    fn verifies(&self, key: &DNSKEY, tbs: &[u8], signature: &[u8]) -> bool {
        let memo = memo_key(key, tbs, signature);
        if self.verified.contains_key(&memo) {
            return true;
        }
        let verifies = Crypto.verifies(key, tbs, signature);
        if verifies {
            self.verified.insert(memo, ());
        }
        verifies
    }
}

impl Signatures {
    /// Entries kept (approximate until moka's pending work runs).
    #[cfg(test)]
    pub(super) fn len(&self) -> u64 {
        self.verified.run_pending_tasks();
        self.verified.entry_count()
    }
}

#[cfg(test)]
mod tests {
    use hickory_proto::dnssec::rdata::{DNSSECRData, RRSIG};
    use hickory_proto::dnssec::{Algorithm, TBS};
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::{DNSClass, Name, RData, Record};
    use scoped_dnssec::signer::{Key, Validity, sign_rrset};

    use super::*;

    /// A signed A RRset: the key, the signed data and the signature.
    fn signed(key: &Key) -> (Vec<u8>, Vec<u8>) {
        let zone = Name::from_ascii("example.").unwrap();
        let rrset = [Record::from_rdata(
            Name::from_ascii("www.example.").unwrap(),
            300,
            RData::A(A::new(192, 0, 2, 1)),
        )];
        let record = sign_rrset(&rrset, &zone, key, Validity::around(1_800_000_000, 30)).unwrap();
        let RData::DNSSEC(DNSSECRData::RRSIG(rrsig)) = &record.data else {
            panic!("an RRSIG");
        };
        let rrsig: &RRSIG = rrsig;
        let tbs =
            TBS::from_input(&rrset[0].name, DNSClass::IN, rrsig.input(), rrset.iter()).unwrap();
        (tbs.as_ref().to_vec(), rrsig.sig().to_vec())
    }

    #[test]
    fn a_verified_signature_is_kept_and_a_wrong_one_never_passes_for_it() {
        let key = Key::generate(Algorithm::ECDSAP256SHA256, false).unwrap();
        let other = Key::generate(Algorithm::ECDSAP256SHA256, false).unwrap();
        let (tbs, sig) = signed(&key);
        let memo = Signatures::default();
        assert!(memo.verifies(key.dnskey(), &tbs, &sig));
        assert_eq!(memo.len(), 1, "kept");
        assert!(memo.verifies(key.dnskey(), &tbs, &sig), "and found again");
        assert_eq!(memo.len(), 1);
        // Each part changed in turn goes to the cryptography, fails, and is not kept.
        let mut bad_sig = sig.clone();
        bad_sig[10] ^= 1;
        let mut bad_tbs = tbs.clone();
        *bad_tbs.last_mut().unwrap() ^= 1;
        assert!(!memo.verifies(key.dnskey(), &tbs, &bad_sig));
        assert!(!memo.verifies(key.dnskey(), &bad_tbs, &sig));
        assert!(!memo.verifies(other.dnskey(), &tbs, &sig));
        assert_eq!(memo.len(), 1, "failures are not kept");
        assert!(
            !memo.verifies(key.dnskey(), &tbs, &bad_sig),
            "nor remembered as passing"
        );
    }

    #[test]
    fn memo_keys_differ_when_a_boundary_between_parts_moves() {
        let key = Key::generate(Algorithm::ECDSAP256SHA256, false).unwrap();
        let a = memo_key(key.dnskey(), b"abc", b"def");
        assert_ne!(a, memo_key(key.dnskey(), b"abcd", b"ef"));
        assert_eq!(a, memo_key(key.dnskey(), b"abc", b"def"));
    }
}
