//! What the Debian package ships: its configuration, its systemd unit, the man pages and
//! completions generated from the command line, and the default configuration path.

use std::path::Path;
use std::process::Command;

use scoped::config::Config;
use scoped::locate::SYSTEM_CONFIG;

use crate::daemon::{Dir, scoped, text};

fn repo(file: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap()
}

#[test]
fn packaged_configuration_serves_loopback_port_53_as_the_scoped_user() {
    let dir = Dir::new("pkgconf");
    let config = dir.write("resolver.toml", &repo("packaging/resolver.toml"));
    dir.write("allowlist.txt", &repo("allowlist.txt"));
    let config = Config::load(&config).unwrap();
    assert!(!config.server.listen.is_empty());
    assert!(
        config
            .server
            .listen
            .iter()
            .all(|a| a.ip().is_loopback() && a.port() == 53)
    );
    assert_eq!(config.run_as.user.as_deref(), Some("scoped"));
    assert_eq!(config.allowlist_path, Some(dir.0.join("allowlist.txt")));
    assert!(config.control.is_some(), "scoped ctl works out of the box");
    // RFC 5011 state in the unit's StateDirectory.
    let state = config.recursor.dnssec.trust_anchor_state.as_deref();
    assert_eq!(
        state,
        Some(std::path::Path::new("/var/lib/scoped/root.state"))
    );
}

#[test]
fn systemd_unit_notifies_reloads_by_sighup_and_runs_unprivileged() {
    let unit = repo("packaging/scoped.service");
    let has = |line: &str| unit.lines().any(|l| l.trim() == line);
    for line in [
        "Type=notify",
        "ExecReload=/bin/kill -HUP $MAINPID",
        &format!("ExecStart=/usr/sbin/scoped serve --config {SYSTEM_CONFIG}"),
        "User=scoped",
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "StateDirectory=scoped",
    ] {
        assert!(has(line), "no {line:?} in the unit");
    }
    let manifest = repo("Cargo.toml");
    assert!(manifest.contains(r#""etc/scoped/resolver.toml""#));
    assert!(manifest.contains(r#""usr/sbin/scoped""#));
}

#[test]
fn man_pages_and_completions_come_from_the_command_line() {
    let dir = Dir::new("man");
    let out = scoped(&["man", dir.0.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let main = dir.read("scoped.8");
    assert!(main.contains(".TH scoped 8"), "{main}");
    assert!(
        main.contains("check\\-config"),
        "every command listed: {main}"
    );
    let serve = dir.read("scoped-serve.8");
    assert!(serve.contains("/etc/scoped/resolver.toml"), "{serve}");
    assert!(dir.read("scoped-ctl.8").contains("\\-\\-config"));
    for shell in ["bash", "zsh", "fish"] {
        let out = scoped(&["completions", shell]);
        assert!(out.status.success());
        let script = text(&out.stdout);
        assert!(
            script.contains("check-config") && script.contains("serve"),
            "{shell}"
        );
    }
}

#[test]
fn without_config_the_working_directorys_resolver_toml_comes_first() {
    // `scoped ctl` finds its endpoint as `serve` finds its configuration: ./resolver.toml,
    // whatever /etc/scoped holds. Nothing listens on the port: the message names it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = Dir::new("cwd");
    dir.write(
        "resolver.toml",
        &format!("[control]\nlisten = [\"127.0.0.1:{port}\"]\n"),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_scoped"))
        .args(["ctl", "health"])
        .current_dir(&dir.0)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("http://127.0.0.1:{port}")),
        "{stderr}"
    );
}
