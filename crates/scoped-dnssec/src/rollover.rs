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
//! A revoked key is removed from the state once it has been revoked for the remove hold-down
//! time (30 days, §2.4.2; §4 "Removed") and is no longer published: while the zone still
//! publishes it, forgetting it would only make the next look revoke it again. What changed
//! at each look is reported ([`Changes`]), so the caller can raise an alarm for trusted keys
//! gone missing. When to look again is [`refresh_interval`] (§2.3).

use std::fmt::Write as _;

use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData};
use hickory_proto::dnssec::{PublicKey, Verifier};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use crate::anchor::{Anchor, AnchorError, TrustAnchors};
use crate::verify::{dnskey_of, rrsig_of, serial_le};

/// RFC 5011 §2.4.1: how long a new key must be seen before it is trusted.
pub const ADD_HOLD_DOWN: u32 = 30 * 86_400;
/// RFC 5011 §2.4.2: how long a revoked key is remembered before it may be removed.
pub const REMOVE_HOLD_DOWN: u32 = 30 * 86_400;

/// RFC 5011 §2.3: after a successful look at the anchored zone's DNSKEY RRset, look again in
/// max(1 hour, min(15 days, half the RRset's original TTL, half the time until its RRSIGs
/// expire)) seconds; after a failed one, in max(1 hour, min(1 day, a tenth of each)).
/// `expires_in` is the time left until the earliest expiration of the RRSIGs, in seconds.
pub fn refresh_interval(original_ttl: u32, expires_in: u32, succeeded: bool) -> u32 {
    const HOUR: u32 = 3600;
    let (cap, divisor) = if succeeded {
        (15 * 86_400, 2)
    } else {
        (86_400, 10)
    };
    cap.min(original_ttl / divisor)
        .min(expires_in / divisor)
        .max(HOUR)
}

/// Where a tracked key stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyState {
    /// Seen since `first_seen` (seconds since the epoch), not trusted yet.
    AddPend { first_seen: u32 },
    /// Trusted.
    Valid,
    /// Trusted, but no longer in the zone's DNSKEY RRset.
    Missing,
    /// Revoked by its owner at `since` (seconds since the epoch; 0 when a state file did not
    /// say): never trusted again, removed after the remove hold-down once no longer published.
    Revoked { since: u32 },
}

/// What one look at the zone's keys changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Whether the state changed at all (it must be written again).
    pub changed: bool,
    /// Trusted keys that were published and no longer are (Valid → Missing): an alarm.
    pub went_missing: Vec<DNSKEY>,
    /// Keys revoked at this look.
    pub revoked: Vec<DNSKEY>,
    /// Revoked keys removed after the remove hold-down.
    pub removed: Vec<DNSKEY>,
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
            .any(|k| matches!(k.state, KeyState::Revoked { .. }) && same_key(&k.key, key))
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
        self.look(dnskeys, rrsigs, trusted_now, now).changed
    }

    /// [`observe`](Self::observe), saying what changed.
    pub fn look(
        &mut self,
        dnskeys: &[Record],
        rrsigs: &[Record],
        trusted_now: &[DNSKEY],
        now: u32,
    ) -> Changes {
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
                    let revoked = KeyState::Revoked { since: now };
                    match index {
                        Some(i) if matches!(self.keys[i].state, KeyState::Revoked { .. }) => {}
                        Some(i) => self.keys[i].state = revoked,
                        None => self.keys.push(TrackedKey {
                            key: plain,
                            state: revoked,
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
        let published = |k: &TrackedKey| seps.iter().any(|s| same_key(&unrevoked(s), &k.key));
        let removable = |k: &TrackedKey| match k.state {
            KeyState::AddPend { .. } => true,
            KeyState::Revoked { since } => serial_le(since.wrapping_add(REMOVE_HOLD_DOWN), now),
            KeyState::Valid | KeyState::Missing => false,
        };
        self.keys.retain(|k| published(k) || !removable(k));
        for tracked in &mut self.keys {
            if tracked.state == KeyState::Valid && !seps.iter().any(|s| same_key(s, &tracked.key)) {
                tracked.state = KeyState::Missing;
            }
        }
        self.changes(&before)
    }

    /// What moved between `before` and now.
    fn changes(&self, before: &[TrackedKey]) -> Changes {
        let was = |key: &DNSKEY| {
            before
                .iter()
                .find(|k| same_key(&k.key, key))
                .map(|k| k.state)
        };
        let mut changes = Changes {
            changed: self.keys != before,
            ..Changes::default()
        };
        for tracked in &self.keys {
            match (was(&tracked.key), tracked.state) {
                (Some(KeyState::Valid) | None, KeyState::Missing) => {
                    changes.went_missing.push(tracked.key.clone());
                }
                (Some(KeyState::Revoked { .. }), KeyState::Revoked { .. }) => {}
                (_, KeyState::Revoked { .. }) => changes.revoked.push(tracked.key.clone()),
                _ => {}
            }
        }
        for old in before {
            if matches!(old.state, KeyState::Revoked { .. })
                && !self.keys.iter().any(|k| same_key(&k.key, &old.key))
            {
                changes.removed.push(old.key.clone());
            }
        }
        changes
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
                KeyState::Revoked { since } => format!("REVOKED {since}"),
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
                // Written without a time before the remove hold-down was kept: 0, so such
                // a key goes once the zone no longer publishes it.
                "REVOKED" => match rest.split_once(' ') {
                    Some((since, record)) if since.bytes().all(|b| b.is_ascii_digit()) => {
                        let since = since.parse().map_err(|_| bad("bad revocation time"))?;
                        (KeyState::Revoked { since }, record)
                    }
                    _ => (KeyState::Revoked { since: 0 }, rest),
                },
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
