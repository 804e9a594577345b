use std::net::SocketAddr;

use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("test.toml"))
}

#[test]
fn no_stub_zones_by_default() {
    assert!(parse("").unwrap().recursor.stub_zones.is_empty());
}

#[test]
fn stub_zones_reach_the_engine_with_their_ports() {
    let config = parse(
        "[recursion]\nupstream-port = 5353\n\
         [[stub-zones]]\nname = \"Corp.Example\"\naddresses = [\"10.0.0.53\", \"10.0.0.54:5300\", \"fd00::53\", \"[fd00::54]:53\"]\n\
         [[stub-zones]]\nname = \"lab.example.\"\naddresses = [\"10.1.0.53\"]\n",
    )
    .unwrap();
    let zones = &config.recursor.stub_zones;
    assert_eq!(zones.len(), 2);
    assert_eq!(zones[0].name.to_ascii(), "corp.example.");
    let expected: Vec<SocketAddr> = [
        "10.0.0.53:5353",
        "10.0.0.54:5300",
        "[fd00::53]:5353",
        "[fd00::54]:53",
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect();
    assert_eq!(zones[0].servers, expected);
    assert_eq!(zones[1].servers, vec!["10.1.0.53:5353".parse().unwrap()]);
}

#[test]
fn bad_stub_zones_are_refused_naming_the_key() {
    for text in [
        "[[stub-zones]]\nname = \"corp.example.\"\naddresses = []\n",
        "[[stub-zones]]\nname = \"corp.example.\"\naddresses = [\"ns.corp.example\"]\n",
        "[[stub-zones]]\nname = \"a..b\"\naddresses = [\"10.0.0.53\"]\n",
        "[[stub-zones]]\nname = \"x.\"\naddresses = [\"10.0.0.53\"]\n[[stub-zones]]\nname = \"X\"\naddresses = [\"10.0.0.54\"]\n",
    ] {
        let error = parse(text).unwrap_err().to_string();
        assert!(error.contains("stub-zones"), "{text}: {error}");
    }
    // A key the format does not know.
    assert!(
        parse("[[stub-zones]]\nname = \"x.\"\naddresses = [\"10.0.0.53\"]\ntls-name = \"x\"\n")
            .is_err()
    );
}
