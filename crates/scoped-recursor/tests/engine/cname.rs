//! CNAME chains: inside one zone, across zones, dangling, too long, looping.

use std::net::{IpAddr, Ipv4Addr};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use scoped_testkit::engine::{a_records, ask, recursor, types};
use scoped_testkit::standard::{self, *};
use scoped_testkit::{Internet, standard_internet};

#[tokio::test(start_paused = true)]
async fn cname_chain_inside_one_zone() {
    let internet = standard_internet();
    let recursor = recursor(&internet);
    let res = ask(&recursor, "chain.example.com.", RecordType::A).await;
    assert_eq!(
        types(&res.answers),
        vec![RecordType::CNAME, RecordType::CNAME, RecordType::A]
    );
    assert_eq!(a_records(&res), vec![Ipv4Addr::new(192, 0, 2, 10)]);
    // And from the cache, the same chain.
    let again = ask(&recursor, "chain.example.com.", RecordType::A).await;
    assert!(again.from_cache);
    assert_eq!(types(&again.answers), types(&res.answers));
}

#[tokio::test(start_paused = true)]
async fn cname_across_zones_is_chased() {
    let internet = standard_internet();
    let recursor = recursor(&internet);
    let res = ask(&recursor, "cross.example.com.", RecordType::A).await;
    assert_eq!(types(&res.answers), vec![RecordType::CNAME, RecordType::A]);
    assert_eq!(a_records(&res), vec![Ipv4Addr::new(192, 0, 2, 20)]);
    assert!(
        internet
            .query_log()
            .iter()
            .any(|q| q.server.ip() == EXAMPLE_NET)
    );
}

#[tokio::test(start_paused = true)]
async fn dangling_cname_is_nxdomain_with_the_cname() {
    let internet = standard_internet();
    let recursor = recursor(&internet);
    let res = ask(&recursor, "dangling.example.com.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::NXDomain);
    assert_eq!(types(&res.answers), vec![RecordType::CNAME]);
    assert_eq!(types(&res.authorities), vec![RecordType::SOA]);
}

fn chain_zone(links: usize, loop_back: bool) -> String {
    let mut text = String::from(
        "@ 3600 IN SOA ns1.chain.org. h.chain.org. 1 7200 900 1209600 60\n@ 3600 IN NS ns1.chain.org.\nns1 3600 IN A 127.53.9.1\n",
    );
    for i in 0..links {
        text.push_str(&format!("c{i} 300 IN CNAME c{}\n", i + 1));
    }
    if loop_back {
        text.push_str(&format!("c{links} 300 IN CNAME c0\n"));
    } else {
        text.push_str(&format!("c{links} 300 IN A 192.0.2.77\n"));
    }
    text
}

fn internet_with_chain_zone(links: usize, loop_back: bool) -> Internet {
    let mut builder = standard::standard_builder();
    let org = "@ 86400 IN SOA ns1.nic.org. h.nic.org. 1 7200 900 1209600 300\n@ 86400 IN NS ns1.nic.org.\nns1.nic 86400 IN A 127.53.1.3\n\
               chain 86400 IN NS ns1.chain.org.\nns1.chain 86400 IN A 127.53.9.1\n";
    builder.zone("chain.org.", &chain_zone(links, loop_back));
    builder.server(IpAddr::V4(Ipv4Addr::new(127, 53, 9, 1)), &["chain.org."]);
    let internet = builder.build().unwrap();
    // Add the delegation to org. by replacing the org zone with one that also delegates chain.org.
    let mut current = String::new();
    for zone in internet.expect_server(ORG).zones() {
        for record in zone.records() {
            current.push_str(&format!("{record}\n"));
        }
    }
    let _ = org;
    current
        .push_str("chain.org. 86400 IN NS ns1.chain.org.\nns1.chain.org. 86400 IN A 127.53.9.1\n");
    internet
        .expect_server(ORG)
        .set_zone(scoped_testkit::Zone::parse("org.", &current).unwrap());
    internet
}

#[tokio::test(start_paused = true)]
async fn long_cname_chain_is_followed_up_to_the_limit() {
    let internet = internet_with_chain_zone(10, false);
    let short = recursor(&internet);
    let res = ask(&short, "c0.chain.org.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::NoError);
    assert_eq!(res.answers.len(), 11);

    let internet = internet_with_chain_zone(20, false);
    let long = recursor(&internet);
    let res = ask(&long, "c0.chain.org.", RecordType::A).await;
    assert_eq!(
        res.rcode,
        ResponseCode::ServFail,
        "20 links is over the limit of 12"
    );
    let ede = res.ede.expect("a reason");
    assert_eq!(ede.code, scoped_recursor::EDE_OTHER, "{}", ede.text);
    assert!(
        ede.text
            .starts_with("CNAME/DNAME chain too long or looping at "),
        "{}",
        ede.text
    );
}

#[tokio::test(start_paused = true)]
async fn cname_loop_is_servfail_not_a_hang() {
    let internet = internet_with_chain_zone(3, true);
    let recursor = recursor(&internet);
    let res = ask(&recursor, "c0.chain.org.", RecordType::A).await;
    assert_eq!(res.rcode, ResponseCode::ServFail);
}
