//! systemd notifications (`Type=notify`) through a NOTIFY_SOCKET the test binds.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use crate::daemon::{Daemon, Dir};

fn next(socket: &UnixDatagram) -> String {
    let mut buf = [0u8; 4096];
    let n = socket
        .recv(&mut buf)
        .expect("a notification within the timeout");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn ready_after_binding_reloading_then_ready_on_sighup_and_stopping_on_sigterm() {
    let dir = Dir::new("notify");
    let socket_path = dir.0.join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    dir.write("allow.txt", "cdn.example.\n");
    let mut daemon = Daemon::start(
        dir,
        "[server]\nlisten = [\"127.0.0.1:0\"]\n[control]\nlisten = [\"127.0.0.1:0\"]\n\
         [ecs]\nallowlist = \"allow.txt\"\n",
        &[("NOTIFY_SOCKET", &socket_path)],
    );
    // The stdout lines are written once every socket is bound; READY follows.
    assert_eq!(next(&socket).trim(), "READY=1");
    daemon.signal("HUP");
    let reloading = next(&socket);
    let lines: Vec<&str> = reloading.lines().collect();
    assert_eq!(lines.first(), Some(&"RELOADING=1"), "{reloading:?}");
    let usec: u64 = lines
        .iter()
        .find_map(|l| l.strip_prefix("MONOTONIC_USEC="))
        .unwrap_or_else(|| panic!("no MONOTONIC_USEC in {reloading:?}"))
        .parse()
        .unwrap();
    assert!(usec > 0);
    assert_eq!(next(&socket).trim(), "READY=1");
    assert!(
        daemon.stderr().contains("configuration reloaded"),
        "{}",
        daemon.stderr()
    );
    assert!(daemon.stop().success());
    assert_eq!(next(&socket).trim(), "STOPPING=1");
}
