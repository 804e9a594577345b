//! Shared fixtures: a test zone, signed at test time with `scoped_dnssec::signer`.
#![allow(dead_code)]

use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::txt::Parser;
use scoped_dnssec::signer::{ZoneSigning, sign_zone};
use scoped_dnssec::verify::rrsig_of;
use scoped_dnssec::{
    Algorithm, ChainResult, Policy, Trust, ZoneKeys, validate_zone_keys, verify_rrset,
};

/// "Now" in the tests: 2027-01-15, seconds since the epoch.
pub const NOW: u32 = 1_800_000_000;

/// The test zone: a secure and an insecure delegation, a wildcard, an empty non-terminal
/// (b.example. above a.b.example.), and a name below the wildcard that exists.
pub const EXAMPLE: &str = "\
$TTL 3600
@        IN SOA ns.example. host.example. 1 7200 3600 1209600 300
@        IN NS  ns.example.
ns       IN A   192.0.2.53
www      IN A   192.0.2.1
www      IN A   192.0.2.2
mail     IN A   192.0.2.25
a.b      IN TXT \"below an empty non-terminal\"
*.wild   IN A   192.0.2.7
real.wild IN A  192.0.2.8
alias    IN CNAME www.example.
insecure IN NS  ns.insecure.example.
ns.insecure IN A 192.0.2.54
secure   IN NS  ns.secure.example.
secure   IN DS  4711 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF
ns.secure IN A  192.0.2.55
";

pub fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

pub fn example() -> Name {
    name("example.")
}

/// The records of zone-file `text` for `origin`.
pub fn parse(origin: &str, text: &str) -> Vec<Record> {
    let (_, rrsets) = Parser::new(text, None, Some(name(origin))).parse().unwrap();
    rrsets
        .into_values()
        .flat_map(|set| set.records_without_rrsigs().cloned().collect::<Vec<_>>())
        .collect()
}

/// The test zone signed with a fresh ECDSA P-256 KSK and ZSK, NSEC, valid around [`NOW`].
pub fn spec() -> ZoneSigning {
    ZoneSigning::generate(Algorithm::ECDSAP256SHA256, NOW).unwrap()
}

pub fn sign(spec: &ZoneSigning) -> Vec<Record> {
    sign_zone(&example(), &parse("example.", EXAMPLE), spec).unwrap()
}

/// The records (RRSIGs excluded) of `owner`/`rtype`.
pub fn rrset(records: &[Record], owner: &str, rtype: RecordType) -> Vec<Record> {
    let owner = name(owner);
    records
        .iter()
        .filter(|r| r.name == owner && r.record_type() == rtype)
        .cloned()
        .collect()
}

/// Every RRSIG in `records` owned by `owner`.
pub fn rrsigs(records: &[Record], owner: &str) -> Vec<Record> {
    let owner = name(owner);
    records
        .iter()
        .filter(|r| r.name == owner && rrsig_of(r).is_some())
        .cloned()
        .collect()
}

/// Validate the zone's DNSKEY RRset from the DS set its spec gives the parent.
pub fn zone_keys(records: &[Record], spec: &ZoneSigning) -> ZoneKeys {
    let ds: Vec<_> = spec
        .ds_records(&example(), 3600)
        .unwrap()
        .into_iter()
        .filter_map(|r| match r.data {
            RData::DNSSEC(scoped_dnssec::DNSSECRData::DS(ds)) => Some(ds),
            _ => None,
        })
        .collect();
    let result = validate_zone_keys(
        &example(),
        Trust::ds(&ds),
        &rrset(records, "example.", RecordType::DNSKEY),
        &rrsigs(records, "example."),
        NOW,
        &Policy::default(),
    );
    match result {
        ChainResult::Secure(keys) => keys,
        other => panic!("zone keys not secure: {other:?}"),
    }
}

/// The NSEC or NSEC3 records among `records` whose owners are `owners`, each checked against
/// the zone's keys (as the engine will do before a denial proof).
pub fn denial_records(records: &[Record], keys: &ZoneKeys, owners: &[Name]) -> Vec<Record> {
    let mut out = Vec::new();
    for owner in owners {
        let owner_text = owner.to_ascii();
        for rtype in [RecordType::NSEC, RecordType::NSEC3] {
            let set = rrset(records, &owner_text, rtype);
            if set.is_empty() {
                continue;
            }
            let sigs = rrsigs(records, &owner_text);
            verify_rrset(&set, &sigs, &keys.zone, &keys.keys, NOW, &Policy::default())
                .expect("denial records verify");
            out.extend(set);
        }
    }
    out
}

/// Every NSEC/NSEC3 owner of the zone.
pub fn denial_owners(records: &[Record]) -> Vec<Name> {
    let mut owners: Vec<Name> = records
        .iter()
        .filter(|r| matches!(r.record_type(), RecordType::NSEC | RecordType::NSEC3))
        .map(|r| r.name.clone())
        .collect();
    owners.dedup();
    owners
}
