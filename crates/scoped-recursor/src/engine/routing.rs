//! Where questions go besides the root: the stub and forward zones, and DNS64. Held apart from
//! the rest of the configuration so that a reload can replace them while the engine serves
//! (`Recursor::set_routing`); every question reads the set in force when it starts a step.

use std::sync::Arc;

use super::Recursor;
use crate::dns64::Dns64Config;
use crate::{ForwardZone, StubZone};

/// The stub zones, forward zones and DNS64 settings in force.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Routing {
    /// Names inside them are iterated from their own servers (`stub.rs`).
    pub stub_zones: Vec<StubZone>,
    /// Names inside them are asked of their forwarders (`forward.rs`).
    pub forward_zones: Vec<ForwardZone>,
    /// DNS64 (RFC 6147, `dns64.rs`).
    pub dns64: Dns64Config,
}

impl Routing {
    /// The routing a configuration starts with.
    pub(super) fn of(config: &crate::RecursorConfig) -> Self {
        Self {
            stub_zones: config.stub_zones.clone(),
            forward_zones: config.forward_zones.clone(),
            dns64: config.dns64.clone(),
        }
    }
}

impl Recursor {
    /// The routing in force.
    pub fn routing(&self) -> Arc<Routing> {
        self.inner
            .routing
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Put new stub zones, forward zones and DNS64 settings in force (a reload). Questions
    /// under way finish their current step with the old ones. What the caches hold below a zone
    /// that was added, removed or changed is flushed (it came from the old servers), and the
    /// rendered answers too when DNS64 changed (they may be synthesised).
    pub fn set_routing(&self, mut routing: Routing) {
        let current = self.routing();
        keep_connections(&current, &mut routing);
        let old = std::mem::replace(
            &mut *self
                .inner
                .routing
                .write()
                .unwrap_or_else(|e| e.into_inner()),
            Arc::new(routing.clone()),
        );
        let mut moved: Vec<&hickory_proto::rr::Name> = Vec::new();
        let stubs = differing(&old.stub_zones, &routing.stub_zones, |z| &z.name);
        let forwards = differing(&old.forward_zones, &routing.forward_zones, |z| &z.name);
        moved.extend(stubs.into_iter().chain(forwards));
        for name in moved {
            self.flush(name, true);
        }
        if old.dns64 != routing.dns64
            && let Some(wire) = &self.inner.wire
        {
            wire.clear();
        }
    }
}

/// A forward zone whose DNS over TLS setting a reload leaves as it was keeps its open
/// connections: the new setting is replaced by the old one, which is equal.
fn keep_connections(old: &Routing, new: &mut Routing) {
    for zone in &mut new.forward_zones {
        let before = old
            .forward_zones
            .iter()
            .find(|before| before.name == zone.name)
            .and_then(|before| before.tls.as_ref());
        if let (Some(tls), Some(before)) = (zone.tls.as_mut(), before)
            && tls == before
        {
            *tls = before.clone();
        }
    }
}

/// The names of the zones in one list and not, identical, in the other.
fn differing<'a, Z: PartialEq>(
    old: &'a [Z],
    new: &'a [Z],
    name: impl Fn(&'a Z) -> &'a hickory_proto::rr::Name,
) -> Vec<&'a hickory_proto::rr::Name> {
    let gone = old.iter().filter(|z| !new.contains(z));
    let added = new.iter().filter(|z| !old.contains(z));
    gone.chain(added).map(name).collect()
}
