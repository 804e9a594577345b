//! One TLS connection to one forwarder, with queries pipelined on it (RFC 7766 §6.2.1).
//!
//! Two tasks own the two halves of the stream. The writer sends the framed queries handed to
//! it, in order. The reader reads framed replies as they come, in any order, and gives each to
//! the query outstanding under its ID. Each query goes out under an ID no other outstanding
//! query on the connection has (the engine's random ID, or another one when that one is taken),
//! and its reply gets the engine's ID back. The reader closes the connection when nothing has
//! been outstanding for the idle timeout, when the forwarder closes it, or on any error; a query
//! given up unanswered (its timeout) closes it too, as a connection that leaves a query without
//! reply is not trusted with the next one. Closing fails every outstanding query at once: no
//! query waits on a connection that is gone.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc, oneshot, watch};
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tokio_rustls::client::TlsStream;

use crate::transport::TransportError;

type Stream = TlsStream<TcpStream>;

/// How long the writer waits to send its close_notify before it drops the connection anyway.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Why a query on a connection got no reply.
#[derive(Debug)]
pub(super) enum Sent {
    /// The connection closed (or was closed) before the reply came.
    Closed,
}

impl Sent {
    /// The transport's error for it.
    pub(super) fn into_error(self, server: SocketAddr) -> TransportError {
        match self {
            Sent::Closed => TransportError::Io(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                format!("DNS over TLS connection to {server} closed before the reply"),
            )),
        }
    }
}

/// An open (or lately closed) connection.
pub(super) struct Conn {
    frames: mpsc::Sender<Vec<u8>>,
    shared: Arc<Shared>,
    slots: Semaphore,
    tasks: [AbortHandle; 2],
}

/// What the two tasks and the queries share.
struct Shared {
    state: Mutex<State>,
    closed: watch::Sender<bool>,
}

struct State {
    open: bool,
    /// By the ID the query went out with: the engine's ID and where its reply goes.
    pending: HashMap<u16, (u16, oneshot::Sender<Vec<u8>>)>,
    last_used: Instant,
}

impl Conn {
    /// Start the reader and writer on `stream`: closed after `idle` without outstanding
    /// queries, at most `max_outstanding` queries at once.
    pub(super) fn start(stream: Stream, idle: Duration, max_outstanding: usize) -> Self {
        let (read, write) = tokio::io::split(stream);
        let (frames, queued) = mpsc::channel(max_outstanding);
        let shared = Arc::new(Shared::new());
        let reader = tokio::spawn(read_loop(read, shared.clone(), idle)).abort_handle();
        let writer = tokio::spawn(write_loop(write, queued, shared.clone())).abort_handle();
        Self {
            frames,
            shared,
            slots: Semaphore::new(max_outstanding),
            tasks: [reader, writer],
        }
    }

    /// Whether queries can still be sent on it.
    pub(super) fn is_open(&self) -> bool {
        self.shared.lock().open
    }

    /// Send `message` (a query with its ID) and wait for its reply (with the same ID).
    pub(super) async fn exchange(&self, message: &[u8]) -> Result<Vec<u8>, Sent> {
        let _slot = self.slots.acquire().await.map_err(|_| Sent::Closed)?;
        let (Some(&hi), Some(&lo), Ok(len)) = (
            message.first(),
            message.get(1),
            u16::try_from(message.len()),
        ) else {
            return Err(Sent::Closed);
        };
        let (wire_id, reply) = self.shared.register(u16::from_be_bytes([hi, lo]))?;
        let mut outstanding = Outstanding {
            shared: &self.shared,
            wire_id,
            answered: false,
        };
        let mut frame = Vec::with_capacity(2 + message.len());
        frame.extend_from_slice(&len.to_be_bytes());
        frame.extend_from_slice(&wire_id.to_be_bytes());
        frame.extend_from_slice(&message[2..]);
        self.frames.send(frame).await.map_err(|_| Sent::Closed)?;
        let reply = reply.await.map_err(|_| Sent::Closed)?;
        outstanding.answered = true;
        Ok(reply)
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// A query waiting for its reply: taken out of the table however the wait ends.
struct Outstanding<'a> {
    shared: &'a Shared,
    wire_id: u16,
    answered: bool,
}

impl Drop for Outstanding<'_> {
    fn drop(&mut self) {
        let removed = self.shared.lock().pending.remove(&self.wire_id).is_some();
        if removed && !self.answered {
            // Given up while still outstanding: its timeout passed on this connection.
            self.shared.close();
        }
    }
}

impl Shared {
    fn new() -> Self {
        Self {
            state: Mutex::new(State {
                open: true,
                pending: HashMap::new(),
                last_used: Instant::now(),
            }),
            closed: watch::channel(false).0,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A place among the outstanding queries for one with ID `id`: the ID it goes out with
    /// (`id` unless another outstanding query has it) and where its reply will come.
    fn register(&self, id: u16) -> Result<(u16, oneshot::Receiver<Vec<u8>>), Sent> {
        let mut state = self.lock();
        if !state.open {
            return Err(Sent::Closed);
        }
        let mut wire_id = id;
        while state.pending.contains_key(&wire_id) {
            wire_id = rand::random();
        }
        let (tx, rx) = oneshot::channel();
        state.pending.insert(wire_id, (id, tx));
        state.last_used = Instant::now();
        Ok((wire_id, rx))
    }

    /// A reply read from the connection, to the query outstanding under its ID (with the
    /// engine's ID put back). One nobody waits for (its query gave up) is dropped.
    fn deliver(&self, mut reply: Vec<u8>) {
        if reply.len() < 12 {
            return;
        }
        let wire_id = u16::from_be_bytes([reply[0], reply[1]]);
        let mut state = self.lock();
        state.last_used = Instant::now();
        if let Some((id, tx)) = state.pending.remove(&wire_id) {
            reply[..2].copy_from_slice(&id.to_be_bytes());
            let _ = tx.send(reply);
        }
    }

    /// When the connection has been idle long enough to close: `None` while queries are
    /// outstanding.
    fn idle_deadline(&self, idle: Duration) -> Option<Instant> {
        let state = self.lock();
        state.pending.is_empty().then_some(state.last_used + idle)
    }

    /// No more queries; the outstanding ones fail now; both tasks stop.
    fn close(&self) {
        let mut state = self.lock();
        state.open = false;
        state.pending.clear();
        drop(state);
        self.closed.send_replace(true);
    }
}

/// Until the connection is closed.
async fn closing(closed: &mut watch::Receiver<bool>) {
    // An error: the sender is gone with the connection, as good as closed.
    let _ = closed.wait_for(|closed| *closed).await.map(|_| ());
}

/// The first complete frame in `buf`, taken out of it.
fn take_frame(buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    let len = usize::from(u16::from_be_bytes([*buf.first()?, *buf.get(1)?]));
    if buf.len() < 2 + len {
        return None;
    }
    let frame = buf[2..2 + len].to_vec();
    buf.drain(..2 + len);
    Some(frame)
}

async fn read_loop(mut read: ReadHalf<Stream>, shared: Arc<Shared>, idle: Duration) {
    let mut closed = shared.closed.subscribe();
    let mut buf = Vec::with_capacity(4096);
    loop {
        while let Some(frame) = take_frame(&mut buf) {
            shared.deliver(frame);
        }
        let idle_at = shared.idle_deadline(idle);
        tokio::select! {
            // `read_buf` loses nothing when another branch wins: the buffer keeps what came.
            read = read.read_buf(&mut buf) => match read {
                Ok(0) => {
                    tracing::debug!("DoT forwarder closed the connection");
                    break;
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::debug!(%error, "DoT connection failed");
                    break;
                }
            },
            () = tokio::time::sleep_until(idle_at.unwrap_or_else(Instant::now)), if idle_at.is_some() => {
                if shared.idle_deadline(idle).is_some_and(|at| at <= Instant::now()) {
                    tracing::debug!("DoT connection idle; closing it");
                    break;
                }
            }
            () = closing(&mut closed) => break,
        }
    }
    shared.close();
}

async fn write_loop(
    mut write: WriteHalf<Stream>,
    mut frames: mpsc::Receiver<Vec<u8>>,
    shared: Arc<Shared>,
) {
    let mut closed = shared.closed.subscribe();
    loop {
        tokio::select! {
            frame = frames.recv() => {
                let Some(frame) = frame else { break };
                // rustls holds what is written until flushed.
                if write.write_all(&frame).await.is_err() || write.flush().await.is_err() {
                    break;
                }
            }
            () = closing(&mut closed) => break,
        }
    }
    shared.close();
    // close_notify, then FIN: the forwarder sees a clean close.
    let _ = tokio::time::timeout(CLOSE_WAIT, write.shutdown()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reply to a query with ID `id`: header only, QR set.
    fn reply(id: u16) -> Vec<u8> {
        let mut wire = vec![0; 12];
        wire[..2].copy_from_slice(&id.to_be_bytes());
        wire[2] = 0x80;
        wire
    }

    #[tokio::test]
    async fn queries_with_the_same_id_go_out_under_different_ones_and_get_theirs_back() {
        let shared = Shared::new();
        let (first_id, first) = shared.register(7).unwrap();
        let (second_id, second) = shared.register(7).unwrap();
        assert_eq!(first_id, 7);
        assert_ne!(
            second_id, 7,
            "two outstanding queries never share an ID on the wire"
        );
        // The replies come last-first; each reaches its query with the engine's ID.
        shared.deliver(reply(second_id));
        shared.deliver(reply(first_id));
        assert_eq!(second.await.unwrap()[..2], 7u16.to_be_bytes());
        assert_eq!(first.await.unwrap()[..2], 7u16.to_be_bytes());
        // A reply nobody waits for is dropped; the table is empty: the connection is idle.
        shared.deliver(reply(99));
        assert!(shared.idle_deadline(Duration::from_secs(1)).is_some());
    }

    #[tokio::test]
    async fn closing_fails_the_outstanding_queries_and_refuses_new_ones() {
        let shared = Shared::new();
        let (_, waiting) = shared.register(1).unwrap();
        assert!(shared.idle_deadline(Duration::from_secs(1)).is_none());
        shared.close();
        assert!(waiting.await.is_err(), "woken, not left hanging");
        assert!(matches!(shared.register(2), Err(Sent::Closed)));
    }

    #[test]
    fn frames_are_taken_whole_and_in_order() {
        let mut buf = vec![0, 3, 1, 2, 3, 0, 2, 9];
        assert_eq!(take_frame(&mut buf), Some(vec![1, 2, 3]));
        // The second frame is not complete yet.
        assert_eq!(take_frame(&mut buf), None);
        buf.push(8);
        assert_eq!(take_frame(&mut buf), Some(vec![9, 8]));
        assert!(buf.is_empty());
        assert_eq!(take_frame(&mut buf), None);
    }
}
