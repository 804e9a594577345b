//! DNS cookies toward authoritatives (RFC 7873): a client cookie per server on every EDNS query,
//! the server's cookie remembered and sent back, and a reply without our cookie from a server
//! known to support cookies dropped as spoofed.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use hickory_proto::op::Message;
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
use hickory_proto::rr::{RData, Record, RecordType};
use scoped_recursor::RecursorConfig;
use scoped_testkit::engine::{a_records, ask, config_for, recursor_with};
use scoped_testkit::standard::*;
use scoped_testkit::{
    Internet, QueryInfo, ResponderAction, name, server_cookie_for, standard_internet,
};

use crate::stat;

/// The COOKIE option of the queries `server` received, in order (`None`: none).
fn cookies_seen(internet: &Internet, server: IpAddr) -> Vec<Option<Vec<u8>>> {
    internet
        .queries_to(server)
        .iter()
        .map(|entry| {
            let message = entry.message()?;
            match message.edns?.option(EdnsCode::Cookie)? {
                EdnsOption::Unknown(_, data) => Some(data.clone()),
                _ => None,
            }
        })
        .collect()
}

fn quiet_config(internet: &Internet) -> RecursorConfig {
    let mut config = config_for(internet);
    // Only the questions' own queries: no background measurements to count.
    config.infra.max_background_per_query = 0;
    config
}

#[tokio::test(start_paused = true)]
async fn a_client_cookie_goes_out_and_the_server_cookie_comes_back() {
    let internet = standard_internet();
    internet
        .expect_server(EXAMPLE_COM_1)
        .update(|b| b.cookies = true);
    internet
        .expect_server(EXAMPLE_COM_2)
        .update(|b| b.cookies = true);
    let recursor = recursor_with(&internet, quiet_config(&internet));
    for qname in [
        "www.example.com.",
        "chain.example.com.",
        "a.b.ent.example.com.",
    ] {
        ask(&recursor, qname, RecordType::A).await;
    }
    for server in [EXAMPLE_COM_1, EXAMPLE_COM_2, ROOT_A] {
        let seen = cookies_seen(&internet, server);
        let Some(first) = seen.first().cloned().flatten() else {
            // Server selection may never have asked this one.
            assert!(seen.is_empty() || server == ROOT_A, "{server}: {seen:?}");
            continue;
        };
        assert_eq!(first.len(), 8, "{server}: a client cookie alone at first");
        for later in seen.iter().skip(1).flatten() {
            assert_eq!(later[..8], first[..], "{server}: the same client cookie");
            if server != ROOT_A {
                assert_eq!(
                    later[8..],
                    server_cookie_for(server, &first)[..],
                    "{server}: its server cookie sent back"
                );
            }
        }
    }
    let root = cookies_seen(&internet, ROOT_A);
    let com = cookies_seen(&internet, EXAMPLE_COM_1);
    if let (Some(Some(root)), Some(Some(com))) = (root.first(), com.first()) {
        assert_ne!(root[..8], com[..8], "one client cookie per server");
    }
    assert_eq!(stat(&recursor, |s| &s.cookie_spoofed_replies), 0);
}

#[tokio::test(start_paused = true)]
async fn a_reply_without_our_cookie_from_a_cookie_server_is_dropped_as_spoofed() {
    let internet = standard_internet();
    for addr in [EXAMPLE_COM_1, EXAMPLE_COM_2] {
        internet.expect_server(addr).update(|b| b.cookies = true);
    }
    let recursor = recursor_with(&internet, quiet_config(&internet));
    // Both servers are learnt to support cookies.
    for qname in [
        "www.example.com.",
        "chain.example.com.",
        "a.b.ent.example.com.",
    ] {
        ask(&recursor, qname, RecordType::A).await;
    }
    // Then the first reply for www.wild.example.com, whichever server is asked, is a forgery
    // without a cookie (an off-path attacker does not know it), with the attacker's address.
    let forged = Arc::new(AtomicU32::new(0));
    for addr in [EXAMPLE_COM_1, EXAMPLE_COM_2] {
        let forged = Arc::clone(&forged);
        internet
            .expect_server(addr)
            .set_responder(move |query: &Message, info: &QueryInfo<'_>| {
                let wild = query
                    .queries
                    .first()
                    .is_some_and(|q| q.name() == &name("www.wild.example.com."));
                if !wild || forged.fetch_add(1, Ordering::SeqCst) > 0 {
                    return ResponderAction::Continue;
                }
                let mut reply = info.zone_response(query);
                reply.answers = vec![Record::from_rdata(
                    name("www.wild.example.com."),
                    86400,
                    RData::A(A(Ipv4Addr::new(6, 6, 6, 6))),
                )];
                ResponderAction::Raw(vec![reply.to_vec().expect("forged reply")])
            });
    }
    let res = ask(&recursor, "www.wild.example.com.", RecordType::A).await;
    assert_eq!(
        forged.load(Ordering::SeqCst),
        2,
        "forged once, then the real answer"
    );
    assert_eq!(
        a_records(&res),
        vec![Ipv4Addr::new(192, 0, 2, 99)],
        "never 6.6.6.6"
    );
    assert_eq!(stat(&recursor, |s| &s.cookie_spoofed_replies), 1);
}
