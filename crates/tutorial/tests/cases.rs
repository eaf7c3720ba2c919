//! One table of requests (`runtimes::cases`), run in order against a runtime over real HTTP on
//! 127.0.0.1, each answer an `insta` snapshot (status, the headers that matter, body). The snapshots
//! are named by case only, so every runtime that runs this table must answer byte for byte the same
//! (`portcullis gateway --lambda` runs it too, in crates/cli).

mod runtimes;

use runtimes::{Lambda, Request, Runtime, Standalone, run_table};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_server_answers_the_table() {
    let runtime = Standalone::start().await;
    run_table(&runtime).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_bootstrap_behind_the_local_gateway_answers_the_same_table() {
    let runtime = Lambda::start().await;
    run_table(&runtime).await;
    assert!(
        runtime.emulator.invocations() > 0,
        "answers came from the function, not the gateway alone"
    );
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
