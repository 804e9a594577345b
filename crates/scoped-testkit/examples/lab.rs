//! Serve the testkit's standard internet on loopback until Ctrl-C, for trying scoped by hand:
//!
//! ```text
//! cargo run -p scoped-testkit --example lab -- /tmp/lab       # writes /tmp/lab/{root.hints,resolver.toml}
//! cargo run --release -- serve --config /tmp/lab/resolver.toml
//! dig @127.0.0.1 -p 5353 www.example.com
//! ```

use std::path::PathBuf;

use scoped_testkit::standard_internet;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "lab".into()));
    std::fs::create_dir_all(&dir)?;
    let internet = standard_internet();
    let lab = internet.serve_on_loopback().await?;
    std::fs::write(dir.join("root.hints"), internet.root_hints_text())?;
    let config = format!(
        "# A lab resolver: the testkit's standard internet on 127.53.x.y:{port}.\n\
         [server]\nlisten = [\"127.0.0.1:5353\"]\n\n\
         [recursion]\nroot-hints = \"root.hints\"\nallow-loopback-servers = true\nupstream-port = {port}\n",
        port = lab.port()
    );
    std::fs::write(dir.join("resolver.toml"), config)?;
    println!(
        "lab: {} authoritative servers on port {}",
        lab.addrs().len(),
        lab.port()
    );
    println!(
        "lab: run `scoped serve --config {}`",
        dir.join("resolver.toml").display()
    );
    tokio::signal::ctrl_c().await?;
    println!("lab: {} queries served", internet.total_queries());
    Ok(())
}
