//! Front-end counters: lock-free atomics bumped on the query path, read as a [`StatsSnapshot`].
//!
//! Each counter is declared once below, with the help text `scoped ctl stats` and `metrics`
//! export (through [`Counters`](scoped_recursor::counters::Counters)). Every counter is monotonic
//! and counted with `Relaxed` ordering: they are statistics, not synchronisation.

use std::sync::atomic::{AtomicU64, Ordering};

use hickory_proto::op::ResponseCode;
use scoped_ecs::{EcsError, NoSubnetReason, SubnetDecision};

/// [`FrontendStats`] (through `scoped_recursor::counters!`) and its [`StatsSnapshot`], from one
/// list of `field: "help"`.
macro_rules! frontend_counters {
    ($($(#[doc = $note:literal])* $name:ident: $help:literal,)*) => {
        scoped_recursor::counters! {
            /// The front end's live counters, shared by every listener and the pipeline.
            pub struct FrontendStats {
                $($(#[doc = $note])* $name: $help,)*
            }
        }

        /// A point-in-time copy of [`FrontendStats`].
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct StatsSnapshot {
            $(#[doc = $help] pub $name: u64,)*
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

frontend_counters! {
    /// Overload drops are counted only in `dropped_overload`.
    queries_udp: "UDP queries that entered the pipeline (overload drops excluded)",
    queries_tcp: "TCP messages that entered the pipeline",
    responses_noerror: "Responses sent with NOERROR",
    responses_formerr: "Responses sent with FORMERR",
    responses_servfail: "Responses sent with SERVFAIL",
    responses_nxdomain: "Responses sent with NXDOMAIN",
    responses_notimp: "Responses sent with NOTIMP",
    responses_refused: "Responses sent with REFUSED",
    responses_badvers: "Responses sent with BADVERS",
    responses_other: "Responses sent with any other rcode",
    dropped_short: "Messages dropped: shorter than a DNS header",
    dropped_response: "Messages dropped: QR set (a response sent to us)",
    dropped_overload: "UDP datagrams dropped: udp-max-inflight queries already being resolved",
    formerr_malformed: "FORMERR: the message did not parse",
    formerr_question_count: "FORMERR: QDCOUNT was not 1",
    /// Meta types: OPT, TSIG, TKEY, unassigned 128–248.
    formerr_meta_qtype: "FORMERR: the question asked for a meta type (OPT, TSIG, TKEY, 128-248)",
    /// The `formerr_<reason>` counters below break it down by [`EcsError::reason`]
    /// ([`FrontendStats::ecs_formerr_reason`]).
    formerr_ecs: "FORMERR: the strict check of the OPT record and its ECS option failed (E07), all reasons",
    formerr_ecs_truncated: "FORMERR (E07): ECS option shorter than its 4 fixed octets",
    formerr_ecs_unknown_family: "FORMERR (E07): ECS FAMILY neither 1 nor 2",
    formerr_ecs_source_too_long: "FORMERR (E07): ECS SOURCE longer than 32 / 128",
    /// Responses only: never fires on queries.
    formerr_ecs_scope_too_long: "FORMERR (E07): ECS SCOPE longer than the address",
    formerr_ecs_nonzero_scope_in_query: "FORMERR (E07): ECS SCOPE not 0 in a query",
    formerr_ecs_bad_length: "FORMERR (E07): ECS option length not 4 + ceil(SOURCE/8)",
    formerr_ecs_host_bits_set: "FORMERR (E07): ECS ADDRESS bits set past SOURCE",
    formerr_ecs_duplicate: "FORMERR (E07): more than one ECS option",
    formerr_opt_option_overrun: "FORMERR: an EDNS option runs past the end of the OPT record",
    /// Counted only where hickory's parse did not already fail.
    formerr_message_truncated: "FORMERR: the raw scan found the message truncated",
    /// Counted only where hickory's parse did not already fail.
    formerr_name_bad_label: "FORMERR: the raw scan met a reserved label type",
    /// A pointer must point strictly backwards, past the header.
    formerr_name_bad_pointer: "FORMERR: the raw scan met a compression pointer not pointing backwards",
    formerr_name_too_long: "FORMERR: the raw scan met a name longer than 255 octets",
    formerr_opt_owner_not_root: "FORMERR: the OPT record's owner is not the root",
    /// Found by the raw scan.
    formerr_opt_duplicate: "FORMERR: more than one OPT record",
    refused_acl: "REFUSED: the client is outside the ACL",
    refused_class: "REFUSED: the question's class was not IN",
    /// Step 9b of the pipeline: NOERROR, NXDOMAIN or REFUSED from a local zone.
    answered_local: "Questions answered from a local zone or local data, never sent upstream",
    badvers: "BADVERS: the client's EDNS version was above 0",
    notimp_opcode: "NOTIMP: the opcode was not QUERY",
    notimp_qtype: "NOTIMP: the question asked for AXFR, IXFR, MAILA or MAILB",
    ecs_tailored: "Queries resolved with a client subnet (E24)",
    /// Also counted in `ecs_tailored`.
    ecs_trusted_front_end: "Queries whose client subnet came from a trusted front end's ECS option (E08)",
    ecs_withheld_disabled: "Queries resolved without a client subnet: ECS off, or length 0 for this client",
    /// The client's address, or the address a trusted front end stated for it.
    ecs_withheld_private_client: "Queries resolved without a client subnet: non-routable client (E05)",
    ecs_withheld_client_opted_out: "Queries resolved without a client subnet: the client's ECS had SOURCE 0 (E09)",
    /// The option's family differs from that of the client's packets.
    ecs_withheld_client_ecs_other_family: "Queries resolved without a client subnet: untrusted client's ECS of the other family (E08)",
    ecs_echoed: "Responses that echoed an ECS option to the client (E23)",
    /// Sent as header and question only.
    truncated: "Responses too large for the client's UDP size, sent with TC=1",
    encode_errors: "Responses that failed to serialise (answered SERVFAIL instead)",
    /// Responses per call is how well they share the calls (one each when queries are few).
    udp_full_send_calls: "sendmmsg calls that sent the full path's UDP responses, queued per round of the scheduler",
    tcp_accepted: "TCP connections accepted",
    tcp_rejected_server_full: "TCP connections closed at once: tcp-max-connections open",
    tcp_rejected_per_client: "TCP connections closed at once: the client had tcp-max-connections-per-client",
    tcp_idle_timeouts: "TCP connections closed after the idle timeout",
    tcp_read_timeouts: "TCP connections closed: a started message did not arrive within the read timeout",
    /// A TCP connection with such a header is closed.
    proxy_dropped_untrusted: "Messages dropped: a PROXY v2 header from a source outside proxy-protocol-from",
    proxy_dropped_malformed: "Messages dropped: a PROXY v2 header that did not parse or named no IP client",
    proxy_dropped_missing: "Messages dropped: no PROXY v2 header from a source in proxy-protocol-from",
    proxy_local: "PROXY v2 headers with the LOCAL command (the balancer's own queries, answered as from the balancer)",
    cookie_formerr: "FORMERR: a malformed COOKIE option (RFC 7873 section 5.2.2)",
    cookie_valid: "Queries with a valid server cookie of ours (exempt from rate limiting)",
    cookie_fresh: "Queries with a client cookie but no valid server cookie (answered with a fresh one)",
    ratelimit_dropped: "UDP queries dropped: the client's network was over per-client-qps",
    ratelimit_truncated: "UDP queries over per-client-qps answered with an empty TC=1 response (the slip)",
    ratelimit_badcookie: "UDP queries over per-client-qps with a client cookie, answered BADCOOKIE with a fresh cookie (the slip)",
    queries_dot: "DNS over TLS messages that entered the pipeline",
    queries_doh: "DNS over HTTPS requests whose message entered the pipeline",
    /// Connection limits are those of TCP: refusals count in `tcp_rejected_*`.
    dot_accepted: "DNS over TLS connections accepted (before the handshake)",
    doh_accepted: "DNS over HTTPS connections accepted (before the handshake)",
    tls_handshake_failures: "DoT and DoH connections closed: the TLS handshake failed or timed out",
    doh_bad_requests: "DoH requests answered 4xx: wrong path, method, media type or DNS message",
    responses_padded: "Responses padded to a 468-octet block (RFC 7830, 8467) on DoT and DoH",
}

impl FrontendStats {
    /// Counts one more of `counter`.
    pub(crate) fn bump(counter: &AtomicU64) {
        scoped_recursor::counters::bump(counter);
    }

    /// Counts a FORMERR for a bad OPT / ECS option: the total and the reason's counter.
    #[cfg(test)]
    pub(crate) fn count_ecs_formerr(&self, error: &EcsError) {
        Self::bump(&self.formerr_ecs);
        Self::bump(self.ecs_formerr_reason(error));
    }

    /// The per-reason counter of a FORMERR for a bad OPT / ECS option, named `formerr_` +
    /// [`EcsError::reason`] (the total is `formerr_ecs`).
    pub(crate) fn ecs_formerr_reason(&self, error: &EcsError) -> &AtomicU64 {
        match error {
            EcsError::Truncated => &self.formerr_ecs_truncated,
            EcsError::UnknownFamily(_) => &self.formerr_ecs_unknown_family,
            EcsError::SourceTooLong { .. } => &self.formerr_ecs_source_too_long,
            EcsError::ScopeTooLong { .. } => &self.formerr_ecs_scope_too_long,
            EcsError::NonZeroScopeInQuery(_) => &self.formerr_ecs_nonzero_scope_in_query,
            EcsError::BadLength { .. } => &self.formerr_ecs_bad_length,
            EcsError::HostBitsSet => &self.formerr_ecs_host_bits_set,
            EcsError::Duplicate => &self.formerr_ecs_duplicate,
            EcsError::OptionOverrun => &self.formerr_opt_option_overrun,
            EcsError::MessageTruncated => &self.formerr_message_truncated,
            EcsError::BadLabel => &self.formerr_name_bad_label,
            EcsError::BadPointer => &self.formerr_name_bad_pointer,
            EcsError::NameTooLong => &self.formerr_name_too_long,
            EcsError::OptOwnerNotRoot => &self.formerr_opt_owner_not_root,
            EcsError::DuplicateOpt => &self.formerr_opt_duplicate,
        }
    }

    /// Counts a client-subnet decision (E24): `ecs_tailored`, or the `ecs_withheld_` +
    /// [`NoSubnetReason::reason`] counter.
    pub(crate) fn count_subnet_decision(&self, decision: &SubnetDecision) {
        Self::bump(match decision {
            SubnetDecision::Tailored(_) => &self.ecs_tailored,
            SubnetDecision::Withheld(NoSubnetReason::Disabled) => &self.ecs_withheld_disabled,
            SubnetDecision::Withheld(NoSubnetReason::PrivateClient) => {
                &self.ecs_withheld_private_client
            }
            SubnetDecision::Withheld(NoSubnetReason::ClientOptedOut) => {
                &self.ecs_withheld_client_opted_out
            }
            SubnetDecision::Withheld(NoSubnetReason::ClientEcsOtherFamily) => {
                &self.ecs_withheld_client_ecs_other_family
            }
        });
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
    use scoped_recursor::counters::Counters;

    use super::*;

    #[test]
    fn the_snapshot_has_the_exported_counters_in_their_order() {
        let exported: Vec<&str> = FrontendStats::COUNTERS.iter().map(|c| c.name).collect();
        let snapshot: Vec<&str> = FrontendStats::default()
            .snapshot()
            .iter()
            .map(|(name, _)| name)
            .collect();
        assert_eq!(exported, snapshot);
    }

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

    /// The one counter besides `formerr_ecs` that `count_ecs_formerr` bumped.
    fn bumped_by(count: impl Fn(&FrontendStats), total: Option<&str>) -> Vec<&'static str> {
        let stats = FrontendStats::default();
        count(&stats);
        stats
            .snapshot()
            .iter()
            .filter(|&(name, value)| value == 1 && Some(name) != total)
            .map(|(name, _)| name)
            .collect()
    }

    #[test]
    fn e07_formerr_counters_are_named_after_the_reason() {
        use scoped_ecs::Family;
        let all = [
            EcsError::Truncated,
            EcsError::UnknownFamily(3),
            EcsError::SourceTooLong {
                family: Family::V4,
                source: 33,
            },
            EcsError::ScopeTooLong {
                family: Family::V4,
                scope: 33,
            },
            EcsError::NonZeroScopeInQuery(1),
            EcsError::BadLength {
                expected: 7,
                got: 8,
            },
            EcsError::HostBitsSet,
            EcsError::Duplicate,
            EcsError::OptionOverrun,
            EcsError::MessageTruncated,
            EcsError::BadLabel,
            EcsError::BadPointer,
            EcsError::NameTooLong,
            EcsError::OptOwnerNotRoot,
            EcsError::DuplicateOpt,
        ];
        for error in all {
            let expected = format!("formerr_{}", error.reason());
            assert_eq!(
                bumped_by(|s| s.count_ecs_formerr(&error), Some("formerr_ecs")),
                [expected.as_str()],
                "{error:?}"
            );
        }
    }

    #[test]
    fn e24_decision_counters_are_named_after_the_reason() {
        let tailored = SubnetDecision::Tailored("192.0.2.0/24".parse().expect("net"));
        assert_eq!(
            bumped_by(|s| s.count_subnet_decision(&tailored), None),
            ["ecs_tailored"]
        );
        for reason in [
            NoSubnetReason::Disabled,
            NoSubnetReason::PrivateClient,
            NoSubnetReason::ClientOptedOut,
            NoSubnetReason::ClientEcsOtherFamily,
        ] {
            let expected = format!("ecs_withheld_{}", reason.reason());
            assert_eq!(
                bumped_by(
                    |s| s.count_subnet_decision(&SubnetDecision::Withheld(reason)),
                    None
                ),
                [expected.as_str()]
            );
        }
    }
}
