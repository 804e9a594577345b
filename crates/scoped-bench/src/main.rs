//! `scoped-bench`: scoped, Unbound, PowerDNS Recursor and Knot Resolver side by side on one
//! loopback DNS internet, measured in one run, interleaved. docs/benchmarks.md explains the
//! scenarios, the settings and how to read the table; `scoped-bench --help` lists the knobs.
//!
//! Needs root (every authoritative and resolver listens on port 53 of its own 127.x address:
//! Unbound and PowerDNS only query port 53) and installs unbound, pdns-recursor, knot-resolver,
//! nsd and dnsperf from Debian when they are missing. All traffic stays on loopback; every load
//! is bounded in time and count.
#![forbid(unsafe_code)]

mod daemons;
mod loaded;
mod report;
mod world;

use std::io::{BufWriter, Write as _};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use scoped_bench::load::{Load, Outcome, Pace};
use scoped_bench::responder::{self, Mode};
use scoped_bench::{dnsperf, wire};
use scoped_testkit::{EcsAuthority, Internet, LoopbackInternet, ServiceQueue};

use crate::daemons::{Daemon, ensure_packages};
use crate::loaded::{
    LOADED_NAMES, LOADED_SERVICE, LOADED_SUBNETS, LOADED_SUBNETS_QUICK, LOADED_WINDOW, loaded_fill,
    loaded_queries,
};
use crate::report::{Loaded, Memory, Report, Sample};
use crate::world::{at53, cdn_name, client_subnet, hit_name, loaded_name, miss_name};

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Benchmark scoped against Unbound, PowerDNS Recursor and Knot Resolver on loopback"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Sub>,
    /// Length of every measured load, seconds.
    #[arg(long, default_value_t = 8.0)]
    seconds: f64,
    /// Rounds of each scenario (resolvers interleaved within a round); the table shows medians.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// (name, /24) entries for the memory row.
    #[arg(long, default_value_t = 100_000)]
    entries: usize,
    /// Offered load of the latency row, queries per second.
    #[arg(long, default_value_t = 20_000)]
    fixed_rate: u64,
    /// A smoke run: 2-second loads, one round, 10,000 entries (numbers are not for quoting).
    #[arg(long)]
    quick: bool,
    /// Where run files and results go (results.md, results.json, run-*/ with configs and logs).
    #[arg(long, default_value = "target/scoped-bench")]
    out: PathBuf,
    /// Do not apt-get install missing peers and tools; fail instead.
    #[arg(long)]
    no_install: bool,
    /// Peers to leave out: unbound, pdns, knot; or `loaded` to leave out the loaded-authoritative
    /// scenario (comma-separated).
    #[arg(long, value_delimiter = ',')]
    skip: Vec<String>,
    /// The scoped binary to measure (default: build this checkout's with cargo, release).
    #[arg(long)]
    scoped: Option<PathBuf>,
    /// Start the authoritatives, resolvers and limits, print their addresses and wait for
    /// Ctrl-C instead of measuring (to look at the setup with dig).
    #[arg(long)]
    hold: bool,
}

#[derive(Subcommand, Debug)]
enum Sub {
    /// Send one bounded load of the lab's cache-hit names to a server and print the outcome
    /// (for a setup started with --hold).
    Load {
        /// The server.
        #[arg(long)]
        target: SocketAddr,
        /// Queries per second (open loop); without it, a closed loop of --window.
        #[arg(long)]
        rate: Option<u64>,
        #[arg(long, default_value_t = 200)]
        window: usize,
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Ask the tailored names with client subnets in ECS options instead.
        #[arg(long)]
        tailored: bool,
    },
    /// (Internal) run a minimal limit responder in the foreground.
    Responder {
        #[arg(long)]
        mode: Mode,
        #[arg(long)]
        listen: SocketAddr,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Sub::Responder { mode, listen }) = &cli.command {
        let result = responder::bind(*listen)
            .and_then(|socket| responder::serve(&socket, *mode, &Arc::new(AtomicBool::new(false))));
        return match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("responder: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if let Some(Sub::Load {
        target,
        rate,
        window,
        seconds,
        tailored,
    }) = &cli.command
    {
        let queries = if *tailored {
            tailored_queries(TAILORED_NAMES, TAILORED_SUBNETS)
        } else {
            plain_queries(false)
        };
        let pace = match rate {
            Some(rate) => Pace::Open {
                rate: *rate,
                max_outstanding: 10_000,
            },
            None => Pace::Closed { window: *window },
        };
        let load = Load {
            target: *target,
            queries,
            pace,
            duration: Duration::from_secs_f64(seconds.clamp(0.1, 600.0)),
            max_queries: u64::MAX,
            timeout: Duration::from_secs(1),
        };
        return match load.run() {
            Ok(o) => {
                println!(
                    "{} sent, {} answered ({} with data), {} lost, {:.0} q/s, latency mean {:.0} µs, \
                     p50 {} µs, p99 {} µs, p99.9 {} µs, max {} µs",
                    o.sent,
                    o.answered,
                    o.answered_with_data,
                    o.lost,
                    o.qps(),
                    o.mean_us(),
                    o.quantile_us(0.5),
                    o.quantile_us(0.99),
                    o.quantile_us(0.999),
                    o.quantile_us(1.0)
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("load: {e}");
                ExitCode::FAILURE
            }
        };
    }
    match bench(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Run-wide settings after `--quick`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Settings {
    pub seconds: f64,
    pub rounds: usize,
    pub entries: usize,
    pub fixed_rate: u64,
    pub dnsperf_outstanding: usize,
    pub dnsperf_clients: usize,
    pub generator_window: usize,
    pub tailored_names: usize,
    pub tailored_subnets: usize,
}

/// Names × subnets of the tailored-hit scenario; the memory row uses `entries / 50` names of 50
/// subnets each. Both stay under the per-name caps of every resolver (scoped 100, Unbound's
/// `max-ecs-tree-size-ipv4` 100, which holds one fewer): at the cap, cycling through the subnets
/// in order would make every query a miss for an LRU and measure that instead of the cache.
const TAILORED_NAMES: usize = 200;
const TAILORED_SUBNETS: usize = 50;
const SUBNETS_PER_NAME: usize = 50;

fn progress(message: &str) {
    eprintln!("bench: {message}");
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

fn build_scoped() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().context("no directory of the harness binary")?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    progress("building scoped (release)");
    let status = Command::new(cargo)
        .args(["build", "--release", "--bin", "scoped"])
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("cargo build --release --bin scoped failed");
    }
    // The harness itself runs from target/release when started with `cargo run --release`.
    let candidate = dir.join("scoped");
    if candidate.is_file() {
        return Ok(candidate);
    }
    let fallback = PathBuf::from("target/release/scoped");
    if fallback.is_file() {
        return Ok(fallback);
    }
    bail!(
        "built scoped, but found it neither at {} nor at {}",
        candidate.display(),
        fallback.display()
    )
}

fn start_resolver(
    name: &str,
    dir: &Path,
    scoped: &Path,
    knot_cache: &Path,
) -> anyhow::Result<Daemon> {
    let (addr, command) = match name {
        "scoped" => {
            let mut c = Command::new(scoped);
            c.arg("serve").arg("--config").arg(dir.join("scoped.toml"));
            (at53(world::SCOPED), c)
        }
        "unbound" => {
            let mut c = Command::new("unbound");
            c.arg("-d").arg("-c").arg(dir.join("unbound.conf"));
            (at53(world::UNBOUND), c)
        }
        "pdns" => {
            let mut c = Command::new("pdns_recursor");
            c.arg(format!("--config-dir={}", dir.display()));
            (at53(world::PDNS), c)
        }
        "knot" => {
            // One process: kresd is single-threaded, so this is the others' one worker thread.
            // The last argument is its working directory (control socket).
            let rundir = dir.join("kresd");
            std::fs::create_dir_all(&rundir)?;
            let mut c = Command::new("kresd");
            c.arg("-c")
                .arg(dir.join("kresd.conf"))
                .args(["-n", "-q"])
                .arg(rundir);
            return Daemon::start_with_scratch(
                name,
                at53(world::KNOT),
                c,
                dir,
                &hit_name(0),
                Some(knot_cache.to_owned()),
            );
        }
        other => bail!("unknown resolver {other}"),
    };
    Daemon::start(name, addr, command, dir, &hit_name(0))
}

/// Where this run's Knot Resolver keeps its cache (see [`world::knot_cache_dir`]): `/dev/shm`
/// when it has room for the whole file, which kresd allocates at start (a container's is often
/// only 64 MiB), else the run's directory.
fn knot_cache(dir: &Path) -> PathBuf {
    let shm = Path::new("/dev/shm");
    let need = f64::from(world::KNOT_CACHE_MIB + 64) * 1_048_576.0;
    let room = nix::sys::statvfs::statvfs(shm)
        .is_ok_and(|s| s.blocks_available() as f64 * s.fragment_size() as f64 >= need);
    world::knot_cache_dir(dir, room.then_some(shm))
}

fn warm(target: SocketAddr, queries: Vec<Vec<u8>>, what: &str) -> anyhow::Result<()> {
    let count = queries.len() as u64;
    let outcome = Load {
        target,
        queries,
        pace: Pace::Closed { window: 50 },
        duration: Duration::from_secs(120),
        max_queries: count,
        timeout: Duration::from_secs(3),
    }
    .run()?;
    if outcome.answered_with_data < count {
        progress(&format!(
            "warning: warming {what} at {target}: {} of {count} answered with data",
            outcome.answered_with_data
        ));
    }
    Ok(())
}

fn plain_queries(edns: bool) -> Vec<Vec<u8>> {
    (0..world::HIT_NAMES)
        .map(|i| wire::query(&hit_name(i), wire::TYPE_A, edns, None))
        .collect()
}

/// `names` × `subnets` ECS queries, names varying fastest.
fn tailored_queries(names: usize, subnets: usize) -> Vec<Vec<u8>> {
    let mut queries = Vec::with_capacity(names * subnets);
    for k in 0..subnets {
        for i in 0..names {
            let subnet = client_subnet(i * subnets + k);
            queries.push(wire::query(
                &cdn_name(i),
                wire::TYPE_A,
                true,
                Some((subnet, 24)),
            ));
        }
    }
    queries
}

fn closed(target: SocketAddr, queries: Vec<Vec<u8>>, settings: &Settings) -> Load {
    Load {
        target,
        queries,
        pace: Pace::Closed {
            window: settings.generator_window,
        },
        duration: Duration::from_secs_f64(settings.seconds),
        max_queries: u64::MAX,
        timeout: Duration::from_secs(1),
    }
}

fn measure_load(daemon: &Daemon, load: &Load) -> anyhow::Result<(Outcome, f64)> {
    let before = daemon.cpu();
    let outcome = load.run()?;
    let cpu = (daemon.cpu() - before).as_secs_f64();
    Ok((outcome, cpu))
}

fn sample_from(target: &str, round: usize, outcome: &Outcome, cpu: f64) -> Sample {
    Sample {
        target: target.to_owned(),
        round,
        answered: outcome.answered_with_data,
        errors: outcome.answered - outcome.answered_with_data,
        lost: outcome.lost,
        qps: outcome.answered_with_data as f64 / outcome.elapsed.as_secs_f64().max(1e-9),
        cpu_seconds: cpu,
        mean_us: outcome.mean_us(),
        p50_us: f64::from(outcome.quantile_us(0.5)),
        p99_us: f64::from(outcome.quantile_us(0.99)),
    }
}

fn say(scenario: &str, s: &Sample) {
    progress(&format!(
        "[{scenario} round {}] {:<14} {:>9.0} q/s  {:>6.2} CPU-s  {:>9.0} q/CPU-s  lost {}  errors {}",
        s.round + 1,
        s.target,
        s.qps,
        s.cpu_seconds,
        s.q_per_cpu_second(),
        s.lost,
        s.errors
    ));
    if s.errors * 100 > s.answered + s.errors {
        progress(&format!(
            "warning: {} answered {} of {} queries with an error or no data: this row does not \
             measure what it says",
            s.target,
            s.errors,
            s.answered + s.errors
        ));
    }
}

fn write_names(path: &Path, names: impl Iterator<Item = String>) -> anyhow::Result<()> {
    let mut out = BufWriter::new(std::fs::File::create(path)?);
    for name in names {
        writeln!(out, "{name} A")?;
    }
    out.flush()?;
    Ok(())
}

/// The ECS authorities' world: `cdn.lab.` with `names` tailored names (`t0`…), plus
/// [`SPARE_NAME`]; and `loaded.lab.` on four addresses, one process with one [`ServiceQueue`]
/// (returned) of [`LOADED_SERVICE`] per query, `n0`… [`LOADED_NAMES`] and the spare.
fn ecs_world(names: usize) -> anyhow::Result<(Internet, ServiceQueue)> {
    let cdn = IpAddr::V4(world::CDN);
    let mut builder = Internet::builder();
    builder
        .zone("cdn.lab.", &world::cdn_zone())
        .server(cdn, &["cdn.lab."])
        .zone("loaded.lab.", &world::loaded_zone());
    for ip in world::LOADED {
        builder.server(IpAddr::V4(ip), &["loaded.lab."]);
    }
    let internet = builder.build()?;
    let mut authority = EcsAuthority::new();
    authority.ttl(86_400);
    // Each answers SCOPE 24 to every IPv4 subnet.
    for i in (0..names).chain([SPARE_NAME]) {
        authority.default_answer(&cdn_name(i), &format!("A 192.0.2.{}", 1 + i % 250));
    }
    authority.install(&internet.expect_server(cdn));

    let mut loaded = EcsAuthority::new();
    loaded.ttl(86_400);
    for i in (0..LOADED_NAMES).chain([SPARE_NAME]) {
        loaded.default_answer(&loaded_name(i), &format!("A 192.0.2.{}", 1 + i % 250));
    }
    let queue = ServiceQueue::new(LOADED_SERVICE);
    let handle = loaded.install(&internet.expect_server(IpAddr::V4(world::LOADED[0])));
    for ip in world::LOADED {
        let server = internet.expect_server(IpAddr::V4(ip));
        handle.install(&server);
        server.set_queue(Some(queue.clone()));
    }
    Ok((internet, queue))
}

/// A tailored name outside every query set: the memory row's warm-up asks it, so the filled
/// names' subnet tables hold only the fill.
const SPARE_NAME: usize = 999_999;

fn bench(cli: Cli) -> anyhow::Result<()> {
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
    let run_loaded = !cli.skip.iter().any(|s| s == "loaded");
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
    std::fs::write(dir.join("root.hints"), world::root_hints())?;
    world::write_nsd(&dir)?;
    std::fs::write(dir.join("scoped.toml"), world::scoped_config())?;
    std::fs::write(dir.join("allowlist.txt"), world::SCOPED_ALLOWLIST)?;
    std::fs::write(dir.join("unbound.conf"), world::unbound_config(&dir))?;
    std::fs::write(dir.join("recursor.conf"), world::pdns_config(&dir))?;
    let knot_cache = knot_cache(&dir);
    std::fs::write(
        dir.join("kresd.conf"),
        world::knot_config(&dir, &knot_cache),
    )?;

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
        resolvers.push(start_resolver(name, &dir, &scoped_bin, &knot_cache)?);
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
        for d in resolvers.iter().chain(&limits).chain(std::iter::once(&nsd)) {
            progress(&format!("{} at {} (pid {})", d.name, d.addr, d.pid()));
        }
        progress(
            "ECS authorities: cdn.lab. at 127.54.0.4:53, loaded.lab. at 127.54.0.5-8:53; Ctrl-C \
             stops everything",
        );
        runtime.block_on(tokio::signal::ctrl_c())?;
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
    for round in 0..settings.rounds {
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

    // 2. Plain and tailored hits with the project's generator (a different /24 per query).
    for round in 0..settings.rounds {
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
    for round in 0..settings.rounds {
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

    // 4. Latency at a fixed offered load of cache hits.
    for round in 0..settings.rounds {
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
    for slot in 0..resolvers.len() {
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
        let daemon = start_resolver(&name, &dir, &scoped_bin, &knot_cache)?;
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
