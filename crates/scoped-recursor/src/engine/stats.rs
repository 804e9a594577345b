//! What the engine counts (declared once with [`counters!`](crate::counters!): name and help
//! text, exported as they are by `scoped ctl stats` and `metrics`), and the per-server audit of
//! client-subnet bits that left it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

crate::counters! {
    /// What the engine has counted since start.
    pub struct EngineStats {
        cache_hits: "Client questions answered entirely from the cache",
        cache_misses: "Client questions that needed upstream work",
        deduplicated: "Client questions that joined a resolution already in flight",
        upstream_queries: "Queries sent to authoritative servers, all protocols",
        tcp_retries: "Upstream queries retried over TCP after a truncated UDP reply",
        upstream_failures: "Upstream exchanges that timed out (unanswered until their hard timeout) or failed at the socket level",
        /// The try stays open until its hard timeout; the next server may be asked meanwhile.
        soft_timeouts: "Upstream queries still unanswered at their server's RTO (overdue, not failed)",
        late_replies: "Replies that arrived after their query's RTO and were still taken: a slow server, not a dead one",
        /// Counted against the retry budget, whether the earlier try was still open or had failed.
        retries: "Upstream queries to a further server of a zone for the same question",
        retry_budget_exhausted: "Overdue tries after which no further server was asked: retries were at their share of first tries, so the question waited on its open tries",
        server_busy_spread: "Upstream queries sent to a server other than the preferred one because it had max-in-flight queries unanswered",
        server_busy_waits: "Upstream queries that waited because every remaining server of the zone had max-in-flight queries unanswered",
        /// The try stays open; its question may ask the next server (within the retry budget).
        silent_server_releases: "Upstream queries that went overdue before their own RTO because another query found their server silent (no reply since it was sent)",
        /// Their replies only measure the server: never an answer, never cached.
        background_probes: "Queries sent off the client's path to measure a server: never-measured, explored, or a due probe of a server timing out",
        background_probes_skipped: "Background measurements not sent because every upstream slot was taken, the question had spent half its upstream budget, or the retry budget was spent",
        malformed_replies: "Upstream replies that could not be parsed",
        lame_replies: "Upstream replies that were lame, errors, or out of bailiwick",
        servers_skipped: "Nameserver addresses skipped by policy (do-not-query, loopback, IPv4 or IPv6 off)",
        servfail: "Resolutions that ended in SERVFAIL",
        ecs_sent: "Upstream queries that carried an ECS option (allowlisted, E01)",
        cookie_spoofed_replies: "Upstream replies dropped: from a server known to support cookies, without our client cookie (RFC 7873)",
        /// Counted only for queries that had a client subnet to send.
        ecs_withheld_not_allowlisted: "Upstream queries sent without the client subnet: server or zone not allowlisted (E01)",
        ecs_withheld_infrastructure: "Upstream queries sent without ECS: infrastructure lookups (E16)",
        /// Counted only for queries that had a client subnet to send (RFC 9156 minimisation).
        ecs_withheld_minimised: "Upstream queries sent without ECS: QNAME-minimised steps about an ancestor of the client's name (E16)",
        ecs_rejected_retries: "ECS queries answered REFUSED or FORMERR and retried without ECS (E13)",
        ecs_suspicious_reasks: "ECS-less replies from servers known to echo ECS, asked again (E12)",
        tailored_answers_cached: "Answers cached under a tailored scope (E14, E15, E20)",
        prefetches: "Cache hits in the last part of an entry's TTL that refreshed it in the background",
        upstream_throttled: "Upstream queries that waited for a slot (max-outstanding-upstream reached)",
        oversized_replies: "Upstream replies refused for holding more records than max-records-per-reply",
        /// The resolution went on in the background.
        stale_served_slow: "Answers served from stale data because resolution outlasted the client timer (RFC 8767)",
        /// Also when it failed less than the recheck time ago.
        stale_served_failed: "Answers served from stale data because resolution failed (RFC 8767)",
        dnssec_secure: "Upstream answers (each step of a chain) DNSSEC validation proved secure",
        dnssec_insecure: "Upstream answers DNSSEC validation proved insecure (unsigned zone, negative trust anchor, unsupported algorithm)",
        dnssec_bogus: "Upstream answers DNSSEC validation found bogus (answered SERVFAIL with an EDE)",
        dnssec_indeterminate: "Upstream answers no trust anchor covers",
        dnssec_bogus_cached: "Client questions answered SERVFAIL from a recent bogus verdict without asking again",
        dnssec_aggressive_nxdomain: "Client questions answered NXDOMAIN from validated NSEC or NSEC3 ranges without asking (RFC 8198)",
        dnssec_aggressive_nodata: "Client questions answered NODATA from validated NSEC or NSEC3 records without asking (RFC 8198)",
        /// RFC 5011: the key stays trusted while missing; the state file says MISSING.
        dnssec_anchor_keys_missing: "Trusted keys of an anchored zone found no longer published (RFC 5011 Missing): the anchor may stop validating if the rest go too",
        dnssec_anchor_refreshes: "Background fetches of an anchored zone's DNSKEY RRset (RFC 5011 active refresh)",
        forward_tls_connections: "DNS over TLS connections opened to forwarders (handshake done)",
        /// The server counts as failed for that query; nothing is sent in clear instead.
        forward_tls_handshake_failures: "DNS over TLS connections to forwarders that failed before or during the handshake (unreachable, certificate not valid for tls-name)",
        forward_tls_resumed: "DNS over TLS connections to forwarders that resumed an earlier TLS session (a shorter handshake)",
        forward_tls_reused: "Queries to DNS over TLS forwarders sent on a connection already open",
    }
}

pub(super) use crate::counters::bump;

/// Client-subnet information sent to one server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EcsSent {
    /// Queries that carried an ECS option.
    pub queries: u64,
    /// Bits of client address they carried, in all (their SOURCE PREFIX-LENGTHs summed).
    pub bits: u64,
    /// The longest SOURCE PREFIX-LENGTH sent.
    pub max_bits: u8,
}

/// The per-server ECS audit. Servers receive ECS only when allowlisted, so the table is as
/// large as the allowlist's reach; past [`ECS_AUDIT_SERVERS`] servers, the rest are added up
/// under the unspecified address.
#[derive(Debug, Default)]
pub(super) struct EcsAudit {
    servers: Mutex<HashMap<IpAddr, EcsSent>>,
}

/// Servers tracked one by one in the ECS audit.
pub(super) const ECS_AUDIT_SERVERS: usize = 10_000;

impl EcsAudit {
    pub(super) fn record(&self, server: IpAddr, bits: u8) {
        let mut servers = self.servers.lock().unwrap_or_else(|e| e.into_inner());
        let key = if servers.len() >= ECS_AUDIT_SERVERS && !servers.contains_key(&server) {
            IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
        } else {
            server
        };
        let entry = servers.entry(key).or_default();
        entry.queries += 1;
        entry.bits += u64::from(bits);
        entry.max_bits = entry.max_bits.max(bits);
    }

    pub(super) fn snapshot(&self) -> Vec<(IpAddr, EcsSent)> {
        let servers = self.servers.lock().unwrap_or_else(|e| e.into_inner());
        let mut list: Vec<_> = servers.iter().map(|(a, s)| (*a, *s)).collect();
        list.sort_by_key(|(addr, _)| *addr);
        list
    }
}
