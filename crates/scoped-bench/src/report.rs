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
    /// Queries the authoritatives received during the load, where the lab counts them (the
    /// signed lab's nsd, in the validated scenario).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<u64>,
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
            upstream: None,
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

/// The loaded-authoritative row of one resolver (issue #20): a burst of ECS misses against one
/// slow process behind four addresses.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Loaded {
    pub target: String,
    /// Client queries sent (each a (name, /24) nobody asked before).
    pub misses: u64,
    /// Answered NOERROR with data.
    pub answered: u64,
    /// Answered SERVFAIL.
    pub servfail: u64,
    /// Answered with another error, or NOERROR without data.
    pub other_errors: u64,
    /// No answer within the client's timeout.
    pub lost: u64,
    /// Queries the loaded server received for the names asked (any type).
    pub upstream_full: u64,
    /// Queries the loaded server received in all during the fill.
    pub upstream_all: u64,
    /// Resolver CPU time (user + system) during the fill.
    pub cpu_seconds: f64,
    /// The fill's wall time, seconds.
    pub seconds: f64,
    /// Client round trips, microseconds.
    pub p50_us: f64,
    pub p99_us: f64,
    /// The server's longest reply time (queue and service) during the fill, microseconds.
    pub server_max_wait_us: f64,
    /// scoped's engine counters over the fill (`scoped ctl stats`), when read.
    pub counters: BTreeMap<String, u64>,
}

impl Loaded {
    /// Upstream queries for the names asked, per miss asked.
    pub fn per_miss(&self) -> f64 {
        self.upstream_full as f64 / self.misses.max(1) as f64
    }
}

/// A ratio measured round by round: its median and every round's value.
#[derive(Clone, Debug, Serialize)]
pub struct Paired {
    pub median: f64,
    pub rounds: Vec<f64>,
}

impl Paired {
    /// Whether the median reaches `threshold`; `None` when no round measured both sides.
    fn at_least(&self, threshold: f64) -> Met {
        (!self.rounds.is_empty()).then_some(self.median >= threshold)
    }

    /// `1.38× (1.45, 1.38, 1.20)`.
    fn times(&self) -> String {
        if self.rounds.is_empty() {
            return "not measured".into();
        }
        let rounds: Vec<String> = self.rounds.iter().map(|r| format!("{r:.2}")).collect();
        format!("{:.2}× ({})", self.median, rounds.join(", "))
    }

    /// `86% (83, 109, 88)`.
    fn percent(&self) -> String {
        if self.rounds.is_empty() {
            return "not measured".into();
        }
        let rounds: Vec<String> = self
            .rounds
            .iter()
            .map(|r| format!("{:.0}", r * 100.0))
            .collect();
        format!("{:.0}% ({})", self.median * 100.0, rounds.join(", "))
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
    pub loaded: Vec<Loaded>,
    /// The loaded scenario's workload, for the heading: (names, subnets, in flight, service µs).
    pub loaded_workload: Option<(usize, usize, usize, u64)>,
    /// Per scenario, the servers that do not take part in it, and why (shown as "n/a").
    left_out: BTreeMap<&'static str, Vec<(String, String)>>,
}

/// A target's verdict: `None` when a server it compares against was not run.
pub type Met = Option<bool>;

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
fn times(r: f64) -> String {
    if r.is_finite() {
        format!("{r:.2}×")
    } else {
        "–".into()
    }
}

/// "93%"
fn percent(r: f64) -> String {
    if r.is_finite() {
        format!("{:.0}%", r * 100.0)
    } else {
        "–".into()
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
        versions.insert(
            "knot-resolver",
            first_line("kresd", &["--version"], "Knot Resolver"),
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
            loaded: Vec::new(),
            loaded_workload: None,
            left_out: BTreeMap::new(),
        }
    }

    /// Record that `target` does not take part in `scenario` (`memory` for the memory row), and
    /// why: its cells show "n/a" instead of numbers or dashes.
    pub fn left_out(&mut self, scenario: &'static str, target: &str, why: &str) {
        self.left_out
            .entry(scenario)
            .or_default()
            .push((target.to_owned(), why.to_owned()));
    }

    fn is_left_out(&self, scenario: &str, target: &str) -> bool {
        self.left_out
            .get(scenario)
            .is_some_and(|v| v.iter().any(|(t, _)| t == target))
    }

    /// The "n/a" footnote under a table, if anything was left out of `scenario`.
    fn left_out_note(&self, md: &mut String, scenario: &str) {
        for (target, why) in self.left_out.get(scenario).into_iter().flatten() {
            let _ = writeln!(md, "\nn/a: {target} does not take part ({why}).");
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

    /// q/CPU-s of (`scenario_a`, `a`) ÷ that of (`scenario_b`, `b`), round by round (each pair
    /// measured minutes apart, interleaved), and the median of those ratios. Pairing within a
    /// round cancels the machine's drift between rounds, which the ratio of two medians does
    /// not. NaN if no round has both.
    pub fn paired(&self, (scenario_a, a): (&str, &str), (scenario_b, b): (&str, &str)) -> Paired {
        let rate = |scenario: &str, target: &str, round: usize| {
            self.samples.get(scenario).and_then(|v| {
                v.iter()
                    .find(|s| s.target == target && s.round == round)
                    .map(Sample::q_per_cpu_second)
            })
        };
        let rounds: Vec<f64> = (0..self.settings.rounds)
            .filter_map(|r| Some(rate(scenario_a, a, r)? / rate(scenario_b, b, r)?))
            .filter(|v| v.is_finite())
            .collect();
        Paired {
            median: median(rounds.clone()),
            rounds,
        }
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

    /// The target checks of issues #7 and #13, as (target, measured, met): medians of per-round
    /// ratios (see [`paired`](Self::paired)), each round's ratio in brackets.
    pub fn targets_met(&self, resolvers: &[&str]) -> Vec<(String, String, Met)> {
        let mut out: Vec<(String, String, Met)> = Vec::new();
        if let Some((peer, _)) = self.best_peer("hits", resolvers) {
            let r = self.paired(("hits", "scoped"), ("hits", &peer));
            out.push((
                "cache hits ≥ 1.25× the best peer's q/CPU-s".into(),
                format!("{} {peer}", r.times()),
                r.at_least(1.25),
            ));
        }
        let r = self.paired(("hits", "scoped"), ("hits", "limit-batched"));
        out.push((
            "cache hits ≥ 90% of the batched limit's q/CPU-s".into(),
            r.percent(),
            r.at_least(0.9),
        ));
        let r = self.paired(("tailored", "scoped"), ("hits-generator", "scoped"));
        out.push((
            "tailored hits ≥ 90% of plain hits (q/CPU-s)".into(),
            r.percent(),
            r.at_least(0.9),
        ));
        if let Some((peer, _)) = self.best_peer("misses", resolvers) {
            let r = self.paired(("misses", "scoped"), ("misses", &peer));
            out.push((
                "cache misses ≥ 2× the best peer's q/CPU-s".into(),
                format!("{} {peer}", r.times()),
                r.at_least(2.0),
            ));
        }
        out.push(self.miss_target());
        if let Some(t) = self.loaded_target() {
            out.push(t);
        }
        if let Some(m) = self.memory.iter().find(|m| m.target == "scoped") {
            let b = m.bytes_per_entry();
            out.push((
                "≤ 300 B of RSS per tailored entry".into(),
                format!("{b:.0} B"),
                Some(b <= 300.0),
            ));
        }
        out
    }

    /// Issue #13's miss target: scoped ≥ 1.25× Unbound and ≥ 1.0× Knot Resolver (q/CPU-s,
    /// medians of per-round ratios). Missed if either part is missed; otherwise undecided
    /// while a peer was not run.
    fn miss_target(&self) -> (String, String, Met) {
        let mut measured = Vec::new();
        let mut verdicts = Vec::new();
        for (peer, label, at_least) in
            [("unbound", "Unbound", 1.25), ("knot", "Knot Resolver", 1.0)]
        {
            let r = self.paired(("misses", "scoped"), ("misses", peer));
            measured.push(if r.rounds.is_empty() {
                format!("{label} not run")
            } else {
                format!("{} {label}", r.times())
            });
            verdicts.push(r.at_least(at_least));
        }
        let met = if verdicts.contains(&Some(false)) {
            Some(false)
        } else if verdicts.contains(&None) {
            None
        } else {
            Some(true)
        };
        (
            "cache misses ≥ 1.25× Unbound's and ≥ 1.0× Knot Resolver's q/CPU-s".into(),
            measured.join("; "),
            met,
        )
    }

    /// Issue #20's target: scoped's loaded fill has no SERVFAIL and ≤ 1.05 upstream queries for
    /// the names per miss; Unbound's figures beside it. `None` when the scenario did not run.
    fn loaded_target(&self) -> Option<(String, String, Met)> {
        if self.loaded.is_empty() {
            return None;
        }
        let figures = |l: &Loaded| {
            format!(
                "{} SERVFAIL, {} lost, {:.3}/miss",
                num(l.servfail as f64),
                num(l.lost as f64),
                l.per_miss()
            )
        };
        let scoped = self.loaded.iter().find(|l| l.target == "scoped");
        let mut measured = vec![match scoped {
            Some(l) => format!("scoped {}", figures(l)),
            None => "scoped not run".into(),
        }];
        if let Some(l) = self.loaded.iter().find(|l| l.target == "unbound") {
            measured.push(format!("Unbound {}", figures(l)));
        }
        Some((
            "loaded authoritative: 0 SERVFAIL and ≤ 1.05 upstream queries per miss".into(),
            measured.join("; "),
            scoped.map(|l| l.servfail == 0 && l.per_miss() <= 1.05),
        ))
    }

    fn loaded_table(&self, md: &mut String) {
        let Some((names, subnets, window, service_us)) = self.loaded_workload else {
            return;
        };
        let _ = writeln!(
            md,
            "\n### Loaded authoritative ({names} names × {subnets} client /24s = {} ECS misses, \
             {window} in flight; one process behind four addresses, {service_us} µs per query, \
             replies wait their turn)\n",
            num((names * subnets) as f64)
        );
        let _ = writeln!(
            md,
            "| resolver | answered | SERVFAIL | other errors / lost | upstream for the names (per miss) | upstream in all | server max wait ms | client p50 / p99 ms | CPU-s | scoped retries / late / budget exhausted / soft timeouts |"
        );
        let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for l in &self.loaded {
            let counter = |k: &str| {
                l.counters
                    .get(k)
                    .map_or_else(|| "–".to_owned(), |v| num(*v as f64))
            };
            let counters = if l.counters.is_empty() {
                "–".to_owned()
            } else {
                format!(
                    "{} / {} / {} / {}",
                    counter("retries"),
                    counter("late_replies"),
                    counter("retry_budget_exhausted"),
                    counter("soft_timeouts")
                )
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} / {} | {} ({:.3}) | {} | {:.1} | {:.1} / {:.1} | {:.2} | {counters} |",
                l.target,
                num(l.answered as f64),
                num(l.servfail as f64),
                num(l.other_errors as f64),
                num(l.lost as f64),
                num(l.upstream_full as f64),
                l.per_miss(),
                num(l.upstream_all as f64),
                l.server_max_wait_us / 1000.0,
                l.p50_us / 1000.0,
                l.p99_us / 1000.0,
                l.cpu_seconds,
            );
        }
        for (target, _) in self.left_out.get("loaded").into_iter().flatten() {
            let _ = writeln!(
                md,
                "| {target} | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a |"
            );
        }
        self.left_out_note(md, "loaded");
    }

    /// A dnsperf scenario's table: medians per server and scoped ÷ that server, per round.
    fn rate_table(&self, md: &mut String, scenario: &str, title: &str, first_column: &str) {
        let _ = writeln!(md, "### {title}\n");
        let _ = writeln!(
            md,
            "| {first_column} | q/s | CPU-s | q/CPU-s | lost / errors | scoped ÷ this (q/CPU-s, per round) |"
        );
        let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|");
        for t in self.targets(scenario) {
            let m = self.median(scenario, &t);
            let _ = writeln!(
                md,
                "| {t} | {} | {:.2} | {} | {} / {} | {} |",
                num(m.qps),
                m.cpu_seconds,
                num(m.q_per_cpu_second),
                num(m.lost),
                num(m.errors),
                times(self.paired((scenario, "scoped"), (scenario, &t)).median)
            );
        }
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
            "- every load {} s, {} round(s) interleaved, medians shown (each column its own median; ratios are medians of the per-round ratios, which cancel drift between rounds); each resolver has one \
             worker thread; q/CPU-s = answers ÷ the server's own CPU time (user + system)\n",
            s.seconds, s.rounds
        );
        let title = format!(
            "Cache hits (dnsperf, {} clients, {} outstanding, 100 names)",
            s.dnsperf_clients, s.dnsperf_outstanding
        );
        self.rate_table(&mut md, "hits", &title, "server");

        let _ = writeln!(
            md,
            "\n### Plain and tailored (SCOPE 24) hits (generator, {} outstanding; tailored: {} \
             names × {} client /24s in ECS options)\n",
            s.generator_window, s.tailored_names, s.tailored_subnets
        );
        let _ = writeln!(
            md,
            "| resolver | plain q/s | plain q/CPU-s | tailored q/s | tailored q/CPU-s | tailored ÷ plain (per round) |"
        );
        let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|");
        let mut rows = self.targets("hits-generator");
        for t in self.targets("tailored") {
            if !rows.contains(&t) {
                rows.push(t);
            }
        }
        for t in rows {
            let p = self.median("hits-generator", &t);
            let tailored = if self.is_left_out("tailored", &t) {
                "n/a | n/a | n/a".to_owned()
            } else {
                let m = self.median("tailored", &t);
                let r = self.paired(("tailored", &t), ("hits-generator", &t)).median;
                format!(
                    "{} | {} | {}",
                    num(m.qps),
                    num(m.q_per_cpu_second),
                    percent(r)
                )
            };
            let _ = writeln!(
                md,
                "| {t} | {} | {} | {tailored} |",
                num(p.qps),
                num(p.q_per_cpu_second),
            );
        }
        self.left_out_note(&mut md, "tailored");

        let title = "Cache misses (dnsperf, unique names under a wildcard, 100 outstanding)";
        md.push('\n');
        self.rate_table(&mut md, "misses", title, "resolver");

        if self.samples.contains_key("dot") {
            let title = format!(
                "Cache hits over DNS over TLS (dnsperf -m dot, {} long-lived connections, {} \
                 outstanding)",
                s.dnsperf_clients, s.dnsperf_outstanding
            );
            md.push('\n');
            self.rate_table(&mut md, "dot", &title, "resolver");
            self.left_out_note(&mut md, "dot");
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
        for (target, _) in self.left_out.get("memory").into_iter().flatten() {
            let _ = writeln!(md, "| {target} | n/a | n/a | n/a | n/a | n/a |");
        }
        self.left_out_note(&mut md, "memory");

        self.loaded_table(&mut md);

        self.validated_tables(&mut md);

        let targets = self.targets_met(resolvers);
        let _ = writeln!(md, "\n### Targets (issues #7, #13 and #20)\n");
        let _ = writeln!(md, "| target | measured | met |");
        let _ = writeln!(md, "|---|---:|---|");
        for (target, measured, met) in &targets {
            let met = match met {
                Some(true) => "yes",
                Some(false) => "no",
                None => "not measured",
            };
            let _ = writeln!(md, "| {target} | {measured} | {met} |");
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
            "loaded": self.loaded.iter().map(|l| {
                let mut v = serde_json::to_value(l).unwrap_or_default();
                if let Some(o) = v.as_object_mut() {
                    o.insert("per_miss".into(), serde_json::json!(l.per_miss()));
                }
                v
            }).collect::<Vec<_>>(),
            "loaded_workload": self.loaded_workload.map(|(names, subnets, in_flight, service_us)| serde_json::json!({
                "names": names, "subnets": subnets, "in_flight": in_flight, "service_us": service_us,
            })),
            "left_out": self.left_out.iter().map(|(scenario, v)| {
                let v: Vec<_> = v.iter().map(|(target, why)| serde_json::json!({
                    "target": target, "why": why,
                })).collect();
                (scenario.to_string(), serde_json::Value::from(v))
            }).collect::<serde_json::Map<_, _>>(),
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
mod tests;
mod validated;
