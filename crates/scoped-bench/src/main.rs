//! `scoped-bench`: scoped, Unbound, PowerDNS Recursor and Knot Resolver side by side on one
//! loopback DNS internet, measured in one run, interleaved. docs/benchmarks.md explains the
//! scenarios, the settings and how to read the table; `scoped-bench --help` lists the knobs.
//!
//! Needs root (every authoritative and resolver listens on port 53 of its own 127.x address:
//! Unbound and PowerDNS only query port 53) and installs unbound, pdns-recursor, knot-resolver,
//! nsd, dnsperf and dnsutils (dig) from Debian when they are missing. All traffic stays on
//! loopback; every load is bounded in time and count.
#![forbid(unsafe_code)]

mod daemons;
mod loaded;
mod report;
mod run;
mod validated;
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
    /// Scenarios to run, the others left out (comma-separated; default: all): hits,
    /// generator, misses, validated (DNSSEC validation on, signed lab), latency, dot, loaded,
    /// memory.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// The scoped binary to measure (default: build this checkout's with cargo, release).
    #[arg(long)]
    scoped: Option<PathBuf>,
    /// Start the authoritatives, resolvers and limits, print their addresses and wait for
    /// Ctrl-C instead of measuring (to look at the setup with dig). With the validated
    /// scenario (the default, or `--only validated`), also the signed lab and its validating
    /// resolvers, with dig commands for a secure and a bogus name.
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
    match run::bench(cli) {
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

/// Start resolver `name` of `lab` from its configuration in `dir` (the lab's directory).
fn start_resolver(
    name: &str,
    dir: &Path,
    scoped: &Path,
    knot_cache: &Path,
    lab: &world::Lab,
) -> anyhow::Result<Daemon> {
    let addr = lab
        .addr(name)
        .with_context(|| format!("unknown resolver {name}"))?;
    let command = match name {
        "scoped" => {
            let mut c = Command::new(scoped);
            c.arg("serve").arg("--config").arg(dir.join("scoped.toml"));
            c
        }
        "unbound" => {
            let mut c = Command::new("unbound");
            c.arg("-d").arg("-c").arg(dir.join("unbound.conf"));
            c
        }
        "pdns" => {
            let mut c = Command::new("pdns_recursor");
            c.arg(format!("--config-dir={}", dir.display()));
            c
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
                addr,
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

/// Where this run's Knot Resolver of `lab` keeps its cache (see [`world::knot_cache_dir`]):
/// `/dev/shm` when it has room for the whole file, which kresd allocates at start (a
/// container's is often only 64 MiB), else the lab's directory `dir`.
fn knot_cache(dir: &Path, lab: &world::Lab) -> PathBuf {
    let shm = Path::new("/dev/shm");
    let need = f64::from(world::KNOT_CACHE_MIB + 64) * 1_048_576.0;
    let room = nix::sys::statvfs::statvfs(shm)
        .is_ok_and(|s| s.blocks_available() as f64 * s.fragment_size() as f64 >= need);
    world::knot_cache_dir(dir, room.then_some(shm), lab)
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
        upstream: None,
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
