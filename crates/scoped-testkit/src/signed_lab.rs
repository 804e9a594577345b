//! A small DNSSEC-signed hierarchy on 127.53.0.1–3, signed at a given time: root → `example.` →
//! `sub.example.`, where `sub.example.` has a DS at its parent that matches none of its keys. So
//! `www.example.` is secure and `www.sub.example.` is bogus (EDE 9). Served on loopback, it is
//! what the end-to-end DNSSEC test and the hand lab (`examples/lab.rs --signed`) resolve.

use crate::signed::{DsMode, Signing, sign_hierarchy};
use crate::{Internet, InternetBuilder, Zone};

const ROOT: &str = "$TTL 86400
@ IN SOA a.root. host. 1 1800 900 604800 86400
@ IN NS a.root.
a.root. IN A 127.53.0.1
example. IN NS ns.example.
ns.example. IN A 127.53.0.2
";

const EXAMPLE: &str = "$TTL 3600
@ IN SOA ns host 1 1800 900 604800 300
@ IN NS ns
ns IN A 127.53.0.2
www IN A 192.0.2.1
sub IN NS ns.sub
ns.sub IN A 127.53.0.3
";

const SUB: &str = "$TTL 3600
@ IN SOA ns host 1 1800 900 604800 300
@ IN NS ns
ns IN A 127.53.0.3
www IN A 192.0.2.9
";

/// The hierarchy signed at `now` (seconds since the epoch), and its root's DS as
/// trust-anchor-file text.
///
/// # Panics
/// If the fixed zones above fail to parse or sign (a bug in the testkit).
pub fn signed_lab_internet(now: u32) -> (Internet, String) {
    let zone = |origin: &str, text: &str| Zone::parse(origin, text).expect("a lab zone");
    let stray = Signing {
        ds: DsMode::Stray,
        ..Signing::new(now)
    };
    let hierarchy = sign_hierarchy(vec![
        (zone(".", ROOT), Some(Signing::new(now))),
        (zone("example.", EXAMPLE), Some(Signing::new(now))),
        (zone("sub.example.", SUB), Some(stray)),
    ])
    .expect("the lab hierarchy signs");
    let mut builder = InternetBuilder::new();
    hierarchy.add_to(&mut builder);
    builder
        .server([127, 53, 0, 1].into(), &["."])
        .server([127, 53, 0, 2].into(), &["example."])
        .server([127, 53, 0, 3].into(), &["sub.example."]);
    let internet = builder.build().expect("the lab internet");
    (internet, hierarchy.anchor_text)
}
