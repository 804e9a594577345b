//! Lameness per type: a server that answers A properly but AAAA lamely — an upward referral, a
//! non-authoritative answer, a referral to a zone that is not below the one asked, data for a
//! name outside its zone — is lame for that question. The client gets the answer from a good
//! server of the zone, or SERVFAIL, never the lame data; the lameness is remembered for (server,
//! zone, type), so the next AAAA question does not wait on that server again while A questions
//! still use it, until the memory expires.

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::{AAAA, NS};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use scoped_testkit::engine::{a_records, ask, recursor};
use scoped_testkit::standard::*;
use scoped_testkit::{
    Internet, QueryInfo, ResponderAction, name, response_skeleton, standard_internet,
};

use crate::WWW;

const BOGUS: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0xbad);
const REAL: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10);

/// How a server answers the questions it is lame for.
#[derive(Clone, Copy, Debug)]
enum Lame {
    /// A non-authoritative referral to the root.
    UpwardReferral,
    /// A made-up AAAA at the name, AA clear (a cache, not the zone).
    NotAuthoritative,
    /// An empty NOERROR, AA clear, no referral.
    EmptyNotAuthoritative,
    /// A referral to `example.net.`, which is not below `example.com.`.
    WrongZoneReferral,
    /// AA set, but the only record is for a name outside the zone.
    OutOfBailiwick,
}

const FORMS: [Lame; 5] = [
    Lame::NotAuthoritative,
    Lame::UpwardReferral,
    Lame::EmptyNotAuthoritative,
    Lame::WrongZoneReferral,
    Lame::OutOfBailiwick,
];

fn lame_reply(form: Lame, query: &Message) -> Message {
    let mut reply = response_skeleton(query);
    let qname = query.queries[0].name().clone();
    let ns = |owner: &str, target: &str| {
        Record::from_rdata(name(owner), 86_400, RData::NS(NS(name(target))))
    };
    match form {
        Lame::UpwardReferral => reply.add_authority(ns(".", "a.root.test.")),
        Lame::NotAuthoritative => {
            reply.add_answer(Record::from_rdata(qname, 300, RData::AAAA(AAAA(BOGUS))))
        }
        Lame::EmptyNotAuthoritative => &mut reply,
        Lame::WrongZoneReferral => reply.add_authority(ns("example.net.", "ns1.example.net.")),
        Lame::OutOfBailiwick => {
            reply.metadata.authoritative = true;
            reply.add_answer(Record::from_rdata(
                Name::from_ascii("www.example.net.").unwrap(),
                300,
                RData::AAAA(AAAA(BOGUS)),
            ))
        }
    };
    reply
}

/// `addr` answers every AAAA question as `form` says; everything else from its zone.
fn lame_for_aaaa(internet: &Internet, addr: IpAddr, form: Lame) {
    internet
        .expect_server(addr)
        .set_responder(move |query: &Message, _: &QueryInfo<'_>| {
            if query.queries[0].query_type() == RecordType::AAAA {
                ResponderAction::Reply(lame_reply(form, query))
            } else {
                ResponderAction::Continue
            }
        });
}

/// AAAA questions `addr` received since the log was cleared.
fn aaaa_queries(internet: &Internet, addr: IpAddr) -> usize {
    internet
        .queries_to(addr)
        .iter()
        .filter(|q| q.qtype == RecordType::AAAA)
        .count()
}

fn aaaa_records(res: &scoped_recursor::Resolution) -> Vec<Ipv6Addr> {
    res.answers
        .iter()
        .filter_map(|r| match r.data {
            RData::AAAA(AAAA(ip)) => Some(ip),
            _ => None,
        })
        .collect()
}

/// The standard internet with ns1.example.com. (5 ms) faster than ns2 (30 ms), and an engine
/// that has learnt so from a few A questions.
async fn warmed_up() -> (Internet, scoped_recursor::Recursor) {
    let internet = standard_internet();
    internet
        .expect_server(EXAMPLE_COM_1)
        .set_delay(Duration::from_millis(5));
    internet
        .expect_server(EXAMPLE_COM_2)
        .set_delay(Duration::from_millis(30));
    let recursor = recursor(&internet);
    for qname in [
        "www.example.com.",
        "a.wild.example.com.",
        "b.wild.example.com.",
    ] {
        let res = ask(&recursor, qname, RecordType::A).await;
        assert_eq!(res.answers.len(), 1, "{qname}");
    }
    (internet, recursor)
}

#[tokio::test(start_paused = true)]
async fn a_server_lame_for_aaaa_gives_no_answer_and_is_remembered() {
    for form in FORMS {
        let (internet, recursor) = warmed_up().await;
        lame_for_aaaa(&internet, EXAMPLE_COM_1, form);
        internet.clear_query_log();
        let res = ask(&recursor, "www.example.com.", RecordType::AAAA).await;
        assert_eq!(
            aaaa_queries(&internet, EXAMPLE_COM_1),
            1,
            "{form:?}: asked first"
        );
        assert_eq!(res.rcode, ResponseCode::NoError, "{form:?}");
        assert_eq!(
            aaaa_records(&res),
            vec![REAL],
            "{form:?}: the good server's"
        );

        // Lame for AAAA in example.com.: not asked again for AAAA, still asked for A.
        internet.clear_query_log();
        for qname in [
            "c.wild.example.com.",
            "a.b.ent.example.com.",
            "nx.example.com.",
        ] {
            let res = ask(&recursor, qname, RecordType::AAAA).await;
            assert_ne!(res.rcode, ResponseCode::ServFail, "{form:?} {qname}");
            assert!(aaaa_records(&res).is_empty(), "{form:?} {qname}");
        }
        assert_eq!(
            aaaa_queries(&internet, EXAMPLE_COM_1),
            0,
            "{form:?}: the lame server waited on again"
        );
        for qname in [
            "d.wild.example.com.",
            "e.wild.example.com.",
            "f.wild.example.com.",
        ] {
            let res = ask(&recursor, qname, RecordType::A).await;
            assert_eq!(res.answers.len(), 1, "{form:?} {qname}");
        }
        assert!(
            internet.query_count(EXAMPLE_COM_1) >= 2,
            "{form:?}: still the fastest for A"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn the_lame_data_never_answers_even_when_every_server_is_lame() {
    for form in FORMS {
        let (internet, recursor) = warmed_up().await;
        lame_for_aaaa(&internet, EXAMPLE_COM_1, form);
        lame_for_aaaa(&internet, EXAMPLE_COM_2, form);
        let res = ask(&recursor, "www.example.com.", RecordType::AAAA).await;
        assert_eq!(res.rcode, ResponseCode::ServFail, "{form:?}");
        assert!(res.answers.is_empty(), "{form:?}: {:?}", res.answers);
        // Remembered: the next AAAA question in the zone asks neither, A still works.
        internet.clear_query_log();
        let res = ask(&recursor, "c.wild.example.com.", RecordType::AAAA).await;
        assert_eq!(res.rcode, ResponseCode::ServFail, "{form:?}");
        assert_eq!(aaaa_queries(&internet, EXAMPLE_COM_1), 0, "{form:?}");
        assert_eq!(aaaa_queries(&internet, EXAMPLE_COM_2), 0, "{form:?}");
        let res = ask(&recursor, "www.example.com.", RecordType::A).await;
        assert_eq!(a_records(&res), vec![WWW], "{form:?}");
    }
}

/// Lameness is remembered for a while, not for ever: a mended server is asked again for AAAA
/// once the memory of its lameness expires.
#[tokio::test(start_paused = true)]
async fn a_mended_server_is_asked_again_once_its_lameness_expires() {
    let (internet, recursor) = warmed_up().await;
    lame_for_aaaa(&internet, EXAMPLE_COM_1, Lame::UpwardReferral);
    let res = ask(&recursor, "www.example.com.", RecordType::AAAA).await;
    assert_eq!(aaaa_records(&res), vec![REAL]);
    internet.expect_server(EXAMPLE_COM_1).clear_responder();
    tokio::time::advance(Duration::from_secs(16 * 60)).await;
    // Keep its SRTT fresh with an A question, then ask AAAA afresh.
    ask(&recursor, "g.wild.example.com.", RecordType::A).await;
    internet.clear_query_log();
    let res = ask(&recursor, "www.example.com.", RecordType::AAAA).await;
    assert_eq!(aaaa_records(&res), vec![REAL]);
    assert_eq!(aaaa_queries(&internet, EXAMPLE_COM_1), 1, "asked again");
}
