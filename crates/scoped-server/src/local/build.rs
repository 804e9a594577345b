//! Building a [`Table`] from a [`LocalConfig`]: default zones, configured zones, local data
//! (parsed with hickory-proto's zone-file parser), each entry checked.

use std::collections::{HashMap, HashSet};

use hickory_proto::rr::{DNSClass, Name, Record, RecordType};
use hickory_proto::serialize::txt::Parser;

use super::defaults::{DefaultZone, default_zones};
use super::table::Table;
use super::{LocalConfig, LocalZoneKind, wire_name};

/// TTL of local data written without one (Unbound's default too).
pub const DEFAULT_RECORD_TTL: u32 = 3600;

/// A `[local]` entry that cannot be used: which list, which entry (0-based), what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{key}[{index}] {entry:?}: {problem}")]
pub struct LocalError {
    /// The list: `local.nodefault`, `local.zones` or `local.records`.
    pub key: &'static str,
    /// The entry's position in its list, from 0.
    pub index: usize,
    /// The entry as written.
    pub entry: String,
    /// What is wrong with it.
    pub problem: String,
}

const NODEFAULT: &str = "local.nodefault";
const ZONES: &str = "local.zones";
const RECORDS: &str = "local.records";

fn error(key: &'static str, index: usize, entry: &str, problem: impl Into<String>) -> LocalError {
    LocalError {
        key,
        index,
        entry: entry.to_owned(),
        problem: problem.into(),
    }
}

/// An absolute name from configuration text (a missing trailing dot is added).
fn parse_name(text: &str) -> Result<Name, String> {
    let mut name = Name::from_ascii(text).map_err(|e| format!("not a domain name: {e}"))?;
    name.set_fqdn(true);
    Ok(name.to_lowercase())
}

pub(super) fn build(config: &LocalConfig) -> Result<Table, LocalError> {
    let mut table = Table::default();
    let mut zone_names: HashMap<Name, usize> = HashMap::new();
    let mut user_zones = Vec::with_capacity(config.zones.len());
    for (index, spec) in config.zones.iter().enumerate() {
        let entry = format!("{} {}", spec.name, spec.kind);
        let name = parse_name(&spec.name).map_err(|p| error(ZONES, index, &entry, p))?;
        if let Some(first) = zone_names.insert(name.clone(), index) {
            return Err(error(
                ZONES,
                index,
                &entry,
                format!("zone {name} is already local.zones[{first}]"),
            ));
        }
        user_zones.push((name, spec.kind));
    }
    let defaults = active_defaults(config, &zone_names)?;
    for (name, kind) in defaults
        .iter()
        .map(|zone| (zone.0.clone(), zone.1.kind))
        .chain(user_zones)
    {
        table.add_zone(&wire_name(&name), name.num_labels(), kind);
    }
    let mut records = Vec::with_capacity(config.records.len());
    for (index, text) in config.records.iter().enumerate() {
        let record = parse_record(text).map_err(|p| error(RECORDS, index, text, p))?;
        records.push((index, record));
    }
    // Default data fills in only what local data leaves out, (name, type) by (name, type).
    let given: HashSet<(Name, RecordType)> = records
        .iter()
        .map(|(_, r)| (r.name.clone(), r.record_type()))
        .collect();
    let mut default_records = Vec::new();
    for (_, zone) in &defaults {
        for text in &zone.records {
            let record = parse_record(text).unwrap_or_else(|e| unreachable!("{text}: {e}"));
            if !given.contains(&(record.name.clone(), record.record_type())) {
                default_records.push(record);
            }
        }
    }
    for (index, record) in records {
        add_record(&mut table, record)
            .map_err(|p| error(RECORDS, index, &config.records[index], p))?;
    }
    for record in default_records {
        add_record(&mut table, record).unwrap_or_else(|e| unreachable!("default data: {e}"));
    }
    Ok(table)
}

/// The default zones in force: all but those `nodefault` names and those a configured zone
/// replaces. A `nodefault` entry that names no default zone is an error (a typo would
/// otherwise leave the zone on).
fn active_defaults(
    config: &LocalConfig,
    configured: &HashMap<Name, usize>,
) -> Result<Vec<(Name, DefaultZone)>, LocalError> {
    let mut all: Vec<(Name, DefaultZone)> = default_zones()
        .into_iter()
        .map(|zone| {
            let name = parse_name(&zone.name).unwrap_or_else(|e| unreachable!("{e}"));
            (name, zone)
        })
        .collect();
    let mut off = HashSet::new();
    for (index, text) in config.nodefault.iter().enumerate() {
        let name = parse_name(text).map_err(|p| error(NODEFAULT, index, text, p))?;
        if !all.iter().any(|(default, _)| *default == name) {
            return Err(error(
                NODEFAULT,
                index,
                text,
                "not a default zone (docs/configuration.md lists them)",
            ));
        }
        off.insert(name);
    }
    all.retain(|(name, _)| !off.contains(name) && !configured.contains_key(name));
    Ok(all)
}

/// One record in zone-file syntax: owner, optional TTL and class, type, data. Names are
/// absolute (relative ones are taken relative to the root).
pub(super) fn parse_record(text: &str) -> Result<Record, String> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('$') {
        return Err("directives ($ORIGIN, $TTL, $INCLUDE) are not supported here".into());
    }
    if trimmed.starts_with('@') || text.starts_with([' ', '\t']) {
        return Err("the entry must start with the record's owner name".into());
    }
    let input = format!("$TTL {DEFAULT_RECORD_TTL}\n{text}\n");
    let (_, rrsets) = Parser::new(input, None, Some(Name::root()))
        .parse()
        .map_err(|e| e.to_string())?;
    if rrsets.values().any(|rrset| !rrset.rrsigs().is_empty()) {
        return Err("RRSIG records cannot be local data".into());
    }
    let mut records = rrsets
        .into_values()
        .flat_map(|rrset| rrset.records_without_rrsigs().cloned().collect::<Vec<_>>());
    let (Some(mut record), None) = (records.next(), records.next()) else {
        return Err("expected exactly one record".into());
    };
    if record.dns_class != DNSClass::IN {
        return Err(format!(
            "class {}: only class IN is served",
            record.dns_class
        ));
    }
    match record.record_type() {
        RecordType::RRSIG | RecordType::NSEC | RecordType::NSEC3 | RecordType::OPT => {
            return Err(format!(
                "{} records cannot be local data",
                record.record_type()
            ));
        }
        _ => {}
    }
    record.name = record.name.to_lowercase();
    Ok(record)
}

/// Puts `record` in the table: under its closest enclosing zone, or else under a transparent
/// zone made at its owner; the names between the owner and the zone apex become empty
/// non-terminals. A CNAME may not share its owner with other data (RFC 1034 §3.6.2).
fn add_record(table: &mut Table, record: Record) -> Result<(), String> {
    let wire = wire_name(&record.name);
    let apex_labels = match table.zone_of(&wire) {
        Some((apex, _)) => label_count(apex),
        None => {
            table.add_zone(&wire, record.name.num_labels(), LocalZoneKind::Transparent);
            record.name.num_labels()
        }
    };
    let data = table.data_mut(&wire, &record.name.clone());
    let is_cname = record.record_type() == RecordType::CNAME;
    if let Some(other) = data
        .records
        .iter()
        .find(|r| (r.record_type() == RecordType::CNAME) != is_cname)
    {
        return Err(format!(
            "{} has {} data already: a CNAME cannot share its name with other data",
            record.name,
            other.record_type()
        ));
    }
    if data.records.contains(&record) {
        return Ok(());
    }
    data.records.push(record.clone());
    let mut name = record.name.base_name();
    while name.num_labels() > apex_labels {
        table.data_mut(&wire_name(&name), &name);
        name = name.base_name();
    }
    Ok(())
}

/// Labels in a wire name (the root has none).
fn label_count(wire: &[u8]) -> u8 {
    let mut count = 0;
    let mut pos = 0;
    while let Some(&len) = wire.get(pos) {
        if len == 0 {
            break;
        }
        count += 1;
        pos += 1 + usize::from(len);
    }
    count
}
