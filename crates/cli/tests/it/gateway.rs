//! `portcullis gateway`, the real binary, in front of backends the tests start on 127.0.0.1:
//! an HTTP echo server (`--upstream`: refusals answered by the gateway, accepted requests forwarded
//! with the `Authorization` header and the route's parameter mappings), and the example service's
//! Lambda function (`--lambda`: the request table, answered byte for byte as the standalone server
//! answers it, from the same snapshots).

#[path = "../../../tutorial/tests/it/runtimes/mod.rs"]
mod runtimes;

mod hostile;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Uri};
use portcullis_testkit::{ChildLines, Issuer, TestKey};
use runtimes::{Answer, Request, Runtime, Scratch, Tokens, run_table, send, settings_text};
use serde_json::{Value, json};

/// `portcullis gateway ARGS` started in `dir`; stopped on drop.
struct Gateway {
    child: Child,
    base: String,
    /// What it printed up to "Press Ctrl-C to stop."
    printed: Vec<String>,
}

impl Gateway {
    fn start(dir: &Path, args: &[&str]) -> Gateway {
        Gateway::start_program(Path::new(env!("CARGO_BIN_EXE_portcullis")), dir, args)
    }

    fn start_program(program: &Path, dir: &Path, args: &[&str]) -> Gateway {
        let mut child = Command::new(program)
            .arg("gateway")
            .args(args)
            .args(["--listen", "127.0.0.1:0"])
            .current_dir(dir)
            .env_remove("CARGO")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("portcullis gateway starts");
        let mut lines = ChildLines::spawn(child.stdout.take().expect("stdout"));
        let mut base = None;
        lines
            .find_within(Duration::from_secs(60), |line| {
                if let Some(rest) = line.strip_prefix("Portcullis gateway at ") {
                    base = rest.split(' ').next().map(str::to_owned);
                }
                (line == "Press Ctrl-C to stop.").then_some(())
            })
            .unwrap_or_else(|e| panic!("the gateway is ready within 60 s: {e}"));
        let printed = lines.seen().to_vec();
        let base = base.expect("the gateway announced its address");
        // Dropped, the reader goes on draining: the gateway never blocks on a full pipe.
        drop(lines);
        Gateway {
            child,
            base,
            printed,
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The status of `GET path` sent byte for byte (HTTP clients normalise dot segments first).
async fn raw_status(base: &str, path: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nhost: {address}\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("an answer within 10 s")
        .expect("read");
    let text = String::from_utf8_lossy(&answer);
    text.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// An HTTP backend that answers every request with what it received, as JSON.
async fn echo_server() -> String {
    async fn echo(method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> axum::Json<Value> {
        let headers: serde_json::Map<String, Value> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), json!(String::from_utf8_lossy(v.as_bytes()))))
            .collect();
        axum::Json(json!({
            "method": method.as_str(),
            "path": uri.path(),
            "query": uri.query(),
            "headers": headers,
            "body": String::from_utf8_lossy(&body),
        }))
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, Router::new().fallback(echo)).await;
    });
    base
}

const ROUTES: &str = r#"
[routes."GET /items/{id}"]
scopes = ["profile/read"]
parameters = [
  { key = "overwrite:header.x-user-sub", value = "$context.authorizer.claims.sub" },
  { key = "overwrite:header.x-user-email", value = "$context.authorizer.claims.email" },
  { key = "append:querystring.via", value = "portcullis" },
  { key = "remove:header.cookie" },
]

[routes."POST /items"]
scopes = ["items/write"]

[routes."ANY /admin/{proxy+}"]
scopes = ["admin"]

[routes."GET /health"]
authorization = "none"
"#;

/// `portcullis.toml` in `dir`: the test issuer's `[auth]` and the [`ROUTES`] above.
fn write_config(dir: &Path, issuer: &str) {
    let auth = settings_text(issuer);
    let auth = auth.split("[routes").next().unwrap_or_default();
    std::fs::write(dir.join("portcullis.toml"), format!("{auth}{ROUTES}")).expect("config");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_gets_only_what_the_authorizer_let_through_with_the_mapped_claims() {
    let issuer = Issuer::start(portcullis_testkit::jwks([TestKey::rsa("dev-key").jwk()]))
        .await
        .expect("issuer");
    let echo = echo_server().await;
    let scratch = Scratch::new("gateway-upstream");
    write_config(&scratch.0, issuer.url());
    let gateway = Gateway::start(&scratch.0, &["--upstream", &echo]);
    let tokens = Tokens::mint(issuer.url());
    let client = reqwest::Client::new();
    let ask = |request: Request| {
        let client = client.clone();
        let base = gateway.base.clone();
        let issuer = issuer.url().to_owned();
        async move { send(&client, &base, &issuer, &request).await }
    };

    // Refusals come from the gateway, exactly as the service's table has them.
    let refusals = [
        ("no_token", Request::get("/items/42")),
        ("bad_token", Request::get("/items/42").bearer("abc.def.ghi")),
        (
            "expired_token",
            Request::get("/items/42").bearer(&tokens.expired),
        ),
        (
            "foreign_issuer_token",
            Request::get("/items/42").bearer(&tokens.foreign),
        ),
    ];
    for (case, request) in refusals {
        let answer = ask(request).await;
        insta::with_settings!({
            snapshot_path => "../../../tutorial/tests/it/snapshots",
            prepend_module_to_snapshot => false,
        }, {
            insta::assert_snapshot!(format!("cases__{case}"), answer.render());
        });
    }
    let forbidden = ask(Request::post("/items", "{}").bearer(&tokens.read_only)).await;
    assert_eq!(
        (forbidden.status, forbidden.body.as_str()),
        (403, r#"{"message":"Forbidden"}"#)
    );
    let missing = ask(Request::get("/nothing/here").bearer(&tokens.access)).await;
    assert_eq!(
        (missing.status, missing.body.as_str()),
        (404, r#"{"message":"Not Found"}"#)
    );

    // Accepted: forwarded as sent, Authorization included, claims only where a mapping puts them.
    let mut request = Request::get("/items/42").bearer(&tokens.access);
    request.headers.push(("x-user-sub", "mallory".into()));
    // The access token has no email claim: the client's own header must not pass for it.
    request
        .headers
        .push(("x-user-email", "ceo@example.com".into()));
    request.headers.push(("cookie", "session=secret".into()));
    let answer: Answer = ask(request).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let seen: Value = serde_json::from_str(&answer.body).expect("the echo's JSON");
    assert_eq!(seen["method"], "GET");
    assert_eq!(seen["path"], "/items/42");
    assert_eq!(seen["query"], "via=portcullis");
    assert_eq!(
        seen["headers"]["authorization"],
        format!("Bearer {}", tokens.access)
    );
    assert_eq!(
        seen["headers"]["x-user-sub"], "user-1",
        "overwritten, not the client's"
    );
    assert!(
        seen["headers"].get("cookie").is_none(),
        "removed by the mapping"
    );
    assert!(
        seen["headers"].get("x-user-email").is_none(),
        "an overwrite whose claim is absent sets nothing, and drops the client's forgery: {seen}"
    );

    // OPTIONS on a protected route is judged (no CORS configuration answers it).
    let mut preflight = Request::get("/admin/users/delete-all");
    preflight.method = "OPTIONS";
    let answer = ask(preflight).await;
    assert_eq!(answer.status, 401, "{}", answer.body);

    // A path a backend could read as another one never reaches it, by any spelling.
    for path in [
        "/health/%2e%2e/items/42",
        "/health/../items/42",
        "/health/..%5Citems",
    ] {
        assert_eq!(raw_status(&gateway.base, path).await, 400, "{path}");
    }

    let health = ask(Request::get("/health")).await;
    assert_eq!(
        health.status, 200,
        "a route with authorization = \"none\" needs no token"
    );
    let seen: Value = serde_json::from_str(&health.body).expect("the echo's JSON");
    assert!(seen["headers"].get("x-user-sub").is_none());

    drop(gateway);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_upstream_is_api_gateway_s_500() {
    let issuer = Issuer::start(portcullis_testkit::jwks([TestKey::rsa("dev-key").jwk()]))
        .await
        .expect("issuer");
    // A port that was just free: nothing listens on it.
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", listener.local_addr().expect("address"))
    };
    let scratch = Scratch::new("gateway-dead");
    write_config(&scratch.0, issuer.url());
    let gateway = Gateway::start(&scratch.0, &["--upstream", &dead]);
    let answer = send(
        &reqwest::Client::new(),
        &gateway.base,
        issuer.url(),
        &Request::get("/health"),
    )
    .await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (500, r#"{"message":"Internal Server Error"}"#)
    );
}

/// The example service's Lambda function behind `portcullis gateway --lambda`: the bootstrap is a
/// script that runs this binary's `lambda-bootstrap`, as a user's own bootstrap would run theirs.
struct LambdaGateway {
    issuer: Issuer,
    gateway: Gateway,
    client: reqwest::Client,
    _scratch: Scratch,
}

impl Runtime for LambdaGateway {
    fn tokens(&self) -> Tokens {
        Tokens::mint(self.issuer.url())
    }

    async fn send(&self, request: &Request) -> Answer {
        send(&self.client, &self.gateway.base, self.issuer.url(), request).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_bootstrap_behind_portcullis_gateway_answers_the_request_table() {
    use std::os::unix::fs::PermissionsExt;

    let issuer = Issuer::start(portcullis_testkit::jwks([TestKey::rsa("dev-key").jwk()]))
        .await
        .expect("issuer");
    let scratch = Scratch::new("gateway-lambda");
    let config = format!(
        "{}\n[routes.\"GET /user/profile\"]\n\n[routes.\"GET /healthz\"]\nauthorization = \"none\"\n\n\
         [store]\nkind = \"sqlite\"\npath = \"{}\"\n",
        settings_text(issuer.url()),
        scratch.0.join("profiles.db").display()
    );
    std::fs::write(scratch.0.join("portcullis.toml"), config).expect("config");
    let bootstrap = scratch.0.join("bootstrap");
    std::fs::write(
        &bootstrap,
        format!(
            "#!/bin/sh\nexec '{}' lambda-bootstrap\n",
            env!("CARGO_BIN_EXE_portcullis")
        ),
    )
    .expect("bootstrap");
    std::fs::set_permissions(&bootstrap, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let gateway = Gateway::start(&scratch.0, &["--lambda", "./bootstrap"]);
    let runtime = LambdaGateway {
        issuer,
        gateway,
        client: reqwest::Client::new(),
        _scratch: scratch,
    };
    run_table(&runtime).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_installed_binary_runs_the_gateway_with_the_development_issuer_outside_the_repository() {
    // The binary copied out of the workspace, run from a folder with no portcullis.toml and no
    // Cargo.toml above it: nothing may depend on where it was built.
    let root = Scratch::new("installed");
    let bin = root.0.join("bin");
    std::fs::create_dir_all(&bin).expect("bin dir");
    let program = bin.join("portcullis");
    std::fs::copy(env!("CARGO_BIN_EXE_portcullis"), &program).expect("install");
    let project = root.0.join("my-api");
    std::fs::create_dir_all(&project).expect("project dir");
    assert!(!project.starts_with(env!("CARGO_MANIFEST_DIR")));
    let echo = echo_server().await;
    let gateway = Gateway::start_program(
        &program,
        &project,
        &["--issuer", "dev", "--upstream", &echo],
    );
    let token = gateway
        .printed
        .iter()
        .find_map(|line| line.split("Authorization: Bearer ").nth(1))
        .map(|rest| rest.trim_end_matches('\'').to_owned())
        .unwrap_or_else(|| panic!("a token to try is printed: {:?}", gateway.printed));
    // The console is printed, with its key, and opens.
    let console = gateway
        .printed
        .iter()
        .find_map(|l| l.strip_prefix("console: "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("the console is printed: {:?}", gateway.printed))
        .to_owned();
    let opened = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(&console)
        .send()
        .await
        .expect("the console answers");
    assert_eq!(opened.status(), 303, "{console}");
    assert!(opened.headers().contains_key("set-cookie"));
    assert!(
        gateway.printed.iter().any(|l| l.trim() == "$default (JWT)"),
        "without [routes] every request is judged: {:?}",
        gateway.printed
    );
    let client = reqwest::Client::new();
    let url = format!("{}/anything?x=1", gateway.base);
    let refused = client.get(&url).send().await.expect("answer");
    assert_eq!(refused.status(), 401);
    let accepted = client
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .expect("answer");
    assert_eq!(accepted.status(), 200);
    let seen: Value = serde_json::from_str(&accepted.text().await.expect("body")).expect("json");
    assert_eq!(seen["path"], "/anything");
    assert_eq!(seen["query"], "x=1");
}
