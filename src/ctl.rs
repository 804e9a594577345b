//! `scoped ctl`: the command-line client of the control endpoint (`src/control.rs`).
//!
//! Each command is one HTTP request to one [`Endpoint`]; a 2xx answer's body is printed on
//! stdout and the exit status is 0. Anything else (endpoint unreachable, an error answer) prints
//! one line on stderr and exits 1, so scripts can test `scoped ctl reload && …`.

use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::{Request, header};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::config::Config;
use crate::control::{DEFAULT_LISTEN, Endpoint};

/// Time to connect to the endpoint.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Time for the whole exchange once connected (`stats` walks the tailored cache).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// `scoped ctl [--control ADDR | --config FILE] COMMAND`
#[derive(Debug, Args)]
pub struct CtlArgs {
    /// The control endpoint: `127.0.0.1:8953`, `localhost:8953` or `http://[::1]:8953`.
    /// Without it, the endpoint is taken from the configuration file (as `serve` finds it),
    /// else 127.0.0.1:8953.
    #[arg(long, global = true, conflicts_with = "config", value_parser = parse_endpoint)]
    pub control: Option<String>,
    /// The resolver's configuration file, to find the endpoint from `[control] listen`.
    #[arg(long, short, global = true)]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: CtlCommand,
}

/// The operations of `scoped ctl`.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum CtlCommand {
    /// Print every counter, the cache sizes and memory use as JSON.
    Stats,
    /// Re-read the configuration file (and the ECS allowlist), as SIGHUP does: the allowlist
    /// and log level are applied, other changed keys are named as needing a restart; the caches
    /// are kept. A bad file keeps everything in force and the error names the line.
    Reload,
    /// Print the counters in the Prometheus (OpenMetrics) text format.
    Metrics,
    /// Exit 0 if the resolver answers on its control endpoint.
    Health,
    /// Print the nameserver table: SRTT, RTO, state and counts per address, as JSON.
    Infra,
    /// Forget NAME in the caches (every type, tailored answers too), so it is resolved afresh.
    Flush {
        /// The name.
        name: String,
        /// Also every name below it.
        #[arg(long)]
        subtree: bool,
    },
    /// Empty the caches (the nameserver table is kept).
    FlushAll,
    /// Show what the caches hold for NAME, as JSON: the answer for every client, each tailored
    /// answer with its subnet (scope), the seconds of TTL left, negative entries, and what
    /// DNSSEC validation said.
    Lookup {
        /// The name.
        name: String,
        /// The record type (every type cached for the name if left out).
        #[arg(value_name = "TYPE")]
        qtype: Option<String>,
    },
    /// Write every cache entry out, zone-file-like (one line per record, comments saying the
    /// TTL left, scope, trust and validation), streamed.
    DumpCache {
        /// Write to this file instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

impl CtlCommand {
    /// The query string of the request (`?name=…&subtree=…` for flush), or nothing.
    fn query(&self) -> String {
        match self {
            CtlCommand::Flush { name, subtree } => {
                let encoded: String = form_urlencoded::Serializer::new(String::new())
                    .append_pair("name", name)
                    .append_pair("subtree", if *subtree { "true" } else { "false" })
                    .finish();
                format!("?{encoded}")
            }
            CtlCommand::Lookup { name, qtype } => {
                let mut query = form_urlencoded::Serializer::new(String::new());
                query.append_pair("name", name);
                if let Some(qtype) = qtype {
                    query.append_pair("type", qtype);
                }
                format!("?{}", query.finish())
            }
            _ => String::new(),
        }
    }

    /// The endpoint this command asks.
    fn endpoint(&self) -> Endpoint {
        match self {
            CtlCommand::Stats => Endpoint::Stats,
            CtlCommand::Reload => Endpoint::Reload,
            CtlCommand::Metrics => Endpoint::Metrics,
            CtlCommand::Health => Endpoint::Health,
            CtlCommand::Infra => Endpoint::Infra,
            CtlCommand::Flush { .. } => Endpoint::Flush,
            CtlCommand::FlushAll => Endpoint::FlushAll,
            CtlCommand::Lookup { .. } => Endpoint::Lookup,
            CtlCommand::DumpCache { .. } => Endpoint::Dump,
        }
    }
}

/// `HOST:PORT`, optionally written as an `http://` URL with a trailing `/`; the bare form.
fn parse_endpoint(text: &str) -> Result<String, String> {
    let bare = text.strip_prefix("http://").unwrap_or(text);
    let bare = bare.strip_suffix('/').unwrap_or(bare);
    let port_given = bare
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if port_given {
        Ok(bare.to_owned())
    } else {
        Err(format!(
            "{text:?} is not an endpoint like 127.0.0.1:8953, localhost:8953 or http://[::1]:8953"
        ))
    }
}

/// The addresses to try, in order: `--control` (host names resolved), else the configuration's
/// `[control] listen` (a wildcard address asked on loopback), else 127.0.0.1:8953.
fn endpoint_addrs(args: &CtlArgs) -> Result<Vec<SocketAddr>, String> {
    if let Some(endpoint) = &args.control {
        let addrs: Vec<SocketAddr> = endpoint
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {endpoint}: {e}"))?
            .collect();
        return if addrs.is_empty() {
            Err(format!("{endpoint} has no address"))
        } else {
            Ok(addrs)
        };
    }
    let Some(path) = crate::locate::config_path(args.config.as_deref()) else {
        return Ok(vec![DEFAULT_LISTEN]);
    };
    let config = Config::load(&path).map_err(|e| e.to_string())?;
    let control = config.control.ok_or_else(|| {
        format!(
            "{}: the control endpoint is off ([control] enabled = false)",
            path.display()
        )
    })?;
    Ok(control
        .listen
        .iter()
        .map(|&addr| connectable(addr))
        .collect())
}

/// A listen address as a client reaches it: a wildcard address is asked on loopback.
fn connectable(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V4(v4) if v4.ip().is_unspecified() => {
            SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, v4.port()))
        }
        SocketAddr::V6(v6) if v6.ip().is_unspecified() => {
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, v6.port()))
        }
        other => other,
    }
}

/// Runs one command and reports on stdout/stderr.
pub fn run(args: CtlArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("scoped ctl: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addrs = match endpoint_addrs(&args) {
        Ok(addrs) => addrs,
        Err(problem) => {
            eprintln!("scoped ctl: {problem}");
            return ExitCode::FAILURE;
        }
    };
    let endpoint = args.command.endpoint();
    let mut out: Box<dyn Write> = match &args.command {
        CtlCommand::DumpCache {
            output: Some(file), ..
        } => match std::fs::File::create(file) {
            Ok(file) => Box::new(std::io::BufWriter::new(file)),
            Err(e) => {
                eprintln!("scoped ctl: {}: {e}", file.display());
                return ExitCode::FAILURE;
            }
        },
        _ => Box::new(std::io::stdout().lock()),
    };
    let outcome = runtime.block_on(request(&addrs, endpoint, &args.command.query(), &mut out));
    match outcome {
        Ok((status, _)) if status.is_success() => match out.flush() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("scoped ctl: writing the answer: {e}");
                ExitCode::FAILURE
            }
        },
        Ok((status, body)) => {
            // Error answers are `{"error": "…"}`; print the message, or the body as it came.
            let message = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
                .unwrap_or_else(|| body.trim().to_owned());
            eprintln!(
                "scoped ctl: {} {} failed ({status}): {message}",
                endpoint.method(),
                endpoint.path()
            );
            ExitCode::FAILURE
        }
        Err(problem) => {
            let tried: Vec<String> = addrs.iter().map(|a| format!("http://{a}")).collect();
            eprintln!(
                "scoped ctl: cannot reach the control endpoint at {}: {problem} \
                 (is scoped running with [control] enabled there? see --control and --config)",
                tried.join(" ")
            );
            ExitCode::FAILURE
        }
    }
}

/// One HTTP/1.1 request. A success's body is written to `out` as it arrives (a line end added
/// if it has none); the status is returned, with the body of an error answer as text.
async fn request(
    addrs: &[SocketAddr],
    endpoint: Endpoint,
    query: &str,
    out: &mut dyn Write,
) -> Result<(hyper::StatusCode, String), String> {
    let uri = format!("{}{query}", endpoint.path());
    let (stream, addr) = connect(addrs).await?;
    let timeout = |what: &str| format!("no {what} within {REQUEST_TIMEOUT:?}");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    let driver = tokio::spawn(connection);
    let request = Request::builder()
        .method(endpoint.method())
        .uri(uri)
        .header(header::HOST, addr.to_string())
        .header(
            header::USER_AGENT,
            concat!("scoped-ctl/", env!("CARGO_PKG_VERSION")),
        )
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let response = tokio::time::timeout(REQUEST_TIMEOUT, sender.send_request(request))
        .await
        .map_err(|_| timeout("answer"))?
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let mut body = response.into_body();
    let mut error_body = Vec::new();
    let mut last = b'\n';
    // A dump streams for as long as the cache is big: the limit is on each wait, not the whole.
    while let Some(frame) = tokio::time::timeout(REQUEST_TIMEOUT, body.frame())
        .await
        .map_err(|_| timeout("data"))?
    {
        let Ok(data) = frame.map_err(|e| e.to_string())?.into_data() else {
            continue;
        };
        if !status.is_success() {
            error_body.extend_from_slice(&data);
            continue;
        }
        out.write_all(&data)
            .map_err(|e| format!("writing the answer: {e}"))?;
        last = data.last().copied().unwrap_or(last);
    }
    driver.abort();
    if status.is_success() && last != b'\n' {
        out.write_all(b"\n")
            .map_err(|e| format!("writing the answer: {e}"))?;
    }
    Ok((status, String::from_utf8_lossy(&error_body).into_owned()))
}

/// A connection to the first of `addrs` that accepts one.
async fn connect(addrs: &[SocketAddr]) -> Result<(TcpStream, SocketAddr), String> {
    let mut problem = String::from("no address");
    for &addr in addrs {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => return Ok((stream, addr)),
            Ok(Err(e)) => problem = e.to_string(),
            Err(_) => problem = format!("no connection within {CONNECT_TIMEOUT:?}"),
        }
    }
    Err(problem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_address_may_be_written_as_a_url() {
        for text in [
            "127.0.0.1:8953",
            "http://127.0.0.1:8953",
            "http://127.0.0.1:8953/",
        ] {
            assert_eq!(
                parse_endpoint(text).as_deref(),
                Ok("127.0.0.1:8953"),
                "{text}"
            );
        }
        assert_eq!(
            parse_endpoint("http://[::1]:8953").as_deref(),
            Ok("[::1]:8953")
        );
        assert!(parse_endpoint("localhost").is_err());
        assert!(parse_endpoint(":8953").is_err());
    }

    #[test]
    fn host_names_are_resolved() {
        let args = CtlArgs {
            control: Some(parse_endpoint("localhost:8953").unwrap()),
            config: None,
            command: CtlCommand::Health,
        };
        let addrs = endpoint_addrs(&args).unwrap();
        assert!(!addrs.is_empty());
        assert!(
            addrs
                .iter()
                .all(|a| a.ip().is_loopback() && a.port() == 8953),
            "{addrs:?}"
        );
    }

    #[test]
    fn the_endpoint_comes_from_the_configuration_wildcards_asked_on_loopback() {
        let dir = std::env::temp_dir().join(format!("scoped-ctl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("resolver.toml");
        let args = |file: &std::path::Path| CtlArgs {
            control: None,
            config: Some(file.to_owned()),
            command: CtlCommand::Stats,
        };
        std::fs::write(
            &file,
            "[control]\nlisten = [\"0.0.0.0:9953\", \"[::1]:9954\"]\nallow-remote = true\n",
        )
        .unwrap();
        assert_eq!(
            endpoint_addrs(&args(&file)).unwrap(),
            vec![
                "127.0.0.1:9953".parse::<SocketAddr>().unwrap(),
                "[::1]:9954".parse().unwrap()
            ]
        );
        std::fs::write(&file, "[control]\nenabled = false\n").unwrap();
        let err = endpoint_addrs(&args(&file)).unwrap_err();
        assert!(err.contains("control endpoint is off"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
