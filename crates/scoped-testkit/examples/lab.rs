//! Serve a testkit internet on loopback until Ctrl-C, for trying scoped by hand:
//!
//! ```text
//! cargo run -p scoped-testkit --example lab -- /tmp/lab       # writes /tmp/lab/{root.hints,resolver.toml}
//! cargo run --release -- serve --config /tmp/lab/resolver.toml
//! dig @127.0.0.1 -p 5353 www.example.com
//! ```
//!
//! With `--signed` the internet is a DNSSEC-signed hierarchy (signed now, valid around the wall
//! clock) whose root DS is written as `root.key`, the configuration's trust anchor:
//! `www.example.` is secure, and `sub.example.` has a DS that matches none of its keys, so
//! `www.sub.example.` is bogus.
//!
//! ```text
//! cargo run -p scoped-testkit --example lab -- /tmp/lab --signed
//! cargo run --release -- serve --config /tmp/lab/resolver.toml
//! dig @127.0.0.1 -p 5353 +dnssec www.example        # AD, with the RRSIG
//! dig @127.0.0.1 -p 5353 +dnssec www.sub.example    # SERVFAIL, EDE 9 (DNSKEY Missing)
//! ```

use std::path::PathBuf;

use scoped_testkit::signed::{DsMode, Signing, sign_hierarchy};
use scoped_testkit::{Internet, InternetBuilder, Zone, standard_internet};

const ROOT: &str = "$TTL 86400
@ IN SOA a.root. host. 1 1800 900 604800 86400
@ IN NS a.root.
a.root. IN A 127.53.0.1
example. IN NS ns.example.
ns.example. IN A 127.53.0.2
";

const EXAMPLE: &str = "$TTL 3600
@ IN SOA ns host 1 1800 900 604800 300
@ IN NS ns
ns IN A 127.53.0.2
www IN A 192.0.2.1
sub IN NS ns.sub
ns.sub IN A 127.53.0.3
";

const SUB: &str = "$TTL 3600
@ IN SOA ns host 1 1800 900 604800 300
@ IN NS ns
ns IN A 127.53.0.3
www IN A 192.0.2.9
";

/// The signed hierarchy and its root's DS as trust-anchor text.
fn signed_internet() -> (Internet, String) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX));
    let zone = |origin: &str, text: &str| Zone::parse(origin, text).expect("a lab zone");
    let stray = Signing {
        ds: DsMode::Stray,
        ..Signing::new(now)
    };
    let hierarchy = sign_hierarchy(vec![
        (zone(".", ROOT), Some(Signing::new(now))),
        (zone("example.", EXAMPLE), Some(Signing::new(now))),
        (zone("sub.example.", SUB), Some(stray)),
    ])
    .expect("the lab hierarchy signs");
    let mut builder = InternetBuilder::new();
    hierarchy.add_to(&mut builder);
    builder
        .server("127.53.0.1".parse().expect("an address"), &["."])
        .server("127.53.0.2".parse().expect("an address"), &["example."])
        .server("127.53.0.3".parse().expect("an address"), &["sub.example."]);
    let internet = builder.build().expect("the lab internet");
    (internet, hierarchy.anchor_text)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let signed = args.iter().any(|a| a == "--signed");
    let dir = PathBuf::from(
        args.iter()
            .find(|a| !a.starts_with("--"))
            .cloned()
            .unwrap_or_else(|| "lab".into()),
    );
    std::fs::create_dir_all(&dir)?;
    let (internet, dnssec) = if signed {
        let (internet, anchor) = signed_internet();
        std::fs::write(dir.join("root.key"), anchor)?;
        (
            internet,
            "[dnssec]\nvalidation = true\ntrust-anchor-file = \"root.key\"\n",
        )
    } else {
        // The standard internet is unsigned: with the built-in root anchor every answer would
        // be bogus.
        (standard_internet(), "[dnssec]\nvalidation = false\n")
    };
    let lab = internet.serve_on_loopback().await?;
    std::fs::write(dir.join("root.hints"), internet.root_hints_text())?;
    let config = format!(
        "# A lab resolver: a testkit internet on 127.53.x.y:{port}.\n\
         [server]\nlisten = [\"127.0.0.1:5353\"]\n\n\
         [recursion]\nroot-hints = \"root.hints\"\nallow-loopback-servers = true\nupstream-port = {port}\n\n\
         {dnssec}",
        port = lab.port()
    );
    std::fs::write(dir.join("resolver.toml"), config)?;
    println!(
        "lab: {} authoritative servers on port {}{}",
        lab.addrs().len(),
        lab.port(),
        if signed { ", signed" } else { "" }
    );
    println!(
        "lab: run `scoped serve --config {}`",
        dir.join("resolver.toml").display()
    );
    tokio::signal::ctrl_c().await?;
    println!("lab: {} queries served", internet.total_queries());
    Ok(())
}
