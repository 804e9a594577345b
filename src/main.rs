//! `scoped`: an ECS-correct caching recursive DNS resolver.
//!
//! `scoped serve [--config resolver.toml]` runs the resolver in the foreground until SIGTERM or
//! Ctrl-C; `scoped check-config FILE` validates a configuration and exits.
#![forbid(unsafe_code)]

mod config;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use scoped_cache::RecordCache;
use scoped_recursor::{NetTransport, Recursor};
use tracing::{error, info};

use crate::config::{Config, LogFormat};

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
    /// Validate a configuration file and exit (0: valid, 1: the problem is printed).
    CheckConfig {
        /// The file to check.
        file: PathBuf,
    },
}

/// The default configuration file, read by `serve` when present.
const DEFAULT_CONFIG: &str = "resolver.toml";

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { file } => match Config::load(&file) {
            Ok(config) => {
                println!(
                    "{}: ok (listen {:?}, {} root hints)",
                    file.display(),
                    config.server.listen,
                    config.recursor.root_hints.len()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
        Command::Serve { config } => {
            let loaded = match &config {
                Some(path) => Config::load(path),
                None if Path::new(DEFAULT_CONFIG).exists() => {
                    Config::load(Path::new(DEFAULT_CONFIG))
                }
                None => Ok(Config::defaults()),
            };
            match loaded {
                Ok(config) => serve(config),
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
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
    init_logging(&config);
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if config.threads > 0 {
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
        // One stable line on stdout, so scripts and tests can learn ephemeral ports.
        println!("scoped: listening on {}", addrs.join(" "));
        info!(listen = ?addrs, "scoped {} serving", env!("CARGO_PKG_VERSION"));
        let cache = RecordCache::new(config.cache.clone());
        let transport = Arc::new(NetTransport::new(&config.outgoing_addresses));
        let recursor = Recursor::new(config.recursor.clone(), cache, transport);
        server.run(Arc::new(recursor), shutdown_signal()).await;
        info!("shut down");
        ExitCode::SUCCESS
    })
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
