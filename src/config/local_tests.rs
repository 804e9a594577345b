//! `[local]` in the configuration file: both zone forms, the defaults, errors with their line.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RecordType};

use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("test.toml"))
}

fn rcode(config: &Config, name: &str) -> Option<ResponseCode> {
    config
        .server
        .local
        .answer(&Name::from_ascii(name).unwrap(), RecordType::A)
        .map(|answer| answer.rcode)
}

#[test]
fn the_default_zones_are_on_without_a_local_section() {
    let config = parse("").unwrap();
    assert_eq!(rcode(&config, "x.test."), Some(ResponseCode::NXDomain));
    assert_eq!(rcode(&config, "localhost."), Some(ResponseCode::NoError));
    assert_eq!(rcode(&config, "www.example.com."), None);
}

#[test]
fn zones_read_in_both_forms_with_records_and_nodefault() {
    let config = parse(
        r#"
[local]
nodefault = ["test."]
zones = [
    "ads.example. always-nxdomain",
    { name = "corp.example.", type = "static" },
]
records = ["www.corp.example. 300 IN A 10.0.0.1"]
"#,
    )
    .unwrap();
    assert_eq!(rcode(&config, "x.test."), None, "test. turned off");
    assert_eq!(
        rcode(&config, "x.ads.example."),
        Some(ResponseCode::NXDomain)
    );
    assert_eq!(
        rcode(&config, "www.corp.example."),
        Some(ResponseCode::NoError)
    );
    assert_eq!(
        rcode(&config, "mail.corp.example."),
        Some(ResponseCode::NXDomain)
    );
}

#[test]
fn a_bad_entry_names_its_line_list_index_and_problem() {
    for (text, expected) in [
        (
            "[local]\nrecords = [\n  \"a.example. A 192.0.2.1\",\n  \"b.example. A 300.0.0.1\",\n]\n",
            ["line 4", "local.records[1]", "b.example. A 300.0.0.1"],
        ),
        (
            "[local]\nzones = [\"ads.example. blocked\"]\n",
            ["line 2", "local.zones[0]", "unknown zone type \"blocked\""],
        ),
        (
            "[local]\nzones = [\n{ name = \"a.example.\", type = \"nope\" }]\n",
            ["line 3", "local.zones[0]", "unknown zone type"],
        ),
        (
            "[local]\nnodefault = [\"test.\",\n \"tset.\"]\n",
            ["line 3", "local.nodefault[1]", "not a default zone"],
        ),
    ] {
        let error = parse(text).unwrap_err().to_string();
        for part in expected {
            assert!(error.contains(part), "{part:?} missing from: {error}");
        }
    }
    let error = parse("[local]\nzone = []\n").unwrap_err().to_string();
    assert!(error.contains("unknown field `zone`"), "{error}");
}

#[test]
fn the_shipped_files_keep_every_default_zone_on() {
    let defaults = Config::defaults().server.local.zone_count();
    for file in ["resolver.toml", "resolver-local.toml"] {
        let config = Config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap();
        assert_eq!(config.server.local.zone_count(), defaults, "{file}");
        assert_eq!(
            rcode(&config, "localhost."),
            Some(ResponseCode::NoError),
            "{file}"
        );
        assert_eq!(
            rcode(&config, "1.0.0.10.in-addr.arpa."),
            Some(ResponseCode::NXDomain),
            "{file}"
        );
    }
}
