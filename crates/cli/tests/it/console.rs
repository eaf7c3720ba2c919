//! The console in a real browser: Debian's headless Chromium, driven through its ChromeDriver
//! (WebDriver over HTTP on 127.0.0.1), against `portcullis dev` as a newcomer runs it. Each step
//! leaves a screenshot in `target/console-screenshots/`.
//!
//! 1. sign in with the development issuer and see the claims;
//! 2. call `GET /user/profile` (200);
//! 3. remove the write scope and call `POST` (403, the route's scope rule highlighted);
//! 4. paste an expired token (the exp rule fails, the rules after it not reached);
//! 5. sign in through authorization code + PKCE against oauth2-mock-server.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use portcullis_testkit::external::{Shape, ensure_chromium, start_mock_issuer};
use portcullis_testkit::{ChildLines, TestKey};
use serde_json::{Value, json};

/// WebDriver's key for an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How long a step may take to show its outcome.
const STEP: Duration = Duration::from_secs(20);

/// One Chromium session through ChromeDriver; both are killed on drop.
struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::Client,
    shots: PathBuf,
}

impl Browser {
    async fn start(label: &str) -> Browser {
        let (chromium, chromedriver) = ensure_chromium().expect("chromium and chromium-driver");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        let started = Instant::now();
        loop {
            let ready = http.get(format!("{base}/status")).send().await;
            if let Ok(answer) = ready
                && let Ok(body) = answer.bytes().await
                && let Ok(status) = serde_json::from_slice::<Value>(&body)
                && status["value"]["ready"] == true
            {
                break;
            }
            assert!(
                started.elapsed() < STEP,
                "chromedriver did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("chromium-{label}"));
        let _ = std::fs::remove_dir_all(&profile);
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run",
                    "--window-size=1280,1800", format!("--user-data-dir={}", profile.display()),
                ],
            },
        }}});
        let created = json_of(
            http.post(format!("{base}/session"))
                .header("content-type", "application/json")
                .body(capabilities.to_string()),
        )
        .await;
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_owned();
        let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("../console-screenshots");
        std::fs::create_dir_all(&shots).expect("screenshot folder");
        Browser {
            driver,
            base,
            session,
            http,
            shots,
        }
    }

    /// A WebDriver command of this session; its `value`.
    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut request = self.http.request(method, &url);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let answer = json_of(request).await;
        if let Some(error) = answer["value"].get("error") {
            panic!("{path}: {error}: {}", answer["value"]["message"]);
        }
        answer["value"].clone()
    }

    async fn goto(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    /// Runs `script` in the page with `args`; its result.
    async fn script(&self, script: &str, args: Value) -> Value {
        self.command(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    async fn element(&self, css: &str) -> String {
        let found = self
            .command(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        found[ELEMENT].as_str().expect("an element").to_owned()
    }

    /// Clicks `css` as a person would (the element scrolled into view, a real pointer click).
    async fn click(&self, css: &str) {
        let id = self.element(css).await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        )
        .await;
    }

    /// Clears the field `css`, then types `text` into it.
    async fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{id}/clear"),
            Some(json!({})),
        )
        .await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    /// Sets the field `css` to `text` at once, as a paste does.
    async fn paste(&self, css: &str, text: &str) {
        self.script(
            "const field = document.querySelector(arguments[0]); field.value = arguments[1]; \
             field.dispatchEvent(new Event('input'));",
            json!([css, text]),
        )
        .await;
    }

    async fn choose(&self, css: &str, value: &str) {
        self.script(
            "document.querySelector(arguments[0]).value = arguments[1];",
            json!([css, value]),
        )
        .await;
    }

    /// What `script` returns once `done` holds for it (polled; at most [`STEP`]).
    async fn wait(&self, what: &str, script: &str, done: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let value = self.script(script, json!([])).await;
            if done(&value) {
                return value;
            }
            if started.elapsed() > STEP {
                let page = self
                    .script("return document.body.innerText;", json!([]))
                    .await;
                panic!("waited {STEP:?} for {what}; last {value}; the page:\n{page}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The text of `css` once it contains `needle`.
    async fn text_containing(&self, css: &str, needle: &str) -> String {
        let script = format!(
            "const e = document.querySelector({}); return e ? e.innerText : null;",
            json!(css)
        );
        let value = self
            .wait(&format!("{css} to contain {needle:?}"), &script, |v| {
                v.as_str().is_some_and(|t| t.contains(needle))
            })
            .await;
        value.as_str().unwrap_or_default().to_owned()
    }

    /// The `data-outcome` of the row `css`.
    async fn outcome(&self, css: &str) -> String {
        let script = format!(
            "const e = document.querySelector({}); return e ? e.dataset.outcome : null;",
            json!(css)
        );
        self.script(&script, json!([]))
            .await
            .as_str()
            .unwrap_or("(no such row)")
            .to_owned()
    }

    async fn screenshot(&self, name: &str) {
        let png = self
            .command(reqwest::Method::GET, "/screenshot", None)
            .await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().expect("base64"))
            .expect("PNG bytes");
        assert!(bytes.starts_with(b"\x89PNG"), "a PNG");
        std::fs::write(self.shots.join(format!("{name}.png")), bytes).expect("screenshot");
    }

    async fn ready(&self, console: &str) {
        self.goto(console).await;
        self.wait(
            "the console to start",
            "return document.body.dataset.ready || null;",
            |v| v == "true",
        )
        .await;
    }
}

impl Browser {
    /// Ends the session, which closes Chromium.
    async fn quit(&self) {
        let url = format!("{}/session/{}", self.base, self.session);
        let _ = self.http.delete(url).send().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// The JSON document `request` is answered with.
async fn json_of(request: reqwest::RequestBuilder) -> Value {
    let answer = request.send().await.expect("chromedriver answers");
    let body = answer.bytes().await.expect("a body");
    serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&body)))
}

/// `portcullis dev` with `args`; the child, what it printed up to its console line, and the
/// console's URL.
fn start_dev(label: &str, args: &[&str], env: &[(&str, &str)]) -> (Child, Vec<String>, String) {
    let state = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("console-{label}"));
    let _ = std::fs::remove_dir_all(&state);
    std::fs::create_dir_all(&state).expect("state folder");
    let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["dev", "--listen", "127.0.0.1:0", "--console", "127.0.0.1:0"])
        .arg("--state-dir")
        .arg(&state)
        .args(args)
        .envs(env.iter().copied())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("portcullis dev");
    let mut lines = ChildLines::spawn(child.stdout.take().expect("stdout"));
    let mut printed = Vec::new();
    let console = loop {
        let line = lines
            .next_within(Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("dev prints its console: {e}; so far {printed:?}"));
        if let Some(rest) = line.strip_prefix("Console: ") {
            break rest.split_whitespace().next().expect("a URL").to_owned();
        }
        printed.push(line);
    };
    (child, printed, console)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newcomer_signs_in_inspects_calls_and_reads_why_a_request_was_refused() {
    let (mut dev, printed, console) = start_dev("dev-issuer", &[], &[]);
    let issuer = printed
        .iter()
        .find_map(|l| l.strip_prefix("Development issuer: "))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the development issuer is printed")
        .to_owned();
    let browser = Browser::start("dev-issuer").await;
    browser.ready(&console).await;

    // 1. Sign in with the development issuer, by keyboard alone (Enter in a field submits the
    //    form): the claims and an accepted verdict.
    browser.type_into("#subject", "ada\u{E007}").await;
    browser.text_containing("#verdict", "Accepted").await;
    let claims = browser.text_containing("#claims-json", "\"ada\"").await;
    assert!(claims.contains("profile/read profile/write"), "{claims}");
    assert_eq!(
        browser.outcome("#rules tr[data-rule='signature']").await,
        "passed"
    );
    assert_eq!(
        browser.outcome("#rules tr[data-rule='exp']").await,
        "passed"
    );
    let exp = browser
        .text_containing("#rules tr[data-rule='exp']", " min)")
        .await;
    assert!(
        exp.contains("UTC, in 59 min") || exp.contains("UTC, in 60 min"),
        "{exp}"
    );
    browser.screenshot("01-signed-in").await;

    // 2. GET /user/profile with it: 200.
    browser.choose("#method", "GET").await;
    browser.click("#send").await;
    browser.text_containing("#response-status", "→ 200").await;
    browser.text_containing("#response-body", "ada").await;
    browser.screenshot("02-get-200").await;

    // 3. Without the write scope, POST is refused 403 by the route's scope rule.
    browser.type_into("#scopes", "profile/read").await;
    browser.click("#mint").await;
    browser
        .wait(
            "the new token's claims",
            "return document.querySelector('#claims-json').innerText;",
            |v| v.as_str().is_some_and(|t| !t.contains("profile/write")),
        )
        .await;
    browser.choose("#method", "POST").await;
    browser.click("#send").await;
    browser.text_containing("#response-status", "→ 403").await;
    let post_rule = browser
        .text_containing("#routes tr[data-route='POST /user/profile']", "FAIL")
        .await;
    assert!(post_rule.contains("403"), "{post_rule}");
    assert!(post_rule.contains("insufficient_scope"), "{post_rule}");
    assert_eq!(
        browser
            .outcome("#routes tr[data-route='POST /user/profile']")
            .await,
        "failed"
    );
    let highlighted = browser
        .script(
            "return getComputedStyle(document.querySelector(\"#routes tr[data-route='POST /user/profile']\")).outlineStyle;",
            json!([]),
        )
        .await;
    assert_eq!(highlighted, "solid", "the failed rule is highlighted");
    browser
        .text_containing("#history", "POST /user/profile")
        .await;
    browser.screenshot("03-post-403-scope").await;

    // 4. An expired token pasted in: the exp rule fails; nothing after it is reached.
    let now = portcullis_testkit::unix_now();
    let expired = TestKey::rsa("portcullis-dev").mint(&json!({
        "iss": issuer, "aud": "portcullis-dev", "sub": "late", "scope": "profile/read",
        "iat": now - 7200, "exp": now - 3600,
    }));
    browser.paste("#token", &expired).await;
    browser.click("#inspect").await;
    let verdict = browser.text_containing("#verdict", "Refused").await;
    assert!(verdict.contains("exp"), "{verdict}");
    assert!(verdict.contains("the token has expired"), "{verdict}");
    assert_eq!(
        browser.outcome("#rules tr[data-rule='exp']").await,
        "failed"
    );
    assert_eq!(
        browser.outcome("#rules tr[data-rule='iat']").await,
        "not_reached"
    );
    let exp = browser
        .text_containing("#rules tr[data-rule='exp']", "ago")
        .await;
    assert!(exp.contains("401"), "{exp}");
    browser.screenshot("04-expired-token").await;

    browser.quit().await;
    let _ = dev.kill();
    let _ = dev.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_with_pkce_against_oauth2_mock_server_brings_the_token_back_to_the_console() {
    const AUDIENCE: &str = "console-api";
    let mock = start_mock_issuer(Shape::Oidc, None, AUDIENCE).expect("oauth2-mock-server");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-pkce-config");
    std::fs::create_dir_all(&dir).expect("folder");
    let config = dir.join("portcullis.toml");
    std::fs::write(
        &config,
        format!(
            "[auth]\nprovider = \"oidc\"\nissuer = \"{}\"\naudience = \"{AUDIENCE}\"\n\
             [store]\nkind = \"sqlite\"\npath = \"{}\"\n",
            mock.url(),
            dir.join("profiles.db").display()
        ),
    )
    .expect("config");
    let config = config.display().to_string();
    let (mut dev, _, console) = start_dev(
        "pkce",
        &["--config", &config],
        &[("OAUTH_CLIENT_ID", "console-client")],
    );
    let browser = Browser::start("pkce").await;
    browser.ready(&console).await;
    let mint_disabled = browser
        .script(
            "return document.querySelector('#mint-fields').disabled;",
            json!([]),
        )
        .await;
    assert_eq!(mint_disabled, true, "no development issuer to mint from");
    browser.click("#sign-in").await;
    browser
        .text_containing("#sign-in-status", "Signed in with the provider")
        .await;
    browser.text_containing("#verdict", "Accepted").await;
    let claims = browser
        .text_containing("#claims-json", "console-client")
        .await;
    assert!(claims.contains(mock.url()), "{claims}");
    let url = browser.script("return location.href;", json!([])).await;
    let base = console.split('?').next().expect("the console's base URL");
    assert_eq!(
        url, base,
        "neither the code nor the key stays in the address bar"
    );
    browser.screenshot("05-pkce-sign-in").await;
    browser.quit().await;
    let _ = dev.kill();
    let _ = dev.wait();
}

/// The console mints and shows tokens, so it answers its own page only: without the key of the
/// URL it printed (another program on this machine), with another site's `Origin` (a cross-site
/// script or form) or another `Host` (DNS rebinding), it refuses; and it listens on loopback only.
/// Bad form values are refused by name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_answers_its_own_page_only_and_refuses_bad_values_by_name() {
    let (mut dev, _, console) = start_dev("guarded", &[], &[]);
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let (base, key) = console.split_once("?key=").expect("the URL carries a key");
    let port = base
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .expect("a port");
    // The printed URL sets the key as a cookie the page's requests carry.
    let opened = client.get(&console).send().await.expect("answer");
    assert_eq!(opened.status(), 303);
    let set_cookie = opened.headers()["set-cookie"].to_str().expect("text");
    let cookie = format!("portcullis-console-{port}={key}");
    assert_eq!(
        set_cookie,
        format!("{cookie}; HttpOnly; SameSite=Lax; Path=/")
    );
    let mint = format!("{base}api/mint");
    let body = json!({"subject": "x", "scopes": "profile/read"}).to_string();
    let post = |cookie: Option<&str>, origin: Option<&str>, host: Option<&str>, body: String| {
        let mut request = client
            .post(&mint)
            .header("content-type", "application/json")
            .body(body);
        for (name, value) in [("cookie", cookie), ("origin", origin), ("host", host)] {
            if let Some(value) = value {
                request = request.header(name, value);
            }
        }
        request.send()
    };
    let own = base.trim_end_matches('/');
    let answer = |cookie, origin, host| post(cookie, origin, host, body.clone());
    let minted = answer(Some(&cookie), Some(own), None)
        .await
        .expect("answer");
    assert_eq!(minted.status(), 200);
    assert_eq!(minted.headers()["x-content-type-options"], "nosniff");
    let minted: Value = serde_json::from_str(&minted.text().await.expect("body")).expect("JSON");
    // A token pasted with its `Bearer ` prefix is judged as the call will send it.
    let inspected = client
        .post(format!("{base}api/inspect"))
        .header("cookie", &cookie)
        .header("content-type", "application/json")
        .body(
            json!({"token": format!("  bearer {}", minted["token"].as_str().expect("token"))})
                .to_string(),
        )
        .send()
        .await
        .expect("answer");
    let inspected: Value =
        serde_json::from_str(&inspected.text().await.expect("body")).expect("JSON");
    assert_eq!(inspected["verdict"]["status"], 200, "{inspected}");
    let wrong_key = format!("portcullis-console-{port}=not-the-key");
    for (case, cookie, origin, host) in [
        ("no key", None, Some(own), None),
        ("a wrong key", Some(wrong_key.as_str()), Some(own), None),
        (
            "another site's page",
            Some(cookie.as_str()),
            Some("https://evil.example"),
            None,
        ),
        (
            "another host name",
            Some(cookie.as_str()),
            None,
            Some("evil.example"),
        ),
    ] {
        let refused = answer(cookie, origin, host).await.expect("answer");
        assert_eq!(refused.status(), 403, "{case}");
    }
    let page = client.get(base).send().await.expect("answer");
    assert_eq!(page.status(), 403, "the page itself needs the key");
    let script = client
        .get(format!("{base}console.js"))
        .send()
        .await
        .expect("answer");
    assert_eq!(script.status(), 200, "the script holds no secret");
    for (form, message) in [
        (
            json!({"lifetime_minutes": 0}),
            "lifetime 0 minutes: expected a whole number from -1440 to 1440, not 0 (negative: already expired)",
        ),
        (
            json!({"lifetime_minutes": 1.5}),
            "lifetime 1.5 minutes: expected a whole number from -1440 to 1440, not 0 (negative: already expired)",
        ),
        (
            json!({"lifetime_minutes": "60"}),
            "lifetime \"60\" minutes: expected a whole number from -1440 to 1440, not 0 (negative: already expired)",
        ),
        (
            json!({"token_use": "refresh"}),
            "token use \"refresh\": expected \"access\" or \"id\"",
        ),
    ] {
        let refused = post(Some(&cookie), None, None, form.to_string())
            .await
            .expect("answer");
        assert_eq!(refused.status(), 400);
        let text = refused.text().await.expect("body");
        let answer: Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(answer["error"], message);
    }
    let call = client
        .post(format!("{base}api/call"))
        .header("cookie", &cookie)
        .header("content-type", "application/json")
        .body(json!({"method": "TRACE", "path": "/user/profile"}).to_string())
        .send()
        .await
        .expect("answer");
    assert_eq!(call.status(), 400);
    // A redirect with a state no sign-in of this console sent is refused, not handed to the page.
    let forged = client
        .get(format!("{base}callback?code=c&state=forged"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("answer");
    assert_eq!(forged.status(), 400);
    let handed = client
        .post(format!("{base}api/signed-in"))
        .header("cookie", &cookie)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("answer");
    assert_eq!(handed.text().await.expect("body"), "null");
    let _ = dev.kill();
    let _ = dev.wait();

    let refused = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(["dev", "--listen", "127.0.0.1:0", "--console", "0.0.0.0:0"])
        .arg("--state-dir")
        .arg(Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-public"))
        .output()
        .expect("portcullis dev");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("--console \"0.0.0.0:0\": expected a loopback address"),
        "{stderr}"
    );
}

/// With the Lambda runtime, a call shows the payload 2.0 event the function was handed: the
/// authorizer's claims as the function saw them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_to_the_lambda_runtime_shows_the_event_the_function_received() {
    let (mut dev, _, console) = start_dev("lambda", &["--runtime", "lambda"], &[]);
    let browser = Browser::start("lambda").await;
    browser.ready(&console).await;
    let hidden = browser
        .script(
            "return document.querySelector('#event-section').hidden;",
            json!([]),
        )
        .await;
    assert_eq!(hidden, true, "no event before a call");
    browser.type_into("#subject", "grace").await;
    browser.click("#mint").await;
    browser.text_containing("#verdict", "Accepted").await;
    browser.choose("#method", "GET").await;
    browser.click("#send").await;
    browser.text_containing("#response-status", "→ 200").await;
    let event = browser.text_containing("#event", "\"routeKey\"").await;
    let event: Value = serde_json::from_str(&event).expect("the event is JSON");
    assert_eq!(event["version"], "2.0");
    assert_eq!(event["routeKey"], "GET /user/profile");
    assert_eq!(
        event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"],
        "grace"
    );
    browser.screenshot("06-lambda-event").await;
    browser.quit().await;
    let _ = dev.kill();
    let _ = dev.wait();
}
