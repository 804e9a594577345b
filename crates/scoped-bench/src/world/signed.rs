//! The signed hierarchy of the `validated` scenario: the same root → `lab.` → `bench.lab.` as
//! the unsigned lab (the hit names and the misses' wildcard), on addresses of its own, signed
//! at the start of every run with keys made for that run (ECDSA P-256, NSEC, signatures valid
//! from an hour before the start for 30 days), by scoped-dnssec's signer through the testkit.
//!
//! | address | server | zone |
//! |---|---|---|
//! | 127.54.1.1 | nsd (a second process, with `nsd-control` on a Unix socket) | `.` |
//! | 127.54.1.2 | the same nsd | `lab.` |
//! | 127.54.1.3 | the same nsd | `bench.lab.`, plus [`SECURE_NAME`] and [`BOGUS_NAME`] |
//!
//! Every delegation has its DS, so every answer in `bench.lab.` is secure, except
//! [`BOGUS_NAME`], whose A RRSIG has one bit flipped: every validating resolver must answer it
//! SERVFAIL. The trust anchor is the root's DS, written as [`super::ANCHOR_FILE`].

use std::net::Ipv4Addr;
use std::path::Path;

use anyhow::Context as _;
use hickory_proto::rr::{Name, RecordType};
use scoped_testkit::Zone;
use scoped_testkit::signed::{SignedHierarchy, Signing, sign_hierarchy};

use super::{ANCHOR_FILE, SOA_TIMES, leaf_zone, nsd_config, root_zone};

/// The signed root's server.
pub const ROOT: Ipv4Addr = Ipv4Addr::new(127, 54, 1, 1);
/// Its name: a name of the root zone itself, so its address is signed data there. (The
/// unsigned lab's `a.root.lab.` lies below the `lab.` cut: its address in the root zone is
/// glue, and Knot Resolver, validating, will not use it and cannot find it elsewhere without
/// first asking the root.)
pub const ROOT_NAME: &str = "a.root-servers.";
/// The signed `lab.`'s server.
pub const TLD: Ipv4Addr = Ipv4Addr::new(127, 54, 1, 2);
/// The signed `bench.lab.`'s server.
pub const LEAF: Ipv4Addr = Ipv4Addr::new(127, 54, 1, 3);

/// A secure name of the signed `bench.lab.` (the one to dig).
pub const SECURE_NAME: &str = "www.bench.lab.";
/// The name whose A record's signature is broken: bogus, SERVFAIL from a validating resolver.
pub const BOGUS_NAME: &str = "bogus.bench.lab.";

/// The three signed zones as zone-file text, and the trust anchor.
#[derive(Debug)]
pub struct SignedLab {
    /// `(origin, file name, zone-file text)` of the root, `lab.` and `bench.lab.`.
    pub zones: Vec<(String, &'static str, String)>,
    /// The root's DS records, one `. 86400 IN DS …` line each.
    pub anchor: String,
}

/// `lab.` in the signed hierarchy: only `bench.lab.` is delegated (the ECS zones stay in the
/// unsigned lab).
fn tld_zone() -> String {
    format!(
        "lab. 86400 IN SOA ns.nic.lab. hostmaster.nic.lab. {SOA_TIMES}\n\
         lab. 86400 IN NS ns.nic.lab.\n\
         ns.nic.lab. 86400 IN A {TLD}\n\
         bench.lab. 86400 IN NS ns.bench.lab.\n\
         ns.bench.lab. 86400 IN A {LEAF}\n"
    )
}

/// `bench.lab.` in the signed hierarchy: the unsigned lab's, plus the two names to dig.
fn bench_zone() -> String {
    format!(
        "{}{SECURE_NAME} 86400 IN A 192.0.2.80\n{BOGUS_NAME} 86400 IN A 192.0.2.66\n",
        leaf_zone(LEAF)
    )
}

/// Sign the hierarchy with fresh keys, signatures valid around `now` (seconds since the
/// epoch), [`BOGUS_NAME`]'s A signature corrupted; as zone files and trust anchor.
///
/// # Errors
///
/// When a zone does not parse or sign (a bug in the zones above).
pub fn sign(now: u32) -> anyhow::Result<SignedLab> {
    let hierarchy = hierarchy(now)?;
    let mut zones = Vec::new();
    for zone in &hierarchy.zones {
        let origin = zone.origin().to_ascii();
        let file = match origin.as_str() {
            "." => "root.zone",
            "lab." => "lab.zone",
            _ => "bench.lab.zone",
        };
        let text: String = zone
            .records()
            .map(|r| zone_file_line(&r.to_string()) + "\n")
            .collect();
        zones.push((origin, file, text));
    }
    Ok(SignedLab {
        zones,
        anchor: hierarchy.anchor_text,
    })
}

/// The signed zones as records (see [`sign`]).
fn hierarchy(now: u32) -> anyhow::Result<SignedHierarchy> {
    let zone = |origin: &str, text: &str| {
        Zone::parse(origin, text).with_context(|| format!("the signed lab's zone {origin}"))
    };
    let bogus = Name::from_ascii(BOGUS_NAME)?;
    let leaf = Signing {
        corrupt: vec![(bogus, RecordType::A)],
        ..Signing::new(now)
    };
    Ok(sign_hierarchy(vec![
        (
            zone(".", &root_zone((ROOT_NAME, ROOT), TLD))?,
            Some(Signing::new(now)),
        ),
        (zone("lab.", &tld_zone())?, Some(Signing::new(now))),
        (zone("bench.lab.", &bench_zone())?, Some(leaf)),
    ])?)
}

/// A record's presentation line as nsd reads it: an RRSIG's expiration and inception (fields
/// 9 and 10 of `owner TTL IN RRSIG type algorithm labels original-TTL expiration inception
/// …`) as `YYYYMMDDHHmmSS` in UTC, where hickory writes seconds since the epoch (RFC 4034
/// §3.2 allows both; nsd's parser takes only the first). Other lines are unchanged.
fn zone_file_line(line: &str) -> String {
    let mut fields: Vec<String> = line.split(' ').map(str::to_owned).collect();
    if fields.get(3).map(String::as_str) != Some("RRSIG") {
        return line.to_owned();
    }
    for field in fields.iter_mut().skip(8).take(2) {
        if let Ok(seconds) = field.parse::<u32>() {
            *field = utc_timestamp(seconds);
        }
    }
    fields.join(" ")
}

/// Seconds since the epoch as `YYYYMMDDHHmmSS` (UTC; civil date from the day count, after
/// Howard Hinnant's `civil_from_days`).
fn utc_timestamp(seconds: u32) -> String {
    let days = i64::from(seconds / 86_400) + 719_468;
    let time = seconds % 86_400;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}{:02}{:02}{:02}",
        time / 3600,
        time / 60 % 60,
        time % 60
    )
}

/// Write the signed zones, the trust anchor ([`ANCHOR_FILE`]) and the configuration of the
/// signed lab's nsd (with its control socket) into `dir`.
///
/// # Errors
///
/// When a file cannot be written.
pub fn write_nsd(dir: &Path, lab: &SignedLab) -> std::io::Result<()> {
    for (_, file, text) in &lab.zones {
        std::fs::write(dir.join(file), text)?;
    }
    std::fs::write(dir.join(ANCHOR_FILE), &lab.anchor)?;
    std::fs::write(
        dir.join("nsd.conf"),
        nsd_config(dir, [ROOT, TLD, LEAF], true),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-06 00:00 UTC.
    const NOW: u32 = 1_796_515_200;

    fn lab() -> SignedLab {
        sign(NOW).unwrap()
    }

    fn zone<'a>(lab: &'a SignedLab, origin: &str) -> &'a str {
        &lab.zones.iter().find(|(o, _, _)| o == origin).unwrap().2
    }

    fn lines_of<'a>(text: &'a str, owner: &str, rtype: &str) -> Vec<&'a str> {
        text.lines()
            .filter(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.first() == Some(&owner) && f.get(3) == Some(&rtype)
            })
            .collect()
    }

    #[test]
    fn every_zone_is_signed_and_every_delegation_has_its_ds() {
        let lab = lab();
        assert_eq!(lab.zones.len(), 3);
        for (origin, _, text) in &lab.zones {
            assert!(!lines_of(text, origin, "DNSKEY").is_empty(), "{origin}");
            assert!(!lines_of(text, origin, "NSEC").is_empty(), "{origin}");
            assert!(!lines_of(text, origin, "RRSIG").is_empty(), "{origin}");
        }
        assert!(!lines_of(zone(&lab, "."), "lab.", "DS").is_empty());
        assert!(!lines_of(zone(&lab, "lab."), "bench.lab.", "DS").is_empty());
        let bench = zone(&lab, "bench.lab.");
        assert!(!lines_of(bench, "*.wild.bench.lab.", "RRSIG").is_empty());
        assert!(!lines_of(bench, SECURE_NAME, "RRSIG").is_empty());
    }

    /// The root server's address is signed data of the root zone, not glue below `lab.`: a
    /// validating Knot Resolver refuses every query otherwise.
    #[test]
    fn the_root_servers_address_is_signed_in_the_root_zone() {
        let lab = lab();
        let root = zone(&lab, ".");
        assert_eq!(lines_of(root, ".", "NS"), [". 86400 IN NS a.root-servers."]);
        assert_eq!(
            lines_of(root, ROOT_NAME, "A"),
            ["a.root-servers. 86400 IN A 127.54.1.1"]
        );
        assert!(!lines_of(root, ROOT_NAME, "RRSIG").is_empty());
        assert!(!root.contains("a.root.lab."));
        assert!(!zone(&lab, "lab.").contains("a.root.lab."));
    }

    #[test]
    fn the_anchor_is_the_roots_ds_and_parses_as_a_trust_anchor_file() {
        let lab = lab();
        let ds: Vec<&str> = lab.anchor.lines().collect();
        assert_eq!(ds.len(), 1, "{}", lab.anchor);
        assert!(ds[0].starts_with(". 86400 IN DS "), "{}", ds[0]);
        scoped_dnssec::TrustAnchors::from_text(&lab.anchor).unwrap();
    }

    #[test]
    fn keys_are_made_per_run() {
        assert_ne!(lab().anchor, lab().anchor);
    }

    #[test]
    fn rrsig_times_are_written_as_utc_timestamps() {
        assert_eq!(utc_timestamp(0), "19700101000000");
        assert_eq!(utc_timestamp(NOW), "20261206000000");
        assert_eq!(utc_timestamp(951_825_599), "20000229115959");
        assert_eq!(utc_timestamp(u32::MAX), "21060207062815");
        let line =
            "a.lab. 3600 IN RRSIG A ECDSAP256SHA256 2 3600 1799107200 1796511600 27913 lab. AbC+/=";
        assert_eq!(
            zone_file_line(line),
            "a.lab. 3600 IN RRSIG A ECDSAP256SHA256 2 3600 20270105000000 20261205230000 27913 lab. AbC+/="
        );
        let other = "lab. 3600 IN NSEC a.lab. NS SOA RRSIG NSEC DNSKEY";
        assert_eq!(zone_file_line(other), other);
    }

    /// Every RRSIG line of the zone files carries both times as timestamps, none as a count.
    #[test]
    fn the_zone_files_have_no_rrsig_with_numeric_times() {
        let lab = lab();
        let mut rrsigs = 0;
        for (_, _, text) in &lab.zones {
            for line in text
                .lines()
                .filter(|l| l.split(' ').nth(3) == Some("RRSIG"))
            {
                let f: Vec<&str> = line.split(' ').collect();
                assert_eq!((f[8].len(), f[9].len()), (14, 14), "{line}");
                assert!(
                    f[8].starts_with("2027") && f[9].starts_with("2026"),
                    "{line}"
                );
                rrsigs += 1;
            }
        }
        assert!(rrsigs > 200, "{rrsigs}");
    }

    /// The bogus name's signature is the only broken one: every other RRSIG of `bench.lab.`
    /// verifies with the zone's keys.
    #[test]
    fn only_the_bogus_names_signature_fails_to_verify() {
        let hierarchy = hierarchy(NOW).unwrap();
        let bench = hierarchy
            .zones
            .iter()
            .find(|z| z.origin().to_ascii() == "bench.lab.")
            .unwrap();
        let verdicts = scoped_dnssec_check(bench, NOW);
        let failed: Vec<&String> = verdicts
            .iter()
            .filter(|(_, ok)| !ok)
            .map(|(n, _)| n)
            .collect();
        assert_eq!(failed, [&format!("{BOGUS_NAME} A")]);
        assert!(verdicts.len() > 100, "{}", verdicts.len());
    }

    /// Every RRSIG of `zone` checked against the RRset it covers and the zone's DNSKEYs at
    /// `now`: ("owner TYPE", verified) per RRSIG.
    fn scoped_dnssec_check(zone: &Zone, now: u32) -> Vec<(String, bool)> {
        use scoped_dnssec::verify::{dnskey_of, rrsig_of, verify_rrset};
        let records: Vec<_> = zone.records().cloned().collect();
        let keys: Vec<_> = records.iter().filter_map(dnskey_of).cloned().collect();
        let policy = scoped_dnssec::Policy::default();
        let mut out = Vec::new();
        for sig in &records {
            let Some(rrsig) = rrsig_of(sig) else { continue };
            let covered = rrsig.input().type_covered;
            let rrset: Vec<_> = records
                .iter()
                .filter(|r| r.name == sig.name && r.record_type() == covered)
                .cloned()
                .collect();
            let ok = verify_rrset(
                &rrset,
                std::slice::from_ref(sig),
                zone.origin(),
                &keys,
                now,
                &policy,
            );
            out.push((format!("{} {covered}", sig.name), ok.is_ok()));
        }
        out
    }

    #[test]
    fn the_signed_nsd_has_its_own_addresses_zones_and_control_socket() {
        let dir = Path::new("/r/run-1/validated");
        let config = nsd_config(dir, [ROOT, TLD, LEAF], true);
        for line in [
            "ip-address: 127.54.1.1",
            "ip-address: 127.54.1.2",
            "ip-address: 127.54.1.3",
            "control-enable: yes",
            "control-interface: \"/r/run-1/validated/nsd.ctl\"",
            "zonesdir: \"/r/run-1/validated\"",
        ] {
            assert!(config.contains(line), "{line}");
        }
        assert!(!config.contains("127.54.0."));
    }
}
