//! `[server] user`: started as root, scoped binds a port below 1024, then runs as that user.
//! Runs only when the tests run as root; otherwise says why it skipped.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use nix::unistd::{User, geteuid};
use scoped_testkit::{make_query, standard_internet};

use crate::daemon::{Daemon, Dir, scoped, text};

/// The uid and gid of `name`.
fn ids(name: &str) -> (u32, u32) {
    let user = User::from_name(name).unwrap().expect("the user exists");
    (user.uid.as_raw(), user.gid.as_raw())
}

/// A loopback port below 1024 free for both UDP and TCP.
fn privileged_port() -> u16 {
    (900..1000)
        .find(|&port| {
            UdpSocket::bind(("127.0.0.1", port)).is_ok()
                && TcpListener::bind(("127.0.0.1", port)).is_ok()
        })
        .expect("a free loopback port below 1024")
}

/// The values of a `/proc/PID/status` line (`Uid:`, `Gid:`, `Groups:`).
fn status_line(pid: u32, key: &str) -> Vec<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key} in {status}"));
    line.split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_binds_a_low_port_then_runs_as_the_configured_user_for_good() {
    if !nix_is_root() {
        eprintln!(
            "skipped: the privilege drop is tested only when the tests run as root \
             (this run is uid {})",
            geteuid()
        );
        return;
    }
    let (uid, gid) = ids("nobody");
    let internet = standard_internet();
    let net = internet
        .serve_on_loopback()
        .await
        .expect("loopback internet");
    let dir = Dir::new("privileges");
    dir.write("root.hints", &internet.root_hints_text());
    dir.write("allow.txt", "cdn.example.\n");
    let port = privileged_port();
    let daemon = Daemon::start(
        dir,
        &format!(
            "[server]\nlisten = [\"127.0.0.1:{port}\"]\nuser = \"nobody\"\n\
             [recursion]\nroot-hints = \"root.hints\"\nallow-loopback-servers = true\n\
             upstream-port = {upstream}\n[ecs]\nallowlist = \"allow.txt\"\n\
             [control]\nlisten = [\"127.0.0.1:0\"]\n\
             [dnssec]\nvalidation = false\n",
            upstream = net.port()
        ),
        &[],
    );
    let pid = daemon.child.id();
    assert_eq!(
        status_line(pid, "Uid:"),
        vec![uid; 4],
        "real, effective, saved, fs"
    );
    assert_eq!(status_line(pid, "Gid:"), vec![gid; 4]);
    assert_eq!(
        status_line(pid, "Groups:"),
        vec![gid],
        "no supplementary groups left"
    );
    assert!(
        daemon.stderr().contains("dropped root privileges"),
        "{}",
        daemon.stderr()
    );

    // It still answers on the low port, its control endpoint works, and a reload reads files.
    let dns: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let query = make_query(1, "www.example.com.", RecordType::A, None);
    socket.send_to(&query.to_vec().unwrap(), dns).await.unwrap();
    let mut buf = vec![0u8; 65535];
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buf))
        .await
        .expect("an answer")
        .unwrap();
    let answer = Message::from_vec(&buf[..n]).unwrap();
    assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
    assert!(!answer.answers.is_empty());
    let control = daemon.control.expect("control endpoint").to_string();
    let out = scoped(&["ctl", "--control", &control, "reload"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    drop(net);
}

fn nix_is_root() -> bool {
    geteuid().is_root()
}

#[test]
fn root_without_a_user_is_warned_about() {
    if !nix_is_root() {
        eprintln!("skipped: the root warning is tested only when the tests run as root");
        return;
    }
    let mut daemon = Daemon::start(
        Dir::new("rootwarn"),
        "[server]\nlisten = [\"127.0.0.1:0\"]\n[control]\nenabled = false\n",
        &[],
    );
    assert!(daemon.stop().success());
    let stderr = daemon.stderr();
    assert!(
        stderr.contains("WARN") && stderr.contains("running as root"),
        "{stderr}"
    );
}
