//! The encrypted listeners: DNS over TLS ([`dot`], RFC 7858) and DNS over HTTPS ([`doh`],
//! RFC 8484). Both accept TCP connections here, admit them into the TCP connection table (the
//! same limits, in total and per client), complete the TLS handshake with the certificate in
//! force ([`crate::tls::Certificates`]), and then hand the decrypted stream on. Every query goes
//! through the one [`Pipeline`](crate::Pipeline), as on UDP and TCP.

pub(crate) mod doh;
pub(crate) mod dot;
pub(crate) mod forwarded;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::stats::FrontendStats;
use crate::tcp::{ConnectionSlot, ConnectionTable, Full};

/// Pause after a failed `accept` (e.g. EMFILE), so the loop cannot spin a core.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(50);

/// How one encrypted listener accepts.
pub(crate) struct Accepting {
    pub(crate) listener: TcpListener,
    pub(crate) acceptor: TlsAcceptor,
    pub(crate) table: Arc<ConnectionTable>,
    pub(crate) stats: Arc<FrontendStats>,
    /// Time a client has to complete the TLS handshake.
    pub(crate) handshake_timeout: Duration,
}

/// Accepts connections until the task is aborted (which drops every connection), runs the TLS
/// handshake of each in its own task, then `serve` on the decrypted stream. `accepted` picks
/// the counter of accepted connections.
pub(crate) async fn accept_loop<F, Fut>(
    accepting: Accepting,
    accepted: fn(&FrontendStats) -> &AtomicU64,
    serve: F,
) where
    F: Fn(TlsStream<TcpStream>, SocketAddr) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Accepting {
        listener,
        acceptor,
        table,
        stats,
        handshake_timeout,
    } = accepting;
    let serve = Arc::new(serve);
    let mut connections = JoinSet::new();
    loop {
        let (stream, client) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::debug!(%error, "TLS listener: accept failed");
                tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                continue;
            }
        };
        while connections.try_join_next().is_some() {}
        let Some(slot) = admit(&table, &stats, client) else {
            continue;
        };
        FrontendStats::bump(accepted(&stats));
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, %client, "TCP_NODELAY failed");
        }
        let stats = Arc::clone(&stats);
        let handshake = acceptor.accept(stream);
        let serve = Arc::clone(&serve);
        connections.spawn(async move {
            match timeout(handshake_timeout, handshake).await {
                Ok(Ok(tls)) => serve(tls, client).await,
                Ok(Err(error)) => {
                    tracing::debug!(%error, %client, "TLS handshake failed");
                    FrontendStats::bump(&stats.tls_handshake_failures);
                }
                Err(_) => {
                    tracing::debug!(%client, "TLS handshake timed out");
                    FrontendStats::bump(&stats.tls_handshake_failures);
                }
            }
            drop(slot);
        });
    }
}

/// A slot in the connection table, or `None` (counted) when the server or the client is full.
fn admit(
    table: &Arc<ConnectionTable>,
    stats: &FrontendStats,
    client: SocketAddr,
) -> Option<ConnectionSlot> {
    match table.admit(client.ip()) {
        Ok(slot) => Some(slot),
        Err(Full::Total) => {
            FrontendStats::bump(&stats.tcp_rejected_server_full);
            None
        }
        Err(Full::Client) => {
            FrontendStats::bump(&stats.tcp_rejected_per_client);
            None
        }
    }
}
