//! DNSSEC through the real binary: a signed hierarchy served on loopback (signed at test time,
//! valid around the wall clock), scoped validating from a trust-anchor file — AD and the RRSIG
//! for a secure answer to a DO client (as `dig +dnssec` asks), SERVFAIL with EDE for a bogus one.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use hickory_proto::rr::rdata::opt::EdnsOption;
use scoped_testkit::Internet;
use scoped_testkit::signed_lab::signed_lab_internet;

use crate::lab::{Lab, query};

/// The signed lab hierarchy, signed now (`sub.example.` with a DS that matches none of its
/// keys), and the root's DS as a trust-anchor file.
fn signed_internet() -> (Internet, String) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32;
    signed_lab_internet(now)
}

fn dnssec_query(id: u16, qname: &str) -> hickory_proto::op::Message {
    let mut message = query(id, qname, RecordType::A, Some(1232));
    if let Some(edns) = message.edns.as_mut() {
        edns.set_dnssec_ok(true);
    }
    message
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secure_answer_has_ad_and_a_bogus_one_is_servfail_with_ede() {
    let (internet, anchor) = signed_internet();
    let lab = Lab::start_with_files(internet, &[("root.key", anchor.as_str())], |config| {
        let mut dnssec = toml::Table::new();
        dnssec.insert("validation".into(), true.into());
        dnssec.insert("trust-anchor-file".into(), "root.key".into());
        config.insert("dnssec".into(), dnssec.into());
    })
    .await;

    let secure = lab.udp(&dnssec_query(1, "www.example.")).await;
    assert_eq!(secure.metadata.response_code, ResponseCode::NoError);
    let types: Vec<_> = secure.answers.iter().map(|r| r.record_type()).collect();
    assert_eq!(
        types,
        vec![RecordType::A, RecordType::RRSIG],
        "the RRSIG for a DO client"
    );
    assert!(secure.metadata.authentic_data, "AD for a DO client");
    let plain = lab
        .udp(&query(2, "www.example.", RecordType::A, Some(1232)))
        .await;
    assert_eq!(plain.answers.len(), 1, "no RRSIG without DO");
    assert!(!plain.metadata.authentic_data, "no AD without DO or AD");
    // Again with DO, now from the cache: still AD, still the RRSIG.
    let cached = lab.udp(&dnssec_query(4, "www.example.")).await;
    assert!(cached.metadata.authentic_data);
    assert_eq!(cached.answers.len(), 2);

    // NXDOMAIN, proven: the NSEC records and their RRSIGs in the authority section.
    let mut nx = query(5, "nope.example.", RecordType::A, Some(1232));
    if let Some(edns) = nx.edns.as_mut() {
        edns.set_dnssec_ok(true);
    }
    let nx = lab.udp(&nx).await;
    assert_eq!(nx.metadata.response_code, ResponseCode::NXDomain);
    assert!(nx.metadata.authentic_data);
    let kinds: Vec<_> = nx.authorities.iter().map(|r| r.record_type()).collect();
    assert!(kinds.contains(&RecordType::NSEC), "{kinds:?}");
    assert!(kinds.contains(&RecordType::RRSIG), "{kinds:?}");

    let bogus = lab.udp(&dnssec_query(3, "www.sub.example.")).await;
    assert_eq!(bogus.metadata.response_code, ResponseCode::ServFail);
    assert!(bogus.answers.is_empty());
    let edns = bogus.edns.expect("OPT");
    let ede = edns
        .options()
        .as_ref()
        .iter()
        .find_map(|(code, option)| match option {
            EdnsOption::Unknown(15, data) if u16::from(*code) == 15 => Some(data.clone()),
            _ => None,
        })
        .expect("an EDE option");
    assert_eq!(&ede[..2], &[0, 9], "INFO-CODE 9, DNSKEY Missing");
    let text = String::from_utf8_lossy(&ede[2..]);
    assert!(text.contains("sub.example."), "{text}");
}
