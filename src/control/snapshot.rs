//! What the control endpoint reports: a snapshot of every counter and cache size, as the
//! `/stats` JSON document and as Prometheus/OpenMetrics metrics (`/metrics`).

use super::*;

/// One counter, its help text and its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counter {
    /// Its name, unique within its group (`queries_udp`).
    pub name: &'static str,
    /// One line for operators (Prometheus HELP).
    pub help: &'static str,
    /// The count since start.
    pub value: u64,
}

/// Size of one cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheSize {
    /// Entries held (for the tailored cache: answers, scope-0 and tailored).
    pub entries: u64,
    /// Estimated bytes held, as the cache's weigher counts them.
    pub weighted_bytes: u64,
    /// The configured bound.
    pub max_bytes: u64,
}

/// Live tailored answers per scope prefix length: `(length, count)` sorted by length, lengths
/// without entries left out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TailoredByScopeLen {
    /// IPv4 scopes.
    pub ipv4: ScopeLenHistogram,
    /// IPv6 scopes.
    pub ipv6: ScopeLenHistogram,
}

/// Everything `/stats` and `/metrics` report, read at one moment (each number atomically; the
/// set is not one instant).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// Time since the resolver started.
    pub uptime: Duration,
    /// The front end's counters (`scoped-server`), in declaration order.
    pub frontend: Vec<Counter>,
    /// The front end's labelled metrics: latency, queries per type, SERVFAILs per reason.
    pub metrics: scoped_server::MetricsSnapshot,
    /// The engine's counters (`scoped-recursor`).
    pub engine: Vec<Counter>,
    /// The upstream transport's counters.
    pub transport: Vec<Counter>,
    /// The record (infrastructure and untailored answer) cache.
    pub records: CacheSize,
    /// The tailored (ECS) answer cache.
    pub tailored: CacheSize,
    /// (name, type, class) entries of the tailored cache.
    pub tailored_names: u64,
    /// The fast path's cache of rendered answers (all zero when it is off).
    pub answers: CacheSize,
    /// Live tailored entries per scope prefix length: `(length, count)`, IPv4 then IPv6.
    pub tailored_by_scope_len: TailoredByScopeLen,
    /// Entries of the ECS allowlist in force.
    pub allowlist_entries: usize,
    /// Per upstream server: the queries that carried a client subnet and the bits they held.
    pub ecs_sent_by_server: Vec<(IpAddr, EcsSent)>,
    /// The file it is (re)loaded from, if any.
    pub allowlist_file: Option<PathBuf>,
    /// Resident memory of the process, where the OS tells it.
    pub rss_bytes: Option<u64>,
}

impl Snapshot {
    /// Reads every counter and cache size of `resolver`. Blocking: walks the tailored cache.
    pub fn take(resolver: &RunningResolver) -> Snapshot {
        let recursor = &resolver.recursor;
        let records = recursor.cache();
        let tailored = recursor.scoped_cache();
        // The tailored cache's table (moka) counts entries lazily: settle them so the sizes are
        // current. The record cache's counts are always current.
        tailored.run_pending_tasks();
        Snapshot {
            uptime: resolver.started.elapsed(),
            frontend: read_counters(&*resolver.frontend),
            metrics: resolver.metrics.snapshot(),
            engine: read_counters(recursor.stats()),
            transport: read_counters(&*resolver.transport),
            records: CacheSize {
                entries: records.entry_count(),
                weighted_bytes: records.weighted_bytes(),
                max_bytes: records.max_bytes(),
            },
            tailored: CacheSize {
                entries: tailored.entry_count(),
                weighted_bytes: tailored.weighted_bytes(),
                max_bytes: tailored.config().max_bytes,
            },
            tailored_names: tailored.name_count(),
            answers: recursor.wire_cache().map_or(
                CacheSize {
                    entries: 0,
                    weighted_bytes: 0,
                    max_bytes: 0,
                },
                |wire| CacheSize {
                    entries: wire.len() as u64,
                    weighted_bytes: wire.weighted_bytes(),
                    max_bytes: recursor.config().answer_cache_bytes,
                },
            ),
            tailored_by_scope_len: {
                let (ipv4, ipv6) = tailored.tailored_by_scope_len();
                TailoredByScopeLen { ipv4, ipv6 }
            },
            allowlist_entries: recursor.allowlist().len(),
            ecs_sent_by_server: recursor.ecs_sent_by_server(),
            allowlist_file: resolver.allowlist_path.clone(),
            rss_bytes: resident_bytes(),
        }
    }

    /// The `/stats` document.
    pub fn to_json(&self) -> Value {
        fn counters(list: &[Counter]) -> Value {
            list.iter()
                .map(|c| (c.name.to_owned(), Value::from(c.value)))
                .collect::<serde_json::Map<_, _>>()
                .into()
        }
        fn by_len(list: &[(u8, u64)]) -> Value {
            list.iter()
                .map(|(len, n)| (len.to_string(), Value::from(*n)))
                .collect::<serde_json::Map<_, _>>()
                .into()
        }
        let size = |s: &CacheSize| {
            json!({
                "entries": s.entries,
                "weighted_bytes": s.weighted_bytes,
                "max_bytes": s.max_bytes,
            })
        };
        let mut tailored = size(&self.tailored);
        tailored["names"] = self.tailored_names.into();
        tailored["by_scope_len"] = json!({
            "ipv4": by_len(&self.tailored_by_scope_len.ipv4),
            "ipv6": by_len(&self.tailored_by_scope_len.ipv6),
        });
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_seconds": self.uptime.as_secs(),
            "frontend": counters(&self.frontend),
            "engine": counters(&self.engine),
            "transport": counters(&self.transport),
            "caches": {
                "records": size(&self.records),
                "tailored": tailored,
                "answers": size(&self.answers),
            },
            "ecs_sent_by_server": self
                .ecs_sent_by_server
                .iter()
                .map(|(server, sent)| {
                    (
                        server.to_string(),
                        json!({
                            "queries": sent.queries,
                            "bits": sent.bits,
                            "max_bits": sent.max_bits,
                        }),
                    )
                })
                .collect::<serde_json::Map<_, _>>(),
            "ecs_allowlist": {
                "file": self.allowlist_file.as_ref().map(|f| f.display().to_string()),
                "entries": self.allowlist_entries,
            },
            "process": { "rss_bytes": self.rss_bytes },
            "latency": {
                "cache": latency_json(&self.metrics.latency_cache),
                "recursion": latency_json(&self.metrics.latency_recursion),
            },
            "queries_by_type": self
                .metrics
                .queries_by_type
                .iter()
                .map(|(qtype, n)| ((*qtype).to_owned(), Value::from(*n)))
                .collect::<serde_json::Map<_, _>>(),
            "servfail_by_reason": self
                .metrics
                .servfail_by_reason
                .iter()
                .map(|(reason, n)| (reason.clone(), Value::from(*n)))
                .collect::<serde_json::Map<_, _>>(),
        })
    }

    /// The `/metrics` document: OpenMetrics text, every name prefixed `scoped_`.
    pub fn into_openmetrics(self) -> Result<String, StatsError> {
        let mut registry = Registry::with_prefix("scoped");
        registry.register_collector(Box::new(self));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry)
            .map_err(StatsError::Encode)?;
        Ok(text)
    }
}

/// A latency histogram in `/stats`: count, sum and the cumulative buckets, in microseconds.
fn latency_json(latency: &scoped_server::LatencySnapshot) -> Value {
    json!({
        "count": latency.count,
        "sum_us": latency.sum_us,
        "buckets_us": latency
            .buckets
            .iter()
            .map(|(bound, n)| (bound.to_string(), Value::from(*n)))
            .collect::<serde_json::Map<_, _>>(),
    })
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for (group, counters) in [
            ("frontend", &self.frontend),
            ("engine", &self.engine),
            ("transport", &self.transport),
        ] {
            for counter in counters {
                let metric = ConstCounter::new(counter.value);
                let name = format!("{group}_{}", counter.name);
                metric.encode(encoder.encode_descriptor(
                    &name,
                    counter.help,
                    None,
                    metric.metric_type(),
                )?)?;
            }
        }
        for (cache, size, what) in [
            (
                "records",
                &self.records,
                "record cache (infrastructure and untailored answers)",
            ),
            ("tailored", &self.tailored, "tailored answer cache (ECS)"),
            (
                "answers",
                &self.answers,
                "fast path's cache of rendered answers",
            ),
        ] {
            let entries = format!("cache_{cache}_entries");
            let help = format!("Entries in the {what}");
            gauge(&mut encoder, &entries, &help, None, size.entries)?;
            let weighted = format!("cache_{cache}_weighted");
            let help = format!("Estimated bytes held by the {what}");
            gauge(
                &mut encoder,
                &weighted,
                &help,
                Some(&Unit::Bytes),
                size.weighted_bytes,
            )?;
            let max = format!("cache_{cache}_max");
            let help = format!("Configured memory bound of the {what}");
            gauge(
                &mut encoder,
                &max,
                &help,
                Some(&Unit::Bytes),
                size.max_bytes,
            )?;
        }
        gauge(
            &mut encoder,
            "cache_tailored_names",
            "Names (name, type, class) with entries in the tailored answer cache",
            None,
            self.tailored_names,
        )?;
        let by_scope = ConstGauge::new(0u64);
        let mut family = encoder.encode_descriptor(
            "cache_tailored_by_scope_len",
            "Live tailored answers per address family and scope prefix length",
            None,
            by_scope.metric_type(),
        )?;
        for (label, list) in [
            ("ipv4", &self.tailored_by_scope_len.ipv4),
            ("ipv6", &self.tailored_by_scope_len.ipv6),
        ] {
            for (len, count) in list {
                let labels = [("family", label.to_owned()), ("scope_len", len.to_string())];
                ConstGauge::new(*count).encode(family.encode_family(&labels)?)?;
            }
        }
        for (name, help, value) in [
            (
                "ecs_sent_queries",
                "Upstream queries that carried a client subnet, per server",
                (|s: &EcsSent| s.queries) as fn(&EcsSent) -> u64,
            ),
            (
                "ecs_sent_bits",
                "Bits of client address sent in ECS options (SOURCE PREFIX-LENGTHs summed), per server",
                |s: &EcsSent| s.bits,
            ),
        ] {
            let mut family = encoder.encode_descriptor(
                name,
                help,
                None,
                ConstCounter::new(0u64).metric_type(),
            )?;
            for (server, sent) in &self.ecs_sent_by_server {
                let labels = [("server", server.to_string())];
                ConstCounter::new(value(sent)).encode(family.encode_family(&labels)?)?;
            }
        }
        gauge(
            &mut encoder,
            "ecs_allowlist_entries",
            "Entries of the ECS allowlist in force",
            None,
            self.allowlist_entries as u64,
        )?;
        gauge(
            &mut encoder,
            "uptime",
            "Time since the resolver started",
            Some(&Unit::Seconds),
            self.uptime.as_secs(),
        )?;
        if let Some(rss) = self.rss_bytes {
            gauge(
                &mut encoder,
                "process_resident_memory",
                "Resident memory of the resolver process",
                Some(&Unit::Bytes),
                rss,
            )?;
        }
        super::labelled::encode(self, &mut encoder)
    }
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, unit, metric.metric_type())?)
}

/// Every counter of a group declared with `scoped_recursor::counters!`, with its help and value.
pub(super) fn read_counters<S: Counters>(stats: &S) -> Vec<Counter> {
    let mut list = Vec::with_capacity(S::COUNTERS.len());
    stats.visit(|counter, value| {
        list.push(Counter {
            name: counter.name,
            help: counter.help,
            value,
        });
    });
    list
}

/// Resident memory: the second field of `/proc/self/statm` (pages) times the page size. `None`
/// where there is no procfs.
pub(super) fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    pages.checked_mul(page_size())
}

/// The page size, from the auxiliary vector the kernel gave the process (`AT_PAGESZ`), read once.
/// 4 KiB if it cannot be read.
pub(super) fn page_size() -> u64 {
    static PAGE_SIZE: OnceLock<u64> = OnceLock::new();
    *PAGE_SIZE.get_or_init(|| {
        /// `AT_PAGESZ` of `<elf.h>`.
        const AT_PAGESZ: usize = 6;
        const WORD: usize = std::mem::size_of::<usize>();
        let word = |bytes: &[u8]| {
            bytes
                .try_into()
                .map(usize::from_ne_bytes)
                .unwrap_or_default()
        };
        std::fs::read("/proc/self/auxv")
            .ok()
            .and_then(|auxv| {
                auxv.chunks_exact(2 * WORD)
                    .map(|pair| (word(&pair[..WORD]), word(&pair[WORD..])))
                    .find(|&(key, _)| key == AT_PAGESZ)
                    .map(|(_, size)| size as u64)
            })
            .unwrap_or(4096)
    })
}
