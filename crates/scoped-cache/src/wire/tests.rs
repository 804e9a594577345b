//! The answer cache's tests.

use std::str::FromStr;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, CNAME};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::*;

fn name(s: &str) -> Name {
    Name::from_str(s).unwrap()
}

fn wire_name(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in s.trim_end_matches('.').split('.').filter(|l| !l.is_empty()) {
        out.push(label.len() as u8);
        out.extend_from_slice(label.to_ascii_lowercase().as_bytes());
    }
    out.push(0);
    out
}

/// A rendered response: www.example. CNAME web.example. (TTL 300), web A 192.0.2.1 (60).
fn response(qname: &str) -> Vec<u8> {
    let mut msg = Message::new(77, MessageType::Response, OpCode::Query);
    msg.add_query(Query::query(name(qname), RecordType::A));
    msg.add_answer(Record::from_rdata(
        name(qname),
        300,
        RData::CNAME(CNAME(name("web.example."))),
    ));
    msg.add_answer(Record::from_rdata(
        name("web.example."),
        60,
        RData::A(A::new(192, 0, 2, 1)),
    ));
    msg.to_vec().unwrap()
}

fn question_end(msg: &[u8]) -> usize {
    skip_name(msg, HEADER_LEN).unwrap() + QUESTION_FIXED_LEN
}

#[tokio::test(start_paused = true)]
async fn body_is_replayed_with_ttls_counted_down() {
    let wire = response("www.example.");
    let answer = WireAnswer::from_response(&wire, 0).unwrap();
    assert_eq!((answer.answers, answer.authorities), (2, 0));
    assert_eq!(answer.min_ttl(), Some(60));
    let cache = WireCache::new(1 << 20);
    let key = WireKeyRef {
        name: &wire_name("www.example."),
        qtype: 1,
        clients: WireClients::NoSubnet,
        dnssec: 0,
    };
    cache.insert(
        key.to_key(),
        answer,
        Instant::now(),
        Duration::from_secs(50),
    );
    tokio::time::advance(Duration::from_secs(10)).await;
    let hit = cache.get(&key, Instant::now()).unwrap();
    // Rebuild the message around the body and read it back.
    let q_end = question_end(&wire);
    let mut out = wire[..q_end].to_vec();
    assert!(hit.write_body(&mut out, Instant::now()));
    let replayed = Message::from_vec(&out).unwrap();
    assert_eq!(replayed.answers[0].ttl, 290);
    assert_eq!(replayed.answers[1].ttl, 50);
    assert_eq!(replayed.answers[1].data, RData::A(A::new(192, 0, 2, 1)));
    assert_eq!(replayed.metadata.response_code, ResponseCode::NoError);
    // Its lifetime is what the engine gave it, not the TTL.
    tokio::time::advance(Duration::from_secs(40)).await;
    assert!(cache.get(&key, Instant::now()).is_none());
}

#[tokio::test(start_paused = true)]
async fn a_body_replays_after_the_question_in_another_case() {
    let wire = response("www.example.");
    let cache = WireCache::new(1 << 20);
    let key = WireKeyRef {
        name: &wire_name("www.example."),
        qtype: 1,
        clients: WireClients::NoSubnet,
        dnssec: 0,
    };
    let now = Instant::now();
    let answer = WireAnswer::from_response(&wire, 0).unwrap();
    cache.insert(key.to_key(), answer, now, Duration::from_secs(30));
    // Another client asks WwW.ExAmPlE.: same length, other case.
    let other = response("WwW.ExAmPlE.");
    let q_end = question_end(&other);
    let mut out = other[..q_end].to_vec();
    assert!(cache.get(&key, now).unwrap().write_body(&mut out, now));
    let replayed = Message::from_vec(&out).unwrap();
    assert_eq!(replayed.answers[0].name, name("www.example."));
    assert_eq!(replayed.answers[1].data, RData::A(A::new(192, 0, 2, 1)));
}

#[test]
fn keys_differ_by_type_and_subnet_and_borrowed_keys_find_owned_ones() {
    let cache = WireCache::new(1 << 20);
    let wire = response("www.example.");
    let name = wire_name("www.example.");
    let subnet: IpNet = "198.51.100.0/24".parse().unwrap();
    let key = |qtype, subnet: Option<IpNet>| WireKeyRef {
        name: &name,
        qtype,
        clients: subnet.into(),
        dnssec: 0,
    };
    let now = Instant::now();
    let keep = Duration::from_secs(30);
    let tailored = WireAnswer::from_response(&wire, 24).unwrap();
    cache.insert(key(1, Some(subnet)).to_key(), tailored, now, keep);
    assert_eq!(cache.get(&key(1, Some(subnet)), now).unwrap().scope, 24);
    assert!(cache.get(&key(1, None), now).is_none());
    assert!(cache.get(&key(28, Some(subnet)), now).is_none());
}

#[test]
fn forget_retires_every_answer_of_the_name_and_later_ones_count_again() {
    let cache = WireCache::new(1 << 20);
    let now = Instant::now();
    let keep = Duration::from_secs(30);
    let www = wire_name("www.example.");
    let other = wire_name("other.example.");
    let subnet: IpNet = "198.51.100.0/24".parse().unwrap();
    let key = |name, qtype, clients| WireKeyRef {
        name,
        qtype,
        clients,
        dnssec: 0,
    };
    for (name, clients) in [
        (&www, WireClients::Every),
        (&www, WireClients::Subnet(subnet)),
        (&other, WireClients::Every),
    ] {
        let answer = WireAnswer::from_response(&response("www.example."), 0).unwrap();
        cache.insert(key(name, 1, clients).to_key(), answer, now, keep);
    }
    cache.forget(&www);
    assert!(cache.get(&key(&www, 1, WireClients::Every), now).is_none());
    assert!(
        cache
            .get(&key(&www, 1, WireClients::Subnet(subnet)), now)
            .is_none()
    );
    if generation_bucket(&other) != generation_bucket(&www) {
        assert!(
            cache
                .get(&key(&other, 1, WireClients::Every), now)
                .is_some()
        );
    }
    let fresh = WireAnswer::from_response(&response("www.example."), 0).unwrap();
    cache.insert(key(&www, 1, WireClients::Every).to_key(), fresh, now, keep);
    assert!(
        cache.get(&key(&www, 1, WireClients::Every), now).is_some(),
        "an answer stored after the forget serves"
    );
}

#[test]
fn forget_for_a_full_length_subnet_drops_only_its_answer_and_the_one_for_every_client() {
    let cache = WireCache::new(1 << 20);
    let now = Instant::now();
    let keep = Duration::from_secs(30);
    let www = wire_name("www.example.");
    let net = |s: &str| WireClients::Subnet(s.parse::<IpNet>().unwrap());
    let key = |qtype, clients| WireKeyRef {
        name: &www,
        qtype,
        clients,
        dnssec: 0,
    };
    let stored = [
        (1, WireClients::Every),
        (1, WireClients::NoSubnet),
        (1, net("198.51.100.0/24")),
        (1, net("198.51.101.0/24")),
        (28, net("198.51.100.0/24")),
    ];
    for (qtype, clients) in stored {
        let answer = WireAnswer::from_response(&response("www.example."), 0).unwrap();
        cache.insert(key(qtype, clients).to_key(), answer, now, keep);
    }
    let before = cache.len();
    assert!(cache.forget_for(&www, 1, net("198.51.100.0/24")));
    let held = |qtype, clients| cache.get(&key(qtype, clients), now).is_some();
    assert!(!held(1, WireClients::Every));
    assert!(!held(1, net("198.51.100.0/24")));
    assert!(
        held(1, WireClients::NoSubnet),
        "no subnet: not served by a tailored entry"
    );
    assert!(
        held(1, net("198.51.101.0/24")),
        "another subnet keeps its answer"
    );
    assert!(
        held(28, net("198.51.100.0/24")),
        "another type keeps its answer"
    );
    assert_eq!(cache.len(), before - 2, "removed, not left to be evicted");
    // A scope shorter than a stored subnet covers subnets it cannot name one by one.
    assert!(!cache.forget_for(&www, 1, net("198.51.0.0/16")));
    assert!(held(1, net("198.51.101.0/24")));
    // An entry for queries without a subnet: that answer and the one for every client.
    assert!(cache.forget_for(&www, 1, WireClients::NoSubnet));
    assert!(!held(1, WireClients::NoSubnet));
    assert!(!cache.forget_for(&www, 1, WireClients::Every));
}

#[test]
fn forget_for_drops_the_answers_rendered_for_every_set_of_dnssec_bits() {
    let cache = WireCache::new(1 << 20);
    let now = Instant::now();
    let www = wire_name("www.example.");
    let key = |dnssec| WireKeyRef {
        name: &www,
        qtype: 1,
        clients: WireClients::NoSubnet,
        dnssec,
    };
    for dnssec in [0, DNSSEC_DO, DNSSEC_DO | DNSSEC_CD] {
        let answer = WireAnswer::from_response(&response("www.example."), 0).unwrap();
        cache.insert(key(dnssec).to_key(), answer, now, Duration::from_secs(30));
    }
    assert!(cache.get(&key(DNSSEC_DO), now).is_some());
    assert!(
        cache.get(&key(DNSSEC_AD), now).is_none(),
        "another set of bits"
    );
    assert!(cache.forget_for(&www, 1, WireClients::NoSubnet));
    for dnssec in [0, DNSSEC_DO, DNSSEC_DO | DNSSEC_CD] {
        assert!(cache.get(&key(dnssec), now).is_none(), "bits {dnssec}");
    }
    assert_eq!(cache.len(), 0);
}

#[test]
fn forget_for_is_exact_only_up_to_the_longest_subnet_stored_per_family() {
    let cache = WireCache::new(1 << 20);
    let now = Instant::now();
    let www = wire_name("www.example.");
    let clients = WireClients::Subnet("2001:db8:0:100::/64".parse().unwrap());
    let answer = WireAnswer::from_response(&response("www.example."), 0).unwrap();
    let stored = WireKeyRef {
        name: &www,
        qtype: 28,
        clients,
        dnssec: 0,
    };
    cache.insert(stored.to_key(), answer, now, Duration::from_secs(30));
    let v6 = |s: &str| WireClients::Subnet(s.parse::<IpNet>().unwrap());
    assert!(
        !cache.forget_for(&www, 28, v6("2001:db8::/56")),
        "a /64 is stored"
    );
    assert!(cache.forget_for(&www, 28, v6("2001:db8:0:200::/64")));
    assert!(
        cache.get(&stored, now).is_some(),
        "a sibling /64 is untouched"
    );
    assert!(
        cache.forget_for(
            &www,
            1,
            WireClients::Subnet("192.0.2.0/24".parse().unwrap())
        ),
        "IPv4 has its own longest length"
    );
}

#[test]
fn an_answer_for_every_client_serves_any_subnet_unless_one_has_its_own() {
    let cache = WireCache::new(1 << 20);
    let wire = response("www.example.");
    let name = wire_name("www.example.");
    let now = Instant::now();
    let keep = Duration::from_secs(30);
    let key = |clients| WireKeyRef {
        name: &name,
        qtype: 1,
        clients,
        dnssec: 0,
    };
    let every = WireAnswer::from_response(&wire, 0).unwrap();
    cache.insert(key(WireClients::Every).to_key(), every, now, keep);
    let tokyo = WireClients::Subnet("198.51.100.0/24".parse().unwrap());
    let sf = WireClients::Subnet("203.0.113.0/24".parse().unwrap());
    let own = WireAnswer::from_response(&wire, 24).unwrap();
    cache.insert(key(tokyo).to_key(), own, now, keep);
    assert_eq!(cache.lookup(&key(tokyo), now).unwrap().scope, 24);
    assert_eq!(cache.lookup(&key(sf), now).unwrap().scope, 0);
    assert_eq!(
        cache
            .lookup(&key(WireClients::NoSubnet), now)
            .unwrap()
            .scope,
        0
    );
    assert!(cache.get(&key(sf), now).is_none(), "get is exact");
}

#[test]
fn a_client_without_subnet_gets_its_own_answer_when_none_is_for_every_client() {
    let cache = WireCache::new(1 << 20);
    let wire = response("www.example.");
    let name = wire_name("www.example.");
    let now = Instant::now();
    let key = |clients| WireKeyRef {
        name: &name,
        qtype: 1,
        clients,
        dnssec: 0,
    };
    let own = WireAnswer::from_response(&wire, 0).unwrap();
    cache.insert(
        key(WireClients::NoSubnet).to_key(),
        own,
        now,
        Duration::from_secs(30),
    );
    assert!(cache.lookup(&key(WireClients::NoSubnet), now).is_some());
    let tokyo = WireClients::Subnet("198.51.100.0/24".parse().unwrap());
    assert!(
        cache.lookup(&key(tokyo), now).is_none(),
        "an answer for clients without a subnet serves no subnet"
    );
}

#[test]
fn flush_by_name_and_subtree() {
    let cache = WireCache::new(1 << 20);
    let wire = response("www.example.");
    let now = Instant::now();
    for owner in [
        "www.example.",
        "a.www.example.",
        "example.",
        "wwwx.example.",
    ] {
        let answer = WireAnswer::from_response(&wire, 0).unwrap();
        let key = WireKeyRef {
            name: &wire_name(owner),
            qtype: 1,
            clients: WireClients::NoSubnet,
            dnssec: 0,
        };
        cache.insert(key.to_key(), answer, now, Duration::from_secs(30));
    }
    let present = |owner: &str| {
        cache
            .get(
                &WireKeyRef {
                    name: &wire_name(owner),
                    qtype: 1,
                    clients: WireClients::NoSubnet,
                    dnssec: 0,
                },
                now,
            )
            .is_some()
    };
    cache.flush(&wire_name("www.example."), false);
    assert!(!present("www.example.") && present("a.www.example."));
    cache.flush(&wire_name("www.example."), true);
    assert!(!present("a.www.example."));
    assert!(present("example.") && present("wwwx.example."));
}

#[test]
fn truncated_or_odd_responses_are_refused() {
    let wire = response("www.example.");
    assert_eq!(
        WireAnswer::from_response(&wire[..wire.len() - 3], 0).unwrap_err(),
        WireError::Truncated
    );
    let mut tc = wire.clone();
    tc[2] |= 0x02;
    assert_eq!(
        WireAnswer::from_response(&tc, 0).unwrap_err(),
        WireError::NotAnAnswer
    );
    assert!(WireAnswer::from_response(&wire[..5], 0).is_err());
}

/// A cache of `max_bytes` offered 10,000 answers for different names.
fn filled(max_bytes: u64) -> WireCache {
    let cache = WireCache::new(max_bytes);
    let wire = response("www.example.");
    let now = Instant::now();
    for i in 0..10_000u32 {
        let answer = WireAnswer::from_response(&wire, 0).unwrap();
        let owner = format!("n{i}.example.");
        let key = WireKeyRef {
            name: &wire_name(&owner),
            qtype: 1,
            clients: WireClients::NoSubnet,
            dnssec: 0,
        };
        cache.insert(key.to_key(), answer, now, Duration::from_secs(30));
    }
    cache
}

#[test]
fn the_cache_stays_within_its_byte_bound() {
    let cache = filled(64 * 1024);
    assert!(
        cache.weighted_bytes() <= 64 * 1024,
        "{}",
        cache.weighted_bytes()
    );
    assert!(cache.len() > 50);
}

#[test]
fn a_smaller_byte_bound_set_while_running_evicts_at_once() {
    let cache = filled(64 * 1024);
    let before = cache.len();
    cache.set_max_bytes(16 * 1024);
    assert_eq!(cache.max_bytes(), 16 * 1024);
    assert!(
        cache.weighted_bytes() <= 16 * 1024,
        "{}",
        cache.weighted_bytes()
    );
    assert!(cache.len() * 3 < before, "{} of {before} left", cache.len());
}
