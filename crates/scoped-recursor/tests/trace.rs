//! `scoped trace`: the engine writes down every decision of one resolution (E24).

use std::net::{IpAddr, Ipv4Addr};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use ipnet::IpNet;
use scoped_ecs::Allowlist;
use scoped_recursor::qmin::QminMode;
use scoped_recursor::{Question, RecursorConfig, ResolveRequest};
use scoped_testkit::cdn::TOKYO_V4;
use scoped_testkit::engine::{config_for, recursor_with};
use scoped_testkit::{Internet, ecs_internet, name, standard_internet};

async fn trace(
    internet: &Internet,
    allowlist: &str,
    qname: &str,
    subnet: Option<IpNet>,
) -> Vec<String> {
    trace_with(internet, allowlist, qname, subnet, QminMode::default()).await
}

async fn trace_with(
    internet: &Internet,
    allowlist: &str,
    qname: &str,
    subnet: Option<IpNet>,
    qname_minimisation: QminMode,
) -> Vec<String> {
    let config = RecursorConfig {
        ecs_allowlist: Allowlist::parse(allowlist).unwrap(),
        qname_minimisation,
        ..config_for(internet)
    };
    let recursor = recursor_with(internet, config);
    let request = ResolveRequest {
        question: Question::new(name(qname), RecordType::A),
        client: IpAddr::V4(Ipv4Addr::LOCALHOST),
        client_subnet: subnet,
        checking_disabled: false,
        dnssec_ok: false,
    };
    let (resolution, lines) = recursor.trace(request).await;
    assert_eq!(resolution.rcode, ResponseCode::NoError);
    lines
}

#[tokio::test(start_paused = true)]
async fn e24_trace_of_a_glueless_delegation_line_by_line() {
    let lines = trace(&standard_internet(), "", "www.glueless.org.", None).await;
    let expected = [
        "www.glueless.org. A, no client subnet",
        "  servers of . in order: 127.53.0.2 (srtt -, rto 376 ms, unknown), 127.53.0.1 (srtt -, rto 376 ms, unknown)",
        "  measuring 127.53.0.1 in the background (Unmeasured)",
        "  -> 127.53.0.2: . NS, no ECS (infrastructure lookup)",
        "  <- 127.53.0.2: answer, 2 record(s) after 0 CNAME(s); no ECS; cached for every client",
        "www.glueless.org. A: closest known zone .",
        // QNAME minimisation: the root hears only "org.", org. only "glueless.org.".
        "  minimised: org. A of the servers of .",
        "  servers of . in order: 127.53.0.2 (srtt 0.0 ms, rto 50 ms, responsive), 127.53.0.1 (srtt -, rto 376 ms, unknown)",
        "  -> 127.53.0.2: org. A, no ECS (minimised step)",
        "  referral to org.: ns1.nic.org. [127.53.1.3]",
        "  minimised: glueless.org. A of the servers of org.",
        "  servers of org. in order: 127.53.1.3 (srtt -, rto 376 ms, unknown)",
        "  -> 127.53.1.3: glueless.org. A, no ECS (minimised step)",
        "  referral to glueless.org.: ns.example.net. (no glue)",
        "  servers of glueless.org. in order: none known yet",
        "  nameserver ns.example.net. has no known address: resolving ns.example.net. A",
        "  ns.example.net. A: closest known zone .",
        "    minimised: net. A of the servers of .",
        // By now the background measurement of 127.53.0.1 has come back: both are measured.
        "    servers of . in order: 127.53.0.1 (srtt 0.0 ms, rto 50 ms, responsive), 127.53.0.2 (srtt 0.0 ms, rto 50 ms, responsive)",
        "    -> 127.53.0.1: net. A, no ECS (infrastructure lookup)",
        "    referral to net.: ns1.nic.net. [127.53.1.2]",
        "    minimised: example.net. A of the servers of net.",
        "    servers of net. in order: 127.53.1.2 (srtt -, rto 376 ms, unknown)",
        "    -> 127.53.1.2: example.net. A, no ECS (infrastructure lookup)",
        "    referral to example.net.: ns1.example.net. [127.53.3.1]",
        "    servers of example.net. in order: 127.53.3.1 (srtt -, rto 376 ms, unknown)",
        "    -> 127.53.3.1: ns.example.net. A, no ECS (infrastructure lookup)",
        "    <- 127.53.3.1: answer, 1 record(s) after 0 CNAME(s); no ECS; cached for every client",
        "  -> 127.53.4.1: www.glueless.org. A, no ECS (no client subnet)",
        "  <- 127.53.4.1: answer, 1 record(s) after 0 CNAME(s); no ECS; cached for every client",
    ];
    assert_eq!(lines, expected);
}

#[tokio::test(start_paused = true)]
async fn e24_trace_shows_where_ecs_went_and_why_line_by_line() {
    let lines = trace(
        &ecs_internet(),
        "cdn.example.\n",
        "www.cdn.example.",
        Some(TOKYO_V4),
    )
    .await;
    let expected = [
        "www.cdn.example. A, client subnet 198.51.100.0/24",
        "  servers of . in order: 127.53.20.1 (srtt -, rto 376 ms, unknown)",
        "  -> 127.53.20.1: . NS, no ECS (infrastructure lookup)",
        "  <- 127.53.20.1: answer, 1 record(s) after 0 CNAME(s); no ECS; cached for every client",
        "www.cdn.example. A: closest known zone .",
        // The client's /24 goes only with the full name, to the allowlisted zone (E01, E16).
        "  minimised: example. A of the servers of .",
        "  servers of . in order: 127.53.20.1 (srtt 0.0 ms, rto 50 ms, responsive)",
        "  -> 127.53.20.1: example. A, no ECS (minimised step)",
        "  referral to example.: ns1.nic.example. [127.53.21.1]",
        "  minimised: cdn.example. A of the servers of example.",
        "  servers of example. in order: 127.53.21.1 (srtt -, rto 376 ms, unknown)",
        "  -> 127.53.21.1: cdn.example. A, no ECS (minimised step)",
        "  referral to cdn.example.: ns1.cdn.example. [127.53.22.1], ns2.cdn.example. [127.53.22.2]",
        "  servers of cdn.example. in order: 127.53.22.2 (srtt -, rto 376 ms, unknown), 127.53.22.1 (srtt -, rto 376 ms, unknown)",
        "  measuring 127.53.22.1 in the background (Unmeasured)",
        "  -> 127.53.22.2: www.cdn.example. A, ECS 198.51.100.0/24 (allowlisted)",
        "  <- 127.53.22.2: answer, 1 record(s) after 0 CNAME(s); SCOPE 24; cached under 198.51.100.0/24",
    ];
    assert_eq!(lines, expected);
}

#[tokio::test(start_paused = true)]
async fn e24_trace_with_minimisation_off_asks_every_zone_the_full_name() {
    let lines = trace_with(
        &ecs_internet(),
        "cdn.example.\n",
        "www.cdn.example.",
        Some(TOKYO_V4),
        QminMode::Off,
    )
    .await;
    let expected = [
        "www.cdn.example. A, client subnet 198.51.100.0/24",
        "  servers of . in order: 127.53.20.1 (srtt -, rto 376 ms, unknown)",
        "  -> 127.53.20.1: . NS, no ECS (infrastructure lookup)",
        "  <- 127.53.20.1: answer, 1 record(s) after 0 CNAME(s); no ECS; cached for every client",
        "www.cdn.example. A: closest known zone .",
        "  servers of . in order: 127.53.20.1 (srtt 0.0 ms, rto 50 ms, responsive)",
        // No minimised steps: the client's question, withheld from the zones not allowlisted.
        "  -> 127.53.20.1: www.cdn.example. A, no ECS (. / 127.53.20.1 not on the allowlist)",
        "  referral to example.: ns1.nic.example. [127.53.21.1]",
        "  servers of example. in order: 127.53.21.1 (srtt -, rto 376 ms, unknown)",
        "  -> 127.53.21.1: www.cdn.example. A, no ECS (example. / 127.53.21.1 not on the allowlist)",
        "  referral to cdn.example.: ns1.cdn.example. [127.53.22.1], ns2.cdn.example. [127.53.22.2]",
        "  servers of cdn.example. in order: 127.53.22.2 (srtt -, rto 376 ms, unknown), 127.53.22.1 (srtt -, rto 376 ms, unknown)",
        "  measuring 127.53.22.1 in the background (Unmeasured)",
        "  -> 127.53.22.2: www.cdn.example. A, ECS 198.51.100.0/24 (allowlisted)",
        "  <- 127.53.22.2: answer, 1 record(s) after 0 CNAME(s); SCOPE 24; cached under 198.51.100.0/24",
    ];
    assert_eq!(lines, expected);
}
