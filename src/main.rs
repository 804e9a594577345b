//! `scoped`: an ECS-correct caching recursive DNS resolver.
//!
//! `scoped serve [--config resolver.toml]` runs the resolver in the foreground until SIGTERM or
//! Ctrl-C; `scoped check-config FILE` validates a configuration and exits; `scoped ctl …` talks
//! to a running resolver's control endpoint.
#![forbid(unsafe_code)]

use scoped::{config, control, ctl, demo, recursor_on, reload, trace};

/// mimalloc instead of the system allocator: a cache miss allocates and frees many small
/// objects (names, records, messages), and glibc's malloc was a sixth of the miss path's CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::{Parser, Subcommand};
use scoped_recursor::{NetTransport, Recursor};
use tracing::{error, info};

use scoped::config::{Config, LogFormat};
use scoped::control::RunningResolver;

#[derive(Debug, Parser)]
#[command(
    name = "scoped",
    version,
    about = "An ECS-correct caching recursive DNS resolver"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the resolver in the foreground (exits 0 on SIGTERM or Ctrl-C).
    Serve {
        /// Configuration file. Without it, ./resolver.toml is read if present, else the
        /// built-in defaults are used.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Show ECS at work: a simulated CDN, two resolvers (without and with ECS), clients in Tokyo
    /// and San Francisco. Needs no internet and no root.
    Demo,
    /// Resolve one question from the root with a fresh cache and print every step: servers
    /// chosen and why, ECS sent or not and why, what came back, how it would be cached.
    Trace {
        /// The name to resolve.
        name: String,
        /// The record type.
        #[arg(default_value = "A")]
        qtype: String,
        /// Trace as this client would be resolved (its subnet decided by the [ecs] policy).
        #[arg(long, conflicts_with = "subnet")]
        client: Option<std::net::IpAddr>,
        /// Trace with this client subnet (truncated to the configured maximum).
        #[arg(long)]
        subnet: Option<ipnet::IpNet>,
        /// Configuration file (as for `serve`).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Validate a configuration file and exit (0: valid, 1: the problem is printed).
    CheckConfig {
        /// The file to check.
        file: PathBuf,
    },
    /// Ask a running resolver, through its control endpoint (`[control]`), for statistics,
    /// metrics or a reload. Exits 1 with a message if the endpoint is unreachable.
    Ctl(ctl::CtlArgs),
}

/// The default configuration file, read by `serve` when present.
const DEFAULT_CONFIG: &str = "resolver.toml";

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { file } => match Config::load(&file) {
            Ok(config) => {
                let control = config
                    .control
                    .as_ref()
                    .map_or_else(|| "off".to_owned(), |c| format!("{:?}", c.listen));
                println!(
                    "{}: ok (listen {:?}, control {control}, {} root hints, {} local zones)",
                    file.display(),
                    config.server.listen,
                    config.recursor.root_hints.len(),
                    config.server.local.zone_count()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
        Command::Demo => demo::run(),
        Command::Ctl(args) => ctl::run(args),
        Command::Trace {
            name,
            qtype,
            client,
            subnet,
            config,
        } => match load(config.as_deref()) {
            Ok(config) => trace::run(
                config,
                trace::TraceRequest {
                    name,
                    qtype,
                    client,
                    subnet,
                },
            ),
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
        Command::Serve { config } => match load(config.as_deref()) {
            Ok(config) => serve(config),
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
    }
}

/// The configuration `serve` and `trace` use: the file given, else ./resolver.toml if present,
/// else the built-in defaults.
fn load(path: Option<&Path>) -> Result<Config, config::ConfigError> {
    match path {
        Some(path) => Config::load(path),
        None if Path::new(DEFAULT_CONFIG).exists() => Config::load(Path::new(DEFAULT_CONFIG)),
        None => Ok(Config::defaults()),
    }
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn serve(config: Config) -> ExitCode {
    let started = Instant::now();
    init_logging(&config);
    // One thread asked for: tokio's single-threaded scheduler, which has no work-stealing
    // queues or cross-thread wake-ups to pay for on every task (a cache miss makes two tasks).
    let mut runtime = if config.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    if config.threads > 1 {
        runtime.worker_threads(config.threads);
    }
    let runtime = match runtime.enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            error!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let server = match scoped_server::bind(config.server.clone()) {
            Ok(server) => server,
            Err(e) => {
                error!("cannot listen on {:?}: {e}", config.server.listen);
                return ExitCode::FAILURE;
            }
        };
        let addrs: Vec<String> = server.local_addrs().iter().map(|a| a.to_string()).collect();
        let (control, control_line) = start_control(&config).await;
        // Two stable lines on stdout, so scripts and tests can learn ephemeral ports: the DNS
        // addresses, then the control endpoint's. Written at once and never fatal: a reader
        // that closed the pipe after the first line must not take the resolver down.
        let _ = write!(
            std::io::stdout().lock(),
            "scoped: listening on {}\n{control_line}\n",
            addrs.join(" ")
        );
        info!(listen = ?addrs, "scoped {} serving", env!("CARGO_PKG_VERSION"));
        let transport = Arc::new(NetTransport::new(&config.outgoing_addresses));
        let transport_counters = transport.counters();
        let recursor = recursor_on(&config, transport);
        tokio::spawn(reload_on_sighup(
            recursor.clone(),
            config.allowlist_path.clone(),
        ));
        let (stopping, stopped) = tokio::sync::watch::channel(());
        let control = control.map(|endpoint| {
            let resolver = RunningResolver {
                recursor: recursor.clone(),
                frontend: server.stats(),
                transport: transport_counters,
                allowlist_path: config.allowlist_path.clone(),
                started,
            };
            let mut stopped = stopped;
            tokio::spawn(endpoint.run(resolver, async move {
                // Resolves when told, or when the sender is gone: either way, stop.
                let _ = stopped.changed().await;
            }))
        });
        let shutdown = async move {
            shutdown_signal().await;
            let _ = stopping.send(());
        };
        server.run(Arc::new(recursor), shutdown).await;
        if let Some(control) = control {
            let _ = control.await;
        }
        info!("shut down");
        ExitCode::SUCCESS
    })
}

/// Binds the control endpoint; also returns its stdout line (`scoped: control on URL…` or
/// `scoped: control off`). A control endpoint that cannot bind (its port taken, say by another
/// resolver's) is logged and left off: the DNS service it reports on matters more than the report.
async fn start_control(config: &Config) -> (Option<control::ControlEndpoint>, String) {
    const OFF: &str = "scoped: control off";
    let Some(control_config) = &config.control else {
        return (None, OFF.into());
    };
    match control::bind(control_config).await {
        Ok(endpoint) => {
            let urls: Vec<String> = endpoint
                .local_addrs()
                .iter()
                .map(|a| format!("http://{a}"))
                .collect();
            info!(control = ?urls, "control endpoint listening");
            (
                Some(endpoint),
                format!("scoped: control on {}", urls.join(" ")),
            )
        }
        Err(e) => {
            error!("control endpoint not started: cannot listen on {e}");
            (None, OFF.into())
        }
    }
}

/// Re-read the ECS allowlist on every SIGHUP ([`reload::reload_allowlist`], as `POST /reload`
/// does); the caches are kept. A bad new file keeps the old allowlist and says why.
async fn reload_on_sighup(recursor: Recursor, path: Option<PathBuf>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangups = match signal(SignalKind::hangup()) {
            Ok(hangups) => hangups,
            Err(e) => {
                error!("cannot watch SIGHUP ({e}); the allowlist will not be reloaded");
                return;
            }
        };
        while hangups.recv().await.is_some() {
            // The outcome is logged by reload_allowlist; nobody else is waiting for it.
            let _ =
                reload::reload_allowlist(&recursor, path.as_deref(), reload::ReloadTrigger::Signal);
        }
    }
    #[cfg(not(unix))]
    let _ = (recursor, path);
}

/// Resolves on SIGTERM or Ctrl-C (SIGINT).
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => info!("SIGTERM"),
                    _ = ctrl_c => info!("SIGINT"),
                }
            }
            Err(e) => {
                error!("cannot watch SIGTERM ({e}); only Ctrl-C will stop scoped");
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
