//! Engine tests: the real recursion engine against the testkit's simulated internet, in memory,
//! on tokio's paused clock (timeouts and TTLs are exact and cost no real time).
//!
//! One test binary, one module per feature. The helpers every engine test uses (a recursor on an
//! internet, asking it, reading the answer) are `scoped_testkit::engine`; the few only these
//! modules share are here.

mod address_family;
mod cname;
mod cookies;
mod cycles;
mod dedup;
mod delegation;
mod dname;
mod dns64;
mod failover;
mod forward_tls;
mod forward_zones;
mod hardening;
mod iteration;
mod lameness;
mod negative;
mod other_type;
mod prefetch;
mod reasons;
mod record_cache;
mod serve_stale;
mod stub_zones;
mod wire_cache;

use std::net::Ipv4Addr;

use scoped_recursor::Recursor;

/// The address of www.example.com. in the standard internet.
/// A public root (at 127.53.0.1) delegating only `pub.`, and `pub.` itself (at 127.53.1.1):
/// the internet beside which stub and forward zones are tested.
const ROOT: &str = "
.            86400 IN SOA  a.root.test. hostmaster.root.test. 1 1800 900 604800 86400
.            86400 IN NS   a.root.test.
a.root.test. 86400 IN A    127.53.0.1
pub.         86400 IN NS   ns.pub.
ns.pub.      86400 IN A    127.53.1.1
";

const PUB: &str = "
@   86400 IN SOA ns.pub. hostmaster.pub. 1 1800 900 604800 300
@   86400 IN NS  ns
ns  86400 IN A   127.53.1.1
www 300   IN A   192.0.2.1
";

const WWW: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);

/// The engine counter `counter` picks from `recursor`'s stats, now.
fn stat(
    recursor: &Recursor,
    counter: fn(&scoped_recursor::EngineStats) -> &std::sync::atomic::AtomicU64,
) -> u64 {
    counter(recursor.stats()).load(std::sync::atomic::Ordering::Relaxed)
}
