//! The state a plain miss carries: the branches it does not take (DNS64, validation,
//! forwarding, priming) are boxed where they are taken, so the common path's futures do not
//! hold their state. An async function's state is as large as its largest branch; each miss
//! allocates, copies and touches it (docs/benchmarks.md: 8.9 KiB of futures per miss before,
//! 5.8 after). These tests compare the sizes of the futures' types, never run them.

use std::future::Future;

use hickory_proto::rr::{Name, RecordType};
use scoped_ecs::CacheScope;

use super::Recursor;
use super::ctx::Ctx;
use super::forward::ForwardZone;
use super::validate::Evidence;
use crate::ResolveRequest;
use crate::classify::Step;

/// The size of the future `call` would return (it is never called).
fn state_size<'a, A, R: Future>(_call: impl FnOnce(&'a Recursor, A) -> R) -> usize {
    std::mem::size_of::<R>()
}

#[test]
fn a_request_does_not_carry_the_dns64_state() {
    let request = state_size(|r, request: ResolveRequest| r.resolve_request(request));
    let dns64 = state_size(|r, request: ResolveRequest| r.with_dns64(request, None));
    assert!(request < dns64, "request {request} bytes, DNS64 {dns64}");
}

#[test]
fn checking_a_step_does_not_carry_the_validation_state() {
    type Args<'a> = (&'a Step, &'a Evidence, CacheScope, &'a Ctx);
    let check = state_size(|r, (step, evidence, scope, ctx): Args<'_>| {
        r.check_step(step, evidence, RecordType::A, scope, ctx)
    });
    let validate = state_size(|r, (step, evidence, scope, ctx): Args<'_>| {
        r.validate_step(step, evidence, RecordType::A, scope, ctx)
    });
    assert!(
        check < validate / 4,
        "check {check} bytes, validation {validate}"
    );
}

#[test]
fn iterating_does_not_carry_the_forwarding_state() {
    let iterate =
        state_size(|r, (name, ctx): (&Name, &Ctx)| r.query_name(name, RecordType::A, ctx));
    let forward = state_size(|r, (zone, name, ctx): (&ForwardZone, &Name, &Ctx)| {
        r.ask_forwarders(zone, name, RecordType::A, ctx)
    });
    assert!(
        iterate < forward,
        "iteration {iterate} bytes, forwarding {forward}"
    );
}
