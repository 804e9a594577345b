//! DNSSEC validation in the engine, on a signed test internet (the testkit signs the zones at
//! test time with the validator's own library) running in memory on tokio's paused clock.
//! Signature times are absolute, so the engine's clock for them is pinned to [`NOW`].
//!
//! The hierarchy: the root (127.53.0.1) → `example.` (127.53.0.2) → `sub.example.`
//! (127.53.0.3, signed as each test says) and `insecure.example.` (127.53.0.4, unsigned, no DS);
//! `cohost.example.`, unsigned, no DS, is served by `example.`'s own server.

mod aggressive;
mod answers;
mod bogus;
mod client;
mod forward;
mod hits;
mod referral;
mod rollover;
mod tailored;

use std::net::IpAddr;

use hickory_proto::rr::{Name, RecordType};
use scoped_dnssec::signer::DenialChain;
use scoped_recursor::{DnssecConfig, Recursor, RecursorConfig};
use scoped_testkit::engine::{config_for, recursor_with};
use scoped_testkit::signed::{Signing, sign_hierarchy};
use scoped_testkit::{Internet, InternetBuilder, Zone};

/// The time signatures are checked against (seconds since the epoch).
pub const NOW: u32 = 1_800_000_000;
pub const ROOT: &str = "127.53.0.1";
pub const EXAMPLE: &str = "127.53.0.2";
pub const SUB: &str = "127.53.0.3";
pub const INSECURE: &str = "127.53.0.4";

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

const ROOT_ZONE: &str = "$TTL 86400
@ IN SOA a.root. host. 1 1800 900 604800 86400
@ IN NS a.root.
a.root. IN A 127.53.0.1
example. IN NS ns.example.
ns.example. IN A 127.53.0.2
";

const EXAMPLE_ZONE: &str = "$TTL 3600
@ IN SOA ns host 1 1800 900 604800 300
@ IN NS ns
ns IN A 127.53.0.2
www IN A 192.0.2.1
good IN A 192.0.2.2
bad IN A 192.0.2.3
alias IN CNAME www.insecure.example.
inside IN CNAME www
moved IN DNAME sub
*.wild IN A 192.0.2.7
sub IN NS ns.sub
ns.sub IN A 127.53.0.3
insecure IN NS ns.insecure
ns.insecure IN A 127.53.0.4
cohost IN NS ns.cohost
ns.cohost IN A 127.53.0.2
";

const SUB_ZONE: &str = "$TTL 3600
@ IN SOA ns host 1 1800 900 604800 300
@ IN NS ns
ns IN A 127.53.0.3
www IN A 192.0.2.9
";

/// An unsigned child served by the same server as its signed parent (no DS at the parent).
const COHOST_ZONE: &str = "$TTL 3600
@ IN SOA ns host 1 1800 900 604800 300
@ IN NS ns
ns IN A 127.53.0.2
www IN A 192.0.2.30
";

const INSECURE_ZONE: &str = "$TTL 3600
@ IN SOA ns host 1 1800 900 604800 300
@ IN NS ns
ns IN A 127.53.0.4
www IN A 192.0.2.20
";

/// How the test internet is signed.
pub struct Hierarchy {
    /// How the root is signed.
    pub root: Signing,
    /// How `example.` is signed.
    pub example: Signing,
    /// How `sub.example.` is signed.
    pub sub: Signing,
}

impl Default for Hierarchy {
    fn default() -> Self {
        Self {
            root: Signing::new(NOW),
            example: Signing::new(NOW),
            sub: Signing::new(NOW),
        }
    }
}

impl Hierarchy {
    /// `example.` signed with NSEC3 (no salt, no extra iterations, no opt-out).
    pub fn nsec3() -> Self {
        Self {
            example: Signing {
                denial: DenialChain::Nsec3 {
                    salt: vec![0xab, 0xcd],
                    iterations: 0,
                    opt_out: false,
                },
                ..Signing::new(NOW)
            },
            ..Self::default()
        }
    }

    /// `sub.example.` signed as `sub` says, the rest normally.
    pub fn with_sub(sub: Signing) -> Self {
        Self {
            sub,
            ..Self::default()
        }
    }

    /// `example.` signed as `example` says, the rest normally.
    pub fn with_example(example: Signing) -> Self {
        Self {
            example,
            ..Self::default()
        }
    }

    /// The internet and the validating engine's DNSSEC settings (the root's DS as the anchor).
    pub fn build(self) -> (Internet, DnssecConfig) {
        let zone = |origin: &str, text: &str| Zone::parse(origin, text).unwrap();
        let hierarchy = sign_hierarchy(vec![
            (zone(".", ROOT_ZONE), Some(self.root)),
            (zone("example.", EXAMPLE_ZONE), Some(self.example)),
            (zone("sub.example.", SUB_ZONE), Some(self.sub)),
            (zone("insecure.example.", INSECURE_ZONE), None),
            (zone("cohost.example.", COHOST_ZONE), None),
        ])
        .unwrap();
        let mut builder = InternetBuilder::new();
        hierarchy.add_to(&mut builder);
        builder
            .server(ip(ROOT), &["."])
            .server(ip(EXAMPLE), &["example.", "cohost.example."])
            .server(ip(SUB), &["sub.example."])
            .server(ip(INSECURE), &["insecure.example."]);
        let dnssec = DnssecConfig::validating(hierarchy.anchors, Some(NOW));
        (builder.build().unwrap(), dnssec)
    }
}

/// A validating engine on `internet`.
pub fn validating(internet: &Internet, dnssec: DnssecConfig) -> Recursor {
    recursor_with(
        internet,
        RecursorConfig {
            dnssec,
            ..config_for(internet)
        },
    )
}

/// The signed internet with default signing and a validating engine on it.
pub fn signed() -> (Internet, Recursor) {
    let (internet, dnssec) = Hierarchy::default().build();
    let recursor = validating(&internet, dnssec);
    (internet, recursor)
}

pub fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

/// The queries of `qtype` the engine sent, by server.
pub fn queries_of(internet: &Internet, qtype: RecordType) -> Vec<scoped_testkit::QueryLogEntry> {
    internet
        .query_log()
        .into_iter()
        .filter(|q| q.qtype == qtype)
        .collect()
}

/// The servers at `servers` answer as their zones say, echoing the client subnet with SCOPE 24.
pub fn tailoring(internet: &Internet, servers: &[&str]) {
    for server in servers {
        internet
            .expect_server(ip(server))
            .set_responder(|query, info| {
                let mut response = info.zone_response(query);
                if let Ok(Some(ecs)) =
                    scoped_ecs::message_ecs(info.wire, scoped_ecs::Direction::Query)
                    && let Some(edns) = response.edns.as_mut()
                {
                    let echo = ecs.echo(ecs.source(), 24);
                    edns.options_mut().insert(echo.to_edns_option());
                }
                scoped_testkit::ResponderAction::Reply(response)
            });
    }
}
