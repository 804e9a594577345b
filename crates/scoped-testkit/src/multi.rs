//! A zone with four nameservers at chosen round-trip times, for server-selection tests and
//! benchmarks: `.` (127.53.0.1) → `test.` (127.53.1.9) → `multi.test.` served by
//! ns1–ns4.multi.test. at 127.53.50.1–4, whose wildcard answers any `*.multi.test.` A query
//! (192.0.2.1, TTL 300), so unique names always reach them.
//!
//! [`one_loaded_process`] makes the four addresses one ECS-aware process that answers one query
//! at a time ([`ServiceQueue`]): the authoritative under load of the retry-budget tests.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use crate::ecs::EcsAuthority;
use crate::internet::Internet;
use crate::queue::ServiceQueue;

/// The four nameservers of `multi.test.`, in the order of the delays given to
/// [`four_nameservers`].
pub const MULTI_SERVERS: [IpAddr; 4] = [
    IpAddr::V4(Ipv4Addr::new(127, 53, 50, 1)),
    IpAddr::V4(Ipv4Addr::new(127, 53, 50, 2)),
    IpAddr::V4(Ipv4Addr::new(127, 53, 50, 3)),
    IpAddr::V4(Ipv4Addr::new(127, 53, 50, 4)),
];

/// The internet of this module with the given round-trip times, one per server of
/// [`MULTI_SERVERS`].
pub fn four_nameservers(delays: [Duration; 4]) -> Internet {
    let root = [
        "@ 86400 IN SOA a.root.test. h.root.test. 1 1800 900 604800 86400",
        "@ 518400 IN NS a.root.test.",
        "a.root.test. 518400 IN A 127.53.0.1",
        "test. 172800 IN NS ns.nic.test.",
        "ns.nic.test. 172800 IN A 127.53.1.9",
    ];
    let mut tld = vec![
        "@ 86400 IN SOA ns.nic.test. h.nic.test. 1 1800 900 604800 300".to_string(),
        "@ 86400 IN NS ns.nic.test.".to_string(),
        "ns.nic 86400 IN A 127.53.1.9".to_string(),
    ];
    let mut multi = vec![
        "@ 86400 IN SOA ns1 h 1 1800 900 604800 300".to_string(),
        "* 300 IN A 192.0.2.1".to_string(),
    ];
    for (i, addr) in MULTI_SERVERS.iter().enumerate() {
        let n = i + 1;
        tld.push(format!("multi 86400 IN NS ns{n}.multi"));
        tld.push(format!("ns{n}.multi 86400 IN A {addr}"));
        multi.push(format!("@ 86400 IN NS ns{n}"));
        multi.push(format!("ns{n} 86400 IN A {addr}"));
    }
    let mut builder = Internet::builder();
    builder
        .zone(".", &root.join("\n"))
        .zone("test.", &tld.join("\n"))
        .zone("multi.test.", &multi.join("\n"));
    builder.server(IpAddr::V4(Ipv4Addr::new(127, 53, 0, 1)), &["."]);
    builder.server(IpAddr::V4(Ipv4Addr::new(127, 53, 1, 9)), &["test."]);
    for addr in MULTI_SERVERS {
        builder.server(addr, &["multi.test."]);
    }
    let internet = match builder.build() {
        Ok(internet) => internet,
        // Constant text: a failure is a bug in this file, caught by every test that uses it.
        Err(e) => panic!("the four-nameserver internet does not build: {e}"),
    };
    for (addr, delay) in MULTI_SERVERS.iter().zip(delays) {
        internet.expect_server(*addr).set_delay(delay);
    }
    internet
}

/// The internet of this module with its four nameservers `rtt` away as **one process** behind
/// four addresses, working through its queries one at a time at `service` each (one shared
/// [`ServiceQueue`], returned): idle it answers in `rtt + service`, loaded its latency grows
/// with its queue, and asking another of its addresses adds to the same queue. It is ECS-aware
/// (an [`EcsAuthority`] on each address) and answers `*.multi.test.` with SCOPE 24, so every
/// client /24 is a cache miss of its own.
pub fn one_loaded_process(rtt: Duration, service: Duration) -> (Internet, ServiceQueue) {
    let internet = four_nameservers([rtt; 4]);
    let queue = ServiceQueue::new(service);
    for addr in MULTI_SERVERS {
        let server = internet.expect_server(addr);
        let mut authority = EcsAuthority::new();
        authority.untailored_scope(24);
        authority.install(&server);
        server.set_queue(Some(queue.clone()));
    }
    (internet, queue)
}
