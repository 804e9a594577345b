//! The AA bit: answers without it are lame; the child's NS set read from an authoritative
//! answer's authority section.

use super::*;

#[test]
fn non_authoritative_answer_is_lame() {
    let mut msg = response(ResponseCode::NoError, false);
    msg.answers.push(a("www.example.com.", 66));
    let got = classify(
        &msg,
        &n("example.com."),
        &n("www.example.com."),
        RecordType::A,
    );
    assert_eq!(got, Classified::Lame(LameReason::NotAuthoritative));
    // After an alias too: the data at the end of the chain is what needs the AA bit.
    let mut msg = response(ResponseCode::NoError, false);
    msg.answers
        .push(cname("www.example.com.", "web.example.com."));
    msg.answers.push(a("web.example.com.", 66));
    let got = classify(
        &msg,
        &n("example.com."),
        &n("www.example.com."),
        RecordType::A,
    );
    assert_eq!(got, Classified::Lame(LameReason::NotAuthoritative));
}

#[test]
fn non_authoritative_cname_alone_still_leads_on() {
    let mut msg = response(ResponseCode::NoError, false);
    msg.answers
        .push(cname("www.example.com.", "web.example.net."));
    let got = classify(
        &msg,
        &n("example.com."),
        &n("www.example.com."),
        RecordType::A,
    );
    let Classified::Final(Step::Cname { next, .. }) = got else {
        panic!("expected an alias, got {got:?}");
    };
    assert_eq!(next, n("web.example.net."));
}

#[test]
fn lame_delegations_are_told_from_passing_failures() {
    assert!(LameReason::Rcode(ResponseCode::Refused).is_lame_delegation());
    assert!(LameReason::UpwardReferral.is_lame_delegation());
    assert!(LameReason::NotAuthoritative.is_lame_delegation());
    assert!(LameReason::UnaskedData.is_lame_delegation());
    assert!(!LameReason::Rcode(ResponseCode::ServFail).is_lame_delegation());
    assert!(!LameReason::Rcode(ResponseCode::FormErr).is_lame_delegation());
}

#[test]
fn the_childs_ns_set_is_read_from_an_authoritative_answer() {
    let mut msg = response(ResponseCode::NoError, true);
    msg.answers.push(a("www.child.example.", 1));
    msg.authorities
        .push(ns("child.example.", "ns1.child.example."));
    msg.authorities.push(ns("child.example.", "ns.other.net."));
    // Out of bailiwick, or not above the name: ignored.
    msg.authorities.push(ns("victim.net.", "ns.evil.net."));
    msg.authorities
        .push(ns("elsewhere.child.example.", "ns.evil.net."));
    msg.additionals.push(a("ns1.child.example.", 53));
    msg.additionals.push(a("ns.other.net.", 66));
    let (records, addresses) =
        authority_ns(&msg, &n("child.example."), &n("www.child.example.")).expect("an NS set");
    assert_eq!(
        records,
        vec![
            ns("child.example.", "ns1.child.example."),
            ns("child.example.", "ns.other.net.")
        ]
    );
    assert_eq!(addresses, vec![a("ns1.child.example.", 53)]);
    // Not from a non-authoritative response, nor without NS records.
    msg.metadata.authoritative = false;
    assert_eq!(
        authority_ns(&msg, &n("child.example."), &n("www.child.example.")),
        None
    );
    let plain = response(ResponseCode::NoError, true);
    assert_eq!(
        authority_ns(&plain, &n("child.example."), &n("www.child.example.")),
        None
    );
}
