//! Building an [`Internet`]: zones, servers and their behaviours, checked as a whole.

use super::*;

/// Why an internet could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A zone did not parse or is incomplete.
    #[error(transparent)]
    Zone(#[from] ZoneError),
    /// A server hosts a zone that was never declared.
    #[error("server {server} hosts undeclared zone {zone}")]
    UnknownZone {
        /// The server.
        server: IpAddr,
        /// The zone origin as given.
        zone: String,
    },
    /// The same address was declared twice.
    #[error("server {0} declared twice")]
    DuplicateServer(IpAddr),
    /// A server address outside 127.0.0.0/8, ::1 and fc00::/7.
    #[error("server address {0} is not loopback (127.0.0.0/8, ::1) or unique-local (fc00::/7)")]
    NotLoopback(IpAddr),
}

enum ZoneSource {
    Text(String, String),
    Built(Zone),
}

/// Declares zones and servers, then [`build`](InternetBuilder::build)s an [`Internet`].
///
/// ```
/// use scoped_testkit::InternetBuilder;
/// let mut b = InternetBuilder::new();
/// b.zone(".", ". 86400 IN SOA a.root.test. h.root.test. 1 2 3 4 60\n. 86400 IN NS a.root.test.\na.root.test. 86400 IN A 127.53.0.1\n");
/// b.server("127.53.0.1".parse().unwrap(), &["."]);
/// let internet = b.build().unwrap();
/// assert_eq!(internet.root_hints().len(), 1);
/// ```
pub struct InternetBuilder {
    port: u16,
    zones: Vec<ZoneSource>,
    servers: Vec<(IpAddr, Vec<String>, Behaviour)>,
}

impl Default for InternetBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl InternetBuilder {
    /// An empty internet whose servers listen on port 53.
    pub fn new() -> Self {
        Self {
            port: 53,
            zones: Vec::new(),
            servers: Vec::new(),
        }
    }

    /// The port every server listens on in memory (default 53). The loopback mode picks its own.
    pub fn port(&mut self, port: u16) -> &mut Self {
        self.port = port;
        self
    }

    /// Declare a zone from zone-file text (parsed at [`build`](Self::build)).
    pub fn zone(&mut self, origin: &str, text: &str) -> &mut Self {
        self.zones
            .push(ZoneSource::Text(origin.to_owned(), text.to_owned()));
        self
    }

    /// Declare an already built zone.
    pub fn add_zone(&mut self, zone: Zone) -> &mut Self {
        self.zones.push(ZoneSource::Built(zone));
        self
    }

    /// Declare a server at `addr` hosting the zones with these origins (`"example.com."`, `"."`).
    pub fn server(&mut self, addr: IpAddr, zones: &[&str]) -> &mut Self {
        self.server_with(addr, zones, Behaviour::default())
    }

    /// Declare a server with an initial behaviour.
    pub fn server_with(&mut self, addr: IpAddr, zones: &[&str], behaviour: Behaviour) -> &mut Self {
        self.servers.push((
            addr,
            zones.iter().map(|z| (*z).to_owned()).collect(),
            behaviour,
        ));
        self
    }

    /// Parse the zones and assemble the internet.
    pub fn build(&mut self) -> Result<Internet, BuildError> {
        let mut zones: BTreeMap<Name, Arc<Zone>> = BTreeMap::new();
        for source in &self.zones {
            let zone = match source {
                ZoneSource::Text(origin, text) => Zone::parse(origin, text)?,
                ZoneSource::Built(zone) => zone.clone(),
            };
            zones.insert(zone.origin().clone(), Arc::new(zone));
        }
        let mut servers = HashMap::new();
        for (addr, origins, behaviour) in &self.servers {
            if !allowed_server_address(*addr) {
                return Err(BuildError::NotLoopback(*addr));
            }
            let mut hosted = Vec::new();
            for origin in origins {
                let zone = Name::from_ascii(origin)
                    .ok()
                    .map(|mut n| {
                        n.set_fqdn(true);
                        n
                    })
                    .and_then(|n| zones.get(&n))
                    .ok_or_else(|| BuildError::UnknownZone {
                        server: *addr,
                        zone: origin.clone(),
                    })?;
                hosted.push(zone.clone());
            }
            let state = Arc::new(ServerState {
                addr: *addr,
                zones: RwLock::new(hosted),
                behaviour: Mutex::new(behaviour.clone()),
                responder: Mutex::new(None),
                queue: Mutex::new(None),
            });
            if servers.insert(*addr, state).is_some() {
                return Err(BuildError::DuplicateServer(*addr));
            }
        }
        let root_hints = zones
            .get(&Name::root())
            .map(|root| {
                root.apex_ns()
                    .into_iter()
                    .map(|ns| (ns.clone(), root.addresses(&ns)))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Internet {
            inner: Arc::new(Inner {
                port: self.port,
                servers,
                root_hints,
                log: Mutex::new(Vec::new()),
                next_source_port: AtomicU16::new(40_000),
            }),
        })
    }
}

fn allowed_server_address(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00,
    }
}
