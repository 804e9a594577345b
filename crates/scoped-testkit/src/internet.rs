//! The simulated internet: servers, their behaviour, the query log.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use hickory_proto::op::{Header, Message, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsCode, EdnsOption};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};
use scoped_recursor::Protocol;
use tokio::time::Instant;

use crate::authority::{
    SERVER_UDP_PAYLOAD, add_apex_ns, authoritative_response, error_response, is_empty_non_terminal,
    is_query, upward_referral,
};
use crate::queue::ServiceQueue;
use crate::zone::{Zone, ZoneError};

mod builder;
mod handle;

pub use builder::{BuildError, InternetBuilder};
pub use handle::ServerHandle;

/// The TTL used for root hints (named.root uses 3600000).
pub const ROOT_HINTS_TTL: u32 = 3_600_000;

/// How one server behaves; settable at runtime through [`ServerHandle`].
///
/// The checks apply in this order: `dead`, `drop_next`, then a malformed query gets FORMERR,
/// then `rcode`, then the custom responder, then `lame`, then the zone data (with
/// `nxdomain_for_empty_non_terminals`); `truncate_udp` and the UDP size limit apply to whatever
/// reply results.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Behaviour {
    /// Simulated **round-trip** time: the reply reaches the querier `delay` after the query was
    /// sent (in memory), or is sent `delay` after the query was received (loopback). A delay
    /// greater than or equal to the querier's timeout is a timeout, at exactly the timeout.
    pub delay: Duration,
    /// Never answers (queries are still logged, with `answered: false`).
    pub dead: bool,
    /// Drop this many of the next queries (then answer normally); decremented per query.
    pub drop_next: u32,
    /// Answer every query with this RCODE and no records (e.g. SERVFAIL, REFUSED): a broken or
    /// lame server.
    pub rcode: Option<ResponseCode>,
    /// Lame: instead of its data, answer with a non-authoritative upward referral to the root
    /// servers of this internet (an empty non-authoritative NOERROR when there are none).
    pub lame: bool,
    /// Over UDP, answer with TC=1 and no records; TCP gets the full answer.
    pub truncate_udp: bool,
    /// Answer NXDOMAIN instead of NOERROR/NODATA for an empty non-terminal of its zones, as some
    /// broken servers do (RFC 8020 §2, RFC 9156 §3): the case QNAME minimisation must survive.
    pub nxdomain_for_empty_non_terminals: bool,
    /// Put the zone's own NS RRset in the authority section of every positive answer (and the
    /// addresses of its in-zone targets in additional), as servers without minimal responses
    /// do: how a resolver learns the child's view of the delegation (RFC 2181 §5.4.1).
    pub authority_ns: bool,
    /// A recursive forwarder, not an authoritative: a query with RD=1 is answered from every
    /// zone it holds (the closest enclosing one, as if it had resolved the name and cached the
    /// answer) with AA clear and RA set; a query with RD=0 gets REFUSED, as a resolver that
    /// serves only recursive clients answers it. What a forward zone points at.
    pub recursive: bool,
    /// Answer DNS cookies (RFC 7873): a query's client cookie comes back with a server cookie
    /// of 16 bytes made from the client cookie and the server's address
    /// ([`server_cookie_for`]). Not for a custom responder's raw datagrams.
    pub cookies: bool,
}

/// The server cookie a testkit server with [`Behaviour::cookies`] gives `client_cookie`.
pub fn server_cookie_for(server: IpAddr, client_cookie: &[u8]) -> [u8; 16] {
    let octets = match server.to_canonical() {
        IpAddr::V4(ip) => ip.octets().repeat(4),
        IpAddr::V6(ip) => ip.octets().to_vec(),
    };
    std::array::from_fn(|i| octets[i] ^ client_cookie.get(i % 8).copied().unwrap_or(0) ^ 0x5a)
}

/// `response` with a COOKIE option answering the one `query` carried, if both have an OPT.
fn answer_cookie(mut response: Message, query: &Message, server: IpAddr) -> Message {
    const COOKIE: u16 = 10;
    let client = query
        .edns
        .as_ref()
        .and_then(|edns| match edns.option(EdnsCode::Cookie) {
            Some(EdnsOption::Unknown(COOKIE, data)) if data.len() >= 8 => Some(data[..8].to_vec()),
            _ => None,
        });
    if let (Some(client), Some(edns)) = (client, response.edns.as_mut()) {
        let mut data = client.clone();
        data.extend_from_slice(&server_cookie_for(server, &client));
        edns.options_mut().insert(EdnsOption::Unknown(COOKIE, data));
    }
    response
}

/// What a custom responder decides for one query.
#[derive(Clone, Debug)]
pub enum ResponderAction {
    /// Fall through to the behaviour flags and zone logic as if there were no responder.
    Continue,
    /// Send this reply (the UDP size limit and `truncate_udp` still apply).
    Reply(Message),
    /// Send these raw datagrams (or TCP messages) in order, untouched: forged, malformed or
    /// duplicate replies. The in-memory transport returns the first one that `reply_matches`
    /// (UDP) or the first one (TCP), like the real network transport.
    Raw(Vec<Vec<u8>>),
    /// Send nothing.
    Drop,
}

/// A per-server hook consulted before the behaviour flags `lame` and the zone logic.
pub type Responder = Arc<dyn Fn(&Message, &QueryInfo<'_>) -> ResponderAction + Send + Sync>;

/// What a custom responder knows about a query besides the parsed message.
#[derive(Debug)]
pub struct QueryInfo<'a> {
    /// The server's address (with the internet's port).
    pub server: SocketAddr,
    /// Where the query came from.
    pub source: SocketAddr,
    /// UDP or TCP.
    pub protocol: Protocol,
    /// The query exactly as received.
    pub wire: &'a [u8],
    /// When it was received (tokio time).
    pub received_at: Instant,
    /// The zones this server hosts.
    pub zones: &'a [Arc<Zone>],
}

impl QueryInfo<'_> {
    /// What the zone logic would answer: build on it for per-subnet answers.
    pub fn zone_response(&self, query: &Message) -> Message {
        authoritative_response(self.zones, query)
    }
}

/// One query some server received.
#[derive(Clone, Debug)]
pub struct QueryLogEntry {
    /// When it arrived (tokio time: virtual in paused tests).
    pub at: Instant,
    /// The server it was sent to.
    pub server: SocketAddr,
    /// Where it came from.
    pub source: SocketAddr,
    /// UDP or TCP.
    pub protocol: Protocol,
    /// The question name (the root name when the question could not be read).
    pub qname: Name,
    /// The question type (`Unknown(0)` when the question could not be read).
    pub qtype: RecordType,
    /// The query as received.
    pub wire: Vec<u8>,
    /// Whether the server sent (or scheduled) a reply.
    pub answered: bool,
}

impl QueryLogEntry {
    /// The query parsed in full (`None` when hickory rejects it, e.g. a malformed ECS option).
    pub fn message(&self) -> Option<Message> {
        Message::from_vec(&self.wire).ok()
    }

    /// The EDNS client-subnet option the query carried, if any.
    pub fn client_subnet(&self) -> Option<ClientSubnet> {
        match self.message()?.edns?.option(EdnsCode::Subnet)? {
            EdnsOption::Subnet(subnet) => Some(*subnet),
            _ => None,
        }
    }

    /// Did the query carry an EDNS OPT record?
    pub fn has_edns(&self) -> bool {
        self.message().is_some_and(|m| m.edns.is_some())
    }
}

/// A simulated DNS internet: authoritative servers by address, a shared query log. Cheap to
/// clone (an `Arc` inside); every clone sees the same servers, behaviours and log.
///
/// It implements [`scoped_recursor::Transport`] in memory (see [`crate::memory`]) and can be put
/// on loopback sockets with [`Internet::serve_on_loopback`].
#[derive(Clone)]
pub struct Internet {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for Internet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut servers: Vec<_> = self.inner.servers.keys().collect();
        servers.sort();
        f.debug_struct("Internet")
            .field("port", &self.inner.port)
            .field("servers", &servers)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    pub(crate) port: u16,
    pub(crate) servers: HashMap<IpAddr, Arc<ServerState>>,
    root_hints: Vec<(Name, Vec<Record>)>,
    log: Mutex<Vec<QueryLogEntry>>,
    next_source_port: AtomicU16,
}

pub(crate) struct ServerState {
    pub(crate) addr: IpAddr,
    zones: RwLock<Vec<Arc<Zone>>>,
    behaviour: Mutex<Behaviour>,
    responder: Mutex<Option<Responder>>,
    /// The process's queue, when it answers one query at a time.
    queue: Mutex<Option<ServiceQueue>>,
}

/// Lock a mutex, ignoring poisoning (a panicking test thread must not cascade).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What a server does with one query.
pub(crate) struct Handled {
    /// Replies to send, in order; empty = no reply.
    pub(crate) replies: Vec<Vec<u8>>,
    /// The round-trip delay to apply.
    pub(crate) delay: Duration,
}

impl Internet {
    /// Start declaring an internet.
    pub fn builder() -> InternetBuilder {
        InternetBuilder::new()
    }

    /// The port the servers listen on in memory.
    pub fn port(&self) -> u16 {
        self.inner.port
    }

    /// Every server address, sorted.
    pub fn server_addrs(&self) -> Vec<IpAddr> {
        let mut addrs: Vec<IpAddr> = self.inner.servers.keys().copied().collect();
        addrs.sort();
        addrs
    }

    /// The handle of the server at `addr`.
    pub fn server(&self, addr: IpAddr) -> Option<ServerHandle> {
        self.inner.servers.get(&addr).map(|state| ServerHandle {
            state: state.clone(),
        })
    }

    /// Like [`server`](Self::server), panicking with the address when there is none (for tests).
    pub fn expect_server(&self, addr: IpAddr) -> ServerHandle {
        match self.server(addr) {
            Some(handle) => handle,
            None => panic!("no server at {addr} in this internet"),
        }
    }

    /// The root servers: (NS name, address) for every address record of every apex NS target of
    /// the hosted root zone, in NS order.
    pub fn root_hints(&self) -> Vec<(Name, IpAddr)> {
        self.inner
            .root_hints
            .iter()
            .flat_map(|(name, records)| {
                records.iter().filter_map(move |r| match &r.data {
                    RData::A(a) => Some((name.clone(), IpAddr::V4(a.0))),
                    RData::AAAA(aaaa) => Some((name.clone(), IpAddr::V6(aaaa.0))),
                    _ => None,
                })
            })
            .collect()
    }

    /// An engine configuration that resolves through this internet: its root hints, its port,
    /// loopback nameservers allowed; everything else the defaults. Tests adjust the rest.
    pub fn recursor_config(&self) -> scoped_recursor::RecursorConfig {
        scoped_recursor::RecursorConfig {
            root_hints: self
                .root_hints()
                .into_iter()
                .map(|(name, addr)| scoped_recursor::RootHint { name, addr })
                .collect(),
            allow_loopback_servers: true,
            upstream_port: self.port(),
            ..scoped_recursor::RecursorConfig::default()
        }
    }

    /// The root hints in named.root format, e.g.
    /// `.  3600000 NS a.root.test.` then `a.root.test.  3600000 A 127.53.0.1`.
    pub fn root_hints_text(&self) -> String {
        let mut text = String::from("; root hints of the scoped-testkit internet\n");
        for (name, _) in &self.inner.root_hints {
            text.push_str(&format!(
                ".                        {ROOT_HINTS_TTL} NS {name}\n"
            ));
        }
        for (name, addr) in self.root_hints() {
            let rtype = if addr.is_ipv4() { "A" } else { "AAAA" };
            text.push_str(&format!("{name:<24} {ROOT_HINTS_TTL} {rtype:<4} {addr}\n"));
        }
        text
    }

    /// Every query any server received, in arrival order.
    pub fn query_log(&self) -> Vec<QueryLogEntry> {
        lock(&self.inner.log).clone()
    }

    /// The queries the server at `addr` received.
    pub fn queries_to(&self, addr: IpAddr) -> Vec<QueryLogEntry> {
        lock(&self.inner.log)
            .iter()
            .filter(|e| e.server.ip() == addr)
            .cloned()
            .collect()
    }

    /// How many queries the server at `addr` received.
    pub fn query_count(&self, addr: IpAddr) -> usize {
        lock(&self.inner.log)
            .iter()
            .filter(|e| e.server.ip() == addr)
            .count()
    }

    /// How many queries all servers received.
    pub fn total_queries(&self) -> usize {
        lock(&self.inner.log).len()
    }

    /// Forget the log.
    pub fn clear_query_log(&self) {
        lock(&self.inner.log).clear();
    }

    /// Ask the server at `server` directly, without a transport or delay: the reply it would
    /// send over `protocol` (parsed), or `None` when it would not answer (dead, dropped, unknown
    /// address, unparsable raw reply). The query is logged like any other, from 127.0.0.1.
    pub fn respond(&self, server: IpAddr, query: &Message, protocol: Protocol) -> Option<Message> {
        let state = self.inner.servers.get(&server)?.clone();
        let addr = SocketAddr::new(server, self.inner.port);
        let wire = query.to_vec().ok()?;
        let source = self.next_source(addr);
        let handled = self.handle(&state, addr, &wire, source, protocol);
        handled
            .replies
            .first()
            .and_then(|r| Message::from_vec(r).ok())
    }

    /// Replace (or add) `zone` on every server hosting a zone with the same origin; returns how
    /// many servers changed. Lets a test change data under a resolver's cache.
    pub fn replace_zone(&self, zone: Zone) -> usize {
        let zone = Arc::new(zone);
        let mut changed = 0;
        for server in self.inner.servers.values() {
            let mut zones = server
                .zones
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for slot in zones.iter_mut() {
                if slot.origin() == zone.origin() {
                    *slot = zone.clone();
                    changed += 1;
                }
            }
        }
        changed
    }

    pub(crate) fn next_source(&self, server: SocketAddr) -> SocketAddr {
        let port = self.inner.next_source_port.fetch_add(1, Ordering::Relaxed);
        let port = 1024 + port % (u16::MAX - 1024);
        let ip = match server {
            SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        };
        SocketAddr::new(ip, port)
    }

    /// Run the server at `server` on one received query: log it, apply the behaviour, answer.
    pub(crate) fn handle(
        &self,
        state: &ServerState,
        server: SocketAddr,
        wire: &[u8],
        source: SocketAddr,
        protocol: Protocol,
    ) -> Handled {
        let now = Instant::now();
        let mut handled = self.decide(state, server, wire, source, protocol, now);
        if !handled.replies.is_empty()
            && let Some(queue) = lock(&state.queue).as_ref()
        {
            handled.delay += queue.admit(now);
        }
        let (qname, qtype) = read_question(wire);
        lock(&self.inner.log).push(QueryLogEntry {
            at: now,
            server,
            source,
            protocol,
            qname,
            qtype,
            wire: wire.to_vec(),
            answered: !handled.replies.is_empty(),
        });
        handled
    }

    fn decide(
        &self,
        state: &ServerState,
        server: SocketAddr,
        wire: &[u8],
        source: SocketAddr,
        protocol: Protocol,
        now: Instant,
    ) -> Handled {
        let behaviour = {
            let mut b = lock(&state.behaviour);
            let snapshot = b.clone();
            if !b.dead && b.drop_next > 0 {
                b.drop_next -= 1;
            }
            snapshot
        };
        let mut handled = Handled {
            replies: Vec::new(),
            delay: behaviour.delay,
        };
        if behaviour.dead || behaviour.drop_next > 0 {
            return handled;
        }
        let query = match Message::from_vec(wire) {
            Ok(query) => query,
            Err(_) => {
                handled.replies.extend(formerr_for(wire));
                return handled;
            }
        };
        if !is_query(&query) {
            return handled;
        }
        let response = match behaviour.rcode {
            Some(rcode) => error_response(&query, rcode),
            None => {
                let responder = lock(&state.responder).clone();
                let zones = state
                    .zones
                    .read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let action = match &responder {
                    Some(responder) => {
                        let info = QueryInfo {
                            server,
                            source,
                            protocol,
                            wire,
                            received_at: now,
                            zones: &zones,
                        };
                        responder(&query, &info)
                    }
                    None => ResponderAction::Continue,
                };
                match action {
                    ResponderAction::Drop => return handled,
                    ResponderAction::Raw(datagrams) => {
                        handled.replies = datagrams;
                        return handled;
                    }
                    ResponderAction::Reply(reply) => reply,
                    ResponderAction::Continue if behaviour.lame => {
                        upward_referral(&query, &self.inner.root_hints)
                    }
                    ResponderAction::Continue if behaviour.recursive => {
                        recursive_response(&zones, &query)
                    }
                    ResponderAction::Continue => {
                        let mut response = authoritative_response(&zones, &query);
                        if behaviour.nxdomain_for_empty_non_terminals
                            && let [question] = query.queries.as_slice()
                            && is_empty_non_terminal(&zones, question.name(), question.query_type())
                        {
                            response.metadata.response_code = ResponseCode::NXDomain;
                        }
                        if behaviour.authority_ns {
                            add_apex_ns(&zones, &mut response);
                        }
                        response
                    }
                }
            }
        };
        let response = if behaviour.cookies {
            answer_cookie(response, &query, server.ip())
        } else {
            response
        };
        let response = if protocol == Protocol::Udp && behaviour.truncate_udp {
            truncated(&response)
        } else {
            response
        };
        let Ok(mut bytes) = response.to_vec() else {
            tracing::warn!(%server, "testkit: could not serialise a response; dropping");
            return handled;
        };
        if protocol == Protocol::Udp && bytes.len() > udp_limit(&query) {
            match truncated(&response).to_vec() {
                Ok(t) => bytes = t,
                Err(_) => return handled,
            }
        }
        if protocol == Protocol::Tcp && bytes.len() > usize::from(u16::MAX) {
            return handled;
        }
        handled.replies.push(bytes);
        handled
    }
}

/// A recursive forwarder's reply (see [`Behaviour::recursive`]): the zone data without AA and
/// with RA, or REFUSED to a query without RD.
fn recursive_response(zones: &[Arc<Zone>], query: &Message) -> Message {
    if !query.metadata.recursion_desired {
        let mut refused = error_response(query, ResponseCode::Refused);
        refused.metadata.recursion_available = true;
        return refused;
    }
    let mut response = authoritative_response(zones, query);
    response.metadata.authoritative = false;
    response.metadata.recursion_available = true;
    response
}

/// The largest UDP reply this query allows: 512 without EDNS, else its payload capped at ours.
fn udp_limit(query: &Message) -> usize {
    match &query.edns {
        None => 512,
        Some(edns) => usize::from(edns.max_payload().clamp(512, SERVER_UDP_PAYLOAD)),
    }
}

/// TC=1, question and OPT kept, every record dropped.
fn truncated(response: &Message) -> Message {
    let mut t = response.truncate();
    t.metadata.truncation = true;
    t
}

/// A FORMERR for a query hickory could not parse, when at least its header is readable.
fn formerr_for(wire: &[u8]) -> Option<Vec<u8>> {
    let mut decoder = BinDecoder::new(wire);
    let header = Header::read(&mut decoder).ok()?;
    if header.metadata.message_type != hickory_proto::op::MessageType::Query {
        return None;
    }
    let mut response = Message::error_msg(header.metadata.id, OpCode::Query, ResponseCode::FormErr);
    if header.counts.queries == 1
        && let Ok(q) = Query::read(&mut decoder)
    {
        response.add_query(q);
    }
    response.to_vec().ok()
}

fn read_question(wire: &[u8]) -> (Name, RecordType) {
    let mut decoder = BinDecoder::new(wire);
    let question = Header::read(&mut decoder)
        .ok()
        .filter(|h| h.counts.queries >= 1)
        .and_then(|_| Query::read(&mut decoder).ok());
    match question {
        Some(q) => (q.name().clone(), q.query_type()),
        None => (Name::root(), RecordType::Unknown(0)),
    }
}
