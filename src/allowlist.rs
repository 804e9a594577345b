//! The ECS allowlist file: read when the configuration is loaded (`config.rs`) and again on every
//! reload (`reload.rs`), by the one function here, so both say the same about a bad file.

use std::io;
use std::path::{Path, PathBuf};

use scoped_ecs::{Allowlist, AllowlistError};

/// Why an allowlist file was not read; the message names the file (and the line).
#[derive(Debug, thiserror::Error)]
pub enum AllowlistFileError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A line is not an allowlist entry: `allow.txt: line 3: "192.0.2.0/33": prefix length 33
    /// is longer than 32`.
    #[error("{path}: {source}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The line and what is wrong with it ([`AllowlistError::kind`] says which rule).
        source: AllowlistError,
    },
}

/// Reads and parses the allowlist file at `path`; the first bad line is the error.
pub fn load_allowlist(path: &Path) -> Result<Allowlist, AllowlistFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| AllowlistFileError::Read {
        path: path.to_owned(),
        source,
    })?;
    Allowlist::parse(&text).map_err(|source| AllowlistFileError::Invalid {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use scoped_ecs::AllowlistErrorKind;

    use super::*;

    #[test]
    fn errors_name_the_file_and_the_line() {
        let dir = std::env::temp_dir().join(format!("scoped-allowlist-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("allow.txt");

        std::fs::write(&file, "cdn.example.\n192.0.2.1/24\n").unwrap();
        let err = load_allowlist(&file).unwrap_err();
        assert!(
            matches!(
                &err,
                AllowlistFileError::Invalid { source, .. }
                    if source.line == 2
                        && matches!(source.kind, AllowlistErrorKind::HostBitsSet { .. })
            ),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "{}: line 2: \"192.0.2.1/24\": bits are set past the prefix length (did you \
                 mean 192.0.2.0/24?)",
                file.display()
            )
        );

        std::fs::remove_file(&file).unwrap();
        let err = load_allowlist(&file).unwrap_err();
        assert!(
            matches!(&err, AllowlistFileError::Read { source, .. }
                if source.kind() == io::ErrorKind::NotFound),
            "{err:?}"
        );
        assert!(err.to_string().starts_with(&file.display().to_string()));
        std::fs::remove_dir_all(&dir).ok();
    }
}
