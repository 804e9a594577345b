//! `[rate-limit]` and `[cookies]`: the abuse controls of a public resolver (docs/configuration.md,
//! docs/deployment.md).

use std::path::Path;
use std::time::Duration;

use scoped_server::{CookieConfig, RateLimitConfig};
use serde::Deserialize;

use super::ConfigError;

/// `[rate-limit]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct RateLimitSection {
    /// UDP queries per second per client /24 (IPv4) or /56 (IPv6); 0 = off.
    pub per_client_qps: u32,
    /// Every slip-th over-limit query gets a truncated (or BADCOOKIE) answer, the rest are
    /// dropped; 0 drops them all.
    pub slip: u32,
    /// Client networks tracked at once.
    pub table_size: u64,
}

impl Default for RateLimitSection {
    fn default() -> Self {
        let d = RateLimitConfig::default();
        Self {
            per_client_qps: d.per_client_qps,
            slip: d.slip,
            table_size: d.table_size,
        }
    }
}

impl RateLimitSection {
    pub(super) fn resolve(self, path: &Path) -> Result<RateLimitConfig, ConfigError> {
        if self.table_size == 0 {
            return Err(ConfigError::Invalid {
                path: path.to_owned(),
                key: "rate-limit.table-size",
                problem: "must be at least 1".into(),
            });
        }
        Ok(RateLimitConfig {
            per_client_qps: self.per_client_qps,
            slip: self.slip,
            table_size: self.table_size,
        })
    }
}

/// `[cookies]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct CookiesSection {
    /// Answer DNS cookies (RFC 7873).
    pub enabled: bool,
    /// 32 hex digits: the server-cookie secret every instance behind one load balancer shares.
    /// Absent: a random secret per process.
    pub secret: Option<String>,
    /// How often the secret in use changes (derived from `secret`); at least an hour.
    #[serde(with = "humantime_serde")]
    pub rotation: Duration,
}

impl Default for CookiesSection {
    fn default() -> Self {
        let d = CookieConfig::default();
        Self {
            enabled: d.enabled,
            secret: None,
            rotation: d.rotation,
        }
    }
}

impl CookiesSection {
    pub(super) fn resolve(self, path: &Path) -> Result<CookieConfig, ConfigError> {
        let invalid = |key: &'static str, problem: &str| ConfigError::Invalid {
            path: path.to_owned(),
            key,
            problem: problem.into(),
        };
        if self.rotation < Duration::from_secs(3600) {
            return Err(invalid(
                "cookies.rotation",
                "must be at least 1h (a server cookie is valid for an hour)",
            ));
        }
        let secret = self
            .secret
            .map(|text| parse_secret(&text))
            .transpose()
            .map_err(|problem| invalid("cookies.secret", problem))?;
        Ok(CookieConfig {
            enabled: self.enabled,
            secret,
            rotation: self.rotation,
        })
    }
}

fn parse_secret(text: &str) -> Result<[u8; 16], &'static str> {
    const PROBLEM: &str =
        "must be 32 hexadecimal digits (128 bits), e.g. from `openssl rand -hex 16`";
    let text = text.trim();
    if text.len() != 32 || !text.is_ascii() {
        return Err(PROBLEM);
    }
    let mut secret = [0; 16];
    for (i, byte) in secret.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| PROBLEM)?;
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::Config;

    fn parse(text: &str) -> Result<Config, super::ConfigError> {
        Config::parse(text, Path::new("test.toml"))
    }

    #[test]
    fn rate_limiting_is_off_and_cookies_on_by_default() {
        let config = parse("").expect("defaults");
        assert_eq!(config.server.rate_limit.per_client_qps, 0);
        assert!(config.server.cookies.enabled);
        assert_eq!(config.server.cookies.secret, None);
        assert!(config.server.proxy_protocol_from.is_empty());
        assert!(config.recursor.infra.cookies, "cookies to authoritatives");
        let off = parse("[recursion]\ncookies = false").expect("valid");
        assert!(!off.recursor.infra.cookies);
    }

    #[test]
    fn proxy_rate_limit_and_cookie_keys_are_read() {
        let config = parse(
            "[server]\nproxy-protocol-from = [\"10.0.0.0/24\"]\n\
             [rate-limit]\nper-client-qps = 50\nslip = 3\ntable-size = 10\n\
             [cookies]\nsecret = \"000102030405060708090a0b0c0d0e0f\"\nrotation = \"2h\"\n",
        )
        .expect("valid");
        assert_eq!(
            config.server.proxy_protocol_from,
            vec!["10.0.0.0/24".parse::<ipnet::IpNet>().expect("net")]
        );
        assert_eq!(config.server.rate_limit.per_client_qps, 50);
        assert_eq!(config.server.rate_limit.slip, 3);
        assert_eq!(config.server.rate_limit.table_size, 10);
        let secret: Vec<u8> = (0..16).collect();
        assert_eq!(config.server.cookies.secret.map(Vec::from), Some(secret));
        assert_eq!(config.server.cookies.rotation.as_secs(), 7200);
    }

    #[test]
    fn bad_secrets_rotations_and_prefixes_are_refused_by_key() {
        for (text, key) in [
            ("[cookies]\nsecret = \"abc\"", "cookies.secret"),
            (
                "[cookies]\nsecret = \"zz0102030405060708090a0b0c0d0e0f\"",
                "cookies.secret",
            ),
            ("[cookies]\nrotation = \"10m\"", "cookies.rotation"),
            ("[rate-limit]\ntable-size = 0", "rate-limit.table-size"),
            (
                "[server]\nproxy-protocol-from = [\"10.0.0.1/24\"]",
                "server.proxy-protocol-from",
            ),
        ] {
            let error = parse(text).expect_err(text).to_string();
            assert!(error.contains(key), "{text}: {error}");
        }
    }
}
