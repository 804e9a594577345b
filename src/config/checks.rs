//! Checks of the file as written that its types cannot express, so that `check-config` refuses
//! what `serve` would refuse or silently get wrong: a log filter that would log nothing, prefixes
//! with host bits set, a listener given twice, a control endpoint on a DNS listener's TCP port.

use std::net::SocketAddr;

use ipnet::IpNet;
use tracing::level_filters::LevelFilter;

use super::FileConfig;

/// The first problem found, as the dotted key and what is wrong.
pub(super) fn check(file: &FileConfig) -> Result<(), (&'static str, String)> {
    log_filter(&file.log.level).map_err(|problem| ("log.level", problem))?;
    prefixes("acl.allow", file.acl.allow.iter())?;
    prefixes("recursion.do-not-query", file.recursion.do_not_query.iter())?;
    prefixes("ecs.netblocks", file.ecs.netblocks.iter().map(|b| &b.net))?;
    prefixes("ecs.non-routable", file.ecs.non_routable.iter().flatten())?;
    prefixes("ecs.trusted-front-ends", file.ecs.trusted_front_ends.iter())?;
    prefixes(
        "server.proxy-protocol-from",
        file.server.proxy_protocol_from.iter(),
    )?;
    listeners(file)?;
    for (key, name) in [
        ("server.user", &file.server.user),
        ("server.group", &file.server.group),
    ] {
        if name.as_deref().is_some_and(|n| n.trim().is_empty()) {
            return Err((key, "must name a user or group (or be left out)".into()));
        }
    }
    if file.server.group.is_some() && file.server.user.is_none() {
        return Err((
            "server.group",
            "needs server.user (the group is taken on when dropping to that user)".into(),
        ));
    }
    Ok(())
}

/// A tracing filter whose every directive names a level: `info`, `scoped_recursor=debug,warn`.
/// tracing itself takes a bare word (`verbos`) as a target to log at every level, which leaves
/// everything else off: a misspelt level would silence the resolver.
pub(super) fn log_filter(text: &str) -> Result<(), String> {
    if text.trim().is_empty() {
        return Err("is empty: name a level (trace, debug, info, warn, error or off)".into());
    }
    for directive in text.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let level = match directive.rsplit_once('=') {
            Some((_, level)) => level,
            // `target[span]` without a level: a span filter, valid as written.
            None if directive.contains('[') => continue,
            None => directive,
        };
        if level.trim().parse::<LevelFilter>().is_err() {
            return Err(format!(
                "{directive:?}: {level:?} is not a level (trace, debug, info, warn, error or \
                 off); write a level, or `target=level` for one module"
            ));
        }
    }
    tracing_subscriber::EnvFilter::builder()
        .parse(text)
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Every prefix of `key` is a network address: `10.0.0.1/8` is refused, suggesting `10.0.0.0/8`
/// (as the ECS allowlist does), since the bits past the length are ignored and were likely meant.
fn prefixes<'a>(
    key: &'static str,
    nets: impl Iterator<Item = &'a IpNet>,
) -> Result<(), (&'static str, String)> {
    for net in nets {
        if net.trunc() != *net {
            return Err((
                key,
                format!(
                    "{net}: bits are set past the prefix length (did you mean {}?)",
                    net.trunc()
                ),
            ));
        }
    }
    Ok(())
}

/// `server.listen` has no address twice, and the control endpoint does not want a DNS
/// listener's TCP port (serve would fail to bind one of them).
fn listeners(file: &FileConfig) -> Result<(), (&'static str, String)> {
    let listen = &file.server.listen;
    for (i, addr) in listen.iter().enumerate() {
        if addr.port() != 0 && listen[..i].iter().any(|earlier| clash(*earlier, *addr)) {
            return Err((
                "server.listen",
                format!("{addr} is given twice (or overlaps a wildcard address on its port)"),
            ));
        }
    }
    if file.control.enabled {
        for control in &file.control.listen {
            if let Some(dns) = listen.iter().find(|dns| clash(**dns, *control)) {
                return Err((
                    "control.listen",
                    format!("{control} is also a DNS listener ({dns} in server.listen)"),
                ));
            }
        }
    }
    Ok(())
}

/// Two listeners that cannot both bind: same port (not 0), same family, same or wildcard address.
fn clash(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() != 0
        && a.port() == b.port()
        && a.is_ipv4() == b.is_ipv4()
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{Config, ConfigError};

    fn problem(text: &str) -> (String, String) {
        match Config::parse(text, Path::new("t.toml")) {
            Err(ConfigError::Invalid { key, problem, .. }) => (key.to_owned(), problem),
            other => panic!("{text}: expected an invalid key, got {other:?}"),
        }
    }

    #[test]
    fn a_misspelt_log_level_is_refused_instead_of_silencing_the_log() {
        let (key, text) = problem("[log]\nlevel = \"verbos\"\n");
        assert_eq!(key, "log.level");
        assert!(text.contains("\"verbos\" is not a level"), "{text}");
        for bad in ["", "scoped=loud", "info,scoped_recursor"] {
            let (key, _) = problem(&format!("[log]\nlevel = {bad:?}\n"));
            assert_eq!(key, "log.level", "{bad:?}");
        }
        for good in [
            "info",
            "WARN",
            "off",
            "scoped_recursor=trace,info",
            "warn,scoped=debug",
        ] {
            Config::parse(&format!("[log]\nlevel = {good:?}\n"), Path::new("t.toml"))
                .unwrap_or_else(|e| panic!("{good:?}: {e}"));
        }
    }

    #[test]
    fn acl_and_other_prefixes_with_host_bits_are_refused_with_the_network_suggested() {
        let (key, text) = problem("[acl]\nallow = [\"10.0.0.1/8\"]\n");
        assert_eq!(key, "acl.allow");
        assert!(
            text.contains("10.0.0.1/8") && text.contains("did you mean 10.0.0.0/8?"),
            "{text}"
        );
        for (file, want) in [
            (
                "[recursion]\ndo-not-query = [\"192.0.2.1/24\"]\n",
                "recursion.do-not-query",
            ),
            (
                "[ecs]\ntrusted-front-ends = [\"2001:db8::1/64\"]\n",
                "ecs.trusted-front-ends",
            ),
            (
                "[ecs]\nnon-routable = [\"10.1.0.0/8\"]\n",
                "ecs.non-routable",
            ),
            (
                "[[ecs.netblocks]]\nnet = \"198.51.100.7/24\"\nlength = 20\n",
                "ecs.netblocks",
            ),
        ] {
            assert_eq!(problem(file).0, want, "{file}");
        }
        Config::parse(
            "[acl]\nallow = [\"10.0.0.0/8\", \"::1/128\"]\n",
            Path::new("t.toml"),
        )
        .unwrap();
    }

    #[test]
    fn clashing_listeners_are_refused() {
        let (key, text) = problem("[server]\nlisten = [\"127.0.0.1:53\", \"127.0.0.1:53\"]\n");
        assert_eq!(key, "server.listen");
        assert!(text.contains("127.0.0.1:53"), "{text}");
        assert_eq!(
            problem("[server]\nlisten = [\"0.0.0.0:53\", \"127.0.0.1:53\"]\n").0,
            "server.listen"
        );
        let (key, _) = problem("[server]\nlisten = [\"127.0.0.1:8953\"]\n");
        assert_eq!(key, "control.listen");
        // Port 0 is a fresh port each time, and a disabled endpoint binds nothing.
        Config::parse(
            "[server]\nlisten = [\"127.0.0.1:0\", \"127.0.0.1:0\"]\n",
            Path::new("t.toml"),
        )
        .unwrap();
        Config::parse(
            "[server]\nlisten = [\"127.0.0.1:8953\"]\n[control]\nenabled = false\n",
            Path::new("t.toml"),
        )
        .unwrap();
    }

    #[test]
    fn user_and_group_names_are_kept_and_a_group_needs_a_user() {
        let config = Config::parse(
            "[server]\nuser = \"scoped\"\ngroup = \"daemon\"\n",
            Path::new("t.toml"),
        )
        .unwrap();
        assert_eq!(config.run_as.user.as_deref(), Some("scoped"));
        assert_eq!(config.run_as.group.as_deref(), Some("daemon"));
        assert_eq!(problem("[server]\ngroup = \"daemon\"\n").0, "server.group");
        assert_eq!(problem("[server]\nuser = \" \"\n").0, "server.user");
    }
}
