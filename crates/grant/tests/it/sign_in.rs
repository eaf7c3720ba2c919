//! The sign-in pieces of `grant`: PKCE (RFC 7636's own example), the sign-in URL, and every way a
//! redirect back to the local listener is refused.

use portcullis_grant::{AuthorizationCode, Endpoints, Pkce, RedirectError, random_text};

fn sign_in() -> AuthorizationCode {
    AuthorizationCode::new(
        Endpoints {
            authorization_endpoint: "https://login.example.com/authorize".into(),
            token_endpoint: "https://login.example.com/token".into(),
        },
        "spa-client",
        "http://localhost:3000/callback",
        &["openid".to_owned(), "profile/read".to_owned()],
    )
}

#[test]
fn pkce_challenge_matches_rfc_7636_appendix_b() {
    let pair = Pkce::from_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into());
    assert_eq!(
        pair.challenge,
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
    assert!(
        !format!("{pair:?}").contains("dBjftJeZ"),
        "the verifier is never shown"
    );
}

#[test]
fn fresh_verifiers_and_states_are_43_url_safe_characters_and_differ() {
    let a = random_text();
    let b = random_text();
    assert_ne!(a, b);
    assert_eq!(a.len(), 43);
    assert!(
        a.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
    );
    assert_ne!(Pkce::new().verifier, Pkce::new().verifier);
}

#[test]
fn the_sign_in_url_carries_client_redirect_state_and_s256_challenge() {
    let mut grant = sign_in();
    grant
        .extra
        .push(("audience".into(), "https://api.example.com".into()));
    let url = grant.authorize_url().expect("url");
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(url.host_str(), Some("login.example.com"));
    assert_eq!(get("response_type"), "code");
    assert_eq!(get("client_id"), "spa-client");
    assert_eq!(get("redirect_uri"), "http://localhost:3000/callback");
    assert_eq!(get("state"), grant.state);
    assert_eq!(get("code_challenge"), grant.pkce.challenge);
    assert_eq!(get("code_challenge_method"), "S256");
    assert_eq!(get("scope"), "openid profile/read");
    assert_eq!(get("audience"), "https://api.example.com");
    assert!(
        !url.as_str().contains(&grant.pkce.verifier),
        "the verifier never leaves"
    );
}

#[test]
fn a_plain_http_sign_in_page_off_loopback_is_refused() {
    let mut grant = sign_in();
    grant.endpoints.authorization_endpoint = "http://login.example.com/authorize".into();
    let error = grant.authorize_url().unwrap_err().to_string();
    assert!(
        error.contains("http://login.example.com/authorize") && error.contains("https"),
        "{error}"
    );
}

#[test]
fn redirects_are_accepted_only_with_this_sign_ins_state_and_a_code() {
    let grant = sign_in();
    let state = grant.state.clone();
    assert_eq!(
        grant.code_from_redirect(&format!("code=abc123&state={state}")),
        Ok("abc123".to_owned())
    );
    let cases = [
        ("code=abc123".to_owned(), RedirectError::State),
        (
            "code=abc123&state=someone-else".to_owned(),
            RedirectError::State,
        ),
        (format!("state={state}"), RedirectError::NoCode),
        (format!("code=&state={state}"), RedirectError::NoCode),
        (
            format!("code={}&state={state}", "x".repeat(5000)),
            RedirectError::NoCode,
        ),
        (
            format!("error=access_denied&error_description=User+cancelled&state={state}"),
            RedirectError::Refused("access_denied User cancelled".into()),
        ),
        // Any page can send the browser to the listener: an error without this sign-in's state
        // must not end the login.
        (
            "error=access_denied&error_description=forged".to_owned(),
            RedirectError::State,
        ),
        (
            "error=access_denied&state=someone-else".to_owned(),
            RedirectError::State,
        ),
        (String::new(), RedirectError::State),
        ("%%%&&==".to_owned(), RedirectError::State),
    ];
    for (query, expected) in cases {
        assert_eq!(
            grant.code_from_redirect(&query),
            Err(expected),
            "{query:.60}"
        );
    }
}
