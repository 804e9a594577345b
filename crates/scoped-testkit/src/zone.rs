//! Zones: the authoritative data one server hosts for one origin.

use std::collections::{BTreeMap, BTreeSet};

use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::txt::Parser;

/// Why a zone could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ZoneError {
    /// The origin is not a valid domain name.
    #[error("invalid zone origin {origin:?}: {reason}")]
    Origin {
        /// The origin as given.
        origin: String,
        /// The parser's message.
        reason: String,
    },
    /// The zone-file text did not parse.
    #[error("zone {origin}: parse error: {reason}")]
    Parse {
        /// The zone's origin.
        origin: String,
        /// The parser's message.
        reason: String,
    },
    /// A record's owner is not at or below the origin.
    #[error("zone {origin}: record owner {owner} is outside the zone")]
    OutOfZone {
        /// The zone's origin.
        origin: String,
        /// The offending owner name.
        owner: String,
    },
    /// The zone has no SOA record at its apex.
    #[error("zone {origin}: no SOA record at the apex")]
    NoSoa {
        /// The zone's origin.
        origin: String,
    },
    /// A record is not of class IN.
    #[error("zone {origin}: record {owner} is not class IN")]
    NotIn {
        /// The zone's origin.
        origin: String,
        /// The offending owner name.
        owner: String,
    },
}

/// The records of one zone, indexed for authoritative lookups.
///
/// Owner names compare case-insensitively (hickory's `Name` ordering). Every name that owns a
/// record is a node; every ancestor of a node down to the origin exists too (an empty
/// non-terminal when it owns nothing), which is what NXDOMAIN versus NODATA is decided on.
#[derive(Clone, Debug)]
pub struct Zone {
    origin: Name,
    nodes: BTreeMap<Name, BTreeMap<RecordType, Vec<Record>>>,
    names: BTreeSet<Name>,
}

impl Zone {
    /// Parse zone-file (RFC 1035 master file) text; relative names are relative to `origin`.
    /// The zone must have an SOA at its apex and only class-IN records at or below the origin.
    ///
    /// DNAME records (RFC 6672), which hickory's parser refuses, are read here: one per line,
    /// `owner [ttl] [IN] DNAME target`, the owner written out (`@`, relative or absolute), the
    /// TTL defaulting to the last `$TTL`. The line after a DNAME line must name its owner too.
    pub fn parse(origin: &str, text: &str) -> Result<Self, ZoneError> {
        let zone = Self::parse_records(parse_name(origin)?, text)?;
        zone.check()?;
        Ok(zone)
    }

    /// This zone with the records of zone-file `text` added (read as by [`parse`](Self::parse),
    /// relative to this zone's origin; no SOA needed): lets a test add a name to a fixture, then
    /// [`Internet::replace_zone`](crate::Internet::replace_zone).
    pub fn with_records(&self, text: &str) -> Result<Self, ZoneError> {
        let added = Self::parse_records(self.origin.clone(), text)?;
        let mut zone = self.clone();
        for record in added.records() {
            zone.insert(record.clone())?;
        }
        Ok(zone)
    }

    fn parse_records(origin_name: Name, text: &str) -> Result<Self, ZoneError> {
        let (text, dnames) = take_dnames(&origin_name, text)?;
        let (parsed_origin, rrsets) = Parser::new(&text, None, Some(origin_name.clone()))
            .parse()
            .map_err(|e| ZoneError::Parse {
                origin: origin_name.to_string(),
                reason: e.to_string(),
            })?;
        let mut zone = Self::empty(parsed_origin);
        for rrset in rrsets.into_values() {
            for record in rrset.records_without_rrsigs() {
                zone.insert(record.clone())?;
            }
        }
        for record in dnames {
            zone.insert(record)?;
        }
        Ok(zone)
    }

    /// Build a zone from records (each at or below `origin`, class IN, one SOA at the apex).
    pub fn from_records(
        origin: &str,
        records: impl IntoIterator<Item = Record>,
    ) -> Result<Self, ZoneError> {
        let mut zone = Self::empty(parse_name(origin)?);
        for record in records {
            zone.insert(record)?;
        }
        zone.check()?;
        Ok(zone)
    }

    fn empty(origin: Name) -> Self {
        let mut names = BTreeSet::new();
        names.insert(origin.clone());
        Self {
            origin,
            nodes: BTreeMap::new(),
            names,
        }
    }

    fn insert(&mut self, record: Record) -> Result<(), ZoneError> {
        if !self.origin.zone_of(&record.name) {
            return Err(ZoneError::OutOfZone {
                origin: self.origin.to_string(),
                owner: record.name.to_string(),
            });
        }
        if record.dns_class != DNSClass::IN {
            return Err(ZoneError::NotIn {
                origin: self.origin.to_string(),
                owner: record.name.to_string(),
            });
        }
        let owner = record.name.clone();
        let apex_labels = label_count(&self.origin);
        for n in apex_labels..=label_count(&owner) {
            self.names.insert(owner.trim_to(n));
        }
        let rrset = self
            .nodes
            .entry(owner)
            .or_default()
            .entry(record.record_type())
            .or_default();
        if !rrset.iter().any(|r| r.data == record.data) {
            rrset.push(record);
        }
        Ok(())
    }

    fn check(&self) -> Result<(), ZoneError> {
        if self.soa().is_none() {
            return Err(ZoneError::NoSoa {
                origin: self.origin.to_string(),
            });
        }
        Ok(())
    }

    /// The zone's apex name.
    pub fn origin(&self) -> &Name {
        &self.origin
    }

    /// The SOA record at the apex.
    pub fn soa(&self) -> Option<&Record> {
        self.rrset(&self.origin, RecordType::SOA)
            .and_then(|r| r.first())
    }

    /// The records of one type owned by `name` (no wildcard synthesis), if any.
    pub fn rrset(&self, name: &Name, rtype: RecordType) -> Option<&[Record]> {
        self.nodes
            .get(name)?
            .get(&rtype)
            .map(Vec::as_slice)
            .filter(|r| !r.is_empty())
    }

    /// All RRsets owned by `name`, by type.
    pub fn node(&self, name: &Name) -> Option<&BTreeMap<RecordType, Vec<Record>>> {
        self.nodes.get(name)
    }

    /// Does `name` exist in the zone (owns records or is an empty non-terminal)?
    pub fn name_exists(&self, name: &Name) -> bool {
        self.names.contains(name)
    }

    /// Every record of the zone, in canonical name order.
    pub fn records(&self) -> impl Iterator<Item = &Record> {
        self.nodes
            .values()
            .flat_map(|types| types.values().flatten())
    }

    /// Is the zone signed (a DNSKEY RRset at the apex; see [`crate::signed`])?
    pub fn is_signed(&self) -> bool {
        self.rrset(&self.origin, RecordType::DNSKEY).is_some()
    }

    /// The nameserver names of the apex NS RRset.
    pub fn apex_ns(&self) -> Vec<Name> {
        ns_targets(self.rrset(&self.origin, RecordType::NS).unwrap_or_default())
    }

    /// The A and AAAA records this zone holds for `name`.
    pub fn addresses(&self, name: &Name) -> Vec<Record> {
        [RecordType::A, RecordType::AAAA]
            .into_iter()
            .filter_map(|t| self.rrset(name, t))
            .flatten()
            .cloned()
            .collect()
    }
}

/// The target names of NS records.
pub(crate) fn ns_targets(records: &[Record]) -> Vec<Name> {
    records
        .iter()
        .filter_map(|r| match &r.data {
            RData::NS(ns) => Some(ns.0.clone()),
            _ => None,
        })
        .collect()
}

/// Number of labels including a leading `*` (hickory's `num_labels` does not count it).
pub(crate) fn label_count(name: &Name) -> usize {
    name.iter().count()
}

/// The DNAME lines of zone-file `text` read into records, and the text without them (each
/// replaced by an empty line, so hickory's line numbers still match).
fn take_dnames(origin: &Name, text: &str) -> Result<(String, Vec<Record>), ZoneError> {
    let error = |line: &str, why: &str| ZoneError::Parse {
        origin: origin.to_string(),
        reason: format!("{why}: {line:?}"),
    };
    let name = |token: &str, line: &str| -> Result<Name, ZoneError> {
        if token == "@" {
            return Ok(origin.clone());
        }
        let parsed = Name::from_ascii(token).map_err(|e| error(line, &e.to_string()))?;
        if token.ends_with('.') {
            Ok(parsed)
        } else {
            parsed
                .append_domain(origin)
                .map_err(|e| error(line, &e.to_string()))
        }
    };
    let mut default_ttl = None;
    let mut rest = String::with_capacity(text.len());
    let mut dnames = Vec::new();
    for line in text.lines() {
        let content = line.split(';').next().unwrap_or_default();
        let tokens: Vec<&str> = content.split_whitespace().collect();
        if let [directive, ttl] = tokens.as_slice()
            && directive.eq_ignore_ascii_case("$TTL")
        {
            default_ttl = ttl.parse::<u32>().ok();
        }
        let Some(at) = tokens.iter().position(|t| t.eq_ignore_ascii_case("DNAME")) else {
            rest.push_str(line);
            rest.push('\n');
            continue;
        };
        if content.starts_with(char::is_whitespace) || at == 0 {
            return Err(error(line, "a DNAME line must name its owner"));
        }
        let [owner, between @ .., _] = &tokens[..=at] else {
            return Err(error(line, "a DNAME line must name its owner"));
        };
        let [target] = &tokens[at + 1..] else {
            return Err(error(line, "a DNAME line ends with one target name"));
        };
        let mut ttl = default_ttl;
        for token in between {
            if let Ok(value) = token.parse::<u32>() {
                ttl = Some(value);
            } else if !token.eq_ignore_ascii_case("IN") {
                return Err(error(line, "expected a TTL or IN before DNAME"));
            }
        }
        let ttl = ttl.ok_or_else(|| error(line, "no TTL for the DNAME (and no $TTL)"))?;
        let owner = name(owner, line)?;
        let target = name(target, line)?;
        dnames.push(scoped_cache::dname::dname_record(owner, ttl, &target));
        rest.push('\n');
    }
    Ok((rest, dnames))
}

fn parse_name(origin: &str) -> Result<Name, ZoneError> {
    let mut name = Name::from_ascii(origin).map_err(|e| ZoneError::Origin {
        origin: origin.to_owned(),
        reason: e.to_string(),
    })?;
    name.set_fqdn(true);
    Ok(name)
}
