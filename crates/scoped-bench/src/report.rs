//! The results: every sample, medians per scenario and server, the markdown table and JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use scoped_bench::dnsperf::Summary;
use serde::Serialize;

use crate::Settings;

/// One measured load against one server.
#[derive(Clone, Debug, Serialize)]
pub struct Sample {
    pub target: String,
    pub round: usize,
    /// Answers with RCODE NOERROR (and, from the generator, at least one answer record): what
    /// the rates count.
    pub answered: u64,
    /// Answers that were errors (SERVFAIL, NXDOMAIN, …, or empty).
    pub errors: u64,
    pub lost: u64,
    pub qps: f64,
    /// CPU time of the server (all threads and processes) during the load.
    pub cpu_seconds: f64,
    pub mean_us: f64,
    pub p50_us: f64,
    pub p99_us: f64,
}

impl Sample {
    /// From dnsperf's summary (which has no quantiles).
    pub fn from_dnsperf(target: &str, round: usize, s: &Summary, cpu_seconds: f64) -> Self {
        Self {
            target: target.to_owned(),
            round,
            answered: s.noerror,
            errors: s.completed.saturating_sub(s.noerror),
            lost: s.lost,
            qps: if s.run_time > 0.0 {
                s.noerror as f64 / s.run_time
            } else {
                s.qps
            },
            cpu_seconds,
            mean_us: s.mean_latency_us,
            p50_us: f64::NAN,
            p99_us: f64::NAN,
        }
    }

    /// Answers per second of the server's CPU time.
    pub fn q_per_cpu_second(&self) -> f64 {
        if self.cpu_seconds > 0.0 {
            self.answered as f64 / self.cpu_seconds
        } else {
            f64::NAN
        }
    }
}

/// The memory row of one resolver.
#[derive(Clone, Debug, Serialize)]
pub struct Memory {
    pub target: String,
    /// Fill queries answered with data.
    pub entries: u64,
    pub rss_before: u64,
    pub rss_after: u64,
    /// Fill queries asked again afterwards (every 97th).
    pub replayed: usize,
    /// How many of those the resolver had to ask the authoritative again (0: all kept).
    pub reasked_upstream: usize,
}

impl Memory {
    /// RSS growth per entry.
    pub fn bytes_per_entry(&self) -> f64 {
        self.rss_after.saturating_sub(self.rss_before) as f64 / (self.entries.max(1)) as f64
    }
}

/// Medians of one (scenario, server).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Median {
    pub qps: f64,
    pub q_per_cpu_second: f64,
    pub cpu_seconds: f64,
    pub lost: f64,
    pub errors: f64,
    pub mean_us: f64,
    pub p50_us: f64,
    pub p99_us: f64,
}

/// Everything measured in one run.
pub struct Report {
    settings: Settings,
    date: String,
    machine: String,
    versions: BTreeMap<&'static str, String>,
    samples: BTreeMap<&'static str, Vec<Sample>>,
    pub memory: Vec<Memory>,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.retain(|v| !v.is_nan());
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

fn first_line(program: &str, args: &[&str], containing: &str) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .and_then(|o| {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            text.lines()
                .find(|l| l.contains(containing))
                .map(|l| l.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{model}, {cores} cores, Linux {}", kernel.trim())
}

/// "1.25×"
fn ratio(a: f64, b: f64) -> String {
    if a.is_nan() || b.is_nan() || b == 0.0 {
        "–".into()
    } else {
        format!("{:.2}×", a / b)
    }
}

fn num(v: f64) -> String {
    if v.is_nan() {
        "–".into()
    } else {
        let whole = v.round() as i64;
        let digits = whole.abs().to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        if whole < 0 { format!("-{out}") } else { out }
    }
}

impl Report {
    /// A report for a run with `settings` whose files are in `dir`.
    pub fn new(settings: &Settings, _dir: &Path) -> Self {
        let mut versions = BTreeMap::new();
        versions.insert("unbound", first_line("unbound", &["-V"], "Version"));
        versions.insert(
            "pdns-recursor",
            first_line("pdns_recursor", &["--version"], "PowerDNS Recursor"),
        );
        versions.insert("nsd", first_line("nsd", &["-v"], "NSD version"));
        versions.insert("dnsperf", first_line("dnsperf", &["-h"], "Version"));
        versions.insert(
            "scoped",
            first_line("git", &["log", "-1", "--format=commit %h %cs"], "commit"),
        );
        Self {
            settings: settings.clone(),
            date: first_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"], "UTC"),
            machine: machine(),
            versions,
            samples: BTreeMap::new(),
            memory: Vec::new(),
        }
    }

    /// Record one sample of `scenario`.
    pub fn add(&mut self, scenario: &'static str, sample: Sample) {
        self.samples.entry(scenario).or_default().push(sample);
    }

    /// Medians of `target` in `scenario`.
    pub fn median(&self, scenario: &str, target: &str) -> Median {
        let samples: Vec<&Sample> = self
            .samples
            .get(scenario)
            .map(|v| v.iter().filter(|s| s.target == target).collect())
            .unwrap_or_default();
        let of = |f: &dyn Fn(&Sample) -> f64| median(samples.iter().map(|s| f(s)).collect());
        Median {
            qps: of(&|s| s.qps),
            q_per_cpu_second: of(&|s| s.q_per_cpu_second()),
            cpu_seconds: of(&|s| s.cpu_seconds),
            lost: of(&|s| s.lost as f64),
            errors: of(&|s| s.errors as f64),
            mean_us: of(&|s| s.mean_us),
            p50_us: of(&|s| s.p50_us),
            p99_us: of(&|s| s.p99_us),
        }
    }

    fn targets(&self, scenario: &str) -> Vec<String> {
        let mut seen: Vec<String> = Vec::new();
        for s in self.samples.get(scenario).into_iter().flatten() {
            if !seen.contains(&s.target) {
                seen.push(s.target.clone());
            }
        }
        seen
    }

    /// The best peer's median q/CPU-s in `scenario` (neither scoped nor a limit row).
    fn best_peer(&self, scenario: &str, peers: &[&str]) -> Option<(String, f64)> {
        peers
            .iter()
            .filter(|p| **p != "scoped")
            .map(|p| ((*p).to_owned(), self.median(scenario, p).q_per_cpu_second))
            .filter(|(_, v)| !v.is_nan())
            .max_by(|a, b| a.1.total_cmp(&b.1))
    }

    /// The target checks of issue #7, as (target, measured, met).
    pub fn targets_met(&self, resolvers: &[&str]) -> Vec<(String, String, bool)> {
        let mut out = Vec::new();
        let scoped_hits = self.median("hits", "scoped").q_per_cpu_second;
        if let Some((peer, best)) = self.best_peer("hits", resolvers) {
            let r = scoped_hits / best;
            out.push((
                "cache hits ≥ 1.25× the best peer's q/CPU-s".into(),
                format!("{r:.2}× {peer}"),
                r >= 1.25,
            ));
        }
        let limit = self.median("hits", "limit-batched").q_per_cpu_second;
        let r = scoped_hits / limit;
        out.push((
            "cache hits ≥ 90% of the batched limit's q/CPU-s".into(),
            format!("{:.0}%", r * 100.0),
            r >= 0.9,
        ));
        let plain = self.median("hits-generator", "scoped").q_per_cpu_second;
        let tailored = self.median("tailored", "scoped").q_per_cpu_second;
        let r = tailored / plain;
        out.push((
            "tailored hits ≥ 90% of plain hits (q/CPU-s)".into(),
            format!("{:.0}%", r * 100.0),
            r >= 0.9,
        ));
        if let Some((peer, best)) = self.best_peer("misses", resolvers) {
            let r = self.median("misses", "scoped").q_per_cpu_second / best;
            out.push((
                "cache misses ≥ 2× the best peer's q/CPU-s".into(),
                format!("{r:.2}× {peer}"),
                r >= 2.0,
            ));
        }
        if let Some(m) = self.memory.iter().find(|m| m.target == "scoped") {
            let b = m.bytes_per_entry();
            out.push((
                "≤ 300 B of RSS per tailored entry".into(),
                format!("{b:.0} B"),
                b <= 300.0,
            ));
        }
        out
    }

    /// The markdown table and the JSON document.
    pub fn render(&self, resolvers: &[&str]) -> (String, String) {
        let s = &self.settings;
        let mut md = String::new();
        let _ = writeln!(md, "## scoped-bench results, {}\n", self.date);
        let _ = writeln!(md, "- machine: {}", self.machine);
        for (name, version) in &self.versions {
            let _ = writeln!(md, "- {name}: {version}");
        }
        let _ = writeln!(
            md,
            "- every load {} s, {} round(s) interleaved, medians shown (each column its own median); each resolver has one \
             worker thread; q/CPU-s = answers ÷ the server's own CPU time (user + system)\n",
            s.seconds, s.rounds
        );
        let scoped_of = |scenario: &str| self.median(scenario, "scoped").q_per_cpu_second;

        let _ = writeln!(
            md,
            "### Cache hits (dnsperf, {} clients, {} outstanding, 100 names)\n",
            s.dnsperf_clients, s.dnsperf_outstanding
        );
        let _ = writeln!(
            md,
            "| server | q/s | CPU-s | q/CPU-s | lost / errors | scoped ÷ this (q/CPU-s) |"
        );
        let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|");
        for t in self.targets("hits") {
            let m = self.median("hits", &t);
            let _ = writeln!(
                md,
                "| {t} | {} | {:.2} | {} | {} / {} | {} |",
                num(m.qps),
                m.cpu_seconds,
                num(m.q_per_cpu_second),
                num(m.lost),
                num(m.errors),
                ratio(scoped_of("hits"), m.q_per_cpu_second)
            );
        }

        let _ = writeln!(
            md,
            "\n### Plain and tailored (SCOPE 24) hits (generator, {} outstanding; tailored: {} \
             names × {} client /24s in ECS options)\n",
            s.generator_window, s.tailored_names, s.tailored_subnets
        );
        let _ = writeln!(
            md,
            "| resolver | plain q/s | plain q/CPU-s | tailored q/s | tailored q/CPU-s | tailored ÷ plain |"
        );
        let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|");
        for t in self.targets("tailored") {
            let p = self.median("hits-generator", &t);
            let m = self.median("tailored", &t);
            let _ = writeln!(
                md,
                "| {t} | {} | {} | {} | {} | {:.0}% |",
                num(p.qps),
                num(p.q_per_cpu_second),
                num(m.qps),
                num(m.q_per_cpu_second),
                100.0 * m.q_per_cpu_second / p.q_per_cpu_second
            );
        }

        let _ = writeln!(
            md,
            "\n### Cache misses (dnsperf, unique names under a wildcard, 100 outstanding)\n"
        );
        let _ = writeln!(
            md,
            "| resolver | q/s | CPU-s | q/CPU-s | lost / errors | scoped ÷ this |"
        );
        let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|");
        for t in self.targets("misses") {
            let m = self.median("misses", &t);
            let _ = writeln!(
                md,
                "| {t} | {} | {:.2} | {} | {} / {} | {} |",
                num(m.qps),
                m.cpu_seconds,
                num(m.q_per_cpu_second),
                num(m.lost),
                num(m.errors),
                ratio(scoped_of("misses"), m.q_per_cpu_second)
            );
        }

        let _ = writeln!(
            md,
            "\n### Latency of cache hits at a fixed {} q/s offered\n",
            s.fixed_rate
        );
        let _ = writeln!(
            md,
            "| server | answered q/s | mean µs | p50 µs | p99 µs | lost / errors |"
        );
        let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|");
        for t in self.targets("latency") {
            let m = self.median("latency", &t);
            let _ = writeln!(
                md,
                "| {t} | {} | {} | {} | {} | {} / {} |",
                num(m.qps),
                num(m.mean_us),
                num(m.p50_us),
                num(m.p99_us),
                num(m.lost),
                num(m.errors)
            );
        }

        let _ = writeln!(
            md,
            "\n### Memory per tailored entry ({} (name, /24) entries into a fresh resolver)\n",
            s.entries
        );
        let _ = writeln!(
            md,
            "| resolver | entries | RSS before MiB | RSS after MiB | bytes/entry | replay: re-asked upstream |"
        );
        let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|");
        for m in &self.memory {
            let _ = writeln!(
                md,
                "| {} | {} | {:.1} | {:.1} | {} | {} of {} |",
                m.target,
                num(m.entries as f64),
                m.rss_before as f64 / 1_048_576.0,
                m.rss_after as f64 / 1_048_576.0,
                num(m.bytes_per_entry()),
                m.reasked_upstream,
                m.replayed
            );
        }

        let targets = self.targets_met(resolvers);
        let _ = writeln!(md, "\n### Targets (issue #7)\n");
        let _ = writeln!(md, "| target | measured | met |");
        let _ = writeln!(md, "|---|---:|---|");
        for (target, measured, met) in &targets {
            let _ = writeln!(
                md,
                "| {target} | {measured} | {} |",
                if *met { "yes" } else { "no" }
            );
        }

        let mut medians: BTreeMap<&str, BTreeMap<String, Median>> = BTreeMap::new();
        for scenario in self.samples.keys() {
            for t in self.targets(scenario) {
                let m = self.median(scenario, &t);
                medians.entry(scenario).or_default().insert(t, m);
            }
        }
        let json = serde_json::json!({
            "date": self.date,
            "machine": self.machine,
            "versions": self.versions,
            "settings": self.settings,
            "medians": medians,
            "samples": self.samples,
            "memory": self.memory.iter().map(|m| serde_json::json!({
                "target": m.target,
                "entries": m.entries,
                "rss_before": m.rss_before,
                "rss_after": m.rss_after,
                "bytes_per_entry": m.bytes_per_entry(),
                "replayed": m.replayed,
                "reasked_upstream": m.reasked_upstream,
            })).collect::<Vec<_>>(),
            "targets": targets.iter().map(|(t, m, met)| serde_json::json!({
                "target": t, "measured": m, "met": met,
            })).collect::<Vec<_>>(),
        });
        let json = serde_json::to_string_pretty(&json)
            .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
        (md, json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_even_and_missing_values() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(vec![f64::NAN]).is_nan());
    }

    #[test]
    fn numbers_get_thousands_separators() {
        assert_eq!(num(1_234_567.4), "1,234,567");
        assert_eq!(num(999.0), "999");
        assert_eq!(num(f64::NAN), "–");
        assert_eq!(ratio(3.0, 2.0), "1.50×");
    }
}
