//! Generic OIDC interop: oauth2-mock-server (from npm, started on 127.0.0.1) issues client-credentials
//! tokens shaped as Auth0 issues them (issuer with trailing slash, `aud` list, `permissions`) and as
//! Okta issues them (`scp` list, `cid`), verified through the Auth0, Okta and OIDC profiles. Tokens
//! are fetched with the providers' own client-credentials requests.

use portcullis_claims::{AuthError, TokenKind, VerifierOptions};
use portcullis_config::{Provider, Sources, load};
use portcullis_testkit::external::{Shape, start_mock_issuer};

const AUTH0_ISSUER: &str = "https://tenant.eu.auth0.com/";
const OKTA_ISSUER: &str = "https://dev-123.okta.com/oauth2/default";

fn scopes(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth0_shaped_tokens_verify_through_the_auth0_profile() {
    let issuer = start_mock_issuer(Shape::Auth0, Some(AUTH0_ISSUER), "https://api.example.com")
        .expect("mock issuer");
    let text = format!(
        "[auth]\nprovider = \"auth0\"\nallow_loopback_keys = true\njwks_uri = \"{}/jwks\"\n\
         [auth.auth0]\ndomain = \"tenant.eu.auth0.com\"\naudience = \"https://api.example.com\"\n\
         [routes.\"POST /user/profile\"]\nscopes = [\"profile/write\"]\n",
        issuer.url()
    );
    let settings = load(&Sources::text(&text)).expect("settings");
    let Provider::Auth0(tenant) = &settings.auth.provider else {
        panic!("auth0 profile")
    };
    assert_eq!(
        settings.auth.configs[0].issuer(),
        AUTH0_ISSUER,
        "derived issuer keeps Auth0's trailing slash"
    );

    let mut request = tenant.client_credentials(
        "m2m-client",
        "not-a-real-secret",
        &scopes(&["profile/read", "profile/write"]),
    );
    request.token_url = format!("{}/token", issuer.url());
    let granted = request.request().await.expect("client-credentials token");

    let authorizer = settings
        .auth
        .authorizer(VerifierOptions::default())
        .expect("authorizer");
    let route = settings.routes.scopes("POST", "/user/profile");
    let claims = authorizer
        .authorize(Some(&format!("Bearer {}", granted.access_token)), route)
        .await
        .expect("Auth0-shaped token verifies");
    let who = settings.auth.mapping.identity(&claims);
    assert_eq!(claims.iss(), Some(AUTH0_ISSUER));
    assert_eq!(
        claims.aud(),
        [
            "https://api.example.com",
            "https://tenant.eu.auth0.com/userinfo"
        ]
    );
    assert_eq!(who.permissions, ["profile/read", "profile/write"]);
    assert_eq!(who.client_id.as_deref(), Some("m2m-client"));
    assert_eq!(who.token_kind, TokenKind::Access);

    // The same token against the issuer without the slash is refused: iss is compared exactly.
    let slashless = text.replace(
        "provider = \"auth0\"",
        "provider = \"auth0\"\nissuer = \"https://tenant.eu.auth0.com\"",
    );
    let strict = load(&Sources::text(&slashless))
        .expect("settings")
        .auth
        .authorizer(VerifierOptions::default())
        .expect("authorizer");
    assert_eq!(
        strict.verify(&granted.access_token).await.unwrap_err(),
        AuthError::InvalidIssuer
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn okta_shaped_tokens_verify_through_the_okta_profile() {
    let issuer =
        start_mock_issuer(Shape::Okta, Some(OKTA_ISSUER), "api://default").expect("mock issuer");
    let text = format!(
        "[auth]\nprovider = \"okta\"\nallow_loopback_keys = true\njwks_uri = \"{}/jwks\"\n[auth.okta]\ndomain = \"dev-123.okta.com\"\n\
         [routes.\"GET /user/profile\"]\nscopes = [\"profile/read\"]\n",
        issuer.url()
    );
    let settings = load(&Sources::text(&text)).expect("settings");
    let Provider::Okta(okta) = &settings.auth.provider else {
        panic!("okta profile")
    };
    let mut request = okta.client_credentials(
        "0oa-client",
        "not-a-real-secret",
        &scopes(&["profile/read"]),
    );
    request.token_url = format!("{}/token", issuer.url());
    let granted = request.request().await.expect("client-credentials token");

    let authorizer = settings
        .auth
        .authorizer(VerifierOptions::default())
        .expect("authorizer");
    let claims = authorizer
        .authorize(
            Some(&granted.access_token),
            settings.routes.scopes("GET", "/user/profile"),
        )
        .await
        .expect("Okta-shaped token verifies");
    let who = settings.auth.mapping.identity(&claims);
    assert!(
        claims.get("scope").is_none(),
        "Okta puts scopes in scp only"
    );
    assert_eq!(who.token_scopes, ["profile/read"]);
    assert_eq!(who.client_id.as_deref(), Some("0oa-client"));

    // A route needing a scope the token lacks answers 403.
    let refusal = authorizer
        .authorize(Some(&granted.access_token), &["profile/write"])
        .await
        .unwrap_err();
    assert_eq!(
        (refusal.status(), refusal.body()),
        (403, r#"{"message":"Forbidden"}"#)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_oidc_issuer_is_found_by_discovery() {
    let issuer = start_mock_issuer(Shape::Oidc, None, "my-api").expect("mock issuer");
    let text = format!(
        "[auth]\nprovider = \"oidc\"\nissuer = \"{}\"\naudience = \"my-api\"\n",
        issuer.url()
    );
    let settings = load(&Sources::text(&text)).expect("settings");
    let request = portcullis_grant::ClientCredentials {
        token_url: format!("{}/token", issuer.url()),
        client_id: "svc".into(),
        client_secret: "not-a-real-secret".into(),
        audience: None,
        scopes: scopes(&["read"]),
        basic_auth: false,
    };
    let granted = request.request().await.expect("token");
    let authorizer = settings
        .auth
        .authorizer(VerifierOptions::default())
        .expect("authorizer");
    assert_eq!(authorizer.hydrate().await.expect("discovery + JWKS"), 1);
    let claims = authorizer
        .verify(&granted.access_token)
        .await
        .expect("verifies");
    assert_eq!(claims.sub(), Some("svc"));

    // A token from another issuer instance (its own keys) is refused: its kid is not published here.
    let other = start_mock_issuer(Shape::Oidc, None, "other-api").expect("second issuer");
    let foreign = portcullis_grant::ClientCredentials {
        token_url: format!("{}/token", other.url()),
        ..request
    };
    let foreign = foreign.request().await.expect("token");
    let refusal = authorizer.verify(&foreign.access_token).await.unwrap_err();
    assert!(
        matches!(refusal, AuthError::UnknownKid | AuthError::InvalidSignature),
        "{refusal:?}"
    );
}
