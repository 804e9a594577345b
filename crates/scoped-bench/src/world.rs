//! The loopback DNS internet the resolvers iterate through, and the four resolvers' settings.
//!
//! Authoritatives (all on port 53, since Unbound and PowerDNS Recursor only ever query port 53):
//!
//! | address | server | zones |
//! |---|---|---|
//! | 127.54.0.1 | nsd | `.` |
//! | 127.54.0.2 | nsd | `lab.` |
//! | 127.54.0.3 | nsd | `bench.lab.`: `h0`…`h99` and `*.wild` |
//! | 127.54.0.4 | testkit ECS authority | `cdn.lab.`: `t0`…, SCOPE 24 for every IPv4 subnet |
//! | 127.54.0.5–8 | testkit ECS authority, one queue | `loaded.lab.`: `n0`…, SCOPE 24; one process behind four addresses whose latency grows with its queue |
//!
//! (One nsd process listens on the first three; each address is only ever asked about its own
//! zone, as on the internet.) Every TTL is a day, so nothing expires or is prefetched in a run.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

/// Where the root, TLD and leaf zones are served.
pub const ROOT: Ipv4Addr = Ipv4Addr::new(127, 54, 0, 1);
/// The `lab.` server.
pub const TLD: Ipv4Addr = Ipv4Addr::new(127, 54, 0, 2);
/// The `bench.lab.` server (plain hits and misses).
pub const LEAF: Ipv4Addr = Ipv4Addr::new(127, 54, 0, 3);
/// The ECS-aware `cdn.lab.` server.
pub const CDN: Ipv4Addr = Ipv4Addr::new(127, 54, 0, 4);

/// The four addresses of the loaded `loaded.lab.` server: one process (one `ServiceQueue`), so
/// asking "another server" of the zone adds to the same queue.
pub const LOADED: [Ipv4Addr; 4] = [
    Ipv4Addr::new(127, 54, 0, 5),
    Ipv4Addr::new(127, 54, 0, 6),
    Ipv4Addr::new(127, 54, 0, 7),
    Ipv4Addr::new(127, 54, 0, 8),
];

/// The resolvers' listening addresses.
pub const SCOPED: Ipv4Addr = Ipv4Addr::new(127, 55, 0, 1);
/// Unbound.
pub const UNBOUND: Ipv4Addr = Ipv4Addr::new(127, 55, 0, 2);
/// PowerDNS Recursor.
pub const PDNS: Ipv4Addr = Ipv4Addr::new(127, 55, 0, 3);
/// Knot Resolver.
pub const KNOT: Ipv4Addr = Ipv4Addr::new(127, 55, 0, 4);
/// The batched limit responder.
pub const LIMIT_BATCHED: Ipv4Addr = Ipv4Addr::new(127, 55, 0, 10);
/// The plain limit responder.
pub const LIMIT_PLAIN: Ipv4Addr = Ipv4Addr::new(127, 55, 0, 11);

/// Every resolver the harness can run, in the order it runs them (`--skip` takes these names).
pub const RESOLVERS: [&str; 4] = ["scoped", "unbound", "pdns", "knot"];

/// Whether `resolver` takes part in the ECS scenarios (tailored hits, memory per tailored
/// entry). Knot Resolver 5 neither sends ECS upstream nor keeps answers per client subnet, so
/// measuring it there would measure something else.
pub fn speaks_ecs(resolver: &str) -> bool {
    resolver != "knot"
}

/// Names with an A record in `bench.lab.`.
pub const HIT_NAMES: usize = 100;

/// Port 53 at `ip`.
pub fn at53(ip: Ipv4Addr) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(ip), 53)
}

/// The `i`th plain name.
pub fn hit_name(i: usize) -> String {
    format!("h{i}.bench.lab.")
}

/// The `i`th tailored name.
pub fn cdn_name(i: usize) -> String {
    format!("t{i}.cdn.lab.")
}

/// The `i`th name of the loaded authoritative.
pub fn loaded_name(i: usize) -> String {
    format!("n{i}.loaded.lab.")
}

/// A name under the wildcard, unique for (`tag`, `i`).
pub fn miss_name(tag: &str, i: usize) -> String {
    format!("m{i}{tag}.wild.bench.lab.")
}

/// The `k`th public client /24 (11.0.0.0/8 onwards: routable, so every resolver passes it on).
pub fn client_subnet(k: usize) -> Ipv4Addr {
    let k = u32::try_from(k).expect("subnet index fits");
    Ipv4Addr::from((11u32 << 24) + (k << 8))
}

const SOA_TIMES: &str = "1 3600 600 86400 3600";

fn root_zone() -> String {
    format!(
        ". 86400 IN SOA a.root.lab. hostmaster.root.lab. {SOA_TIMES}\n\
         . 86400 IN NS a.root.lab.\n\
         a.root.lab. 86400 IN A {ROOT}\n\
         lab. 86400 IN NS ns.nic.lab.\n\
         ns.nic.lab. 86400 IN A {TLD}\n"
    )
}

fn tld_zone() -> String {
    format!(
        "lab. 86400 IN SOA ns.nic.lab. hostmaster.nic.lab. {SOA_TIMES}\n\
         lab. 86400 IN NS ns.nic.lab.\n\
         ns.nic.lab. 86400 IN A {TLD}\n\
         a.root.lab. 86400 IN A {ROOT}\n\
         bench.lab. 86400 IN NS ns.bench.lab.\n\
         ns.bench.lab. 86400 IN A {LEAF}\n\
         cdn.lab. 86400 IN NS ns.cdn.lab.\n\
         ns.cdn.lab. 86400 IN A {CDN}\n\
         {}",
        loaded_delegation()
    )
}

/// `loaded.lab.`'s four NS and their addresses (the delegation in `lab.`, the apex in the zone).
fn loaded_delegation() -> String {
    let mut out = String::new();
    for (k, ip) in LOADED.iter().enumerate() {
        let _ = writeln!(out, "loaded.lab. 86400 IN NS ns{}.loaded.lab.", k + 1);
        let _ = writeln!(out, "ns{}.loaded.lab. 86400 IN A {ip}", k + 1);
    }
    out
}

/// The `loaded.lab.` zone's own records (the answers come from the ECS table).
pub fn loaded_zone() -> String {
    format!(
        "loaded.lab. 86400 IN SOA ns1.loaded.lab. hostmaster.loaded.lab. {SOA_TIMES}\n{}",
        loaded_delegation()
    )
}

fn leaf_zone() -> String {
    let mut zone = format!(
        "bench.lab. 86400 IN SOA ns.bench.lab. hostmaster.bench.lab. {SOA_TIMES}\n\
         bench.lab. 86400 IN NS ns.bench.lab.\n\
         ns.bench.lab. 86400 IN A {LEAF}\n\
         *.wild.bench.lab. 86400 IN A 192.0.2.200\n"
    );
    for i in 0..HIT_NAMES {
        let _ = writeln!(zone, "{} 86400 IN A 192.0.2.{}", hit_name(i), 1 + i % 250);
    }
    zone
}

/// The `cdn.lab.` zone's own records (the tailored answers come from the ECS table).
pub fn cdn_zone() -> String {
    format!(
        "cdn.lab. 86400 IN SOA ns.cdn.lab. hostmaster.cdn.lab. {SOA_TIMES}\n\
         cdn.lab. 86400 IN NS ns.cdn.lab.\n\
         ns.cdn.lab. 86400 IN A {CDN}\n"
    )
}

/// The root hints every resolver is given.
pub fn root_hints() -> String {
    format!(". 3600000 NS a.root.lab.\na.root.lab. 3600000 A {ROOT}\n")
}

/// Write the nsd configuration and zone files into `dir`.
///
/// # Errors
///
/// When a file cannot be written.
pub fn write_nsd(dir: &Path) -> std::io::Result<()> {
    std::fs::write(dir.join("root.zone"), root_zone())?;
    std::fs::write(dir.join("lab.zone"), tld_zone())?;
    std::fs::write(dir.join("bench.lab.zone"), leaf_zone())?;
    let d = dir.display();
    let config = format!(
        "server:\n\
         \x20   ip-address: {ROOT}\n\
         \x20   ip-address: {TLD}\n\
         \x20   ip-address: {LEAF}\n\
         \x20   port: 53\n\
         \x20   server-count: 1\n\
         \x20   username: \"\"\n\
         \x20   chroot: \"\"\n\
         \x20   zonesdir: \"{d}\"\n\
         \x20   database: \"\"\n\
         \x20   zonelistfile: \"{d}/nsd.zonelist\"\n\
         \x20   xfrdfile: \"{d}/nsd.xfrd.state\"\n\
         \x20   xfrdir: \"{d}\"\n\
         \x20   pidfile: \"{d}/nsd.pid\"\n\
         \x20   logfile: \"{d}/nsd.log\"\n\
         \x20   verbosity: 0\n\
         \x20   hide-version: yes\n\
         \x20   rrl-ratelimit: 0\n\
         remote-control:\n\
         \x20   control-enable: no\n\
         zone:\n\x20   name: \".\"\n\x20   zonefile: \"root.zone\"\n\
         zone:\n\x20   name: \"lab.\"\n\x20   zonefile: \"lab.zone\"\n\
         zone:\n\x20   name: \"bench.lab.\"\n\x20   zonefile: \"bench.lab.zone\"\n"
    );
    std::fs::write(dir.join("nsd.conf"), config)
}

/// scoped's configuration: one worker thread, the lab's root, ECS to `cdn.lab.` only, client
/// subnets taken from the load generator's ECS options (it is a trusted front end), no DNSSEC
/// validation (the lab is unsigned, and the other resolvers run without it too).
pub fn scoped_config() -> String {
    format!(
        "[server]\nlisten = [\"{SCOPED}:53\"]\nthreads = 1\n\
         dot-listen = [\"{SCOPED}:{DOT_PORT}\"]\n\
         tls-certificate = \"{TLS_CERTIFICATE}\"\ntls-key = \"{TLS_KEY}\"\n\n\
         [recursion]\nroot-hints = \"root.hints\"\nallow-loopback-servers = true\n\n\
         [ecs]\nallowlist = \"allowlist.txt\"\ntrusted-front-ends = [\"127.0.0.0/8\"]\n\n\
         [dnssec]\nvalidation = false\n\n\
         [control]\nlisten = [\"{SCOPED}:9953\"]\n\n\
         [log]\nlevel = \"warn\"\n"
    )
}

/// The port of the DoT row's listeners (scoped's and Unbound's), on their own addresses.
pub const DOT_PORT: u16 = 853;
/// The DoT row's certificate and key, in the run's directory ([`write_tls`]).
pub const TLS_CERTIFICATE: &str = "tls.crt";
/// See [`TLS_CERTIFICATE`].
pub const TLS_KEY: &str = "tls.key";

/// The resolvers the DoT row measures (the others' DoT is not configured in this lab).
pub const DOT_RESOLVERS: [&str; 2] = ["scoped", "unbound"];

/// Writes a fresh self-signed certificate and its key for the DoT listeners into `dir`.
pub fn write_tls(dir: &Path) -> anyhow::Result<()> {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".into()])?;
    std::fs::write(dir.join(TLS_CERTIFICATE), made.cert.pem())?;
    std::fs::write(dir.join(TLS_KEY), made.signing_key.serialize_pem())?;
    Ok(())
}

/// scoped's ECS allowlist.
pub const SCOPED_ALLOWLIST: &str = "cdn.lab.\nloaded.lab.\n";

/// Unbound's configuration: one thread, no validator, subnetcache sending ECS to the CDN server
/// only, caches large enough for the memory row, serve-expired and prefetch like scoped's
/// defaults.
pub fn unbound_config(dir: &Path) -> String {
    let d = dir.display();
    format!(
        "server:\n\
         \x20   interface: {UNBOUND}@53\n\
         \x20   interface: {UNBOUND}@{DOT_PORT}\n\
         \x20   tls-port: {DOT_PORT}\n\
         \x20   tls-service-key: \"{d}/{TLS_KEY}\"\n\
         \x20   tls-service-pem: \"{d}/{TLS_CERTIFICATE}\"\n\
         \x20   num-threads: 1\n\
         \x20   so-reuseport: yes\n\
         \x20   do-daemonize: no\n\
         \x20   username: \"\"\n\
         \x20   chroot: \"\"\n\
         \x20   directory: \"{d}\"\n\
         \x20   pidfile: \"{d}/unbound.pid\"\n\
         \x20   use-syslog: no\n\
         \x20   logfile: \"{d}/unbound.log\"\n\
         \x20   verbosity: 0\n\
         \x20   root-hints: \"{d}/root.hints\"\n\
         \x20   do-not-query-localhost: no\n\
         \x20   access-control: 127.0.0.0/8 allow\n\
         \x20   module-config: \"subnetcache iterator\"\n\
         \x20   send-client-subnet: {CDN}\n\
         \x20   send-client-subnet: {}\n\
         \x20   send-client-subnet: {}\n\
         \x20   send-client-subnet: {}\n\
         \x20   send-client-subnet: {}\n\
         \x20   max-client-subnet-ipv4: 24\n\
         \x20   max-client-subnet-ipv6: 56\n\
         \x20   msg-cache-size: 256m\n\
         \x20   rrset-cache-size: 256m\n\
         \x20   prefetch: yes\n\
         \x20   serve-expired: yes\n\
         remote-control:\n\
         \x20   control-enable: no\n",
        LOADED[0], LOADED[1], LOADED[2], LOADED[3]
    )
}

/// PowerDNS Recursor's configuration (4.x `recursor.conf`): one worker thread, no DNSSEC
/// processing, ECS to the CDN server only, incoming ECS options used, large caches.
pub fn pdns_config(dir: &Path) -> String {
    let d = dir.display();
    format!(
        "local-address={PDNS}\n\
         local-port=53\n\
         allow-from=127.0.0.0/8\n\
         hint-file={d}/root.hints\n\
         dont-query=\n\
         threads=1\n\
         pdns-distributes-queries=no\n\
         reuseport=yes\n\
         daemon=no\n\
         write-pid=no\n\
         socket-dir={d}\n\
         dnssec=off\n\
         quiet=yes\n\
         loglevel=3\n\
         disable-syslog=yes\n\
         edns-subnet-allow-list={CDN},{},{},{},{}\n\
         use-incoming-edns-subnet=yes\n\
         ecs-ipv4-bits=24\n\
         ecs-ipv6-bits=56\n\
         max-cache-entries=2000000\n\
         max-packetcache-entries=2000000\n",
        LOADED[0], LOADED[1], LOADED[2], LOADED[3]
    )
}

/// Knot Resolver's cache size, MiB: Unbound's two caches together (`msg-cache-size` and
/// `rrset-cache-size`, 256m each). kresd allocates the whole file up front.
pub const KNOT_CACHE_MIB: u32 = 512;

/// Where Knot Resolver's LMDB cache goes: on tmpfs when there is one (`shm`, normally
/// `/dev/shm`), in memory like the other resolvers' caches rather than in a file on disk;
/// otherwise in the run's directory. Named after the run so a leftover is recognisable.
pub fn knot_cache_dir(run_dir: &Path, shm: Option<&Path>) -> PathBuf {
    match shm {
        Some(shm) => {
            let run = run_dir
                .file_name()
                .map_or_else(|| "run".into(), |n| n.to_string_lossy());
            shm.join(format!("scoped-bench-{run}-kresd-cache"))
        }
        None => run_dir.join("kresd-cache"),
    }
}

/// `s` as a Lua string literal (single-quoted, backslash escapes).
fn lua_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// Knot Resolver's configuration (5.x Lua, `kresd -c kresd.conf -n -q RUNDIR`): one process,
/// UDP and TCP on port 53, the lab's root hints, no DNSSEC validation, loopback nameservers
/// allowed, a 512 MiB cache in `cache_dir`. QNAME minimisation stays at its default (on), as it
/// does in Unbound and PowerDNS Recursor. No ECS: kresd 5 has none.
pub fn knot_config(dir: &Path, cache_dir: &Path) -> String {
    let hints = lua_string(&dir.join("root.hints").to_string_lossy());
    let cache = lua_string(&format!("lmdb://{}", cache_dir.display()));
    format!(
        "-- Written by scoped-bench; see docs/benchmarks.md.\n\
         log_level('warning')\n\
         -- kind 'dns' is UDP and TCP.\n\
         net.listen('{KNOT}', 53, {{ kind = 'dns' }})\n\
         -- The lab's root instead of the built-in hints; this is what kresd's own postconfig.lua\n\
         -- calls for the default file. The 'hints' module would do it too, but would also sit in\n\
         -- every query's path, where the other resolvers have nothing like it.\n\
         _hint_root_file({hints})\n\
         -- No validation, as in the other resolvers (the lab is unsigned): no trust anchor, and\n\
         -- no validator layer, like Unbound's module-config without \"validator\".\n\
         trust_anchors.remove('.')\n\
         modules.unload('validate')\n\
         -- kresd skips nameservers on loopback and private addresses unless a query carries\n\
         -- ALLOW_LOCAL; every nameserver of the lab is on 127.54.0.0/24. Set as a default of\n\
         -- every request: a policy rule setting it runs Lua for each query, which made a\n\
         -- cache hit cost kresd ~1.6x the CPU in this lab.\n\
         option('ALLOW_LOCAL', true)\n\
         cache.open({KNOT_CACHE_MIB} * MB, {cache})\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_subnets_are_distinct_public_slash_24s() {
        assert_eq!(client_subnet(0), Ipv4Addr::new(11, 0, 0, 0));
        assert_eq!(client_subnet(257), Ipv4Addr::new(11, 1, 1, 0));
        assert_eq!(client_subnet(65_536), Ipv4Addr::new(12, 0, 0, 0));
    }

    #[test]
    fn the_loaded_zone_is_delegated_to_four_addresses_and_every_ecs_peer_sends_ecs_there() {
        let tld = tld_zone();
        for (k, ip) in LOADED.iter().enumerate() {
            assert!(tld.contains(&format!("loaded.lab. 86400 IN NS ns{}.loaded.lab.", k + 1)));
            assert!(tld.contains(&format!("ns{}.loaded.lab. 86400 IN A {ip}", k + 1)));
            assert!(unbound_config(Path::new("/r")).contains(&format!("send-client-subnet: {ip}")));
        }
        assert!(pdns_config(Path::new("/r")).contains(
            "edns-subnet-allow-list=127.54.0.4,127.54.0.5,127.54.0.6,127.54.0.7,127.54.0.8\n"
        ));
        assert!(SCOPED_ALLOWLIST.lines().any(|l| l == "loaded.lab."));
    }

    #[test]
    fn scoped_and_unbound_serve_dot_on_their_own_address_with_the_runs_certificate() {
        let scoped = scoped_config();
        assert!(scoped.contains(&format!("dot-listen = [\"{SCOPED}:853\"]")));
        assert!(scoped.contains("tls-certificate = \"tls.crt\"\ntls-key = \"tls.key\""));
        let unbound = unbound_config(Path::new("/r"));
        for line in [
            format!("interface: {UNBOUND}@853"),
            "tls-port: 853".into(),
            "tls-service-key: \"/r/tls.key\"".into(),
            "tls-service-pem: \"/r/tls.crt\"".into(),
        ] {
            assert!(unbound.contains(&line), "{line}");
        }
    }

    #[test]
    fn scoped_config_validates_nothing_in_the_unsigned_lab() {
        // scoped validates by default; the lab's root is unsigned, so every answer would be
        // bogus under the built-in root anchor.
        assert!(scoped_config().contains("[dnssec]\nvalidation = false\n"));
    }

    #[test]
    fn knot_config_listens_on_its_address_with_the_labs_root_and_no_validation() {
        let config = knot_config(Path::new("/r/run-1"), Path::new("/dev/shm/c"));
        let lines: Vec<&str> = config
            .lines()
            .filter(|l| !l.trim_start().starts_with("--"))
            .collect();
        assert_eq!(
            lines,
            [
                "log_level('warning')",
                "net.listen('127.55.0.4', 53, { kind = 'dns' })",
                "_hint_root_file('/r/run-1/root.hints')",
                "trust_anchors.remove('.')",
                "modules.unload('validate')",
                "option('ALLOW_LOCAL', true)",
                "cache.open(512 * MB, 'lmdb:///dev/shm/c')",
            ]
        );
    }

    #[test]
    fn paths_are_quoted_for_lua() {
        assert_eq!(lua_string("/a/b"), "'/a/b'");
        assert_eq!(lua_string("/it's\\x"), "'/it\\'s\\\\x'");
        let config = knot_config(Path::new("/o'dd"), Path::new("/c"));
        assert!(config.contains("_hint_root_file('/o\\'dd/root.hints')"));
    }

    #[test]
    fn knot_cache_goes_to_tmpfs_when_there_is_one() {
        let run = Path::new("/w/target/scoped-bench/run-17");
        assert_eq!(
            knot_cache_dir(run, Some(Path::new("/dev/shm"))),
            Path::new("/dev/shm/scoped-bench-run-17-kresd-cache")
        );
        assert_eq!(
            knot_cache_dir(run, None),
            Path::new("/w/target/scoped-bench/run-17/kresd-cache")
        );
    }

    #[test]
    fn only_knot_is_left_out_of_the_ecs_scenarios() {
        let ecs: Vec<&str> = RESOLVERS.into_iter().filter(|r| speaks_ecs(r)).collect();
        assert_eq!(ecs, ["scoped", "unbound", "pdns"]);
    }

    #[test]
    fn the_cdn_zone_parses_in_the_testkit() {
        scoped_testkit::Zone::parse("cdn.lab.", &cdn_zone()).unwrap();
        scoped_testkit::Zone::parse("loaded.lab.", &loaded_zone()).unwrap();
        scoped_testkit::Zone::parse("bench.lab.", &leaf_zone()).unwrap();
        scoped_testkit::Zone::parse("lab.", &tld_zone()).unwrap();
        scoped_testkit::Zone::parse(".", &root_zone()).unwrap();
    }
}
