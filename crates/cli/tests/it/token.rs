#![cfg(feature = "aws")]
//! `portcullis token` and `portcullis login` against real issuers on 127.0.0.1: moto's Cognito
//! (a test user through the SDK, in the pool `deploy` made) and oauth2-mock-server (client
//! credentials shaped as Auth0 issues them; the authorization-code flow with PKCE through the
//! listener). Every printed token is verified with portcullis-claims against the issuer's JWKS.

use crate::common;

use std::process::{Command, Stdio};

use common::{KEYS, fail, host_arch, package, portcullis, scratch, scratch_with_config, succeed};
use portcullis_claims::VerifierOptions;
use portcullis_config::{Sources, load};
use portcullis_deploy::apply::Aws;
use portcullis_testkit::external::{Shape, start_mock_issuer, start_moto};

/// Verifies `token` with the settings in `text`; returns its claims as JSON.
fn verify(text: &str, token: &str) -> serde_json::Value {
    let settings = load(&Sources::text(text)).expect("settings");
    let authorizer = settings
        .auth
        .authorizer(VerifierOptions::default())
        .expect("authorizer");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let claims = runtime
        .block_on(authorizer.verify(token))
        .unwrap_or_else(|e| panic!("the printed token verifies: {e:?}"));
    serde_json::to_value(claims.as_map()).expect("claims")
}

#[test]
fn cognito_token_signs_in_a_test_user_of_the_deployed_pool() {
    let moto = start_moto().expect("moto");
    let dir = scratch("token-cognito");
    let region = [("AWS_REGION", "us-east-1")];
    let env: Vec<(&str, &str)> = KEYS.iter().chain(&region).copied().collect();
    let common = [
        "--provider",
        "cognito",
        "--stage",
        "tok",
        "--endpoint-url",
        moto.url(),
    ];

    let mut args = vec!["token"];
    args.extend(common);
    let line = fail(portcullis(&dir, &args, &env));
    assert_eq!(
        line,
        "error: no Cognito pool portcullis-tok-users in us-east-1: run `portcullis deploy --provider cognito --stage tok` \
         first, or configure [auth.cognito] with an existing pool"
    );

    let package = package(&dir);
    let mut deploy = vec![
        "deploy",
        "--arch",
        host_arch(),
        "--package",
        package.to_str().expect("path"),
    ];
    deploy.extend(common);
    succeed(portcullis(&dir, &deploy, &env));

    let aws = tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(async {
            let aws =
                Aws::with_static_credentials("us-east-1", Some(moto.url()), "test", "test").await;
            let pool = aws
                .cognito
                .find_user_pool("portcullis-tok-users")
                .await
                .expect("pools")
                .expect("pool");
            let client = aws
                .cognito
                .find_app_client(&pool, "portcullis-tok-web")
                .await
                .expect("clients")
                .expect("client");
            (pool, client)
        });
    let (pool, client) = aws;
    let settings = |token_use: &str| {
        format!(
            "[auth]\nprovider = \"cognito\"\ntoken_use = \"{token_use}\"\nallow_loopback_keys = true\njwks_uri = \"{}/{pool}/.well-known/jwks.json\"\n\
             [auth.cognito]\nregion = \"us-east-1\"\nuser_pool_id = \"{pool}\"\nclient_id = \"{client}\"\n",
            moto.url()
        )
    };

    let stdout = succeed(portcullis(
        &dir,
        &[&args[..], &["--group", "admins"]].concat(),
        &env,
    ));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "standard output holds the token alone");
    let claims = verify(&settings("access"), lines[0]);
    assert_eq!(claims["client_id"], client.as_str());
    assert_eq!(claims["token_use"], "access");
    assert_eq!(claims["cognito:groups"], serde_json::json!(["admins"]));

    // Again (a fresh password is set on the existing user), asking for the id token.
    let stdout = succeed(portcullis(
        &dir,
        &[&args[..], &["--id", "--username", "tester@example.com"]].concat(),
        &env,
    ));
    let claims = verify(&settings("id"), stdout.trim());
    assert_eq!(claims["email"], "tester@example.com");
    assert_eq!(claims["aud"], client.as_str());
}

const AUTH0_ISSUER: &str = "https://tenant.eu.auth0.com/";

#[test]
fn auth0_token_uses_client_credentials_from_the_environment() {
    let issuer = start_mock_issuer(Shape::Auth0, Some(AUTH0_ISSUER), "https://api.example.com")
        .expect("mock issuer");
    let config = format!(
        "[auth]\nprovider = \"auth0\"\nallow_loopback_keys = true\njwks_uri = \"{}/jwks\"\n\
         [auth.auth0]\ndomain = \"tenant.eu.auth0.com\"\naudience = \"https://api.example.com\"\n",
        issuer.url()
    );
    let dir = scratch_with_config("token-auth0", &config);
    let token_url = format!("{}/token", issuer.url());
    let args = [
        "token",
        "--provider",
        "auth0",
        "--token-url",
        &token_url,
        "--scope",
        "profile/read",
    ];

    let line = fail(portcullis(&dir, &args, &[("OAUTH_CLIENT_ID", "m2m")]));
    assert!(
        line.starts_with(
            "error: client credentials need a machine-to-machine client: set OAUTH_CLIENT_ID"
        ),
        "{line}"
    );

    let secret = "a-secret-that-must-not-show";
    let output = portcullis(
        &dir,
        &args,
        &[("OAUTH_CLIENT_ID", "m2m"), ("OAUTH_CLIENT_SECRET", secret)],
    );
    assert!(
        !String::from_utf8_lossy(&output.stderr).contains(secret),
        "the secret is never printed"
    );
    let stdout = succeed(output);
    let claims = verify(&config, stdout.trim());
    assert_eq!(claims["iss"], AUTH0_ISSUER);
    assert_eq!(claims["azp"], "m2m");
    assert_eq!(claims["permissions"], serde_json::json!(["profile/read"]));
}

#[test]
fn okta_token_without_a_scope_says_which_flag_to_add() {
    let dir = scratch_with_config(
        "token-okta",
        "[auth]\nprovider = \"okta\"\n[auth.okta]\ndomain = \"dev-123.okta.com\"\nauthorization_server = \"default\"\naudience = \"api://default\"\n",
    );
    let line = fail(portcullis(
        &dir,
        &["token", "--provider", "okta"],
        &[("OAUTH_CLIENT_ID", "m2m"), ("OAUTH_CLIENT_SECRET", "s")],
    ));
    assert!(
        line.starts_with("error: Okta's client-credentials grant needs at least one custom scope"),
        "{line}"
    );
    assert!(line.contains("--scope NAME"), "{line}");
}

/// `portcullis login` running in the background: the child, the callback and sign-in URL it printed, and
/// the rest of its standard error once it ends.
type Login = (
    std::process::Child,
    String,
    String,
    std::thread::JoinHandle<String>,
);

fn start_login(dir: &std::path::Path, args: &[&str]) -> Login {
    let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .current_dir(dir)
        .env("OAUTH_CLIENT_ID", "spa-client")
        .env_remove("OAUTH_CLIENT_SECRET")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("portcullis login");
    let mut stderr = portcullis_testkit::ChildLines::spawn(child.stderr.take().expect("stderr"));
    let mut callback = String::new();
    let mut url = String::new();
    // The announcement is two lines; a bounded read of the first few, each within a minute.
    for _ in 0..10 {
        let Ok(line) = stderr.next_within(std::time::Duration::from_secs(60)) else {
            break;
        };
        if let Some(rest) = line.strip_prefix("sign in here (the redirect comes back to ") {
            callback = rest.trim_end().trim_end_matches("):").to_owned();
        } else if line.starts_with("http://") && !callback.is_empty() {
            url = line.trim().to_owned();
            break;
        }
    }
    assert!(!url.is_empty(), "login printed its sign-in URL");
    // The reader keeps draining stderr, so the child never blocks on a full pipe.
    let rest = std::thread::spawn(move || {
        stderr
            .rest_within(std::time::Duration::from_secs(120))
            .join("\n")
    });
    (child, callback, url, rest)
}

#[test]
fn login_runs_the_authorization_code_flow_with_pkce_through_the_local_listener() {
    let issuer = start_mock_issuer(Shape::Oidc, None, "profile-api").expect("mock issuer");
    let config = format!(
        "[auth]\nprovider = \"oidc\"\nissuer = \"{}\"\naudience = [\"profile-api\"]\n",
        issuer.url()
    );
    let dir = scratch_with_config("login-oidc", &config);
    let (child, callback, url, _) = start_login(
        &dir,
        &[
            "login",
            "--provider",
            "oidc",
            "--listen",
            "127.0.0.1:0",
            "--no-browser",
            "--timeout",
            "60",
        ],
    );
    assert!(callback.starts_with("http://localhost:") && callback.ends_with("/callback"));
    let sign_in = reqwest::Url::parse(&url).expect("url");
    let query: std::collections::HashMap<String, String> =
        sign_in.query_pairs().into_owned().collect();
    assert_eq!(query["redirect_uri"], callback);
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(query["client_id"], "spa-client");

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let http = reqwest::Client::new();
        let local = callback.replace("localhost", "127.0.0.1");
        // A redirect that is not this sign-in's is refused and the listener keeps waiting.
        let foreign = http
            .get(format!("{local}?code=stolen&state=not-ours"))
            .send()
            .await
            .expect("foreign redirect");
        assert_eq!(foreign.status(), 400);
        let elsewhere = http
            .get(local.replace("/callback", "/favicon.ico"))
            .send()
            .await
            .expect("favicon");
        assert_eq!(elsewhere.status(), 404);
        // The browser's part: the issuer's sign-in page redirects to the listener.
        let page = http.get(sign_in.clone()).send().await.expect("sign-in");
        assert_eq!(page.status(), 200, "the listener answered the redirect");
        let body = page.text().await.expect("body");
        assert!(body.contains("Signed in."), "{body}");
    });
    let output = child.wait_with_output().expect("login ends");
    let stdout = succeed(output);
    let claims = verify(&config, stdout.trim());
    assert_eq!(claims["iss"], issuer.url());
    assert_eq!(claims["aud"], "profile-api");
}

#[test]
fn login_stops_with_the_issuers_refusal_in_one_line() {
    let issuer = start_mock_issuer(Shape::Oidc, None, "profile-api").expect("mock issuer");
    let dir = scratch_with_config(
        "login-refused",
        &format!(
            "[auth]\nprovider = \"oidc\"\nissuer = \"{}\"\naudience = [\"profile-api\"]\n",
            issuer.url()
        ),
    );
    let (child, callback, url, rest) = start_login(
        &dir,
        &[
            "login",
            "--provider",
            "oidc",
            "--listen",
            "127.0.0.1:0",
            "--no-browser",
        ],
    );
    let state = reqwest::Url::parse(&url)
        .expect("url")
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("state");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let local = callback.replace("localhost", "127.0.0.1");
        let answer = reqwest::get(format!(
            "{local}?error=access_denied&error_description=User+cancelled&state={state}"
        ))
        .await
        .expect("redirect");
        assert_eq!(answer.status(), 400);
    });
    let output = child.wait_with_output().expect("login ends");
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "no token");
    let rest = rest.join().expect("stderr");
    assert_eq!(
        rest.lines().last(),
        Some("error: the sign-in was refused: access_denied User cancelled"),
        "{rest}"
    );
}

#[test]
fn login_without_a_client_or_with_a_busy_port_says_what_to_fix() {
    let dir = scratch_with_config(
        "login-bad-input",
        "[auth]\nprovider = \"oidc\"\nissuer = \"http://127.0.0.1:9\"\naudience = [\"profile-api\"]\n",
    );
    let line = fail(portcullis(
        &dir,
        &["login", "--provider", "oidc", "--listen", "127.0.0.1:0"],
        &[],
    ));
    assert!(
        line.starts_with("error: no OAuth client: pass --client-id or set OAUTH_CLIENT_ID"),
        "{line}"
    );
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = busy.local_addr().expect("address").to_string();
    let line = fail(portcullis(
        &dir,
        &[
            "login",
            "--provider",
            "oidc",
            "--listen",
            &address,
            "--client-id",
            "spa",
        ],
        &[],
    ));
    assert!(
        line.starts_with(&format!(
            "error: cannot listen on {address} for the sign-in's redirect"
        )),
        "{line}"
    );
    let line = fail(portcullis(
        &dir,
        &[
            "login",
            "--provider",
            "oidc",
            "--timeout",
            "0",
            "--client-id",
            "spa",
        ],
        &[],
    ));
    assert_eq!(
        line,
        "error: invalid value '0' for '--timeout <SECONDS>': 0 is not in 1..=3600"
    );
}
