//! The TCP listener (RFC 7766): connection limits, pipelined queries answered out of order.
//!
//! Per connection a reader reads length-prefixed messages and spawns one task per query (at most
//! `tcp_max_inflight_per_connection`); each task hands its framed response to a writer through a
//! channel, so answers leave in completion order (RFC 7766 §6.2.1.1). A response is one buffer,
//! length prefix included, written with one `write_all` on a TCP_NODELAY socket: a separate
//! 2-byte write costs ~44 ms through Nagle + delayed ACK.
//!
//! A connection closes when the client closes it, on a read error, when no byte arrives for
//! `tcp_idle_timeout` while no query is in flight, when a started message is not complete within
//! `tcp_read_timeout` (slowloris), or when a response cannot be written within
//! `tcp_write_timeout`. On a clean close, queries in flight are still answered first.
//!
//! DNS over TLS (`dot.rs`) serves its decrypted streams with the same [`serve_halves`].

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::timeout;

use crate::config::ServerConfig;
use crate::guard::Verdict;
use crate::pipeline::{Pipeline, Transport};
use crate::proxy;
use crate::stats::FrontendStats;

/// Pause after a failed `accept` (e.g. EMFILE), so the loop cannot spin a core.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(50);

/// The TCP settings of [`ServerConfig`], copied once.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TcpLimits {
    pub(crate) idle_timeout: Duration,
    pub(crate) read_timeout: Duration,
    pub(crate) write_timeout: Duration,
    pub(crate) max_inflight: usize,
}

impl TcpLimits {
    pub(crate) fn new(config: &ServerConfig) -> Self {
        Self {
            idle_timeout: config.tcp_idle_timeout,
            read_timeout: config.tcp_read_timeout,
            write_timeout: config.tcp_write_timeout,
            max_inflight: config
                .tcp_max_inflight_per_connection
                .clamp(1, Semaphore::MAX_PERMITS),
        }
    }
}

/// Open connections, in total and per client address, shared by every TCP listener.
#[derive(Debug)]
pub(crate) struct ConnectionTable {
    total: Arc<Semaphore>,
    per_client: Mutex<HashMap<IpAddr, usize>>,
    max_per_client: usize,
}

/// Why a connection was not admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Full {
    Total,
    Client,
}

/// A connection's place in the [`ConnectionTable`], given back on drop.
#[derive(Debug)]
pub(crate) struct ConnectionSlot {
    table: Arc<ConnectionTable>,
    client: IpAddr,
    _total: OwnedSemaphorePermit,
}

impl ConnectionTable {
    pub(crate) fn new(config: &ServerConfig) -> Self {
        Self {
            total: Arc::new(Semaphore::new(
                config.tcp_max_connections.min(Semaphore::MAX_PERMITS),
            )),
            per_client: Mutex::new(HashMap::new()),
            max_per_client: config.tcp_max_connections_per_client,
        }
    }

    pub(crate) fn admit(self: &Arc<Self>, client: IpAddr) -> Result<ConnectionSlot, Full> {
        let client = client.to_canonical();
        let total = Arc::clone(&self.total)
            .try_acquire_owned()
            .map_err(|_| Full::Total)?;
        let mut per_client = self
            .per_client
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let open = per_client.entry(client).or_insert(0);
        if *open >= self.max_per_client {
            if *open == 0 {
                per_client.remove(&client);
            }
            return Err(Full::Client);
        }
        *open += 1;
        Ok(ConnectionSlot {
            table: Arc::clone(self),
            client,
            _total: total,
        })
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut per_client = self
            .table
            .per_client
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(open) = per_client.get_mut(&self.client) {
            *open = open.saturating_sub(1);
            if *open == 0 {
                per_client.remove(&self.client);
            }
        }
    }
}

/// Accepts connections on `listener` until the task is aborted; aborting also drops every
/// connection it serves.
pub(crate) async fn serve(
    listener: TcpListener,
    pipeline: Arc<Pipeline>,
    table: Arc<ConnectionTable>,
    limits: TcpLimits,
) {
    let mut connections = JoinSet::new();
    loop {
        let (stream, client) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::debug!(%error, "TCP accept failed");
                tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                continue;
            }
        };
        while connections.try_join_next().is_some() {}
        let stats = pipeline.stats();
        let slot = match table.admit(client.ip()) {
            Ok(slot) => slot,
            Err(full) => {
                FrontendStats::bump(match full {
                    Full::Total => &stats.tcp_rejected_server_full,
                    Full::Client => &stats.tcp_rejected_per_client,
                });
                drop(stream);
                continue;
            }
        };
        FrontendStats::bump(&stats.tcp_accepted);
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, %client, "TCP_NODELAY failed");
        }
        connections.spawn(serve_connection(
            stream,
            client,
            Arc::clone(&pipeline),
            limits,
            slot,
        ));
    }
}

/// Serves one connection until it closes.
async fn serve_connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    pipeline: Arc<Pipeline>,
    limits: TcpLimits,
    slot: ConnectionSlot,
) {
    let guard = &pipeline.guard;
    let client =
        match proxy::stream_client(&mut stream, peer, &guard.proxy, limits.read_timeout).await {
            Ok(unwrapped) => {
                if unwrapped.local {
                    guard.count_proxy_local();
                }
                unwrapped.client
            }
            Err(drop) => {
                guard.count_proxy_drop(drop);
                return;
            }
        };
    let (reader, writer) = stream.into_split();
    serve_halves(reader, writer, client, pipeline, limits, Transport::Tcp).await;
    drop(slot);
}

/// Serves one connection's read and write halves (plain TCP, or TLS once decrypted) until it
/// closes: pipelined queries, answers in completion order.
pub(crate) async fn serve_halves<R, W>(
    reader: R,
    writer: W,
    client: SocketAddr,
    pipeline: Arc<Pipeline>,
    limits: TcpLimits,
    transport: Transport,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (responses, outbox) = mpsc::channel(limits.max_inflight);
    let reading = read_queries(reader, client, pipeline, limits, responses, transport);
    let writing = write_responses(writer, outbox, limits.write_timeout);
    tokio::pin!(reading, writing);
    tokio::select! {
        // The reader finished (and dropped its sender once every query was answered): flush.
        () = &mut reading => writing.await,
        // The writer can only finish first if the client stopped taking responses: give up on
        // the queries in flight.
        () = &mut writing => {}
    }
}

/// Reads queries and resolves each in its own task, until the connection should close.
async fn read_queries(
    reader: impl AsyncRead + Unpin,
    client: SocketAddr,
    pipeline: Arc<Pipeline>,
    limits: TcpLimits,
    responses: mpsc::Sender<Vec<u8>>,
    transport: Transport,
) {
    let mut reader = BufReader::new(reader);
    let inflight = Arc::new(Semaphore::new(limits.max_inflight));
    let mut queries = JoinSet::new();
    loop {
        let message = match read_message(&mut reader, &limits, &inflight).await {
            Ok(message) => message,
            Err(end) => {
                let stats = pipeline.stats();
                match end {
                    ConnectionEnd::IdleTimeout => FrontendStats::bump(&stats.tcp_idle_timeouts),
                    ConnectionEnd::ReadTimeout => FrontendStats::bump(&stats.tcp_read_timeouts),
                    ConnectionEnd::Closed => {}
                    ConnectionEnd::Error(error) => {
                        tracing::debug!(%error, %client, "TCP read failed");
                    }
                }
                break;
            }
        };
        // Back-pressure: with the connection's quota in flight, stop reading until one finishes.
        let Ok(permit) = Arc::clone(&inflight).acquire_owned().await else {
            break;
        };
        let pipeline = Arc::clone(&pipeline);
        let responses = responses.clone();
        queries.spawn(async move {
            let response = match pipeline.guard.tcp(&message, client) {
                Verdict::Serve(admitted) => {
                    let mut response = pipeline.handle(&message, client, transport).await;
                    if let Some(response) = response.as_mut() {
                        pipeline.guard.finish(&admitted, &message, response);
                    }
                    response
                }
                Verdict::Answer(answer) => Some(answer),
                Verdict::Drop => None,
            };
            if let Some(response) = response
                && let Some(frame) = frame(&response)
            {
                // An error means the writer is gone; the connection is closing anyway.
                let _ = responses.send(frame).await;
            }
            drop(permit);
        });
        while queries.try_join_next().is_some() {}
    }
    while queries.join_next().await.is_some() {}
}

/// How a connection's read side ended.
#[derive(Debug)]
enum ConnectionEnd {
    Closed,
    IdleTimeout,
    ReadTimeout,
    Error(io::Error),
}

/// Reads one length-prefixed message. Waiting for its first byte is bounded by the idle timeout,
/// but only while no query is in flight (a slow resolution is not idleness); the rest of the
/// message must follow within the read timeout.
async fn read_message(
    reader: &mut BufReader<impl AsyncRead + Unpin>,
    limits: &TcpLimits,
    inflight: &Semaphore,
) -> Result<Vec<u8>, ConnectionEnd> {
    let mut first = [0u8; 1];
    loop {
        // `read` is cancel-safe: a timeout consumes nothing.
        match timeout(limits.idle_timeout, reader.read(&mut first)).await {
            Ok(Ok(0)) => return Err(ConnectionEnd::Closed),
            Ok(Ok(_)) => break,
            Ok(Err(error)) => return Err(ConnectionEnd::Error(error)),
            Err(_) if inflight.available_permits() >= limits.max_inflight => {
                return Err(ConnectionEnd::IdleTimeout);
            }
            Err(_) => {}
        }
    }
    let rest = async {
        let second = reader.read_u8().await?;
        let mut message = vec![0u8; usize::from(u16::from_be_bytes([first[0], second]))];
        reader.read_exact(&mut message).await?;
        Ok::<_, io::Error>(message)
    };
    match timeout(limits.read_timeout, rest).await {
        Ok(Ok(message)) => Ok(message),
        Ok(Err(error)) if error.kind() == io::ErrorKind::UnexpectedEof => {
            Err(ConnectionEnd::Closed)
        }
        Ok(Err(error)) => Err(ConnectionEnd::Error(error)),
        Err(_) => Err(ConnectionEnd::ReadTimeout),
    }
}

/// A response with its 2-byte length prefix, in one buffer; `None` if it cannot be framed (the
/// pipeline never produces more than 65,535 bytes for TCP).
fn frame(response: &[u8]) -> Option<Vec<u8>> {
    let len = u16::try_from(response.len()).ok()?;
    let mut frame = Vec::with_capacity(response.len() + 2);
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(response);
    Some(frame)
}

/// Writes framed responses in the order they complete, each with a single write call.
async fn write_responses(
    mut writer: impl AsyncWrite + Unpin,
    mut outbox: mpsc::Receiver<Vec<u8>>,
    write_timeout: Duration,
) {
    while let Some(frame) = outbox.recv().await {
        // The flush is free on a TCP socket; TLS may hold the record back without it.
        let write = async {
            writer.write_all(&frame).await?;
            writer.flush().await
        };
        match timeout(write_timeout, write).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                tracing::debug!(%error, "TCP write failed");
                return;
            }
            Err(_) => {
                tracing::debug!("TCP write timed out");
                return;
            }
        }
    }
    // Every sender is gone: all answers written. Send FIN.
    let _ = writer.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(total: usize, per_client: usize) -> Arc<ConnectionTable> {
        let config = ServerConfig {
            tcp_max_connections: total,
            tcp_max_connections_per_client: per_client,
            ..ServerConfig::default()
        };
        Arc::new(ConnectionTable::new(&config))
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn per_client_limit_counts_mapped_and_plain_ipv4_as_one_client() {
        let table = table(10, 2);
        let _a = table.admit(ip("192.0.2.1")).expect("first");
        let _b = table.admit(ip("::ffff:192.0.2.1")).expect("second");
        assert_eq!(table.admit(ip("192.0.2.1")).err(), Some(Full::Client));
        assert!(table.admit(ip("192.0.2.2")).is_ok());
    }

    #[test]
    fn closing_a_connection_frees_its_slots() {
        let table = table(1, 1);
        let slot = table.admit(ip("192.0.2.1")).expect("first");
        assert_eq!(table.admit(ip("192.0.2.2")).err(), Some(Full::Total));
        drop(slot);
        assert!(table.admit(ip("192.0.2.1")).is_ok());
        assert!(table.per_client.lock().expect("lock").is_empty());
    }

    #[test]
    fn frame_prefixes_the_length() {
        assert_eq!(
            frame(&[0xaa, 0xbb, 0xcc]),
            Some(vec![0, 3, 0xaa, 0xbb, 0xcc])
        );
        assert_eq!(frame(&vec![0; 65_536]), None);
    }
}
