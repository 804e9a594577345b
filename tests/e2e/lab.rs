//! A lab: the testkit's internet on loopback sockets and the real `scoped` binary resolving
//! through it, configured like an operator would (root hints file, loopback servers allowed,
//! the testing-only upstream port).

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::RecordType;
use hickory_proto::rr::rdata::opt::EdnsOption;
use scoped_testkit::{Internet, LoopbackInternet, name};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// How long a test client waits for an answer (dig's default is 5 s).
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Lab {
    pub net: LoopbackInternet,
    pub addr: SocketAddr,
    /// The control endpoint, when the lab's configuration turns it on.
    pub control: Option<SocketAddr>,
    child: Child,
    dir: PathBuf,
}

static LAB_COUNTER: AtomicU32 = AtomicU32::new(0);

/// The configuration every lab starts from; `tweak` edits it before it is written.
fn base_config(port: u16) -> toml::Table {
    let text = format!(
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
# The test internets' roots are unsigned (a lab that validates says so itself).
[dnssec]
validation = false
[log]
level = "warn"
[control]
enabled = false
"#
    );
    text.parse().expect("base config is valid TOML")
}

impl Lab {
    pub async fn start(internet: Internet) -> Lab {
        Self::start_with(internet, |_| {}).await
    }

    pub async fn start_with(internet: Internet, tweak: impl FnOnce(&mut toml::Table)) -> Lab {
        Self::start_with_files(internet, &[], tweak).await
    }

    /// Like [`start_with`](Self::start_with), with extra files (name, contents) written next to
    /// `resolver.toml` first, for keys that name a file relative to it (`[ecs] allowlist`).
    pub async fn start_with_files(
        internet: Internet,
        files: &[(&str, &str)],
        tweak: impl FnOnce(&mut toml::Table),
    ) -> Lab {
        let net = internet
            .serve_on_loopback()
            .await
            .expect("loopback internet");
        let dir = std::env::temp_dir().join(format!(
            "scoped-e2e-{}-{}",
            std::process::id(),
            LAB_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("root.hints"), internet.root_hints_text()).unwrap();
        for (file, text) in files {
            std::fs::write(dir.join(file), text).unwrap();
        }
        let mut config = base_config(net.port());
        tweak(&mut config);
        let config_path = dir.join("resolver.toml");
        std::fs::write(&config_path, toml::to_string(&config).unwrap()).unwrap();
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
        let line = tokio::time::timeout(
            Duration::from_secs(20),
            tokio::task::spawn_blocking(move || {
                let mut reader = BufReader::new(stdout);
                let mut line = String::new();
                reader.read_line(&mut line)?;
                // The second line names the control endpoint (or says it is off).
                reader.read_line(&mut line)?;
                // scoped prints more lines (the control endpoint's); a closed pipe would kill it,
                // so the rest is read until it exits.
                std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
                Ok::<_, std::io::Error>(line)
            }),
        )
        .await
        .expect("scoped printed its addresses in time")
        .unwrap()
        .unwrap();
        let control = line
            .split_once("http://")
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .and_then(|a| a.parse().ok());
        let addr: SocketAddr = line
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .strip_prefix("scoped: listening on ")
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        Lab {
            net,
            addr,
            control,
            child,
            dir,
        }
    }

    pub fn internet(&self) -> &Internet {
        self.net.internet()
    }

    /// Send `query` over UDP from 127.0.0.1 and wait for the answer.
    pub async fn udp(&self, query: &Message) -> Message {
        Message::from_vec(&self.udp_raw(&query.to_vec().unwrap()).await)
            .expect("parseable response")
    }

    pub async fn udp_raw(&self, wire: &[u8]) -> Vec<u8> {
        self.udp_raw_from(IpAddr::V4(Ipv4Addr::LOCALHOST), wire)
            .await
    }

    /// Send raw bytes over UDP from `source` (any 127.x.y.z works on Linux) and return the raw
    /// answer.
    pub async fn udp_raw_from(&self, source: IpAddr, wire: &[u8]) -> Vec<u8> {
        let socket = UdpSocket::bind(SocketAddr::new(source, 0)).await.unwrap();
        socket.send_to(wire, self.addr).await.unwrap();
        let mut buf = vec![0u8; 65535];
        let (n, _) = tokio::time::timeout(CLIENT_TIMEOUT, socket.recv_from(&mut buf))
            .await
            .expect("an answer within the client timeout")
            .unwrap();
        buf.truncate(n);
        buf
    }

    /// Send several queries on one TCP connection (pipelined) and read as many answers.
    pub async fn tcp(&self, queries: &[Message]) -> Vec<Message> {
        let mut stream = TcpStream::connect(self.addr).await.unwrap();
        let mut out = Vec::new();
        for query in queries {
            let wire = query.to_vec().unwrap();
            out.extend_from_slice(&(wire.len() as u16).to_be_bytes());
            out.extend_from_slice(&wire);
        }
        stream.write_all(&out).await.unwrap();
        let mut answers = Vec::new();
        for _ in queries {
            let answer = tokio::time::timeout(CLIENT_TIMEOUT, async {
                let len = stream.read_u16().await.unwrap() as usize;
                let mut buf = vec![0u8; len];
                stream.read_exact(&mut buf).await.unwrap();
                buf
            })
            .await
            .expect("a TCP answer within the client timeout");
            answers.push(Message::from_vec(&answer).unwrap());
        }
        answers
    }

    /// SIGTERM, then wait for the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
        for _ in 0..100 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("scoped did not exit within 5 s of SIGTERM");
    }

    /// Send SIGHUP (reload the ECS allowlist).
    pub fn sighup(&self) {
        let status = Command::new("kill")
            .arg("-HUP")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// The path of a file next to `resolver.toml`.
    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// Write (replace) a file next to `resolver.toml`.
    pub fn write_file(&self, file: &str, text: &str) {
        std::fs::write(self.dir.join(file), text).unwrap();
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }

    /// One counter of a group (`engine`, `frontend`, …) from the control endpoint's
    /// `GET /stats`.
    pub async fn counter(&self, group: &str, counter: &str) -> u64 {
        let control = self.control.expect("the control endpoint is on");
        let mut stream = TcpStream::connect(control).await.expect("control");
        stream
            .write_all(b"GET /stats HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .await
            .expect("request");
        let mut text = String::new();
        stream.read_to_string(&mut text).await.expect("response");
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b)
            .unwrap_or_default();
        let json: serde_json::Value = serde_json::from_str(body).expect("JSON stats");
        json[group][counter].as_u64().expect("a counter")
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // A failing test shows what the resolver said (and whether it was still running).
            eprintln!(
                "scoped exit status: {:?}\nscoped stderr:\n{}",
                self.child.try_wait(),
                self.stderr()
            );
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A stub query as dig sends it: RD set, EDNS with a 1232-byte buffer unless `edns` is None.
pub fn query(id: u16, qname: &str, qtype: RecordType, edns: Option<u16>) -> Message {
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(name(qname), qtype));
    if let Some(payload) = edns {
        let mut opt = Edns::new();
        opt.set_max_payload(payload);
        msg.set_edns(opt);
    }
    msg
}

/// [`query`] with EDNS (1232) carrying an ECS option with exactly these payload bytes (FAMILY,
/// SOURCE, SCOPE, ADDRESS), however wrong: hickory serialises an unknown option as it is.
pub fn ecs_query(id: u16, qname: &str, qtype: RecordType, payload: &[u8]) -> Message {
    let mut msg = query(id, qname, qtype, Some(1232));
    if let Some(edns) = msg.edns.as_mut() {
        edns.options_mut().insert(EdnsOption::Unknown(
            scoped_ecs::ECS_OPTION_CODE,
            payload.to_vec(),
        ));
    }
    msg
}
