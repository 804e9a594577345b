//! RFC 5011 tracking of an anchored zone's keys on zones signed at test time.

mod common;

use common::*;
use hickory_proto::rr::RecordType;
use scoped_dnssec::rollover::{ADD_HOLD_DOWN, REMOVE_HOLD_DOWN, refresh_interval};
use scoped_dnssec::signer::{Key, ZoneSigning};
use scoped_dnssec::{Algorithm, Anchor, DNSKEY, KeyState, Rollover, TrustAnchors};

/// The DNSKEY RRset of `spec`'s signed zone and its RRSIGs.
fn published(
    spec: &ZoneSigning,
) -> (
    Vec<hickory_proto::rr::Record>,
    Vec<hickory_proto::rr::Record>,
) {
    let records = sign(spec);
    let dnskeys = rrset(&records, "example.", RecordType::DNSKEY);
    let sigs = rrsigs(&records, "example.");
    (dnskeys, sigs)
}

fn anchored(key: &Key) -> Rollover {
    Rollover::new(&Anchor {
        zone: example(),
        ds: Vec::new(),
        keys: vec![key.dnskey().clone()],
    })
}

fn anchored_dnskey(key: &DNSKEY) -> Rollover {
    Rollover::new(&Anchor {
        zone: example(),
        ds: Vec::new(),
        keys: vec![key.clone()],
    })
}

fn state_of(rollover: &Rollover, key: &Key) -> Option<KeyState> {
    let plain = DNSKEY::with_flags(
        key.dnskey().flags() & !0x80,
        key.dnskey().public_key().clone(),
    );
    rollover
        .keys
        .iter()
        .find(|k| k.key == plain)
        .map(|k| k.state)
}

#[test]
fn a_new_sep_key_is_trusted_only_after_the_add_hold_down() {
    let mut spec = spec();
    spec.ksks
        .push(Key::generate(Algorithm::ECDSAP256SHA256, true).unwrap());
    let mut rollover = anchored(&spec.ksks[0]);
    let trusted = rollover.trusted();
    let (dnskeys, sigs) = published(&spec);
    assert!(rollover.observe(&dnskeys, &sigs, &trusted, NOW));
    assert_eq!(state_of(&rollover, &spec.ksks[0]), Some(KeyState::Valid));
    assert_eq!(
        state_of(&rollover, &spec.ksks[1]),
        Some(KeyState::AddPend { first_seen: NOW })
    );
    assert_eq!(rollover.trusted().len(), 1, "pending: not trusted");
    // The ZSK is no secure entry point: not tracked.
    assert_eq!(state_of(&rollover, &spec.zsks[0]), None);
    // A day before the hold-down ends: still pending, nothing changes.
    let almost = NOW + ADD_HOLD_DOWN - 86_400;
    assert!(!rollover.observe(&dnskeys, &sigs, &trusted, almost));
    assert_eq!(rollover.trusted().len(), 1);
    assert!(rollover.observe(&dnskeys, &sigs, &trusted, NOW + ADD_HOLD_DOWN));
    assert_eq!(state_of(&rollover, &spec.ksks[1]), Some(KeyState::Valid));
    assert_eq!(rollover.trusted().len(), 2);
}

#[test]
fn a_pending_key_that_disappears_is_forgotten_and_a_trusted_one_goes_missing() {
    let mut spec = spec();
    spec.ksks
        .push(Key::generate(Algorithm::ECDSAP256SHA256, true).unwrap());
    let mut rollover = anchored(&spec.ksks[0]);
    let trusted = rollover.trusted();
    let (dnskeys, sigs) = published(&spec);
    rollover.observe(&dnskeys, &sigs, &trusted, NOW);
    let new = spec.ksks.pop().unwrap();
    let old = spec.ksks.pop().unwrap();
    spec.ksks
        .push(Key::generate(Algorithm::ECDSAP256SHA256, true).unwrap());
    let (dnskeys, sigs) = published(&spec);
    assert!(rollover.observe(&dnskeys, &sigs, &trusted, NOW + 10));
    assert_eq!(state_of(&rollover, &new), None, "pending, then gone");
    assert_eq!(state_of(&rollover, &old), Some(KeyState::Missing));
    assert_eq!(rollover.trusted().len(), 1, "a missing key stays trusted");
}

#[test]
fn a_self_signed_revoked_key_is_revoked_at_once() {
    let mut spec = spec();
    let old = spec.ksks.remove(0);
    let old_dnskey = old.dnskey().clone();
    let mut rollover = anchored(&old);
    let trusted = rollover.trusted();
    // The zone publishes the old KSK with REVOKE, signing the RRset with it, and a new KSK.
    spec.ksks.push(old.revoked());
    spec.ksks
        .push(Key::generate(Algorithm::ECDSAP256SHA256, true).unwrap());
    let (dnskeys, sigs) = published(&spec);
    assert!(rollover.observe(&dnskeys, &sigs, &trusted, NOW));
    assert!(rollover.is_revoked(&old_dnskey));
    assert!(
        rollover.trusted().is_empty(),
        "the revoked key is no longer trusted"
    );
    // Seen again later, it stays revoked; the new key is trusted after its hold-down.
    rollover.observe(&dnskeys, &sigs, &trusted, NOW + ADD_HOLD_DOWN * 2);
    assert!(rollover.is_revoked(&old_dnskey));
    assert_eq!(rollover.trusted().len(), 1);
}

#[test]
fn a_revoked_key_without_its_own_signature_is_not_revoked() {
    let mut spec = spec();
    let old = spec.ksks.remove(0);
    let mut rollover = anchored(&old);
    let trusted = rollover.trusted();
    let revoked = old.revoked();
    let revoked_dnskey = revoked.dnskey().clone();
    spec.ksks.push(revoked);
    let (dnskeys, sigs) = published(&spec);
    // Drop the revoked key's own signature over the RRset.
    let tag = revoked_dnskey.calculate_key_tag().unwrap();
    let sigs: Vec<_> = sigs
        .into_iter()
        .filter(|r| scoped_dnssec::verify::rrsig_of(r).is_none_or(|s| s.input().key_tag != tag))
        .collect();
    rollover.observe(&dnskeys, &sigs, &trusted, NOW);
    assert!(!rollover.is_revoked(&revoked_dnskey));
}

#[test]
fn the_state_text_round_trips_and_is_a_trust_anchor_file_of_the_trusted_keys() {
    let mut spec = spec();
    spec.ksks
        .push(Key::generate(Algorithm::ECDSAP256SHA256, true).unwrap());
    let mut rollover = anchored(&spec.ksks[0]);
    let trusted = rollover.trusted();
    let (dnskeys, sigs) = published(&spec);
    rollover.observe(&dnskeys, &sigs, &trusted, NOW);
    let text = rollover.to_text();
    assert_eq!(
        Rollover::from_text(&example(), &text).unwrap(),
        rollover,
        "{text}"
    );
    let anchors = TrustAnchors::from_text(&text).unwrap();
    let anchor = anchors.closest(&example()).unwrap();
    assert_eq!(anchor.keys, vec![spec.ksks[0].dnskey().clone()], "{text}");
}

#[test]
fn a_revoked_key_is_removed_after_the_remove_hold_down_once_unpublished() {
    let mut spec = spec();
    let old = spec.ksks.remove(0);
    let old_dnskey = old.dnskey().clone();
    let fresh = || anchored_dnskey(&old_dnskey);
    let mut rollover = fresh();
    let trusted = rollover.trusted();
    spec.ksks.push(old.revoked());
    spec.ksks
        .push(Key::generate(Algorithm::ECDSAP256SHA256, true).unwrap());
    let (dnskeys, sigs) = published(&spec);
    let changes = rollover.look(&dnskeys, &sigs, &trusted, NOW);
    assert_eq!(changes.revoked, vec![old_dnskey.clone()]);
    assert_eq!(
        rollover.keys[0].state,
        KeyState::Revoked { since: NOW },
        "{rollover:?}"
    );
    // Still published past the hold-down: kept (forgetting it would revoke it again).
    let later = NOW + REMOVE_HOLD_DOWN + 10;
    let changes = rollover.look(&dnskeys, &sigs, &trusted, later);
    assert!(changes.removed.is_empty());
    assert!(rollover.is_revoked(&old_dnskey));
    // No longer published, but revoked less than 30 days ago: kept.
    spec.ksks.remove(0);
    let (without, sigs_without) = published(&spec);
    let mut young = fresh();
    young.look(&dnskeys, &sigs, &trusted, NOW);
    let soon = NOW + REMOVE_HOLD_DOWN - 10;
    let changes = young.look(&without, &sigs_without, &trusted, soon);
    assert!(changes.removed.is_empty());
    assert!(young.is_revoked(&old_dnskey));
    // Unpublished and past the hold-down: removed from the state.
    let changes = rollover.look(&without, &sigs_without, &trusted, later);
    assert!(changes.changed);
    assert_eq!(changes.removed, vec![old_dnskey.clone()]);
    assert!(!rollover.is_revoked(&old_dnskey));
    assert!(!rollover.to_text().contains("REVOKED"));
}

#[test]
fn a_trusted_key_that_disappears_is_reported_missing_once() {
    let mut spec = spec();
    spec.ksks
        .push(Key::generate(Algorithm::ECDSAP256SHA256, true).unwrap());
    let mut rollover = anchored(&spec.ksks[0]);
    let trusted = rollover.trusted();
    let (dnskeys, sigs) = published(&spec);
    assert!(
        rollover
            .look(&dnskeys, &sigs, &trusted, NOW)
            .went_missing
            .is_empty()
    );
    let gone = spec.ksks.remove(0);
    let (dnskeys, sigs) = published(&spec);
    let changes = rollover.look(&dnskeys, &sigs, &trusted, NOW + 10);
    assert_eq!(changes.went_missing, vec![gone.dnskey().clone()]);
    // Seen missing again: no new alarm.
    let changes = rollover.look(&dnskeys, &sigs, &trusted, NOW + 20);
    assert!(changes.went_missing.is_empty());
    assert!(!changes.changed);
}

#[test]
fn revocation_times_round_trip_and_old_revoked_lines_still_read() {
    let mut spec = spec();
    let old = spec.ksks.remove(0);
    let mut rollover = anchored(&old);
    let trusted = rollover.trusted();
    spec.ksks.push(old.revoked());
    let (dnskeys, sigs) = published(&spec);
    rollover.observe(&dnskeys, &sigs, &trusted, NOW);
    let text = rollover.to_text();
    assert!(text.contains(&format!(";5011 REVOKED {NOW} ")), "{text}");
    assert_eq!(Rollover::from_text(&example(), &text).unwrap(), rollover);
    let legacy = text.replace(&format!("REVOKED {NOW} "), "REVOKED ");
    let read = Rollover::from_text(&example(), &legacy).unwrap();
    assert_eq!(read.keys[0].state, KeyState::Revoked { since: 0 });
}

#[test]
fn the_refresh_interval_follows_rfc_5011_section_2_3() {
    const HOUR: u32 = 3600;
    const DAY: u32 = 86_400;
    // Half the TTL, half the time to expiry, at least an hour, at most 15 days.
    assert_eq!(refresh_interval(2 * DAY, 20 * DAY, true), DAY);
    assert_eq!(refresh_interval(2 * DAY, 10 * HOUR, true), 5 * HOUR);
    assert_eq!(refresh_interval(600, 20 * DAY, true), HOUR);
    assert_eq!(refresh_interval(100 * DAY, 100 * DAY, true), 15 * DAY);
    // After a failure: a tenth, at most a day.
    assert_eq!(refresh_interval(2 * DAY, 20 * DAY, false), 2 * DAY / 10);
    assert_eq!(refresh_interval(100 * DAY, 100 * DAY, false), DAY);
    assert_eq!(refresh_interval(0, 0, false), HOUR);
}
