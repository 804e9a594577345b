//! The control endpoint end to end: the real `scoped` binary resolving through the testkit's
//! authoritatives on loopback (as in `tests/e2e/`), its control endpoint on an ephemeral
//! loopback port learnt from the second stdout line, and `scoped ctl` run as an operator would.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use scoped_testkit::{LoopbackInternet, make_query, standard_internet};
use tokio::net::UdpSocket;

/// How long a test client waits for a DNS answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

static RESOLVER_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A running `scoped serve` with its control endpoint, and the internet it resolves through.
struct Resolver {
    _net: LoopbackInternet,
    dns: SocketAddr,
    control: String,
    child: Child,
    dir: PathBuf,
}

impl Resolver {
    /// Starts scoped on 127.0.0.1:0 (DNS and control) with an ECS allowlist file `allowlist`.
    async fn start(allowlist: &str) -> Resolver {
        Resolver::start_on(standard_internet(), allowlist).await
    }

    /// [`start`](Self::start) resolving through `internet`.
    async fn start_on(internet: scoped_testkit::Internet, allowlist: &str) -> Resolver {
        let net = internet
            .serve_on_loopback()
            .await
            .expect("loopback internet");
        let dir = std::env::temp_dir().join(format!(
            "scoped-control-{}-{}",
            std::process::id(),
            RESOLVER_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("root.hints"), internet.root_hints_text()).unwrap();
        std::fs::write(dir.join("allow.txt"), allowlist).unwrap();
        let config = format!(
            r#"
[server]
listen = ["127.0.0.1:0"]
threads = 2
[recursion]
root-hints = "root.hints"
allow-loopback-servers = true
upstream-port = {port}
server-timeout = "300ms"
query-timeout = "3s"
# The test internet's root is unsigned.
[dnssec]
validation = false
[ecs]
allowlist = "allow.txt"
# Lets a test send a client subnet in its ECS option (from loopback, which has none).
trusted-front-ends = ["127.0.0.1/32"]
[control]
listen = ["127.0.0.1:0"]
[log]
level = "warn"
"#,
            port = net.port()
        );
        let config_path = dir.join("resolver.toml");
        std::fs::write(&config_path, config).unwrap();
        let stderr = std::fs::File::create(dir.join("stderr.log")).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_scoped"))
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start scoped");
        let stdout = child.stdout.take().unwrap();
        let (first, second) = tokio::time::timeout(
            Duration::from_secs(20),
            tokio::task::spawn_blocking(move || {
                let mut lines = BufReader::new(stdout).lines();
                let mut next = || lines.next().and_then(Result::ok).unwrap_or_default();
                (next(), next())
            }),
        )
        .await
        .expect("scoped printed its addresses in time")
        .unwrap();
        let dns = first
            .strip_prefix("scoped: listening on ")
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
        let control = second
            .strip_prefix("scoped: control on ")
            .and_then(|rest| rest.split_whitespace().next())
            .filter(|url| url.starts_with("http://127.0.0.1:"))
            .unwrap_or_else(|| panic!("unexpected second line {second:?}"))
            .to_owned();
        Resolver {
            _net: net,
            dns,
            control,
            child,
            dir,
        }
    }

    /// Sends `query` over UDP and waits for the answer.
    async fn udp(&self, query: &Message) -> Message {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        socket
            .send_to(&query.to_vec().unwrap(), self.dns)
            .await
            .unwrap();
        let mut buf = vec![0u8; 65535];
        let (n, _) = tokio::time::timeout(CLIENT_TIMEOUT, socket.recv_from(&mut buf))
            .await
            .expect("an answer within the client timeout")
            .unwrap();
        Message::from_vec(&buf[..n]).expect("parseable response")
    }

    /// `scoped ctl --control URL ARGS…`.
    async fn ctl(&self, args: &[&str]) -> Output {
        ctl(&self.control, args).await
    }

    /// `scoped ctl stats`, parsed.
    async fn stats(&self) -> serde_json::Value {
        let out = self.ctl(&["stats"]).await;
        assert!(out.status.success(), "ctl stats: {}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("stats is JSON")
    }

    fn write_allowlist(&self, text: &str) {
        std::fs::write(self.dir.join("allow.txt"), text).unwrap();
    }

    /// SIGTERM, then the exit status.
    fn terminate(&mut self) -> std::process::ExitStatus {
        let kill = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(kill.success());
        for _ in 0..100 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("scoped did not exit within 5 s of SIGTERM");
    }
}

impl Drop for Resolver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `scoped ctl --control ADDR ARGS…` off the async workers.
async fn ctl(control: &str, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_scoped"));
    command.arg("ctl").arg("--control").arg(control).args(args);
    tokio::task::spawn_blocking(move || command.output().expect("run scoped ctl"))
        .await
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_stats_counts_the_queries_sent() {
    let mut resolver = Resolver::start("cdn.example.\n").await;
    for id in [1, 2] {
        let answer = resolver
            .udp(&make_query(
                id,
                "www.example.com.",
                RecordType::A,
                Some(1232),
            ))
            .await;
        assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
    }
    let stats = resolver.stats().await;
    assert_eq!(stats["frontend"]["queries_udp"], 2, "{stats:#}");
    assert_eq!(stats["frontend"]["queries_tcp"], 0);
    assert_eq!(stats["frontend"]["responses_noerror"], 2);
    assert_eq!(stats["engine"]["cache_misses"], 1, "{stats:#}");
    assert_eq!(
        stats["engine"]["cache_hits"], 1,
        "the repeated query is a hit"
    );
    assert!(stats["engine"]["upstream_queries"].as_u64().unwrap() >= 3);
    assert_eq!(stats["transport"]["timeouts"], 0);
    assert!(stats["caches"]["records"]["entries"].as_u64().unwrap() >= 1);
    assert!(
        stats["caches"]["records"]["weighted_bytes"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert!(stats["caches"]["tailored"]["entries"].is_u64());
    assert_eq!(stats["ecs_allowlist"]["entries"], 1);
    assert!(stats["process"]["rss_bytes"].as_u64().unwrap() > 1 << 20);
    assert!(stats["uptime_seconds"].is_u64());

    let health = resolver.ctl(&["health"]).await;
    assert!(health.status.success());
    assert_eq!(text(&health.stdout), "ok\n");

    // The nameserver table: every server asked is there, answering, with its SRTT and RTO.
    let infra = resolver.ctl(&["infra"]).await;
    assert!(infra.status.success());
    let infra: serde_json::Value = serde_json::from_str(&text(&infra.stdout)).unwrap();
    let servers = infra["servers"].as_array().unwrap();
    let upstream = stats["engine"]["upstream_queries"].as_u64().unwrap();
    let queries: u64 = servers.iter().map(|s| s["queries"].as_u64().unwrap()).sum();
    assert_eq!(queries, upstream, "{infra:#}");
    for server in servers {
        assert_eq!(server["state"], "responsive", "{server:#}");
        assert!(server["srtt_ms"].is_number() && server["rto_ms"].as_f64().unwrap() >= 50.0);
    }
    assert!(
        servers
            .iter()
            .any(|s| s["address"] == "127.53.2.1" || s["address"] == "127.53.2.2")
    );

    // The control endpoint stops with the resolver.
    let control: SocketAddr = resolver
        .control
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    assert!(resolver.terminate().success());
    assert!(std::net::TcpStream::connect(control).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_metrics_is_valid_exposition_of_the_same_counters() {
    let resolver = Resolver::start("cdn.example.\n").await;
    resolver
        .udp(&make_query(7, "www.example.com.", RecordType::A, None))
        .await;
    let out = resolver.ctl(&["metrics"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let metrics = text(&out.stdout);
    let samples = check_openmetrics(&metrics);
    let value = |name: &str| {
        samples
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("{name} missing in\n{metrics}"))
    };
    assert_eq!(value("scoped_frontend_queries_udp_total"), 1.0);
    assert_eq!(value("scoped_frontend_responses_noerror_total"), 1.0);
    assert_eq!(value("scoped_engine_cache_misses_total"), 1.0);
    assert!(value("scoped_engine_upstream_queries_total") >= 1.0);
    assert_eq!(value("scoped_transport_mismatched_replies_total"), 0.0);
    assert!(value("scoped_cache_records_entries") >= 1.0);
    assert!(value("scoped_process_resident_memory_bytes") > 0.0);
    assert_eq!(value("scoped_ecs_allowlist_entries"), 1.0);
    // The miss was resolved upstream: the recursion histogram has it, the cache one not.
    assert_eq!(
        value("scoped_response_latency_seconds_count{source=\"recursion\"}"),
        1.0
    );
    assert_eq!(
        value("scoped_response_latency_seconds_count{source=\"cache\"}"),
        0.0
    );
    assert_eq!(
        value("scoped_response_latency_seconds_bucket{le=\"+Inf\",source=\"recursion\"}"),
        1.0
    );
    assert_eq!(
        value("scoped_responses_by_rcode_total{rcode=\"NOERROR\"}"),
        1.0
    );
    assert_eq!(value("scoped_queries_by_type_total{qtype=\"A\"}"), 1.0);
    assert_eq!(value("scoped_queries_by_type_total{qtype=\"other\"}"), 0.0);
    assert!(
        metrics.contains("# TYPE scoped_frontend_queries_udp counter\n")
            && metrics.contains("# TYPE scoped_cache_records_weighted_bytes gauge\n"),
        "{metrics}"
    );
}

/// Checks the OpenMetrics text format line by line (HELP/TYPE/UNIT before a family's samples,
/// sample names belonging to the declared family, counters sampled as `_total`, numeric values,
/// `# EOF` last) and returns every `(sample name with labels, value)`.
fn check_openmetrics(text: &str) -> Vec<(String, f64)> {
    let valid_name = |name: &str| {
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
            && !name.starts_with(|c: char| c.is_ascii_digit())
    };
    let mut family: Option<(String, String)> = None;
    let mut samples = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line == "# EOF" {
            assert!(lines.peek().is_none(), "text after # EOF");
            assert!(text.ends_with("# EOF\n"));
            assert!(!samples.is_empty(), "no samples");
            return samples;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (kind, name, value) = (parts.next(), parts.next(), parts.next());
            let name = name.unwrap_or_else(|| panic!("bad comment {line:?}"));
            assert!(valid_name(name), "bad name in {line:?}");
            assert!(name.starts_with("scoped_"), "{line:?}");
            match kind {
                Some("HELP") => {
                    assert!(!value.unwrap_or("").is_empty(), "empty help {line:?}");
                    family = Some((name.to_owned(), String::new()));
                }
                Some("TYPE") => {
                    let kind = value.unwrap_or_default();
                    assert!(
                        ["counter", "gauge", "histogram"].contains(&kind),
                        "{line:?}"
                    );
                    let (declared, _) = family.as_ref().expect("HELP before TYPE");
                    assert_eq!(declared, name, "TYPE of another family than HELP");
                    family = Some((name.to_owned(), kind.to_owned()));
                }
                Some("UNIT") => {
                    let unit = value.unwrap_or_default();
                    assert!(name.ends_with(&format!("_{unit}")), "{line:?}");
                }
                _ => panic!("unknown comment {line:?}"),
            }
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad sample {line:?}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}"));
        let name = series.split('{').next().unwrap_or_default();
        if let Some(labels) = series.strip_prefix(name).filter(|l| !l.is_empty()) {
            assert!(
                labels.starts_with('{') && labels.ends_with('}'),
                "bad labels {line:?}"
            );
        }
        let (declared, kind) = family.as_ref().expect("TYPE before samples");
        let expected: Vec<String> = match kind.as_str() {
            "counter" => vec![format!("{declared}_total")],
            "histogram" => ["bucket", "count", "sum"]
                .iter()
                .map(|suffix| format!("{declared}_{suffix}"))
                .collect(),
            _ => vec![declared.clone()],
        };
        assert!(
            expected.iter().any(|e| e == name),
            "sample outside its family: {line:?}"
        );
        samples.push((series.to_owned(), value));
    }
    panic!("no # EOF at the end:\n{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_reload_takes_a_good_allowlist_and_keeps_it_over_a_bad_one() {
    let resolver = Resolver::start("cdn.example.\n").await;

    resolver.write_allowlist("cdn.example.\n192.0.2.0/24\n2001:db8::/32\n");
    let out = resolver.ctl(&["reload"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let reloaded: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reloaded["entries"], 3, "{reloaded}");
    assert_eq!(resolver.stats().await["ecs_allowlist"]["entries"], 3);

    resolver.write_allowlist("cdn.example.\n# a comment\n192.0.2.0/33\n");
    let out = resolver.ctl(&["reload"]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("line 3")
            && stderr.contains("192.0.2.0/33")
            && stderr.contains("allow.txt"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
    assert_eq!(
        resolver.stats().await["ecs_allowlist"]["entries"],
        3,
        "the old allowlist stays in force"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_against_a_closed_port_exits_1_with_a_message() {
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let out = ctl(&closed.to_string(), &["stats"]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("cannot reach the control endpoint")
            && stderr.contains(&closed.to_string()),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_flush_forgets_a_name_and_flush_all_everything() {
    let resolver = Resolver::start("cdn.example.\n").await;
    let ask = |id| make_query(id, "www.example.com.", RecordType::A, Some(1232));
    resolver.udp(&ask(1)).await;
    resolver.udp(&ask(2)).await;
    assert_eq!(resolver.stats().await["engine"]["cache_hits"], 1);

    let flushed = resolver.ctl(&["flush", "www.example.com"]).await;
    assert!(flushed.status.success(), "{}", text(&flushed.stderr));
    assert!(
        text(&flushed.stdout).contains("\"flushed\": \"www.example.com.\""),
        "{}",
        text(&flushed.stdout)
    );
    resolver.udp(&ask(3)).await;
    let stats = resolver.stats().await;
    assert_eq!(
        stats["engine"]["cache_misses"], 2,
        "resolved afresh after the flush: {stats:#}"
    );

    let subtree = resolver.ctl(&["flush", "example.com", "--subtree"]).await;
    assert!(subtree.status.success());
    assert!(text(&subtree.stdout).contains("\"subtree\": true"));
    resolver.udp(&ask(4)).await;
    assert_eq!(resolver.stats().await["engine"]["cache_misses"], 3);

    let all = resolver.ctl(&["flush-all"]).await;
    assert!(all.status.success());
    resolver.udp(&ask(5)).await;
    assert_eq!(resolver.stats().await["engine"]["cache_misses"], 4);

    let bad = resolver.ctl(&["flush", "bad..name"]).await;
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        text(&bad.stderr).contains("not a domain name"),
        "{}",
        text(&bad.stderr)
    );
}

/// A query carrying the ECS option FAMILY 1, SOURCE 24, ADDRESS `subnet` (three octets).
fn with_ecs(mut query: Message, subnet: [u8; 3]) -> Message {
    let mut edns = hickory_proto::op::Edns::new();
    edns.set_max_payload(1232);
    let mut option = vec![0, 1, 24, 0];
    option.extend_from_slice(&subnet);
    edns.options_mut()
        .insert(hickory_proto::rr::rdata::opt::EdnsOption::Unknown(
            8, option,
        ));
    query.set_edns(edns);
    query
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_lookup_and_dump_cache_show_shared_tailored_and_negative_entries() {
    let resolver = Resolver::start_on(scoped_testkit::ecs_internet(), "cdn.example.\n").await;
    let tokyo = with_ecs(
        make_query(1, "www.cdn.example.", RecordType::A, None),
        [81, 2, 69],
    );
    assert_eq!(
        resolver.udp(&tokyo).await.metadata.response_code,
        ResponseCode::NoError
    );
    resolver
        .udp(&make_query(2, "www.other.example.", RecordType::A, None))
        .await;
    let missing = make_query(3, "missing.other.example.", RecordType::A, None);
    assert_eq!(
        resolver.udp(&missing).await.metadata.response_code,
        ResponseCode::NXDomain
    );
    let resolver = &resolver;
    let lookup = |args: &'static [&'static str]| async move {
        let out = resolver.ctl(args).await;
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("JSON")
    };

    let cdn = lookup(&["lookup", "www.cdn.example", "a"]).await;
    let tailored = cdn["tailored"].as_array().unwrap();
    let tokyo_entry = tailored
        .iter()
        .find(|e| e["scope"] == "81.2.69.0/24")
        .unwrap_or_else(|| panic!("no entry for Tokyo's /24: {cdn}"));
    let left = tokyo_entry["ttl_left"].as_u64().unwrap();
    assert!(left > 0 && left <= 300, "{cdn}");
    assert_eq!(tokyo_entry["type"], "A");
    assert!(
        tokyo_entry["records"][0]
            .as_str()
            .unwrap()
            .contains("192.0.2."),
        "{cdn}"
    );

    let shared = lookup(&["lookup", "www.other.example."]).await;
    let records = shared["records"].as_array().unwrap();
    assert!(
        records
            .iter()
            .any(|e| e["type"] == "A" && e["negative"].is_null()),
        "{shared}"
    );
    assert!(
        shared["tailored"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["scope"] == "global" || e["scope"] == "source-zero-only"),
        "{shared}"
    );

    let negative = lookup(&["lookup", "missing.other.example.", "A"]).await;
    let entries: Vec<&serde_json::Value> = negative["records"]
        .as_array()
        .unwrap()
        .iter()
        .chain(negative["tailored"].as_array().unwrap())
        .collect();
    assert!(
        entries.iter().any(|e| e["negative"] == "nxdomain"),
        "{negative}"
    );

    let bad = resolver
        .ctl(&["lookup", "www.other.example.", "NOTATYPE"])
        .await;
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        text(&bad.stderr).contains("not a record type"),
        "{}",
        text(&bad.stderr)
    );

    let file = resolver.dir.join("dump.txt");
    let file_arg = file.to_str().unwrap().to_owned();
    let out = resolver.ctl(&["dump-cache", "--output", &file_arg]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let dump = std::fs::read_to_string(&file).unwrap();
    assert!(dump.starts_with("; record cache"), "{dump}");
    assert!(dump.contains("; tailored cache"), "{dump}");
    assert!(
        dump.contains("www.other.example.") && dump.contains("scope=81.2.69.0/24"),
        "{dump}"
    );
    assert!(dump.contains("NXDOMAIN"), "{dump}");
    let last = dump.lines().last().unwrap();
    let entries: u64 = last
        .strip_prefix("; ")
        .and_then(|rest| rest.strip_suffix(" entries"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("last line {last:?}"));
    assert!(entries >= 4, "{dump}");
    let stdout = resolver.ctl(&["dump-cache"]).await;
    assert!(text(&stdout.stdout).contains("scope=81.2.69.0/24"));
}
