//! The validated scenario's tables: cache hits with validation on (DO=0 and DO=1 clients)
//! beside the same resolver's hits without it, measured in the same round, and misses with
//! validation on; the signed lab's nsd counts what went upstream.

use super::*;

/// Median of the upstream queries per answer of `target` in `scenario` (NaN when not counted).
fn upstream_per_answer(report: &Report, scenario: &str, target: &str) -> f64 {
    median(
        report
            .samples
            .get(scenario)
            .into_iter()
            .flatten()
            .filter(|s| s.target == target)
            .filter_map(|s| Some(s.upstream? as f64 / s.answered.max(1) as f64))
            .collect(),
    )
}

/// `100.00%`: the share of hits answered without asking upstream.
fn hit_rate(upstream_per_answer: f64) -> String {
    if upstream_per_answer.is_nan() {
        return "n/a".into();
    }
    format!("{:.2}%", (1.0 - upstream_per_answer).max(0.0) * 100.0)
}

impl Report {
    /// The two tables of the validated scenario, if it ran.
    pub(super) fn validated_tables(&self, md: &mut String) {
        if !self.samples.contains_key("validated-hits") {
            return;
        }
        let s = &self.settings;
        let _ = writeln!(
            md,
            "\n### Cache hits with DNSSEC validation on (signed lab; dnsperf, {} clients, {} \
             outstanding, 100 names; DO=1: every query asks for RRSIGs)\n",
            s.dnsperf_clients, s.dnsperf_outstanding
        );
        let _ = writeln!(
            md,
            "| resolver | validation off q/CPU-s | on, DO=0 q/CPU-s | on, DO=1 q/CPU-s | DO=0 ÷ off | DO=1 ÷ off | hit rate DO=0 / DO=1 | lost / errors DO=0, DO=1 |"
        );
        let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|");
        for t in self.targets("validated-hits") {
            let off = self.median("validated-off-hits", &t);
            let on = self.median("validated-hits", &t);
            let with_do = self.median("validated-hits-do", &t);
            let ratio = |scenario: &str| {
                self.paired((scenario, &t), ("validated-off-hits", &t))
                    .percent()
            };
            let _ = writeln!(
                md,
                "| {t} | {} | {} | {} | {} | {} | {} / {} | {} / {}, {} / {} |",
                num(off.q_per_cpu_second),
                num(on.q_per_cpu_second),
                num(with_do.q_per_cpu_second),
                ratio("validated-hits"),
                ratio("validated-hits-do"),
                hit_rate(upstream_per_answer(self, "validated-hits", &t)),
                hit_rate(upstream_per_answer(self, "validated-hits-do", &t)),
                num(on.lost),
                num(on.errors),
                num(with_do.lost),
                num(with_do.errors),
            );
        }
        let _ = writeln!(
            md,
            "\nHit rate: 1 − queries the signed lab's nsd received during the load ÷ answers. \
             The \"off\" column is the same resolver without validation on the unsigned lab, \
             measured in the same round."
        );
        let _ = writeln!(
            md,
            "\n### Cache misses with DNSSEC validation on (dnsperf, unique names under the \
             signed wildcard, 100 outstanding)\n"
        );
        let _ = writeln!(
            md,
            "| resolver | q/s | CPU-s | q/CPU-s | upstream queries per answer | lost / errors | scoped ÷ this (q/CPU-s, per round) |"
        );
        let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|");
        for t in self.targets("validated-misses") {
            let m = self.median("validated-misses", &t);
            let _ = writeln!(
                md,
                "| {t} | {} | {:.2} | {} | {:.2} | {} / {} | {} |",
                num(m.qps),
                m.cpu_seconds,
                num(m.q_per_cpu_second),
                upstream_per_answer(self, "validated-misses", &t),
                num(m.lost),
                num(m.errors),
                self.paired(("validated-misses", "scoped"), ("validated-misses", &t))
                    .times()
            );
        }
    }
}
