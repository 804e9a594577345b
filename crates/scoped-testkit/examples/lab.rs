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

use scoped_testkit::signed_lab::signed_lab_internet;
use scoped_testkit::standard_internet;

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
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX));
        let (internet, anchor) = signed_lab_internet(now);
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
