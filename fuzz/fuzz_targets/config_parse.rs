//! `resolver.toml`: any text is a configuration or an error that says what is wrong; never a
//! panic. Keys naming other files (root hints, allowlist) are skipped: a fuzzed path could name
//! any file on the machine (`/dev/zero`), which is the operator's business, not the parser's.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let text = String::from_utf8_lossy(bytes);
    if text.contains("root-hints") || text.contains("allowlist") {
        return;
    }
    if let Err(error) = scoped::config::Config::parse(&text, Path::new("fuzz.toml")) {
        assert!(!error.to_string().is_empty());
    }
});
