//! Capability memory: EDNS breakage and what a server does with ECS.

use super::*;

// --- Capability memory ---------------------------------------------------------------------

#[test]
fn edns_breakage_is_remembered_until_capability_ttl() {
    let cache = InfraCache::default();
    let t0 = Instant::now();
    assert!(!cache.edns_broken(ip(1), t0));
    cache.record_edns_broken(ip(1), t0);
    let ttl = cache.config().capability_ttl;
    assert!(cache.edns_broken(ip(1), t0 + ttl - millis(1)));
    // Keep the record alive past the capability TTL.
    cache.record_rtt(ip(1), millis(10), t0 + ttl - millis(1));
    assert!(!cache.edns_broken(ip(1), t0 + ttl));
}

#[test]
fn edns_reply_clears_breakage() {
    let cache = InfraCache::default();
    let now = Instant::now();
    cache.record_edns_broken(ip(1), now);
    cache.record_edns_works(ip(1), now);
    assert!(!cache.edns_broken(ip(1), now));
}

#[test]
fn ecs_echo_is_not_overwritten_by_one_missing_echo() {
    // E12: an ECS-less reply from a server that echoes is suspect, not a new habit.
    let cache = InfraCache::default();
    let now = Instant::now();
    assert_eq!(cache.ecs_capability(ip(1), now), EcsCapability::Unknown);
    cache.record_ecs(ip(1), EcsCapability::Echoes, now);
    cache.record_ecs(ip(1), EcsCapability::NoEcho, now);
    assert_eq!(cache.ecs_capability(ip(1), now), EcsCapability::Echoes);
}

#[test]
fn ecs_no_echo_then_echo_becomes_echoes() {
    let cache = InfraCache::default();
    let now = Instant::now();
    cache.record_ecs(ip(1), EcsCapability::NoEcho, now);
    assert_eq!(cache.ecs_capability(ip(1), now), EcsCapability::NoEcho);
    cache.record_ecs(ip(1), EcsCapability::Echoes, now);
    assert_eq!(cache.ecs_capability(ip(1), now), EcsCapability::Echoes);
}

#[test]
fn ecs_rejection_expires_after_capability_ttl() {
    // E13: not ECS-capable "for a while".
    let cache = InfraCache::default();
    let t0 = Instant::now();
    cache.record_ecs(ip(1), EcsCapability::Rejects, t0);
    let ttl = cache.config().capability_ttl;
    assert_eq!(
        cache.ecs_capability(ip(1), t0 + ttl - millis(1)),
        EcsCapability::Rejects
    );
    cache.record_rtt(ip(1), millis(10), t0 + ttl - millis(1));
    assert_eq!(
        cache.ecs_capability(ip(1), t0 + ttl),
        EcsCapability::Unknown
    );
}

#[test]
fn capability_memory_is_per_address() {
    let cache = InfraCache::default();
    let now = Instant::now();
    cache.record_ecs(ip(1), EcsCapability::Rejects, now);
    cache.record_edns_broken(ip(1), now);
    assert_eq!(cache.ecs_capability(ip(2), now), EcsCapability::Unknown);
    assert!(!cache.edns_broken(ip(2), now));
}
