//! DNS over TLS (RFC 7858): the TCP framing and connection handling of `tcp.rs` on a TLS
//! stream, with ALPN `dot`. Queries are pipelined and answered in the order they complete.

use std::sync::Arc;

use crate::encrypted::{Accepting, accept_loop};
use crate::pipeline::{Pipeline, Transport};
use crate::tcp::{TcpLimits, serve_halves};

/// Serves DNS over TLS on `accepting` until the task is aborted.
pub(crate) async fn serve(accepting: Accepting, pipeline: Arc<Pipeline>, limits: TcpLimits) {
    accept_loop(
        accepting,
        |stats| &stats.dot_accepted,
        move |tls, client| {
            let pipeline = Arc::clone(&pipeline);
            async move {
                let (reader, writer) = tokio::io::split(tls);
                serve_halves(reader, writer, client, pipeline, limits, Transport::Tls).await;
            }
        },
    )
    .await;
}
