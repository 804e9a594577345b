//! The UDP listener: one receive loop per socket; cache hits answered in the loop, every other
//! query in a task of its own, bounded.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::pipeline::{Pipeline, Transport};
use crate::stats::FrontendStats;

/// The largest datagram we read; anything longer would be cut by the kernel and then fail to
/// parse, which is the right outcome (FORMERR).
const MAX_DATAGRAM: usize = u16::MAX as usize;

/// Room for a fast-path response without reallocating (the largest UDP answer we send).
const FAST_RESPONSE_CAPACITY: usize = 4096;

/// Pause after a failed `recv_from`, so a persistent socket error cannot spin a core.
const RECV_ERROR_BACKOFF: Duration = Duration::from_millis(10);

/// Serves `socket` until the task is aborted. At most `max_inflight` queries are resolved at
/// once; datagrams beyond that are dropped and counted, never queued.
pub(crate) async fn serve(socket: Arc<UdpSocket>, pipeline: Arc<Pipeline>, max_inflight: usize) {
    let permits = Arc::new(Semaphore::new(max_inflight.min(Semaphore::MAX_PERMITS)));
    // Aborted with this future, so shutting the listener down also abandons its queries.
    let mut queries = JoinSet::new();
    let mut buffer = vec![0u8; MAX_DATAGRAM];
    let mut response = Vec::with_capacity(FAST_RESPONSE_CAPACITY);
    loop {
        let (len, client) = match socket.recv_from(&mut buffer).await {
            Ok(received) => received,
            Err(error) => {
                tracing::debug!(%error, "UDP receive failed");
                tokio::time::sleep(RECV_ERROR_BACKOFF).await;
                continue;
            }
        };
        // A cache hit is answered here, in the receive loop: no copy, no task.
        let query = buffer.get(..len).unwrap_or_default();
        response.clear();
        if pipeline.answer_fast(query, client, Transport::Udp, &mut response) {
            if let Err(error) = socket.send_to(&response, client).await {
                tracing::debug!(%error, %client, "UDP send failed");
            }
            continue;
        }
        while queries.try_join_next().is_some() {}
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            FrontendStats::bump(&pipeline.stats().dropped_overload);
            continue;
        };
        let datagram = buffer.get(..len).unwrap_or_default().to_vec();
        let socket = Arc::clone(&socket);
        let pipeline = Arc::clone(&pipeline);
        queries.spawn(async move {
            if let Some(response) = pipeline
                .handle_full(&datagram, client, Transport::Udp)
                .await
                && let Err(error) = socket.send_to(&response, client).await
            {
                tracing::debug!(%error, %client, "UDP send failed");
            }
            drop(permit);
        });
    }
}
