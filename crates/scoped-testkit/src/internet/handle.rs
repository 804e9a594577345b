//! A handle on one server of an [`Internet`]: change its behaviour while tests run.

use super::*;

/// Runtime control of one server. Cheap to clone.
#[derive(Clone)]
pub struct ServerHandle {
    pub(super) state: Arc<ServerState>,
}

impl fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerHandle")
            .field("addr", &self.state.addr)
            .field("behaviour", &self.behaviour())
            .finish()
    }
}

impl ServerHandle {
    /// The server's address.
    pub fn addr(&self) -> IpAddr {
        self.state.addr
    }

    /// The current behaviour.
    pub fn behaviour(&self) -> Behaviour {
        lock(&self.state.behaviour).clone()
    }

    /// Replace the whole behaviour.
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        *lock(&self.state.behaviour) = behaviour;
    }

    /// Change the behaviour in place.
    pub fn update(&self, f: impl FnOnce(&mut Behaviour)) {
        f(&mut lock(&self.state.behaviour));
    }

    /// Set the simulated round-trip time.
    pub fn set_delay(&self, delay: Duration) {
        self.update(|b| b.delay = delay);
    }

    /// Kill (`true`) or revive (`false`) the server.
    pub fn set_dead(&self, dead: bool) {
        self.update(|b| b.dead = dead);
    }

    /// Drop the next `n` queries.
    pub fn drop_next(&self, n: u32) {
        self.update(|b| b.drop_next = n);
    }

    /// Answer every query with `rcode` (`None`: answer normally).
    pub fn set_rcode(&self, rcode: Option<ResponseCode>) {
        self.update(|b| b.rcode = rcode);
    }

    /// Put the zone's NS RRset in the authority section of answers (`Behaviour::authority_ns`),
    /// or not.
    pub fn set_authority_ns(&self, on: bool) {
        self.update(|b| b.authority_ns = on);
    }

    /// Make the server lame (upward referral instead of its data).
    pub fn set_lame(&self, lame: bool) {
        self.update(|b| b.lame = lame);
    }

    /// Truncate every UDP answer.
    pub fn set_truncate_udp(&self, truncate: bool) {
        self.update(|b| b.truncate_udp = truncate);
    }

    /// Answer NXDOMAIN for empty non-terminals (a broken server), or NODATA again (`false`).
    pub fn set_nxdomain_for_empty_non_terminals(&self, deny: bool) {
        self.update(|b| b.nxdomain_for_empty_non_terminals = deny);
    }

    /// Install a custom responder, consulted before `lame` and the zone logic.
    pub fn set_responder(
        &self,
        responder: impl Fn(&Message, &QueryInfo<'_>) -> ResponderAction + Send + Sync + 'static,
    ) {
        *lock(&self.state.responder) = Some(Arc::new(responder));
    }

    /// Remove the custom responder.
    pub fn clear_responder(&self) {
        *lock(&self.state.responder) = None;
    }

    /// Make the server answer through `queue` (one query at a time, so its latency grows with
    /// its queue; see [`ServiceQueue`]), or without one (`None`). Several servers given the same
    /// queue are one process.
    pub fn set_queue(&self, queue: Option<ServiceQueue>) {
        *lock(&self.state.queue) = queue;
    }

    /// The server's queue, if it has one.
    pub fn queue(&self) -> Option<ServiceQueue> {
        lock(&self.state.queue).clone()
    }

    /// The zones the server hosts.
    pub fn zones(&self) -> Vec<Arc<Zone>> {
        self.state
            .zones
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Host `zone` on this server, replacing a zone with the same origin.
    pub fn set_zone(&self, zone: Zone) {
        let mut zones = self
            .state
            .zones
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        zones.retain(|z| z.origin() != zone.origin());
        zones.push(Arc::new(zone));
    }
}
