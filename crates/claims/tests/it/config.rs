//! Configuration that cannot work is refused when it is built, naming the key, value and expectation.

use std::time::Duration;

use portcullis_claims::{Algorithm, AuthorizerConfig};

#[test]
fn bad_configuration_is_refused_with_a_message_naming_it() {
    let audiences = |n: usize| (0..n).map(|i| format!("aud-{i}")).collect::<Vec<_>>();
    let cases: Vec<(
        &str,
        Result<AuthorizerConfig, portcullis_claims::ConfigError>,
        &str,
    )> = vec![
        (
            "relative issuer",
            AuthorizerConfig::new("issuer.example.com", ["a"]),
            r#"invalid issuer "issuer.example.com": expected an absolute https URL (relative URL without a base)"#,
        ),
        (
            "plain http issuer",
            AuthorizerConfig::new("http://issuer.example.com", ["a"]),
            r#"invalid issuer "http://issuer.example.com": expected an https URL (plain http only for loopback hosts)"#,
        ),
        (
            "credentials in the issuer",
            AuthorizerConfig::new("https://user:pw@issuer.example.com", ["a"]),
            r#"invalid issuer "https://user:pw@issuer.example.com": expected a URL without credentials"#,
        ),
        (
            "no audience",
            AuthorizerConfig::new("https://issuer.example.com", Vec::<String>::new()),
            r#"invalid audience "0 entries": expected between 1 and 50 audiences (API Gateway's quota)"#,
        ),
        (
            "51 audiences",
            AuthorizerConfig::new("https://issuer.example.com", audiences(51)),
            r#"invalid audience "51 entries": expected between 1 and 50 audiences (API Gateway's quota)"#,
        ),
        (
            "blank audience",
            AuthorizerConfig::new("https://issuer.example.com", ["  "]),
            r#"invalid audience "  ": expected a non-empty audience"#,
        ),
        (
            "no algorithms",
            AuthorizerConfig::new("https://issuer.example.com", ["a"])
                .and_then(|c| c.with_algorithms([])),
            r#"invalid algorithms "[]": expected at least one signature algorithm"#,
        ),
        (
            "plain http jwks_uri",
            AuthorizerConfig::new("https://issuer.example.com", ["a"])
                .and_then(|c| c.with_jwks_uri("http://keys.example.com/jwks.json")),
            r#"invalid jwks_uri "http://keys.example.com/jwks.json": expected an https URL (plain http only for loopback hosts)"#,
        ),
    ];
    for (name, result, message) in cases {
        assert_eq!(result.expect_err(name).to_string(), message, "{name}");
    }
}

#[test]
fn algorithm_names_are_exact_jose_names() {
    assert_eq!("RS256".parse::<Algorithm>(), Ok(Algorithm::RS256));
    assert_eq!("EdDSA".parse::<Algorithm>(), Ok(Algorithm::EdDSA));
    for bad in ["rs256", "HS256", "none", ""] {
        let error = bad.parse::<Algorithm>().expect_err(bad);
        assert!(
            error.to_string().starts_with(&format!(
                "invalid algorithms {bad:?}: expected one of RS256"
            )),
            "{error}"
        );
    }
}

#[test]
fn defaults_are_api_gateway_s() {
    let config = AuthorizerConfig::new("https://issuer.example.com", ["a"]).expect("config");
    assert_eq!(config.algorithms(), Algorithm::GATEWAY_DEFAULT);
    assert_eq!(config.leeway(), Duration::ZERO);
    assert_eq!(config.token_use(), None);
    assert_eq!(config.jwks_uri(), None);
    assert_eq!(
        config.discovery_url().expect("url").as_str(),
        "https://issuer.example.com/.well-known/openid-configuration"
    );
}

#[test]
fn domains_are_host_names_of_valid_labels_and_come_back_lowercased() {
    let expected = "a host name like tenant.example.com (no path, port or slash)";
    let long_label = format!("{}.example.com", "a".repeat(64));
    let long_name = format!("{}.com", vec!["a".repeat(60); 5].join("."));
    for bad in [
        "",
        "localhost",
        "tenant..auth0.com",
        ".tenant.auth0.com",
        "tenant.auth0.com.",
        "-tenant.auth0.com",
        "tenant-.auth0.com",
        "ten_ant.auth0.com",
        "tenant.auth0.com/path",
        "tenant.auth0.com:443",
        "tenänt.auth0.com",
        long_label.as_str(),
        long_name.as_str(),
    ] {
        let error = portcullis_claims::check_domain("domain", bad)
            .expect_err(bad)
            .to_string();
        assert_eq!(
            error,
            format!("invalid domain {bad:?}: expected {expected}")
        );
    }
    assert_eq!(
        portcullis_claims::check_domain("domain", "Tenant.EU.Auth0.com").expect("valid"),
        "tenant.eu.auth0.com"
    );
    let label_63 = format!("{}.example.com", "a".repeat(63));
    assert!(portcullis_claims::check_domain("domain", &label_63).is_ok());
}
