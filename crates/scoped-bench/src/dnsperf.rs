//! Running dnsperf (DNS-OARC's load tool) and reading its summary.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};

/// dnsperf's summary of one run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    /// "Queries sent".
    pub sent: u64,
    /// "Queries completed".
    pub completed: u64,
    /// "Queries lost".
    pub lost: u64,
    /// Responses with RCODE NOERROR (from "Response codes").
    pub noerror: u64,
    /// "Queries per second".
    pub qps: f64,
    /// "Average Latency (s)", in microseconds.
    pub mean_latency_us: f64,
    /// "Run time (s)".
    pub run_time: f64,
}

fn number_after<'a>(line: &'a str, label: &str) -> Option<&'a str> {
    let rest = line.trim_start().strip_prefix(label)?;
    rest.split_whitespace().next()
}

/// Read dnsperf's "Statistics:" block.
///
/// # Errors
///
/// When the output has no "Queries completed" or "Queries per second" line.
pub fn parse(output: &str) -> anyhow::Result<Summary> {
    let mut summary = Summary::default();
    let mut have = (false, false);
    for line in output.lines() {
        if let Some(n) = number_after(line, "Queries sent:") {
            summary.sent = n.parse()?;
        } else if let Some(n) = number_after(line, "Queries completed:") {
            summary.completed = n.parse()?;
            have.0 = true;
        } else if let Some(n) = number_after(line, "Queries lost:") {
            summary.lost = n.parse()?;
        } else if let Some(codes) = line.trim_start().strip_prefix("Response codes:") {
            // "NOERROR 1213301 (100.00%), SERVFAIL 3 (0.00%)"
            for code in codes.split(',') {
                let mut words = code.split_whitespace();
                if words.next() == Some("NOERROR") {
                    summary.noerror = words.next().unwrap_or("0").parse()?;
                }
            }
        } else if let Some(n) = number_after(line, "Queries per second:") {
            summary.qps = n.parse()?;
            have.1 = true;
        } else if let Some(n) = number_after(line, "Average Latency (s):") {
            summary.mean_latency_us = n.parse::<f64>()? * 1e6;
        } else if let Some(n) = number_after(line, "Run time (s):") {
            summary.run_time = n.parse()?;
        }
    }
    if !(have.0 && have.1) {
        bail!("dnsperf printed no statistics:\n{output}");
    }
    Ok(summary)
}

/// Run dnsperf against `server` with the names in `datafile` (dnsperf's "name TYPE" lines) for
/// at most `duration`, keeping `outstanding` queries in flight from `clients` sockets; with
/// `once`, stop at the end of the file (so no name is asked twice). Bounded: `-l`, and a
/// 1-second per-query timeout.
///
/// # Errors
///
/// When dnsperf cannot run or prints no statistics.
pub fn run(
    server: SocketAddr,
    datafile: &Path,
    duration: Duration,
    outstanding: usize,
    clients: usize,
    once: bool,
) -> anyhow::Result<Summary> {
    run_as(
        How::Udp,
        server,
        datafile,
        duration,
        outstanding,
        clients,
        once,
    )
}

/// How dnsperf asks: the transport, and whether queries carry the DO bit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum How {
    /// Plain UDP queries.
    Udp,
    /// UDP with the DO bit set in every query (dnsperf's `-D`, which adds EDNS): clients that
    /// ask a validating resolver for RRSIGs and AD, as `dig +dnssec` does.
    DnssecOk,
    /// DNS over TLS (dnsperf's `-m dot`): each of the `clients` keeps one connection for the
    /// whole load (dnsperf does not verify the server's certificate).
    Dot,
}

/// [`run`], asking as `how` says.
pub fn run_as(
    how: How,
    server: SocketAddr,
    datafile: &Path,
    duration: Duration,
    outstanding: usize,
    clients: usize,
    once: bool,
) -> anyhow::Result<Summary> {
    let (mode, extra): (&str, &[&str]) = match how {
        How::Udp => ("udp", &[]),
        How::DnssecOk => ("udp", &["-D"]),
        How::Dot => ("dot", &[]),
    };
    let mut command = Command::new("dnsperf");
    command
        .arg("-m")
        .arg(mode)
        .arg("-s")
        .arg(server.ip().to_string())
        .arg("-p")
        .arg(server.port().to_string())
        .arg("-d")
        .arg(datafile)
        .arg("-l")
        .arg(format!("{:.3}", duration.as_secs_f64()))
        .arg("-q")
        .arg(outstanding.to_string())
        .arg("-c")
        .arg(clients.to_string())
        .arg("-t")
        .arg("1");
    if once {
        command.arg("-n").arg("1");
    }
    command.args(extra);
    let output = command.output().context("running dnsperf")?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "dnsperf failed ({}): {}{}",
            output.status,
            text,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    parse(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "DNS Performance Testing Tool
Version 2.10.0

[Status] Command line: dnsperf -s 127.55.0.1 -p 53 -d hits.txt -l 8 -q 200 -c 4
[Status] Sending queries (to 127.55.0.1:53)
[Status] Started at: Sun Nov 22 16:00:00 2026
[Status] Stopping after 8.000000 seconds
[Status] Testing complete (time limit)

Statistics:

  Queries sent:         1213380
  Queries completed:    1213301 (99.99%)
  Queries lost:         79 (0.01%)

  Response codes:       NOERROR 1213300 (100.00%), SERVFAIL 1 (0.00%)
  Average packet size:  request 33, response 49
  Run time (s):         8.000097
  Queries per second:   151660.786093

  Average Latency (s):  0.001301 (min 0.000019, max 0.007952)
  Latency StdDev (s):   0.000323

";

    #[test]
    fn reads_the_statistics_block() {
        let s = parse(OUTPUT).unwrap();
        assert_eq!(s.sent, 1_213_380);
        assert_eq!(s.completed, 1_213_301);
        assert_eq!(s.lost, 79);
        assert_eq!(s.noerror, 1_213_300);
        assert!((s.qps - 151_660.786_093).abs() < 1e-6);
        assert!((s.mean_latency_us - 1301.0).abs() < 1e-6);
        assert!((s.run_time - 8.000_097).abs() < 1e-9);
    }

    #[test]
    fn output_without_statistics_is_an_error() {
        assert!(parse("Error: could not open datafile\n").is_err());
    }
}
