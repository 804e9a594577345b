//! The "limit" responders: what this machine's loopback UDP path can carry when the server does
//! no DNS work at all. Each answers every datagram with the datagram itself turned into a
//! response (QR and RA set, RCODE 0) plus one fixed A record pointing at the question name. They
//! parse nothing, so they serve only queries without EDNS (an answer appended after an OPT
//! record would be malformed) — dnsperf's default.
//!
//! - [`Mode::Batched`]: `recvmmsg` up to [`BATCH`] datagrams (blocking for the first), answer
//!   them, one `sendmmsg` — the best socket path Linux offers a single thread.
//! - [`Mode::Plain`]: one `recv_from` and one `send_to` per query.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nix::sys::socket::{
    ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg, sendmmsg,
};

/// Datagrams per `recvmmsg`/`sendmmsg`.
pub const BATCH: usize = 64;

/// The record appended: owner = pointer to the question name, A, IN, TTL 3600, 192.0.2.1.
const ANSWER: [u8; 16] = [0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 192, 0, 2, 1];

/// How the responder moves datagrams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `recvmmsg`/`sendmmsg` batches.
    Batched,
    /// One system call per datagram each way.
    Plain,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "batched" => Ok(Self::Batched),
            "plain" => Ok(Self::Plain),
            other => Err(format!("unknown responder mode {other:?} (batched, plain)")),
        }
    }
}

/// Turn `query` (in `out`'s place) into the fixed response. Returns false for a datagram too
/// short to be a DNS header, which gets no answer.
pub fn respond(query: &[u8], out: &mut Vec<u8>) -> bool {
    if query.len() < 12 {
        return false;
    }
    out.clear();
    out.extend_from_slice(query);
    out[2] = (out[2] | 0x80) & !0x02;
    out[3] = 0x80;
    out[6..8].copy_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&ANSWER);
    true
}

/// Bind a responder socket at `addr`.
///
/// # Errors
///
/// When the address cannot be bound.
pub fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    let _ = socket.set_recv_buffer_size(4 << 20);
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// Answer on `socket` until `stop` is set (checked at least every 100 ms).
///
/// # Errors
///
/// When the socket fails in a way other than a timeout or a refused send.
pub fn serve(socket: &UdpSocket, mode: Mode, stop: &Arc<AtomicBool>) -> io::Result<()> {
    socket.set_read_timeout(Some(Duration::from_millis(100)))?;
    match mode {
        Mode::Plain => serve_plain(socket, stop),
        Mode::Batched => serve_batched(socket, stop),
    }
}

fn transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock
            | io::ErrorKind::TimedOut
            | io::ErrorKind::Interrupted
            | io::ErrorKind::ConnectionRefused
    )
}

fn serve_plain(socket: &UdpSocket, stop: &AtomicBool) -> io::Result<()> {
    let mut buffer = vec![0u8; 4096];
    let mut response = Vec::with_capacity(512);
    while !stop.load(Ordering::Relaxed) {
        let (len, client) = match socket.recv_from(&mut buffer) {
            Ok(r) => r,
            Err(e) if transient(&e) => continue,
            Err(e) => return Err(e),
        };
        if respond(&buffer[..len], &mut response)
            && let Err(e) = socket.send_to(&response, client)
            && !transient(&e)
        {
            return Err(e);
        }
    }
    Ok(())
}

fn serve_batched(socket: &UdpSocket, stop: &AtomicBool) -> io::Result<()> {
    let fd = socket.as_raw_fd();
    let mut buffers: Vec<Vec<u8>> = (0..BATCH).map(|_| vec![0u8; 2048]).collect();
    let mut responses: Vec<Vec<u8>> = (0..BATCH).map(|_| Vec::with_capacity(512)).collect();
    let mut received: Vec<(usize, Option<SockaddrStorage>)> = Vec::with_capacity(BATCH);
    let mut recv_headers = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
    let mut send_headers = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
    while !stop.load(Ordering::Relaxed) {
        received.clear();
        {
            let mut slices: Vec<[IoSliceMut<'_>; 1]> =
                buffers.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
            match recvmmsg(
                fd,
                &mut recv_headers,
                slices.iter_mut(),
                MsgFlags::MSG_WAITFORONE,
                None,
            ) {
                Ok(messages) => received.extend(messages.map(|m| (m.bytes, m.address))),
                Err(e) => {
                    let e = io::Error::from(e);
                    if transient(&e) {
                        continue;
                    }
                    return Err(e);
                }
            }
        }
        let mut addresses: Vec<Option<SockaddrStorage>> = Vec::with_capacity(received.len());
        let mut count = 0;
        for (i, &(len, address)) in received.iter().enumerate() {
            if address.is_some() && respond(&buffers[i][..len], &mut responses[count]) {
                addresses.push(address);
                count += 1;
            }
        }
        let mut sent = 0;
        while sent < count {
            let slices: Vec<[IoSlice<'_>; 1]> = responses[sent..count]
                .iter()
                .map(|r| [IoSlice::new(r)])
                .collect();
            match sendmmsg(
                fd,
                &mut send_headers,
                slices.iter(),
                &addresses[sent..count],
                [] as [ControlMessage<'_>; 0],
                MsgFlags::empty(),
            ) {
                Ok(results) => {
                    let n = results.count();
                    if n == 0 {
                        break;
                    }
                    sent += n;
                }
                Err(e) => {
                    let e = io::Error::from(e);
                    if transient(&e) {
                        // Drop the rest of the batch, like a full socket buffer would.
                        break;
                    }
                    return Err(e);
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{Load, Pace};
    use crate::wire;

    #[test]
    fn the_response_is_the_query_with_one_fixed_answer() {
        let query = wire::query("x.test", wire::TYPE_A, false, None);
        let mut out = Vec::new();
        assert!(respond(&query, &mut out));
        assert_eq!(out[2] & 0x80, 0x80, "QR");
        assert_eq!(wire::rcode(&out), Some(0));
        assert_eq!(wire::answer_count(&out), Some(1));
        assert_eq!(&out[12..query.len()], &query[12..], "the question is kept");
        assert_eq!(&out[query.len()..], &ANSWER);
        assert!(!respond(&[0u8; 11], &mut out), "no header, no answer");
    }

    fn answers_a_bounded_load(mode: Mode) {
        let socket = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let target = socket.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let server = {
            let stop = stop.clone();
            std::thread::spawn(move || serve(&socket, mode, &stop))
        };
        let load = Load {
            target,
            queries: vec![
                wire::query("a.test", wire::TYPE_A, false, None),
                wire::query("b.test", wire::TYPE_A, false, None),
            ],
            pace: Pace::Closed { window: 32 },
            duration: Duration::from_secs(5),
            max_queries: 2_000,
            timeout: Duration::from_secs(1),
        };
        let outcome = load.run().unwrap();
        stop.store(true, Ordering::Relaxed);
        server.join().unwrap().unwrap();
        assert_eq!(outcome.sent, 2_000);
        assert_eq!(outcome.answered + outcome.lost, 2_000);
        assert!(outcome.answered >= 1_900, "{outcome:?}");
        assert_eq!(outcome.answered_with_data, outcome.answered);
        assert_eq!(outcome.latencies_us.len() as u64, outcome.answered);
        assert!(outcome.quantile_us(0.99) >= outcome.quantile_us(0.5));
    }

    #[test]
    fn the_batched_responder_answers_every_query_of_a_bounded_load() {
        answers_a_bounded_load(Mode::Batched);
    }

    #[test]
    fn the_plain_responder_answers_every_query_of_a_bounded_load() {
        answers_a_bounded_load(Mode::Plain);
    }
}
