//! Helpers for tests that drive the real recursion engine against an [`Internet`] in memory:
//! building a [`Recursor`] on it, asking it a question as a client would, and reading answers.
//!
//! One definition for every engine test (`crates/scoped-recursor/tests/`), so the tests differ
//! only in what they say they change: a test that wants another seed, cache or client subnet
//! passes it here rather than carrying its own copy of these.
//!
//! ```no_run
//! # async fn example() {
//! use hickory_proto::rr::RecordType;
//! use scoped_testkit::engine::{a_records, ask, recursor};
//! use scoped_testkit::standard_internet;
//!
//! let internet = standard_internet();
//! let recursor = recursor(&internet);
//! let res = ask(&recursor, "www.example.com.", RecordType::A).await;
//! assert_eq!(a_records(&res), vec![std::net::Ipv4Addr::new(192, 0, 2, 10)]);
//! # }
//! ```

use std::net::{IpAddr, Ipv4Addr};

use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};
use ipnet::IpNet;
use scoped_cache::{CacheConfig, RecordCache};
use scoped_recursor::{Question, Recursor, RecursorConfig, Resolution, ResolveRequest};

use crate::{Internet, name};

/// The selection seed of [`config_for`]: a fixed server order, so a test run is reproducible.
pub const SEED: u64 = 7;

/// The configuration that resolves through `internet` ([`Internet::recursor_config`]) with a
/// reproducible server order (`selection_seed` [`SEED`]). Tests that need both servers of a zone
/// asked say so themselves.
pub fn config_for(internet: &Internet) -> RecursorConfig {
    RecursorConfig {
        selection_seed: Some(SEED),
        ..internet.recursor_config()
    }
}

/// An engine with `config` and the given record cache, resolving through `internet` in memory.
pub fn recursor_with_cache(
    internet: &Internet,
    config: RecursorConfig,
    cache: CacheConfig,
) -> Recursor {
    Recursor::new(config, RecordCache::new(cache), internet.transport())
}

/// An engine with `config` and a default record cache, resolving through `internet` in memory.
pub fn recursor_with(internet: &Internet, config: RecursorConfig) -> Recursor {
    recursor_with_cache(internet, config, CacheConfig::default())
}

/// An engine with [`config_for`]`(internet)` and a default record cache.
pub fn recursor(internet: &Internet) -> Recursor {
    recursor_with(internet, config_for(internet))
}

/// An engine with [`config_for`]`(internet)` except its selection seed, and a default record
/// cache.
pub fn recursor_with_seed(internet: &Internet, seed: u64) -> Recursor {
    recursor_with(
        internet,
        RecursorConfig {
            selection_seed: Some(seed),
            ..config_for(internet)
        },
    )
}

/// Asks `recursor` for `qname`/`qtype` (class IN) as a client at 127.0.0.1 without a client
/// subnet would.
pub async fn ask(recursor: &Recursor, qname: &str, qtype: RecordType) -> Resolution {
    ask_from(recursor, qname, qtype, None).await
}

/// Asks `recursor` for `qname`/`qtype` (class IN) from 127.0.0.1 on behalf of `subnet`: the
/// client subnet the front end decided on (ECS), or none.
pub async fn ask_from(
    recursor: &Recursor,
    qname: &str,
    qtype: RecordType,
    subnet: Option<IpNet>,
) -> Resolution {
    let request = ResolveRequest {
        question: Question::new(name(qname), qtype),
        client: IpAddr::V4(Ipv4Addr::LOCALHOST),
        client_subnet: subnet,
        checking_disabled: false,
        dnssec_ok: false,
    };
    recursor.resolve_request(request).await
}

/// The addresses of the A records in the answer section, in order.
pub fn a_records(resolution: &Resolution) -> Vec<Ipv4Addr> {
    resolution
        .answers
        .iter()
        .filter_map(|r| match r.data {
            RData::A(A(ip)) => Some(ip),
            _ => None,
        })
        .collect()
}

/// The record types of `records`, in order.
pub fn types(records: &[Record]) -> Vec<RecordType> {
    records.iter().map(|r| r.record_type()).collect()
}
