//! The local privacy profile (`resolver-local.toml`, docs/privacy.md) end to end: the shipped
//! file, with only what a loopback lab needs changed, resolves through the CDN fixture, sends no
//! client subnet anywhere — not even with every server allowlisted and a stub asking for one —
//! and shows each server only the next label of the name.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use scoped_testkit::cdn::{ECS_ROOT, ECS_TLD, WWW_CDN};
use scoped_testkit::{ecs_fixture, name};

use crate::lab::{Lab, ecs_query, query};

/// The shipped profile, pointed at the lab: its listen address, root hints, upstream port and
/// loopback nameservers; the control endpoint off (labs run in parallel on a fixed port); an
/// allowlist naming every zone and the client trusted to pass on a public subnet, so that only
/// `[ecs] enabled = false` keeps subnets home.
fn local_profile(lab_base: &toml::Table) -> toml::Table {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/resolver-local.toml"))
        .expect("the shipped profile");
    let mut profile: toml::Table = text.parse().expect("the profile is valid TOML");
    let table = |t: &mut toml::Table, key: &str| -> toml::Table {
        t.get(key)
            .and_then(|v| v.as_table())
            .cloned()
            .unwrap_or_default()
    };
    let mut server = table(&mut profile, "server");
    server.insert("listen".into(), lab_base["server"]["listen"].clone());
    // The lab runs as whoever runs the tests: nothing to drop to (tests/service covers it).
    assert_eq!(
        server
            .remove("user")
            .and_then(|u| u.as_str().map(str::to_owned))
            .as_deref(),
        Some("nobody")
    );
    profile.insert("server".into(), server.into());
    let mut recursion = table(&mut profile, "recursion");
    for key in [
        "root-hints",
        "allow-loopback-servers",
        "upstream-port",
        "server-timeout",
    ] {
        recursion.insert(key.into(), lab_base["recursion"][key].clone());
    }
    profile.insert("recursion".into(), recursion.into());
    let mut ecs = table(&mut profile, "ecs");
    ecs.insert("allowlist".into(), "allowlist.txt".into());
    // The lab's clients are on loopback: count them as a trusted front end passing on a public
    // client's subnet, the case where any other setting would send it.
    ecs.insert("trusted-front-ends".into(), vec!["127.0.0.0/8"].into());
    ecs.insert("non-routable".into(), vec!["10.0.0.0/8"].into());
    profile.insert("ecs".into(), ecs.into());
    let mut control = table(&mut profile, "control");
    control.insert("enabled".into(), false.into());
    profile.insert("control".into(), control.into());
    // The fixture's root is unsigned.
    let mut dnssec = table(&mut profile, "dnssec");
    dnssec.insert("validation".into(), false.into());
    profile.insert("dnssec".into(), dnssec.into());
    profile
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_profile_resolves_minimised_and_sends_no_subnet_at_all() {
    let fixture = ecs_fixture();
    let lab = Lab::start_with_files(fixture.internet, &[("allowlist.txt", ".\n")], |config| {
        *config = local_profile(config);
    })
    .await;
    // A stub asks with its own ECS option (198.51.100.0/24).
    let response = lab
        .udp(&ecs_query(
            1,
            WWW_CDN,
            RecordType::A,
            &[0, 1, 24, 0, 198, 51, 100],
        ))
        .await;
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    assert!(!response.answers.is_empty());
    let internet = lab.internet();
    assert!(
        internet.queries_with_ecs().is_empty(),
        "no server heard a subnet: {:?}",
        internet.queries_with_ecs()
    );
    // QNAME minimisation: the root and the TLD never heard the full name.
    for server in [ECS_ROOT, ECS_TLD] {
        let heard: Vec<_> = internet
            .queries_to(server)
            .into_iter()
            .map(|q| q.qname)
            .collect();
        assert!(!heard.contains(&name(WWW_CDN)), "{server} heard {heard:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_profile_answers_local_names_with_zero_upstream_queries() {
    let fixture = ecs_fixture();
    let lab = Lab::start_with_files(fixture.internet, &[("allowlist.txt", ".\n")], |config| {
        *config = local_profile(config);
    })
    .await;
    for (qname, qtype, rcode) in [
        ("localhost.", RecordType::A, ResponseCode::NoError),
        ("localhost.", RecordType::AAAA, ResponseCode::NoError),
        (
            "1.1.168.192.in-addr.arpa.",
            RecordType::PTR,
            ResponseCode::NXDomain,
        ),
        (
            "20.1.16.172.in-addr.arpa.",
            RecordType::PTR,
            ResponseCode::NXDomain,
        ),
        ("printer.invalid.", RecordType::A, ResponseCode::NXDomain),
    ] {
        let response = lab.udp(&query(1, qname, qtype, Some(1232))).await;
        assert_eq!(response.metadata.response_code, rcode, "{qname}");
        assert!(response.metadata.authoritative, "{qname} answered locally");
    }
    assert_eq!(
        lab.internet().total_queries(),
        0,
        "nothing left the machine: {:?}",
        lab.internet().query_log()
    );
}
