//! Reloading the whole configuration: live keys applied, the others named as needing a restart,
//! a bad file keeping everything in force.

use crate::daemon::{Daemon, Dir, scoped, text};

const CONFIG: &str = "[server]\nlisten = [\"127.0.0.1:0\"]\nthreads = 1\n\
                      [control]\nlisten = [\"127.0.0.1:0\"]\n[ecs]\nallowlist = \"allow.txt\"\n";

#[test]
fn reload_applies_the_log_level_and_allowlist_and_names_what_needs_a_restart() {
    let dir = Dir::new("reload");
    dir.write("allow.txt", "cdn.example.\n");
    let daemon = Daemon::start(dir, &format!("{CONFIG}[log]\nlevel = \"info\"\n"), &[]);
    let control = daemon.control.unwrap().to_string();
    let reload = || scoped(&["ctl", "--control", &control, "reload"]);

    daemon
        .dir
        .write("allow.txt", "cdn.example.\n192.0.2.0/24\n");
    daemon.dir.write(
        "resolver.toml",
        &format!(
            "{}[log]\nlevel = \"warn\"\n",
            CONFIG.replace("threads = 1", "threads = 2")
        ),
    );
    let out = reload();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["reloaded"], "configuration", "{answer}");
    assert_eq!(answer["entries"], 2, "{answer}");
    assert_eq!(
        answer["applied"],
        serde_json::json!(["log.level"]),
        "{answer}"
    );
    assert_eq!(
        answer["needs-restart"],
        serde_json::json!(["server.threads"]),
        "{answer}"
    );
    let stderr = daemon.stderr();
    assert!(
        stderr.contains("applied only by a restart: server.threads"),
        "{stderr}"
    );
    // The level is now warn: the info line of this reload is not written.
    assert!(!stderr.contains("configuration reloaded"), "{stderr}");

    daemon.dir.write(
        "resolver.toml",
        &format!("{CONFIG}[log]\nlevel = \"info\"\n"),
    );
    let out = reload();
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        answer["needs-restart"],
        serde_json::json!([]),
        "back as started: {answer}"
    );
    assert!(
        daemon.stderr().contains("configuration reloaded"),
        "info again"
    );

    // A bad file: refused with its line, nothing changes.
    daemon
        .dir
        .write("resolver.toml", &format!("{CONFIG}[log]\nlevel = 7\n"));
    let out = reload();
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("keeping the old one") && stderr.contains("line"),
        "{stderr}"
    );
    let stats = scoped(&["ctl", "--control", &control, "stats"]);
    let stats: serde_json::Value = serde_json::from_slice(&stats.stdout).unwrap();
    assert_eq!(stats["ecs_allowlist"]["entries"], 2);
}

/// One UDP query for `localhost. A` (answered from the default local zone, never sent
/// anywhere) from 127.0.0.1; the rcode of the answer.
fn localhost_rcode(dns: std::net::SocketAddr) -> hickory_proto::op::ResponseCode {
    use hickory_proto::op::{Message, MessageType, OpCode, Query};
    use hickory_proto::rr::{Name, RecordType};
    let mut query = Message::new(7, MessageType::Query, OpCode::Query);
    query.metadata.recursion_desired = true;
    query.add_query(Query::query(
        Name::from_ascii("localhost.").unwrap(),
        RecordType::A,
    ));
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    socket.send_to(&query.to_vec().unwrap(), dns).unwrap();
    let mut buf = vec![0u8; 65535];
    let (n, _) = socket.recv_from(&mut buf).expect("an answer");
    Message::from_vec(&buf[..n]).unwrap().metadata.response_code
}

#[test]
fn a_reload_that_drops_a_client_from_the_acl_refuses_it_at_once() {
    use hickory_proto::op::ResponseCode;
    let dir = Dir::new("reload-acl");
    dir.write("allow.txt", "cdn.example.\n");
    let with_acl = |allow: &str| format!("{CONFIG}[acl]\nallow = [{allow}]\n");
    let mut daemon = Daemon::start(dir, &with_acl("\"127.0.0.0/8\""), &[]);
    let dns = daemon.dns[0];
    let control = daemon.control.unwrap().to_string();
    assert_eq!(localhost_rcode(dns), ResponseCode::NoError);
    assert_eq!(localhost_rcode(dns), ResponseCode::NoError);

    daemon
        .dir
        .write("resolver.toml", &with_acl("\"10.0.0.0/8\""));
    let out = scoped(&["ctl", "--control", &control, "reload"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        answer["applied"],
        serde_json::json!(["acl.allow"]),
        "{answer}"
    );
    assert_eq!(answer["needs-restart"], serde_json::json!([]), "{answer}");
    assert_eq!(localhost_rcode(dns), ResponseCode::Refused);

    // And back through SIGHUP: allowed again.
    daemon
        .dir
        .write("resolver.toml", &with_acl("\"127.0.0.1/32\""));
    daemon.signal("HUP");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while localhost_rcode(dns) != ResponseCode::NoError {
        assert!(std::time::Instant::now() < deadline, "SIGHUP not applied");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(daemon.stop().success());
}
