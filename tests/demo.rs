//! `scoped demo` runs end to end and its table tells the truth: the resolver without ECS sends
//! Californians to Tokyo, scoped does not, only /24 and /56 prefixes leave it, and nothing
//! reaches servers off the allowlist.

#[test]
fn demo_shows_ecs_fixing_the_californian_in_tokyo() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_scoped"))
        .arg("demo")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(
            "Californians sent to the Tokyo edge: 4 of 4 answers without ECS, 0 of 4 with scoped."
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("Client prefixes the CDN ever saw: 198.51.100.0/24, 203.0.113.0/24, 2001:db8:81::/56, 2001:db8:1::/56 "),
        "{stdout}"
    );
    assert!(
        stdout.contains("off the allowlist (root, TLD, other.example.): 0."),
        "{stdout}"
    );
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("| scoped (ECS)"))
        .collect();
    assert_eq!(rows.len(), 9, "{stdout}");
    assert!(
        rows[1].ends_with("| hit   |"),
        "the second Tokyo query is a cache hit: {}",
        rows[1]
    );
    assert!(
        rows[2].contains("San Francisco edge") && rows[2].contains("| miss  |"),
        "{}",
        rows[2]
    );
}
