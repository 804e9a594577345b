//! `scoped`: an ECS-correct caching recursive DNS resolver.
//!
//! `scoped serve [--config resolver.toml]` runs the resolver in the foreground until SIGTERM or
//! Ctrl-C; `scoped check-config FILE` validates a configuration and exits; `scoped ctl …` talks
//! to a running resolver's control endpoint.
#![deny(unsafe_code)]

use scoped::{control, ctl, demo, locate, logging, notify, privileges, recursor_on, reload, trace};

mod allocator;

/// mimalloc instead of the system allocator: a cache miss allocates and frees many small
/// objects (names, records, messages), and glibc's malloc was a sixth of the miss path's CPU.
#[global_allocator]
static ALLOCATOR: allocator::Mimalloc = allocator::Mimalloc;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::{Parser, Subcommand};
use scoped_recursor::{NetTransport, Recursor};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tracing::{error, info, warn};

use scoped::config::Config;
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
        /// Configuration file. Without it, ./resolver.toml is read if present, else
        /// /etc/scoped/resolver.toml if present, else the built-in defaults are used.
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
    /// Write the man pages (section 8: scoped.8, scoped-serve.8, …) into DIR; the Debian
    /// package is built with them.
    #[command(hide = true)]
    Man {
        /// The directory to write into.
        dir: PathBuf,
    },
    /// Write completions for SHELL on stdout; the Debian package is built with them.
    #[command(hide = true)]
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { file } => match load_checked(&file) {
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
        Command::Man { dir } => match write_man_pages(&dir) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("scoped man: {}: {e}", dir.display());
                ExitCode::FAILURE
            }
        },
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "scoped", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
        Command::Trace {
            name,
            qtype,
            client,
            subnet,
            config,
        } => match locate::load(config.as_deref()) {
            Ok((config, source)) => {
                println!(";; {}", locate::describe(source.as_deref()));
                trace::run(
                    config,
                    trace::TraceRequest {
                        name,
                        qtype,
                        client,
                        subnet,
                    },
                )
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
        Command::Serve { config } => match locate::load(config.as_deref()) {
            Ok((config, source)) => serve(config, source),
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
    }
}

/// One man page per command (hidden ones left out), in section 8 (system administration).
fn write_man_pages(dir: &Path) -> std::io::Result<()> {
    fn generate(command: clap::Command, dir: &Path) -> std::io::Result<()> {
        for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
            generate(sub.clone(), dir)?;
        }
        clap_mangen::Man::new(command)
            .section("8")
            .generate_to(dir)?;
        Ok(())
    }
    let mut command = <Cli as clap::CommandFactory>::command().disable_help_subcommand(true);
    command.build();
    std::fs::create_dir_all(dir)?;
    generate(command, dir)
}

/// `check-config`: everything `serve` checks before binding, the user and group included.
fn load_checked(file: &Path) -> Result<Config, String> {
    let config = Config::load(file).map_err(|e| e.to_string())?;
    config
        .run_as
        .resolve()
        .map_err(|e| format!("{}: {e}", file.display()))?;
    Ok(config)
}

/// A fatal start-up error: logged if errors are logged at all, else written on stderr, so that
/// a failing start is never silent.
fn fatal(message: &str) -> ExitCode {
    if tracing::enabled!(tracing::Level::ERROR) {
        error!("{message}");
    } else {
        eprintln!("scoped: {message}");
    }
    ExitCode::FAILURE
}

/// Logs which configuration `serve` uses (a file, as an absolute path, or the defaults).
fn log_source(source: Option<&Path>) {
    match source {
        Some(path) => info!(
            config = %std::path::absolute(path).unwrap_or_else(|_| path.to_owned()).display(),
            "configuration loaded"
        ),
        None => info!("using the {}", locate::describe(None)),
    }
}

/// Logs what the privilege drop did (a warning when running as root without `[server] user`).
fn log_privileges(outcome: &privileges::Outcome) {
    match outcome {
        privileges::Outcome::Dropped(to) => info!(
            user = %to.user,
            uid = to.uid.as_raw(),
            group = %to.group,
            gid = to.gid.as_raw(),
            "sockets bound; dropped root privileges for good"
        ),
        privileges::Outcome::AlreadyThatUser(to) => {
            info!(user = %to.user, uid = to.uid.as_raw(), "running as the configured user")
        }
        privileges::Outcome::RootWithoutUser => warn!(
            "running as root: set [server] user (e.g. user = \"scoped\") to drop root \
             privileges once the sockets are bound"
        ),
        privileges::Outcome::Unprivileged => {}
    }
}

fn serve(config: Config, source: Option<PathBuf>) -> ExitCode {
    let started = Instant::now();
    let run_as = match config.run_as.resolve() {
        Ok(run_as) => run_as,
        Err(e) => {
            let file = source.as_deref().unwrap_or(Path::new("<defaults>"));
            eprintln!("scoped: {}: {e}", file.display());
            return ExitCode::FAILURE;
        }
    };
    let log_level = match logging::init(config.log_format, &config.log_level, config.log_journald) {
        Ok(log_level) => log_level,
        Err(problem) => {
            eprintln!("scoped: {problem}");
            return ExitCode::FAILURE;
        }
    };
    let live = Arc::new(scoped::reconfigure::LiveConfig::new(
        source.as_deref(),
        log_level,
        Arc::clone(&config.server.local),
    ));
    log_source(source.as_deref());
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
        Err(e) => return fatal(&format!("cannot start the runtime: {e}")),
    };
    runtime.block_on(async move {
        let signals = Signals::watch();
        let server = match scoped_server::bind(config.server.clone()) {
            Ok(server) => server,
            Err(e) => return fatal(&format!("cannot listen on {e}")),
        };
        let addrs: Vec<String> = server.local_addrs().iter().map(|a| a.to_string()).collect();
        for addr in &addrs {
            info!(addr = %addr, "DNS listening (UDP and TCP)");
        }
        for addr in server.dot_addrs() {
            info!(addr = %addr, "DNS over TLS listening");
        }
        for addr in server.doh_addrs() {
            info!(addr = %addr, path = scoped_server::DOH_PATH, "DNS over HTTPS listening");
        }
        // Read as root (before the drop below); a reload re-reads them as the dropped user.
        live.set_certificates(server.certificates());
        let (control, control_line) = start_control(&config).await;
        // Every socket is bound: from here on, root is not needed.
        match privileges::drop_privileges(run_as.as_ref()) {
            Ok(outcome) => log_privileges(&outcome),
            Err(e) => return fatal(&e.to_string()),
        }
        // Two stable lines on stdout, so scripts and tests can learn ephemeral ports: the DNS
        // addresses, then the control endpoint's. Written at once and never fatal: a reader
        // that closed the pipe after the first line must not take the resolver down.
        let _ = write!(
            std::io::stdout().lock(),
            "scoped: listening on {}\n{control_line}\n",
            addrs.join(" ")
        );
        info!(
            version = env!("CARGO_PKG_VERSION"),
            threads = config.threads,
            "scoped serving"
        );
        let transport = Arc::new(NetTransport::new(&config.outgoing_addresses));
        let transport_counters = transport.counters();
        let recursor = recursor_on(&config, transport);
        let rules = server.rules();
        tokio::spawn(reload_on_sighup(
            signals.hangup,
            recursor.clone(),
            rules.clone(),
            Arc::clone(&live),
        ));
        let (stopping, stopped) = tokio::sync::watch::channel(());
        let control = control.map(|endpoint| {
            let resolver = RunningResolver {
                recursor: recursor.clone(),
                frontend: server.stats(),
                metrics: server.metrics(),
                rules,
                transport: transport_counters,
                allowlist_path: config.allowlist_path.clone(),
                config: live,
                started,
            };
            let mut stopped = stopped;
            tokio::spawn(endpoint.run(resolver, async move {
                // Resolves when told, or when the sender is gone: either way, stop.
                let _ = stopped.changed().await;
            }))
        });
        notify::ready();
        let shutdown = async move {
            shutdown_signal(signals.terminate, signals.interrupt).await;
            notify::stopping();
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
            for url in &urls {
                info!(url = %url, "control endpoint listening");
            }
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

/// The signals `serve` acts on, watched from before the sockets are announced (stdout lines,
/// READY=1): a SIGTERM or SIGHUP sent right after must not meet the default action (exit).
struct Signals {
    hangup: Option<Signal>,
    terminate: Option<Signal>,
    interrupt: Option<Signal>,
}

impl Signals {
    fn watch() -> Signals {
        let watch = |kind: SignalKind, name: &str, consequence: &str| match signal(kind) {
            Ok(stream) => Some(stream),
            Err(e) => {
                error!("cannot watch {name} ({e}); {consequence}");
                None
            }
        };
        Signals {
            hangup: watch(
                SignalKind::hangup(),
                "SIGHUP",
                "reloads need `scoped ctl reload`",
            ),
            terminate: watch(
                SignalKind::terminate(),
                "SIGTERM",
                "only Ctrl-C will stop scoped",
            ),
            interrupt: watch(
                SignalKind::interrupt(),
                "SIGINT",
                "only SIGTERM will stop scoped",
            ),
        }
    }
}

/// Re-read the configuration on every SIGHUP (as `POST /reload` does): what can change live is
/// applied, the rest named as needing a restart; the caches are kept. A bad file keeps
/// everything in force and says why. systemd is told RELOADING=1, then READY=1 when done.
async fn reload_on_sighup(
    hangups: Option<Signal>,
    recursor: Recursor,
    rules: scoped_server::RulesHandle,
    live: Arc<scoped::reconfigure::LiveConfig>,
) {
    let Some(mut hangups) = hangups else {
        return;
    };
    while hangups.recv().await.is_some() {
        notify::reloading();
        let (recursor, rules) = (recursor.clone(), rules.clone());
        let live = Arc::clone(&live);
        // The outcome is logged by reload; nobody else is waiting for it. Reading files
        // blocks: off the runtime's workers.
        let _ = tokio::task::spawn_blocking(move || {
            let targets = scoped::reconfigure::Targets {
                recursor: &recursor,
                rules: &rules,
            };
            live.reload(targets, reload::ReloadTrigger::Signal)
        })
        .await;
        notify::ready();
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
async fn shutdown_signal(terminate: Option<Signal>, interrupt: Option<Signal>) {
    async fn recv(signal: Option<Signal>) {
        match signal {
            Some(mut signal) => {
                signal.recv().await;
            }
            None => std::future::pending().await,
        }
    }
    tokio::select! {
        () = recv(terminate) => info!("SIGTERM"),
        () = recv(interrupt) => info!("SIGINT"),
    }
}
