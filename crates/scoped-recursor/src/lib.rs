//! The iterative recursion engine of scoped.
//!
//! [`Recursor`] resolves a question from the root hints down: priming, referrals, in-bailiwick
//! glue, glueless nameserver sub-queries, CNAME chasing, negative answers, failover between the
//! servers of a zone, TCP on truncation — within a per-query time budget and work limits. It talks
//! to the network only through a [`Transport`], so the same engine runs over real sockets and over
//! the simulated internet of `scoped-testkit` on virtual time.
#![warn(missing_docs)]

pub mod boxed;
pub mod classify;
pub mod config;
pub mod counters;
pub mod dns64;
mod engine;
pub mod forward_tls;
pub mod infra;
pub mod qmin;
pub mod root_hints;
pub mod transport;

use std::net::IpAddr;
use std::sync::Arc;

use futures::future::BoxFuture;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, Name, Record, RecordType};
use ipnet::IpNet;
pub use scoped_cache::{
    DNSSEC_AD, DNSSEC_CD, DNSSEC_DO, Validation, WireAnswer, WireCache, WireClients, WireKey,
    WireKeyRef,
};

pub use config::{DnssecConfig, RecursorConfig};
pub use dns64::Dns64Config;
pub use engine::{
    DNS64_PTR_CNAME_TTL, EDE_NETWORK_ERROR, EDE_NO_REACHABLE_AUTHORITY, EDE_OTHER, EcsSent,
    EngineStats, ForwardZone, Recursor, ResolveError, Routing, StubZone,
};
pub use forward_tls::{ConnectionLimits, ForwardTls, ForwardTlsError};
pub use root_hints::{RootHint, builtin_root_hints, parse_root_hints};
pub use transport::{
    NetTransport, Protocol, Transport, TransportError, UpstreamQuery, reply_matches,
};

/// A question as the engine sees it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Question {
    /// The name asked for, as the client spelled it (the cache lowercases it for keys).
    pub name: Name,
    /// The record type asked for.
    pub qtype: RecordType,
    /// The class; only IN is resolved.
    pub qclass: DNSClass,
}

impl Question {
    /// An IN-class question.
    pub fn new(name: Name, qtype: RecordType) -> Self {
        Self {
            name,
            qtype,
            qclass: DNSClass::IN,
        }
    }
}

/// What the front end asks the engine to resolve for one client query.
#[derive(Clone, Debug)]
pub struct ResolveRequest {
    /// The question.
    pub question: Question,
    /// The client's address (for logging and, later, the ECS decision).
    pub client: IpAddr,
    /// The client subnet decided by the front end (already truncated), or `None` when no
    /// subnet may be sent upstream for this query. Unused until ECS lands.
    pub client_subnet: Option<IpNet>,
    /// The client set CD (RFC 4035 §3.2.2): it gets the data unchecked, and what is fetched for
    /// it is never served as validated to a client without CD.
    pub checking_disabled: bool,
    /// The client set DO: with CD as well, it gets no DNS64 synthesis (RFC 6147 §5.5).
    pub dnssec_ok: bool,
}

impl ResolveRequest {
    /// A request for `question` from `client`, without a subnet, CD clear.
    pub fn new(question: Question, client: IpAddr) -> Self {
        Self {
            question,
            client,
            client_subnet: None,
            checking_disabled: false,
            dnssec_ok: false,
        }
    }
}

/// An Extended DNS Error (RFC 8914) for the front end to attach to the response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ede {
    /// The INFO-CODE.
    pub code: u16,
    /// The EXTRA-TEXT (may be empty).
    pub text: String,
}

/// The engine's answer to a [`ResolveRequest`]: what goes into the response to the stub.
///
/// TTLs are already counted down to what remains at the moment the resolution was returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolution {
    /// NOERROR (answer or NODATA), NXDOMAIN, SERVFAIL or REFUSED.
    pub rcode: ResponseCode,
    /// The answer section: the CNAME chain (if any) followed by the records asked for.
    pub answers: Vec<Record>,
    /// The authority section: only the SOA of a negative answer (minimal responses).
    pub authorities: Vec<Record>,
    /// Whether the whole answer came from the cache.
    pub from_cache: bool,
    /// Whether it was served from expired data because resolution failed or was slow
    /// (serve-stale, RFC 8767): the front end may say so (RFC 8914 EDE 3, Stale Answer).
    pub stale: bool,
    /// Whether the answer is the same for every client subnet: scope 0, no CNAME chain, and
    /// nothing tailored cached for the name. The front end may then replay it to any client.
    pub for_every_client: bool,
    /// The ECS SCOPE PREFIX-LENGTH of the data used (the longest over a CNAME chain, E18); 0
    /// when the answer is valid for every client. The front end echoes it (E23).
    pub scope: u8,
    /// What DNSSEC validation said about the whole answer (every link of a CNAME chain):
    /// [`Validation::Unchecked`] when validation is off or the client set CD. The front end sets
    /// AD for [`Validation::Secure`] when the client asked with DO or AD.
    pub security: Validation,
    /// An Extended DNS Error to attach: why a SERVFAIL is bogus (EDE 6–12), or why an insecure
    /// answer is insecure (EDE 1, 2, 27) when a fresh validation said so.
    pub ede: Option<Ede>,
}

impl Resolution {
    /// A SERVFAIL with nothing in it.
    pub fn servfail() -> Self {
        Self::error(ResponseCode::ServFail)
    }

    /// An empty answer with the given rcode.
    pub fn error(rcode: ResponseCode) -> Self {
        Self {
            rcode,
            answers: Vec::new(),
            authorities: Vec::new(),
            from_cache: false,
            stale: false,
            for_every_client: false,
            scope: 0,
            security: Validation::Unchecked,
            ede: None,
        }
    }
}

/// Anything that resolves questions for the front end: the [`Recursor`] in production, a simple
/// table in the front end's own unit tests.
pub trait Resolve: Send + Sync + 'static {
    /// Resolve one question. Never fails: failures are a SERVFAIL [`Resolution`], returned
    /// within the engine's time budget.
    fn resolve(&self, request: ResolveRequest) -> BoxFuture<'static, Resolution>;

    /// The fast path: a response body the front end rendered earlier for this (question, client
    /// subnet), if it may still answer at `now` (the front end reads the clock once per batch of
    /// datagrams). Counted as a cache hit. The default has none.
    fn wire_answer(
        &self,
        key: &WireKeyRef<'_>,
        now: tokio::time::Instant,
    ) -> Option<Arc<WireAnswer>> {
        let _ = (key, now);
        None
    }

    /// DNS64 (RFC 6147 §5.3.1): the IPv4 reverse name a PTR question for `name` is answered
    /// from, when DNS64 is on and `name` lies under its prefix. The front end checks it against
    /// its local zones, so that a private address's reverse name never goes upstream. The
    /// default: none.
    fn dns64_ptr_target(&self, name: &Name) -> Option<Name> {
        let _ = name;
        None
    }

    /// Whether answers depend on the client's DO, AD and CD bits (DNSSEC validation is on):
    /// then the fast path serves only queries without them. The default: no.
    fn validates(&self) -> bool {
        false
    }

    /// Offer the body the front end rendered for a resolution (not stale, NOERROR or NXDOMAIN),
    /// for [`wire_answer`](Self::wire_answer). The default keeps nothing.
    fn keep_wire_answer(&self, key: WireKey, answer: WireAnswer) {
        let _ = (key, answer);
    }
}
