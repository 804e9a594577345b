//! The labelled metric families of `/metrics`: response latency by source (a histogram),
//! responses by rcode (the front end's `responses_*` counters, under one name with an `rcode`
//! label), queries by type, SERVFAILs by reason (the EDE INFO-CODE sent, or `none`).

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::registry::Unit;
use scoped_server::LatencySnapshot;

use super::snapshot::Snapshot;

/// Prefix of the front end's per-rcode counters.
const RESPONSES: &str = "responses_";

/// Writes every labelled family of `snapshot`.
pub(super) fn encode(
    snapshot: &Snapshot,
    encoder: &mut DescriptorEncoder,
) -> Result<(), std::fmt::Error> {
    let mut latency = encoder.encode_descriptor(
        "response_latency",
        "Time from reading a query to its response, by where the answer came from: cache (the \
         fast path or the engine's caches) or recursion (upstream servers asked)",
        Some(&Unit::Seconds),
        MetricType::Histogram,
    )?;
    for (source, histogram) in [
        ("cache", &snapshot.metrics.latency_cache),
        ("recursion", &snapshot.metrics.latency_recursion),
    ] {
        let (sum, count, buckets) = histogram_parts(histogram);
        latency
            .encode_family(&[("source", source)])?
            .encode_histogram::<NoLabelSet>(sum, count, &buckets, None)?;
    }
    counter_family(
        encoder,
        "responses_by_rcode",
        "Responses sent, by rcode (the frontend_responses_* counters)",
        "rcode",
        snapshot.frontend.iter().filter_map(|counter| {
            let rcode = counter.name.strip_prefix(RESPONSES)?;
            Some((rcode.to_ascii_uppercase(), counter.value))
        }),
    )?;
    counter_family(
        encoder,
        "queries_by_type",
        "Class-IN queries that passed the checks, by type (common types, the rest as other)",
        "qtype",
        snapshot
            .metrics
            .queries_by_type
            .iter()
            .map(|(qtype, n)| ((*qtype).to_owned(), *n)),
    )?;
    counter_family(
        encoder,
        "servfail_by_reason",
        "SERVFAILs from resolution, by the Extended DNS Error INFO-CODE given (none: no reason)",
        "ede",
        snapshot.metrics.servfail_by_reason.iter().cloned(),
    )
}

fn counter_family(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    label: &str,
    values: impl Iterator<Item = (String, u64)>,
) -> Result<(), std::fmt::Error> {
    let mut family =
        encoder.encode_descriptor(name, help, None, ConstCounter::new(0u64).metric_type())?;
    for (value, count) in values {
        ConstCounter::new(count).encode(family.encode_family(&[(label, value.as_str())])?)?;
    }
    Ok(())
}

/// Sum (seconds), count and per-bucket counts (not cumulative, `+Inf` last), as the encoder
/// wants them.
fn histogram_parts(histogram: &LatencySnapshot) -> (f64, u64, Vec<(f64, u64)>) {
    let mut buckets = Vec::with_capacity(histogram.buckets.len() + 1);
    let mut below = 0;
    for &(bound_us, cumulative) in &histogram.buckets {
        buckets.push((bound_us as f64 / 1e6, cumulative - below));
        below = cumulative;
    }
    buckets.push((f64::INFINITY, histogram.count - below));
    (histogram.sum_us as f64 / 1e6, histogram.count, buckets)
}
