//! The front end's tests: one binary, one fake engine, shared helpers.

mod chaos_tests;
mod dnssec_tests;
mod doh_tests;
mod dot_tests;
mod ecs_tests;
mod fast_path_tests;
mod guard_tests;
mod local_tests;
mod malformed_tests;
mod metrics_tests;
mod parse_props;
mod pipeline_tests;
mod proxy_tests;
mod reason_tests;
mod rules_tests;
mod socket_tests;
pub(crate) mod tls_support;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::opt::EdnsOption;
use hickory_proto::rr::rdata::{A, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use scoped_recursor::{
    Resolution, Resolve, ResolveRequest, WireAnswer, WireCache, WireKey, WireKeyRef,
};

use crate::{Pipeline, ServerConfig, Transport};

/// The front end's test double for the engine: a table from (lowercased name, type) to a
/// resolution and a delay. Anything not in the table is NXDOMAIN with an SOA.
#[derive(Default)]
pub(crate) struct FakeResolver {
    table: HashMap<(String, RecordType), (Resolution, Duration)>,
    seen: Mutex<Vec<ResolveRequest>>,
    /// The fast path's answer cache, when a test turns it on (each answer kept for its
    /// smallest TTL).
    wire: Option<WireCache>,
    /// Whether the NXDOMAIN for names not in the table comes from the cache.
    unknown_from_cache: bool,
    /// Whether it says it validates DNSSEC ([`Resolve::validates`]).
    validating: bool,
}

impl FakeResolver {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Answers `name`/`qtype` with `count` A records (192.0.2.0, .1, ...).
    pub(crate) fn with_a(self, name: &str, qtype: RecordType, count: u16) -> Self {
        let owner = name_of(name);
        let answers = (0..count)
            .map(|i| {
                let [high, low] = i.to_be_bytes();
                let ip = Ipv4Addr::new(192, 0, high, low);
                Record::from_rdata(owner.clone(), 300, RData::A(A(ip)))
            })
            .collect();
        self.with(
            name,
            qtype,
            Resolution {
                answers,
                ..Resolution::error(ResponseCode::NoError)
            },
        )
    }

    pub(crate) fn with(mut self, name: &str, qtype: RecordType, resolution: Resolution) -> Self {
        self.table.insert(
            (name.to_ascii_lowercase(), qtype),
            (resolution, Duration::ZERO),
        );
        self
    }

    /// Makes the answer for `name`/`qtype` carry ECS `scope` and come from the cache or not.
    pub(crate) fn scoped(
        mut self,
        name: &str,
        qtype: RecordType,
        scope: u8,
        from_cache: bool,
    ) -> Self {
        if let Some(entry) = self.table.get_mut(&(name.to_ascii_lowercase(), qtype)) {
            entry.0.scope = scope;
            entry.0.from_cache = from_cache;
        }
        self
    }

    /// Marks the answer for `name`/`qtype` as the same for every client subnet.
    pub(crate) fn for_every_client(mut self, name: &str, qtype: RecordType) -> Self {
        if let Some(entry) = self.table.get_mut(&(name.to_ascii_lowercase(), qtype)) {
            entry.0.for_every_client = true;
        }
        self
    }

    /// Makes the answer for `name`/`qtype` arrive after `delay`.
    pub(crate) fn delayed(mut self, name: &str, qtype: RecordType, delay: Duration) -> Self {
        if let Some(entry) = self.table.get_mut(&(name.to_ascii_lowercase(), qtype)) {
            entry.1 = delay;
        }
        self
    }

    /// Keeps what the front end renders, so repeated questions take the fast path. The answers
    /// given so far (and the NXDOMAIN for names not in the table) are marked as coming from the
    /// engine's caches: the front end renders only those (an answer asked for once is not kept
    /// for replay). `scoped(.., false)` afterwards makes one an upstream answer again.
    pub(crate) fn with_wire_cache(mut self) -> Self {
        self.wire = Some(WireCache::new(1 << 20));
        for (resolution, _) in self.table.values_mut() {
            resolution.from_cache = true;
        }
        self.unknown_from_cache = true;
        self
    }

    /// Says it validates DNSSEC: answers then depend on DO, AD and CD.
    pub(crate) fn validating(mut self) -> Self {
        self.validating = true;
        self
    }

    /// Every request the engine was asked, in order.
    pub(crate) fn seen(&self) -> Vec<ResolveRequest> {
        self.seen.lock().expect("lock").clone()
    }
}

impl Resolve for FakeResolver {
    fn resolve(&self, request: ResolveRequest) -> BoxFuture<'static, Resolution> {
        let key = (
            request.question.name.to_lowercase().to_ascii(),
            request.question.qtype,
        );
        self.seen.lock().expect("lock").push(request);
        let (resolution, delay) = self.table.get(&key).cloned().unwrap_or_else(|| {
            let soa = SOA::new(
                name_of("ns.example."),
                name_of("host.example."),
                1,
                3600,
                600,
                86400,
                300,
            );
            let soa = Record::from_rdata(name_of("example."), 300, RData::SOA(soa));
            (
                Resolution {
                    authorities: vec![soa],
                    from_cache: self.unknown_from_cache,
                    ..Resolution::error(ResponseCode::NXDomain)
                },
                Duration::ZERO,
            )
        });
        Box::pin(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            resolution
        })
    }

    fn validates(&self) -> bool {
        self.validating
    }

    fn wire_answer(
        &self,
        key: &WireKeyRef<'_>,
        now: tokio::time::Instant,
    ) -> Option<Arc<WireAnswer>> {
        self.wire.as_ref()?.lookup(key, now)
    }

    fn keep_wire_answer(&self, key: WireKey, answer: WireAnswer) {
        if let (Some(wire), Some(ttl)) = (&self.wire, answer.min_ttl()) {
            let lifetime = Duration::from_secs(u64::from(ttl));
            wire.insert(key, answer, tokio::time::Instant::now(), lifetime);
        }
    }
}

pub(crate) fn name_of(name: &str) -> Name {
    Name::from_ascii(name).expect("test name")
}

/// A standard query with RD set.
pub(crate) fn query(id: u16, name: &str, qtype: RecordType) -> Message {
    let mut message = Message::new(id, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(name_of(name), qtype));
    message
}

/// `message` with an OPT record.
pub(crate) fn with_edns(
    mut message: Message,
    payload: u16,
    version: u8,
    dnssec_ok: bool,
) -> Message {
    let mut edns = Edns::new();
    edns.set_max_payload(payload)
        .set_version(version)
        .set_dnssec_ok(dnssec_ok);
    message.set_edns(edns);
    message
}

pub(crate) fn wire(message: &Message) -> Vec<u8> {
    message.to_vec().expect("test message serialises")
}

pub(crate) const CLIENT: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 40_000);

pub(crate) fn pipeline(resolver: Arc<FakeResolver>, config: &ServerConfig) -> Pipeline {
    Pipeline::new(config, resolver, Arc::default())
}

/// Runs `wire` through a pipeline and parses the response.
pub(crate) async fn ask(pipeline: &Pipeline, wire: &[u8], transport: Transport) -> Option<Message> {
    let response = pipeline.handle(wire, CLIENT, transport).await?;
    Some(Message::from_vec(&response).expect("our response parses"))
}

/// `message` with an OPT record (payload 1232, version 0) carrying `options`, in order.
pub(crate) fn with_options(message: Message, options: Vec<EdnsOption>) -> Message {
    let mut message = with_edns(message, 1232, 0, false);
    if let Some(edns) = message.edns.as_mut() {
        for option in options {
            edns.options_mut().insert(option);
        }
    }
    message
}

/// An ECS option with exactly these payload bytes (FAMILY, SOURCE, SCOPE, ADDRESS), serialised
/// by hickory as they are, however wrong.
pub(crate) fn raw_ecs(payload: &[u8]) -> EdnsOption {
    EdnsOption::Unknown(scoped_ecs::ECS_OPTION_CODE, payload.to_vec())
}
