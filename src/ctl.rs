//! `scoped ctl`: the command-line client of the control endpoint (`src/control.rs`).
//!
//! Each command is one HTTP request to one [`Endpoint`]; a 2xx answer's body is printed on
//! stdout and the exit status is 0. Anything else (endpoint unreachable, an error answer) prints
//! one line on stderr and exits 1, so scripts can test `scoped ctl reload && …`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::{Request, header};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::control::{DEFAULT_LISTEN, Endpoint};

/// Time to connect to the endpoint.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Time for the whole exchange once connected (`stats` walks the tailored cache).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// `scoped ctl [--control ADDR] COMMAND`
#[derive(Debug, Args)]
pub struct CtlArgs {
    /// The control endpoint: `127.0.0.1:8953` or `http://127.0.0.1:8953`.
    #[arg(long, global = true, default_value_t = DEFAULT_LISTEN, value_parser = parse_endpoint_addr)]
    pub control: SocketAddr,
    /// What to do.
    #[command(subcommand)]
    pub command: CtlCommand,
}

/// The operations of `scoped ctl`.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum CtlCommand {
    /// Print every counter, the cache sizes and memory use as JSON.
    Stats,
    /// Re-read the ECS allowlist file, as SIGHUP does; the caches are kept. A bad file keeps
    /// the old allowlist and the error names the line.
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
        }
    }
}

/// `ADDR:PORT`, optionally written as an `http://` URL with a trailing `/`.
fn parse_endpoint_addr(text: &str) -> Result<SocketAddr, String> {
    let bare = text.strip_prefix("http://").unwrap_or(text);
    let bare = bare.strip_suffix('/').unwrap_or(bare);
    bare.parse()
        .map_err(|_| format!("{text:?} is not an address like 127.0.0.1:8953 or http://[::1]:8953"))
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
    let endpoint = args.command.endpoint();
    match runtime.block_on(request(args.control, endpoint, &args.command.query())) {
        Ok((status, body)) if status.is_success() => {
            print!("{body}");
            if !body.ends_with('\n') {
                println!();
            }
            ExitCode::SUCCESS
        }
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
            eprintln!(
                "scoped ctl: cannot reach the control endpoint at http://{}: {problem} \
                 (is scoped running with [control] enabled there? see --control)",
                args.control
            );
            ExitCode::FAILURE
        }
    }
}

/// One HTTP/1.1 request; the status and the body as text.
async fn request(
    addr: SocketAddr,
    endpoint: Endpoint,
    query: &str,
) -> Result<(hyper::StatusCode, String), String> {
    let uri = format!("{}{query}", endpoint.path());
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| format!("no connection within {CONNECT_TIMEOUT:?}"))?
        .map_err(|e| e.to_string())?;
    tokio::time::timeout(REQUEST_TIMEOUT, async move {
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
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        driver.abort();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    })
    .await
    .map_err(|_| format!("no answer within {REQUEST_TIMEOUT:?}"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_address_may_be_written_as_a_url() {
        let expected: SocketAddr = "127.0.0.1:8953".parse().unwrap();
        for text in [
            "127.0.0.1:8953",
            "http://127.0.0.1:8953",
            "http://127.0.0.1:8953/",
        ] {
            assert_eq!(parse_endpoint_addr(text), Ok(expected), "{text}");
        }
        assert_eq!(
            parse_endpoint_addr("http://[::1]:8953"),
            Ok("[::1]:8953".parse().unwrap())
        );
        assert!(parse_endpoint_addr("localhost:8953").is_err());
    }
}
