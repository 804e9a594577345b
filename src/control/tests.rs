use std::sync::atomic::Ordering;

use scoped_recursor::EngineStats;

use super::snapshot::{page_size, read_counters, resident_bytes};
use super::*;

/// Every counter `/stats` and `/metrics` export, group by group in declaration order.
/// Operators' dashboards and alerts use these names: renaming or dropping one is a breaking
/// change, so it must show up here.
const EXPORTED_COUNTERS: [(&str, &[&str]); 3] = [
    (
        "frontend",
        &[
            "queries_udp",
            "queries_tcp",
            "responses_noerror",
            "responses_formerr",
            "responses_servfail",
            "responses_nxdomain",
            "responses_notimp",
            "responses_refused",
            "responses_badvers",
            "responses_other",
            "dropped_short",
            "dropped_response",
            "dropped_overload",
            "formerr_malformed",
            "formerr_question_count",
            "formerr_meta_qtype",
            "formerr_ecs",
            "formerr_ecs_truncated",
            "formerr_ecs_unknown_family",
            "formerr_ecs_source_too_long",
            "formerr_ecs_scope_too_long",
            "formerr_ecs_nonzero_scope_in_query",
            "formerr_ecs_bad_length",
            "formerr_ecs_host_bits_set",
            "formerr_ecs_duplicate",
            "formerr_opt_option_overrun",
            "formerr_message_truncated",
            "formerr_name_bad_label",
            "formerr_name_bad_pointer",
            "formerr_name_too_long",
            "formerr_opt_owner_not_root",
            "formerr_opt_duplicate",
            "refused_acl",
            "refused_class",
            "answered_local",
            "badvers",
            "notimp_opcode",
            "notimp_qtype",
            "ecs_tailored",
            "ecs_trusted_front_end",
            "ecs_withheld_disabled",
            "ecs_withheld_private_client",
            "ecs_withheld_client_opted_out",
            "ecs_withheld_client_ecs_other_family",
            "ecs_echoed",
            "truncated",
            "encode_errors",
            "udp_full_send_calls",
            "tcp_accepted",
            "tcp_rejected_server_full",
            "tcp_rejected_per_client",
            "tcp_idle_timeouts",
            "tcp_read_timeouts",
            "proxy_dropped_untrusted",
            "proxy_dropped_malformed",
            "proxy_dropped_missing",
            "proxy_local",
            "cookie_formerr",
            "cookie_valid",
            "cookie_fresh",
            "ratelimit_dropped",
            "ratelimit_truncated",
            "ratelimit_badcookie",
            "queries_dot",
            "queries_doh",
            "dot_accepted",
            "doh_accepted",
            "tls_handshake_failures",
            "doh_bad_requests",
            "responses_padded",
        ],
    ),
    (
        "engine",
        &[
            "cache_hits",
            "cache_misses",
            "deduplicated",
            "upstream_queries",
            "tcp_retries",
            "upstream_failures",
            "soft_timeouts",
            "late_replies",
            "retries",
            "retry_budget_exhausted",
            "server_busy_spread",
            "server_busy_waits",
            "silent_server_releases",
            "background_probes",
            "background_probes_skipped",
            "malformed_replies",
            "lame_replies",
            "servers_skipped",
            "servfail",
            "ecs_sent",
            "cookie_spoofed_replies",
            "ecs_withheld_not_allowlisted",
            "ecs_withheld_infrastructure",
            "ecs_withheld_minimised",
            "ecs_rejected_retries",
            "ecs_suspicious_reasks",
            "tailored_answers_cached",
            "prefetches",
            "upstream_throttled",
            "oversized_replies",
            "stale_served_slow",
            "stale_served_failed",
            "dnssec_secure",
            "dnssec_insecure",
            "dnssec_bogus",
            "dnssec_indeterminate",
            "dnssec_bogus_cached",
            "dnssec_aggressive_nxdomain",
            "dnssec_aggressive_nodata",
            "dnssec_anchor_keys_missing",
            "dnssec_anchor_refreshes",
            "forward_tls_connections",
            "forward_tls_handshake_failures",
            "forward_tls_resumed",
            "forward_tls_reused",
        ],
    ),
    ("transport", &["mismatched_replies", "timeouts"]),
];

#[test]
fn the_exported_counter_names_are_pinned() {
    let snapshot = test_snapshot();
    let json = snapshot.to_json();
    let text = snapshot.into_openmetrics().unwrap();
    let mut pinned_metrics = Vec::new();
    for (group, names) in EXPORTED_COUNTERS {
        let mut keys: Vec<&str> = json[group]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected = names.to_vec();
        keys.sort_unstable();
        expected.sort_unstable();
        assert_eq!(keys, expected, "JSON keys of {group:?}");
        pinned_metrics.extend(names.iter().map(|name| format!("scoped_{group}_{name}")));
    }
    // Every `# TYPE … counter` line, in order, but the labelled families' (the per-server ECS
    // audit, and those pinned below).
    let labelled = [
        "scoped_responses_by_rcode",
        "scoped_queries_by_type",
        "scoped_servfail_by_reason",
    ];
    let exported_metrics: Vec<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.strip_suffix(" counter"))
        .filter(|name| !name.starts_with("scoped_ecs_sent_") && !labelled.contains(name))
        .collect();
    assert_eq!(exported_metrics, pinned_metrics);
    for name in &pinned_metrics {
        let help = format!("# HELP {name} ");
        let total = format!("{name}_total ");
        assert!(text.lines().any(|l| l.starts_with(&help)), "{name} help");
        assert!(text.lines().any(|l| l.starts_with(&total)), "{name}_total");
    }
}

#[test]
fn routes_by_path_and_method() {
    for endpoint in Endpoint::ALL {
        assert_eq!(
            Endpoint::route(&endpoint.method(), endpoint.path(), false).ok(),
            Some(endpoint)
        );
    }
    let status = |method: Method, path: &str, origin: bool| {
        Endpoint::route(&method, path, origin)
            .err()
            .map(Refusal::status)
    };
    assert_eq!(
        status(Method::GET, "/nope", false),
        Some(StatusCode::NOT_FOUND)
    );
    assert_eq!(
        status(Method::GET, "/reload", false),
        Some(StatusCode::METHOD_NOT_ALLOWED)
    );
    assert_eq!(
        status(Method::POST, "/stats", false),
        Some(StatusCode::METHOD_NOT_ALLOWED)
    );
    // A web page may read (the same-origin policy keeps the answer from it) but not act.
    assert_eq!(
        status(Method::POST, "/reload", true),
        Some(StatusCode::FORBIDDEN)
    );
    assert_eq!(status(Method::GET, "/stats", true), None);
}

#[test]
fn resident_memory_is_read_in_whole_pages() {
    let size = page_size();
    assert!(size.is_power_of_two() && size >= 4096, "{size}");
    if cfg!(target_os = "linux") {
        let rss = resident_bytes().expect("procfs");
        assert!(rss > 0 && rss.is_multiple_of(size), "{rss}");
    }
}

fn test_snapshot() -> Snapshot {
    let frontend = FrontendStats::default();
    frontend.queries_udp.fetch_add(3, Ordering::Relaxed);
    frontend.responses_servfail.fetch_add(2, Ordering::Relaxed);
    let metrics = scoped_server::FrontendMetrics::default();
    metrics.latency_cache.observe(Duration::from_micros(80));
    metrics.latency_recursion.observe(Duration::from_millis(30));
    metrics.latency_recursion.observe(Duration::from_secs(9));
    metrics.count_qtype(28);
    metrics.count_servfail(Some(22));
    metrics.count_servfail(None);
    Snapshot {
        metrics: metrics.snapshot(),
        uptime: Duration::from_secs(7),
        frontend: read_counters(&frontend),
        engine: read_counters(&EngineStats::default()),
        transport: read_counters(&TransportCounters::default()),
        records: CacheSize {
            entries: 2,
            weighted_bytes: 900,
            max_bytes: 1 << 20,
        },
        tailored: CacheSize {
            entries: 3,
            weighted_bytes: 1200,
            max_bytes: 1 << 20,
        },
        tailored_names: 1,
        answers: CacheSize {
            entries: 4,
            weighted_bytes: 1600,
            max_bytes: 1 << 20,
        },
        tailored_by_scope_len: TailoredByScopeLen {
            ipv4: vec![(24, 2)],
            ipv6: vec![(56, 1)],
        },
        allowlist_entries: 2,
        ecs_sent_by_server: vec![(
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 53)),
            EcsSent {
                queries: 3,
                bits: 72,
                max_bits: 24,
            },
        )],
        allowlist_file: Some(PathBuf::from("allow.txt")),
        rss_bytes: Some(8192),
    }
}

#[test]
fn json_groups_counters_by_part() {
    let json = test_snapshot().to_json();
    assert_eq!(json["uptime_seconds"], 7);
    assert_eq!(json["frontend"]["queries_udp"], 3);
    assert_eq!(json["engine"]["cache_hits"], 0);
    assert_eq!(json["transport"]["timeouts"], 0);
    assert_eq!(json["caches"]["records"]["entries"], 2);
    assert_eq!(json["caches"]["tailored"]["names"], 1);
    assert_eq!(json["caches"]["tailored"]["by_scope_len"]["ipv4"]["24"], 2);
    assert_eq!(json["caches"]["tailored"]["by_scope_len"]["ipv6"]["56"], 1);
    assert_eq!(json["ecs_allowlist"]["entries"], 2);
    assert_eq!(json["ecs_allowlist"]["file"], "allow.txt");
    let audit = &json["ecs_sent_by_server"]["192.0.2.53"];
    assert_eq!(
        (audit["queries"].as_u64(), audit["bits"].as_u64()),
        (Some(3), Some(72))
    );
    assert_eq!(audit["max_bits"], 24);
    assert_eq!(json["process"]["rss_bytes"], 8192);
    assert_eq!(json["latency"]["cache"]["count"], 1);
    assert_eq!(json["latency"]["cache"]["buckets_us"]["100"], 1);
    assert_eq!(json["latency"]["recursion"]["count"], 2);
    assert_eq!(json["latency"]["recursion"]["buckets_us"]["5000000"], 1);
    assert_eq!(json["queries_by_type"]["AAAA"], 1);
    assert_eq!(json["queries_by_type"]["other"], 0);
    assert_eq!(json["servfail_by_reason"]["22"], 1);
    assert_eq!(json["servfail_by_reason"]["none"], 1);
}

#[test]
fn metrics_name_counters_and_gauges() {
    let text = test_snapshot().into_openmetrics().unwrap();
    for expected in [
        "# TYPE scoped_frontend_queries_udp counter\n",
        "scoped_frontend_queries_udp_total 3\n",
        "# HELP scoped_engine_cache_hits Client questions answered entirely from the cache\n",
        "scoped_engine_cache_hits_total 0\n",
        "scoped_transport_timeouts_total 0\n",
        "# TYPE scoped_cache_records_weighted_bytes gauge\n",
        "scoped_cache_records_weighted_bytes 900\n",
        "scoped_cache_tailored_by_scope_len{family=\"ipv4\",scope_len=\"24\"} 2\n",
        "scoped_cache_tailored_by_scope_len{family=\"ipv6\",scope_len=\"56\"} 1\n",
        "scoped_ecs_allowlist_entries 2\n",
        "scoped_ecs_sent_queries_total{server=\"192.0.2.53\"} 3\n",
        "scoped_ecs_sent_bits_total{server=\"192.0.2.53\"} 72\n",
        "scoped_uptime_seconds 7\n",
        "scoped_process_resident_memory_bytes 8192\n",
        "# TYPE scoped_response_latency_seconds histogram\n",
        "scoped_response_latency_seconds_count{source=\"cache\"} 1\n",
        "scoped_response_latency_seconds_bucket{le=\"0.00005\",source=\"cache\"} 0\n",
        "scoped_response_latency_seconds_bucket{le=\"0.0001\",source=\"cache\"} 1\n",
        "scoped_response_latency_seconds_bucket{le=\"0.025\",source=\"recursion\"} 0\n",
        "scoped_response_latency_seconds_bucket{le=\"0.05\",source=\"recursion\"} 1\n",
        "scoped_response_latency_seconds_bucket{le=\"5.0\",source=\"recursion\"} 1\n",
        "scoped_response_latency_seconds_bucket{le=\"+Inf\",source=\"recursion\"} 2\n",
        "scoped_response_latency_seconds_count{source=\"recursion\"} 2\n",
        "scoped_responses_by_rcode_total{rcode=\"SERVFAIL\"} 2\n",
        "scoped_responses_by_rcode_total{rcode=\"NOERROR\"} 0\n",
        "scoped_queries_by_type_total{qtype=\"AAAA\"} 1\n",
        "scoped_queries_by_type_total{qtype=\"other\"} 0\n",
        "scoped_servfail_by_reason_total{ede=\"22\"} 1\n",
        "scoped_servfail_by_reason_total{ede=\"none\"} 1\n",
    ] {
        assert!(text.contains(expected), "{expected:?} missing in\n{text}");
    }
    assert!(text.ends_with("# EOF\n"));
}
