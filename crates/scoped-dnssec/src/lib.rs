//! scoped's DNSSEC validation logic (RFC 4033–4035, RFC 5155, RFC 6840), kept pure: no sockets,
//! no clock (the caller passes the time as seconds since the epoch), no cache. The engine
//! fetches DNSKEY and DS records, feeds them in, and keeps the verdicts.
//!
//! One job per module:
//! - [`anchor`]: trust anchors — the built-in root KSKs, a trust-anchor file of DS or DNSKEY
//!   lines, negative trust anchors;
//! - [`verify`]: one RRset against its RRSIGs and a zone's DNSKEY set;
//! - [`chain`]: a zone's DNSKEY RRset against a trusted DS set (or anchor keys);
//! - [`denial`]: NSEC and NSEC3 proofs of NXDOMAIN, NODATA and wildcard expansion;
//! - [`status`]: the verdict ([`Security`]) with its reason and EDE code;
//! - [`policy`]: which algorithms and digests are validated, the NSEC3 iteration limit;
//! - [`rollover`]: RFC 5011 tracking of an anchored zone's keys (add hold-down, revocation).
//!
//! The cryptography is hickory-proto's (`dnssec-ring` feature). With the `signer` feature,
//! [`signer`] signs zones for tests with the same library.

pub mod anchor;
pub mod chain;
pub mod denial;
pub mod policy;
pub mod rollover;
#[cfg(feature = "signer")]
pub mod signer;
pub mod status;
pub mod verify;

pub use anchor::{Anchor, AnchorError, TrustAnchors};
pub use chain::{ChainResult, Trust, ZoneKeys, validate_zone_keys};
pub use denial::{Denied, prove_denial};
pub use policy::Policy;
pub use rollover::{Changes, KeyState, Rollover};
pub use status::{Kind, Reason, Security};
pub use verify::{Crypto, SigCheck, Verified, verify_rrset, verify_rrset_with};

/// hickory-proto's DNSSEC types, re-exported so callers use the same version.
pub use hickory_proto::dnssec::{
    Algorithm, DigestType, Nsec3HashAlgorithm,
    rdata::{DNSKEY, DNSSECRData, DS, NSEC, NSEC3, RRSIG},
};
