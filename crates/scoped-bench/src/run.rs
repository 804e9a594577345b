//! One whole benchmark run: the lab started, every scenario measured round by round, the
//! report written (or, with `--hold`, the lab kept up for a look by hand).

use super::*;

/// The whole run that `scoped-bench` without a subcommand makes.
pub(crate) fn bench(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings {
        seconds: if cli.quick { 2.0 } else { cli.seconds.max(0.5) },
        rounds: if cli.quick { 1 } else { cli.rounds.max(1) },
        entries: if cli.quick {
            10_000
        } else {
            cli.entries.clamp(100, 1_000_000)
        },
        fixed_rate: cli.fixed_rate.max(100),
        dnsperf_outstanding: 200,
        dnsperf_clients: 4,
        generator_window: 200,
        tailored_names: TAILORED_NAMES,
        tailored_subnets: TAILORED_SUBNETS,
    };
    if !cfg!(target_os = "linux") {
        bail!("the harness reads /proc and uses recvmmsg: Linux only");
    }
    if !is_root() {
        bail!(
            "run as root: every server listens on port 53 of its own 127.x address (Unbound and \
             PowerDNS Recursor only ever query port 53)"
        );
    }
    if let Some(unknown) = cli
        .skip
        .iter()
        .find(|s| !world::RESOLVERS.contains(&s.as_str()) && s.as_str() != "loaded")
    {
        bail!(
            "--skip {unknown}: the resolvers are {}; the skippable scenario is loaded",
            world::RESOLVERS.join(", ")
        );
    }
    if let Some(unknown) = cli.only.iter().find(|s| !SCENARIOS.contains(&s.as_str())) {
        bail!(
            "--only {unknown}: the scenarios are {}",
            SCENARIOS.join(", ")
        );
    }
    let wants = |scenario: &str| cli.only.is_empty() || cli.only.iter().any(|s| s == scenario);
    let run_loaded = wants("loaded") && !cli.skip.iter().any(|s| s == "loaded");
    let loaded_subnets = if cli.quick {
        LOADED_SUBNETS_QUICK
    } else {
        LOADED_SUBNETS
    };
    ensure_packages(!cli.no_install, &cli.skip)?;
    let scoped_bin = match &cli.scoped {
        Some(path) => path.clone(),
        None => build_scoped()?,
    };
    let stamp = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let dir = std::path::absolute(cli.out.join(format!("run-{stamp}")))?;
    std::fs::create_dir_all(&dir)?;
    progress(&format!("run files in {}", dir.display()));
    let plain_lab = world::PLAIN;
    std::fs::write(dir.join("root.hints"), world::root_hints(plain_lab.root()))?;
    world::write_nsd(&dir)?;
    world::write_tls(&dir)?;
    let knot_cache = validated::write_resolver_configs(&dir, &plain_lab)?;

    progress(
        "starting the authoritatives: nsd on 127.54.0.1-3, the testkit's ECS servers on \
         127.54.0.4 and (loaded, one queue) 127.54.0.5-8",
    );
    let mut nsd_command = Command::new("nsd");
    nsd_command.arg("-d").arg("-c").arg(dir.join("nsd.conf"));
    let nsd = Daemon::start("nsd", at53(world::LEAF), nsd_command, &dir, &hit_name(0))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let names_needed = settings.entries.div_ceil(SUBNETS_PER_NAME);
    let (internet, loaded_queue) = ecs_world(names_needed.max(settings.tailored_names))?;
    let lab: LoopbackInternet = runtime
        .block_on(internet.serve_on_loopback_at(53))
        .context("serving the ECS authorities on 127.54.0.4-8:53")?;

    let names: Vec<&str> = world::RESOLVERS
        .into_iter()
        .filter(|n| !cli.skip.iter().any(|s| s == n))
        .collect();
    let mut resolvers: Vec<Daemon> = Vec::new();
    for name in &names {
        progress(&format!("starting {name}"));
        resolvers.push(start_resolver(
            name,
            &dir,
            &scoped_bin,
            &knot_cache,
            &plain_lab,
        )?);
    }
    let exe = std::env::current_exe()?;
    let mut limits: Vec<Daemon> = Vec::new();
    for (name, mode, ip) in [
        ("limit-batched", "batched", world::LIMIT_BATCHED),
        ("limit-plain", "plain", world::LIMIT_PLAIN),
    ] {
        let mut c = Command::new(&exe);
        c.args(["responder", "--mode", mode, "--listen"])
            .arg(at53(ip).to_string());
        limits.push(Daemon::start(name, at53(ip), c, &dir, "limit.lab.")?);
    }

    if cli.hold {
        // The signed lab too, unless --only leaves the validated scenario out.
        let signed = if wants("validated") {
            let lab = validated::start(&dir, &names, &scoped_bin)?;
            if let Err(e) = validated::check(&lab) {
                progress(&format!("warning: {e:#}"));
            }
            Some(lab)
        } else {
            None
        };
        for d in resolvers.iter().chain(&limits).chain(std::iter::once(&nsd)) {
            progress(&format!("{} at {} (pid {})", d.name, d.addr, d.pid()));
        }
        progress(
            "ECS authorities: cdn.lab. at 127.54.0.4:53, loaded.lab. at 127.54.0.5-8:53; Ctrl-C \
             stops everything",
        );
        if let Some(lab) = &signed {
            validated::print_dig(lab);
        }
        runtime.block_on(tokio::signal::ctrl_c())?;
        drop(signed);
        return Ok(());
    }

    let mut report = Report::new(&settings, &dir);
    for name in names.iter().filter(|n| !world::speaks_ecs(n)) {
        for scenario in ["tailored", "memory", "loaded"] {
            report.left_out(scenario, name, "no ECS support");
        }
    }

    // Warm every resolver: the plain names, the tailored pairs, the wildcard's parent.
    for r in &resolvers {
        progress(&format!("warming {}", r.name));
        warm(r.addr, plain_queries(false), "the plain names")?;
        if world::speaks_ecs(&r.name) {
            warm(
                r.addr,
                tailored_queries(settings.tailored_names, settings.tailored_subnets),
                "the tailored pairs",
            )?;
        }
        warm(
            r.addr,
            vec![wire::query(
                &miss_name("warm", 0),
                wire::TYPE_A,
                false,
                None,
            )],
            "the wildcard",
        )?;
    }
    internet.clear_query_log();

    // 1 + 6. Cache hits with dnsperf, the limits and the authoritative alongside.
    let hits_file = dir.join("hits.txt");
    write_names(&hits_file, (0..world::HIT_NAMES).map(hit_name))?;
    let duration = Duration::from_secs_f64(settings.seconds);
    for round in 0..settings.rounds * usize::from(wants("hits")) {
        for daemon in resolvers.iter().chain(&limits).chain(std::iter::once(&nsd)) {
            let before = daemon.cpu();
            let summary = dnsperf::run(
                daemon.addr,
                &hits_file,
                duration,
                settings.dnsperf_outstanding,
                settings.dnsperf_clients,
                false,
            )?;
            let cpu = (daemon.cpu() - before).as_secs_f64();
            let name = if daemon.name == "nsd" {
                "nsd (authoritative)"
            } else {
                &daemon.name
            };
            let sample = Sample::from_dnsperf(name, round, &summary, cpu);
            say("hits", &sample);
            report.add("hits", sample);
        }
    }

    // 1b. The same cache hits over DNS over TLS, on dnsperf's long-lived connections.
    if wants("dot") {
        dot_hits(&resolvers, &hits_file, &settings, &mut report)?;
    }

    // 2. Plain and tailored hits with the project's generator (a different /24 per query).
    for round in 0..settings.rounds * usize::from(wants("generator")) {
        for r in &resolvers {
            let (outcome, cpu) = measure_load(r, &closed(r.addr, plain_queries(true), &settings))?;
            let sample = sample_from(&r.name, round, &outcome, cpu);
            say("plain hits, generator", &sample);
            report.add("hits-generator", sample);
            if !world::speaks_ecs(&r.name) {
                continue;
            }
            let queries = tailored_queries(settings.tailored_names, settings.tailored_subnets);
            let (outcome, cpu) = measure_load(r, &closed(r.addr, queries, &settings))?;
            let sample = sample_from(&r.name, round, &outcome, cpu);
            say("tailored hits", &sample);
            report.add("tailored", sample);
        }
    }
    internet.clear_query_log();

    // 3. Cache misses: names nobody asked before, under the wildcard.
    let per_run = (settings.seconds * 80_000.0) as usize;
    for round in 0..settings.rounds * usize::from(wants("misses")) {
        for r in &resolvers {
            let file = dir.join("misses.txt");
            let tag = format!("r{round}{}", r.name);
            write_names(&file, (0..per_run).map(|i| miss_name(&tag, i)))?;
            let before = r.cpu();
            let summary =
                dnsperf::run(r.addr, &file, duration, 100, settings.dnsperf_clients, true)?;
            let cpu = (r.cpu() - before).as_secs_f64();
            let sample = Sample::from_dnsperf(&r.name, round, &summary, cpu);
            say("misses", &sample);
            report.add("misses", sample);
            std::fs::remove_file(&file)?;
        }
    }

    // 3b. Validation on (issue #15): the signed lab, hits and misses of validating resolvers.
    if wants("validated") {
        let lab = validated::start(&dir, &names, &scoped_bin)?;
        validated::check(&lab)?;
        validated::measure(&lab, &resolvers, &hits_file, &settings, &mut report)?;
    }

    // 4. Latency at a fixed offered load of cache hits.
    for round in 0..settings.rounds * usize::from(wants("latency")) {
        for daemon in resolvers.iter().chain(limits.iter().take(1)) {
            let load = Load {
                target: daemon.addr,
                queries: plain_queries(false),
                pace: Pace::Open {
                    rate: settings.fixed_rate,
                    max_outstanding: 10_000,
                },
                duration,
                max_queries: u64::MAX,
                timeout: Duration::from_secs(1),
            };
            // One unmeasured second at the same rate first: the tail of a cold start (page
            // faults, first wake-ups) is not the steady state this row is about.
            Load {
                duration: Duration::from_secs(1),
                ..load.clone()
            }
            .run()?;
            let (outcome, cpu) = measure_load(daemon, &load)?;
            let sample = sample_from(&daemon.name, round, &outcome, cpu);
            progress(&format!(
                "[latency round {}] {:<14} {:>7.0} q/s  mean {:>6.0} µs  p50 {:>6.0} µs  p99 {:>6.0} µs  lost {}",
                round + 1,
                sample.target,
                sample.qps,
                sample.mean_us,
                sample.p50_us,
                sample.p99_us,
                sample.lost
            ));
            report.add("latency", sample);
        }
    }

    // 7. The loaded authoritative (issue #20): ECS misses against one slow process behind four
    // addresses, each ECS resolver in turn.
    if run_loaded {
        let queries = loaded_queries(LOADED_NAMES, loaded_subnets);
        report.loaded_workload = Some((
            LOADED_NAMES,
            loaded_subnets,
            LOADED_WINDOW,
            LOADED_SERVICE.as_micros() as u64,
        ));
        for r in resolvers.iter().filter(|r| world::speaks_ecs(&r.name)) {
            progress(&format!(
                "[loaded] {}: {} ECS misses, {LOADED_WINDOW} in flight",
                r.name,
                queries.len()
            ));
            let l = loaded_fill(r, &internet, &loaded_queue, &scoped_bin, &queries)?;
            progress(&format!(
                "[loaded] {}: {} answered, {} SERVFAIL, {} other errors, {} lost; upstream {} for \
                 the names ({:.3}/miss), {} in all; server max wait {:.1} ms; {:.2} CPU-s; {:?}",
                l.target,
                l.answered,
                l.servfail,
                l.other_errors,
                l.lost,
                l.upstream_full,
                l.per_miss(),
                l.upstream_all,
                l.server_max_wait_us / 1000.0,
                l.cpu_seconds,
                l.counters
            ));
            report.loaded.push(l);
        }
    }

    // 5. Memory per tailored entry, each resolver restarted fresh.
    let fill: Vec<Vec<u8>> = tailored_queries(names_needed, SUBNETS_PER_NAME)
        .into_iter()
        .take(settings.entries)
        .collect();
    for slot in 0..resolvers.len() * usize::from(wants("memory")) {
        let name = resolvers[slot].name.clone();
        if !world::speaks_ecs(&name) {
            continue;
        }
        progress(&format!(
            "memory: restarting {name} and filling {} tailored entries",
            fill.len()
        ));
        // Stop the old process before its replacement binds the same address.
        resolvers.remove(slot);
        let daemon = start_resolver(&name, &dir, &scoped_bin, &knot_cache, &plain_lab)?;
        warm(
            daemon.addr,
            vec![wire::query(&cdn_name(SPARE_NAME), wire::TYPE_A, true, None)],
            "the CDN zone",
        )?;
        std::thread::sleep(Duration::from_secs(1));
        let before = daemon.rss();
        let load = Load {
            target: daemon.addr,
            queries: fill.clone(),
            pace: Pace::Closed { window: 100 },
            duration: Duration::from_secs(600),
            max_queries: fill.len() as u64,
            timeout: Duration::from_secs(2),
        };
        let outcome = load.run()?;
        std::thread::sleep(Duration::from_secs(1));
        let after = daemon.rss();
        // Replay every 97th entry (spread over names and subnets): what the cache really kept
        // is not asked upstream again.
        let sample: Vec<Vec<u8>> = fill.iter().step_by(97).cloned().collect();
        let upstream_before = internet.query_count(IpAddr::V4(world::CDN));
        let replayed = sample.len();
        warm(daemon.addr, sample, "the replayed entries")?;
        let reasked = internet.query_count(IpAddr::V4(world::CDN)) - upstream_before;
        internet.clear_query_log();
        let memory = Memory {
            target: name.clone(),
            entries: outcome.answered_with_data,
            rss_before: before,
            rss_after: after,
            replayed,
            reasked_upstream: reasked,
        };
        progress(&format!(
            "[memory] {name}: {} entries, RSS {:.1} → {:.1} MiB, {:.0} B/entry, replay re-asked {reasked} of {replayed}",
            memory.entries,
            before as f64 / 1048576.0,
            after as f64 / 1048576.0,
            memory.bytes_per_entry()
        ));
        report.memory.push(memory);
        resolvers.insert(slot, daemon);
    }

    drop(limits);
    drop(resolvers);
    runtime.block_on(lab.shutdown());
    drop(nsd);

    let (markdown, json) = report.render(&names);
    std::fs::write(cli.out.join("results.md"), &markdown)?;
    std::fs::write(cli.out.join("results.json"), &json)?;
    std::fs::write(dir.join("results.md"), &markdown)?;
    std::fs::write(dir.join("results.json"), &json)?;
    println!("{markdown}");
    progress(&format!(
        "results in {} and {}",
        cli.out.join("results.md").display(),
        cli.out.join("results.json").display()
    ));
    Ok(())
}

/// The scenarios `--only` can pick.
const SCENARIOS: [&str; 8] = [
    "hits",
    "generator",
    "misses",
    "validated",
    "latency",
    "dot",
    "loaded",
    "memory",
];

/// The DoT row: dnsperf `-m dot` on the cache-hit names, its clients each on one long-lived
/// connection, against the resolvers whose DoT this lab configures; q/CPU-s as for UDP hits.
fn dot_hits(
    resolvers: &[Daemon],
    hits_file: &Path,
    settings: &Settings,
    report: &mut Report,
) -> anyhow::Result<()> {
    for r in resolvers {
        if !world::DOT_RESOLVERS.contains(&r.name.as_str()) {
            report.left_out("dot", &r.name, "DoT not configured in this lab");
        }
    }
    let duration = Duration::from_secs_f64(settings.seconds);
    for round in 0..settings.rounds {
        for r in resolvers
            .iter()
            .filter(|r| world::DOT_RESOLVERS.contains(&r.name.as_str()))
        {
            let before = r.cpu();
            let summary = dnsperf::run_as(
                dnsperf::How::Dot,
                SocketAddr::new(r.addr.ip(), world::DOT_PORT),
                hits_file,
                duration,
                settings.dnsperf_outstanding,
                settings.dnsperf_clients,
                false,
            )?;
            let cpu = (r.cpu() - before).as_secs_f64();
            let sample = Sample::from_dnsperf(&r.name, round, &summary, cpu);
            say("DoT hits", &sample);
            report.add("dot", sample);
        }
    }
    Ok(())
}
