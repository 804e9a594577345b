use std::time::Duration;

use scoped_recursor::qmin::QminMode;

use super::file::IPV6_ROUTE_PROBE;
use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("test.toml"))
}

#[test]
fn empty_file_gives_safe_defaults() {
    let config = parse("").unwrap();
    assert_eq!(config.server.listen.len(), 2);
    assert!(
        config
            .server
            .listen
            .iter()
            .all(|a| a.ip().is_loopback() && a.port() == 5353)
    );
    assert!(!config.recursor.allow_loopback_servers);
    assert_eq!(config.recursor.upstream_port, 53);
    assert_eq!(config.recursor.root_hints.len(), 26);
    assert!(
        config
            .server
            .allow
            .iter()
            .all(|n| !n.contains(&"8.8.8.8".parse::<IpAddr>().unwrap()))
    );
}

#[test]
fn shipped_resolver_toml_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("resolver.toml");
    Config::load(&path).unwrap();
}

#[test]
fn shipped_local_privacy_profile_is_loopback_only_without_ecs_and_minimised() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("resolver-local.toml");
    let config = Config::load(&path).unwrap();
    assert!(config.server.listen.iter().all(|a| a.ip().is_loopback()));
    assert!(config.server.allow.iter().all(|n| n.addr().is_loopback()));
    // A public client's address, or a subnet a stub asks for: nothing goes upstream.
    let public: IpAddr = "8.8.8.8".parse().unwrap();
    let asked = scoped_ecs::Ecs::for_query("8.8.8.0/24".parse().unwrap());
    let policy = &config.server.ecs.policy;
    assert_eq!(policy.decide(public, None).subnet(), None);
    assert_eq!(policy.decide(public, Some(&asked)).subnet(), None);
    assert_eq!(config.recursor.qname_minimisation, QminMode::Relaxed);
    assert_eq!(config.log_level, "warn", "no query logging");
    let control = config
        .control
        .expect("the control endpoint, for scoped ctl");
    assert!(control.listen.iter().all(|a| a.ip().is_loopback()));
}

#[test]
fn ipv6_upstream_takes_auto_true_or_false() {
    assert!(
        parse("[recursion]\nipv6 = true\n")
            .unwrap()
            .recursor
            .ipv6_upstream
    );
    assert!(
        !parse("[recursion]\nipv6 = false\n")
            .unwrap()
            .recursor
            .ipv6_upstream
    );
    // auto: whatever this machine's routing table says, without sending anything.
    let has_route = std::net::UdpSocket::bind("[::]:0")
        .and_then(|s| s.connect(IPV6_ROUTE_PROBE))
        .is_ok();
    assert_eq!(parse("").unwrap().recursor.ipv6_upstream, has_route);
    let err = parse("[recursion]\nipv6 = \"maybe\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 2") && err.contains("auto"), "{err}");
}

/// Whether this machine has a route to the IPv6 internet (what `ipv6 = "auto"` finds).
fn has_ipv6_route() -> bool {
    std::net::UdpSocket::bind("[::]:0")
        .and_then(|s| s.connect(IPV6_ROUTE_PROBE))
        .is_ok()
}

#[test]
fn ipv4_upstream_is_on_by_default_and_can_be_turned_off() {
    assert!(parse("").unwrap().recursor.ipv4_upstream);
    assert!(
        parse("[recursion]\nipv4 = true\n")
            .unwrap()
            .recursor
            .ipv4_upstream
    );
    let config = parse("[recursion]\nipv4 = false\nipv6 = true\n").unwrap();
    assert!(!config.recursor.ipv4_upstream);
    assert!(config.recursor.ipv6_upstream);
    let err = parse("[recursion]\nipv4 = \"auto\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 2") && err.contains("bool"), "{err}");
}

#[test]
fn ipv4_and_ipv6_both_off_is_refused_naming_both_keys() {
    let err = parse("[recursion]\nipv4 = false\nipv6 = false\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("recursion.ipv4 is false") && err.contains("recursion.ipv6 is false"),
        "{err}"
    );
    // "auto" without an IPv6 route is off too, and the message says why.
    match parse("[recursion]\nipv4 = false\n") {
        Ok(config) => {
            assert!(has_ipv6_route());
            assert!(config.recursor.ipv6_upstream && !config.recursor.ipv4_upstream);
        }
        Err(err) => {
            assert!(!has_ipv6_route());
            assert!(err.to_string().contains("no IPv6 route"), "{err}");
        }
    }
}

#[test]
fn ipv4_off_refuses_only_ipv4_outgoing_addresses() {
    let err =
        parse("[recursion]\nipv4 = false\nipv6 = true\noutgoing-addresses = [\"192.0.2.1\"]\n")
            .unwrap_err()
            .to_string();
    assert!(
        err.contains("recursion.outgoing-addresses") && err.contains("recursion.ipv4"),
        "{err}"
    );
    parse("[recursion]\nipv4 = false\nipv6 = true\noutgoing-addresses = [\"2001:db8::1\"]\n")
        .unwrap();
}

#[test]
fn root_hints_need_an_address_in_a_family_that_is_on() {
    let dir = std::env::temp_dir().join(format!("scoped-config-family-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config_path = dir.join("resolver.toml");
    std::fs::write(
        dir.join("v4"),
        ". NS a.root.test.\na.root.test. A 192.0.2.53\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("v6"),
        ". NS a.root.test.\na.root.test. AAAA 2001:db8::53\n",
    )
    .unwrap();
    let with = |extra: &str| {
        Config::parse(&format!("[recursion]\n{extra}\n"), &config_path)
            .map(|c| c.recursor.root_hints.len())
            .map_err(|e| e.to_string())
    };
    let err = with("root-hints = \"v4\"\nipv4 = false\nipv6 = true").unwrap_err();
    assert!(
        err.contains("recursion.root-hints")
            && err.contains("no IPv6 address")
            && err.contains("recursion.ipv4 is false"),
        "{err}"
    );
    let err = with("root-hints = \"v6\"\nipv6 = false").unwrap_err();
    assert!(
        err.contains("no IPv4 address") && err.contains("recursion.ipv6 is false"),
        "{err}"
    );
    assert_eq!(
        with("root-hints = \"v6\"\nipv4 = false\nipv6 = true"),
        Ok(1)
    );
    assert_eq!(with("root-hints = \"v4\"\nipv6 = false"), Ok(1));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn unknown_key_is_named_with_its_line() {
    let err = parse("[server]\nthreads = 2\nlisten-adress = []\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("listen-adress"), "{err}");
    assert!(err.contains("line 3"), "{err}");
}

#[test]
fn unknown_section_is_rejected() {
    let err = parse("[resolver]\n").unwrap_err().to_string();
    assert!(err.contains("resolver"), "{err}");
}

#[test]
fn wrong_type_names_the_line() {
    let err = parse("[cache]\nmin-ttl = \"ten\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 2"), "{err}");
}

#[test]
fn durations_and_sizes_have_units() {
    let config = parse(
        "[recursion]\nquery-timeout = \"3s\"\nserver-timeout = \"250ms\"\n[cache]\nmax-size = \"64MiB\"\n",
    )
    .unwrap();
    assert_eq!(config.recursor.infra.max_rto, Duration::from_millis(250));
    assert_eq!(
        config.recursor.infra.initial_rto,
        Duration::from_millis(250),
        "clamped under the ceiling"
    );
    assert_eq!(config.cache.max_bytes, 64 << 20);
    assert!(
        parse("[cache]\nmax-size = \"64MB\"\n")
            .unwrap_err()
            .to_string()
            .contains("unit")
    );
}

#[test]
fn inconsistent_values_name_the_key() {
    let err = parse("[cache]\nmin-ttl = 100\nmax-ttl = 10\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("cache.min-ttl"), "{err}");
    let err = parse("[server]\nlisten = []\n").unwrap_err().to_string();
    assert!(err.contains("server.listen"), "{err}");
    let err = parse("[log]\nlevel = \"scoped=nonsense=1\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("log.level"), "{err}");
}

#[test]
fn serve_stale_and_prefetch_are_on_by_default_with_the_rfc_8767_timers() {
    let config = parse("").unwrap();
    assert_eq!(config.cache.max_stale, 86_400, "one day");
    assert_eq!(config.cache.prefetch_percent, 10);
    assert_eq!(
        config.recursor.stale_client_timeout,
        Some(Duration::from_millis(1800))
    );
    assert_eq!(config.recursor.scoped_cache.ttl.max_stale, 86_400);
}

#[test]
fn serve_stale_and_prefetch_can_be_tuned_and_turned_off() {
    let config = parse(
        "[cache]\nmax-stale = 3600\nstale-client-timeout = \"500ms\"\nprefetch-percent = 20\n",
    )
    .unwrap();
    assert_eq!(config.cache.max_stale, 3600);
    assert_eq!(config.cache.prefetch_percent, 20);
    assert_eq!(
        config.recursor.stale_client_timeout,
        Some(Duration::from_millis(500))
    );
    let off = parse("[cache]\nserve-stale = false\nprefetch = false\n").unwrap();
    assert_eq!(off.cache.max_stale, 0, "nothing kept past the TTL");
    assert_eq!(off.recursor.scoped_cache.ttl.max_stale, 0);
    assert_eq!(off.cache.prefetch_percent, 0);
    let wait = parse("[cache]\nstale-client-timeout = \"0s\"\n").unwrap();
    assert_eq!(wait.recursor.stale_client_timeout, None);
    let fast_off = parse("[cache]\nanswer-cache-size = 0\n").unwrap();
    assert_eq!(fast_off.recursor.answer_cache_bytes, 0);
    assert_eq!(
        parse("").unwrap().recursor.answer_cache_bytes,
        64 << 20,
        "the fast path is on by default"
    );
    let err = parse("[cache]\nprefetch-percent = 100\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("cache.prefetch-percent"), "{err}");
}

#[test]
fn qname_minimisation_is_relaxed_by_default_and_can_be_strict_or_off() {
    assert_eq!(
        parse("").unwrap().recursor.qname_minimisation,
        QminMode::Relaxed
    );
    for (word, mode) in [
        ("strict", QminMode::Strict),
        ("off", QminMode::Off),
        ("relaxed", QminMode::Relaxed),
    ] {
        let text = format!("[recursion]\nqname-minimisation = \"{word}\"\n");
        assert_eq!(parse(&text).unwrap().recursor.qname_minimisation, mode);
    }
    let err = parse("[recursion]\nqname-minimisation = \"lax\"\n")
        .unwrap_err()
        .to_string();
    // The message names the line, shows the key and the bad value, and lists the good ones.
    for part in [
        "line 2",
        "qname-minimisation",
        "lax",
        "`relaxed`, `strict`, `off`",
    ] {
        assert!(err.contains(part), "{part:?} missing from {err}");
    }
}

#[test]
fn upstream_limits_have_safe_defaults_and_refuse_zero() {
    let config = parse("").unwrap();
    assert_eq!(config.recursor.max_outstanding_upstream, 2048);
    assert_eq!(config.recursor.max_records_per_reply, 256);
    let tuned =
        parse("[recursion]\nmax-outstanding-upstream = 10\nmax-records-per-reply = 50\n").unwrap();
    assert_eq!(tuned.recursor.max_outstanding_upstream, 10);
    assert_eq!(tuned.recursor.max_records_per_reply, 50);
    let err = parse("[recursion]\nmax-records-per-reply = 0\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("recursion.max-records-per-reply"), "{err}");
}

#[test]
fn background_measurements_default_to_three_and_can_be_turned_off() {
    let config = parse("").unwrap();
    assert_eq!(config.recursor.infra.max_background_per_query, 3);
    let off = parse("[recursion]\nbackground-measurements = 0\n").unwrap();
    assert_eq!(off.recursor.infra.max_background_per_query, 0);
}

#[test]
fn e01_no_allowlist_key_means_no_ecs_anywhere() {
    let config = parse("").unwrap();
    assert!(config.recursor.ecs_allowlist.is_empty());
}

#[test]
fn e01_bad_allowlist_line_is_named() {
    let dir = std::env::temp_dir().join(format!("scoped-config-allow-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("allow.txt"), "# cdn\ncdn.example.\n192.0.2.0/33\n").unwrap();
    let err = Config::parse("[ecs]\nallowlist = \"allow.txt\"\n", &dir.join("r.toml")).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("ecs.allowlist") && text.contains("line 3"),
        "{text}"
    );
    assert_eq!(
        text,
        format!(
            "{}: key `ecs.allowlist`: {}: line 3: \"192.0.2.0/33\": prefix length 33 is \
             longer than 32",
            dir.join("r.toml").display(),
            dir.join("allow.txt").display()
        )
    );
    assert!(matches!(
        err,
        ConfigError::Allowlist {
            source: AllowlistFileError::Invalid { ref source, .. },
            ..
        } if source.kind == scoped_ecs::AllowlistErrorKind::PrefixTooLong { len: 33, max: 32 }
    ));
    std::fs::write(dir.join("allow.txt"), "cdn.example.\n192.0.2.0/24\n").unwrap();
    let config = Config::parse("[ecs]\nallowlist = \"allow.txt\"\n", &dir.join("r.toml")).unwrap();
    assert_eq!(config.recursor.ecs_allowlist.len(), 2);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn e02_e03_prefix_lengths_are_validated() {
    let err = parse("[ecs]\nipv4-prefix-length = 33\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("ecs.ipv4-prefix-length"), "{err}");
    let err = parse("[ecs]\nipv6-prefix-length = 129\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("ecs.ipv6-prefix-length"), "{err}");
    let err = parse("[ecs]\nnetblocks = [{ net = \"10.0.0.0/8\", length = 28 }]\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("ecs.netblocks"), "{err}");
    parse("[ecs]\nipv4-prefix-length = 20\nnetblocks = [{ net = \"10.0.0.0/8\", length = 16 }]\n")
        .unwrap();
}

#[test]
fn control_defaults_to_loopback_8953() {
    let control = parse("").unwrap().control.expect("enabled by default");
    assert_eq!(control.listen, ["127.0.0.1:8953".parse().unwrap()]);
}

#[test]
fn control_can_be_turned_off() {
    let config = parse("[control]\nenabled = false\n").unwrap();
    assert!(config.control.is_none());
}

#[test]
fn control_refuses_a_remote_address_without_allow_remote() {
    for listen in [
        "0.0.0.0:8953",
        "192.0.2.1:8953",
        "[::]:8953",
        "[2001:db8::1]:8953",
    ] {
        let err = parse(&format!(
            "[control]\nlisten = [\"127.0.0.1:8953\", \"{listen}\"]\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("control.listen") && err.contains("control.allow-remote"),
            "{err}"
        );
    }
    // Refused even while disabled: enabling it later must not be the moment the mistake
    // shows.
    let err = parse("[control]\nenabled = false\nlisten = [\"0.0.0.0:8953\"]\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "test.toml: key `control.listen`: 0.0.0.0:8953 is not a loopback address; the control \
         endpoint has no authentication, so listening beyond this host needs \
         control.allow-remote = true"
    );
    assert!(matches!(
        err,
        ConfigError::Control {
            source: ControlConfigError::RemoteWithoutAllowRemote { addr },
            ..
        } if addr == "0.0.0.0:8953".parse().unwrap()
    ));
}

#[test]
fn control_accepts_a_remote_address_with_allow_remote() {
    let config =
        parse("[control]\nlisten = [\"0.0.0.0:8953\", \"[::1]:8953\"]\nallow-remote = true\n")
            .unwrap();
    assert_eq!(config.control.unwrap().listen.len(), 2);
    // An IPv4-mapped loopback address is loopback.
    parse("[control]\nlisten = [\"[::ffff:127.0.0.1]:8953\"]\n").unwrap();
}

#[test]
fn control_bad_address_names_the_key_and_line() {
    let err = parse("[control]\nenabled = true\nlisten = [\"localhost:8953\"]\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("control.listen") && err.contains("line 3"),
        "{err}"
    );
    let err = parse("[control]\nlisten = []\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "test.toml: key `control.listen`: at least one address is needed (to turn the endpoint \
         off: control.enabled = false)"
    );
    assert!(matches!(
        err,
        ConfigError::Control {
            source: ControlConfigError::NoListenAddress,
            ..
        }
    ));
    let err = parse("[control]\nallow_remote = true\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("allow_remote"), "{err}");
}

#[test]
fn root_hints_file_errors_name_its_line() {
    let dir = std::env::temp_dir().join(format!("scoped-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("hints"),
        ". NS a.root.test.\na.root.test. A 999.0.0.1\n",
    )
    .unwrap();
    let err = Config::parse(
        "[recursion]\nroot-hints = \"hints\"\n",
        &dir.join("resolver.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("line 2"), "{err}");
    std::fs::write(
        dir.join("hints"),
        ". NS a.root.test.\na.root.test. A 127.0.0.9\n",
    )
    .unwrap();
    let config = Config::parse(
        "[recursion]\nroot-hints = \"hints\"\n",
        &dir.join("resolver.toml"),
    )
    .unwrap();
    assert_eq!(config.recursor.root_hints.len(), 1);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn server_identity_and_version_are_the_chaos_answers() {
    let config = parse("").unwrap();
    assert_eq!(config.server.chaos, scoped_server::Chaos::default());
    let config =
        parse("[server]\nidentity = \"resolver-1.example\"\nversion = \"scoped 1.2\"\n").unwrap();
    assert_eq!(
        config.server.chaos,
        scoped_server::Chaos {
            identity: Some("resolver-1.example".into()),
            version: Some("scoped 1.2".into()),
        }
    );
}

#[test]
fn encrypted_listeners_need_a_certificate_and_key_read_relative_to_the_file() {
    let config = Config::parse(
        "[server]\ndot-listen = [\"127.0.0.1:853\"]\ndoh-listen = [\"[::1]:443\"]\n\
         tls-certificate = \"tls/cert.pem\"\ntls-key = \"/etc/scoped/key.pem\"\n\
         doh-trusted-proxies = [\"127.0.0.1/32\"]\n",
        Path::new("/etc/scoped/resolver.toml"),
    )
    .unwrap();
    let tls = config.server.tls.expect("tls files");
    assert_eq!(tls.certificate, Path::new("/etc/scoped/tls/cert.pem"));
    assert_eq!(tls.key, Path::new("/etc/scoped/key.pem"));
    assert_eq!(config.server.dot_listen.len(), 1);
    assert_eq!(config.server.doh_listen.len(), 1);
    assert_eq!(config.server.doh_trusted_proxies.len(), 1);

    for (text, key) in [
        (
            "[server]\ndot-listen = [\"127.0.0.1:853\"]\n",
            "server.dot-listen",
        ),
        (
            "[server]\ndoh-listen = [\"127.0.0.1:443\"]\n",
            "server.doh-listen",
        ),
        ("[server]\ntls-certificate = \"c.pem\"\n", "server.tls-key"),
        ("[server]\ntls-key = \"k.pem\"\n", "server.tls-certificate"),
    ] {
        match parse(text) {
            Err(ConfigError::Invalid { key: k, .. }) => assert_eq!(k, key, "{text}"),
            other => panic!("{text}: {other:?}"),
        }
    }
}
