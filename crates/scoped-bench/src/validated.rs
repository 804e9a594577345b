//! The `validated` scenario (issue #15): every resolver with DNSSEC validation on, against the
//! signed copy of the bench hierarchy ([`world::signed`]), signed at the start of the run.
//!
//! A second nsd serves the signed root, `lab.` and `bench.lab.` on 127.54.1.1–3, and a second
//! instance of every resolver runs on 127.55.1.x with validation on and the signed root's DS as
//! its trust anchor (docs/benchmarks.md lists the settings). Before anything is measured, each
//! one must answer a DO query for the secure name with AD and the bogus name with SERVFAIL;
//! otherwise the scenario fails. Then, per round and resolver: cache hits of the unvalidated
//! instance (the baseline, in the same round), of the validating one from DO=0 and from DO=1
//! clients, and unique names under the signed wildcard (misses). The signed nsd counts the
//! queries it gets (`nsd-control`), so the hit rows show how many hits went upstream and the
//! miss row how many queries a miss cost.

use std::net::UdpSocket;

use crate::world::{Lab, VALIDATED, signed};

use super::*;

/// Write the configurations of `lab`'s four resolvers into its directory `dir` (root hints,
/// TLS files and trust anchor are the caller's); returns where its Knot Resolver keeps its
/// cache.
pub(crate) fn write_resolver_configs(dir: &Path, lab: &Lab) -> anyhow::Result<PathBuf> {
    std::fs::write(dir.join("scoped.toml"), world::scoped_config(lab))?;
    std::fs::write(dir.join("allowlist.txt"), world::SCOPED_ALLOWLIST)?;
    std::fs::write(dir.join("unbound.conf"), world::unbound_config(dir, lab))?;
    std::fs::write(dir.join("recursor.conf"), world::pdns_config(dir, lab))?;
    let knot_cache = knot_cache(dir, lab);
    std::fs::write(
        dir.join("kresd.conf"),
        world::knot_config(dir, &knot_cache, lab),
    )?;
    Ok(knot_cache)
}

/// The running signed lab: its nsd and the validating resolvers (stopped when dropped,
/// resolvers first).
pub(crate) struct SignedLab {
    pub resolvers: Vec<Daemon>,
    pub nsd: Daemon,
    /// The lab's directory (`run-*/validated`): zones, anchor, configurations, logs.
    pub dir: PathBuf,
}

/// Sign the hierarchy with fresh keys, write the lab into `run_dir/validated` and start its
/// nsd and the validating instances of `names`.
pub(crate) fn start(run_dir: &Path, names: &[&str], scoped: &Path) -> anyhow::Result<SignedLab> {
    let dir = run_dir.join("validated");
    std::fs::create_dir_all(&dir)?;
    let now = u32::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs())?;
    progress("signing the validated scenario's hierarchy (keys made for this run)");
    let lab = signed::sign(now)?;
    signed::write_nsd(&dir, &lab)?;
    std::fs::write(dir.join("root.hints"), world::root_hints(VALIDATED.root()))?;
    std::fs::write(dir.join(world::PDNS_LUA), world::pdns_lua(&lab.anchor)?)?;
    let knot_cache = write_resolver_configs(&dir, &VALIDATED)?;
    progress("starting the signed lab: nsd on 127.54.1.1-3 (., lab., bench.lab., signed)");
    let mut command = Command::new("nsd");
    command.arg("-d").arg("-c").arg(dir.join("nsd.conf"));
    let nsd = Daemon::start(
        "nsd-signed",
        at53(signed::LEAF),
        command,
        &dir,
        signed::SECURE_NAME,
    )?;
    let mut resolvers = Vec::new();
    for name in names {
        progress(&format!("starting {name} with validation on"));
        resolvers.push(start_resolver(name, &dir, scoped, &knot_cache, &VALIDATED)?);
    }
    Ok(SignedLab {
        resolvers,
        nsd,
        dir,
    })
}

/// Ask `query` of `server` over UDP (a fresh ID per try; up to 4 tries of 3 s: the first
/// answer of a cold resolver walks and validates the whole chain).
fn ask(server: SocketAddr, query: &[u8]) -> anyhow::Result<Vec<u8>> {
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    socket.set_read_timeout(Some(Duration::from_secs(3)))?;
    let mut query = query.to_vec();
    let mut buf = vec![0u8; 65_535];
    for attempt in 0..4u16 {
        let id = (SystemTime::now().duration_since(UNIX_EPOCH)?.subsec_nanos() as u16) ^ attempt;
        query[..2].copy_from_slice(&id.to_be_bytes());
        socket.send_to(&query, server)?;
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            if from == server && wire::id(&buf[..n]) == Some(id) {
                return Ok(buf[..n].to_vec());
            }
        }
    }
    bail!("no answer from {server}")
}

/// Is `reply` a validated answer: NOERROR, AD set, at least one answer record?
fn check_secure(reply: &[u8]) -> Result<(), String> {
    let rcode = wire::rcode(reply).ok_or("no header")?;
    let ad = wire::flags(reply).is_some_and(|f| f & wire::FLAG_AD != 0);
    let answers = wire::answer_count(reply).unwrap_or(0);
    if rcode == 0 && ad && answers > 0 {
        Ok(())
    } else {
        Err(format!(
            "RCODE {rcode}, AD {}, {answers} answer records (want NOERROR with AD)",
            u8::from(ad)
        ))
    }
}

/// Is `reply` the refusal of a bogus answer: SERVFAIL?
fn check_bogus(reply: &[u8]) -> Result<(), String> {
    match wire::rcode(reply).ok_or("no header")? {
        2 => Ok(()),
        rcode => Err(format!(
            "RCODE {rcode} (want SERVFAIL: the signature is broken)"
        )),
    }
}

/// Check that every resolver of the lab validates: a DO query for [`signed::SECURE_NAME`] gets
/// AD, and [`signed::BOGUS_NAME`] gets SERVFAIL. Lists every failure in the error.
pub(crate) fn check(lab: &SignedLab) -> anyhow::Result<()> {
    let mut failures = Vec::new();
    for r in &lab.resolvers {
        for (name, verdict) in [
            (
                signed::SECURE_NAME,
                check_secure as fn(&[u8]) -> Result<(), String>,
            ),
            (signed::BOGUS_NAME, check_bogus),
        ] {
            let outcome = ask(r.addr, &wire::query_do(name, wire::TYPE_A))
                .map_err(|e| e.to_string())
                .and_then(|reply| verdict(&reply));
            match outcome {
                Ok(()) => progress(&format!("{} validates: {name} as expected", r.name)),
                Err(why) => failures.push(format!("{} at {}: {name}: {why}", r.name, r.addr)),
            }
        }
    }
    if !failures.is_empty() {
        bail!(
            "the validated scenario's resolvers do not all validate (logs in {}):\n  {}",
            lab.dir.display(),
            failures.join("\n  ")
        );
    }
    Ok(())
}

/// What `--hold` prints for the signed lab: where everything is and the dig commands.
pub(crate) fn print_dig(lab: &SignedLab) {
    progress(&format!(
        "signed lab: {} (., lab., bench.lab.) at 127.54.1.1-3:53 (pid {}); trust anchor {}",
        lab.nsd.name,
        lab.nsd.pid(),
        lab.dir.join(world::ANCHOR_FILE).display()
    ));
    for r in &lab.resolvers {
        progress(&format!(
            "{} (validating) at {} (pid {})",
            r.name,
            r.addr,
            r.pid()
        ));
    }
    for line in dig_commands(&lab.resolvers.iter().map(|r| r.addr).collect::<Vec<_>>()) {
        progress(&line);
    }
}

/// The ready-to-run dig commands: a secure and a bogus name at each validating resolver.
fn dig_commands(resolvers: &[SocketAddr]) -> Vec<String> {
    let mut out = Vec::new();
    for addr in resolvers {
        for (name, what) in [
            (signed::SECURE_NAME, "secure: AD and the RRSIG"),
            (signed::BOGUS_NAME, "bogus: SERVFAIL"),
        ] {
            out.push(format!(
                "  dig +dnssec @{} -p {} {name} A    # {what}",
                addr.ip(),
                addr.port()
            ));
        }
    }
    out
}

/// The signed nsd's count of queries received (`nsd-control stats_noreset`, `num.queries`).
fn nsd_queries(dir: &Path) -> anyhow::Result<u64> {
    let output = Command::new("nsd-control")
        .arg("-c")
        .arg(dir.join("nsd.conf"))
        .arg("stats_noreset")
        .output()
        .context("running nsd-control")?;
    let text = String::from_utf8_lossy(&output.stdout);
    num_queries(&text).with_context(|| {
        format!(
            "nsd-control stats_noreset printed no num.queries ({}): {text}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn num_queries(stats: &str) -> Option<u64> {
    stats
        .lines()
        .find_map(|l| l.strip_prefix("num.queries="))
        .and_then(|n| n.trim().parse().ok())
}

/// One dnsperf load against a validating resolver, with the signed nsd's query count.
fn measured(
    lab: &SignedLab,
    r: &Daemon,
    round: usize,
    load: impl FnOnce() -> anyhow::Result<dnsperf::Summary>,
) -> anyhow::Result<Sample> {
    let upstream_before = nsd_queries(&lab.dir)?;
    let cpu_before = r.cpu();
    let summary = load()?;
    let cpu = (r.cpu() - cpu_before).as_secs_f64();
    let mut sample = Sample::from_dnsperf(&r.name, round, &summary, cpu);
    sample.upstream = Some(nsd_queries(&lab.dir)?.saturating_sub(upstream_before));
    Ok(sample)
}

/// Warm the validating resolvers (the hit names from DO=0 and DO=1 clients, the wildcard's
/// parent), then measure every round: hits of the unvalidated instance of the same resolver
/// (`plain`), hits of the validating one from DO=0 and DO=1 clients, misses under the signed
/// wildcard.
pub(crate) fn measure(
    lab: &SignedLab,
    plain: &[Daemon],
    hits_file: &Path,
    settings: &Settings,
    report: &mut Report,
) -> anyhow::Result<()> {
    for r in &lab.resolvers {
        progress(&format!("warming {} (validating)", r.name));
        warm(r.addr, plain_queries(false), "the plain names")?;
        let with_do = (0..world::HIT_NAMES)
            .map(|i| wire::query_do(&hit_name(i), wire::TYPE_A))
            .collect();
        warm(r.addr, with_do, "the plain names from DO clients")?;
        let wildcard = wire::query_do(&miss_name("warm", 0), wire::TYPE_A);
        warm(r.addr, vec![wildcard], "the signed wildcard")?;
    }
    let duration = Duration::from_secs_f64(settings.seconds);
    let (outstanding, clients) = (settings.dnsperf_outstanding, settings.dnsperf_clients);
    let per_run = (settings.seconds * 80_000.0) as usize;
    for round in 0..settings.rounds {
        for r in &lab.resolvers {
            if let Some(p) = plain.iter().find(|p| p.name == r.name) {
                let before = p.cpu();
                let summary =
                    dnsperf::run(p.addr, hits_file, duration, outstanding, clients, false)?;
                let cpu = (p.cpu() - before).as_secs_f64();
                let sample = Sample::from_dnsperf(&p.name, round, &summary, cpu);
                say("hits, validation off", &sample);
                report.add("validated-off-hits", sample);
            }
            let sample = measured(lab, r, round, || {
                dnsperf::run(r.addr, hits_file, duration, outstanding, clients, false)
            })?;
            say("hits, validating, DO=0", &sample);
            report.add("validated-hits", sample);
            let sample = measured(lab, r, round, || {
                dnsperf::run_as(
                    dnsperf::How::DnssecOk,
                    r.addr,
                    hits_file,
                    duration,
                    outstanding,
                    clients,
                    false,
                )
            })?;
            say("hits, validating, DO=1", &sample);
            report.add("validated-hits-do", sample);

            let file = lab.dir.join("misses.txt");
            let tag = format!("v{round}{}", r.name);
            write_names(&file, (0..per_run).map(|i| miss_name(&tag, i)))?;
            let sample = measured(lab, r, round, || {
                dnsperf::run(r.addr, &file, duration, 100, clients, true)
            })?;
            say("misses, validating", &sample);
            report.add("validated-misses", sample);
            std::fs::remove_file(&file)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(flags: u16, answers: u16) -> Vec<u8> {
        let mut r = vec![0, 1];
        r.extend_from_slice(&flags.to_be_bytes());
        r.extend_from_slice(&[0, 1]);
        r.extend_from_slice(&answers.to_be_bytes());
        r.extend_from_slice(&[0, 0, 0, 0]);
        r
    }

    #[test]
    fn a_secure_answer_needs_noerror_ad_and_data() {
        assert_eq!(check_secure(&reply(0x81a0, 2)), Ok(()));
        // No AD: the resolver did not validate (or the chain is insecure).
        assert!(
            check_secure(&reply(0x8180, 2))
                .unwrap_err()
                .contains("AD 0")
        );
        // SERVFAIL with AD would be nonsense, but is still not a secure answer.
        assert!(check_secure(&reply(0x81a2, 0)).is_err());
        assert!(check_secure(&reply(0x81a0, 0)).is_err());
        assert!(check_secure(&[0, 1]).is_err());
    }

    #[test]
    fn the_bogus_name_must_be_refused_with_servfail() {
        assert_eq!(check_bogus(&reply(0x8182, 0)), Ok(()));
        // Passing the forged answer on, validated or not, fails the check.
        assert!(check_bogus(&reply(0x8180, 1)).is_err());
        assert!(check_bogus(&reply(0x81a0, 1)).is_err());
        assert!(check_bogus(&reply(0x8183, 0)).is_err());
    }

    #[test]
    fn nsd_controls_query_count_is_read_from_its_stats() {
        let stats = "server0.queries=40\nnum.queries=1234\nnum.type.A=1200\n";
        assert_eq!(num_queries(stats), Some(1234));
        assert_eq!(num_queries("error: could not connect\n"), None);
    }

    #[test]
    fn the_dig_commands_ask_each_resolver_for_the_secure_and_the_bogus_name() {
        let lines = dig_commands(&[at53(VALIDATED.scoped), at53(VALIDATED.unbound)]);
        assert_eq!(lines.len(), 4);
        assert!(lines[0].starts_with("  dig +dnssec @127.55.1.1 -p 53 www.bench.lab. A"));
        assert!(lines[1].starts_with("  dig +dnssec @127.55.1.1 -p 53 bogus.bench.lab. A"));
        assert!(lines[3].contains("@127.55.1.2"));
    }
}
