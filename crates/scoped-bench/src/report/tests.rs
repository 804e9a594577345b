use super::*;

#[test]
fn median_of_odd_even_and_missing_values() {
    assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
    assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
    assert!(median(vec![f64::NAN]).is_nan());
}

fn sample(target: &str, round: usize, answered: u64, cpu_seconds: f64) -> Sample {
    Sample {
        target: target.to_owned(),
        round,
        answered,
        errors: 0,
        lost: 0,
        qps: answered as f64,
        cpu_seconds,
        mean_us: f64::NAN,
        p50_us: f64::NAN,
        p99_us: f64::NAN,
        upstream: None,
    }
}

/// A report of `rounds` rounds with nothing in it (no version probes).
fn empty(rounds: usize) -> Report {
    Report {
        settings: Settings {
            seconds: 1.0,
            rounds,
            entries: 0,
            fixed_rate: 0,
            dnsperf_outstanding: 0,
            dnsperf_clients: 0,
            generator_window: 0,
            tailored_names: 0,
            tailored_subnets: 0,
        },
        date: String::new(),
        machine: String::new(),
        versions: BTreeMap::new(),
        samples: BTreeMap::new(),
        memory: Vec::new(),
        loaded: Vec::new(),
        loaded_workload: None,
        left_out: BTreeMap::new(),
    }
}

/// The markdown table under the heading that starts with `heading`: its header and rows.
fn table<'a>(md: &'a str, heading: &str) -> Vec<&'a str> {
    md.split("\n### ")
        .find(|section| section.starts_with(heading))
        .unwrap_or_else(|| panic!("no section {heading} in\n{md}"))
        .lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("|---"))
        .collect()
}

/// Ratios are taken within a round, then the median: a machine that slows down between
/// rounds slows both servers of a round alike, and a round missing one side is left out.
#[test]
fn paired_ratios_are_per_round_medians() {
    let mut report = empty(4);
    // The machine halves its speed every round; scoped is 0.8× the limit throughout,
    // 0.4× in round 2; round 3 has no limit sample.
    for (round, (scoped, limit)) in [(800, 1000), (400, 500), (100, 250)]
        .into_iter()
        .enumerate()
    {
        report.add("hits", sample("scoped", round, scoped, 1.0));
        report.add("hits", sample("limit-batched", round, limit, 1.0));
    }
    report.add("hits", sample("scoped", 3, 50, 1.0));
    let r = report.paired(("hits", "scoped"), ("hits", "limit-batched"));
    assert_eq!(r.rounds, vec![0.8, 0.8, 0.4]);
    assert_eq!(r.median, 0.8);
    assert_eq!(r.percent(), "80% (80, 80, 40)");
    // No samples of that server: no ratio, not a made-up one.
    let none = report.paired(("hits", "scoped"), ("hits", "unbound"));
    assert!(none.median.is_nan() && none.rounds.is_empty());
}

/// A peer without ECS runs the plain rows and shows "n/a" in the ECS-only ones: not a
/// zero, not a dash, not a missing row.
#[test]
fn a_peer_left_out_of_the_ecs_rows_shows_n_a_there_and_numbers_elsewhere() {
    let mut report = empty(1);
    for (target, answered) in [("scoped", 900), ("knot", 300)] {
        report.add("hits", sample(target, 0, answered, 1.0));
        report.add("hits-generator", sample(target, 0, answered, 1.0));
        report.add("misses", sample(target, 0, answered / 100, 1.0));
        report.add("latency", sample(target, 0, answered, 1.0));
    }
    report.add("tailored", sample("scoped", 0, 850, 1.0));
    report.memory.push(Memory {
        target: "scoped".into(),
        entries: 1000,
        rss_before: 1_000_000,
        rss_after: 1_150_000,
        replayed: 11,
        reasked_upstream: 0,
    });
    report.left_out("tailored", "knot", "no ECS support");
    report.left_out("memory", "knot", "no ECS support");
    let (md, json) = report.render(&["scoped", "knot"]);

    let hits = table(&md, "Cache hits");
    assert_eq!(hits[2], "| knot | 300 | 1.00 | 300 | 0 / 0 | 3.00× |");
    let misses = table(&md, "Cache misses");
    assert_eq!(misses[2], "| knot | 3 | 1.00 | 3 | 0 / 0 | 3.00× |");
    let generator = table(&md, "Plain and tailored");
    assert_eq!(generator[1], "| scoped | 900 | 900 | 850 | 850 | 94% |");
    assert_eq!(generator[2], "| knot | 300 | 300 | n/a | n/a | n/a |");
    let memory = table(&md, "Memory per tailored entry");
    assert_eq!(memory[1], "| scoped | 1,000 | 1.0 | 1.1 | 150 | 0 of 11 |");
    assert_eq!(memory[2], "| knot | n/a | n/a | n/a | n/a | n/a |");
    assert_eq!(
        md.matches("n/a: knot does not take part (no ECS support).")
            .count(),
        2
    );
    assert!(!md.contains("NaN"), "{md}");
    assert_eq!(table(&md, "Latency")[2].split('|').nth(1), Some(" knot "));

    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["left_out"]["tailored"][0]["target"], "knot");
    assert!(json["medians"]["tailored"].get("knot").is_none());
    assert!(json["medians"]["misses"].get("knot").is_some());
}

/// Issue #13's miss target needs both peers; without one of them it is not decided.
#[test]
fn the_miss_target_compares_with_unbound_and_knot() {
    let mut report = empty(3);
    // scoped ÷ unbound: 1.3, 1.2, 1.4; scoped ÷ knot: 1.1, 0.9, 1.05.
    for (round, (scoped, unbound, knot)) in [(130, 100, 118), (120, 100, 133), (140, 100, 133)]
        .into_iter()
        .enumerate()
    {
        report.add("misses", sample("scoped", round, scoped, 1.0));
        report.add("misses", sample("unbound", round, unbound, 1.0));
        report.add("misses", sample("knot", round, knot, 1.0));
    }
    let (target, measured, met) = report.miss_target();
    assert!(target.contains("1.25× Unbound") && target.contains("1.0× Knot"));
    assert_eq!(
        measured,
        "1.30× (1.30, 1.20, 1.40) Unbound; 1.05× (1.10, 0.90, 1.05) Knot Resolver"
    );
    assert_eq!(met, Some(true));
    let targets = report.targets_met(&["scoped", "unbound", "knot"]);
    assert!(targets.iter().any(|t| t.0 == target && t.2 == Some(true)));

    // Knot slightly ahead in two rounds of three: the median ratio is below 1.
    let mut behind = empty(3);
    for (round, (scoped, unbound, knot)) in [(130, 100, 118), (120, 100, 133), (140, 100, 150)]
        .into_iter()
        .enumerate()
    {
        behind.add("misses", sample("scoped", round, scoped, 1.0));
        behind.add("misses", sample("unbound", round, unbound, 1.0));
        behind.add("misses", sample("knot", round, knot, 1.0));
    }
    assert_eq!(behind.miss_target().2, Some(false));

    let mut no_knot = empty(1);
    no_knot.add("misses", sample("scoped", 0, 200, 1.0));
    no_knot.add("misses", sample("unbound", 0, 100, 1.0));
    let (_, measured, met) = no_knot.miss_target();
    assert_eq!(measured, "2.00× (2.00) Unbound; Knot Resolver not run");
    assert_eq!(met, None);
    // A part that fails decides the whole, measured or not.
    let mut slow = empty(1);
    slow.add("misses", sample("scoped", 0, 100, 1.0));
    slow.add("misses", sample("unbound", 0, 100, 1.0));
    assert_eq!(slow.miss_target().2, Some(false));
    let (md, _) = no_knot.render(&["scoped", "unbound"]);
    assert!(
        md.contains("Unbound; Knot Resolver not run | not measured |"),
        "{md}"
    );
}

#[test]
fn the_loaded_table_shows_each_ecs_resolver_and_the_target_judges_scoped() {
    let mut report = empty(1);
    report.loaded_workload = Some((100, 50, 200, 250));
    let row = |target: &str, servfail: u64, upstream_full: u64| Loaded {
        target: target.into(),
        misses: 5_000,
        answered: 5_000 - servfail,
        servfail,
        upstream_full,
        upstream_all: upstream_full + 4,
        ..Loaded::default()
    };
    let mut scoped = row("scoped", 0, 5_100);
    scoped.counters.insert("retries".into(), 12);
    report.loaded.push(scoped);
    report.loaded.push(row("unbound", 3, 5_000));
    report.left_out("loaded", "knot", "no ECS support");
    let (md, json) = report.render(&["scoped", "unbound", "knot"]);
    let rows = table(&md, "Loaded authoritative");
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert!(rows[1].starts_with("| scoped | 5,000 | 0 | 0 / 0 | 5,100 (1.020) | 5,104 |"));
    assert!(rows[1].ends_with("| 12 / – / – / – |"), "{}", rows[1]);
    assert!(rows[2].starts_with("| unbound | 4,997 | 3 |"));
    assert!(rows[3].starts_with("| knot | n/a |"));
    let target = report.loaded_target().unwrap();
    assert_eq!(target.2, Some(true));
    assert!(target.1.contains("Unbound 3 SERVFAIL"), "{}", target.1);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["loaded"][0]["per_miss"], 1.02);
    assert_eq!(json["loaded_workload"]["service_us"], 250);

    report.loaded[0].servfail = 1;
    assert_eq!(report.loaded_target().unwrap().2, Some(false));
}

#[test]
fn numbers_get_thousands_separators() {
    assert_eq!(num(1_234_567.4), "1,234,567");
    assert_eq!(num(999.0), "999");
    assert_eq!(num(f64::NAN), "–");
    assert_eq!(times(1.5), "1.50×");
    assert_eq!(times(f64::NAN), "–");
    assert_eq!(percent(0.934), "93%");
    assert_eq!(percent(f64::NAN), "–");
}

/// The validated tables: hits with validation on beside the same resolver's hits without it
/// (per-round ratio), the hit rate from the authoritative's count, misses with their upstream
/// cost; and no section at all when the scenario did not run.
#[test]
fn the_validated_tables_compare_with_validation_off_and_show_the_hit_rate() {
    let mut report = empty(1);
    assert!(!report.render(&["scoped"]).0.contains("validation on"));
    let counted = |target: &str, answered: u64, cpu: f64, upstream: u64| Sample {
        upstream: Some(upstream),
        ..sample(target, 0, answered, cpu)
    };
    for (target, off, on, with_do, upstream_do) in
        [("scoped", 1000, 950, 900, 0), ("unbound", 800, 800, 400, 4)]
    {
        report.add("validated-off-hits", sample(target, 0, off, 1.0));
        report.add("validated-hits", counted(target, on, 1.0, 0));
        report.add(
            "validated-hits-do",
            counted(target, with_do, 1.0, upstream_do),
        );
    }
    report.add("validated-misses", counted("scoped", 300, 1.0, 300));
    report.add("validated-misses", counted("unbound", 200, 1.0, 600));
    let md = report.render(&["scoped", "unbound"]).0;
    let hits = table(&md, "Cache hits with DNSSEC validation on");
    assert_eq!(
        hits[1],
        "| scoped | 1,000 | 950 | 900 | 95% (95) | 90% (90) | 100.00% / 100.00% | 0 / 0, 0 / 0 |"
    );
    assert_eq!(
        hits[2],
        "| unbound | 800 | 800 | 400 | 100% (100) | 50% (50) | 100.00% / 99.00% | 0 / 0, 0 / 0 |"
    );
    let misses = table(&md, "Cache misses with DNSSEC validation on");
    assert_eq!(
        misses[1],
        "| scoped | 300 | 1.00 | 300 | 1.00 | 0 / 0 | 1.00× (1.00) |"
    );
    assert_eq!(
        misses[2],
        "| unbound | 200 | 1.00 | 200 | 3.00 | 0 / 0 | 1.50× (1.50) |"
    );
}
