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
        assert!(
            unbound_config(Path::new("/r"), &PLAIN).contains(&format!("send-client-subnet: {ip}"))
        );
    }
    assert!(pdns_config(Path::new("/r"), &PLAIN).contains(
        "edns-subnet-allow-list=127.54.0.4,127.54.0.5,127.54.0.6,127.54.0.7,127.54.0.8\n"
    ));
    assert!(SCOPED_ALLOWLIST.lines().any(|l| l == "loaded.lab."));
}

#[test]
fn scoped_and_unbound_serve_dot_on_their_own_address_with_the_runs_certificate() {
    let scoped = scoped_config(&PLAIN);
    assert!(scoped.contains(&format!("dot-listen = [\"{SCOPED}:853\"]")));
    assert!(scoped.contains("tls-certificate = \"tls.crt\"\ntls-key = \"tls.key\""));
    let unbound = unbound_config(Path::new("/r"), &PLAIN);
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
    assert!(scoped_config(&PLAIN).contains("[dnssec]\nvalidation = false\n"));
}

#[test]
fn knot_config_listens_on_its_address_with_the_labs_root_and_no_validation() {
    let config = knot_config(Path::new("/r/run-1"), Path::new("/dev/shm/c"), &PLAIN);
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
    let config = knot_config(Path::new("/o'dd"), Path::new("/c"), &PLAIN);
    assert!(config.contains("_hint_root_file('/o\\'dd/root.hints')"));
}

#[test]
fn knot_cache_goes_to_tmpfs_when_there_is_one() {
    let run = Path::new("/w/target/scoped-bench/run-17");
    assert_eq!(
        knot_cache_dir(run, Some(Path::new("/dev/shm")), &PLAIN),
        Path::new("/dev/shm/scoped-bench-run-17-kresd-cache")
    );
    assert_eq!(
        knot_cache_dir(run, None, &PLAIN),
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
    scoped_testkit::Zone::parse("bench.lab.", &leaf_zone(LEAF)).unwrap();
    scoped_testkit::Zone::parse("lab.", &tld_zone()).unwrap();
    scoped_testkit::Zone::parse(".", &root_zone(PLAIN.root(), TLD)).unwrap();
}

#[test]
fn the_validating_lab_has_its_own_addresses_and_the_signed_root() {
    let addrs: Vec<SocketAddr> = RESOLVERS
        .iter()
        .map(|r| VALIDATED.addr(r).unwrap())
        .collect();
    for (plain, validating) in RESOLVERS.iter().map(|r| PLAIN.addr(r).unwrap()).zip(&addrs) {
        assert_ne!(plain, *validating);
    }
    assert_eq!(addrs[0], "127.55.1.1:53".parse().unwrap());
    assert_eq!(PLAIN.root(), ("a.root.lab.", ROOT));
    assert_eq!(
        root_hints(VALIDATED.root()),
        ". 3600000 NS a.root-servers.\na.root-servers. 3600000 A 127.54.1.1\n"
    );
    assert_eq!(VALIDATED.addr("bind"), None);
}

#[test]
fn scoped_validates_from_the_anchor_file_without_aggressive_nsec() {
    let config = scoped_config(&VALIDATED);
    assert!(config.contains(
        "[dnssec]\nvalidation = true\ntrust-anchor-file = \"root.key\"\naggressive-nsec = false\n"
    ));
    assert!(config.contains("listen = [\"127.55.1.1:53\"]"));
    assert!(config.contains("threads = 1"));
    assert!(!config.contains("dot-listen"));
    assert!(!config.contains("127.55.0.1"));
}

#[test]
fn unbound_validates_with_the_validator_module_and_the_anchor_file() {
    let config = unbound_config(Path::new("/r/v"), &VALIDATED);
    for line in [
        "interface: 127.55.1.2@53",
        "module-config: \"subnetcache validator iterator\"",
        "trust-anchor-file: \"/r/v/root.key\"",
        "aggressive-nsec: no",
        "num-threads: 1",
        "root-hints: \"/r/v/root.hints\"",
    ] {
        assert!(config.contains(line), "{line}");
    }
    assert!(!config.contains("853"));
    // The unvalidated one has no validator and no anchor.
    let plain = unbound_config(Path::new("/r"), &PLAIN);
    assert!(plain.contains("module-config: \"subnetcache iterator\""));
    assert!(!plain.contains("trust-anchor"));
}

#[test]
fn pdns_validates_with_the_lua_anchor() {
    let config = pdns_config(Path::new("/r/v"), &VALIDATED);
    for line in [
        "local-address=127.55.1.3\n",
        "dnssec=validate\n",
        "lua-config-file=/r/v/recursor.lua\n",
        "aggressive-nsec-cache-size=0\n",
        "threads=1\n",
    ] {
        assert!(config.contains(line), "{line}");
    }
    assert!(!config.contains("dnssec=off"));
    assert!(pdns_config(Path::new("/r"), &PLAIN).contains("dnssec=off\n"));
}

#[test]
fn pdns_lua_replaces_the_root_anchors_with_the_labs_ds() {
    let anchor = "; the lab's root\n\n. 86400 IN DS 4242 13 2 AABBCC\n. 86400 IN DS 7 13 2 DDEE\n";
    assert_eq!(
        pdns_lua(anchor).unwrap(),
        "-- Written by scoped-bench; see docs/benchmarks.md.\n\
         clearTA('.')\n\
         addTA('.', '4242 13 2 AABBCC')\n\
         addTA('.', '7 13 2 DDEE')\n"
    );
    assert!(pdns_lua(". 86400 IN DNSKEY 257 3 13 AAAA\n").is_err());
    assert!(pdns_lua(". 86400 IN DS\n").is_err());
}

#[test]
fn knot_validates_from_the_anchor_file_read_only() {
    let config = knot_config(Path::new("/r/run-1/validated"), Path::new("/c"), &VALIDATED);
    let lines: Vec<&str> = config
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect();
    assert_eq!(
        lines,
        [
            "log_level('warning')",
            "net.listen('127.55.1.4', 53, { kind = 'dns' })",
            "_hint_root_file('/r/run-1/validated/root.hints')",
            "trust_anchors.remove('.')",
            "trust_anchors.add_file('/r/run-1/validated/root.key', true)",
            "option('ALLOW_LOCAL', true)",
            "cache.open(512 * MB, 'lmdb:///c')",
        ]
    );
}

#[test]
fn the_validating_knot_has_its_own_cache() {
    let run = Path::new("/w/run-17");
    assert_eq!(
        knot_cache_dir(
            &run.join("validated"),
            Some(Path::new("/dev/shm")),
            &VALIDATED
        ),
        Path::new("/dev/shm/scoped-bench-run-17-validated-kresd-cache")
    );
    assert_eq!(
        knot_cache_dir(&run.join("validated"), None, &VALIDATED),
        Path::new("/w/run-17/validated/kresd-cache")
    );
}
