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

pub mod signed;

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

/// One set of the four resolvers: where each listens, and whether they validate DNSSEC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lab {
    pub scoped: Ipv4Addr,
    pub unbound: Ipv4Addr,
    pub pdns: Ipv4Addr,
    pub knot: Ipv4Addr,
    /// Validation on, from the signed lab's root anchor ([`ANCHOR_FILE`] in the lab's
    /// directory), iterating from the signed root ([`signed::ROOT`]); otherwise off, from the
    /// unsigned root ([`ROOT`]).
    pub validating: bool,
}

/// The resolvers of the unsigned lab (every scenario but `validated`).
pub const PLAIN: Lab = Lab {
    scoped: SCOPED,
    unbound: UNBOUND,
    pdns: PDNS,
    knot: KNOT,
    validating: false,
};

/// The resolvers of the `validated` scenario: validation on, on the signed hierarchy.
pub const VALIDATED: Lab = Lab {
    scoped: Ipv4Addr::new(127, 55, 1, 1),
    unbound: Ipv4Addr::new(127, 55, 1, 2),
    pdns: Ipv4Addr::new(127, 55, 1, 3),
    knot: Ipv4Addr::new(127, 55, 1, 4),
    validating: true,
};

impl Lab {
    /// Where `resolver` (one of [`RESOLVERS`]) listens.
    pub fn addr(&self, resolver: &str) -> Option<SocketAddr> {
        let ip = match resolver {
            "scoped" => self.scoped,
            "unbound" => self.unbound,
            "pdns" => self.pdns,
            "knot" => self.knot,
            _ => return None,
        };
        Some(at53(ip))
    }

    /// The root server the resolvers start from: its name and address.
    pub fn root(&self) -> (&'static str, Ipv4Addr) {
        if self.validating {
            (signed::ROOT_NAME, signed::ROOT)
        } else {
            ("a.root.lab.", ROOT)
        }
    }
}

/// The trust anchor (the signed root's DS records) in a validating lab's directory.
pub const ANCHOR_FILE: &str = "root.key";

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

/// The root zone: itself served by `root` (name, address), `lab.` delegated to `tld`.
fn root_zone((name, root): (&str, Ipv4Addr), tld: Ipv4Addr) -> String {
    format!(
        ". 86400 IN SOA {name} hostmaster.root.lab. {SOA_TIMES}\n\
         . 86400 IN NS {name}\n\
         {name} 86400 IN A {root}\n\
         lab. 86400 IN NS ns.nic.lab.\n\
         ns.nic.lab. 86400 IN A {tld}\n"
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

/// `bench.lab.`, served at `leaf`: the hit names and the misses' wildcard.
fn leaf_zone(leaf: Ipv4Addr) -> String {
    let mut zone = format!(
        "bench.lab. 86400 IN SOA ns.bench.lab. hostmaster.bench.lab. {SOA_TIMES}\n\
         bench.lab. 86400 IN NS ns.bench.lab.\n\
         ns.bench.lab. 86400 IN A {leaf}\n\
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

/// The root hints every resolver is given: the root server `root` ([`Lab::root`]).
pub fn root_hints((name, root): (&str, Ipv4Addr)) -> String {
    format!(". 3600000 NS {name}\n{name} 3600000 A {root}\n")
}

/// Write the nsd configuration and zone files into `dir`.
///
/// # Errors
///
/// When a file cannot be written.
pub fn write_nsd(dir: &Path) -> std::io::Result<()> {
    std::fs::write(dir.join("root.zone"), root_zone(PLAIN.root(), TLD))?;
    std::fs::write(dir.join("lab.zone"), tld_zone())?;
    std::fs::write(dir.join("bench.lab.zone"), leaf_zone(LEAF))?;
    std::fs::write(
        dir.join("nsd.conf"),
        nsd_config(dir, [ROOT, TLD, LEAF], false),
    )
}

/// The control socket of an nsd started with `control` in [`nsd_config`], in its directory.
pub const NSD_CONTROL: &str = "nsd.ctl";

/// nsd's configuration: one server process on port 53 of the three `servers` (root, `lab.`,
/// `bench.lab.`), zone files `root.zone`, `lab.zone` and `bench.lab.zone` in `dir`; with
/// `control`, `nsd-control` enabled on the Unix socket [`NSD_CONTROL`] (for its query count).
pub(crate) fn nsd_config(dir: &Path, servers: [Ipv4Addr; 3], control: bool) -> String {
    let d = dir.display();
    let [root, tld, leaf] = servers;
    let control = if control {
        format!("\x20   control-enable: yes\n\x20   control-interface: \"{d}/{NSD_CONTROL}\"\n")
    } else {
        "\x20   control-enable: no\n".to_owned()
    };
    format!(
        "server:\n\
         \x20   ip-address: {root}\n\
         \x20   ip-address: {tld}\n\
         \x20   ip-address: {leaf}\n\
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
         {control}\
         zone:\n\x20   name: \".\"\n\x20   zonefile: \"root.zone\"\n\
         zone:\n\x20   name: \"lab.\"\n\x20   zonefile: \"lab.zone\"\n\
         zone:\n\x20   name: \"bench.lab.\"\n\x20   zonefile: \"bench.lab.zone\"\n"
    )
}

/// scoped's configuration: one worker thread, the lab's root, ECS to `cdn.lab.` only, client
/// subnets taken from the load generator's ECS options (it is a trusted front end). In the
/// unsigned lab no DNSSEC validation (the other resolvers run without it too) and a DoT
/// listener; in the validating lab validation from the signed root's anchor, without the
/// aggressive use of NSEC (as in every peer there, so a miss is a miss).
pub fn scoped_config(lab: &Lab) -> String {
    let ip = lab.scoped;
    let (dot, dnssec) = if lab.validating {
        (
            String::new(),
            format!(
                "validation = true\ntrust-anchor-file = \"{ANCHOR_FILE}\"\n\
                 aggressive-nsec = false\n"
            ),
        )
    } else {
        (
            format!(
                "dot-listen = [\"{ip}:{DOT_PORT}\"]\n\
                 tls-certificate = \"{TLS_CERTIFICATE}\"\ntls-key = \"{TLS_KEY}\"\n"
            ),
            "validation = false\n".to_owned(),
        )
    };
    format!(
        "[server]\nlisten = [\"{ip}:53\"]\nthreads = 1\n{dot}\n\
         [recursion]\nroot-hints = \"root.hints\"\nallow-loopback-servers = true\n\n\
         [ecs]\nallowlist = \"allowlist.txt\"\ntrusted-front-ends = [\"127.0.0.0/8\"]\n\n\
         [dnssec]\n{dnssec}\n\
         [control]\nlisten = [\"{ip}:9953\"]\n\n\
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

/// Unbound's configuration: one thread, subnetcache sending ECS to the CDN server only, caches
/// large enough for the memory row, serve-expired and prefetch like scoped's defaults. In the
/// unsigned lab no validator and a DoT listener; in the validating lab the validator module
/// (between subnetcache and the iterator, its place in Unbound's own ECS setups) with the
/// signed root's anchor, and no aggressive use of NSEC.
pub fn unbound_config(dir: &Path, lab: &Lab) -> String {
    let d = dir.display();
    let ip = lab.unbound;
    let (listen, modules, validation) = if lab.validating {
        (
            String::new(),
            "subnetcache validator iterator",
            format!(
                "\x20   trust-anchor-file: \"{d}/{ANCHOR_FILE}\"\n\
                 \x20   aggressive-nsec: no\n"
            ),
        )
    } else {
        (
            format!(
                "\x20   interface: {ip}@{DOT_PORT}\n\
                 \x20   tls-port: {DOT_PORT}\n\
                 \x20   tls-service-key: \"{d}/{TLS_KEY}\"\n\
                 \x20   tls-service-pem: \"{d}/{TLS_CERTIFICATE}\"\n"
            ),
            "subnetcache iterator",
            String::new(),
        )
    };
    format!(
        "server:\n\
         \x20   interface: {ip}@53\n\
         {listen}\
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
         \x20   module-config: \"{modules}\"\n\
         {validation}\
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

/// PowerDNS Recursor's configuration (4.x `recursor.conf`): one worker thread, ECS to the CDN
/// server only, incoming ECS options used, large caches. In the unsigned lab no DNSSEC
/// processing; in the validating lab `dnssec=validate` with the signed root's anchor from
/// [`PDNS_LUA`] ([`pdns_lua`]) and the aggressive NSEC cache off.
pub fn pdns_config(dir: &Path, lab: &Lab) -> String {
    let d = dir.display();
    let ip = lab.pdns;
    let dnssec = if lab.validating {
        format!("dnssec=validate\nlua-config-file={d}/{PDNS_LUA}\naggressive-nsec-cache-size=0\n")
    } else {
        "dnssec=off\n".to_owned()
    };
    format!(
        "local-address={ip}\n\
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
         {dnssec}\
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

/// PowerDNS Recursor's Lua configuration file in a validating lab's directory.
pub const PDNS_LUA: &str = "recursor.lua";

/// PowerDNS Recursor's Lua configuration in a validating lab: the built-in root anchors
/// replaced by the DS records in `anchor` (trust-anchor-file text: `owner TTL IN DS rdata`
/// lines; comments and blank lines skipped).
///
/// # Errors
///
/// When a line is not a DS record.
pub fn pdns_lua(anchor: &str) -> anyhow::Result<String> {
    let mut out =
        String::from("-- Written by scoped-bench; see docs/benchmarks.md.\nclearTA('.')\n");
    for line in anchor.lines().map(str::trim) {
        if line.is_empty() || line.starts_with(';') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(ds) = fields.iter().position(|f| f.eq_ignore_ascii_case("DS")) else {
            anyhow::bail!("not a DS record: {line}");
        };
        let rdata = fields[ds + 1..].join(" ");
        if ds == 0 || rdata.is_empty() {
            anyhow::bail!("not a DS record: {line}");
        }
        let _ = writeln!(
            out,
            "addTA({}, {})",
            lua_string(fields[0]),
            lua_string(&rdata)
        );
    }
    Ok(out)
}

/// Knot Resolver's cache size, MiB: Unbound's two caches together (`msg-cache-size` and
/// `rrset-cache-size`, 256m each). kresd allocates the whole file up front.
pub const KNOT_CACHE_MIB: u32 = 512;

/// Where Knot Resolver's LMDB cache goes: on tmpfs when there is one (`shm`, normally
/// `/dev/shm`), in memory like the other resolvers' caches rather than in a file on disk;
/// otherwise in the lab's directory. Named after the run (and `-validated` for the validating
/// lab's) so a leftover is recognisable. `lab_dir` is the run's directory, or the validating
/// lab's directory inside it.
pub fn knot_cache_dir(lab_dir: &Path, shm: Option<&Path>, lab: &Lab) -> PathBuf {
    match shm {
        Some(shm) => {
            let run_dir = if lab.validating {
                lab_dir.parent().unwrap_or(lab_dir)
            } else {
                lab_dir
            };
            let run = run_dir
                .file_name()
                .map_or_else(|| "run".into(), |n| n.to_string_lossy());
            let suffix = if lab.validating { "-validated" } else { "" };
            shm.join(format!("scoped-bench-{run}{suffix}-kresd-cache"))
        }
        None => lab_dir.join("kresd-cache"),
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
/// UDP and TCP on port 53, the lab's root hints, loopback nameservers allowed, a 512 MiB cache
/// in `cache_dir`. QNAME minimisation stays at its default (on), as it does in Unbound and
/// PowerDNS Recursor. No ECS: kresd 5 has none. In the unsigned lab no DNSSEC validation; in
/// the validating lab kresd's default validation, from the signed root's anchor file instead of
/// the built-in root keys.
pub fn knot_config(dir: &Path, cache_dir: &Path, lab: &Lab) -> String {
    let hints = lua_string(&dir.join("root.hints").to_string_lossy());
    let cache = lua_string(&format!("lmdb://{}", cache_dir.display()));
    let ip = lab.knot;
    let validation = if lab.validating {
        let anchor = lua_string(&dir.join(ANCHOR_FILE).to_string_lossy());
        format!(
            "-- Validation on (the validator layer is loaded by default): the signed lab's root\n\
             -- anchor replaces the built-in root keys; read-only, so no RFC 5011 updates.\n\
             trust_anchors.remove('.')\n\
             trust_anchors.add_file({anchor}, true)\n"
        )
    } else {
        "-- No validation, as in the other resolvers (the lab is unsigned): no trust anchor, and\n\
         -- no validator layer, like Unbound's module-config without \"validator\".\n\
         trust_anchors.remove('.')\n\
         modules.unload('validate')\n"
            .to_owned()
    };
    format!(
        "-- Written by scoped-bench; see docs/benchmarks.md.\n\
         log_level('warning')\n\
         -- kind 'dns' is UDP and TCP.\n\
         net.listen('{ip}', 53, {{ kind = 'dns' }})\n\
         -- The lab's root instead of the built-in hints; this is what kresd's own postconfig.lua\n\
         -- calls for the default file. The 'hints' module would do it too, but would also sit in\n\
         -- every query's path, where the other resolvers have nothing like it.\n\
         _hint_root_file({hints})\n\
         {validation}\
         -- kresd skips nameservers on loopback and private addresses unless a query carries\n\
         -- ALLOW_LOCAL; every nameserver of the lab is on 127.54.0.0/24. Set as a default of\n\
         -- every request: a policy rule setting it runs Lua for each query, which made a\n\
         -- cache hit cost kresd ~1.6x the CPU in this lab.\n\
         option('ALLOW_LOCAL', true)\n\
         cache.open({KNOT_CACHE_MIB} * MB, {cache})\n"
    )
}

#[cfg(test)]
mod tests;
