//! A simulated DNS internet for scoped's tests and demo.
//!
//! An [`Internet`] is a set of authoritative servers (root, TLDs, delegated zones), each at its own
//! address, hosting zones written as zone-file text. The same authoritative logic
//! ([`authoritative_response`], RFC 1034 §4.3.2) serves in two modes:
//!
//! 1. **In memory on virtual time**: `Internet` implements [`scoped_recursor::Transport`]; engine
//!    tests run on tokio's paused clock with simulated delays and timeouts, no sockets
//!    (see [`memory`]).
//! 2. **On loopback sockets**: [`Internet::serve_on_loopback`] binds UDP and TCP on every server's
//!    127.x.y.z address at one shared port, for end-to-end tests of the real binary
//!    (see [`loopback`]).
//!
//! Each server's [`Behaviour`] (delay, dead, dropped queries, forced RCODE, lame, UDP truncation,
//! NXDOMAIN for empty non-terminals) and an optional custom [`Responder`] are settable at runtime
//! through a [`ServerHandle`]. Every query any server receives is in the query log
//! ([`Internet::query_log`]). A server can also answer through a [`ServiceQueue`], one query at a
//! time, so that its latency grows with its load (an authoritative under load; see [`queue`]).
//!
//! [`standard_internet`] is a ready fixture; its map is in the [`standard`] module. The [`engine`]
//! module has the engine tests' shared helpers: a [`scoped_recursor::Recursor`] on an internet,
//! asking it a question, reading the answer.
//!
//! For EDNS Client Subnet (RFC 7871), [`EcsAuthority`] is an ECS-aware authoritative installed
//! as a server's responder (tailored answers per client prefix, configurable SCOPE, broken echoes,
//! ECS rejection), and [`ecs_internet`] a ready CDN fixture; its map is in the [`cdn`] module.
//!
//! Safety rule: servers may only have addresses in 127.0.0.0/8, `::1` or fc00::/7 (the last
//! exist in memory only), and the loopback mode only ever replies to loopback sources.
#![warn(missing_docs)]

pub mod authority;
pub mod cdn;
mod dnssec_answer;
pub mod dot;
pub mod ecs;
pub mod engine;
mod internet;
pub mod loopback;
pub mod memory;
pub mod multi;
pub mod queue;
pub mod signed;
pub mod signed_lab;
pub mod standard;
pub mod zone;

pub use authority::{
    SERVER_UDP_PAYLOAD, authoritative_response, closest_zone, error_response,
    is_empty_non_terminal, response_skeleton, upward_referral,
};
pub use cdn::{EcsInternet, ecs_fixture, ecs_internet};
pub use dot::{DotOptions, DotServer};
pub use ecs::{Echo, EcsAuthority, EcsHandle, IntoPrefix, make_ecs_query};
pub use internet::{
    Behaviour, BuildError, Internet, InternetBuilder, QueryInfo, QueryLogEntry, ROOT_HINTS_TTL,
    Responder, ResponderAction, ServerHandle, server_cookie_for,
};
pub use loopback::LoopbackInternet;
pub use queue::ServiceQueue;
pub use standard::{standard_builder, standard_internet};
pub use zone::{Zone, ZoneError};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};

/// A name from text (a trailing dot is implied). For tests and fixtures: panics on a bad name.
pub fn name(text: &str) -> Name {
    match Name::from_ascii(text) {
        Ok(mut n) => {
            n.set_fqdn(true);
            n
        }
        Err(e) => panic!("bad domain name {text:?}: {e}"),
    }
}

/// A query message as a resolver sends it upstream: the given ID, RD clear, one question, and an
/// EDNS OPT advertising `edns_payload` when given.
pub fn make_query(id: u16, qname: &str, qtype: RecordType, edns_payload: Option<u16>) -> Message {
    let mut message = Message::new(id, MessageType::Query, OpCode::Query);
    message.add_query(Query::query(name(qname), qtype));
    if let Some(payload) = edns_payload {
        let mut edns = Edns::new();
        edns.set_max_payload(payload);
        message.set_edns(edns);
    }
    message
}
