//! RFC 5011 (`trust-anchor-state`): a new KSK of the anchored root, published beside the one
//! the anchor names, is tracked in the state file and trusted after the 30-day add hold-down,
//! on tokio's virtual clock (the signature clock advances with it).

use std::path::PathBuf;
use std::time::Duration;

use hickory_proto::rr::RecordType;
use scoped_dnssec::TrustAnchors;
use scoped_dnssec::signer::Validity;
use scoped_recursor::Validation;
use scoped_testkit::engine::ask;
use scoped_testkit::signed::{DsMode, Signing};

use super::{Hierarchy, NOW, name, validating};

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
