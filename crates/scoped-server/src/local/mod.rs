//! Local zones: names this resolver answers itself, before any cache or engine work, so that
//! they never leave the machine.
//!
//! A [`LocalZones`] table holds zones, each of a [`LocalZoneKind`], and local data (records
//! written in zone-file syntax). The [default zones](defaults) — `localhost.`, the RFC 6303
//! reverse zones, `invalid.`, `test.`, `onion.`, `home.arpa.` — are in every table unless
//! turned off one by one ([`LocalConfig::nodefault`]) or replaced by a zone of the same name.
//!
//! The question's closest enclosing local zone decides (the kinds are Unbound's):
//!
//! | kind | the name has local data | it has none |
//! |---|---|---|
//! | `static` | the data (other types: NODATA) | NXDOMAIN (NODATA for a name with data below it) |
//! | `transparent` | the data (other types: NODATA) | resolved as usual |
//! | `refuse` | the data (other types: NODATA) | REFUSED |
//! | `always-nxdomain` | NXDOMAIN | NXDOMAIN |
//! | `redirect` | the data | the zone apex's data, under the question's name |
//!
//! Local data outside every zone gets a `transparent` zone of its own at its owner name.
//! Answers have AA set; negative answers carry the zone's SOA (from local data at the apex, or
//! else a locally made one, [`defaults::SOA_RDATA`]) with TTL min(SOA TTL, MINIMUM), so stubs
//! cache them (RFC 2308). A CNAME in local data is followed within local data only.
//!
//! The table is one hash map from the lowercased wire form of each zone apex and data owner to
//! a small node, so a question costs one probe per label of its name (fewer: label counts no
//! entry has are skipped), and a blocklist of 100k `always-nxdomain` zones costs a few MB
//! (measured in `benches/local_zones.rs`, numbers in docs/benchmarks.md).

mod answer;
mod build;
pub(crate) mod defaults;
mod respond;
mod table;
#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, Record};

pub use build::LocalError;
use table::Table;

/// How a local zone answers (see the module docs for the table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LocalZoneKind {
    /// Local data only: anything else NXDOMAIN or NODATA.
    Static,
    /// Local data answered, everything else resolved as usual.
    Transparent,
    /// Local data answered, everything else REFUSED.
    Refuse,
    /// NXDOMAIN for the zone and every name in it, local data or not (blocklists).
    AlwaysNxdomain,
    /// Every name in the zone gets the apex's data (`localhost.`: `a.localhost.` is 127.0.0.1).
    Redirect,
}

impl LocalZoneKind {
    /// The kind as configuration files spell it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Static => "static",
            Self::Transparent => "transparent",
            Self::Refuse => "refuse",
            Self::AlwaysNxdomain => "always-nxdomain",
            Self::Redirect => "redirect",
        }
    }
}

impl fmt::Display for LocalZoneKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LocalZoneKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(match text {
            "static" => Self::Static,
            "transparent" => Self::Transparent,
            "refuse" => Self::Refuse,
            // Unbound spells it with an underscore; both read the same.
            "always-nxdomain" | "always_nxdomain" => Self::AlwaysNxdomain,
            "redirect" => Self::Redirect,
            other => {
                return Err(format!(
                    "unknown zone type {other:?} (static, transparent, refuse, always-nxdomain \
                     or redirect)"
                ));
            }
        })
    }
}

/// One configured local zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalZoneSpec {
    /// The zone's name, as written (a trailing dot is optional).
    pub name: String,
    /// How it answers.
    pub kind: LocalZoneKind,
}

impl FromStr for LocalZoneSpec {
    type Err = String;

    /// The compact form: `"ads.example. always-nxdomain"` (name, blanks, kind).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut words = text.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some(name), Some(kind), None) => Ok(Self {
                name: name.to_owned(),
                kind: kind.parse()?,
            }),
            _ => {
                Err("expected a zone name and a type, like \"ads.example. always-nxdomain\"".into())
            }
        }
    }
}

/// What the `[local]` section asks for, before validation ([`LocalZones::build`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LocalConfig {
    /// Default zones turned off, by name (each must name a default zone).
    pub nodefault: Vec<String>,
    /// Local zones; one with a default zone's name replaces that default.
    pub zones: Vec<LocalZoneSpec>,
    /// Local data: one record per entry in zone-file syntax (`"printer.home.arpa. 300 IN A
    /// 192.168.1.20"`); TTL (default 3600) and class are optional, names are absolute.
    pub records: Vec<String>,
}

/// A locally made answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalAnswer {
    /// NOERROR, NXDOMAIN or REFUSED.
    pub rcode: ResponseCode,
    /// The answer section.
    pub answers: Vec<Record>,
    /// The authority section: the zone's SOA in a negative answer.
    pub authorities: Vec<Record>,
    /// The local zone that answered.
    pub zone: Name,
    /// Its kind.
    pub kind: LocalZoneKind,
}

/// The local zones and data in force: built from a [`LocalConfig`], read by every query, and
/// replaced whole by a reload ([`LocalZones::replace`]) while the front end serves.
pub struct LocalZones {
    table: std::sync::RwLock<std::sync::Arc<Table>>,
}

impl LocalZones {
    /// The default zones alone (what an empty `[local]` section gives).
    pub fn defaults() -> Self {
        Self::build(&LocalConfig::default())
            .unwrap_or_else(|e| unreachable!("the default zones are valid: {e}"))
    }

    /// No local zone at all: every question goes to the engine.
    pub fn none() -> Self {
        Self::of(Table::default())
    }

    /// Validates `config` and builds its table: the default zones not turned off, the
    /// configured zones, the local data. An error names the entry and what is wrong with it.
    pub fn build(config: &LocalConfig) -> Result<Self, LocalError> {
        build::build(config).map(Self::of)
    }

    fn of(table: Table) -> Self {
        Self {
            table: std::sync::RwLock::new(std::sync::Arc::new(table)),
        }
    }

    /// The table in force.
    fn table(&self) -> std::sync::RwLockReadGuard<'_, std::sync::Arc<Table>> {
        self.table.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Put `other`'s zones and data in force in place of these (a reload): every holder of this
    /// table sees them from its next question on.
    pub fn replace(&self, other: &LocalZones) {
        let table = std::sync::Arc::clone(&other.table());
        *self.table.write().unwrap_or_else(|e| e.into_inner()) = table;
    }

    /// Zones in the table (default, configured and those local data made).
    pub fn zone_count(&self) -> usize {
        self.table().zone_count()
    }

    /// Owner names with local data.
    pub fn data_names(&self) -> usize {
        self.table().data_names()
    }

    /// Whether `name` (the lowercased wire form of a question's name) is answered here, not by
    /// the engine: the fast path leaves such questions to the full pipeline.
    pub fn intercepts(&self, name: &[u8]) -> bool {
        self.table().intercepts(name)
    }

    /// The local answer to `name`/`qtype`, or `None` if the question is not local (no local
    /// zone encloses it, or a transparent one has no data for it) and must be resolved.
    pub fn answer(&self, name: &Name, qtype: hickory_proto::rr::RecordType) -> Option<LocalAnswer> {
        answer::answer(&self.table(), name, qtype)
    }

    /// An estimate of the heap the table holds, in bytes (map buckets, keys, records).
    pub fn heap_bytes(&self) -> usize {
        self.table().heap_bytes()
    }
}

impl Default for LocalZones {
    fn default() -> Self {
        Self::defaults()
    }
}

impl fmt::Debug for LocalZones {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalZones")
            .field("zones", &self.zone_count())
            .field("data_names", &self.data_names())
            .finish()
    }
}

/// The lowercased wire form of `name`, as the table keys it.
pub(crate) fn wire_name(name: &Name) -> Vec<u8> {
    let mut wire = Vec::with_capacity(name.len() + 1);
    for label in name.iter() {
        wire.push(label.len() as u8);
        wire.extend(label.iter().map(u8::to_ascii_lowercase));
    }
    wire.push(0);
    wire
}
