//! DNS64 (RFC 6147): AAAA records synthesised from A records under the prefix when a name has
//! no usable AAAA; reverse names under the prefix mapped to `in-addr.arpa`; the client subnet
//! carried to the A lookup and its scope to the synthesised answer.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};
use scoped_ecs::Allowlist;
use scoped_recursor::{
    Dns64Config, Question, Recursor, RecursorConfig, Resolution, ResolveRequest,
};
use scoped_testkit::cdn::{JP_ONLY_CDN, SF_V4, TOKYO_V4};
use scoped_testkit::engine::{ask, ask_from, config_for, recursor_with, types};
use scoped_testkit::{Internet, InternetBuilder, ecs_fixture, name};

const ROOT: &str = "
.            86400 IN SOA  a.root.test. hostmaster.root.test. 1 1800 900 604800 86400
.            86400 IN NS   a.root.test.
a.root.test. 86400 IN A    127.53.0.1
v4.          86400 IN NS   ns.v4.
ns.v4.       86400 IN A    127.53.1.1
in-addr.arpa. 86400 IN NS  ns.v4.
";

/// `v4.`: IPv4-only names, a dual-stack one, a mapped-only one, a CNAME chain; and the reverse
/// zone of 192.0.2.0/24 (served by the same server).
const V4: &str = "
@        86400 IN SOA  ns.v4. hostmaster.v4. 1 1800 900 604800 120
@        86400 IN NS   ns
ns       86400 IN A    127.53.1.1
only4    600   IN A    192.0.2.33
only4    600   IN A    192.0.2.34
dual     600   IN A    192.0.2.40
dual     600   IN AAAA 2001:db8::40
mapped   600   IN A    192.0.2.41
mapped   600   IN AAAA ::ffff:192.0.2.41
alias    300   IN CNAME only4
";

const REVERSE: &str = "
@        86400 IN SOA  ns.v4. hostmaster.v4. 1 1800 900 604800 120
@        86400 IN NS   ns.v4.
33.2.0.192 600 IN PTR only4.v4.
";

fn internet() -> Internet {
    let mut b = InternetBuilder::new();
    b.zone(".", ROOT)
        .zone("v4.", V4)
        .zone("in-addr.arpa.", REVERSE);
    b.server("127.53.0.1".parse().unwrap(), &["."])
        .server("127.53.1.1".parse().unwrap(), &["v4.", "in-addr.arpa."]);
    b.build().unwrap()
}

fn dns64(prefix: &str) -> Dns64Config {
    Dns64Config {
        enabled: true,
        prefix: prefix.parse().unwrap(),
        ..Dns64Config::default()
    }
}

fn engine(internet: &Internet, prefix: &str) -> Recursor {
    let config = RecursorConfig {
        dns64: dns64(prefix),
        ..config_for(internet)
    };
    recursor_with(internet, config)
}

fn aaaa(resolution: &Resolution) -> Vec<(Ipv6Addr, u32)> {
    resolution
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::AAAA(a) => Some((a.0, r.ttl)),
            _ => None,
        })
        .collect()
}

fn v6(text: &str) -> Ipv6Addr {
    text.parse().unwrap()
}

#[tokio::test(start_paused = true)]
async fn an_ipv4_only_name_gets_aaaa_synthesised_under_the_prefix() {
    let internet = internet();
    let recursor = engine(&internet, "64:ff9b::/96");
    let res = ask(&recursor, "only4.v4.", RecordType::AAAA).await;
    assert_eq!(res.rcode, ResponseCode::NoError);
    let mut got = aaaa(&res);
    got.sort();
    // TTL: the A records' 600 bounded by the NODATA's SOA minimum, 120.
    assert_eq!(
        got,
        vec![
            (v6("64:ff9b::c000:221"), 120),
            (v6("64:ff9b::c000:222"), 120)
        ]
    );
    assert!(res.authorities.is_empty(), "no SOA with an answer");
    // Without DNS64 the same question is NODATA.
    let plain = recursor_with(&internet, config_for(&internet));
    let nodata = ask(&plain, "only4.v4.", RecordType::AAAA).await;
    assert!(nodata.answers.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_network_specific_prefix_embeds_the_address_per_rfc6052() {
    let internet = internet();
    let recursor = engine(&internet, "2001:db8:122:344::/64");
    let res = ask(&recursor, "only4.v4.", RecordType::AAAA).await;
    let mut got: Vec<Ipv6Addr> = aaaa(&res).into_iter().map(|(a, _)| a).collect();
    got.sort();
    // 192.0.2.33 around the u octet (RFC 6052 §2.4's example).
    assert_eq!(
        got,
        vec![
            v6("2001:db8:122:344:c0:2:2100:0"),
            v6("2001:db8:122:344:c0:2:2200:0")
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_name_with_real_aaaa_is_untouched() {
    let internet = internet();
    let recursor = engine(&internet, "64:ff9b::/96");
    let res = ask(&recursor, "dual.v4.", RecordType::AAAA).await;
    assert_eq!(aaaa(&res), vec![(v6("2001:db8::40"), 600)]);
    // No A query was needed.
    assert!(
        !internet
            .query_log()
            .iter()
            .any(|q| q.qtype == RecordType::A && q.qname == name("dual.v4.")),
    );
}

#[tokio::test(start_paused = true)]
async fn a_name_with_only_excluded_aaaa_gets_synthesised_ones_instead() {
    let internet = internet();
    let recursor = engine(&internet, "64:ff9b::/96");
    let res = ask(&recursor, "mapped.v4.", RecordType::AAAA).await;
    // No NODATA SOA here: the A record's TTL.
    assert_eq!(aaaa(&res), vec![(v6("64:ff9b::c000:229"), 600)]);
}

#[tokio::test(start_paused = true)]
async fn nxdomain_stays_nxdomain() {
    let internet = internet();
    let recursor = engine(&internet, "64:ff9b::/96");
    let res = ask(&recursor, "missing.v4.", RecordType::AAAA).await;
    assert_eq!(res.rcode, ResponseCode::NXDomain);
    assert!(res.answers.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_cname_chain_is_kept_with_the_synthesised_aaaa_at_its_end() {
    let internet = internet();
    let recursor = engine(&internet, "64:ff9b::/96");
    let res = ask(&recursor, "alias.v4.", RecordType::AAAA).await;
    assert_eq!(res.rcode, ResponseCode::NoError);
    assert_eq!(
        types(&res.answers),
        vec![RecordType::CNAME, RecordType::AAAA, RecordType::AAAA]
    );
    assert_eq!(res.answers[0].name, name("alias.v4."));
    assert!(res.answers[1..].iter().all(|r| r.name == name("only4.v4.")));
}

#[tokio::test(start_paused = true)]
async fn a_reverse_name_under_the_prefix_is_a_cname_to_the_ipv4_reverse_name() {
    let internet = internet();
    let recursor = engine(&internet, "64:ff9b::/96");
    // 64:ff9b::c000:221 = 192.0.2.33
    let qname = "1.2.2.0.0.0.0.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.b.9.f.f.4.6.0.0.ip6.arpa.";
    let res = ask(&recursor, qname, RecordType::PTR).await;
    assert_eq!(res.rcode, ResponseCode::NoError);
    assert_eq!(
        types(&res.answers),
        vec![RecordType::CNAME, RecordType::PTR]
    );
    assert_eq!(res.answers[0].name, name(qname));
    match &res.answers[0].data {
        RData::CNAME(target) => assert_eq!(target.0, name("33.2.0.192.in-addr.arpa.")),
        other => panic!("not a CNAME: {other:?}"),
    }
    match &res.answers[1].data {
        RData::PTR(ptr) => assert_eq!(ptr.0, name("only4.v4.")),
        other => panic!("not a PTR: {other:?}"),
    }
    // Nothing was asked about the ip6.arpa name.
    assert!(
        !internet
            .query_log()
            .iter()
            .any(|q| q.qname.to_ascii().ends_with("ip6.arpa.")),
    );
    // An IPv4 address without a PTR: the CNAME and the NXDOMAIN of its target.
    let none = "2.2.2.0.0.0.0.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.b.9.f.f.4.6.0.0.ip6.arpa.";
    let res = ask(&recursor, none, RecordType::PTR).await;
    assert_eq!(res.rcode, ResponseCode::NXDomain);
    assert_eq!(types(&res.answers), vec![RecordType::CNAME]);
}

/// A CDN name with an A record only for Tokyo clients (scope /24): the A lookup carries the
/// client's subnet and the synthesised answer has its scope; San Francisco's NXDOMAIN stands.
#[tokio::test(start_paused = true)]
async fn the_a_lookup_carries_the_client_subnet_and_the_answer_its_scope() {
    let fixture = ecs_fixture();
    let config = RecursorConfig {
        ecs_allowlist: Allowlist::parse("cdn.example.").unwrap(),
        dns64: dns64("64:ff9b::/96"),
        ..fixture.internet.recursor_config()
    };
    let recursor = recursor_with(&fixture.internet, config);
    let tokyo = ask_from(&recursor, JP_ONLY_CDN, RecordType::AAAA, Some(TOKYO_V4)).await;
    assert_eq!(tokyo.rcode, ResponseCode::NoError);
    assert_eq!(
        aaaa(&tokyo).into_iter().map(|(a, _)| a).collect::<Vec<_>>(),
        vec![v6("64:ff9b::c000:251")]
    );
    assert_eq!(tokyo.scope, 24);
    assert!(!tokyo.for_every_client);
    let a_queries: Vec<_> = fixture
        .internet
        .queries_with_ecs()
        .into_iter()
        .filter(|q| q.qtype == RecordType::A)
        .collect();
    assert!(!a_queries.is_empty(), "the A lookup carried no subnet");
    let sf = ask_from(&recursor, JP_ONLY_CDN, RecordType::AAAA, Some(SF_V4)).await;
    assert_eq!(sf.rcode, ResponseCode::NXDomain);
    assert!(sf.answers.is_empty());
}

#[tokio::test(start_paused = true)]
async fn dns64_off_leaves_aaaa_and_ptr_alone() {
    let internet = internet();
    let recursor = recursor_with(&internet, config_for(&internet));
    let qname = "1.2.2.0.0.0.0.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.b.9.f.f.4.6.0.0.ip6.arpa.";
    let res = ask(&recursor, qname, RecordType::PTR).await;
    assert!(
        res.answers
            .iter()
            .all(|r| r.record_type() != RecordType::CNAME)
    );
    let res = ask(&recursor, "only4.v4.", RecordType::AAAA).await;
    assert!(res.answers.is_empty());
}

/// RFC 6147 §5.5: a client with DO and CD validates for itself; it gets the real (NODATA)
/// answer. DO alone or CD alone still gets the synthesis.
#[tokio::test(start_paused = true)]
async fn a_client_with_do_and_cd_gets_no_synthesis() {
    let internet = internet();
    let recursor = engine(&internet, "64:ff9b::/96");
    let request = |dnssec_ok, checking_disabled| ResolveRequest {
        dnssec_ok,
        checking_disabled,
        ..ResolveRequest::new(
            Question::new(name("only4.v4."), RecordType::AAAA),
            IpAddr::V4(Ipv4Addr::LOCALHOST),
        )
    };
    let both = recursor.resolve_request(request(true, true)).await;
    assert_eq!(both.rcode, ResponseCode::NoError);
    assert!(both.answers.is_empty());
    for (dnssec_ok, cd) in [(true, false), (false, true)] {
        let res = recursor.resolve_request(request(dnssec_ok, cd)).await;
        assert_eq!(aaaa(&res).len(), 2, "DO {dnssec_ok} CD {cd}");
    }
}

#[tokio::test(start_paused = true)]
async fn the_trace_shows_the_synthesis() {
    let internet = internet();
    let recursor = engine(&internet, "64:ff9b::/96");
    let request = ResolveRequest::new(
        Question::new(name("only4.v4."), RecordType::AAAA),
        IpAddr::V4(Ipv4Addr::LOCALHOST),
    );
    let (res, lines) = recursor.trace(request).await;
    assert_eq!(aaaa(&res).len(), 2);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("DNS64: synthesised from A")),
        "{lines:#?}"
    );
}
