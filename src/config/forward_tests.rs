use std::net::SocketAddr;

use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("test.toml"))
}

#[test]
fn no_forward_zones_by_default() {
    assert!(parse("").unwrap().recursor.forward_zones.is_empty());
}

#[test]
fn forward_zones_reach_the_engine_with_their_ports() {
    let config = parse(
        "[[forward-zones]]\nname = \"LAN\"\naddresses = [\"192.168.1.1\", \"10.0.0.53:5353\", \"[::1]:53\", \"fd00::53\"]\n\
         [[forward-zones]]\nname = \".\"\naddresses = [\"9.9.9.9\"]\n",
    )
    .unwrap();
    let zones = &config.recursor.forward_zones;
    assert_eq!(zones.len(), 2);
    assert_eq!(zones[0].name.to_ascii(), "lan.");
    let expected: Vec<SocketAddr> = [
        "192.168.1.1:53",
        "10.0.0.53:5353",
        "[::1]:53",
        "[fd00::53]:53",
    ]
    .iter()
    .map(|a| a.parse().unwrap())
    .collect();
    assert_eq!(zones[0].servers, expected);
    assert!(zones[1].name.is_root());
}

#[test]
fn bad_forward_zones_are_refused_with_the_entry_named() {
    let cases = [
        (
            "[[forward-zones]]\nname = \"lan.\"\naddresses = []\n",
            "no addresses",
        ),
        (
            "[[forward-zones]]\nname = \"lan.\"\naddresses = [\"router\"]\n",
            "bad address",
        ),
        (
            "[[forward-zones]]\nname = \"lan.\"\naddresses = [\"192.168.1.1\"]\n\
             [[forward-zones]]\nname = \"LAN.\"\naddresses = [\"192.168.1.2\"]\n",
            "given twice",
        ),
        (
            "[[forward-zones]]\nname = \"lan.\"\naddresses = [\"192.168.1.1\"]\n\
             [[stub-zones]]\nname = \"lan.\"\naddresses = [\"192.168.1.2\"]\n",
            "also a stub zone",
        ),
        (
            "[[forward-zones]]\nname = \"corp.\"\naddresses = [\"10.0.0.53\"]\ntls-name = \"dns.corp\"\n",
            "not supported yet",
        ),
        (
            "[[forward-zones]]\nname = \"lan.\"\naddresses = [\"192.168.1.1\"]\nport = 5\n",
            "port",
        ),
    ];
    for (text, expected) in cases {
        let err = parse(text).unwrap_err().to_string();
        assert!(err.contains(expected), "{text}: {err}");
    }
}
