//! An ECS-aware authoritative server (RFC 7871 §7.2) for tests and the demo: [`EcsAuthority`].
//!
//! It runs as a server's custom [`Responder`](crate::Responder) on top of the zones the server
//! hosts. For every name in its table it picks an answer by the ADDRESS of the query's ECS option
//! (longest listed prefix containing it), falls back to a default answer for everyone else, and
//! echoes the option with FAMILY, SOURCE and ADDRESS as received and the SCOPE configured for the
//! name (§7.2.1). Names not in its table are answered from the zones, untailored. The same logic
//! serves UDP and TCP, in memory and on loopback.
//!
//! # How one query is answered
//!
//! 1. The query's ECS option is parsed strictly from the wire ([`scoped_ecs::message_ecs`]); a
//!    malformed one (host bits set, SCOPE ≠ 0, bad length or family) gets **FORMERR**, no records,
//!    no ECS in the reply (§6, E07).
//! 2. With [`reject_ecs`](EcsAuthority::reject_ecs) set and an ECS option present (any SOURCE,
//!    0 included), the reply is that RCODE, no records, no ECS (E13). Without ECS the query is
//!    answered normally.
//! 3. The answer, following CNAMEs inside the zone of the name (like the zone logic does):
//!    - a **tailored** name (one given to [`answer`](EcsAuthority::answer),
//!      [`nxdomain`](EcsAuthority::nxdomain), [`nodata`](EcsAuthority::nodata),
//!      [`default_answer`](EcsAuthority::default_answer) or [`scope`](EcsAuthority::scope)):
//!      the entry whose prefix contains the query's ECS ADDRESS, the longest such prefix first
//!      (earliest declared on a tie). An entry speaks for **every** type of its name for the
//!      clients it covers: the records of the asked type, else its CNAME, else NODATA. Negative
//!      answers carry the zone's SOA in authority. Clients in no listed prefix and queries
//!      without ECS get the [default answer](EcsAuthority::default_answer) when one is given,
//!      else the zone data for the name.
//!    - any other name: the zone logic ([`authoritative_response`]), untailored.
//! 4. The SCOPE (only when the query carried ECS): 0 for a SOURCE-0 query (no address, nothing to
//!    tailor by); else the largest scope of the tailored names the answer used — per entry
//!    ([`prefix_scope`](EcsAuthority::prefix_scope)), else per name and family
//!    ([`scope`](EcsAuthority::scope), [`scope_v6`](EcsAuthority::scope_v6)), else the
//!    authority's default (24 for IPv4, 56 for IPv6, [`default_scope`](EcsAuthority::default_scope));
//!    else, when no tailored name was used, [`untailored_scope`](EcsAuthority::untailored_scope)
//!    (default 0; set it non-zero to send a scope on referrals and static data, E16). A scope
//!    larger than the SOURCE is sent as configured (E15); scopes past the address length are
//!    capped at it (32 or 128).
//! 5. The echo, per [`Echo`]: correct by default, or omitted or wrong on purpose (E11, E12).
//!    A query without ECS never gets ECS back.
//!
//! The server's [`Behaviour`](crate::Behaviour) still applies around it (dead, drop, delay, a
//! forced RCODE, UDP truncation), except `lame`: the responder always answers.
//!
//! ```
//! use hickory_proto::rr::RecordType;
//! use scoped_recursor::Protocol;
//! use scoped_testkit::ecs::{EcsAuthority, make_ecs_query, reply_ecs};
//! use scoped_testkit::InternetBuilder;
//!
//! let mut b = InternetBuilder::new();
//! b.zone("cdn.example.", "@ 60 IN SOA ns h 1 2 3 4 60\n@ 60 IN NS ns\nns 60 IN A 127.53.9.1\nwww 60 IN A 192.0.2.100\n");
//! b.server("127.53.9.1".parse().unwrap(), &["cdn.example."]);
//! let internet = b.build().unwrap();
//!
//! let mut authority = EcsAuthority::new();
//! authority.answer("www.cdn.example.", "198.51.100.0/24", "A 192.0.2.81").scope("www.cdn.example.", 24);
//! let handle = authority.install(&internet.expect_server("127.53.9.1".parse().unwrap()));
//!
//! let query = make_ecs_query(7, "www.cdn.example.", RecordType::A, "198.51.100.0/24");
//! let reply = internet.respond("127.53.9.1".parse().unwrap(), &query, Protocol::Udp).unwrap();
//! assert_eq!(reply.answers[0].data.to_string(), "192.0.2.81");
//! let ecs = reply_ecs(&reply).unwrap();
//! assert_eq!((ecs.addr().to_string(), ecs.source(), ecs.scope()), ("198.51.100.0".into(), 24, 24));
//! # drop(handle);
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, PoisonError, RwLock};

use hickory_proto::op::{Edns, Message, OpCode, ResponseCode};
use hickory_proto::rr::rdata::opt::EdnsCode;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use scoped_ecs::{Direction, Ecs, Family, message_ecs};

use crate::authority::{authoritative_response, closest_zone, error_response, response_skeleton};
use crate::internet::{Internet, QueryInfo, QueryLogEntry, ResponderAction, ServerHandle};
use crate::zone::Zone;
use crate::{SERVER_UDP_PAYLOAD, make_query, name};

/// Longest CNAME chain followed inside one zone, as in the zone logic.
const MAX_CHAIN: usize = 16;

/// How an [`EcsAuthority`] echoes the query's ECS option in its replies (only ever when the query
/// carried one).
///
/// Every variant but `Correct` and `Omit` changes exactly one field of the option; the SCOPE is
/// the one that would have been sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Echo {
    /// FAMILY, SOURCE and ADDRESS as received, the chosen SCOPE (RFC 7871 §7.2.1).
    #[default]
    Correct,
    /// No ECS option in the reply (the OPT record stays): an authority that ignores ECS (E12).
    Omit,
    /// SOURCE one shorter (one longer when it was 0); ADDRESS as received, truncated to the new
    /// SOURCE, so it may be one octet shorter or longer on the wire (E11).
    WrongSource,
    /// ADDRESS with its last bit inside SOURCE flipped (`198.51.100.0/24` → `198.51.101.0/24`);
    /// FAMILY and SOURCE as received. A SOURCE-0 query has no address bits: its echo is correct
    /// (E11).
    WrongAddress,
    /// The other FAMILY with the same ADDRESS octets and SOURCE (`198.51.100.0/24` →
    /// FAMILY 2 `c633:6400::/24`). From IPv6 to IPv4 a SOURCE or SCOPE over 32 becomes 32 and the
    /// ADDRESS keeps its first four octets, so the option stays well formed (E11).
    WrongFamily,
}

/// Something [`EcsAuthority`] accepts as a client prefix: `"198.51.100.0/24"`, an [`IpNet`],
/// [`Ipv4Net`] or [`Ipv6Net`]. Bits past the length are cleared.
pub trait IntoPrefix {
    /// The prefix, truncated.
    ///
    /// # Panics
    ///
    /// On text that is not a prefix (fixtures are constant; a typo should fail loudly).
    fn into_prefix(self) -> IpNet;
}

impl IntoPrefix for &str {
    fn into_prefix(self) -> IpNet {
        match self.parse::<IpNet>() {
            Ok(net) => net.trunc(),
            Err(e) => panic!("bad client prefix {self:?}: {e}"),
        }
    }
}

impl IntoPrefix for IpNet {
    fn into_prefix(self) -> IpNet {
        self.trunc()
    }
}

impl IntoPrefix for Ipv4Net {
    fn into_prefix(self) -> IpNet {
        IpNet::V4(self.trunc())
    }
}

impl IntoPrefix for Ipv6Net {
    fn into_prefix(self) -> IpNet {
        IpNet::V6(self.trunc())
    }
}

/// What one table entry answers for the clients in its prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
enum EntryAnswer {
    /// These records (possibly none: NODATA for every type).
    Records(Vec<Record>),
    /// NXDOMAIN.
    NxDomain,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    prefix: IpNet,
    answer: EntryAnswer,
    scope: Option<u8>,
}

/// The table of one tailored name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct NameTable {
    entries: Vec<Entry>,
    /// Records for clients in no listed prefix and queries without ECS; empty: the zone data.
    default: Vec<Record>,
    scope_v4: Option<u8>,
    scope_v6: Option<u8>,
}

impl NameTable {
    /// The entry for a client address: the longest listed prefix containing it, first declared on
    /// a tie.
    fn entry_for(&self, addr: IpAddr) -> Option<&Entry> {
        let mut best: Option<&Entry> = None;
        for entry in self.entries.iter().filter(|e| e.prefix.contains(&addr)) {
            if best.is_none_or(|b| entry.prefix.prefix_len() > b.prefix.prefix_len()) {
                best = Some(entry);
            }
        }
        best
    }

    fn entry_mut(&mut self, prefix: IpNet) -> &mut Entry {
        let index = match self.entries.iter().position(|e| e.prefix == prefix) {
            Some(index) => index,
            None => {
                self.entries.push(Entry {
                    prefix,
                    answer: EntryAnswer::Records(Vec::new()),
                    scope: None,
                });
                self.entries.len() - 1
            }
        };
        &mut self.entries[index]
    }
}

/// An ECS-aware authoritative: per-name tables of client prefix → answer, the SCOPE to return,
/// and misbehaviour knobs. See the [module documentation](self) for how a query is answered.
///
/// Build it with the `&mut self` methods (like [`InternetBuilder`](crate::InternetBuilder)), then
/// [`install`](Self::install) it on a server; the returned [`EcsHandle`] changes it at runtime.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EcsAuthority {
    names: BTreeMap<Name, NameTable>,
    echo: Echo,
    reject_ecs: Option<ResponseCode>,
    default_scope_v4: u8,
    default_scope_v6: u8,
    untailored_scope: u8,
    ttl: u32,
}

impl Default for EcsAuthority {
    fn default() -> Self {
        Self::new()
    }
}

impl EcsAuthority {
    /// An empty table: correct echo, ECS accepted, default scopes 24 (IPv4) and 56 (IPv6),
    /// untailored scope 0, record TTL 300.
    pub fn new() -> Self {
        Self {
            names: BTreeMap::new(),
            echo: Echo::Correct,
            reject_ecs: None,
            default_scope_v4: 24,
            default_scope_v6: 56,
            untailored_scope: 0,
            ttl: 300,
        }
    }

    /// Clients whose ECS ADDRESS falls in `prefix` get this record for `name` (added to the
    /// entry's records; call again for more records or other types). `rdata` is zone-file text
    /// after the owner and class, with an optional TTL first: `"A 192.0.2.81"`,
    /// `"60 AAAA 2001:db8::81"`, `"CNAME tokyo.pop.example."` (names in RDATA are absolute).
    /// Replaces an earlier [`nxdomain`](Self::nxdomain) for the same prefix.
    ///
    /// # Panics
    ///
    /// On a bad name, prefix or record text.
    pub fn answer(&mut self, name: &str, prefix: impl IntoPrefix, rdata: &str) -> &mut Self {
        let record = self.record(name, rdata);
        let entry = self.table(name).entry_mut(prefix.into_prefix());
        match &mut entry.answer {
            EntryAnswer::Records(records) => records.push(record),
            answer @ EntryAnswer::NxDomain => *answer = EntryAnswer::Records(vec![record]),
        }
        self
    }

    /// Clients in `prefix` get NXDOMAIN for `name` (every type), the zone SOA in authority.
    pub fn nxdomain(&mut self, name: &str, prefix: impl IntoPrefix) -> &mut Self {
        self.table(name).entry_mut(prefix.into_prefix()).answer = EntryAnswer::NxDomain;
        self
    }

    /// Clients in `prefix` get NODATA for `name` (every type), the zone SOA in authority.
    pub fn nodata(&mut self, name: &str, prefix: impl IntoPrefix) -> &mut Self {
        self.table(name).entry_mut(prefix.into_prefix()).answer = EntryAnswer::Records(Vec::new());
        self
    }

    /// A record for clients in no listed prefix and for queries without ECS, instead of the zone
    /// data (same text as [`answer`](Self::answer); call again for more records).
    pub fn default_answer(&mut self, name: &str, rdata: &str) -> &mut Self {
        let record = self.record(name, rdata);
        self.table(name).default.push(record);
        self
    }

    /// The SCOPE for IPv4 clients asking about `name` (every entry and the default answer). Makes
    /// `name` tailored even without entries.
    pub fn scope(&mut self, name: &str, scope: u8) -> &mut Self {
        self.table(name).scope_v4 = Some(scope);
        self
    }

    /// The SCOPE for IPv6 clients asking about `name`.
    pub fn scope_v6(&mut self, name: &str, scope: u8) -> &mut Self {
        self.table(name).scope_v6 = Some(scope);
        self
    }

    /// The SCOPE for clients matching the `prefix` entry of `name`, overriding the name's.
    pub fn prefix_scope(&mut self, name: &str, prefix: impl IntoPrefix, scope: u8) -> &mut Self {
        self.table(name).entry_mut(prefix.into_prefix()).scope = Some(scope);
        self
    }

    /// The SCOPE of tailored names without their own: 24 and 56 unless set.
    pub fn default_scope(&mut self, v4: u8, v6: u8) -> &mut Self {
        self.default_scope_v4 = v4;
        self.default_scope_v6 = v6;
        self
    }

    /// The SCOPE of answers that used no tailored name (static data, referrals, errors): 0
    /// unless set.
    pub fn untailored_scope(&mut self, scope: u8) -> &mut Self {
        self.untailored_scope = scope;
        self
    }

    /// The TTL of records given without one (300 unless set; applies to later calls).
    pub fn ttl(&mut self, ttl: u32) -> &mut Self {
        self.ttl = ttl;
        self
    }

    /// How the ECS option is echoed.
    pub fn echo(&mut self, echo: Echo) -> &mut Self {
        self.echo = echo;
        self
    }

    /// Answer every query carrying ECS with this RCODE (REFUSED, FORMERR, …), and queries
    /// without ECS normally; `None` accepts ECS.
    pub fn reject_ecs(&mut self, rcode: Option<ResponseCode>) -> &mut Self {
        self.reject_ecs = rcode;
        self
    }

    /// The current echo mode.
    pub fn echo_mode(&self) -> Echo {
        self.echo
    }

    /// The RCODE ECS queries are rejected with, if any.
    pub fn rejects_ecs(&self) -> Option<ResponseCode> {
        self.reject_ecs
    }

    /// Is `name` tailored (in the table)?
    pub fn is_tailored(&self, qname: &str) -> bool {
        self.names.contains_key(&name(qname))
    }

    /// Put this authority on `server` as its responder; the handle changes it at runtime.
    pub fn install(self, server: &ServerHandle) -> EcsHandle {
        let handle = EcsHandle::new(self);
        handle.install(server);
        handle
    }

    /// The responder's decision for one query (what [`EcsHandle::install`] runs).
    pub fn respond(&self, query: &Message, info: &QueryInfo<'_>) -> ResponderAction {
        ResponderAction::Reply(self.response(info.zones, query, info.wire))
    }

    /// The reply to `query` (received as `wire`) from a server hosting `zones`.
    pub fn response(&self, zones: &[Arc<Zone>], query: &Message, wire: &[u8]) -> Message {
        let client = match message_ecs(wire, Direction::Query) {
            Ok(client) => client,
            Err(_) => return error_response(query, ResponseCode::FormErr),
        };
        if let (Some(rcode), Some(_)) = (self.reject_ecs, client) {
            return error_response(query, rcode);
        }
        let (mut response, tailored_scope) = self.answer_chain(zones, query, client.as_ref());
        if let Some(client) = client {
            let scope = if client.source() == 0 {
                0
            } else {
                tailored_scope.unwrap_or(self.untailored_scope)
            };
            if let Some(option) = echo_option(self.echo, &client, scope)
                && let Some(edns) = response.edns.as_mut()
            {
                edns.options_mut().insert(option.to_edns_option());
            }
        }
        response
    }

    fn table(&mut self, qname: &str) -> &mut NameTable {
        self.names.entry(name(qname)).or_default()
    }

    fn record(&self, owner: &str, rdata: &str) -> Record {
        let mut tokens = rdata.split_whitespace();
        let mut first = tokens.next().unwrap_or_default();
        let ttl = match first.parse::<u32>() {
            Ok(ttl) => {
                first = tokens.next().unwrap_or_default();
                ttl
            }
            Err(_) => self.ttl,
        };
        let rtype: RecordType = match first.to_ascii_uppercase().parse() {
            Ok(rtype) => rtype,
            Err(e) => panic!("bad record type in {rdata:?}: {e}"),
        };
        let rest: Vec<&str> = tokens.collect();
        match RData::try_from_str(rtype, &rest.join(" ")) {
            Ok(data) => Record::from_rdata(name(owner), ttl, data),
            Err(e) => panic!("bad record data {rdata:?}: {e}"),
        }
    }

    fn scope_of(&self, table: &NameTable, entry: Option<&Entry>, family: Family) -> u8 {
        let by_name = match family {
            Family::V4 => table.scope_v4.unwrap_or(self.default_scope_v4),
            Family::V6 => table.scope_v6.unwrap_or(self.default_scope_v6),
        };
        entry.and_then(|e| e.scope).unwrap_or(by_name)
    }

    /// The answer, following CNAMEs within the zone; the largest scope of the tailored names used.
    fn answer_chain(
        &self,
        zones: &[Arc<Zone>],
        query: &Message,
        client: Option<&Ecs>,
    ) -> (Message, Option<u8>) {
        let question = match query.queries.as_slice() {
            [q] if query.metadata.op_code == OpCode::Query && q.query_class() == DNSClass::IN => {
                q.clone()
            }
            _ => return (authoritative_response(zones, query), None),
        };
        let qtype = question.query_type();
        let mut response = response_skeleton(query);
        response.metadata.authoritative = true;
        let mut scope: Option<u8> = None;
        let mut current = question.name().clone();
        let mut seen: Vec<Name> = Vec::new();
        'chain: for step in 0..MAX_CHAIN {
            seen.push(current.clone());
            let mut records: Option<&[Record]> = None;
            if let Some(table) = self.names.get(&current) {
                let entry = client.and_then(|c| table.entry_for(c.addr()));
                if let Some(c) = client {
                    let link = self.scope_of(table, entry, c.family());
                    scope = Some(scope.map_or(link, |s| s.max(link)));
                }
                match entry.map(|e| &e.answer) {
                    Some(EntryAnswer::NxDomain) => {
                        response.metadata.response_code = ResponseCode::NXDomain;
                        add_soa(&mut response, zones, &current);
                        break 'chain;
                    }
                    Some(EntryAnswer::Records(rs)) => records = Some(rs),
                    None if !table.default.is_empty() => records = Some(&table.default),
                    None => {}
                }
            }
            if let Some(records) = records {
                let wanted: Vec<&Record> = records
                    .iter()
                    .filter(|r| qtype == RecordType::ANY || r.record_type() == qtype)
                    .collect();
                if !wanted.is_empty() {
                    response.add_answers(wanted.into_iter().cloned());
                    break 'chain;
                }
                let cname = records.iter().find_map(|r| match &r.data {
                    RData::CNAME(target) if qtype != RecordType::CNAME => Some((r, &target.0)),
                    _ => None,
                });
                let Some((record, target)) = cname else {
                    add_soa(&mut response, zones, &current);
                    break 'chain;
                };
                response.add_answer(record.clone());
                if seen.contains(target) || !same_zone(zones, &current, target) {
                    break 'chain;
                }
                current = target.clone();
                continue 'chain;
            }
            // The zone data for `current`, cut where a CNAME leads to a tailored name.
            let sub = authoritative_response(zones, &sub_query(query, &current, qtype));
            let referral = sub.answers.is_empty() && !sub.metadata.authoritative;
            if step > 0 && referral {
                break 'chain;
            }
            if step == 0 {
                response.metadata.authoritative = sub.metadata.authoritative;
            }
            for record in sub.answers {
                let cut = match &record.data {
                    RData::CNAME(target)
                        if self.names.contains_key(&target.0) && !seen.contains(&target.0) =>
                    {
                        Some(target.0.clone())
                    }
                    _ => None,
                };
                response.add_answer(record);
                if let Some(target) = cut {
                    current = target;
                    continue 'chain;
                }
            }
            response.metadata.response_code = sub.metadata.response_code;
            response.add_authorities(sub.authorities);
            response.add_additionals(sub.additionals);
            break 'chain;
        }
        (response, scope)
    }
}

/// A question for `qname`/`qtype` with the flags of `query`.
fn sub_query(query: &Message, qname: &Name, qtype: RecordType) -> Message {
    let mut sub = Message::query();
    sub.metadata.id = query.metadata.id;
    sub.add_query(hickory_proto::op::Query::query(qname.clone(), qtype));
    sub
}

fn add_soa(response: &mut Message, zones: &[Arc<Zone>], qname: &Name) {
    if let Some(soa) = closest_zone(zones, qname, RecordType::A).and_then(Zone::soa) {
        response.add_authority(soa.clone());
    }
}

/// Do `a` and `b` belong to the same hosted zone?
fn same_zone(zones: &[Arc<Zone>], a: &Name, b: &Name) -> bool {
    match (
        closest_zone(zones, a, RecordType::A),
        closest_zone(zones, b, RecordType::A),
    ) {
        (Some(za), Some(zb)) => za.origin() == zb.origin(),
        _ => false,
    }
}

/// The option to put in the reply, per the echo mode.
fn echo_option(echo: Echo, client: &Ecs, scope: u8) -> Option<Ecs> {
    let source = client.source();
    let rebuilt = |addr: IpAddr, source: u8| Ecs::new(addr, source, 0).ok();
    let ecs = match echo {
        Echo::Correct => Some(*client),
        Echo::Omit => None,
        Echo::WrongSource => {
            let wrong = if source == 0 { 1 } else { source - 1 };
            rebuilt(client.addr(), wrong)
        }
        Echo::WrongAddress if source == 0 => Some(*client),
        Echo::WrongAddress => {
            let flipped = match client.addr() {
                IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(
                    u32::from(a) ^ (1u32 << (32 - u32::from(source))),
                )),
                IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(
                    u128::from(a) ^ (1u128 << (128 - u32::from(source))),
                )),
            };
            rebuilt(flipped, source)
        }
        Echo::WrongFamily => match client.addr() {
            IpAddr::V4(a) => {
                let mut octets = [0u8; 16];
                octets[..4].copy_from_slice(&a.octets());
                rebuilt(IpAddr::V6(Ipv6Addr::from(octets)), source)
            }
            IpAddr::V6(a) => {
                let o = a.octets();
                rebuilt(
                    IpAddr::V4(Ipv4Addr::new(o[0], o[1], o[2], o[3])),
                    source.min(32),
                )
            }
        },
    };
    ecs.map(|e| e.with_scope(scope))
}

/// Runtime control of an installed [`EcsAuthority`]. Cheap to clone; every clone and every server
/// it is installed on share the same table and knobs.
#[derive(Clone)]
pub struct EcsHandle {
    inner: Arc<RwLock<EcsAuthority>>,
}

impl fmt::Debug for EcsHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("EcsHandle").field(&self.snapshot()).finish()
    }
}

impl EcsHandle {
    /// A handle on `authority`, not installed anywhere yet.
    pub fn new(authority: EcsAuthority) -> Self {
        Self {
            inner: Arc::new(RwLock::new(authority)),
        }
    }

    /// Make this authority the responder of `server` (too); replaces its responder.
    pub fn install(&self, server: &ServerHandle) {
        server.set_responder(self.responder());
    }

    /// The responder closure, for [`ServerHandle::set_responder`].
    pub fn responder(
        &self,
    ) -> impl Fn(&Message, &QueryInfo<'_>) -> ResponderAction + Send + Sync + 'static {
        let inner = self.inner.clone();
        move |query, info| {
            inner
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .respond(query, info)
        }
    }

    /// A copy of the authority as it is now.
    pub fn snapshot(&self) -> EcsAuthority {
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Change the authority in place (any builder method), e.g.
    /// `handle.update(|a| { a.answer("www.cdn.example.", "192.0.2.0/24", "A 192.0.2.9"); })`.
    pub fn update(&self, f: impl FnOnce(&mut EcsAuthority)) {
        f(&mut self.inner.write().unwrap_or_else(PoisonError::into_inner));
    }

    /// Set the echo mode.
    pub fn set_echo(&self, echo: Echo) {
        self.update(|a| {
            a.echo(echo);
        });
    }

    /// Reject ECS queries with `rcode` (`None`: accept them).
    pub fn set_reject_ecs(&self, rcode: Option<ResponseCode>) {
        self.update(|a| {
            a.reject_ecs(rcode);
        });
    }

    /// Set the IPv4 SCOPE of `name`.
    pub fn set_scope(&self, name: &str, scope: u8) {
        self.update(|a| {
            a.scope(name, scope);
        });
    }

    /// Set the IPv6 SCOPE of `name`.
    pub fn set_scope_v6(&self, name: &str, scope: u8) {
        self.update(|a| {
            a.scope_v6(name, scope);
        });
    }
}

/// A query as a resolver sends it upstream with ECS: [`make_query`] with EDNS payload
/// [`SERVER_UDP_PAYLOAD`] and the ECS option of `subnet` (truncated, SCOPE 0).
pub fn make_ecs_query(id: u16, qname: &str, qtype: RecordType, subnet: impl IntoPrefix) -> Message {
    let mut query = make_query(id, qname, qtype, Some(SERVER_UDP_PAYLOAD));
    let option = Ecs::for_query(subnet.into_prefix()).to_edns_option();
    query
        .edns
        .get_or_insert_with(Edns::new)
        .options_mut()
        .insert(option);
    query
}

/// The ECS option of a reply, strictly parsed from its wire form (`None`: no OPT, no ECS, or a
/// malformed option).
pub fn reply_ecs(reply: &Message) -> Option<Ecs> {
    let wire = reply.to_vec().ok()?;
    message_ecs(&wire, Direction::Response).ok().flatten()
}

/// The ECS option payload of a message exactly as hickory carries it (FAMILY, SOURCE, SCOPE,
/// ADDRESS octets), for byte-level comparisons; `None` without one.
pub fn ecs_payload(message: &Message) -> Option<Vec<u8>> {
    let option = message.edns.as_ref()?.option(EdnsCode::Subnet)?;
    Vec::<u8>::try_from(option).ok()
}

impl QueryLogEntry {
    /// The ECS option the query carried, strictly parsed (`None`: none, or malformed).
    pub fn ecs(&self) -> Option<Ecs> {
        message_ecs(&self.wire, Direction::Query).ok().flatten()
    }
}

impl Internet {
    /// Every logged query that carried an ECS option (well formed or not), in arrival order.
    pub fn queries_with_ecs(&self) -> Vec<QueryLogEntry> {
        self.query_log()
            .into_iter()
            .filter(|e| e.ecs().is_some() || e.client_subnet().is_some())
            .collect()
    }

    /// For each query the server at `server` received, in order: its question name and the ECS
    /// option it carried (address, SOURCE, SCOPE), if any.
    pub fn ecs_sent_to(&self, server: IpAddr) -> Vec<(Name, Option<Ecs>)> {
        self.queries_to(server)
            .into_iter()
            .map(|e| {
                let ecs = e.ecs();
                (e.qname, ecs)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
