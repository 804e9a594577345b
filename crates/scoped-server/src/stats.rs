//! Front-end counters: lock-free atomics bumped on the query path, read as a [`StatsSnapshot`].
//!
//! Every counter is monotonic and counted with `Relaxed` ordering: they are statistics, not
//! synchronisation. [`StatsSnapshot::iter`] gives stable `(name, value)` pairs for `scoped ctl
//! stats`.

use std::sync::atomic::{AtomicU64, Ordering};

use hickory_proto::op::ResponseCode;
use scoped_ecs::{EcsError, NoSubnetReason, SubnetDecision};

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
    /// FORMERR: the strict raw check of the OPT record and its ECS option failed (E07). The
    /// `formerr_<reason>` counters below break it down by [`EcsError::reason`].
    formerr_ecs,
    /// FORMERR (E07): an ECS option shorter than its 4 fixed octets.
    formerr_ecs_truncated,
    /// FORMERR (E07): ECS FAMILY neither 1 nor 2.
    formerr_ecs_unknown_family,
    /// FORMERR (E07): ECS SOURCE longer than 32 / 128.
    formerr_ecs_source_too_long,
    /// FORMERR (E07): ECS SCOPE longer than the address (responses only; never fires on queries).
    formerr_ecs_scope_too_long,
    /// FORMERR (E07): ECS SCOPE not 0 in a query.
    formerr_ecs_nonzero_scope_in_query,
    /// FORMERR (E07): ECS option length not 4 + ceil(SOURCE/8).
    formerr_ecs_bad_length,
    /// FORMERR (E07): ECS ADDRESS bits set past SOURCE.
    formerr_ecs_host_bits_set,
    /// FORMERR (E07): more than one ECS option.
    formerr_ecs_duplicate,
    /// FORMERR: an EDNS option runs past the end of the OPT record.
    formerr_opt_option_overrun,
    /// FORMERR: the raw scan found the message truncated where hickory did not.
    formerr_message_truncated,
    /// FORMERR: the raw scan met a reserved label type where hickory did not.
    formerr_name_bad_label,
    /// FORMERR: the raw scan met a compression pointer not pointing backwards past the header.
    formerr_name_bad_pointer,
    /// FORMERR: the raw scan met a name longer than 255 octets.
    formerr_name_too_long,
    /// FORMERR: the OPT record's owner is not the root.
    formerr_opt_owner_not_root,
    /// FORMERR: more than one OPT record, found by the raw scan.
    formerr_opt_duplicate,
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
    /// Queries resolved with a client subnet (E24).
    ecs_tailored,
    /// ... of which the subnet came from a trusted front end's ECS option (E08).
    ecs_trusted_front_end,
    /// Queries resolved without a client subnet: ECS off, or a length of 0 for this client.
    ecs_withheld_disabled,
    /// Queries resolved without a client subnet: the client (or the address a trusted front end
    /// stated) is non-routable (E05).
    ecs_withheld_private_client,
    /// Queries resolved without a client subnet: the client's ECS had SOURCE 0 (E09).
    ecs_withheld_client_opted_out,
    /// Queries resolved without a client subnet: an untrusted client's ECS was of the other
    /// family than its packets (E08).
    ecs_withheld_client_ecs_other_family,
    /// Responses that carried an ECS option echoed to the client (E23).
    ecs_echoed,
    /// Responses too large for the client's UDP size, sent as header + question with TC=1.
    truncated,
    /// Responses that failed to serialise (answered SERVFAIL instead).
    encode_errors,
    /// TCP connections accepted.
    tcp_accepted,
    /// TCP connections closed at once because `tcp_max_connections` were open.
    tcp_rejected_server_full,
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
