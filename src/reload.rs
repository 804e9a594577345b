//! Re-reading the ECS allowlist while serving. One function, [`reload_allowlist`], serves every
//! way an operator can ask for it (SIGHUP, `POST /reload` on the control endpoint), so they
//! cannot drift apart: the file is parsed in full first, a bad file keeps the allowlist in force,
//! and the caches are kept either way.

use std::fmt;
use std::path::{Path, PathBuf};

use scoped_recursor::Recursor;
use tracing::{error, info};

use crate::allowlist::{AllowlistFileError, load_allowlist};

/// Who asked for a reload (for the log).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReloadTrigger {
    /// A SIGHUP.
    Signal,
    /// `POST /reload` on the control endpoint.
    Control,
}

impl ReloadTrigger {
    /// How the log names it: `SIGHUP`, `control endpoint`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Signal => "SIGHUP",
            Self::Control => "control endpoint",
        }
    }
}

impl fmt::Display for ReloadTrigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A successful reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloaded {
    /// The file read.
    pub file: PathBuf,
    /// Entries of the allowlist now in force.
    pub entries: usize,
}

/// Why nothing was reloaded; the allowlist in force is unchanged.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// `[ecs] allowlist` is not set: ECS goes nowhere and there is no file to read.
    #[error("no [ecs] allowlist file is configured: nothing to reload")]
    NotConfigured,
    /// The file could not be read or has a bad line (the message names file and line).
    #[error("ECS allowlist not reloaded, keeping the old one: {0}")]
    Invalid(#[source] AllowlistFileError),
}

/// Read the allowlist at `path` and put it in force in `recursor`; `trigger` says who asked
/// (for the log). Blocking: reads and parses the file.
pub fn reload_allowlist(
    recursor: &Recursor,
    path: Option<&Path>,
    trigger: ReloadTrigger,
) -> Result<Reloaded, ReloadError> {
    // Logged as the string it always was, so log lines and filters on them stay the same.
    let trigger = trigger.as_str();
    let Some(path) = path else {
        info!(trigger, "{}", ReloadError::NotConfigured);
        return Err(ReloadError::NotConfigured);
    };
    match load_allowlist(path) {
        Ok(allowlist) => {
            let entries = allowlist.len();
            recursor.set_allowlist(allowlist);
            info!(trigger, entries, file = %path.display(), "ECS allowlist reloaded");
            Ok(Reloaded {
                file: path.to_owned(),
                entries,
            })
        }
        Err(problem) => {
            let problem = ReloadError::Invalid(problem);
            error!(trigger, "{problem}");
            Err(problem)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use scoped_cache::{CacheConfig, RecordCache};
    use scoped_recursor::{NetTransport, RecursorConfig};

    use super::*;

    fn recursor() -> Recursor {
        let transport = Arc::new(NetTransport::new(&[]));
        Recursor::new(
            RecursorConfig::default(),
            RecordCache::new(CacheConfig::default()),
            transport,
        )
    }

    #[test]
    fn a_good_file_replaces_the_allowlist_and_a_bad_one_keeps_it() {
        let dir = std::env::temp_dir().join(format!("scoped-reload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("allow.txt");
        let recursor = recursor();

        std::fs::write(&file, "cdn.example.\n192.0.2.0/24\n").unwrap();
        let reloaded = reload_allowlist(&recursor, Some(&file), ReloadTrigger::Signal).unwrap();
        assert_eq!(reloaded.entries, 2);
        assert_eq!(recursor.allowlist().len(), 2);

        std::fs::write(&file, "cdn.example.\n# fine\n192.0.2.0/33\n").unwrap();
        let err = reload_allowlist(&recursor, Some(&file), ReloadTrigger::Control).unwrap_err();
        assert!(
            matches!(
                &err,
                ReloadError::Invalid(AllowlistFileError::Invalid { source, .. }) if source.line == 3
            ),
            "{err}"
        );
        assert!(err.to_string().contains("line 3"), "{err}");
        assert_eq!(recursor.allowlist().len(), 2, "the old allowlist stays");

        std::fs::remove_file(&file).unwrap();
        assert!(matches!(
            reload_allowlist(&recursor, Some(&file), ReloadTrigger::Signal),
            Err(ReloadError::Invalid(AllowlistFileError::Read { .. }))
        ));
        assert_eq!(recursor.allowlist().len(), 2);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn without_an_allowlist_file_there_is_nothing_to_reload() {
        assert!(matches!(
            reload_allowlist(&recursor(), None, ReloadTrigger::Signal),
            Err(ReloadError::NotConfigured)
        ));
    }

    #[test]
    fn triggers_are_named_as_the_log_always_named_them() {
        assert_eq!(ReloadTrigger::Signal.to_string(), "SIGHUP");
        assert_eq!(ReloadTrigger::Control.to_string(), "control endpoint");
    }
}
