//! The retries with one server as a sans-IO state machine.
//!
//! An [`ExchangePlan`] says what to send ([`Try`]); the async driver (`exchange.rs`) sends it,
//! waits, and tells the plan what came back ([`TryResult`]); the plan answers with the next
//! [`Next`] — another try, done, or failed — and what the exchange taught about the server
//! ([`Learned`]), which the driver records in the infrastructure cache. The plan touches no
//! socket, clock or cache, so every transition is a plain unit test.
//!
//! The transitions, each at most once per exchange and all within [`MAX_TRIES`] sends:
//!
//! | after | when | next |
//! |---|---|---|
//! | any reply | it is truncated, over UDP | the same over TCP (ECS kept, E06) |
//! | any reply | ECS was sent and the rcode is REFUSED or FORMERR | again without ECS (E13) |
//! | any reply | EDNS was sent, none came back, FORMERR or NOTIMP | again without EDNS (RFC 6891 §7) |
//! | a reply without the ECS echo | the server is believed to echo | again, once, taking an echo-less reply (E12) |
//! | only echo-less datagrams | (the transport skipped them, E12) | again, once, taking an echo-less reply |
//! | a reply whose ECS does not match | | fail (E11) |
//! | no reply | | fail: the caller tries the next server |

use hickory_proto::op::ResponseCode;
use scoped_ecs::{Ecs, ReplyEcs};

use crate::infra::EcsCapability;
use crate::transport::Protocol;

/// The most queries one exchange sends: UDP, then at most one each of TCP, without ECS, the
/// E12 re-ask and without EDNS.
pub(super) const MAX_TRIES: u8 = 5;

/// What became of ECS in one exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum EcsExchange {
    /// No ECS option was sent.
    NotSent,
    /// This option was sent; the reply echoed this SCOPE (`None`: no ECS in the reply, E12).
    Sent(Ecs, Option<u8>),
    /// The server rejected the ECS query and answered the plain retry (E13): its answer does
    /// not depend on the client subnet.
    Rejected,
}

/// Why a try is sent: the first, or which retry (each has its counter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TryReason {
    /// The first query.
    First,
    /// The UDP reply was truncated.
    Truncated,
    /// The server rejected the query carrying ECS (E13).
    EcsRejected,
    /// The reply lacked the ECS echo of a server that echoes (E12).
    EchoMissing,
    /// The server does not speak EDNS.
    EdnsUnsupported,
}

/// One query to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Try {
    /// UDP or TCP.
    pub(super) protocol: Protocol,
    /// Whether the query carries an OPT record.
    pub(super) edns: bool,
    /// The ECS option it carries, if any.
    pub(super) ecs: Option<Ecs>,
    /// Whether a UDP datagram without the ECS echo is skipped like a forged one (E12,
    /// CVE-2025-30192).
    pub(super) require_echo: bool,
    /// Why it is sent.
    pub(super) reason: TryReason,
}

/// What a try produced, as far as the plan cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TryResult {
    /// No matching reply: a timeout or a socket error.
    NoReply,
    /// Within the timeout only replies without the required ECS echo arrived (E12).
    OnlyEcholess,
    /// A reply that parsed and is within the limits.
    Reply(ReplyFacts),
}

/// The facts of a reply the plan decides on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ReplyFacts {
    /// TC was set.
    pub(super) truncated: bool,
    /// The reply's RCODE.
    pub(super) rcode: ResponseCode,
    /// The reply has an OPT record.
    pub(super) has_opt: bool,
    /// The reply's ECS against the option sent (`None` when no ECS was sent or the OPT could
    /// not be read, which for an ECS query fails the exchange).
    pub(super) ecs: Option<ReplyEcs>,
}

/// Why an exchange ended without a usable reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Failure {
    /// No matching reply to the last try.
    NoReply,
    /// The reply's ECS option did not match the query's, or could not be read (E11).
    EcsMismatch,
    /// Every retry was used up.
    OutOfTries,
}

/// What the plan says after a try.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Next {
    /// Send this.
    Send(Try),
    /// The reply of the last try is the answer; this is what became of ECS.
    Done(EcsExchange),
    /// Give up on this server.
    Fail(Failure),
}

/// What one try taught about the server, for the infrastructure cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Learned {
    /// EDNS works (`Some(true)`) or the server predates it (`Some(false)`).
    pub(super) edns: Option<bool>,
    /// What the server does with ECS.
    pub(super) ecs: Option<EcsCapability>,
    /// A believed echo is in doubt: forget it (E12).
    pub(super) forget_echo: bool,
}

/// The retries with one server for one question.
#[derive(Clone, Debug)]
pub(super) struct ExchangePlan {
    protocol: Protocol,
    edns: bool,
    ecs: Option<Ecs>,
    /// The server rejected ECS, now or recently (E13).
    rejected: bool,
    /// The E12 re-ask was used.
    reasked: bool,
    /// What the server is believed to do with ECS.
    capability: EcsCapability,
    tries: u8,
}

impl ExchangePlan {
    /// A plan for sending `ecs` (if any) to a server with this history: EDNS known broken, and
    /// what it is believed to do with ECS. A server that rejected ECS recently is not sent it
    /// (E13 memory), nor is one without EDNS.
    pub(super) fn new(ecs: Option<Ecs>, edns_broken: bool, capability: EcsCapability) -> Self {
        let rejected = ecs.is_some() && capability == EcsCapability::Rejects;
        Self {
            protocol: Protocol::Udp,
            edns: !edns_broken,
            ecs: ecs.filter(|_| !rejected && !edns_broken),
            rejected,
            reasked: false,
            capability,
            tries: 0,
        }
    }

    /// The first try.
    pub(super) fn start(&mut self) -> Try {
        self.send(TryReason::First)
    }

    fn send(&mut self, reason: TryReason) -> Try {
        self.tries += 1;
        let require_echo = self.ecs.is_some()
            && !self.reasked
            && matches!(
                self.capability,
                EcsCapability::Echoes | EcsCapability::Unknown
            );
        Try {
            protocol: self.protocol,
            edns: self.edns,
            ecs: self.ecs,
            require_echo,
            reason,
        }
    }

    fn retry(&mut self, reason: TryReason) -> Next {
        if self.tries >= MAX_TRIES {
            return Next::Fail(Failure::OutOfTries);
        }
        Next::Send(self.send(reason))
    }

    /// What to do after the last try produced `result`, and what it taught.
    pub(super) fn next(&mut self, result: TryResult) -> (Next, Learned) {
        let mut learned = Learned::default();
        let reply = match result {
            TryResult::OnlyEcholess if !self.reasked => {
                // Maybe the server does not (or no longer) echo: ask once more, taking an
                // echo-less reply this time. A forger must first suppress the real reply.
                learned.forget_echo = true;
                self.capability = EcsCapability::Unknown;
                self.reasked = true;
                return (self.retry(TryReason::EchoMissing), learned);
            }
            TryResult::NoReply | TryResult::OnlyEcholess => {
                return (Next::Fail(Failure::NoReply), learned);
            }
            TryResult::Reply(reply) => reply,
        };
        if self.edns && reply.has_opt {
            learned.edns = Some(true);
        }
        if reply.truncated && self.protocol == Protocol::Udp {
            self.protocol = Protocol::Tcp;
            return (self.retry(TryReason::Truncated), learned);
        }
        if self.ecs.is_some()
            && matches!(reply.rcode, ResponseCode::Refused | ResponseCode::FormErr)
        {
            learned.ecs = Some(EcsCapability::Rejects);
            self.ecs = None;
            self.rejected = true;
            return (self.retry(TryReason::EcsRejected), learned);
        }
        if self.edns
            && !reply.has_opt
            && matches!(reply.rcode, ResponseCode::FormErr | ResponseCode::NotImp)
        {
            learned.edns = Some(false);
            self.edns = false;
            self.ecs = None;
            return (self.retry(TryReason::EdnsUnsupported), learned);
        }
        let Some(sent) = self.ecs else {
            let outcome = if self.rejected {
                EcsExchange::Rejected
            } else {
                EcsExchange::NotSent
            };
            return (Next::Done(outcome), learned);
        };
        match reply.ecs {
            Some(ReplyEcs::Matches { scope }) => {
                learned.ecs = Some(EcsCapability::Echoes);
                (Next::Done(EcsExchange::Sent(sent, Some(scope))), learned)
            }
            Some(ReplyEcs::Absent) if self.capability == EcsCapability::Echoes && !self.reasked => {
                // E12: this server always echoed; an echo-less reply may be forged.
                self.reasked = true;
                (self.retry(TryReason::EchoMissing), learned)
            }
            Some(ReplyEcs::Absent) => {
                learned.ecs = Some(EcsCapability::NoEcho);
                (Next::Done(EcsExchange::Sent(sent, None)), learned)
            }
            Some(ReplyEcs::Mismatch(_)) | None => (Next::Fail(Failure::EcsMismatch), learned),
        }
    }
}

#[cfg(test)]
mod tests {
    use scoped_ecs::MismatchReason;

    use super::*;

    fn ecs() -> Ecs {
        Ecs::for_query("192.0.2.0/24".parse().unwrap())
    }

    fn reply(rcode: ResponseCode) -> ReplyFacts {
        ReplyFacts {
            truncated: false,
            rcode,
            has_opt: true,
            ecs: None,
        }
    }

    fn echoed(scope: u8) -> TryResult {
        TryResult::Reply(ReplyFacts {
            ecs: Some(ReplyEcs::Matches { scope }),
            ..reply(ResponseCode::NoError)
        })
    }

    fn sent(next: Next) -> Try {
        match next {
            Next::Send(sent) => sent,
            other => panic!("expected a try, got {other:?}"),
        }
    }

    #[test]
    fn first_try_is_udp_with_edns_and_the_option() {
        let mut plan = ExchangePlan::new(Some(ecs()), false, EcsCapability::Unknown);
        let first = plan.start();
        assert_eq!(first.protocol, Protocol::Udp);
        assert!(first.edns);
        assert_eq!(first.ecs, Some(ecs()));
        assert!(first.require_echo, "an unknown server is expected to echo");
        assert_eq!(first.reason, TryReason::First);
    }

    #[test]
    fn a_plain_answer_is_done_not_sent() {
        let mut plan = ExchangePlan::new(None, false, EcsCapability::Unknown);
        let first = plan.start();
        assert!(!first.require_echo);
        let (next, learned) = plan.next(TryResult::Reply(reply(ResponseCode::NoError)));
        assert_eq!(next, Next::Done(EcsExchange::NotSent));
        assert_eq!(learned.edns, Some(true));
    }

    #[test]
    fn no_reply_fails_over_to_the_next_server() {
        let mut plan = ExchangePlan::new(Some(ecs()), false, EcsCapability::Unknown);
        plan.start();
        assert_eq!(
            plan.next(TryResult::NoReply).0,
            Next::Fail(Failure::NoReply)
        );
    }

    #[test]
    fn e06_truncated_udp_goes_to_tcp_keeping_ecs() {
        let mut plan = ExchangePlan::new(Some(ecs()), false, EcsCapability::Unknown);
        plan.start();
        let truncated = ReplyFacts {
            truncated: true,
            ..reply(ResponseCode::NoError)
        };
        let tcp = sent(plan.next(TryResult::Reply(truncated)).0);
        assert_eq!(tcp.protocol, Protocol::Tcp);
        assert_eq!(tcp.ecs, Some(ecs()));
        assert_eq!(tcp.reason, TryReason::Truncated);
        // A truncated TCP reply is taken as it is (there is nothing bigger to go to).
        let (next, _) = plan.next(TryResult::Reply(ReplyFacts {
            truncated: true,
            ecs: Some(ReplyEcs::Matches { scope: 24 }),
            ..reply(ResponseCode::NoError)
        }));
        assert_eq!(next, Next::Done(EcsExchange::Sent(ecs(), Some(24))));
    }

    #[test]
    fn e11_a_mismatching_echo_fails_the_server() {
        let mut plan = ExchangePlan::new(Some(ecs()), false, EcsCapability::Unknown);
        plan.start();
        let mismatch = TryResult::Reply(ReplyFacts {
            ecs: Some(ReplyEcs::Mismatch(MismatchReason::Address)),
            ..reply(ResponseCode::NoError)
        });
        assert_eq!(plan.next(mismatch).0, Next::Fail(Failure::EcsMismatch));
    }

    #[test]
    fn e11_an_unreadable_opt_on_an_ecs_query_fails_the_server() {
        let mut plan = ExchangePlan::new(Some(ecs()), false, EcsCapability::Unknown);
        plan.start();
        let unreadable = TryResult::Reply(reply(ResponseCode::NoError));
        assert_eq!(plan.next(unreadable).0, Next::Fail(Failure::EcsMismatch));
    }

    #[test]
    fn e12_an_echo_is_learned() {
        let mut plan = ExchangePlan::new(Some(ecs()), false, EcsCapability::Unknown);
        plan.start();
        let (next, learned) = plan.next(echoed(20));
        assert_eq!(next, Next::Done(EcsExchange::Sent(ecs(), Some(20))));
        assert_eq!(learned.ecs, Some(EcsCapability::Echoes));
    }

    #[test]
    fn e12_no_echo_from_an_unknown_server_is_scope_zero_and_learned() {
        let mut plan = ExchangePlan::new(Some(ecs()), false, EcsCapability::Unknown);
        plan.start();
        let absent = TryResult::Reply(ReplyFacts {
            ecs: Some(ReplyEcs::Absent),
            ..reply(ResponseCode::NoError)
        });
        let (next, learned) = plan.next(absent);
        assert_eq!(next, Next::Done(EcsExchange::Sent(ecs(), None)));
        assert_eq!(learned.ecs, Some(EcsCapability::NoEcho));
    }

    #[test]
    fn e12_no_echo_from_a_server_that_echoes_is_asked_again_once() {
        let mut plan = ExchangePlan::new(Some(ecs()), false, EcsCapability::Echoes);
        plan.start();
        let absent = TryResult::Reply(ReplyFacts {
            ecs: Some(ReplyEcs::Absent),
            ..reply(ResponseCode::NoError)
        });
        let again = sent(plan.next(absent).0);
        assert_eq!(again.reason, TryReason::EchoMissing);
        assert_eq!(again.ecs, Some(ecs()));
        assert!(!again.require_echo, "the re-ask takes an echo-less reply");
        let (next, learned) = plan.next(absent);
        assert_eq!(next, Next::Done(EcsExchange::Sent(ecs(), None)));
        assert_eq!(learned.ecs, Some(EcsCapability::NoEcho));
    }

    #[test]
    fn e12_only_echoless_datagrams_forget_the_echo_and_ask_once_more() {
        let mut plan = ExchangePlan::new(Some(ecs()), false, EcsCapability::Echoes);
        assert!(plan.start().require_echo);
        let (next, learned) = plan.next(TryResult::OnlyEcholess);
        let again = sent(next);
        assert!(learned.forget_echo);
        assert_eq!(again.reason, TryReason::EchoMissing);
        assert!(!again.require_echo);
        // The second time, nothing more: the server failed.
        assert_eq!(
            plan.next(TryResult::OnlyEcholess).0,
            Next::Fail(Failure::NoReply)
        );
    }

    #[test]
    fn e13_refused_to_an_ecs_query_is_retried_without_ecs() {
        for rcode in [ResponseCode::Refused, ResponseCode::FormErr] {
            let mut plan = ExchangePlan::new(Some(ecs()), false, EcsCapability::Unknown);
            plan.start();
            let (next, learned) = plan.next(TryResult::Reply(reply(rcode)));
            let plain = sent(next);
            assert_eq!(plain.ecs, None);
            assert!(plain.edns, "EDNS stays");
            assert_eq!(plain.reason, TryReason::EcsRejected);
            assert_eq!(learned.ecs, Some(EcsCapability::Rejects));
            let (done, _) = plan.next(TryResult::Reply(reply(ResponseCode::NoError)));
            assert_eq!(done, Next::Done(EcsExchange::Rejected));
        }
    }

    #[test]
    fn e13_a_server_that_rejected_recently_is_not_sent_ecs() {
        let mut plan = ExchangePlan::new(Some(ecs()), false, EcsCapability::Rejects);
        let first = plan.start();
        assert_eq!(first.ecs, None);
        assert!(!first.require_echo);
        let (done, _) = plan.next(TryResult::Reply(reply(ResponseCode::NoError)));
        assert_eq!(
            done,
            Next::Done(EcsExchange::Rejected),
            "cached for everyone"
        );
    }

    #[test]
    fn refused_without_ecs_is_the_answer() {
        let mut plan = ExchangePlan::new(None, false, EcsCapability::Unknown);
        plan.start();
        let (next, _) = plan.next(TryResult::Reply(reply(ResponseCode::Refused)));
        assert_eq!(
            next,
            Next::Done(EcsExchange::NotSent),
            "classify judges it lame"
        );
    }

    #[test]
    fn a_server_without_edns_is_asked_plainly_and_remembered() {
        let mut plan = ExchangePlan::new(None, false, EcsCapability::Unknown);
        plan.start();
        let no_opt = ReplyFacts {
            has_opt: false,
            ..reply(ResponseCode::FormErr)
        };
        let (next, learned) = plan.next(TryResult::Reply(no_opt));
        let plain = sent(next);
        assert!(!plain.edns);
        assert_eq!(plain.reason, TryReason::EdnsUnsupported);
        assert_eq!(learned.edns, Some(false));
    }

    #[test]
    fn a_server_known_without_edns_gets_neither_edns_nor_ecs() {
        let mut plan = ExchangePlan::new(Some(ecs()), true, EcsCapability::Unknown);
        let first = plan.start();
        assert!(!first.edns);
        assert_eq!(first.ecs, None);
        let (done, learned) = plan.next(TryResult::Reply(ReplyFacts {
            has_opt: false,
            ..reply(ResponseCode::NoError)
        }));
        assert_eq!(done, Next::Done(EcsExchange::NotSent));
        assert_eq!(learned.edns, None, "nothing new learned");
    }

    #[test]
    fn retries_are_bounded() {
        // Truncated, then rejected, then EDNS-less: four tries; one more re-ask would be the
        // fifth, and nothing goes past MAX_TRIES.
        let mut plan = ExchangePlan::new(Some(ecs()), false, EcsCapability::Echoes);
        plan.start();
        let tc = ReplyFacts {
            truncated: true,
            ..reply(ResponseCode::NoError)
        };
        sent(plan.next(TryResult::Reply(tc)).0);
        sent(plan.next(TryResult::Reply(reply(ResponseCode::Refused))).0);
        let no_edns = ReplyFacts {
            has_opt: false,
            ..reply(ResponseCode::NotImp)
        };
        sent(plan.next(TryResult::Reply(no_edns)).0);
        assert_eq!(plan.tries, 4);
        plan.tries = MAX_TRIES;
        let (next, _) = plan.next(TryResult::Reply(tc));
        assert_eq!(
            next,
            Next::Done(EcsExchange::Rejected),
            "TCP already: taken"
        );
        let mut plan = ExchangePlan::new(None, false, EcsCapability::Unknown);
        plan.start();
        plan.tries = MAX_TRIES;
        assert_eq!(
            plan.next(TryResult::Reply(tc)).0,
            Next::Fail(Failure::OutOfTries)
        );
    }
}
