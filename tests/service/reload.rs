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
