//! The engine's user-space cost of one cache miss: a fresh name under a zone whose delegation is
//! already cached, resolved by `Recursor::resolve_request` through one upstream query.
//!
//! `cargo bench -p scoped-recursor --bench miss_path`
//!
//! The transport is an in-process authoritative that answers from byte templates (a few
//! hundred nanoseconds per reply), so the figure is the engine's own work: the cache walk, the
//! delegation and minimisation steps, building the query, checking and parsing the reply,
//! storing it, and assembling the answer — what a miss costs scoped beyond the sockets.
//! Variants: QNAME minimisation relaxed (the default) and off; a client with a subnet to an
//! allowlisted zone (the reply carries SCOPE 24, so the answer goes to the tailored cache).
//!
//! Time is the bench thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), not the wall clock: on a
//! two-core machine shared with compilers, wall time doubled from one run to the next while the
//! CPU a miss costs did not move. The runtime is single-threaded, so all of a miss's work is on
//! this thread.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::Criterion;
use criterion::measurement::{Measurement, ValueFormatter};
use futures::future::BoxFuture;
use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, NS};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use ipnet::IpNet;
use scoped_cache::{CacheConfig, RecordCache};
use scoped_ecs::{Allowlist, Direction, message_ecs};
use scoped_recursor::qmin::QminMode;
use scoped_recursor::{
    Question, Recursor, RecursorConfig, ResolveRequest, RootHint, Transport, TransportError,
    UpstreamQuery,
};

const ROOT: Ipv4Addr = Ipv4Addr::new(127, 60, 0, 1);
const ZONE_SERVER: Ipv4Addr = Ipv4Addr::new(127, 60, 0, 2);

/// `.` delegates `bench.` to `ns.bench.` (glue: [`ZONE_SERVER`]); `bench.` answers every name
/// under it with one A record, and echoes ECS with SCOPE 24.
struct Authority;

fn name(s: &str) -> Name {
    Name::from_ascii(s).expect("a name")
}

impl Authority {
    fn answer(query: &[u8], server: IpAddr) -> Vec<u8> {
        let parsed = Message::from_vec(query).expect("the engine's query parses");
        let q = parsed.queries[0].clone();
        let zone = name("bench.");
        if server == IpAddr::V4(ZONE_SERVER) && zone.zone_of(q.name()) && q.name() != &zone {
            return Self::fast_answer(query);
        }
        let mut reply = Message::new(parsed.metadata.id, MessageType::Response, OpCode::Query);
        reply.add_query(q.clone());
        reply.set_edns(parsed.edns.clone().unwrap_or_default());
        let ns = Record::from_rdata(zone.clone(), 86400, RData::NS(NS(name("ns.bench."))));
        let glue = Record::from_rdata(name("ns.bench."), 86400, RData::A(A(ZONE_SERVER)));
        if q.name().is_root() {
            reply.metadata.authoritative = true;
            let root_ns = Record::from_rdata(Name::root(), 86400, RData::NS(NS(name("a.root."))));
            reply.answers.push(root_ns);
            let a = Record::from_rdata(name("a.root."), 86400, RData::A(A(ROOT)));
            reply.additionals.push(a);
        } else if server == IpAddr::V4(ROOT) {
            reply.authorities.push(ns);
            reply.additionals.push(glue);
        } else {
            // `bench.` itself, or anything else asked of the zone's server: NODATA with a SOA.
            reply.metadata.authoritative = true;
            reply.metadata.response_code = ResponseCode::NoError;
            let soa = hickory_proto::rr::rdata::SOA::new(
                name("ns.bench."),
                name("hostmaster.bench."),
                1,
                3600,
                600,
                86400,
                300,
            );
            reply
                .authorities
                .push(Record::from_rdata(zone, 300, RData::SOA(soa)));
        }
        reply.to_vec().expect("a reply")
    }

    /// Header and question copied from the query, one A record by compression pointer, and an
    /// OPT echoing the query's ECS with SCOPE 24.
    fn fast_answer(query: &[u8]) -> Vec<u8> {
        let mut end = 12;
        while query[end] != 0 {
            end += 1 + usize::from(query[end]);
        }
        end += 5;
        let mut reply = Vec::with_capacity(end + 64);
        reply.extend_from_slice(&query[..end]);
        reply[2] = 0x84; // QR, AA
        reply[3] = 0;
        reply[6..12].copy_from_slice(&[0, 1, 0, 0, 0, 1]);
        reply.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 192, 0, 2, 1]);
        let ecs = message_ecs(query, Direction::Query).ok().flatten();
        let option = ecs.map(|e| e.with_scope(24.min(e.source())).option());
        let rdlen = option.as_ref().map_or(0, |o| o.len());
        reply.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0]);
        reply.extend_from_slice(&u16::try_from(rdlen).unwrap_or(0).to_be_bytes());
        if let Some(option) = option {
            reply.extend_from_slice(&option);
        }
        reply
    }
}

/// Replies at once, from [`Authority`].
struct Instant {
    queries: AtomicU64,
}

impl Transport for Instant {
    fn exchange(
        &self,
        query: UpstreamQuery,
    ) -> BoxFuture<'static, Result<Vec<u8>, TransportError>> {
        self.queries.fetch_add(1, Ordering::Relaxed);
        let reply = Authority::answer(&query.message, query.server.ip());
        Box::pin(async move { Ok(reply) })
    }
}

fn recursor(qmin: QminMode, allowlist: &str) -> (Recursor, Arc<Instant>) {
    let transport = Arc::new(Instant {
        queries: AtomicU64::new(0),
    });
    let config = RecursorConfig {
        root_hints: vec![RootHint {
            name: name("a.root."),
            addr: IpAddr::V4(ROOT),
        }],
        allow_loopback_servers: true,
        qname_minimisation: qmin,
        ecs_allowlist: Allowlist::parse(allowlist).expect("an allowlist"),
        selection_seed: Some(1),
        ..RecursorConfig::default()
    };
    let recursor = Recursor::new(
        config,
        RecordCache::new(CacheConfig::default()),
        transport.clone(),
    );
    (recursor, transport)
}

/// CPU time of the calling thread, as a criterion measurement.
struct ThreadCpu;

fn thread_cpu_ns() -> u64 {
    u64::try_from(cpu_time::ThreadTime::now().as_duration().as_nanos()).unwrap_or(u64::MAX)
}

impl Measurement for ThreadCpu {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, started: u64) -> u64 {
        thread_cpu_ns().saturating_sub(started)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &CpuNanos
    }
}

/// Formats nanoseconds of CPU as criterion formats wall time, marked "CPU".
struct CpuNanos;

impl ValueFormatter for CpuNanos {
    fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
        let (factor, unit) = if typical < 1e3 {
            (1.0, "ns CPU")
        } else if typical < 1e6 {
            (1e-3, "µs CPU")
        } else {
            (1e-6, "ms CPU")
        };
        values.iter_mut().for_each(|v| *v *= factor);
        unit
    }
    fn scale_throughputs(
        &self,
        _typical: f64,
        _throughput: &criterion::Throughput,
        _values: &mut [f64],
    ) -> &'static str {
        "n/a"
    }
    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns CPU"
    }
}

fn misses(c: &mut Criterion<ThreadCpu>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    let subnet: IpNet = "198.51.100.0/24".parse().expect("a subnet");
    let cases = [
        ("miss_qmin_relaxed", QminMode::Relaxed, "", None),
        ("miss_qmin_off", QminMode::Off, "", None),
        (
            "miss_ecs_scope24",
            QminMode::Relaxed,
            "bench.\n",
            Some(subnet),
        ),
    ];
    for (label, qmin, allowlist, subnet) in cases {
        let (recursor, transport) = recursor(qmin, allowlist);
        let mut i = 0u64;
        let mut ask = |recursor: &Recursor| {
            i += 1;
            let request = ResolveRequest {
                question: Question::new(name(&format!("m{i}.wild.bench.")), RecordType::A),
                client: IpAddr::V4(Ipv4Addr::LOCALHOST),
                client_subnet: subnet,
                checking_disabled: false,
                dnssec_ok: false,
            };
            let resolution = runtime.block_on(recursor.resolve_request(request));
            assert_eq!(resolution.answers.len(), 1, "{label}: {resolution:?}");
            resolution
        };
        // Priming, the referral and the minimisation steps happen here, once.
        ask(&recursor);
        ask(&recursor);
        let before = transport.queries.load(Ordering::Relaxed);
        c.bench_function(label, |b| b.iter(|| black_box(ask(&recursor))));
        let asked = transport.queries.load(Ordering::Relaxed) - before;
        eprintln!("{label}: {asked} upstream queries for {i} names after warm-up");
    }
}

fn main() {
    let mut criterion = Criterion::default()
        .with_measurement(ThreadCpu)
        .configure_from_args();
    misses(&mut criterion);
    criterion.final_summary();
}
