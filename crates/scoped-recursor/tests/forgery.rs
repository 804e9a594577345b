//! Forged replies (RFC 5452, RFC 7871 §11.2) against the engine on the testkit's CDN: floods of
//! forged answers race the real one, which arrives last. Nothing forged may be served or cached:
//! wrong ID, right ID with another subnet in the ECS option (CVE-2025-5994's shape), right ID
//! without the ECS echo (CVE-2025-30192's). The forger here knows the port and, for two kinds,
//! the ID: the engine's own checks must stop what the randomness did not.

use std::net::{IpAddr, Ipv4Addr};

use hickory_proto::op::Message;
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsCode, EdnsOption};
use hickory_proto::rr::{DNSClass, RData, Record, RecordType};
use scoped_cache::CacheKey;
use scoped_ecs::Allowlist;
use scoped_recursor::{Recursor, RecursorConfig};
use scoped_testkit::cdn::*;
use scoped_testkit::engine::{ask_from, recursor_with};
use scoped_testkit::{EcsHandle, EcsInternet, ResponderAction, ecs_fixture, name};

const FORGED: Ipv4Addr = Ipv4Addr::new(6, 6, 6, 6);
const FLOOD: u16 = 40;

/// `real` with its answer replaced by the forger's address.
fn forged_from(real: &Message) -> Message {
    let mut forged = real.clone();
    let owner = real.queries[0].name().clone();
    forged.answers = vec![Record::from_rdata(owner, 86_400, RData::A(A(FORGED)))];
    forged
}

/// Makes `server` answer every query with a flood of forgeries of three kinds, then the real
/// answer of `cdn` last.
fn flood(fixture: &EcsInternet, server: IpAddr, cdn: &EcsHandle) {
    let real = cdn.responder();
    fixture
        .internet
        .expect_server(server)
        .set_responder(move |query, info| {
            let ResponderAction::Reply(reply) = real(query, info) else {
                return real(query, info);
            };
            let mut datagrams = Vec::new();
            for k in 0..FLOOD {
                // A guessed ID.
                let mut wrong_id = forged_from(&reply);
                wrong_id.metadata.id = reply.metadata.id.wrapping_add(k + 1);
                // The right ID, but the answer claims to be for another subnet (192.0.2.0/24,
                // no client of this test).
                let mut wrong_ecs = forged_from(&reply);
                if let Some(edns) = wrong_ecs.edns.as_mut() {
                    edns.options_mut().remove(EdnsCode::Subnet);
                    let subnet = ClientSubnet::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 0)), 24, 24);
                    edns.options_mut().insert(EdnsOption::Subnet(subnet));
                }
                // The right ID, no ECS at all: as if the server ignored it (SCOPE 0, for all).
                let mut no_ecs = forged_from(&reply);
                if let Some(edns) = no_ecs.edns.as_mut() {
                    edns.options_mut().remove(EdnsCode::Subnet);
                }
                for message in [wrong_id, wrong_ecs, no_ecs] {
                    datagrams.push(message.to_vec().expect("forgery serialises"));
                }
            }
            datagrams.push(reply.to_vec().expect("reply serialises"));
            ResponderAction::Raw(datagrams)
        });
}

fn holds_forgery(records: &[Record]) -> bool {
    records
        .iter()
        .any(|r| matches!(r.data, RData::A(A(ip)) if ip == FORGED))
}

/// Nothing forged in either cache, for any client.
fn assert_caches_clean(recursor: &Recursor, qname: &str) {
    let now = tokio::time::Instant::now();
    let key = CacheKey::rrset(&name(qname), RecordType::A, DNSClass::IN);
    for client in [Some(TOKYO_V4), Some(SF_V4), Some(ELSEWHERE_V4), None] {
        if let Some(hit) = recursor.scoped_cache().get(&key, client, now)
            && let scoped_cache::CachedData::Rrset { records, .. } = hit.data
        {
            assert!(
                !holds_forgery(&records),
                "tailored cache for {client:?}: {records:?}"
            );
        }
    }
    if let Some(records) =
        recursor
            .cache()
            .rrset(&name(qname), RecordType::A, scoped_cache::Trust::Glue, now)
    {
        assert!(!holds_forgery(&records), "record cache: {records:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn e11_e12_a_flood_of_forged_replies_is_neither_served_nor_cached() {
    let fixture = ecs_fixture();
    flood(&fixture, CDN_1, &fixture.cdn1);
    flood(&fixture, CDN_2, &fixture.cdn2);
    let recursor = recursor_with(
        &fixture.internet,
        RecursorConfig {
            ecs_allowlist: Allowlist::parse("cdn.example.\n").unwrap(),
            selection_seed: Some(3),
            ..fixture.internet.recursor_config()
        },
    );
    for (qname, subnet, expected) in [
        (WWW_CDN, Some(TOKYO_V4), TOKYO_EDGE_V4),
        (WWW_CDN, Some(SF_V4), SF_EDGE_V4),
        (WIDE_CDN, Some(TOKYO_V4), TOKYO_EDGE_V4),
        (STATIC_CDN, Some(SF_V4), STATIC_V4),
    ] {
        let res = ask_from(&recursor, qname, RecordType::A, subnet).await;
        assert!(!holds_forgery(&res.answers), "{qname} {subnet:?}: {res:?}");
        let got: Vec<IpAddr> = res
            .answers
            .iter()
            .filter_map(|r| match r.data {
                RData::A(A(ip)) => Some(IpAddr::V4(ip)),
                _ => None,
            })
            .collect();
        assert_eq!(got, vec![expected], "{qname} {subnet:?}");
        assert_caches_clean(&recursor, qname);
    }
    // The same questions again, from the caches: still the real answers.
    let res = ask_from(&recursor, WWW_CDN, RecordType::A, Some(TOKYO_V4)).await;
    assert!(res.from_cache && !holds_forgery(&res.answers));
}
