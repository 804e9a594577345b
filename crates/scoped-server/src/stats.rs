//! Front-end counters: lock-free atomics bumped on the query path, read as a [`StatsSnapshot`].
//!
//! Every counter is monotonic and counted with `Relaxed` ordering: they are statistics, not
//! synchronisation. [`StatsSnapshot::iter`] gives stable `(name, value)` pairs for `scoped ctl
//! stats`.

use std::sync::atomic::{AtomicU64, Ordering};

use hickory_proto::op::ResponseCode;

macro_rules! counters {
    ($($(#[doc = $doc:expr])* $name:ident,)*) => {
        /// The front end's live counters, shared by every listener and the pipeline.
        #[derive(Debug, Default)]
        pub struct FrontendStats {
            $($(#[doc = $doc])* pub $name: AtomicU64,)*
        }

        /// A point-in-time copy of [`FrontendStats`].
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct StatsSnapshot {
            $($(#[doc = $doc])* pub $name: u64,)*
        }

        impl FrontendStats {
            /// Reads every counter (each individually atomic; the set is not one instant).
            pub fn snapshot(&self) -> StatsSnapshot {
                StatsSnapshot { $($name: self.$name.load(Ordering::Relaxed),)* }
            }
        }

        impl StatsSnapshot {
            /// `(counter name, value)` pairs, in declaration order.
            pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> {
                [$((stringify!($name), self.$name),)*].into_iter()
            }
        }
    };
}

counters! {
    /// UDP datagrams that entered the pipeline (overload drops are counted only in
    /// `dropped_overload`).
    queries_udp,
    /// TCP messages that entered the pipeline.
    queries_tcp,
    /// Responses sent with NOERROR.
    responses_noerror,
    /// Responses sent with FORMERR.
    responses_formerr,
    /// Responses sent with SERVFAIL.
    responses_servfail,
    /// Responses sent with NXDOMAIN.
    responses_nxdomain,
    /// Responses sent with NOTIMP.
    responses_notimp,
    /// Responses sent with REFUSED.
    responses_refused,
    /// Responses sent with BADVERS.
    responses_badvers,
    /// Responses sent with any other rcode.
    responses_other,
    /// Messages dropped because they were shorter than a DNS header.
    dropped_short,
    /// Messages dropped because they had QR set (a response sent to us).
    dropped_response,
    /// UDP datagrams dropped because `udp_max_inflight` queries were already being resolved.
    dropped_overload,
    /// FORMERR: the message did not parse.
    formerr_malformed,
    /// FORMERR: QDCOUNT was not 1.
    formerr_question_count,
    /// FORMERR: the question asked for a meta type (OPT, TSIG, TKEY, unassigned 128–248).
    formerr_meta_qtype,
    /// REFUSED: the client is outside the ACL.
    refused_acl,
    /// REFUSED: the question's class was not IN.
    refused_class,
    /// BADVERS: the client's EDNS version was above 0.
    badvers,
    /// NOTIMP: the opcode was not QUERY.
    notimp_opcode,
    /// NOTIMP: the question asked for AXFR, IXFR, MAILA or MAILB.
    notimp_qtype,
    /// Responses too large for the client's UDP size, sent as header + question with TC=1.
    truncated,
    /// Responses that failed to serialise (answered SERVFAIL instead).
    encode_errors,
    /// TCP connections accepted.
    tcp_accepted,
    /// TCP connections closed at once because `tcp_max_connections` were open.
    tcp_rejected_total,
    /// TCP connections closed at once because the client had `tcp_max_connections_per_client`.
    tcp_rejected_per_client,
    /// TCP connections closed after the idle timeout.
    tcp_idle_timeouts,
    /// TCP connections closed because a started message did not arrive within the read timeout.
    tcp_read_timeouts,
}

impl FrontendStats {
    /// Counts one more of `counter`.
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a response sent with `rcode`.
    pub(crate) fn count_response(&self, rcode: ResponseCode) {
        let counter = match rcode {
            ResponseCode::NoError => &self.responses_noerror,
            ResponseCode::FormErr => &self.responses_formerr,
            ResponseCode::ServFail => &self.responses_servfail,
            ResponseCode::NXDomain => &self.responses_nxdomain,
            ResponseCode::NotImp => &self.responses_notimp,
            ResponseCode::Refused => &self.responses_refused,
            ResponseCode::BADVERS => &self.responses_badvers,
            _ => &self.responses_other,
        };
        Self::bump(counter);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_reads_counters_by_name() {
        let stats = FrontendStats::default();
        stats.count_response(ResponseCode::NXDomain);
        FrontendStats::bump(&stats.truncated);
        let snapshot = stats.snapshot();
        assert_eq!(snapshot.responses_nxdomain, 1);
        assert_eq!(snapshot.truncated, 1);
        assert_eq!(
            snapshot.iter().find(|(name, _)| *name == "truncated"),
            Some(("truncated", 1))
        );
        assert_eq!(snapshot.iter().map(|(_, value)| value).sum::<u64>(), 2);
    }
}
