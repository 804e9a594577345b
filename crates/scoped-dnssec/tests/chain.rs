//! Signatures and chains of trust on zones signed at test time.

mod common;

use common::*;
use hickory_proto::rr::RecordType;
use scoped_dnssec::signer::{Key, Validity, ZoneSigning, corrupt_rrsigs};
use scoped_dnssec::{
    Algorithm, ChainResult, DigestType, Kind, Policy, Security, Trust, TrustAnchors,
    validate_zone_keys, verify_rrset,
};

fn chain(records: &[hickory_proto::rr::Record], ds: &[scoped_dnssec::DS]) -> ChainResult {
    validate_zone_keys(
        &example(),
        Trust::ds(ds),
        &rrset(records, "example.", RecordType::DNSKEY),
        &rrsigs(records, "example."),
        NOW,
        &Policy::default(),
    )
}

fn ds_of(spec: &ZoneSigning) -> Vec<scoped_dnssec::DS> {
    spec.ksks
        .iter()
        .map(|k| k.ds(&example(), DigestType::SHA256).unwrap())
        .collect()
}

#[test]
fn secure_rrset_from_the_parent_ds() {
    for algorithm in [
        Algorithm::ECDSAP256SHA256,
        Algorithm::ECDSAP384SHA384,
        Algorithm::ED25519,
    ] {
        let spec = ZoneSigning::generate(algorithm, NOW).unwrap();
        let records = sign(&spec);
        let keys = zone_keys(&records, &spec);
        assert_eq!(keys.entry_key_tag, spec.ksks[0].key_tag());
        assert_eq!(keys.keys.len(), 2, "KSK and ZSK both sign zone data");
        let www = rrset(&records, "www.example.", RecordType::A);
        let verified = verify_rrset(
            &www,
            &rrsigs(&records, "www.example."),
            &keys.zone,
            &keys.keys,
            NOW,
            &Policy::default(),
        )
        .unwrap_or_else(|e| panic!("{algorithm}: {e}"));
        assert_eq!(verified.key_tag, spec.zsks[0].key_tag());
        assert_eq!(verified.ttl, 3600);
        assert_eq!(verified.wildcard, None);
    }
}

#[test]
fn ttl_is_capped_by_signature_expiry() {
    let mut spec = spec();
    spec.validity = Validity {
        inception: NOW - 10,
        expiration: NOW + 100,
    };
    let records = sign(&spec);
    let keys = zone_keys(&records, &spec);
    let verified = verify_rrset(
        &rrset(&records, "www.example.", RecordType::A),
        &rrsigs(&records, "www.example."),
        &keys.zone,
        &keys.keys,
        NOW,
        &Policy::default(),
    )
    .unwrap();
    assert_eq!(verified.ttl, 100);
}

#[test]
fn expired_and_not_yet_valid_signatures_are_bogus() {
    let cases = [
        (
            Validity {
                inception: NOW - 7200,
                expiration: NOW - 1,
            },
            Kind::SignatureExpired,
            7,
        ),
        (
            Validity {
                inception: NOW + 60,
                expiration: NOW + 7200,
            },
            Kind::SignatureNotYetValid,
            8,
        ),
    ];
    for (validity, kind, ede) in cases {
        let mut spec = spec();
        spec.validity = validity;
        let records = sign(&spec);
        let ChainResult::Bogus(reason) = chain(&records, &ds_of(&spec)) else {
            panic!("{kind:?}: the DNSKEY RRset must be bogus");
        };
        assert_eq!(reason.kind, kind);
        assert_eq!(reason.key_tag, Some(spec.ksks[0].key_tag()));
        assert_eq!(Security::Bogus(reason).ede(), Some(ede));
        // The zone data, checked against keys known good, fails the same way.
        let keys: Vec<_> = spec.zsks.iter().map(|k| k.dnskey().clone()).collect();
        let err = verify_rrset(
            &rrset(&records, "www.example.", RecordType::A),
            &rrsigs(&records, "www.example."),
            &example(),
            &keys,
            NOW,
            &Policy::default(),
        )
        .unwrap_err();
        assert_eq!(err.kind, kind);
    }
}

#[test]
fn one_corrupted_rrsig_leaves_its_sibling_secure() {
    let spec = spec();
    let mut records = sign(&spec);
    assert_eq!(
        corrupt_rrsigs(&mut records, &name("www.example."), RecordType::A),
        1
    );
    let keys = zone_keys(&records, &spec);
    let check = |owner: &str| {
        verify_rrset(
            &rrset(&records, owner, RecordType::A),
            &rrsigs(&records, owner),
            &keys.zone,
            &keys.keys,
            NOW,
            &Policy::default(),
        )
    };
    let err = check("www.example.").unwrap_err();
    assert_eq!(err.kind, Kind::SignatureInvalid);
    assert_eq!(err.key_tag, Some(spec.zsks[0].key_tag()));
    assert_eq!(err.kind.ede(), Some(6));
    assert!(check("mail.example.").is_ok(), "the sibling stays secure");
}

#[test]
fn tampered_data_and_missing_signatures_are_bogus() {
    let spec = spec();
    let records = sign(&spec);
    let keys = zone_keys(&records, &spec);
    let mut www = rrset(&records, "www.example.", RecordType::A);
    www.pop();
    let err = verify_rrset(
        &www,
        &rrsigs(&records, "www.example."),
        &keys.zone,
        &keys.keys,
        NOW,
        &Policy::default(),
    )
    .unwrap_err();
    assert_eq!(err.kind, Kind::SignatureInvalid, "one address dropped");
    let err = verify_rrset(
        &rrset(&records, "www.example.", RecordType::A),
        &[],
        &keys.zone,
        &keys.keys,
        NOW,
        &Policy::default(),
    )
    .unwrap_err();
    assert_eq!(err.kind, Kind::RrsigsMissing);
    assert_eq!(err.kind.ede(), Some(10));
    // Signed by the zone, but checked as if it belonged to another zone: the signer name differs.
    let err = verify_rrset(
        &rrset(&records, "www.example.", RecordType::A),
        &rrsigs(&records, "www.example."),
        &name("www.example."),
        &keys.keys,
        NOW,
        &Policy::default(),
    )
    .unwrap_err();
    assert_eq!(err.kind, Kind::RrsigsMissing);
    // A key set without the ZSK: no DNSKEY for the RRSIG's key tag.
    let ksk_only = vec![spec.ksks[0].dnskey().clone()];
    let err = verify_rrset(
        &rrset(&records, "www.example.", RecordType::A),
        &rrsigs(&records, "www.example."),
        &keys.zone,
        &ksk_only,
        NOW,
        &Policy::default(),
    )
    .unwrap_err();
    assert_eq!(err.kind, Kind::DnskeyMissing);
}

#[test]
fn ds_matching_no_key_is_bogus_dnskey_missing() {
    let spec = spec();
    let records = sign(&spec);
    let stray = Key::generate(Algorithm::ECDSAP256SHA256, true).unwrap();
    let ds = vec![stray.ds(&example(), DigestType::SHA256).unwrap()];
    let ChainResult::Bogus(reason) = chain(&records, &ds) else {
        panic!("a DS that matches no key must be bogus");
    };
    assert_eq!(reason.kind, Kind::DnskeyMissing);
    assert_eq!(reason.key_tag, Some(stray.key_tag()));
    assert_eq!(reason.kind.ede(), Some(9));
    assert!(reason.to_string().contains("example."), "{reason}");
}

#[test]
fn dnskey_rrset_signed_only_by_the_zsk_is_bogus() {
    let spec = spec();
    let records = sign(&spec);
    let ksk_tag = spec.ksks[0].key_tag();
    let sigs: Vec<_> = rrsigs(&records, "example.")
        .into_iter()
        .filter(|r| scoped_dnssec::verify::rrsig_of(r).unwrap().input().key_tag != ksk_tag)
        .collect();
    let result = validate_zone_keys(
        &example(),
        Trust::ds(&ds_of(&spec)),
        &rrset(&records, "example.", RecordType::DNSKEY),
        &sigs,
        NOW,
        &Policy::default(),
    );
    assert!(
        matches!(result, ChainResult::Bogus(ref r) if r.kind == Kind::RrsigsMissing),
        "{result:?}"
    );
}

#[test]
fn only_unsupported_algorithms_or_digests_are_insecure_never_bogus() {
    let spec = ZoneSigning {
        ksks: vec![Key::unsupported(253, true)],
        zsks: vec![Key::unsupported(253, false)],
        ..spec()
    };
    let records = sign(&spec);
    let result = chain(&records, &ds_of(&spec));
    let ChainResult::Insecure(reason) = result else {
        panic!("unsupported algorithm must be insecure: {result:?}");
    };
    assert_eq!(reason.kind, Kind::UnsupportedAlgorithm);
    assert_eq!(result_ede(&reason), Some(1));

    // A supported key whose only DS uses an unknown digest type (3, GOST): insecure, EDE 2.
    let spec = self::spec();
    let records = sign(&spec);
    let good = spec.ksks[0].ds(&example(), DigestType::SHA256).unwrap();
    let gost = scoped_dnssec::DS::new(
        good.key_tag(),
        good.algorithm(),
        DigestType::from(3),
        good.digest().to_vec(),
    );
    let ChainResult::Insecure(reason) = chain(&records, std::slice::from_ref(&gost)) else {
        panic!("unsupported digest must be insecure");
    };
    assert_eq!(reason.kind, Kind::UnsupportedDigest);
    assert_eq!(result_ede(&reason), Some(2));
    // With a supported DS beside it, the zone is secure.
    assert!(matches!(
        chain(&records, &[gost, good]),
        ChainResult::Secure(_)
    ));
}

fn result_ede(reason: &scoped_dnssec::Reason) -> Option<u16> {
    Security::Insecure(reason.clone()).ede()
}

#[test]
fn ksk_rollover_either_ds_validates() {
    let old = Key::generate(Algorithm::ECDSAP256SHA256, true).unwrap();
    let new = Key::generate(Algorithm::ED25519, true).unwrap();
    let (old_tag, new_tag) = (old.key_tag(), new.key_tag());
    let spec = ZoneSigning {
        ksks: vec![old, new],
        ..spec()
    };
    let records = sign(&spec);
    for (i, tag) in [old_tag, new_tag].into_iter().enumerate() {
        let ds = vec![spec.ksks[i].ds(&example(), DigestType::SHA256).unwrap()];
        let ChainResult::Secure(keys) = chain(&records, &ds) else {
            panic!("DS for KSK {tag} must validate during the roll");
        };
        assert_eq!(keys.entry_key_tag, tag);
        assert_eq!(keys.keys.len(), 3);
    }
    // Once the DNSKEY RRset no longer carries the old KSK's signature, its DS alone fails.
    let sigs: Vec<_> = rrsigs(&records, "example.")
        .into_iter()
        .filter(|r| scoped_dnssec::verify::rrsig_of(r).unwrap().input().key_tag != old_tag)
        .collect();
    let ds = vec![spec.ksks[0].ds(&example(), DigestType::SHA256).unwrap()];
    let result = validate_zone_keys(
        &example(),
        Trust::ds(&ds),
        &rrset(&records, "example.", RecordType::DNSKEY),
        &sigs,
        NOW,
        &Policy::default(),
    );
    assert!(matches!(result, ChainResult::Bogus(_)), "{result:?}");
}

#[test]
fn ds_and_dnskey_trust_anchors_from_a_file() {
    let spec = spec();
    let records = sign(&spec);
    let ksk = &spec.ksks[0];
    let ds = ksk.ds(&example(), DigestType::SHA256).unwrap();
    for text in [
        format!("; DS anchor\nexample. 3600 IN DS {ds}\n"),
        format!("$ORIGIN example.\n@ IN DNSKEY {}\n", ksk.dnskey()),
    ] {
        let anchors = TrustAnchors::from_text(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let anchor = anchors
            .closest(&name("www.example."))
            .expect("anchor covers www");
        assert_eq!(anchor.zone, example());
        let result = validate_zone_keys(
            &example(),
            anchor.trust(),
            &rrset(&records, "example.", RecordType::DNSKEY),
            &rrsigs(&records, "example."),
            NOW,
            &Policy::default(),
        );
        assert!(
            matches!(result, ChainResult::Secure(_)),
            "{text}: {result:?}"
        );
        assert!(anchors.closest(&name("example.org.")).is_none());
    }
    // An anchor for another key of the zone (a ZSK is not in the file): bogus.
    let stray = Key::generate(Algorithm::ECDSAP256SHA256, true).unwrap();
    let text = format!("example. IN DNSKEY {}\n", stray.dnskey());
    let anchors = TrustAnchors::from_text(&text).unwrap();
    let anchor = anchors.closest(&example()).unwrap();
    let result = validate_zone_keys(
        &example(),
        anchor.trust(),
        &rrset(&records, "example.", RecordType::DNSKEY),
        &rrsigs(&records, "example."),
        NOW,
        &Policy::default(),
    );
    assert!(
        matches!(result, ChainResult::Bogus(ref r) if r.kind == Kind::DnskeyMissing),
        "{result:?}"
    );
}

#[test]
fn a_signed_child_chains_from_the_signed_parent() {
    // root → example: the root's DS RRset for example. is itself verified with the root's keys.
    let root_spec = ZoneSigning::generate(Algorithm::ED25519, NOW).unwrap();
    let child_spec = spec();
    let child = sign(&child_spec);
    let mut root_zone = parse(
        ".",
        "$TTL 86400\n@ IN SOA a.root. nstld. 1 1800 900 604800 86400\n@ IN NS a.root.\nexample. IN NS ns.example.\n",
    );
    root_zone.extend(child_spec.ds_records(&example(), 86400).unwrap());
    let root =
        scoped_dnssec::signer::sign_zone(&hickory_proto::rr::Name::root(), &root_zone, &root_spec)
            .unwrap();
    let anchors = {
        let mut a = TrustAnchors::empty();
        a.add_ds(
            &hickory_proto::rr::Name::root(),
            root_spec.ksks[0]
                .ds(&hickory_proto::rr::Name::root(), DigestType::SHA384)
                .unwrap(),
        );
        a
    };
    let anchor = anchors.closest(&name("www.example.")).unwrap();
    let ChainResult::Secure(root_keys) = validate_zone_keys(
        &anchor.zone,
        anchor.trust(),
        &rrset(&root, ".", RecordType::DNSKEY),
        &rrsigs(&root, "."),
        NOW,
        &Policy::default(),
    ) else {
        panic!("root keys");
    };
    let ds_records = rrset(&root, "example.", RecordType::DS);
    verify_rrset(
        &ds_records,
        &rrsigs(&root, "example."),
        &root_keys.zone,
        &root_keys.keys,
        NOW,
        &Policy::default(),
    )
    .expect("DS RRset signed by the root");
    let ds: Vec<_> = ds_records
        .iter()
        .filter_map(|r| match &r.data {
            hickory_proto::rr::RData::DNSSEC(scoped_dnssec::DNSSECRData::DS(d)) => Some(d.clone()),
            _ => None,
        })
        .collect();
    assert!(matches!(chain(&child, &ds), ChainResult::Secure(_)));
}
