//! A `scoped serve` started from a configuration written into a fresh directory.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A scratch directory, removed on drop.
pub struct Dir(pub PathBuf);

impl Dir {
    pub fn new(label: &str) -> Dir {
        let dir = std::env::temp_dir().join(format!(
            "scoped-service-{label}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }

    pub fn write(&self, file: &str, text: &str) -> PathBuf {
        let path = self.0.join(file);
        std::fs::write(&path, text).unwrap();
        path
    }

    pub fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.0.join(file)).unwrap_or_default()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running `scoped serve`; killed on drop.
pub struct Daemon {
    pub child: Child,
    pub dir: Dir,
    /// The DNS addresses of the first stdout line.
    pub dns: Vec<SocketAddr>,
    /// The control endpoint's address, if on.
    pub control: Option<SocketAddr>,
}

impl Daemon {
    /// Starts `scoped serve --config DIR/resolver.toml` with `env` added, and waits for its
    /// two stdout lines. stderr goes to DIR/stderr.log.
    pub fn start(dir: Dir, config: &str, env: &[(&str, &Path)]) -> Daemon {
        let config_path = dir.write("resolver.toml", config);
        let stderr = std::fs::File::create(dir.0.join("stderr.log")).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_scoped"));
        command
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            .stdout(Stdio::piped())
            .stderr(stderr);
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("start scoped");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let mut next = || lines.next().and_then(Result::ok).unwrap_or_default();
            let _ = tx.send((next(), next()));
            // Keep reading so the daemon never blocks on a full pipe.
            for _ in lines {}
        });
        let Ok((first, second)) = rx.recv_timeout(Duration::from_secs(20)) else {
            let _ = child.kill();
            panic!(
                "scoped printed no addresses; stderr:\n{}",
                dir.read("stderr.log")
            );
        };
        let Some(listening) = first.strip_prefix("scoped: listening on ") else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("first line {first:?}; stderr:\n{}", dir.read("stderr.log"));
        };
        let dns = listening
            .split_whitespace()
            .map(|a| a.parse().unwrap())
            .collect();
        let control = second
            .strip_prefix("scoped: control on http://")
            .and_then(|rest| rest.split_whitespace().next())
            .map(|a| a.parse().unwrap());
        Daemon {
            child,
            dir,
            dns,
            control,
        }
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// SIGTERM, then the exit status.
    pub fn stop(&mut self) -> ExitStatus {
        self.signal("TERM");
        for _ in 0..200 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("scoped did not exit within 10 s of SIGTERM");
    }

    pub fn stderr(&self) -> String {
        self.dir.read("stderr.log")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("scoped stderr:\n{}", self.stderr());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `scoped ARGS…` run to completion.
pub fn scoped(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_scoped"))
        .args(args)
        .output()
        .expect("run scoped")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
