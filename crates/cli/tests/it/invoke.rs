//! `portcullis invoke`: one request with a fresh token, the answer printed. `--local` calls the
//! service `portcullis dev` runs (a real child process on 127.0.0.1) with a token of its
//! development issuer; without it, the deployed API's endpoint is read from moto and the token
//! fetched as `token` fetches one (a Cognito test user on moto), sent here to a loopback server
//! standing in for the API (`--url`; the deployed endpoint is not on loopback), which reports
//! the token's issuer.

use crate::common;

use std::process::{Child, Command, Stdio};

use common::{fail, portcullis, scratch, succeed};
use portcullis_testkit::ChildLines;

/// `portcullis dev` on an ephemeral port, stopped when dropped.
struct Dev {
    child: Child,
    base: String,
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_dev(dir: &std::path::Path) -> Dev {
    let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["dev", "--listen", "127.0.0.1:0", "--state-dir"])
        .arg(dir.join("state"))
        .current_dir(dir)
        .env("HOME", dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("dev");
    // The reader goes on to the end of dev's output: a closed pipe would fail dev's next print.
    let base = ChildLines::spawn(child.stdout.take().expect("stdout"))
        .find_within(std::time::Duration::from_secs(120), |line| {
            line.strip_prefix("Portcullis is running")
                .and_then(|rest| rest.split(" at ").nth(1))
                .map(|url| url.trim().to_owned())
        })
        .unwrap_or_else(|e| panic!("dev says where it runs: {e}"));
    Dev { child, base }
}

#[test]
fn invoke_local_calls_the_dev_service_with_a_token_of_its_issuer() {
    let dir = scratch("invoke-local");
    let dev = start_dev(&dir);
    let state = dir.join("state");
    let state = state.to_str().expect("utf-8");
    let invoke = |extra: &[&str]| {
        let local = format!("--local={}", dev.base);
        let mut args = vec!["invoke", local.as_str(), "--state-dir", state];
        args.extend(extra);
        portcullis(&dir, &args, &[])
    };
    let posted = succeed(invoke(&[
        "POST",
        "/user/profile",
        "--data",
        r#"{"name":"Alice"}"#,
    ]));
    assert!(posted.starts_with("200 OK\n"), "{posted}");
    let got = succeed(invoke(&["get", "/user/profile"]));
    assert!(got.starts_with("200 OK\n"), "{got}");
    assert!(
        got.contains("content-type: application/json"),
        "headers printed:\n{got}"
    );
    assert!(
        got.contains("\"name\": \"Alice\""),
        "the body, pretty-printed:\n{got}"
    );
    assert!(!got.contains("eyJ"), "the token is never printed:\n{got}");

    // Without a token: the gate's 401 is printed and the run fails in one line.
    let output = invoke(&["GET", "/user/profile", "--no-token"]);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(stdout.starts_with("401 Unauthorized\n"), "{stdout}");
    assert!(stdout.contains("www-authenticate: Bearer"), "{stdout}");
    assert_eq!(
        fail(output),
        "error: GET /user/profile answered 401 Unauthorized"
    );
    // A write without the scope it needs: 403.
    let output = invoke(&[
        "POST",
        "/user/profile",
        "--data",
        "{}",
        "--scope",
        "profile/read",
    ]);
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("403 Forbidden\n"));
    fail(output);
}

#[test]
fn invoke_local_without_dev_state_says_to_start_dev() {
    let dir = scratch("invoke-no-dev");
    let error = fail(portcullis(
        &dir,
        &["invoke", "--local", "GET", "/user/profile"],
        &[],
    ));
    assert!(error.contains(".portcullis/dev/portcullis.toml"), "{error}");
    assert!(error.contains("dev` first"), "{error}");
    let output = portcullis(&dir, &["invoke", "GET", "/user/profile"], &[]);
    assert_eq!(output.status.code(), Some(2), "a usage error");
    assert_eq!(
        fail(output),
        "error: the following required arguments were not provided: --provider <PROVIDER>"
    );
}

#[cfg(feature = "aws")]
#[test]
fn invoke_calls_the_deployed_endpoint_with_a_token_as_token_fetches_it() {
    use common::{KEYS, host_arch, package};
    use portcullis_testkit::external::start_moto;

    let moto = start_moto().expect("moto");
    let dir = scratch("invoke-deployed");
    let package = package(&dir);
    let env: Vec<(&str, &str)> = KEYS
        .iter()
        .copied()
        .chain([("AWS_REGION", "us-east-1")])
        .collect();
    let target = [
        "--provider",
        "cognito",
        "--stage",
        "inv",
        "--endpoint-url",
        moto.url(),
    ];
    let mut deploy = vec!["deploy", "--arch", host_arch(), "--package"];
    deploy.push(package.to_str().expect("utf-8"));
    deploy.extend(target);
    succeed(portcullis(&dir, &deploy, &env));

    // The stand-in API answers with the issuer of the bearer token it was sent.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let api = format!("http://{}", listener.local_addr().expect("address"));
    rt.spawn(async move {
        let app = axum::Router::new().fallback(|headers: axum::http::HeaderMap| async move {
            let token = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or_default()
                .to_owned();
            use base64::Engine;
            let claims = token
                .split('.')
                .nth(1)
                .and_then(|p| {
                    base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .decode(p)
                        .ok()
                })
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .unwrap_or_default();
            axum::Json(
                serde_json::json!({ "iss": claims["iss"], "token_use": claims["token_use"] }),
            )
        });
        axum::serve(listener, app).await.expect("serve");
    });
    let mut invoke = vec!["invoke", "GET", "/user/profile", "--url", &api];
    invoke.extend(target);
    let answer = succeed(portcullis(&dir, &invoke, &env));
    assert!(answer.starts_with("200 OK\n"), "{answer}");
    assert!(
        answer.contains("\"iss\": \"https://cognito-idp.us-east-1.amazonaws.com/us-east-1_"),
        "a token of the stack's pool was sent:\n{answer}"
    );
    assert!(answer.contains("\"token_use\": \"access\""), "{answer}");

    let mut remove = vec!["remove", "--yes"];
    remove.extend(target);
    succeed(portcullis(&dir, &remove, &env));
}
