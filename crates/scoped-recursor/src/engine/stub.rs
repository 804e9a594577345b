//! Stub zones: names at and below a configured zone are iterated from the zone's own servers
//! (internal authoritatives), given by address, instead of from the closest cached cut above
//! the zone or the root. Cuts cached below the zone (referrals those servers gave) are used as
//! usual; answers are cached and ECS decided per the allowlist like any other.

use scoped_ecs::names::is_within;
use std::net::{IpAddr, SocketAddr};

use hickory_proto::rr::Name;

use super::Recursor;
use crate::classify::{Delegation, NameServer};

/// One stub zone: its apex and the addresses (with ports) of its authoritative servers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StubZone {
    /// The zone's apex (lower case, fully qualified).
    pub name: Name,
    /// Its servers; the port is usually 53.
    pub servers: Vec<SocketAddr>,
}

impl StubZone {
    /// The zone as a delegation with glue: one nameserver, named as the apex, with every
    /// address.
    fn delegation(&self) -> Delegation {
        Delegation {
            zone: self.name.clone(),
            servers: vec![NameServer {
                name: self.name.clone(),
                addrs: self.servers.iter().map(SocketAddr::ip).collect(),
            }],
        }
    }
}

impl Recursor {
    /// The deepest stub zone at or above `name`, if any.
    pub(super) fn stub_zone_for(&self, name: &Name) -> Option<StubZone> {
        self.routing()
            .stub_zones
            .iter()
            .filter(|stub| is_within(name, &stub.name))
            .max_by_key(|stub| stub.name.num_labels())
            .cloned()
    }

    /// The stub zone's delegation, for the iteration of a name inside it.
    pub(super) fn stub_delegation(&self, stub: &StubZone) -> Delegation {
        stub.delegation()
    }

    /// The port to send to `addr` on: a stub zone server's or a forwarder's own, else
    /// `upstream_port`.
    pub(super) fn port_of(&self, addr: IpAddr) -> u16 {
        let routing = self.routing();
        let stubs = routing.stub_zones.iter().flat_map(|stub| &stub.servers);
        let forwarders = routing.forward_zones.iter().flat_map(|zone| &zone.servers);
        stubs
            .chain(forwarders)
            .find(|server| server.ip() == addr)
            .map_or(self.inner.config.upstream_port, SocketAddr::port)
    }
}
