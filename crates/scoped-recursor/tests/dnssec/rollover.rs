//! RFC 5011 (`trust-anchor-state`): a new KSK of the anchored root, published beside the one
//! the anchor names, is tracked in the state file and trusted after the 30-day add hold-down,
//! on tokio's virtual clock (the signature clock advances with it); the root's keys are fetched
//! again in the background (§2.3); a trusted key gone missing is counted; a revoked root key
//! is dropped from the anchors.

use std::path::PathBuf;
use std::time::Duration;

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use hickory_proto::dnssec::rdata::DNSSECRData;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};
use scoped_dnssec::signer::{Key, Validity};
use scoped_dnssec::{Algorithm, Anchor, DNSKEY, Rollover, TrustAnchors};
use scoped_recursor::Validation;
use scoped_testkit::Internet;
use scoped_testkit::engine::{ask, config_for, recursor_with};
use scoped_testkit::signed::{DsMode, Signing};

use super::{Hierarchy, NOW, ROOT, ip, name, validating};

const DAY: u64 = 86_400;

/// Every zone signed for 100 days from a day before [`NOW`]; the root with two KSKs, the
/// anchor naming only the first.
fn rolling_root() -> Hierarchy {
    let validity = Validity {
        inception: NOW - 86_400,
        expiration: NOW + 100 * 86_400,
    };
    let long = || Signing {
        validity,
        ..Signing::new(NOW)
    };
    Hierarchy {
        root: Signing {
            ksk_roll: true,
            ds: DsMode::Ksk(0),
            ..long()
        },
        example: long(),
        sub: long(),
    }
}

fn state_path(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("scoped-5011-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("root.state");
    let _ = std::fs::remove_file(&path);
    path
}

/// The states written for the root's keys, in file order.
fn states(path: &PathBuf) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix(";5011 "))
        .map(|l| l.split(' ').next().unwrap().to_owned())
        .collect()
}

fn trusted_keys(path: &PathBuf) -> usize {
    let text = std::fs::read_to_string(path).unwrap();
    let anchors = TrustAnchors::from_text(&text).unwrap();
    anchors.closest(&name(".")).map_or(0, |a| a.keys.len())
}

#[tokio::test(start_paused = true)]
async fn a_new_root_ksk_is_trusted_after_the_add_hold_down_and_the_state_is_kept() {
    let path = state_path("hold-down");
    let (internet, mut dnssec) = rolling_root().build();
    dnssec.trust_anchor_state = Some(path.clone());
    let recursor = validating(&internet, dnssec);
    let res = ask(&recursor, "www.example.", RecordType::A).await;
    assert_eq!(res.security, Validation::Secure);
    assert_eq!(states(&path), ["VALID", "ADDPEND"]);
    assert_eq!(
        trusted_keys(&path),
        1,
        "the pending key is not an anchor yet"
    );
    assert!(
        !path.with_extension("state.new").exists(),
        "written by rename"
    );

    // 29 days on: the root's keys are fetched again (their TTL is long gone), still pending.
    tokio::time::advance(Duration::from_secs(29 * DAY)).await;
    let res = ask(&recursor, "good.example.", RecordType::A).await;
    assert_eq!(res.security, Validation::Secure);
    assert_eq!(states(&path), ["VALID", "ADDPEND"]);

    // Past 30 days: trusted, and written as an anchor.
    tokio::time::advance(Duration::from_secs(DAY + 3600)).await;
    let res = ask(&recursor, "bad.example.", RecordType::A).await;
    assert_eq!(res.security, Validation::Secure);
    assert_eq!(states(&path), ["VALID", "VALID"]);
    assert_eq!(trusted_keys(&path), 2);
}

#[tokio::test(start_paused = true)]
async fn the_state_file_is_read_back_by_a_restarted_engine() {
    let path = state_path("restart");
    let (internet, mut dnssec) = rolling_root().build();
    dnssec.trust_anchor_state = Some(path.clone());
    let first = validating(&internet, dnssec.clone());
    ask(&first, "www.example.", RecordType::A).await;
    let written = std::fs::read_to_string(&path).unwrap();
    // A new engine reads the pending key's first-seen time rather than starting it afresh.
    tokio::time::advance(Duration::from_secs(31 * DAY)).await;
    let restarted = validating(&internet, {
        let mut later = dnssec;
        later.fixed_time = Some(NOW + 31 * DAY as u32);
        later
    });
    let res = ask(&restarted, "www.example.", RecordType::A).await;
    assert_eq!(res.security, Validation::Secure);
    assert_eq!(states(&path), ["VALID", "VALID"], "was:\n{written}");
}

/// The DNSKEY questions the root's server got.
fn root_dnskey_queries(internet: &Internet) -> usize {
    internet
        .queries_to(ip(ROOT))
        .iter()
        .filter(|q| q.qtype == RecordType::DNSKEY)
        .count()
}

#[tokio::test(start_paused = true)]
async fn the_root_keys_are_fetched_again_in_the_background_and_a_roll_completes_without_clients() {
    let path = state_path("refresh");
    let (internet, mut dnssec) = rolling_root().build();
    dnssec.trust_anchor_state = Some(path.clone());
    let recursor = validating(&internet, dnssec);
    ask(&recursor, "www.example.", RecordType::A).await;
    assert_eq!(root_dnskey_queries(&internet), 1);
    assert_eq!(states(&path), ["VALID", "ADDPEND"]);
    // The test signer gives the root's DNSKEY RRset an original TTL of an hour, and its
    // signatures last 100 days: the next look is due in max(1 hour, half the TTL) = 1 hour —
    // asked by the engine itself, no client question.
    tokio::time::sleep(Duration::from_secs(3600 - 60)).await;
    assert_eq!(root_dnskey_queries(&internet), 1, "not before it is due");
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(root_dnskey_queries(&internet), 2, "refreshed");
    assert_eq!(recursor.stats().dnssec_anchor_refreshes.load(Relaxed), 1);
    // Past the add hold-down, with no client asking anything: the new key is trusted.
    tokio::time::sleep(Duration::from_secs(30 * DAY)).await;
    assert_eq!(states(&path), ["VALID", "VALID"]);
    // Bounded: one question an hour.
    let asked = root_dnskey_queries(&internet);
    assert!(
        (720..=723).contains(&asked),
        "{asked} DNSKEY questions in 30 days"
    );
}

#[tokio::test(start_paused = true)]
async fn without_a_state_file_the_keys_are_not_refreshed() {
    let (internet, dnssec) = rolling_root().build();
    let recursor = validating(&internet, dnssec);
    ask(&recursor, "www.example.", RecordType::A).await;
    tokio::time::sleep(Duration::from_secs(3 * DAY)).await;
    assert_eq!(root_dnskey_queries(&internet), 1);
    assert_eq!(recursor.stats().dnssec_anchor_refreshes.load(Relaxed), 0);
}

#[tokio::test(start_paused = true)]
async fn a_trusted_key_no_longer_published_is_counted_missing_and_stays_trusted() {
    let path = state_path("missing");
    // The state file trusts a root key the root does not publish (any more).
    let gone = Key::generate(Algorithm::ECDSAP256SHA256, true).unwrap();
    let before = Rollover::new(&Anchor {
        zone: name("."),
        ds: Vec::new(),
        keys: vec![gone.dnskey().clone()],
    });
    std::fs::write(&path, before.to_text()).unwrap();
    let (internet, mut dnssec) = Hierarchy::default().build();
    dnssec.trust_anchor_state = Some(path.clone());
    let recursor = validating(&internet, dnssec);
    let res = ask(&recursor, "www.example.", RecordType::A).await;
    assert_eq!(res.security, Validation::Secure);
    assert_eq!(recursor.stats().dnssec_anchor_keys_missing.load(Relaxed), 1);
    assert_eq!(states(&path), ["MISSING", "VALID"]);
    assert_eq!(trusted_keys(&path), 2, "a missing key stays trusted");
    // Seen missing again at the next fetch: no second alarm.
    tokio::time::advance(Duration::from_secs(2 * DAY)).await;
    ask(&recursor, "good.example.", RecordType::A).await;
    assert_eq!(recursor.stats().dnssec_anchor_keys_missing.load(Relaxed), 1);
}

/// The root's first KSK as an operator had anchored it, before its revocation: the published
/// key (read through a non-validating engine) without the REVOKE bit.
async fn first_root_ksk_unrevoked(internet: &Internet) -> DNSKEY {
    let plain = recursor_with(internet, config_for(internet));
    let res = ask(&plain, ".", RecordType::DNSKEY).await;
    let revoked = res
        .answers
        .iter()
        .find_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::DNSKEY(key)) if key.revoke() => Some(key.clone()),
            _ => None,
        })
        .expect("the root publishes a revoked KSK");
    DNSKEY::with_flags(revoked.flags() & !0x80, revoked.public_key().clone())
}

#[tokio::test(start_paused = true)]
async fn a_revoked_root_key_published_by_the_root_is_no_longer_trusted() {
    let path = state_path("revoked");
    let mut hierarchy = rolling_root();
    hierarchy.root.revoke_first_ksk = true;
    hierarchy.root.ds = DsMode::Ksk(1);
    let (internet, dnssec) = hierarchy.build();
    let old = first_root_ksk_unrevoked(&internet).await;
    // Anchored: the old KSK as a DNSKEY, the new one by its DS.
    let mut both = (*dnssec.anchors).clone();
    both.add_key(&name("."), old.clone());
    let mut only_old = TrustAnchors::empty();
    only_old.add_key(&name("."), old);

    let mut tracking = dnssec.clone();
    tracking.anchors = Arc::new(both);
    tracking.trust_anchor_state = Some(path.clone());
    let recursor = validating(&internet, tracking);
    let res = ask(&recursor, "www.example.", RecordType::A).await;
    assert_eq!(res.security, Validation::Secure, "through the new KSK");
    assert_eq!(states(&path), ["REVOKED", "VALID"]);
    assert_eq!(trusted_keys(&path), 1, "the revoked key is no anchor");

    // An engine anchored on the old key alone fails without the state, and validates with it:
    // the state revokes the configured key and trusts the new one.
    let mut alone = dnssec.clone();
    alone.anchors = Arc::new(only_old);
    let res = ask(
        &validating(&internet, alone.clone()),
        "www.example.",
        RecordType::A,
    )
    .await;
    assert_eq!(
        res.rcode,
        ResponseCode::ServFail,
        "a revoked key validates nothing"
    );
    alone.trust_anchor_state = Some(path.clone());
    let res = ask(
        &validating(&internet, alone),
        "good.example.",
        RecordType::A,
    )
    .await;
    assert_eq!(res.security, Validation::Secure);
}
