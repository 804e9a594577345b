//! `scoped ctl --config FILE` and `--control HOST:PORT`.

use std::net::TcpListener;

use crate::daemon::{Daemon, Dir, scoped, text};

/// A loopback TCP port free at the time of asking.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn ctl_finds_the_endpoint_from_the_configuration_and_accepts_host_names() {
    let port = free_port();
    let dir = Dir::new("ctl");
    let config_path = dir.0.join("resolver.toml");
    let daemon = Daemon::start(
        dir,
        &format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\n[control]\nlisten = [\"127.0.0.1:{port}\"]\n"
        ),
        &[],
    );
    assert_eq!(
        daemon.control,
        Some(format!("127.0.0.1:{port}").parse().unwrap())
    );
    let config = config_path.to_str().unwrap();
    for flag in ["--config", "-c"] {
        let out = scoped(&["ctl", flag, config, "stats"]);
        assert!(out.status.success(), "{flag}: {}", text(&out.stderr));
        let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(stats.is_object(), "{stats}");
    }
    // localhost may resolve to ::1 first, where nothing listens: the next address is tried.
    let out = scoped(&["ctl", "--control", &format!("localhost:{port}"), "health"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The configuration without a control endpoint: ctl says so instead of guessing.
    let off = daemon.dir.write("off.toml", "[control]\nenabled = false\n");
    let out = scoped(&["ctl", "--config", off.to_str().unwrap(), "health"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("control endpoint is off"),
        "{}",
        text(&out.stderr)
    );
}
