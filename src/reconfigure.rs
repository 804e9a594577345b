//! Reloading the whole configuration file (SIGHUP, `POST /reload`, `scoped ctl reload`).
//!
//! The file is read and validated in full first (as `check-config` would): a bad file keeps
//! everything in force and the error names the line. A good one is compared, key by key, with
//! the file the resolver started from. What can change live is applied: the ACL and the
//! front end's ECS policy (both take effect for the next query, on every listener), the ECS
//! allowlist (re-read every time, its file may have changed without the configuration), the log
//! level, the local zones and data (`[local]`), DNS64 (`[dns64]`) and the stub and forward zones
//! (`[[stub-zones]]`, `[[forward-zones]]`), put in force from every reload so the file's text is
//! what runs, and the certificate and key of the DoT and DoH listeners (re-read every time too:
//! renewed certificates are usually written over the same files; open connections keep theirs).
//! Every other changed key is named as needing a restart, in the log and in the answer, on every
//! reload until the restart, so no change is ever ignored silently.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use scoped_recursor::{Recursor, Routing};
use scoped_server::{Certificates, LocalZones, RulesHandle};
use tracing::{error, info, warn};

use crate::config::{Config, ConfigError};
use crate::logging::LogLevel;
use crate::reload::ReloadTrigger;

/// Keys applied by a reload; every other key needs a restart.
pub const LIVE_KEYS: &[&str] = &[
    "acl.allow",
    "ecs.allowlist",
    "ecs.enabled",
    "ecs.ipv4-prefix-length",
    "ecs.ipv6-prefix-length",
    "ecs.netblocks",
    "ecs.non-routable",
    "ecs.trusted-front-ends",
    "log.level",
    "local.nodefault",
    "local.zones",
    "local.records",
    "dns64.enabled",
    "dns64.prefix",
    "dns64.exclude",
    "stub-zones",
    "forward-zones",
    "server.tls-certificate",
    "server.tls-key",
    "cache.max-size",
    "cache.answer-cache-size",
    "ecs.cache-max-size",
    "ecs.max-tailored-per-name",
];

/// What a reload acts on in the running resolver.
#[derive(Clone, Copy)]
pub struct Targets<'a> {
    /// The engine: its ECS allowlist, stub and forward zones, DNS64.
    pub recursor: &'a Recursor,
    /// The front end's ACL and ECS policy.
    pub rules: &'a RulesHandle,
}

/// The configuration the resolver started from, and what a reload needs to apply a new one.
pub struct LiveConfig {
    /// The file (`None`: started on the built-in defaults; only the allowlist could be
    /// reloaded, and there is none).
    pub path: Option<PathBuf>,
    /// The file's text at start, as a table, to compare new versions with.
    started: toml::Table,
    /// The log filter's handle.
    log: LogLevel,
    /// The local zones the front end answers from, replaced in place.
    local: Arc<LocalZones>,
    /// The certificate of the DoT and DoH listeners, once they are bound (none without them).
    certificates: OnceLock<Arc<Certificates>>,
}

/// A reload that took effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconfigured {
    /// The configuration file read.
    pub file: PathBuf,
    /// The allowlist file read, if one is configured.
    pub allowlist: Option<PathBuf>,
    /// Its entries now in force.
    pub entries: usize,
    /// Changed keys (since start) that were applied.
    pub applied: Vec<String>,
    /// Changed keys (since start) that take effect only after a restart.
    pub needs_restart: Vec<String>,
    /// The certificate file re-read for the DoT and DoH listeners, if they run.
    pub certificate: Option<PathBuf>,
}

/// Why nothing was reloaded; everything in force stays.
#[derive(Debug, thiserror::Error)]
pub enum ReconfigureError {
    /// Started without a configuration file.
    #[error("scoped was started without a configuration file: nothing to reload")]
    NoFile,
    /// The new file is unreadable or invalid (the message names the line or key).
    #[error("configuration not reloaded, keeping the old one: {0}")]
    Invalid(#[source] ConfigError),
    /// The new certificate or key cannot be used; the old certificate stays in force.
    #[error("configuration not reloaded, keeping the old one and its certificate: {0}")]
    Certificate(#[source] scoped_server::TlsError),
}

impl LiveConfig {
    /// What `serve` started from: `path` (if any) and its text; `local` is the front end's
    /// table of local zones.
    pub fn new(path: Option<&Path>, log: LogLevel, local: Arc<LocalZones>) -> LiveConfig {
        let started = path
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|text| text.parse().ok())
            .unwrap_or_default();
        LiveConfig {
            path: path.map(Path::to_owned),
            started,
            log,
            local,
            certificates: OnceLock::new(),
        }
    }

    /// The certificate the encrypted listeners serve, for reloads to re-read (set once, after
    /// binding; `None` without DoT and DoH listeners).
    pub fn set_certificates(&self, certificates: Option<Arc<Certificates>>) {
        if let Some(certificates) = certificates {
            let _ = self.certificates.set(certificates);
        }
    }

    /// Re-reads the file and applies what can be applied; blocking (reads files).
    pub fn reload(
        &self,
        targets: Targets<'_>,
        trigger: ReloadTrigger,
    ) -> Result<Reconfigured, ReconfigureError> {
        let trigger = trigger.as_str();
        let Some(path) = &self.path else {
            info!(trigger, "{}", ReconfigureError::NoFile);
            return Err(ReconfigureError::NoFile);
        };
        let loaded = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })
            .and_then(|text| Ok((Config::parse(&text, path)?, text)));
        let (config, text) = match loaded {
            Ok(loaded) => loaded,
            Err(e) => {
                let problem = ReconfigureError::Invalid(e);
                error!(trigger, "{problem}");
                return Err(problem);
            }
        };
        // The certificate first: a bad one fails the whole reload, nothing applied.
        let certificate = match (self.certificates.get(), &config.server.tls) {
            (Some(certificates), Some(files)) => {
                if let Err(e) = certificates.reload(files) {
                    let problem = ReconfigureError::Certificate(e);
                    error!(trigger, "{problem}");
                    return Err(problem);
                }
                info!(trigger, file = %files.certificate.display(), "TLS certificate reloaded");
                Some(files.certificate.clone())
            }
            _ => None,
        };
        let new: toml::Table = text.parse().unwrap_or_default();
        // The rendered-answer cache is resized live, but turning it on or off (size 0) is the
        // fast path appearing or going: that needs a restart.
        let answers_toggled =
            targets.recursor.wire_cache().is_some() != (config.recursor.answer_cache_bytes > 0);
        let (applied, needs_restart): (Vec<String>, Vec<String>) =
            changed_keys(&self.started, &new)
                .into_iter()
                .partition(|key| {
                    LIVE_KEYS.contains(&key.as_str())
                        && !(answers_toggled && key == "cache.answer-cache-size")
                });
        let entries = config.recursor.ecs_allowlist.len();
        let recursor = targets.recursor;
        recursor.set_allowlist(config.recursor.ecs_allowlist.clone());
        targets
            .rules
            .replace(&config.server.allow, config.server.ecs.policy.clone());
        self.local.replace(&config.server.local);
        // The record cache takes its new size at once; the tailored cache settles at its new
        // size as its content turns over (`scoped-cache/src/limit.rs`).
        recursor.cache().set_max_bytes(config.cache.max_bytes);
        recursor
            .scoped_cache()
            .set_max_bytes(config.recursor.scoped_cache.max_bytes);
        recursor
            .scoped_cache()
            .set_max_tailored_per_family(config.recursor.scoped_cache.max_tailored_per_family);
        if let Some(answers) = recursor.wire_cache()
            && config.recursor.answer_cache_bytes > 0
        {
            answers.set_max_bytes(config.recursor.answer_cache_bytes);
        }
        recursor.set_routing(Routing {
            stub_zones: config.recursor.stub_zones.clone(),
            forward_zones: config.recursor.forward_zones.clone(),
            dns64: config.recursor.dns64.clone(),
        });
        if let Err(problem) = self.log.set(&config.log_level) {
            warn!(trigger, "log level not changed: {problem}");
        }
        let file = path.display().to_string();
        info!(
            trigger,
            file,
            entries,
            applied = ?applied,
            "configuration reloaded"
        );
        if !needs_restart.is_empty() {
            warn!(
                trigger,
                keys = ?needs_restart,
                "changed since start but applied only by a restart: {}",
                needs_restart.join(", ")
            );
        }
        Ok(Reconfigured {
            file: path.clone(),
            allowlist: config.allowlist_path,
            entries,
            applied,
            needs_restart,
            certificate,
        })
    }
}

/// The dotted keys whose values differ between two files (`server.listen`, `ecs.netblocks`),
/// written or defaulted: a key added, removed or changed. Top-level keys that are not tables
/// are named as they are.
pub fn changed_keys(old: &toml::Table, new: &toml::Table) -> Vec<String> {
    let empty = toml::Table::new();
    let mut sections: Vec<&String> = old.keys().chain(new.keys()).collect();
    sections.sort();
    sections.dedup();
    let mut changed = Vec::new();
    for section in sections {
        let (a, b) = (old.get(section), new.get(section));
        let (Some(toml::Value::Table(_)) | None, Some(toml::Value::Table(_)) | None) = (a, b)
        else {
            if a != b {
                changed.push(section.clone());
            }
            continue;
        };
        let a = a.and_then(toml::Value::as_table).unwrap_or(&empty);
        let b = b.and_then(toml::Value::as_table).unwrap_or(&empty);
        let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
        keys.sort();
        keys.dedup();
        changed.extend(
            keys.into_iter()
                .filter(|key| a.get(*key) != b.get(*key))
                .map(|key| format!("{section}.{key}")),
        );
    }
    changed
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::sync::Arc;

    use scoped_cache::{CacheConfig, RecordCache};
    use scoped_recursor::{NetTransport, RecursorConfig};

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_acl_and_ecs_policy_are_applied_and_a_bad_file_keeps_them() {
        let dir = std::env::temp_dir().join(format!("scoped-reconf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("resolver.toml");
        let start = "[acl]\nallow = [\"192.0.2.0/24\"]\n";
        std::fs::write(&file, start).unwrap();
        let config = Config::load(&file).unwrap();
        let rules = RulesHandle::new(&config.server.allow, config.server.ecs.policy.clone());
        let recursor = Recursor::new(
            RecursorConfig::default(),
            RecordCache::new(CacheConfig::default()),
            Arc::new(NetTransport::new(&[])),
        );
        let targets = Targets {
            recursor: &recursor,
            rules: &rules,
        };
        let live = LiveConfig::new(
            Some(&file),
            LogLevel::none(),
            Arc::clone(&config.server.local),
        );
        assert!(rules.current().acl.allows(ip("192.0.2.7")));

        std::fs::write(
            &file,
            "[acl]\nallow = [\"198.51.100.0/24\"]\n\
             [ecs]\nipv4-prefix-length = 20\ntrusted-front-ends = [\"198.51.100.53/32\"]\n",
        )
        .unwrap();
        let done = live.reload(targets, ReloadTrigger::Signal).unwrap();
        assert_eq!(
            done.applied,
            vec![
                "acl.allow",
                "ecs.ipv4-prefix-length",
                "ecs.trusted-front-ends"
            ]
        );
        assert!(done.needs_restart.is_empty(), "{:?}", done.needs_restart);
        let now = rules.current();
        assert!(!now.acl.allows(ip("192.0.2.7")));
        assert!(now.acl.allows(ip("198.51.100.7")));
        assert_eq!(now.subnet_policy.length_for(ip("81.2.69.142")), 20);
        assert!(now.subnet_policy.is_trusted(ip("198.51.100.53")));

        // The cache sizes move live (at once, or as the tailored cache turns over); turning the
        // rendered-answer cache off needs a restart.
        std::fs::write(
            &file,
            "[acl]\nallow = [\"198.51.100.0/24\"]\n\
             [cache]\nmax-size = \"64MiB\"\nanswer-cache-size = 0\n\
             [ecs]\nipv4-prefix-length = 20\ntrusted-front-ends = [\"198.51.100.53/32\"]\n\
             cache-max-size = \"32MiB\"\nmax-tailored-per-name = 7\n",
        )
        .unwrap();
        let done = live.reload(targets, ReloadTrigger::Signal).unwrap();
        assert_eq!(done.needs_restart, vec!["cache.answer-cache-size"]);
        assert!(
            done.applied
                .contains(&"ecs.max-tailored-per-name".to_owned())
        );
        assert!(done.applied.contains(&"cache.max-size".to_owned()));
        assert!(done.applied.contains(&"ecs.cache-max-size".to_owned()));
        assert_eq!(recursor.cache().max_bytes(), 64 << 20);
        assert_eq!(recursor.scoped_cache().max_bytes(), 32 << 20);
        assert_eq!(rules.version(), 2);

        // Host bits set: refused, the rules in force stay.
        std::fs::write(&file, "[acl]\nallow = [\"10.0.0.1/8\"]\n").unwrap();
        assert!(live.reload(targets, ReloadTrigger::Control).is_err());
        assert_eq!(rules.version(), 2, "not replaced by the bad file");
        assert!(rules.current().acl.allows(ip("198.51.100.7")));
        std::fs::remove_dir_all(&dir).ok();
    }

    fn table(text: &str) -> toml::Table {
        text.parse().unwrap()
    }

    #[test]
    fn changed_keys_are_named_section_by_section() {
        let old =
            table("[server]\nlisten = [\"127.0.0.1:53\"]\nthreads = 2\n[log]\nlevel = \"info\"\n");
        let new = table(
            "[server]\nlisten = [\"127.0.0.1:53\"]\nthreads = 4\n[log]\nlevel = \"debug\"\n\
             [acl]\nallow = [\"10.0.0.0/8\"]\n",
        );
        assert_eq!(
            changed_keys(&old, &new),
            vec!["acl.allow", "log.level", "server.threads"]
        );
        assert!(changed_keys(&old, &old).is_empty());
        assert_eq!(changed_keys(&new, &old), changed_keys(&old, &new));
    }

    #[test]
    fn local_data_dns64_stub_and_forward_zones_are_live_keys() {
        let old = table("[local]\nrecords = []\n");
        let new = table(
            "[local]\nrecords = [\"nas.home.arpa. A 192.168.1.30\"]\nzones = []\nnodefault = [\"test.\"]\n\
             [dns64]\nenabled = true\nprefix = \"64:ff9b::/96\"\nexclude = []\n\
             [[stub-zones]]\nname = \"corp.\"\naddresses = [\"10.0.0.53\"]\n\
             [[forward-zones]]\nname = \"lan.\"\naddresses = [\"192.168.1.1\"]\n",
        );
        let changed = changed_keys(&old, &new);
        assert_eq!(changed.len(), 8, "{changed:?}");
        for key in &changed {
            assert!(LIVE_KEYS.contains(&key.as_str()), "{key} needs a restart");
        }
    }
}
