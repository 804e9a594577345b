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
            "[[forward-zones]]\nname = \"corp.\"\naddresses = [\"10.0.0.53\"]\ntls-name = \"dns corp\"\n",
            "[0] corp.: tls-name: \"dns corp\" is not a name",
        ),
        (
            "[[forward-zones]]\nname = \"corp.\"\naddresses = [\"10.0.0.53\"]\ntls-ca-file = \"ca.pem\"\n",
            "tls-ca-file is for DNS over TLS: it needs tls-name",
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

#[test]
fn tls_name_forwards_over_tls_on_port_853_unless_a_port_is_given() {
    let config = parse(
        "[[forward-zones]]\nname = \".\"\naddresses = [\"9.9.9.9\", \"[2620:fe::fe]:8853\"]\n\
         tls-name = \"dns.quad9.net\"\n\
         [[forward-zones]]\nname = \"lan.\"\naddresses = [\"192.168.1.1\"]\n",
    )
    .unwrap();
    let zones = &config.recursor.forward_zones;
    let tls = zones[0].tls.as_ref().expect("over TLS");
    assert_eq!(tls.name(), "dns.quad9.net");
    let expected: Vec<SocketAddr> = ["9.9.9.9:853", "[2620:fe::fe]:8853"]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
    assert_eq!(zones[0].servers, expected);
    // Without tls-name: UDP and TCP on port 53, as before.
    assert!(zones[1].tls.is_none());
    assert_eq!(zones[1].servers[0].port(), 53);
}

/// A directory of its own for one test, with `resolver.toml` in it.
fn dir_for(test: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("scoped-fwd-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const WITH_CA: &str = "[[forward-zones]]\nname = \"corp.\"\naddresses = [\"10.0.0.53\"]\n\
                       tls-name = \"dns.corp.example\"\ntls-ca-file = \"ca.pem\"\n";

#[test]
fn tls_ca_file_is_read_relative_to_the_configuration_file() {
    let dir = dir_for("ca-ok");
    let made = rcgen::generate_simple_self_signed(vec!["dns.corp.example".into()]).unwrap();
    let other = rcgen::generate_simple_self_signed(vec!["other.example".into()]).unwrap();
    // Comments between the blocks, as CA bundles have.
    let bundle = format!(
        "# corp CA\n{}\n# another\n{}",
        made.cert.pem(),
        other.cert.pem()
    );
    std::fs::write(dir.join("ca.pem"), bundle).unwrap();
    let config = Config::parse(WITH_CA, &dir.join("resolver.toml")).unwrap();
    let zone = &config.recursor.forward_zones[0];
    assert_eq!(zone.servers[0].port(), 853);
    // The same name and roots read again: an equal setting (a reload keeps its connections).
    let again = Config::parse(WITH_CA, &dir.join("resolver.toml")).unwrap();
    assert_eq!(zone.tls, again.recursor.forward_zones[0].tls);
    // Another CA file: another setting.
    std::fs::write(dir.join("ca.pem"), made.cert.pem()).unwrap();
    let fewer = Config::parse(WITH_CA, &dir.join("resolver.toml")).unwrap();
    assert_ne!(zone.tls, fewer.recursor.forward_zones[0].tls);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_bad_tls_ca_file_is_refused_naming_the_line_and_the_problem() {
    let dir = dir_for("ca-bad");
    let made = rcgen::generate_simple_self_signed(vec!["dns.corp.example".into()]).unwrap();
    let good = made.cert.pem();
    let key = made.signing_key.serialize_pem();
    // Valid base64 that is not a certificate: webpki refuses it as a trust root.
    let not_der = "-----BEGIN CERTIFICATE-----\nAAECAwQFBgcICQ==\n-----END CERTIFICATE-----\n";
    let cases: Vec<(Option<String>, &str)> = vec![
        (None, "ca.pem: No such file"),
        (Some(String::new()), "no certificate in it"),
        (Some(format!("{good}{key}")), "only CERTIFICATE blocks"),
        (
            Some(format!(
                "# x\n{}",
                good.replace("-----END CERTIFICATE-----", "")
            )),
            "the certificate at line 2 has no -----END CERTIFICATE----- line",
        ),
        (
            Some("\n-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n".to_owned()),
            "the certificate at line 2:",
        ),
        (
            Some(format!("{good}\n{not_der}")),
            "the certificate at line",
        ),
    ];
    for (content, expected) in cases {
        let _ = std::fs::remove_file(dir.join("ca.pem"));
        if let Some(content) = &content {
            std::fs::write(dir.join("ca.pem"), content).unwrap();
        }
        let err = Config::parse(WITH_CA, &dir.join("resolver.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected), "{content:?}: {err}");
        assert!(err.contains("[0] corp.: tls-ca-file"), "{err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
