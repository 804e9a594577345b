//! What the engine counts, and the per-server audit of client-subnet bits that left it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// What the engine has counted since start.
#[derive(Debug, Default)]
pub struct EngineStats {
    /// Client questions answered entirely from the cache.
    pub cache_hits: AtomicU64,
    /// Client questions that needed upstream work.
    pub cache_misses: AtomicU64,
    /// Client questions that joined a resolution already in flight.
    pub deduplicated: AtomicU64,
    /// Queries sent to authoritative servers (all protocols).
    pub upstream_queries: AtomicU64,
    /// Upstream queries retried over TCP after a truncated UDP reply.
    pub tcp_retries: AtomicU64,
    /// Upstream exchanges that timed out or failed at the socket level.
    pub upstream_failures: AtomicU64,
    /// Replies that could not be parsed.
    pub malformed_replies: AtomicU64,
    /// Replies that were lame, errors, or out of bailiwick.
    pub lame_replies: AtomicU64,
    /// Nameserver addresses skipped by policy (do-not-query, loopback, IPv6 off).
    pub servers_skipped: AtomicU64,
    /// Resolutions that ended in SERVFAIL.
    pub servfail: AtomicU64,
    /// Upstream queries that carried an ECS option (E01 allowed it).
    pub ecs_sent: AtomicU64,
    /// Queries with a client subnet sent without ECS: the server/zone is not allowlisted (E01).
    pub ecs_withheld_not_allowlisted: AtomicU64,
    /// Queries sent without ECS because they are infrastructure lookups (E16).
    pub ecs_withheld_infrastructure: AtomicU64,
    /// Queries with a client subnet sent without ECS because they are QNAME-minimised steps
    /// about an ancestor of the client's name (E16, RFC 9156).
    pub ecs_withheld_minimised: AtomicU64,
    /// ECS queries answered REFUSED/FORMERR and retried without ECS (E13).
    pub ecs_rejected_retries: AtomicU64,
    /// ECS-less replies from servers known to echo ECS, asked again (E12).
    pub ecs_suspicious_reasks: AtomicU64,
    /// Answers cached under a tailored scope (E14, E15, E20).
    pub tailored_answers_cached: AtomicU64,
    /// Cache hits in the last part of an entry's TTL that refreshed it in the background.
    pub prefetches: AtomicU64,
    /// Upstream queries that had to wait for a slot (`max-outstanding-upstream` reached).
    pub upstream_throttled: AtomicU64,
    /// Replies refused for holding more records than `max-records-per-reply`.
    pub oversized_replies: AtomicU64,
    /// Answers served from stale data because the resolution took longer than the client
    /// timer (RFC 8767); the resolution went on in the background.
    pub stale_served_slow: AtomicU64,
    /// Answers served from stale data because the resolution failed, or failed less than the
    /// recheck time ago (RFC 8767).
    pub stale_served_failed: AtomicU64,
}

pub(super) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

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
