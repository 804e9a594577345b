//! Signed test internets: a hierarchy signed at test time validates from its own anchor, and
//! each negative-case knob breaks exactly what it should (checked with scoped-dnssec).

use hickory_proto::rr::{Name, RData, Record, RecordType};
use scoped_dnssec::verify::rrsig_of;
use scoped_dnssec::{
    ChainResult, DNSSECRData, DS, Kind, Policy, Trust, ZoneKeys, validate_zone_keys, verify_rrset,
};
use scoped_testkit::signed::{DsMode, Signing, sign_hierarchy};
use scoped_testkit::{Zone, name};

const NOW: u32 = 1_800_000_000;

fn zones() -> Vec<Zone> {
    vec![
        Zone::parse(".", "$TTL 86400\n@ IN SOA a.root. host. 1 1800 900 604800 86400\n@ IN NS a.root.\na.root. IN A 127.53.0.1\nexample. IN NS ns.example.\nns.example. IN A 127.53.0.2\n").unwrap(),
        Zone::parse("example.", "$TTL 3600\n@ IN SOA ns host 1 1800 900 604800 300\n@ IN NS ns\nns IN A 127.53.0.2\nwww IN A 192.0.2.1\nsub IN NS ns.sub\nns.sub IN A 127.53.0.3\n").unwrap(),
        Zone::parse("sub.example.", "$TTL 3600\n@ IN SOA ns host 1 1800 900 604800 300\n@ IN NS ns\nns IN A 127.53.0.3\nwww IN A 192.0.2.9\n").unwrap(),
    ]
}

fn records(zone: &Zone, owner: &Name, rtype: RecordType) -> Vec<Record> {
    zone.rrset(owner, rtype)
        .map(<[Record]>::to_vec)
        .unwrap_or_default()
}

fn rrsigs(zone: &Zone, owner: &Name) -> Vec<Record> {
    records(zone, owner, RecordType::RRSIG)
}

fn ds_of(records: &[Record]) -> Vec<DS> {
    records
        .iter()
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::DS(ds)) => Some(ds.clone()),
            _ => None,
        })
        .collect()
}

fn keys(zone: &Zone, trust: Trust<'_>) -> ChainResult {
    let apex = zone.origin();
    validate_zone_keys(
        apex,
        trust,
        &records(zone, apex, RecordType::DNSKEY),
        &rrsigs(zone, apex),
        NOW,
        &Policy::default(),
    )
}

/// Walk root → example → sub from the anchor: the keys of each zone, or the first failure.
fn walk(zones: &[Zone], anchor_ds: &[DS]) -> Result<Vec<ZoneKeys>, ChainResult> {
    let mut trusted = anchor_ds.to_vec();
    let mut out: Vec<ZoneKeys> = Vec::new();
    for origin in [".", "example.", "sub.example."] {
        let zone = zones.iter().find(|z| z.origin() == &name(origin)).unwrap();
        let result = keys(zone, Trust::ds(&trusted));
        let ChainResult::Secure(zone_keys) = result else {
            return Err(result);
        };
        // The child's DS RRset in this zone, verified with this zone's keys.
        if let Some(child) = ["example.", "sub.example."]
            .iter()
            .map(|c| name(c))
            .find(|c| c.base_name() == *zone.origin())
        {
            let ds = records(zone, &child, RecordType::DS);
            if !ds.is_empty() {
                verify_rrset(
                    &ds,
                    &rrsigs(zone, &child),
                    &zone_keys.zone,
                    &zone_keys.keys,
                    NOW,
                    &Policy::default(),
                )
                .expect("DS signed by the parent");
            }
            trusted = ds_of(&ds);
        }
        out.push(zone_keys);
    }
    Ok(out)
}

fn hierarchy(example: Signing) -> scoped_testkit::signed::SignedHierarchy {
    let mut zones = zones().into_iter();
    let (root, ex, sub) = (
        zones.next().unwrap(),
        zones.next().unwrap(),
        zones.next().unwrap(),
    );
    sign_hierarchy(vec![
        (root, Some(Signing::new(NOW))),
        (ex, Some(example)),
        (sub, Some(Signing::new(NOW))),
    ])
    .unwrap()
}

fn anchor_ds(h: &scoped_testkit::signed::SignedHierarchy) -> Vec<DS> {
    h.anchors
        .closest(&Name::root())
        .expect("root anchor")
        .ds
        .clone()
}

#[test]
fn a_signed_hierarchy_validates_from_its_anchor() {
    let h = hierarchy(Signing::new(NOW));
    assert!(h.zones.iter().all(Zone::is_signed));
    assert!(h.anchor_text.contains(" DS "), "{}", h.anchor_text);
    let chain = walk(&h.zones, &anchor_ds(&h)).expect("secure all the way down");
    let sub = &chain[2];
    let zone = h
        .zones
        .iter()
        .find(|z| z.origin() == &name("sub.example."))
        .unwrap();
    let www = name("www.sub.example.");
    verify_rrset(
        &records(zone, &www, RecordType::A),
        &rrsigs(zone, &www),
        &sub.zone,
        &sub.keys,
        NOW,
        &Policy::default(),
    )
    .unwrap();
    // Every RRSIG in the zone is by the zone itself.
    assert!(
        zone.records()
            .filter_map(rrsig_of)
            .all(|s| s.input().signer_name == name("sub.example."))
    );
}

#[test]
fn knobs_break_what_they_name() {
    let cases: Vec<(Signing, Kind)> = vec![
        (Signing::expired(NOW), Kind::SignatureExpired),
        (Signing::not_yet_valid(NOW), Kind::SignatureNotYetValid),
        (
            Signing {
                ds: DsMode::Stray,
                ..Signing::new(NOW)
            },
            Kind::DnskeyMissing,
        ),
        (
            Signing {
                unsupported_algorithm: Some(253),
                ..Signing::new(NOW)
            },
            Kind::UnsupportedAlgorithm,
        ),
        (
            Signing {
                ds: DsMode::None,
                ..Signing::new(NOW)
            },
            Kind::UnsignedDelegation,
        ),
    ];
    for (signing, kind) in cases {
        let h = hierarchy(signing);
        let Err(result) = walk(&h.zones, &anchor_ds(&h)) else {
            panic!("{kind:?}: the chain must break at example.");
        };
        let reason = match &result {
            ChainResult::Bogus(r) | ChainResult::Insecure(r) => r,
            ChainResult::Secure(_) => unreachable!(),
        };
        assert_eq!(reason.kind, kind, "{result:?}");
        assert_eq!(reason.zone, name("example."));
    }
}

#[test]
fn corrupt_and_ksk_roll_knobs() {
    let www = name("www.example.");
    let h = hierarchy(Signing {
        corrupt: vec![(www.clone(), RecordType::A)],
        ..Signing::new(NOW)
    });
    let chain = walk(&h.zones, &anchor_ds(&h)).expect("keys unaffected");
    let zone = h
        .zones
        .iter()
        .find(|z| z.origin() == &name("example."))
        .unwrap();
    let err = verify_rrset(
        &records(zone, &www, RecordType::A),
        &rrsigs(zone, &www),
        &chain[1].zone,
        &chain[1].keys,
        NOW,
        &Policy::default(),
    )
    .unwrap_err();
    assert_eq!(err.kind, Kind::SignatureInvalid);
    let ns = name("ns.example.");
    assert!(
        verify_rrset(
            &records(zone, &ns, RecordType::A),
            &rrsigs(zone, &ns),
            &chain[1].zone,
            &chain[1].keys,
            NOW,
            &Policy::default()
        )
        .is_ok()
    );

    for index in [0, 1] {
        let h = hierarchy(Signing {
            ksk_roll: true,
            ds: DsMode::Ksk(index),
            ..Signing::new(NOW)
        });
        let chain = walk(&h.zones, &anchor_ds(&h)).expect("either KSK's DS validates");
        assert_eq!(chain[1].keys.len(), 3);
    }
}
