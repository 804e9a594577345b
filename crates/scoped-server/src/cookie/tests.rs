use std::net::IpAddr;
use std::time::Duration;

use super::*;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

fn secrets() -> CookieSecrets {
    CookieSecrets::new(&CookieConfig {
        enabled: true,
        secret: Some([7; 16]),
        rotation: Duration::from_secs(3600 * 24),
    })
}

const CC: [u8; 8] = [0x24, 0x64, 0xc4, 0xab, 0xcf, 0x10, 0xc9, 0x57];

#[test]
fn the_hash_matches_the_rfc_9018_test_vectors() {
    let key: [u8; 16] = hex("e5e973e5a6b2a43f48e7dc849e37bfcf")
        .try_into()
        .expect("16");
    let client = ip("198.51.100.100");
    // Appendix A.1: learning a new server cookie.
    let head = hex("010000005cf79f11");
    assert_eq!(
        hash(&key, &CC, &head, client).to_vec(),
        hex("1f8130c3eee29480")
    );
    // Appendix A.2: the same client, 40 minutes later, gets a fresh one.
    let head = hex("010000005cf7a871");
    assert_eq!(
        hash(&key, &CC, &head, client).to_vec(),
        hex("d4a564a1442aca77")
    );
}

#[test]
fn a_cookie_we_issued_is_valid_for_an_hour_for_that_client_only() {
    let secrets = secrets();
    let now = 1_700_000_000;
    let cookie = secrets.server_cookie(&CC, ip("192.0.2.1"), now);
    assert_eq!(cookie[..4], [1, 0, 0, 0]);
    assert!(secrets.is_valid(&CC, &cookie, ip("192.0.2.1"), now));
    assert!(secrets.is_valid(&CC, &cookie, ip("::ffff:192.0.2.1"), now + 3600));
    assert!(
        !secrets.is_valid(&CC, &cookie, ip("192.0.2.1"), now + 3601),
        "too old"
    );
    assert!(
        secrets.is_valid(&CC, &cookie, ip("192.0.2.1"), now - 300),
        "clock skew"
    );
    assert!(
        !secrets.is_valid(&CC, &cookie, ip("192.0.2.1"), now - 301),
        "from the future"
    );
    assert!(
        !secrets.is_valid(&CC, &cookie, ip("192.0.2.2"), now),
        "another client"
    );
    let mut other_cc = CC;
    other_cc[0] ^= 1;
    assert!(!secrets.is_valid(&other_cc, &cookie, ip("192.0.2.1"), now));
    let mut forged = cookie;
    forged[15] ^= 1;
    assert!(!secrets.is_valid(&CC, &forged, ip("192.0.2.1"), now));
    assert!(!secrets.is_valid(&CC, &cookie[..8], ip("192.0.2.1"), now));
}

#[test]
fn the_secret_rotates_and_the_previous_one_is_still_accepted() {
    let secrets = CookieSecrets::new(&CookieConfig {
        enabled: true,
        secret: Some([9; 16]),
        rotation: Duration::from_secs(3600),
    });
    // Issued one second before the period ends, checked 30 minutes into the next.
    let issued = 3600 * 1000 - 1;
    let cookie = secrets.server_cookie(&CC, ip("192.0.2.1"), issued);
    assert!(secrets.is_valid(&CC, &cookie, ip("192.0.2.1"), issued + 1800));
    // The next period's cookie for the same inputs is computed with another secret.
    let next = secrets.server_cookie(&CC, ip("192.0.2.1"), issued + 1);
    assert_ne!(cookie[8..], next[8..]);
    // Two instances with the same configured secret agree; another secret does not.
    let twin = CookieSecrets::new(&CookieConfig {
        enabled: true,
        secret: Some([9; 16]),
        rotation: Duration::from_secs(3600),
    });
    assert!(twin.is_valid(&CC, &cookie, ip("192.0.2.1"), issued));
    assert!(!super::tests::secrets().is_valid(&CC, &cookie, ip("192.0.2.1"), issued));
}

#[test]
fn cookie_options_are_found_and_bad_lengths_are_malformed() {
    let option = |len: usize| {
        let mut o = vec![0, 10];
        o.extend_from_slice(&(len as u16).to_be_bytes());
        o.extend((0..len).map(|i| i as u8));
        o
    };
    let mut ecs_then_cookie = vec![0, 8, 0, 4, 0, 1, 0, 0];
    ecs_then_cookie.extend(option(8));
    match find_cookie(&ecs_then_cookie) {
        QueryCookie::Present { client, server } => {
            assert_eq!(client, [0, 1, 2, 3, 4, 5, 6, 7]);
            assert!(server.is_empty());
        }
        other => panic!("{other:?}"),
    }
    match find_cookie(&option(24)) {
        QueryCookie::Present { server, .. } => assert_eq!(server.len(), 16),
        other => panic!("{other:?}"),
    }
    assert_eq!(find_cookie(&[]), QueryCookie::None);
    for len in [0, 7, 9, 15, 41] {
        assert_eq!(find_cookie(&option(len)), QueryCookie::Malformed, "{len}");
    }
    let mut twice = option(8);
    twice.extend(option(8));
    assert_eq!(find_cookie(&twice), QueryCookie::Malformed);
}
