use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("test.toml"))
}

#[test]
fn dns64_is_off_with_the_well_known_prefix_by_default() {
    let dns64 = parse("").unwrap().recursor.dns64;
    assert!(!dns64.enabled);
    assert_eq!(dns64.prefix, "64:ff9b::/96".parse().unwrap());
    assert_eq!(dns64.exclude, vec!["::ffff:0:0/96".parse().unwrap()]);
}

#[test]
fn dns64_keys_reach_the_engine() {
    let config = parse(
        "[dns64]\nenabled = true\nprefix = \"2001:db8:122:344::/64\"\n\
         exclude = [\"::ffff:0:0/96\", \"2001:db8:dead::/48\"]\n",
    )
    .unwrap();
    let dns64 = config.recursor.dns64;
    assert!(dns64.enabled);
    assert_eq!(dns64.prefix, "2001:db8:122:344::/64".parse().unwrap());
    assert_eq!(dns64.exclude.len(), 2);
}

#[test]
fn every_rfc6052_prefix_length_is_accepted() {
    for prefix in [
        "2001:db8::/32",
        "2001:db8:100::/40",
        "2001:db8:122::/48",
        "2001:db8:122:300::/56",
        "2001:db8:122:344::/64",
        "64:ff9b::/96",
    ] {
        let text = format!("[dns64]\nenabled = true\nprefix = \"{prefix}\"\n");
        assert!(parse(&text).is_ok(), "{prefix} refused");
    }
}

#[test]
fn dns64_prefixes_that_cannot_carry_ipv4_are_refused_naming_the_key() {
    for prefix in ["64:ff9b::/80", "64:ff9b:0:0:100::/96", "64:ff9b::1/96"] {
        let text = format!("[dns64]\nprefix = \"{prefix}\"\n");
        let error = parse(&text).unwrap_err().to_string();
        assert!(error.contains("dns64.prefix"), "{prefix}: {error}");
    }
    // Not an IPv6 network at all, or an unknown key: refused by the file format.
    assert!(parse("[dns64]\nprefix = \"10.0.0.0/8\"\n").is_err());
    assert!(parse("[dns64]\nsynthesize = true\n").is_err());
}
