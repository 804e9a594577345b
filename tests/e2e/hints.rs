//! Root hints and address families through the binary: a hints file written with relative
//! owner names (as many named.root copies are) is read relative to the root by `serve` and
//! `check-config`; a bad hints file, or both address families off, is refused with the line or
//! the keys named.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use scoped_testkit::standard::{ROOT_A, ROOT_B};
use scoped_testkit::{name, standard_internet};

use crate::a_records;
use crate::lab::{Lab, query};

/// The standard internet's root hints without the final dots, in mixed case.
const RELATIVE_HINTS: &str = "\
; the root servers of the lab, written without the final dots
.             3600000  NS  a.root.test
.             3600000  NS  B.ROOT.TEST.
a.root.test   3600000  A   127.53.0.1
B.Root.Test   3600000  A   127.53.0.2
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_reads_root_hints_with_relative_owner_names() {
    let lab = Lab::start_with_files(
        standard_internet(),
        &[("root.hints", RELATIVE_HINTS)],
        |_| {},
    )
    .await;
    let response = lab
        .udp(&query(1, "www.example.com.", RecordType::A, Some(1232)))
        .await;
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    assert_eq!(a_records(&response), vec![Ipv4Addr::new(192, 0, 2, 10)]);
    let first = &lab.internet().query_log()[0];
    assert_eq!(first.qname, name("."), "priming first");
    assert!([ROOT_A, ROOT_B].contains(&first.server.ip()));
}

/// A directory holding `files` (name, text) for one `check-config` run; removed on drop.
struct ConfigDir(PathBuf);

impl ConfigDir {
    fn new(label: &str, files: &[(&str, &str)]) -> Self {
        let dir = std::env::temp_dir().join(format!("scoped-e2e-{label}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (file, text) in files {
            std::fs::write(dir.join(file), text).unwrap();
        }
        Self(dir)
    }

    fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for ConfigDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn check_config(file: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scoped"))
        .arg("check-config")
        .arg(file)
        .output()
        .unwrap()
}

#[test]
fn check_config_accepts_relative_root_hints_and_names_a_bad_line() {
    let dir = ConfigDir::new(
        "hints",
        &[
            ("root.hints", RELATIVE_HINTS),
            (
                "bad.hints",
                ". NS a.root.test\na.root.test A 127.53.0.1\na.root.test AAAA 127.53.0.2\n",
            ),
            ("good.toml", "[recursion]\nroot-hints = \"root.hints\"\n"),
            ("bad.toml", "[recursion]\nroot-hints = \"bad.hints\"\n"),
        ],
    );
    let out = check_config(&dir.path("good.toml"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("2 root hints"), "{stdout}");

    let out = check_config(&dir.path("bad.toml"));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("recursion.root-hints")
            && stderr.contains("line 3")
            && stderr.contains("a.root.test AAAA 127.53.0.2"),
        "{stderr}"
    );
}

#[test]
fn check_config_refuses_ipv4_and_ipv6_both_off() {
    let dir = ConfigDir::new(
        "families",
        &[("resolver.toml", "[recursion]\nipv4 = false\nipv6 = false\n")],
    );
    let out = check_config(&dir.path("resolver.toml"));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("recursion.ipv4") && stderr.contains("recursion.ipv6"),
        "{stderr}"
    );
}
