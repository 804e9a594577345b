//! Dropping root after binding: `[server] user` (and `group`). Started as root, `serve` binds
//! every socket (port 53 included) and the control endpoint, then becomes that user for good:
//! supplementary groups replaced by the one group, then the group, then the user (real,
//! effective and saved IDs), after which regaining root is impossible, and checked to be so.

use nix::unistd::{
    Gid, Group, Uid, User, getegid, geteuid, getgid, getuid, setgid, setgroups, setuid,
};

/// The names as written in `[server]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunAsNames {
    /// `server.user`.
    pub user: Option<String>,
    /// `server.group` (default: the user's primary group).
    pub group: Option<String>,
}

/// A user and group that exist on this system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    /// The user's name.
    pub user: String,
    /// Its ID.
    pub uid: Uid,
    /// The group's name (or its number, if it has none).
    pub group: String,
    /// Its ID.
    pub gid: Gid,
}

/// Why the process cannot become the configured user.
#[derive(Debug, thiserror::Error)]
pub enum PrivilegeError {
    /// `server.user` names nobody.
    #[error("key `server.user`: there is no user {0:?} on this system")]
    NoUser(String),
    /// `server.group` names no group.
    #[error("key `server.group`: there is no group {0:?} on this system")]
    NoGroup(String),
    /// The user or group database could not be read.
    #[error("cannot look up {what}: {source}")]
    Lookup {
        /// What was looked up.
        what: String,
        /// Why it failed.
        source: nix::Error,
    },
    /// Not root, and not already the configured user.
    #[error(
        "[server] user = {user:?}: scoped runs as uid {uid}, and only root can become another \
         user (start it as root, or as {user:?} itself)"
    )]
    NotRoot {
        /// The configured user.
        user: String,
        /// Who we are.
        uid: Uid,
    },
    /// A system call of the drop failed.
    #[error("cannot become {user}:{group}: {step} failed: {source}")]
    Drop {
        /// The target user.
        user: String,
        /// The target group.
        group: String,
        /// `setgroups`, `setgid` or `setuid`.
        step: &'static str,
        /// The error.
        source: nix::Error,
    },
    /// After the drop, root could be regained (or the IDs are not the target's).
    #[error("privileges were not dropped for good (uid {uid}, euid {euid}); refusing to run")]
    NotDropped {
        /// The real user ID after the drop.
        uid: Uid,
        /// The effective user ID after the drop.
        euid: Uid,
    },
}

impl RunAsNames {
    /// Looks the names up; `None` when no user is configured.
    pub fn resolve(&self) -> Result<Option<RunAs>, PrivilegeError> {
        let Some(name) = &self.user else {
            return Ok(None);
        };
        let user = User::from_name(name)
            .map_err(|source| PrivilegeError::Lookup {
                what: format!("user {name:?}"),
                source,
            })?
            .ok_or_else(|| PrivilegeError::NoUser(name.clone()))?;
        let (group, gid) = match &self.group {
            Some(group_name) => {
                let group = Group::from_name(group_name)
                    .map_err(|source| PrivilegeError::Lookup {
                        what: format!("group {group_name:?}"),
                        source,
                    })?
                    .ok_or_else(|| PrivilegeError::NoGroup(group_name.clone()))?;
                (group.name, group.gid)
            }
            None => {
                let name = Group::from_gid(user.gid)
                    .ok()
                    .flatten()
                    .map_or_else(|| user.gid.to_string(), |g| g.name);
                (name, user.gid)
            }
        };
        Ok(Some(RunAs {
            user: user.name,
            uid: user.uid,
            group,
            gid,
        }))
    }
}

/// What [`drop_privileges`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Was root, is now the configured user and group.
    Dropped(RunAs),
    /// Was already the configured user (started so by systemd, say): nothing to do.
    AlreadyThatUser(RunAs),
    /// Runs as root and no user is configured: the caller warns.
    RootWithoutUser,
    /// Not root and no user configured: nothing to do.
    Unprivileged,
}

/// Becomes `target` for good if running as root; see the module documentation.
pub fn drop_privileges(target: Option<&RunAs>) -> Result<Outcome, PrivilegeError> {
    let euid = geteuid();
    let Some(target) = target else {
        return Ok(if euid.is_root() || getuid().is_root() {
            Outcome::RootWithoutUser
        } else {
            Outcome::Unprivileged
        });
    };
    if !euid.is_root() {
        if euid == target.uid && getuid() == target.uid {
            return Ok(Outcome::AlreadyThatUser(target.clone()));
        }
        return Err(PrivilegeError::NotRoot {
            user: target.user.clone(),
            uid: euid,
        });
    }
    let failed = |step: &'static str| {
        move |source| PrivilegeError::Drop {
            user: target.user.clone(),
            group: target.group.clone(),
            step,
            source,
        }
    };
    // Groups first: once the user is not root, it may no longer change them.
    setgroups(&[target.gid]).map_err(failed("setgroups"))?;
    setgid(target.gid).map_err(failed("setgid"))?;
    setuid(target.uid).map_err(failed("setuid"))?;
    let dropped = getuid() == target.uid
        && geteuid() == target.uid
        && getgid() == target.gid
        && getegid() == target.gid;
    if !dropped || (!target.uid.is_root() && setuid(Uid::from_raw(0)).is_ok()) {
        return Err(PrivilegeError::NotDropped {
            uid: getuid(),
            euid: geteuid(),
        });
    }
    Ok(Outcome::Dropped(target.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_user_configured_resolves_to_nothing() {
        assert_eq!(RunAsNames::default().resolve().unwrap(), None);
    }

    #[test]
    fn root_resolves_with_its_primary_group() {
        let names = RunAsNames {
            user: Some("root".into()),
            group: None,
        };
        let run_as = names.resolve().unwrap().unwrap();
        assert_eq!(run_as.uid, Uid::from_raw(0));
        assert_eq!(run_as.gid, Gid::from_raw(0));
    }

    #[test]
    fn unknown_user_and_group_are_named() {
        let names = RunAsNames {
            user: Some("no-such-user-scoped-test".into()),
            group: None,
        };
        let err = names.resolve().unwrap_err();
        assert!(matches!(err, PrivilegeError::NoUser(_)), "{err}");
        assert!(err.to_string().contains("server.user"), "{err}");
        let names = RunAsNames {
            user: Some("root".into()),
            group: Some("no-such-group-scoped-test".into()),
        };
        let err = names.resolve().unwrap_err();
        assert!(err.to_string().contains("server.group"), "{err}");
    }
}
