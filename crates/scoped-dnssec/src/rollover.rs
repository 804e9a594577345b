//! RFC 5011 automated updates of a trust anchor, as far as scoped does them: each time the
//! anchored zone's DNSKEY RRset validates, its secure-entry-point keys are compared with the
//! keys tracked. A new one is pending (AddPend) until it has been seen for the add hold-down
//! time (30 days, RFC 5011 §2.4.1), then trusted (Valid); a key that appears with the REVOKE
//! bit and signs the RRset itself is revoked at once (§2.1) and never trusted again; a trusted
//! key that is no longer published is Missing (still trusted, §4). Pending keys that disappear
//! are forgotten. The state is text: every key a comment line with its state, and each trusted
//! key also as a plain DNSKEY line, so the file is itself a trust-anchor file
//! ([`crate::TrustAnchors::from_text`] reads the trusted keys and skips the rest).
//!
//! Not done: the remove hold-down (revoked keys are kept in the state for good), the active
//! refresh timer (the keys are looked at whenever the engine fetches them), and the
//! "missing"-key alarms an operator might want.

use std::fmt::Write as _;

use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData};
use hickory_proto::dnssec::{PublicKey, Verifier};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use crate::anchor::{Anchor, AnchorError, TrustAnchors};
use crate::verify::{dnskey_of, rrsig_of, serial_le};

/// RFC 5011 §2.4.1: how long a new key must be seen before it is trusted.
pub const ADD_HOLD_DOWN: u32 = 30 * 86_400;

/// Where a tracked key stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyState {
    /// Seen since `first_seen` (seconds since the epoch), not trusted yet.
    AddPend { first_seen: u32 },
    /// Trusted.
    Valid,
    /// Trusted, but no longer in the zone's DNSKEY RRset.
    Missing,
    /// Revoked by its owner: never trusted again.
    Revoked,
}

/// A key and its state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackedKey {
    /// The key, without the REVOKE bit.
    pub key: DNSKEY,
    pub state: KeyState,
}

/// The RFC 5011 state of one anchored zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rollover {
    pub zone: Name,
    pub keys: Vec<TrackedKey>,
}

/// The same key, whatever its flags: algorithm and public key bytes.
fn same_key(a: &DNSKEY, b: &DNSKEY) -> bool {
    a.algorithm() == b.algorithm() && a.public_key().public_bytes() == b.public_key().public_bytes()
}

/// `key` without the REVOKE bit (flag 0x0080).
fn unrevoked(key: &DNSKEY) -> DNSKEY {
    DNSKEY::with_flags(key.flags() & !0x0080, key.public_key().clone())
}

/// Whether the revoked `key` signs the DNSKEY RRset `dnskeys` of `zone` itself (RFC 5011
/// §2.1: only a self-signed revocation counts), at `now`.
fn self_signed(zone: &Name, key: &DNSKEY, dnskeys: &[Record], rrsigs: &[Record], now: u32) -> bool {
    let Ok(tag) = key.calculate_key_tag() else {
        return false;
    };
    rrsigs.iter().filter_map(rrsig_of).any(|sig| {
        let input = sig.input();
        input.type_covered == RecordType::DNSKEY
            && input.key_tag == tag
            && &input.signer_name == zone
            && serial_le(input.sig_inception.get(), now)
            && serial_le(now, input.sig_expiration.get())
            && key
                .verify_rrsig(zone, DNSClass::IN, sig, dnskeys.iter())
                .is_ok()
    })
}

impl Rollover {
    /// Tracking for `anchor`'s zone, starting with its DNSKEY anchors as trusted.
    pub fn new(anchor: &Anchor) -> Self {
        let keys = anchor
            .keys
            .iter()
            .map(|key| TrackedKey {
                key: key.clone(),
                state: KeyState::Valid,
            })
            .collect();
        Self {
            zone: anchor.zone.clone(),
            keys,
        }
    }

    /// The keys trusted now (Valid and Missing).
    pub fn trusted(&self) -> Vec<DNSKEY> {
        self.keys
            .iter()
            .filter(|k| matches!(k.state, KeyState::Valid | KeyState::Missing))
            .map(|k| k.key.clone())
            .collect()
    }

    /// Whether `key` (any flags) was revoked.
    pub fn is_revoked(&self, key: &DNSKEY) -> bool {
        self.keys
            .iter()
            .any(|k| k.state == KeyState::Revoked && same_key(&k.key, key))
    }

    /// Look at the zone's DNSKEY RRset `dnskeys` (with `rrsigs`), which validated from the
    /// trusted keys at `now`, and move each key on; `trusted_now` are the keys that were
    /// trusted (anchors included). Returns whether the state changed.
    pub fn observe(
        &mut self,
        dnskeys: &[Record],
        rrsigs: &[Record],
        trusted_now: &[DNSKEY],
        now: u32,
    ) -> bool {
        let before = self.keys.clone();
        let seps: Vec<&DNSKEY> = dnskeys
            .iter()
            .filter_map(dnskey_of)
            .filter(|k| k.zone_key() && k.secure_entry_point())
            .collect();
        for key in &seps {
            let plain = unrevoked(key);
            let index = self.keys.iter().position(|k| same_key(&k.key, &plain));
            if key.revoke() {
                if self_signed(&self.zone, key, dnskeys, rrsigs, now) {
                    match index {
                        Some(i) => self.keys[i].state = KeyState::Revoked,
                        None => self.keys.push(TrackedKey {
                            key: plain,
                            state: KeyState::Revoked,
                        }),
                    }
                }
                continue;
            }
            let Some(i) = index else {
                let trusted = trusted_now.iter().any(|t| same_key(t, key));
                self.keys.push(TrackedKey {
                    key: plain,
                    state: if trusted {
                        KeyState::Valid
                    } else {
                        KeyState::AddPend { first_seen: now }
                    },
                });
                continue;
            };
            let tracked = &mut self.keys[i];
            tracked.state = match tracked.state {
                KeyState::AddPend { first_seen }
                    if serial_le(first_seen.wrapping_add(ADD_HOLD_DOWN), now) =>
                {
                    KeyState::Valid
                }
                KeyState::Missing => KeyState::Valid,
                other => other,
            };
        }
        let published = |k: &TrackedKey| seps.iter().any(|s| same_key(s, &k.key));
        self.keys
            .retain(|k| published(k) || !matches!(k.state, KeyState::AddPend { .. }));
        for tracked in &mut self.keys {
            if tracked.state == KeyState::Valid && !seps.iter().any(|s| same_key(s, &tracked.key)) {
                tracked.state = KeyState::Missing;
            }
        }
        self.keys != before
    }

    /// The state as text: a trust-anchor file of the trusted keys, every key also described
    /// on a `;5011 STATE [FIRST-SEEN] record` comment line.
    pub fn to_text(&self) -> String {
        let mut text = format!("; RFC 5011 state of the trust anchor for {}\n", self.zone);
        for tracked in &self.keys {
            let data = RData::DNSSEC(DNSSECRData::DNSKEY(tracked.key.clone()));
            let record = Record::from_rdata(self.zone.clone(), 86_400, data);
            let line = format!("{} {} IN DNSKEY {}", record.name, record.ttl, record.data);
            let state = match tracked.state {
                KeyState::AddPend { first_seen } => format!("ADDPEND {first_seen}"),
                KeyState::Valid => "VALID".to_owned(),
                KeyState::Missing => "MISSING".to_owned(),
                KeyState::Revoked => "REVOKED".to_owned(),
            };
            let _ = writeln!(text, ";5011 {state} {line}");
            if matches!(tracked.state, KeyState::Valid | KeyState::Missing) {
                let _ = writeln!(text, "{line}");
            }
        }
        text
    }

    /// Read the state of `zone` from text written by [`Rollover::to_text`] (the lines of
    /// other zones, as in a file holding several, are skipped).
    pub fn from_text(zone: &Name, text: &str) -> Result<Self, AnchorError> {
        let mut keys = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let Some(rest) = line.strip_prefix(";5011 ") else {
                continue;
            };
            let bad = |problem: &str| AnchorError {
                line: n + 1,
                problem: problem.to_owned(),
            };
            let (word, rest) = rest.split_once(' ').ok_or_else(|| bad("no state"))?;
            let (state, record) = match word {
                "ADDPEND" => {
                    let (since, record) = rest.split_once(' ').ok_or_else(|| bad("no time"))?;
                    let first_seen = since.parse().map_err(|_| bad("bad first-seen time"))?;
                    (KeyState::AddPend { first_seen }, record)
                }
                "VALID" => (KeyState::Valid, rest),
                "MISSING" => (KeyState::Missing, rest),
                "REVOKED" => (KeyState::Revoked, rest),
                other => return Err(bad(&format!("unknown state {other}"))),
            };
            let parsed = TrustAnchors::from_text(record).map_err(|e| bad(&e.problem))?;
            let Some(anchor) = parsed.anchors().first() else {
                return Err(bad("no DNSKEY"));
            };
            if &anchor.zone != zone {
                // Another anchored zone's key.
                continue;
            }
            let key = anchor
                .keys
                .first()
                .cloned()
                .ok_or_else(|| bad("not a DNSKEY"))?;
            keys.push(TrackedKey { key, state });
        }
        Ok(Self {
            zone: zone.clone(),
            keys,
        })
    }
}
