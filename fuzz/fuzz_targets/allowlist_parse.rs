//! The ECS allowlist file: any text parses or is refused with an error naming a line; never a
//! panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scoped_ecs::Allowlist;

fuzz_target!(|bytes: &[u8]| {
    let text = String::from_utf8_lossy(bytes);
    if let Err(error) = Allowlist::parse(&text) {
        assert!(!error.to_string().is_empty());
    }
});
