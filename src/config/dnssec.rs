//! `[dnssec]`: validation on or off, the trust anchors, negative trust anchors (docs/dnssec.md).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::rr::Name;
use scoped_dnssec::{Policy, TrustAnchors};
use scoped_recursor::DnssecConfig;
use serde::Deserialize;

use super::ConfigError;

/// `[dnssec]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct DnssecSection {
    /// Validate answers (AD for secure data, SERVFAIL with an EDE for bogus data); `false`
    /// makes scoped a plain iterator.
    pub validation: bool,
    /// DS or DNSKEY lines in zone-file format (like Unbound's `trust-anchor-file`), relative to
    /// the configuration file; without it, the root KSKs built in (key tags 20326 and 38696).
    pub trust_anchor_file: Option<PathBuf>,
    /// Domains at and below which everything is treated as insecure (RFC 7646).
    pub negative_trust_anchors: Vec<String>,
    /// Where the RFC 5011 state of the anchors' keys is kept (relative to the configuration
    /// file): the anchored zones' keys are fetched again in the background (RFC 5011 §2.3), new
    /// keys are trusted after the 30-day add hold-down, revoked ones dropped at once and
    /// removed from the state after the 30-day remove hold-down. Without it the anchors never
    /// change.
    pub trust_anchor_state: Option<PathBuf>,
    /// NSEC3 records with more iterations than this make an answer insecure (RFC 9276).
    pub nsec3_max_iterations: u16,
    /// How long a bogus verdict is kept before the data is fetched and checked again.
    #[serde(with = "humantime_serde")]
    pub bogus_ttl: Duration,
    /// Answer NXDOMAIN and NODATA from validated NSEC and NSEC3 ranges without asking upstream
    /// (RFC 8198), like Unbound's `aggressive-nsec`; NSEC3 opt-out spans are not used.
    pub aggressive_nsec: bool,
}

impl Default for DnssecSection {
    fn default() -> Self {
        let policy = Policy::default();
        let engine = DnssecConfig::default();
        Self {
            // On unless the file says otherwise (the engine's own default is off, for library
            // users and the testkit's unsigned internets).
            validation: true,
            trust_anchor_file: None,
            negative_trust_anchors: Vec::new(),
            trust_anchor_state: None,
            nsec3_max_iterations: policy.nsec3_max_iterations,
            bogus_ttl: engine.bogus_ttl,
            aggressive_nsec: engine.aggressive_nsec,
        }
    }
}

impl DnssecSection {
    /// The engine's settings; `path` is the configuration file (relative paths, messages).
    pub(super) fn resolve(self, path: &Path) -> Result<DnssecConfig, ConfigError> {
        let invalid = |key: &'static str, problem: String| ConfigError::Invalid {
            path: path.to_owned(),
            key,
            problem,
        };
        let mut anchors = match &self.trust_anchor_file {
            Some(file) => {
                let full = path.parent().unwrap_or(Path::new(".")).join(file);
                let key = "dnssec.trust-anchor-file";
                let text = std::fs::read_to_string(&full)
                    .map_err(|e| invalid(key, format!("{}: {e}", full.display())))?;
                // The error names the line.
                TrustAnchors::from_text(&text)
                    .map_err(|e| invalid(key, format!("{}: {e}", full.display())))?
            }
            None => TrustAnchors::builtin(),
        };
        for text in &self.negative_trust_anchors {
            let name = Name::from_ascii(text)
                .map_err(|e| invalid("dnssec.negative-trust-anchors", format!("{text:?}: {e}")))?;
            let mut name = name.to_lowercase();
            name.set_fqdn(true);
            anchors.add_negative(name);
        }
        if self.bogus_ttl.is_zero() {
            return Err(invalid("dnssec.bogus-ttl", "must be positive".into()));
        }
        Ok(DnssecConfig {
            validation: self.validation,
            anchors: Arc::new(anchors),
            policy: Policy {
                nsec3_max_iterations: self.nsec3_max_iterations,
                ..Policy::default()
            },
            bogus_ttl: self.bogus_ttl,
            fixed_time: None,
            aggressive_nsec: self.aggressive_nsec,
            trust_anchor_state: self
                .trust_anchor_state
                .map(|file| path.parent().unwrap_or(Path::new(".")).join(file)),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::{Config, ConfigError};

    fn parse(text: &str, dir: &Path) -> Result<Config, ConfigError> {
        Config::parse(text, &dir.join("resolver.toml"))
    }

    fn temp_dir(tag: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("scoped-dnssec-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn an_empty_section_gives_the_defaults() {
        let config = Config::defaults();
        let dnssec = &config.recursor.dnssec;
        assert!(dnssec.validation, "validating by default");
        // The built-in root anchors.
        let root = dnssec.anchors.closest(&hickory_proto::rr::Name::root());
        assert!(root.is_some_and(|a| a.keys.len() == 2));
        assert_eq!(dnssec.bogus_ttl, std::time::Duration::from_secs(60));
        assert!(dnssec.aggressive_nsec, "RFC 8198 on by default");
    }

    #[test]
    fn keys_are_read() {
        let dir = temp_dir("keys");
        std::fs::write(
            dir.join("root.key"),
            ". 86400 IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n",
        )
        .unwrap();
        let text = "[dnssec]\nvalidation = false\ntrust-anchor-file = \"root.key\"\nnegative-trust-anchors = [\"Broken.Example\"]\ntrust-anchor-state = \"root.state\"\nnsec3-max-iterations = 50\nbogus-ttl = \"2m\"\naggressive-nsec = false\n";
        let config = parse(text, &dir).expect("valid");
        let dnssec = &config.recursor.dnssec;
        assert!(!dnssec.validation);
        let root = dnssec
            .anchors
            .closest(&hickory_proto::rr::Name::root())
            .unwrap();
        assert_eq!((root.ds.len(), root.keys.len()), (1, 0));
        let below = hickory_proto::rr::Name::from_ascii("www.broken.example.").unwrap();
        assert!(dnssec.anchors.negative_covering(&below).is_some());
        assert_eq!(dnssec.policy.nsec3_max_iterations, 50);
        assert!(!dnssec.aggressive_nsec);
        assert_eq!(dnssec.bogus_ttl, std::time::Duration::from_secs(120));
    }

    #[test]
    fn a_bad_anchor_file_names_the_line() {
        let dir = temp_dir("bad");
        std::fs::write(
            dir.join("root.key"),
            "; the root\n. 86400 IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\nexample. IN A 192.0.2.1\n",
        )
        .unwrap();
        let text = "[dnssec]\ntrust-anchor-file = \"root.key\"\n";
        let error = parse(text, &dir).expect_err("refused").to_string();
        assert!(error.contains("dnssec.trust-anchor-file"), "{error}");
        assert!(error.contains("line 3"), "{error}");
    }

    #[test]
    fn a_missing_anchor_file_and_a_bad_name_are_refused() {
        let dir = temp_dir("missing");
        let error = parse("[dnssec]\ntrust-anchor-file = \"nope.key\"\n", &dir)
            .expect_err("refused")
            .to_string();
        assert!(error.contains("nope.key"), "{error}");
        let error = parse("[dnssec]\nnegative-trust-anchors = [\"a..b\"]\n", &dir)
            .expect_err("refused")
            .to_string();
        assert!(error.contains("dnssec.negative-trust-anchors"), "{error}");
        let error = parse("[dnssec]\nunknown-key = 1\n", &dir).expect_err("refused");
        assert!(matches!(error, ConfigError::Parse { .. }));
    }
}
