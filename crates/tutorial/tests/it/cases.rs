//! One table of requests (`runtimes::cases`), run in order against a runtime over real HTTP on
//! 127.0.0.1, each answer an `insta` snapshot (status, the headers that matter, body). The snapshots
//! are named by case only, so every runtime that runs this table must answer byte for byte the same
//! (`portcullis gateway --lambda` runs it too, in crates/cli).

use crate::runtimes;

use portcullis_claims::Gate;
use runtimes::{Lambda, Request, Runtime, Standalone, run_table};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_server_answers_the_table() {
    let runtime = Standalone::start().await;
    run_table(&runtime).await;
}

/// The same table behind the REST API and ALB gates' rules, on both runtimes: each gate's answers
/// are one set of snapshots (`cases__rest_api__NAME`, `cases__alb__NAME`) that the standalone
/// server and the function behind that gate's local emulation (a REST proxy event with JSON-typed
/// claims; an ALB event with the token untouched) must both answer byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_gate_answers_its_own_table_on_both_runtimes() {
    for gate in [Gate::RestApi, Gate::Alb] {
        let standalone = Standalone::start_behind(gate).await;
        run_table(&standalone).await;
        let lambda = Lambda::start_behind(gate).await;
        run_table(&lambda).await;
        assert!(
            lambda.emulator.invocations() > 0,
            "{gate}: answers came from the function, not the gateway alone"
        );
    }
}

/// What this compares, honestly: the table's 401/403 answers on this runtime come from the local
/// gateway's authorizer, the same `portcullis_claims::http` code the standalone server runs, so
/// for those cases "identical" holds by construction; what the function itself answers (200,
/// 400, 412, 413, CORS) is the real comparison. The function's own refusals, for events the
/// gateway would never produce, are in `lambda_bootstrap_refuses_what_no_jwt_authorizer_vouched_for`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_bootstrap_behind_the_local_gateway_answers_the_same_table() {
    let runtime = Lambda::start().await;
    run_table(&runtime).await;
    assert!(
        runtime.emulator.invocations() > 0,
        "answers came from the function, not the gateway alone"
    );
}

/// The real bootstrap, invoked directly (as `aws lambda invoke` would, no gateway in between) with
/// events an HTTP API could send it: claims a JWT authorizer passes but the service must refuse,
/// other authorizer types, payload 1.0. Each answer is a snapshot (`function_answers__NAME`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_bootstrap_refuses_what_no_jwt_authorizer_vouched_for() {
    use portcullis_testkit::events::{http_api_event, http_api_event_v1};
    use serde_json::json;

    let runtime = Lambda::start().await;
    let iss = runtime.issuer.url().to_owned();
    let jwt = |claims: serde_json::Value| Some(json!({"jwt": {"claims": claims, "scopes": null}}));
    let claims = |changes: serde_json::Value| {
        let mut claims = json!({
            "iss": iss, "sub": "user-1", "client_id": runtimes::CLIENT, "token_use": "access",
            "scope": "profile/read profile/write", "exp": "4102444800", "iat": "1795510800",
        });
        for (k, v) in changes.as_object().expect("changes") {
            match v {
                serde_json::Value::Null => drop(claims.as_object_mut().expect("claims").remove(k)),
                v => claims[k] = v.clone(),
            }
        }
        claims
    };
    let get = |authorizer| http_api_event("GET", "/user/profile", authorizer);
    let cases = [
        // A control: the same event with good claims is served, so the refusals are the rules'.
        ("jwt_claims_are_served", get(jwt(claims(json!({}))))),
        (
            "jwt_claims_without_sub",
            get(jwt(claims(json!({"sub": null})))),
        ),
        (
            "jwt_claims_of_another_issuer",
            get(jwt(claims(json!({"iss": "https://other.example.com"})))),
        ),
        ("jwt_claims_without_the_post_scope", {
            let mut event = http_api_event(
                "POST",
                "/user/profile",
                jwt(claims(json!({"scope": "profile/read"}))),
            );
            event["body"] = json!("{\"name\":\"x\"}");
            event
        }),
        ("no_authorizer", get(None)),
        (
            "lambda_authorizer_context",
            get(Some(json!({"lambda": {"sub": "user-1", "iss": iss}}))),
        ),
        (
            "iam_authorizer",
            get(Some(
                json!({"iam": {"accessKey": "AKIA", "accountId": "123456789012", "userArn": "arn:aws:iam::123456789012:user/x"}}),
            )),
        ),
        (
            "payload_1_claims_are_served",
            http_api_event_v1("/user/profile", json!({"claims": claims(json!({}))})),
        ),
        (
            "payload_1_lambda_authorizer",
            http_api_event_v1(
                "/user/profile",
                json!({"principalId": "user-1", "integrationLatency": 0}),
            ),
        ),
    ];
    for (name, event) in cases {
        let answer = runtime.invoke(name, event).await;
        let render = runtimes::render_lambda_answer(&answer, &iss);
        insta::assert_snapshot!(format!("function_answers__{name}"), render);
    }
}

/// The real bootstrap, invoked directly with what the other two gates hand a function: a REST
/// API's proxy event, whose claims keep their JSON types (a group holding a space stays one
/// group, which no string rendering could promise), and an ALB's event, whose token is passed on
/// untouched for the function to read. Each answer is a snapshot (`function_answers__NAME`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_bootstrap_reads_what_the_rest_api_and_alb_gates_hand_it() {
    use portcullis_testkit::TestKey;
    use portcullis_testkit::events::{alb_event, rest_api_event};
    use serde_json::json;

    // Each function as deployed behind its gate (behind REST, routes matched without the stage).
    let rest = Lambda::start_behind(Gate::RestApi).await;
    let alb = Lambda::start_behind(Gate::Alb).await;
    let iss = rest.issuer.url().to_owned();
    let claims = json!({
        "iss": iss, "sub": "user-1", "aud": runtimes::CLIENT, "token_use": "id", "email": "alice@example.com",
        "cognito:groups": ["Everyone", "Not admin"], "email_verified": true,
        "scope": "profile/read", "exp": 4102444800u64, "iat": 1795510800u64,
    });
    let alb_claims = {
        let mut claims = claims.clone();
        claims["iss"] = json!(alb.issuer.url());
        claims
    };
    let token = TestKey::rsa("dev-key").mint(&alb_claims);
    let bearer = format!("Bearer {token}");
    let post = |mut event: serde_json::Value| {
        event["body"] = json!("{\"name\":\"x\"}");
        event["headers"]["content-type"] = json!("application/json");
        event
    };
    let cases = [
        (
            &rest,
            "rest_api_typed_claims_are_served",
            rest_api_event("GET", "/user/profile", claims.clone()),
        ),
        (
            &rest,
            "rest_api_claims_without_the_post_scope",
            post(rest_api_event("POST", "/user/profile", claims.clone())),
        ),
        (
            &alb,
            "alb_forwarded_token_is_served",
            alb_event("GET", "/user/profile", Some(&bearer)),
        ),
        (
            &alb,
            "alb_without_token",
            alb_event("GET", "/user/profile", None),
        ),
        (
            &alb,
            "alb_token_without_the_post_scope",
            post(alb_event("POST", "/user/profile", Some(&bearer))),
        ),
    ];
    for (runtime, name, event) in cases {
        let answer = runtime.invoke(name, event).await;
        let render = runtimes::render_lambda_answer(&answer, runtime.issuer.url());
        insta::assert_snapshot!(format!("function_answers__{name}"), render);
    }
}

/// `[lambda] mode = "verify"` (function URLs, ALB, no authorizer): the function judges the
/// `Authorization` header itself, with the same rules and answers; authorizer claims in the event
/// count for nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_bootstrap_in_verify_mode_judges_the_token_itself() {
    use portcullis_testkit::events::http_api_event;
    use serde_json::json;

    let runtime = Lambda::start_with("[lambda]\nmode = \"verify\"\n").await;
    let tokens = runtime.tokens();
    let iss = runtime.issuer.url().to_owned();
    let with_header = |method: &str, authorization: Option<&str>, authorizer| {
        let mut event = http_api_event(method, "/user/profile", authorizer);
        if let Some(value) = authorization {
            event["headers"]["authorization"] = json!(value);
        }
        if method == "POST" {
            event["body"] = json!("{\"name\":\"x\"}");
            event["headers"]["content-type"] = json!("application/json");
        }
        event
    };
    let bearer = |token: &str| format!("Bearer {token}");
    // Claims an authorizer would have put there, for a subject the token does not name.
    let forged = Some(
        json!({"jwt": {"claims": {"iss": iss, "sub": "someone-else", "client_id": runtimes::CLIENT}, "scopes": null}}),
    );
    let cases = [
        (
            "valid_token",
            200,
            with_header("GET", Some(&bearer(&tokens.access)), None),
        ),
        ("no_token", 401, with_header("GET", None, None)),
        (
            "authorizer_claims_without_a_token",
            401,
            with_header("GET", None, forged.clone()),
        ),
        (
            "expired_token",
            401,
            with_header("GET", Some(&bearer(&tokens.expired)), None),
        ),
        (
            "foreign_signature",
            401,
            with_header("GET", Some(&bearer(&tokens.foreign)), None),
        ),
        (
            "read_only_token_posting",
            403,
            with_header("POST", Some(&bearer(&tokens.read_only)), None),
        ),
    ];
    for (name, expected, event) in cases {
        let answer = runtime.invoke(name, event).await;
        assert_eq!(answer["statusCode"], json!(expected), "{name}: {answer}");
        let rendered = runtimes::render_lambda_answer(&answer, &iss);
        assert!(!rendered.contains("someone-else"), "{name}: {rendered}");
        insta::assert_snapshot!(format!("verify_mode__{name}"), rendered);
    }
}

/// `[metrics] emf = true`: the bootstrap writes each decision to stdout as a CloudWatch embedded
/// metric format line, in either mode; parsed back, each names its route, outcome, reason and
/// issuer, and declares its metrics as CloudWatch reads them. In verify mode, a line per issuer
/// carries the key cache's increments.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_bootstrap_writes_each_decision_as_an_embedded_metric_format_line() {
    use portcullis_testkit::events::http_api_event;
    use serde_json::{Value, json};

    for mode in ["verify", "gateway"] {
        let runtime = Lambda::start_with(&format!(
            "[lambda]\nmode = \"{mode}\"\n[metrics]\nemf = true\n"
        ))
        .await;
        let tokens = runtime.tokens();
        let iss = runtime.issuer.url().to_owned();
        // In verify mode the function judges the header; in gateway mode the claims API
        // Gateway's authorizer passes (its scopes judged again by the function).
        let event = |method: &str, token: Option<&str>| {
            let claims = token.map(|token| {
                let payload = token.split('.').nth(1).expect("payload");
                let claims: Value =
                    serde_json::from_slice(&portcullis_testkit::b64_decode(payload))
                        .expect("claims");
                json!({"jwt": {"claims": claims, "scopes": claims["scope"].as_str().map(|s| s.split(' ').collect::<Vec<_>>())}})
            });
            let mut event = http_api_event(
                method,
                "/user/profile",
                claims.filter(|_| mode == "gateway"),
            );
            if let Some(token) = token {
                event["headers"]["authorization"] = json!(format!("Bearer {token}"));
            }
            if method == "POST" {
                event["body"] = json!("{\"name\":\"x\"}");
                event["headers"]["content-type"] = json!("application/json");
            }
            event
        };
        let script = [
            ("GET", Some(&tokens.access), 200, "accepted", "none"),
            ("GET", Some(&tokens.access), 200, "accepted", "none"),
            ("GET", None, 401, "refused", "missing_token"),
            (
                "POST",
                Some(&tokens.read_only),
                403,
                "refused",
                "insufficient_scope",
            ),
        ];
        for (method, token, status, _, _) in &script {
            let answer = runtime
                .invoke(mode, event(method, token.map(String::as_str)))
                .await;
            assert_eq!(
                answer["statusCode"],
                json!(status),
                "{mode} {method}: {answer}"
            );
        }
        let out = runtime.stdout();
        let lines: Vec<Value> = out
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect();
        let decisions: Vec<&Value> = lines
            .iter()
            .filter(|l| l.get("Decisions").is_some())
            .collect();
        assert_eq!(decisions.len(), script.len(), "{mode}:\n{out}");
        for (line, (method, token, status, outcome, reason)) in decisions.iter().zip(&script) {
            let directive = &line["_aws"]["CloudWatchMetrics"][0];
            assert_eq!(directive["Namespace"], "Portcullis", "{line}");
            assert_eq!(
                directive["Dimensions"],
                json!([
                    ["Route", "Outcome"],
                    ["Outcome", "Reason"],
                    ["Issuer", "Outcome"]
                ])
            );
            assert_eq!(
                directive["Metrics"],
                json!([{"Name": "Decisions", "Unit": "Count"}, {"Name": "VerificationLatency", "Unit": "Microseconds"}])
            );
            assert!(
                line["_aws"]["Timestamp"]
                    .as_u64()
                    .is_some_and(|t| t > 1_700_000_000_000),
                "{line}"
            );
            assert_eq!(
                line["Route"],
                format!("{method} /user/profile"),
                "{mode}: {line}"
            );
            assert_eq!(line["Outcome"], *outcome, "{mode}: {line}");
            assert_eq!(line["Reason"], *reason, "{mode}: {line}");
            assert_eq!(line["Status"], json!(status), "{mode}: {line}");
            let named = if token.is_some() {
                iss.as_str()
            } else {
                "none"
            };
            assert_eq!(line["Issuer"], named, "{mode}: {line}");
            assert_eq!(line["Decisions"], 1);
            assert!(
                line["VerificationLatency"]
                    .as_f64()
                    .is_some_and(|us| us >= 0.0),
                "{line}"
            );
        }
        let keys: Vec<&Value> = lines
            .iter()
            .filter(|l| l.get("JwksFetches").is_some())
            .collect();
        if mode == "verify" {
            // Keys fetched during init: the first judged token's line carries that fetch and its
            // lookup; the repeated token is a verified-token cache hit; the read-only one a lookup.
            let increments: Vec<[u64; 5]> = keys
                .iter()
                .map(|l| {
                    assert_eq!(l["Issuer"], iss.as_str(), "{l}");
                    assert_eq!(
                        l["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
                        json!([["Issuer"]])
                    );
                    [
                        "JwksFetches",
                        "JwksFetchFailures",
                        "JwksCacheHits",
                        "JwksCacheMisses",
                        "TokenCacheHits",
                    ]
                    .map(|name| l[name].as_u64().expect("a count"))
                })
                .collect();
            assert_eq!(
                increments,
                [[1, 0, 1, 0, 0], [0, 0, 0, 0, 1], [0, 0, 1, 0, 0]],
                "{out}"
            );
        } else {
            assert!(keys.is_empty(), "gateway mode fetches no keys: {out}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_conditional_posts_over_http_have_one_winner_per_version() {
    let runtime = std::sync::Arc::new(Standalone::start().await);
    let token = runtime.tokens().access;
    let seed = runtime
        .send(&Request::post("/user/profile", "{\"writer\":\"seed\"}").bearer(&token))
        .await;
    assert_eq!(seed.status, 200);
    let mut clients = Vec::new();
    for client in 0..20 {
        let (runtime, token) = (runtime.clone(), token.clone());
        clients.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for attempt in 0..10 {
                let current = runtime
                    .send(&Request::get("/user/profile").bearer(&token))
                    .await;
                let etag = current.headers["etag"].clone();
                let body = format!("{{\"writer\":{client},\"attempt\":{attempt}}}");
                let answer = runtime
                    .send(
                        &Request::post("/user/profile", &body)
                            .bearer(&token)
                            .if_match(&etag),
                    )
                    .await;
                outcomes.push((answer.status, answer.headers.get("etag").cloned(), etag));
            }
            outcomes
        }));
    }
    let mut winners = std::collections::BTreeSet::new();
    let mut posts = 0;
    for client in clients {
        for (status, new_etag, based_on) in client.await.expect("client") {
            posts += 1;
            match status {
                200 => {
                    let version: u64 = new_etag
                        .expect("etag")
                        .trim_matches('"')
                        .parse()
                        .expect("version");
                    let base: u64 = based_on.trim_matches('"').parse().expect("version");
                    assert_eq!(
                        version,
                        base + 1,
                        "a winner writes exactly on top of what it read"
                    );
                    assert!(winners.insert(version), "two winners for version {version}");
                }
                412 => {}
                other => panic!("unexpected status {other}"),
            }
        }
    }
    assert_eq!(posts, 200);
    let last = runtime
        .send(&Request::get("/user/profile").bearer(&token))
        .await;
    let last_version: u64 = last.headers["etag"]
        .trim_matches('"')
        .parse()
        .expect("version");
    assert_eq!(
        winners.into_iter().collect::<Vec<_>>(),
        (2..=last_version).collect::<Vec<_>>(),
        "no lost update"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_cors_a_preflight_is_routed_like_any_request() {
    // No [cors]: nothing answers the preflight before routing; OPTIONS has no route (404), and
    // the answer carries no CORS header.
    let runtime = Standalone::start_with(runtimes::settings_text_without_cors).await;
    let preflight = Request::preflight(
        "/user/profile",
        runtimes::PAGE_ORIGIN,
        "POST",
        "authorization",
    );
    let answer = runtime.send(&preflight).await;
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (404, r#"{"message":"Not Found"}"#)
    );
    assert!(
        !answer
            .headers
            .keys()
            .any(|h| h.starts_with("access-control-")),
        "{:?}",
        answer.headers
    );
    let cross_origin = Request::get("/user/profile")
        .bearer(&runtime.tokens().access)
        .header("origin", runtimes::PAGE_ORIGIN);
    let answer = runtime.send(&cross_origin).await;
    assert_eq!(answer.status, 200);
    assert!(!answer.headers.contains_key("access-control-allow-origin"));
}

/// `identity_source = "$request.querystring.access_token"` (an HTTP API may read its token from
/// the query string): the server judges the parameter and nothing else, over real HTTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_string_identity_source_is_the_only_place_the_token_is_read() {
    fn text(issuer: &str) -> String {
        runtimes::settings_text(issuer).replacen(
            "[auth]\n",
            "[auth]\nidentity_source = \"$request.querystring.access_token\"\n",
            1,
        )
    }
    let runtime = Standalone::start_with(text).await;
    let token = runtime.tokens().access;
    let client = reqwest::Client::new();
    let get = |query: String, header: Option<&str>| {
        let mut request = client.get(format!("{}/user/profile{query}", runtime.base));
        if let Some(value) = header {
            request = request.header("authorization", value);
        }
        request.send()
    };
    let status = |response: reqwest::Response| response.status().as_u16();
    let bearer = format!("Bearer {token}");
    assert_eq!(
        status(
            get(format!("?access_token={token}"), None)
                .await
                .expect("answer")
        ),
        200
    );
    let header_only = get(String::new(), Some(&bearer)).await.expect("answer");
    assert_eq!(
        status(header_only),
        401,
        "the header is not the identity source"
    );
    let twice = get(format!("?access_token={token}&access_token={token}"), None);
    assert_eq!(
        status(twice.await.expect("answer")),
        401,
        "a repeated parameter"
    );
    let empty = get("?access_token=".to_owned(), Some(&bearer));
    assert_eq!(
        status(empty.await.expect("answer")),
        401,
        "an empty parameter"
    );
}
