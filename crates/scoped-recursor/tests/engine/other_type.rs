//! Records of a type other than asked (an A record in the answer to an AAAA question): never the
//! answer, never cached for the asked type; without a SOA they are no answer from that server,
//! whose next sibling is asked; with the zone's SOA they are a NODATA.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{DNSClass, RData, Record, RecordType};
use scoped_cache::CacheKey;
use scoped_testkit::engine::{a_records, ask, recursor, types};
use scoped_testkit::standard::*;
use scoped_testkit::{Internet, QueryInfo, ResponderAction, name, standard_internet};
use tokio::time::Instant;

use crate::WWW;

/// Make both example.com servers answer the first `times` AAAA questions for www.example.com.
/// (counted together) with its A record, AA set — and the zone's SOA in authority when
/// `with_soa`. Everything else they answer from the zone.
fn a_for_aaaa(internet: &Internet, times: usize, with_soa: bool) -> Arc<AtomicUsize> {
    let wrong = Arc::new(AtomicUsize::new(0));
    for addr in [EXAMPLE_COM_1, EXAMPLE_COM_2] {
        let wrong = wrong.clone();
        internet
            .expect_server(addr)
            .set_responder(move |query: &Message, info: &QueryInfo<'_>| {
                let asked = &query.queries[0];
                if asked.query_type() != RecordType::AAAA
                    || asked.name() != &name("www.example.com.")
                    || wrong.load(Ordering::SeqCst) >= times
                {
                    return ResponderAction::Continue;
                }
                wrong.fetch_add(1, Ordering::SeqCst);
                let mut reply = info.zone_response(query);
                reply.answers = vec![Record::from_rdata(
                    name("www.example.com."),
                    300,
                    RData::A(A(WWW)),
                )];
                if with_soa {
                    let soa = info.zones[0].soa().cloned().expect("the zone has a SOA");
                    reply.authorities = vec![soa];
                }
                ResponderAction::Reply(reply)
            });
    }
    wrong
}

fn aaaa_cached(recursor: &scoped_recursor::Recursor) -> bool {
    let key = CacheKey::rrset(&name("www.example.com."), RecordType::AAAA, DNSClass::IN);
    recursor.cache().get(&key, Instant::now()).is_some()
}

#[tokio::test(start_paused = true)]
async fn an_a_record_in_an_aaaa_answer_is_never_the_answer() {
    let internet = standard_internet();
    // Whichever example.com server is asked first answers with the A record.
    let wrong = a_for_aaaa(&internet, 1, false);
    let recursor = recursor(&internet);
    let res = ask(&recursor, "www.example.com.", RecordType::AAAA).await;
    assert_eq!(
        wrong.load(Ordering::SeqCst),
        1,
        "the broken answer was sent"
    );
    assert_eq!(res.rcode, ResponseCode::NoError);
    assert_eq!(
        types(&res.answers),
        vec![RecordType::AAAA],
        "the other server's"
    );
    assert!(a_records(&res).is_empty());
    // What is cached for AAAA is the real AAAA.
    let again = ask(&recursor, "www.example.com.", RecordType::AAAA).await;
    assert!(again.from_cache);
    assert_eq!(types(&again.answers), vec![RecordType::AAAA]);
}

#[tokio::test(start_paused = true)]
async fn servers_that_answer_only_another_type_give_no_answer_for_the_question() {
    let internet = standard_internet();
    a_for_aaaa(&internet, usize::MAX, false);
    let recursor = recursor(&internet);
    let res = ask(&recursor, "www.example.com.", RecordType::AAAA).await;
    assert_eq!(
        res.rcode,
        ResponseCode::ServFail,
        "not the A, not an empty NOERROR"
    );
    assert!(res.answers.is_empty());
    assert!(!aaaa_cached(&recursor), "nothing cached for AAAA");
    // The same servers are fine for the type they do answer.
    let res = ask(&recursor, "www.example.com.", RecordType::A).await;
    assert_eq!(a_records(&res), vec![WWW]);
    // Mended, they are asked again once their lameness for AAAA lapses (15 minutes,
    // `lameness.rs`): no negative answer was kept for AAAA.
    for addr in [EXAMPLE_COM_1, EXAMPLE_COM_2] {
        internet.expect_server(addr).clear_responder();
    }
    tokio::time::advance(std::time::Duration::from_secs(16 * 60)).await;
    // Their SRTT is old by now; an A question brings it up to date.
    ask(&recursor, "a.wild.example.com.", RecordType::A).await;
    let res = ask(&recursor, "www.example.com.", RecordType::AAAA).await;
    assert_eq!(types(&res.answers), vec![RecordType::AAAA]);
}

#[tokio::test(start_paused = true)]
async fn another_type_with_the_zones_soa_is_a_nodata() {
    let internet = standard_internet();
    a_for_aaaa(&internet, usize::MAX, true);
    let recursor = recursor(&internet);
    let res = ask(&recursor, "www.example.com.", RecordType::AAAA).await;
    assert_eq!(res.rcode, ResponseCode::NoError);
    assert!(res.answers.is_empty(), "{:?}", res.answers);
    assert_eq!(types(&res.authorities), vec![RecordType::SOA]);
    // Cached as a NODATA for AAAA (with that SOA), never as the A record.
    let again = ask(&recursor, "www.example.com.", RecordType::AAAA).await;
    assert!(again.from_cache);
    assert!(again.answers.is_empty());
    assert_eq!(a_records(&again), Vec::<Ipv4Addr>::new());
}
