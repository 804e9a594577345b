//! Lookups in the record cache as a cache miss makes them: names under one zone (so they agree
//! from the root down to their first label), 100,000 of them cached, looked up by RRset and by
//! the answer step the engine takes (RRset, NXDOMAIN at or above, CNAME).
//!
//! `cargo bench -p scoped-cache --bench record_cache` (under a minute). It is the measurement
//! behind `CacheKey` carrying its own hash (docs/benchmarks.md).

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::str::FromStr;

use criterion::Criterion;
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use scoped_cache::{CacheConfig, Read, RecordCache, Trust};
use tokio::time::Instant;

const NAMES: u32 = 100_000;

fn name(i: u32) -> Name {
    Name::from_str(&format!("x{i}.wild.bench.example.")).expect("a name")
}

fn lookups(c: &mut Criterion) {
    let cache = RecordCache::new(CacheConfig::default());
    let now = Instant::now();
    for i in 0..NAMES {
        let record = Record::from_rdata(name(i), 3600, RData::A(A(Ipv4Addr::from(i))));
        cache.insert_rrset(vec![record], Trust::AuthoritativeAnswer, now);
    }
    // Every name asked cycles through the cache in an order unrelated to insertion.
    let cached: Vec<Name> = (0..4096u32).map(|i| name((i * 7919) % NAMES)).collect();
    let absent: Vec<Name> = (0..4096u32).map(|i| name(NAMES + i)).collect();
    assert!(
        cache
            .rrset(&cached[0], RecordType::A, Trust::Answer, now)
            .is_some()
    );
    assert!(
        cache
            .rrset(&absent[0], RecordType::A, Trust::Answer, now)
            .is_none()
    );

    let mut group = c.benchmark_group("record_cache");
    let mut i = 0usize;
    let mut next = |names: &[Name]| {
        i = (i + 1) % names.len();
        names[i].clone()
    };
    group.bench_function("rrset_hit", |b| {
        b.iter(|| cache.rrset(&next(&cached), RecordType::A, Trust::Answer, now))
    });
    group.bench_function("rrset_miss", |b| {
        b.iter(|| cache.rrset(&next(&absent), RecordType::A, Trust::Answer, now))
    });
    group.bench_function("step_hit", |b| {
        b.iter(|| cache.step(black_box(&next(&cached)), RecordType::A, now, Read::Live))
    });
    group.bench_function("step_miss", |b| {
        b.iter(|| cache.step(black_box(&next(&absent)), RecordType::A, now, Read::Live))
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    lookups(&mut c);
    c.final_summary();
}
