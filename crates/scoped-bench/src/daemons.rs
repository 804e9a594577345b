//! Starting, probing and stopping the servers under test, and reading their CPU and memory.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use scoped_bench::load::{Load, Pace};
use scoped_bench::{process, wire};

/// A server process this run started; stopped (TERM, then KILL) when dropped.
pub struct Daemon {
    pub name: String,
    pub addr: SocketAddr,
    child: Child,
    log: PathBuf,
    /// Removed once the process is gone (a field, so it is dropped after `Drop::drop` ran).
    _scratch: Option<Scratch>,
}

/// A directory a daemon works in outside the run's directory (kresd's cache on tmpfs); removed
/// when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Fails if something already holds `addr` over UDP: a lab left running (an earlier `--hold`
/// that was not stopped) would otherwise answer in place of the daemon about to start, which
/// could not bind and would exit, and its numbers would be the leftover's.
fn ensure_free(name: &str, addr: SocketAddr) -> anyhow::Result<()> {
    match std::net::UdpSocket::bind(addr) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => anyhow::bail!(
            "cannot start {name}: {addr} is already taken, most likely by a lab still running \
             from an earlier scoped-bench run (--hold); stop it first"
        ),
        // Anything else (no such address here) is for the daemon itself to report.
        Err(_) => Ok(()),
    }
}

impl Daemon {
    /// Start `command` (stdout and stderr to `dir/NAME.out`) and wait until it answers
    /// `probe_name` at `addr` (at most 20 s).
    pub fn start(
        name: &str,
        addr: SocketAddr,
        command: Command,
        dir: &Path,
        probe_name: &str,
    ) -> anyhow::Result<Self> {
        Self::start_with_scratch(name, addr, command, dir, probe_name, None)
    }

    /// [`start`](Self::start), and remove `scratch` (created here) once the process is gone,
    /// also when it fails to start.
    pub fn start_with_scratch(
        name: &str,
        addr: SocketAddr,
        mut command: Command,
        dir: &Path,
        probe_name: &str,
        scratch: Option<PathBuf>,
    ) -> anyhow::Result<Self> {
        let scratch = match scratch {
            Some(path) => {
                std::fs::create_dir_all(&path)
                    .with_context(|| format!("creating {}", path.display()))?;
                Some(Scratch(path))
            }
            None => None,
        };
        ensure_free(name, addr)?;
        let log = dir.join(format!("{name}.out"));
        let out = File::create(&log)?;
        command
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        let child = command
            .spawn()
            .with_context(|| format!("starting {name}: {command:?}"))?;
        let mut daemon = Self {
            name: name.to_owned(),
            addr,
            child,
            log,
            _scratch: scratch,
        };
        daemon.wait_ready(probe_name)?;
        Ok(daemon)
    }

    fn wait_ready(&mut self, probe_name: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let probe = Load {
            target: self.addr,
            queries: vec![wire::query(probe_name, wire::TYPE_A, false, None)],
            pace: Pace::Closed { window: 1 },
            duration: Duration::from_secs(1),
            max_queries: 1,
            timeout: Duration::from_secs(1),
        };
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "{} exited ({status}) before answering; its output ({}):\n{}",
                    self.name,
                    self.log.display(),
                    tail(&self.log)
                );
            }
            if probe.run().is_ok_and(|o| o.answered == 1) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        bail!(
            "{} did not answer {probe_name} at {} within 20 s; its output ({}):\n{}",
            self.name,
            self.addr,
            self.log.display(),
            tail(&self.log)
        )
    }

    /// The process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time of the process and every descendant (nsd forks its servers).
    pub fn cpu(&self) -> Duration {
        tree(self.pid())
            .into_iter()
            .filter_map(|pid| process::cpu_time(pid).ok())
            .sum()
    }

    /// Resident memory of the process (the resolvers are single processes).
    pub fn rss(&self) -> u64 {
        process::rss_bytes(self.pid()).unwrap_or(0)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let pid = Pid::from_raw(self.child.id() as i32);
        let _ = kill(pid, Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `pid` and all its descendants, from the parent links in `/proc/*/stat`.
fn tree(pid: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(child) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            let ppid = stat
                .rfind(')')
                .and_then(|i| stat[i + 1..].split_whitespace().nth(1)?.parse().ok());
            if let Some(ppid) = ppid {
                parents.push((child, ppid));
            }
        }
    }
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|&&(_, p)| p == parent)
                .map(|&(c, _)| c),
        );
        i += 1;
    }
    found
}

/// The last lines of a log file.
pub fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// Whether a program is on the PATH (or at an absolute path).
pub fn have(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
        || Path::new("/usr/sbin").join(program).is_file()
}

/// What the harness runs, by program: the program, its Debian package, the peer that needs
/// it (`None`: every run does) and the systemd units the package enables and starts.
const PACKAGES: [(&str, &str, Option<&str>, &[&str]); 6] = [
    ("unbound", "unbound", Some("unbound"), &["unbound.service"]),
    (
        "pdns_recursor",
        "pdns-recursor",
        Some("pdns"),
        &["pdns-recursor.service"],
    ),
    // kresd.target pulls in the kresd@N instances and the cache garbage collector.
    (
        "kresd",
        "knot-resolver",
        Some("knot"),
        &["kresd.target", "kresd@1.service", "kres-cache-gc.service"],
    ),
    ("nsd", "nsd", None, &["nsd.service"]),
    ("dnsperf", "dnsperf", None, &[]),
    // dig, for the commands `--hold` prints (a secure and a bogus name of the signed lab).
    ("dig", "dnsutils", None, &[]),
];

/// The packages (with their systemd units) to install: those whose program is missing
/// (`have`), leaving out the peers in `skip`.
fn missing_packages(
    skip: &[String],
    have: impl Fn(&str) -> bool,
) -> Vec<(&'static str, &'static [&'static str])> {
    PACKAGES
        .iter()
        .filter(|(_, _, peer, _)| peer.is_none_or(|p| !skip.iter().any(|s| s == p)))
        .filter(|(program, ..)| !have(program))
        .map(|&(_, package, _, units)| (package, units))
        .collect()
}

/// Install the Debian packages whose programs are missing (as root, with apt-get), except
/// those only the peers in `skip` need.
pub fn ensure_packages(install: bool, skip: &[String]) -> anyhow::Result<()> {
    let wanted = missing_packages(skip, have);
    let missing: Vec<&str> = wanted.iter().map(|(package, _)| *package).collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !install {
        bail!("missing packages {missing:?} (and --no-install was given)");
    }
    eprintln!("bench: installing {} from Debian", missing.join(" "));
    let apt = |args: &[&str]| -> anyhow::Result<bool> {
        Ok(Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .context("running apt-get")?
            .success())
    };
    let mut install_args = vec!["install", "-y", "-q", "--no-install-recommends"];
    install_args.extend(&missing);
    // A fresh machine may have no package lists yet: update once, then try again.
    let installed = apt(&install_args)? || (apt(&["update", "-q"])? && apt(&install_args)?);
    if !installed {
        bail!("apt-get could not install {missing:?}");
    }
    // On a systemd machine the packages start their own daemons (nsd on every address's port
    // 53): stop the ones just installed, so they neither hold our addresses nor run beside us.
    // One systemctl per package: a unit it does not know must not keep the others running.
    if Path::new("/run/systemd/system").is_dir() {
        for (_, units) in wanted.iter().filter(|(_, units)| !units.is_empty()) {
            let _ = Command::new("systemctl")
                .args(["disable", "--now"])
                .args(*units)
                .status();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_skipped_peer_needs_no_package_and_the_rest_are_installed_when_missing() {
        let nothing = |_: &str| false;
        let all: Vec<&str> = missing_packages(&[], nothing)
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        assert_eq!(
            all,
            [
                "unbound",
                "pdns-recursor",
                "knot-resolver",
                "nsd",
                "dnsperf",
                "dnsutils"
            ]
        );
        let skip = ["knot".to_owned(), "pdns".to_owned()];
        let some: Vec<&str> = missing_packages(&skip, |p| p == "nsd")
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        assert_eq!(some, ["unbound", "dnsperf", "dnsutils"]);
        let knot = missing_packages(&[], |p| p != "kresd");
        assert_eq!(
            knot,
            [(
                "knot-resolver",
                &["kresd.target", "kresd@1.service", "kres-cache-gc.service"][..]
            )]
        );
    }

    #[test]
    fn a_daemon_is_not_started_on_an_address_something_else_holds() {
        let holder = std::net::UdpSocket::bind("127.0.0.1:0").expect("a loopback port");
        let taken = holder.local_addr().expect("its address");
        let dir = std::env::temp_dir();
        let error = Daemon::start("leftover", taken, Command::new("true"), &dir, "x.")
            .err()
            .expect("refused");
        let text = format!("{error:#}");
        assert!(text.contains("already taken"), "{text}");
        assert!(text.contains(&taken.to_string()), "{text}");
        drop(holder);
        // Free again: the check passes (the daemon itself is then started and probed).
        assert!(ensure_free("leftover", taken).is_ok());
    }
}
