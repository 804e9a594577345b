//! Arbitrary bytes through the front end's parse/validate step: it must never panic, and what it
//! accepts must be a single-question IN query with EDNS version 0 at most.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|wire: &[u8]| {
    if let Ok(query) = scoped_server::parse_query(wire) {
        assert_eq!(u16::from(query.query.query_class()), 1, "only IN passes");
        assert!(
            query.edns.is_none_or(|edns| edns.version() == 0),
            "only EDNS 0 passes"
        );
    }
});
