//! Start-up errors, the configuration named in the log, plain and JSON log lines.

use std::net::TcpListener;

use crate::daemon::{Daemon, Dir, scoped, text};

#[test]
fn serve_with_its_port_taken_exits_non_zero_naming_the_address_even_with_logging_off() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let dir = Dir::new("taken");
    for level in ["info", "off"] {
        let config = dir.write(
            "resolver.toml",
            &format!(
                "[server]\nlisten = [\"{addr}\"]\n[control]\nenabled = false\n[log]\nlevel = \"{level}\"\n"
            ),
        );
        let out = scoped(&["serve", "--config", config.to_str().unwrap()]);
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{level}: {stderr}");
        assert!(
            stderr.contains(&format!("cannot listen on {addr}")) && stderr.contains("in use"),
            "{level}: {stderr}"
        );
    }
}

#[test]
fn check_config_refuses_what_serve_would_and_serve_refuses_it_too() {
    let dir = Dir::new("check");
    for (file, key) in [
        ("[log]\nlevel = \"verbos\"\n", "log.level"),
        ("[acl]\nallow = [\"10.0.0.1/8\"]\n", "acl.allow"),
        ("[server]\nuser = \"no-such-user-scoped\"\n", "server.user"),
    ] {
        let path = dir.write("bad.toml", file);
        let path = path.to_str().unwrap();
        for command in [vec!["check-config", path], vec!["serve", "--config", path]] {
            let out = scoped(&command);
            let stderr = text(&out.stderr);
            assert!(!out.status.success(), "{command:?} {file}");
            assert!(stderr.contains(key), "{command:?}: {stderr}");
        }
    }
}

#[test]
fn json_log_names_the_configuration_and_keeps_typed_fields() {
    let dir = Dir::new("json");
    let config_path = dir.0.join("resolver.toml");
    let mut daemon = Daemon::start(
        dir,
        "[server]\nlisten = [\"127.0.0.1:0\"]\nthreads = 2\n[control]\nlisten = [\"127.0.0.1:0\"]\n\
         [log]\nformat = \"json\"\nlevel = \"info\"\n",
        &[],
    );
    assert!(daemon.stop().success());
    let events: Vec<serde_json::Value> = daemon
        .stderr()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}")))
        .collect();
    let find = |message: &str| {
        events
            .iter()
            .find(|e| e["fields"]["message"] == message)
            .unwrap_or_else(|| panic!("no {message:?} in {events:#?}"))
    };
    let loaded = find("configuration loaded");
    assert_eq!(loaded["fields"]["config"], config_path.to_str().unwrap());
    assert_eq!(
        find("scoped serving")["fields"]["threads"],
        2,
        "a number, not text"
    );
    let listening = find("DNS listening (UDP and TCP)");
    assert_eq!(listening["fields"]["addr"], daemon.dns[0].to_string());
    assert!(
        events
            .iter()
            .all(|e| e.to_string().find('\u{1b}').is_none()),
        "no colour codes in JSON"
    );
}

#[test]
fn human_log_lines_carry_no_colour_codes_when_written_to_a_file() {
    let dir = Dir::new("plain");
    let mut daemon = Daemon::start(
        dir,
        "[server]\nlisten = [\"127.0.0.1:0\"]\n[control]\nenabled = false\n",
        &[],
    );
    assert!(daemon.stop().success());
    let stderr = daemon.stderr();
    assert!(stderr.contains("configuration loaded"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "ANSI codes in {stderr:?}");
}

#[test]
fn trace_names_the_configuration_it_uses() {
    let dir = Dir::new("trace");
    // A root that does not answer, on loopback: the trace fails fast, after naming its file.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    dir.write(
        "root.hints",
        ".  3600000  NS  a.root.\na.root.  3600000  A  127.0.0.1\n",
    );
    let config = dir.write(
        "resolver.toml",
        &format!(
            "[recursion]\nroot-hints = \"root.hints\"\nallow-loopback-servers = true\n\
             upstream-port = {port}\nserver-timeout = \"100ms\"\nquery-timeout = \"300ms\"\n"
        ),
    );
    let out = scoped(&[
        "trace",
        "example.com",
        "A",
        "--config",
        config.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(
        stdout.lines().next(),
        Some(format!(";; configuration {}", config.display()).as_str()),
        "{stdout}"
    );
}

#[test]
fn json_reload_lines_carry_the_changed_keys_as_arrays() {
    let config = "[server]\nlisten = [\"127.0.0.1:0\"]\nthreads = 1\n[control]\nenabled = false\n\
                  [log]\nformat = \"json\"\nlevel = \"info\"\n";
    let daemon = Daemon::start(Dir::new("json-reload"), config, &[]);
    daemon.dir.write(
        "resolver.toml",
        &config.replace("threads = 1", "threads = 2"),
    );
    daemon.signal("HUP");
    let needs_restart = |events: &[serde_json::Value]| {
        events
            .iter()
            .find(|e| e["fields"]["keys"].is_array())
            .cloned()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let event = loop {
        let events: Vec<serde_json::Value> = daemon
            .stderr()
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect();
        if let Some(event) = needs_restart(&events) {
            let reloaded = events
                .iter()
                .find(|e| e["fields"]["message"] == "configuration reloaded")
                .expect("the reload's info line");
            assert_eq!(reloaded["fields"]["applied"], serde_json::json!([]));
            assert_eq!(reloaded["fields"]["entries"], 0, "a number");
            break event;
        }
        assert!(std::time::Instant::now() < deadline, "{}", daemon.stderr());
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(event["level"], "WARN");
    assert_eq!(
        event["fields"]["keys"],
        serde_json::json!(["server.threads"])
    );
}

#[test]
fn journald_is_accepted_by_check_config_and_serve_fails_clearly_without_a_journal() {
    let dir = Dir::new("journald");
    let config = dir.write(
        "resolver.toml",
        "[server]\nlisten = [\"127.0.0.1:0\"]\n[control]\nenabled = false\n\
         [log]\njournald = true\n",
    );
    let config = config.to_str().unwrap();
    let check = scoped(&["check-config", config]);
    assert!(check.status.success(), "{}", text(&check.stderr));
    if std::path::Path::new("/run/systemd/journal/socket").exists() {
        eprintln!("skipped the failure half: this machine has a journal, so serve would log to it");
        return;
    }
    let out = scoped(&["serve", "--config", config]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("[log] journald = true")
            && stderr.contains("/run/systemd/journal/socket")
            && stderr.contains("journald = false"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "nothing was bound or announced");
}
