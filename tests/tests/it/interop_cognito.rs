//! Cognito interop: moto's Cognito emulation (from PyPI, started on 127.0.0.1) creates a pool, client,
//! group and user through the Rust SDK and issues real id and access tokens, which the Cognito profile
//! verifies. moto serves the JWKS at `/{pool}/.well-known/jwks.json` while `iss` stays the real
//! Cognito URL, so the configuration overrides `jwks_uri`.

use portcullis_claims::{AuthError, Authorizer, TokenKind, VerifierOptions};
use portcullis_cognito::sdk::{CognitoAdmin, Provisioned, Tokens, static_client};
use portcullis_config::{Settings, Sources, load};
use portcullis_testkit::external::{Running, start_moto};

const PASSWORD: &str = "Correct-Horse-9";
const USER: &str = "alice@example.com";

struct Pool {
    moto: Running,
    admin: CognitoAdmin,
    pool_id: String,
    client_id: String,
}

async fn pool(name: &str) -> Pool {
    let moto = start_moto().expect("moto_server starts on loopback");
    let admin = CognitoAdmin::new(static_client("us-east-1", Some(moto.url()), "test", "test"));
    let (pool_id, _) = admin.ensure_user_pool(name).await.expect("pool");
    let client_id = admin
        .ensure_app_client(&pool_id, "web", &["https://localhost:3000"])
        .await
        .expect("client")
        .0;
    admin
        .ensure_user(&pool_id, USER, PASSWORD, &["admin"])
        .await
        .expect("user");
    Pool {
        moto,
        admin,
        pool_id,
        client_id,
    }
}

impl Pool {
    async fn tokens(&self, client_id: &str) -> Tokens {
        self.admin
            .password_tokens(client_id, USER, PASSWORD)
            .await
            .expect("sign-in")
    }

    fn settings(&self, extra: &str) -> Settings {
        let text = format!(
            "[auth]\nprovider = \"cognito\"\nallow_loopback_keys = true\njwks_uri = \"{}/{}/.well-known/jwks.json\"\n{extra}\n\
             [auth.cognito]\nregion = \"us-east-1\"\nuser_pool_id = \"{}\"\nclient_id = \"{}\"\n",
            self.moto.url(),
            self.pool_id,
            self.pool_id,
            self.client_id
        );
        load(&Sources::text(&text)).expect("valid Cognito settings")
    }

    fn authorizer(&self, extra: &str) -> Authorizer {
        self.settings(extra)
            .auth
            .authorizer(VerifierOptions::default())
            .expect("authorizer")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn id_and_access_tokens_from_moto_verify_through_the_cognito_profile() {
    let pool = pool("portcullis-interop").await;
    let tokens = pool.tokens(&pool.client_id).await;
    let settings = pool.settings("");
    let authorizer = settings
        .auth
        .authorizer(VerifierOptions::default())
        .expect("authorizer");

    let id = authorizer
        .verify(&format!("Bearer {}", tokens.id_token))
        .await
        .expect("id token verifies");
    let who = settings.auth.mapping.identity(&id);
    assert_eq!(who.token_kind, TokenKind::Id);
    assert_eq!(who.email.as_deref(), Some(USER));
    assert_eq!(who.groups, ["admin"]);
    assert_eq!(
        who.client_id.as_deref(),
        Some(pool.client_id.as_str()),
        "id tokens carry the client as aud"
    );
    assert!(who.username.is_some());

    let access = authorizer
        .verify(&tokens.access_token)
        .await
        .expect("access token verifies");
    let who = settings.auth.mapping.identity(&access);
    assert_eq!(who.token_kind, TokenKind::Access);
    assert!(access.aud().is_empty(), "Cognito access tokens have no aud");
    assert_eq!(
        who.client_id.as_deref(),
        Some(pool.client_id.as_str()),
        "…but a client_id"
    );
    assert_eq!(who.token_scopes, ["aws.cognito.signin.user.admin"]);

    let admin = pool
        .admin
        .admin_password_tokens(&pool.pool_id, &pool.client_id, USER, PASSWORD)
        .await
        .expect("admin sign-in");
    assert!(authorizer.verify(&admin.access_token).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioning_is_idempotent() {
    let pool = pool("portcullis-idempotent").await;
    let admin = &pool.admin;
    assert_eq!(
        admin
            .ensure_user_pool("portcullis-idempotent")
            .await
            .expect("pool"),
        (pool.pool_id.clone(), Provisioned::Unchanged)
    );
    assert_eq!(
        admin
            .find_user_pool("portcullis-idempotent")
            .await
            .expect("find"),
        Some(pool.pool_id.clone())
    );
    assert_eq!(
        admin
            .ensure_app_client(&pool.pool_id, "web", &["https://localhost:3000"])
            .await
            .expect("client"),
        (pool.client_id.clone(), Provisioned::Unchanged)
    );
    // Another callback list updates the same client.
    assert_eq!(
        admin
            .ensure_app_client(
                &pool.pool_id,
                "web",
                &["https://localhost:3000", "http://localhost:3000/callback"]
            )
            .await
            .expect("client"),
        (pool.client_id.clone(), Provisioned::Updated)
    );
    admin
        .ensure_user(&pool.pool_id, USER, PASSWORD, &["admin"])
        .await
        .expect("user again");
    admin
        .ensure_group(&pool.pool_id, "admin")
        .await
        .expect("group again");
    let mut done = Vec::new();
    for _ in 0..2 {
        done.push(
            admin
                .ensure_domain(&pool.pool_id, "service-user-pool-domain-test-x1")
                .await
                .expect("domain"),
        );
    }
    assert_eq!(done, [Provisioned::Created, Provisioned::Unchanged]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_of_another_pool_is_refused() {
    let pool = pool("portcullis-first").await;
    let other_pool = pool
        .admin
        .ensure_user_pool("portcullis-second")
        .await
        .expect("pool")
        .0;
    let other_client = pool
        .admin
        .ensure_app_client(&other_pool, "web", &["https://localhost:3000"])
        .await
        .expect("client")
        .0;
    pool.admin
        .ensure_user(&other_pool, USER, PASSWORD, &[])
        .await
        .expect("user");
    let foreign = pool.tokens(&other_client).await;
    // moto signs every pool with one key, so only the issuer tells them apart: as on AWS, iss decides.
    let authorizer = pool.authorizer("");
    for token in [&foreign.id_token, &foreign.access_token] {
        assert_eq!(
            authorizer.verify(token).await.unwrap_err(),
            AuthError::InvalidIssuer
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_of_another_client_is_refused() {
    let pool = pool("portcullis-clients").await;
    let other_client = pool
        .admin
        .ensure_app_client(&pool.pool_id, "mobile", &["https://localhost:3000"])
        .await
        .expect("client")
        .0;
    assert_ne!(other_client, pool.client_id);
    let tokens = pool.tokens(&other_client).await;
    let authorizer = pool.authorizer("");
    for token in [&tokens.id_token, &tokens.access_token] {
        let refusal = authorizer.verify(token).await.unwrap_err();
        assert_eq!(refusal, AuthError::InvalidAudience);
        assert!(
            refusal
                .www_authenticate()
                .contains("the token does not have a valid audience")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn id_token_is_refused_where_access_tokens_are_required() {
    let pool = pool("portcullis-token-use").await;
    let tokens = pool.tokens(&pool.client_id).await;
    let authorizer = pool.authorizer("token_use = \"access\"");
    assert_eq!(
        authorizer.verify(&tokens.id_token).await.unwrap_err(),
        AuthError::WrongTokenUse
    );
    assert!(authorizer.verify(&tokens.access_token).await.is_ok());
}
