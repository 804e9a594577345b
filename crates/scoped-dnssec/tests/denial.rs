//! NSEC and NSEC3 denial proofs on zones signed at test time.

mod common;

use common::*;
use hickory_proto::rr::{Record, RecordType};
use scoped_dnssec::signer::{DenialChain, ZoneSigning};
use scoped_dnssec::{Denied, Kind, Policy, Security, ZoneKeys, prove_denial, verify_rrset};

struct Signed {
    records: Vec<Record>,
    keys: ZoneKeys,
}

impl Signed {
    fn new(denial: DenialChain) -> Self {
        let spec = ZoneSigning { denial, ..spec() };
        let records = sign(&spec);
        let keys = zone_keys(&records, &spec);
        Self { records, keys }
    }

    /// Every NSEC/NSEC3 record of the zone, signatures verified.
    fn all(&self) -> Vec<Record> {
        denial_records(&self.records, &self.keys, &denial_owners(&self.records))
    }

    fn prove(&self, qname: &str, denied: Denied) -> Security {
        self.prove_with(qname, denied, &self.all(), &Policy::default())
    }

    fn prove_with(
        &self,
        qname: &str,
        denied: Denied,
        records: &[Record],
        policy: &Policy,
    ) -> Security {
        prove_denial(&example(), &name(qname), &denied, records, policy)
    }
}

fn nsec3(iterations: u16, opt_out: bool) -> DenialChain {
    DenialChain::Nsec3 {
        salt: vec![0xab, 0xcd],
        iterations,
        opt_out,
    }
}

fn bogus_kind(status: &Security) -> Option<Kind> {
    match status {
        Security::Bogus(reason) => Some(reason.kind),
        _ => None,
    }
}

fn insecure_kind(status: &Security) -> Option<Kind> {
    match status {
        Security::Insecure(reason) => Some(reason.kind),
        _ => None,
    }
}

#[test]
fn nsec_nxdomain_needs_the_name_and_the_wildcard_denied() {
    let zone = Signed::new(DenialChain::Nsec);
    assert_eq!(
        zone.prove("nope.example.", Denied::NxDomain),
        Security::Secure
    );
    // Only the NSEC covering the name (mail → ns): the wildcard *.example. is not denied.
    let covering = denial_records(&zone.records, &zone.keys, &[name("mail.example.")]);
    let status = zone.prove_with(
        "nope.example.",
        Denied::NxDomain,
        &covering,
        &Policy::default(),
    );
    assert_eq!(bogus_kind(&status), Some(Kind::NsecMissing));
    assert_eq!(status.ede(), Some(12));
    // No denial records at all.
    let status = zone.prove_with("nope.example.", Denied::NxDomain, &[], &Policy::default());
    assert_eq!(bogus_kind(&status), Some(Kind::NsecMissing));
    // NXDOMAIN for a name that exists, for an empty non-terminal, or below a wildcard: refuted.
    for qname in ["www.example.", "b.example.", "nope.wild.example."] {
        let status = zone.prove(qname, Denied::NxDomain);
        assert!(status.is_bogus(), "{qname}: {status}");
    }
}

#[test]
fn nsec_nodata_checks_the_type_bitmap() {
    let zone = Signed::new(DenialChain::Nsec);
    assert_eq!(
        zone.prove("www.example.", Denied::NoData(RecordType::AAAA)),
        Security::Secure
    );
    // The empty non-terminal above a.b.example.
    assert_eq!(
        zone.prove("b.example.", Denied::NoData(RecordType::TXT)),
        Security::Secure
    );
    // A wildcard that matches the name but lacks the type.
    assert_eq!(
        zone.prove("foo.wild.example.", Denied::NoData(RecordType::AAAA)),
        Security::Secure
    );
    let refuted = [
        ("www.example.", RecordType::A, "the type is in the bitmap"),
        ("alias.example.", RecordType::A, "a CNAME is there"),
        (
            "insecure.example.",
            RecordType::A,
            "the data is in the child",
        ),
        (
            "foo.wild.example.",
            RecordType::A,
            "the wildcard has the type",
        ),
    ];
    for (qname, qtype, why) in refuted {
        let status = zone.prove(qname, Denied::NoData(qtype));
        assert_eq!(
            bogus_kind(&status),
            Some(Kind::DenialInvalid),
            "{qname} {qtype}: {why}"
        );
        assert_eq!(status.ede(), Some(6));
    }
    let status = zone.prove("nope.example.", Denied::NoData(RecordType::A));
    assert_eq!(
        bogus_kind(&status),
        Some(Kind::NsecMissing),
        "the name does not exist"
    );
}

#[test]
fn nsec_proves_a_delegation_unsigned_and_refutes_a_signed_one() {
    let zone = Signed::new(DenialChain::Nsec);
    assert_eq!(
        zone.prove("insecure.example.", Denied::NoData(RecordType::DS)),
        Security::Secure
    );
    let status = zone.prove("secure.example.", Denied::NoData(RecordType::DS));
    assert_eq!(bogus_kind(&status), Some(Kind::DenialInvalid));
    // The child's own apex NSEC (it has an SOA) cannot deny the DS: wrong side of the cut.
    let status = zone.prove("example.", Denied::NoData(RecordType::DS));
    assert_eq!(bogus_kind(&status), Some(Kind::DenialInvalid));
}

/// The A RRset of `*.wild.example.` as the server expands it for `qname`, with its RRSIGs.
fn expanded(records: &[Record], qname: &str) -> (Vec<Record>, Vec<Record>) {
    let owner = name(qname);
    let rename = |mut r: Record| {
        r.name = owner.clone();
        r
    };
    let data = rrset(records, "*.wild.example.", RecordType::A)
        .into_iter()
        .map(rename)
        .collect();
    let sigs = rrsigs(records, "*.wild.example.")
        .into_iter()
        .map(rename)
        .collect();
    (data, sigs)
}

fn wildcard_answer(zone: &Signed, qname: &str) -> Security {
    let (data, sigs) = expanded(&zone.records, qname);
    let verified = verify_rrset(
        &data,
        &sigs,
        &zone.keys.zone,
        &zone.keys.keys,
        NOW,
        &Policy::default(),
    )
    .expect("the expanded RRset verifies");
    let closest_encloser = verified
        .wildcard
        .expect("labels < owner labels: a wildcard expansion");
    assert_eq!(closest_encloser, name("wild.example."));
    zone.prove(qname, Denied::Wildcard { closest_encloser })
}

#[test]
fn wildcard_expansion_is_proven_with_nsec_and_nsec3() {
    for chain in [DenialChain::Nsec, nsec3(0, false), nsec3(10, true)] {
        let zone = Signed::new(chain.clone());
        assert_eq!(
            wildcard_answer(&zone, "foo.wild.example."),
            Security::Secure,
            "{chain:?}"
        );
        assert_eq!(
            wildcard_answer(&zone, "a.b.foo.wild.example."),
            Security::Secure,
            "{chain:?}"
        );
        // A forged expansion for a name that exists: nothing proves it absent.
        let status = wildcard_answer(&zone, "real.wild.example.");
        assert!(status.is_bogus(), "{chain:?}: {status}");
        // Without the denial records the expansion is unproven.
        let (data, sigs) = expanded(&zone.records, "foo.wild.example.");
        let verified = verify_rrset(
            &data,
            &sigs,
            &zone.keys.zone,
            &zone.keys.keys,
            NOW,
            &Policy::default(),
        )
        .unwrap();
        let status = zone.prove_with(
            "foo.wild.example.",
            Denied::Wildcard {
                closest_encloser: verified.wildcard.unwrap(),
            },
            &[],
            &Policy::default(),
        );
        assert_eq!(bogus_kind(&status), Some(Kind::NsecMissing));
    }
}

#[test]
fn nsec3_nxdomain_and_nodata() {
    let zone = Signed::new(nsec3(5, false));
    assert_eq!(
        zone.prove("nope.example.", Denied::NxDomain),
        Security::Secure
    );
    assert_eq!(
        zone.prove("x.nope.example.", Denied::NxDomain),
        Security::Secure
    );
    assert_eq!(
        zone.prove("www.example.", Denied::NoData(RecordType::AAAA)),
        Security::Secure
    );
    assert_eq!(
        zone.prove("b.example.", Denied::NoData(RecordType::TXT)),
        Security::Secure
    );
    assert_eq!(
        zone.prove("foo.wild.example.", Denied::NoData(RecordType::AAAA)),
        Security::Secure
    );
    // Without opt-out the unsigned delegation has its own NSEC3: NS, no DS.
    assert_eq!(
        zone.prove("insecure.example.", Denied::NoData(RecordType::DS)),
        Security::Secure
    );
    for (qname, denied) in [
        ("www.example.", Denied::NxDomain),
        ("nope.wild.example.", Denied::NxDomain),
        ("www.example.", Denied::NoData(RecordType::A)),
        ("alias.example.", Denied::NoData(RecordType::A)),
        ("secure.example.", Denied::NoData(RecordType::DS)),
    ] {
        let status = zone.prove(qname, denied.clone());
        assert_eq!(
            bogus_kind(&status),
            Some(Kind::DenialInvalid),
            "{qname} {denied:?}"
        );
    }
    let status = zone.prove("nope.example.", Denied::NoData(RecordType::A));
    assert_eq!(bogus_kind(&status), Some(Kind::NsecMissing));
    // Only the apex NSEC3: the next closer name is not covered.
    let apex = zone
        .all()
        .into_iter()
        .filter(|r| {
            let owner =
                scoped_dnssec::denial::nsec3_owner(&example(), &example(), &[0xab, 0xcd], 5);
            Some(&r.name) == owner.as_ref()
        })
        .collect::<Vec<_>>();
    assert_eq!(apex.len(), 1);
    let status = zone.prove_with("nope.example.", Denied::NxDomain, &apex, &Policy::default());
    assert_eq!(bogus_kind(&status), Some(Kind::NsecMissing));
}

#[test]
fn nsec3_opt_out_makes_the_unsigned_delegation_insecure() {
    let zone = Signed::new(nsec3(0, true));
    let status = zone.prove("insecure.example.", Denied::NoData(RecordType::DS));
    assert_eq!(insecure_kind(&status), Some(Kind::OptOut), "{status}");
    assert_eq!(status.ede(), None);
    // The signed delegation is in the chain, with its DS bit: no opt-out excuse.
    let status = zone.prove("secure.example.", Denied::NoData(RecordType::DS));
    assert_eq!(bogus_kind(&status), Some(Kind::DenialInvalid));
    // A name in an opt-out span may hide an unsigned delegation: NXDOMAIN is insecure.
    let status = zone.prove("nope.example.", Denied::NxDomain);
    assert_eq!(insecure_kind(&status), Some(Kind::OptOut));
    // Data proven absent at a name that is in the chain stays secure.
    assert_eq!(
        zone.prove("www.example.", Denied::NoData(RecordType::AAAA)),
        Security::Secure
    );
}

#[test]
fn nsec3_iterations_above_the_limit_are_insecure_with_ede_27() {
    let zone = Signed::new(nsec3(200, false));
    let status = zone.prove("nope.example.", Denied::NxDomain);
    assert_eq!(
        insecure_kind(&status),
        Some(Kind::Nsec3Iterations),
        "{status}"
    );
    assert_eq!(status.ede(), Some(27));
    let lenient = Policy {
        nsec3_max_iterations: 200,
        ..Policy::default()
    };
    let records = zone.all();
    assert_eq!(
        zone.prove_with("nope.example.", Denied::NxDomain, &records, &lenient),
        Security::Secure
    );
    // At the default limit exactly, still validated.
    let zone = Signed::new(nsec3(150, false));
    assert_eq!(
        zone.prove("nope.example.", Denied::NxDomain),
        Security::Secure
    );
}

#[test]
fn denial_records_of_another_zone_are_ignored() {
    let zone = Signed::new(DenialChain::Nsec);
    let status = prove_denial(
        &name("other."),
        &name("nope.other."),
        &Denied::NxDomain,
        &zone.all(),
        &Policy::default(),
    );
    assert_eq!(bogus_kind(&status), Some(Kind::NsecMissing));
}
