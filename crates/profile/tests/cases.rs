//! One table of requests, run in order against a runtime over real HTTP on 127.0.0.1, each answer an
//! `insta` snapshot (status, the headers that matter, body). The snapshots are named by case only, so
//! every runtime that runs this table must answer byte for byte the same.

mod runtimes;

use runtimes::{Answer, Request, Runtime, Standalone, Tokens};
use serde_json::json;

/// The cases: a name, then the request built from the tokens.
fn cases(t: &Tokens) -> Vec<(&'static str, Request)> {
    let profile = json!({"name": "Alice", "team": "platform"}).to_string();
    vec![
        ("healthz_is_unprotected", Request::get("/healthz")),
        ("no_token", Request::get("/user/profile")),
        (
            "bad_token",
            Request::get("/user/profile").bearer("abc.def.ghi"),
        ),
        (
            "expired_token",
            Request::get("/user/profile").bearer(&t.expired),
        ),
        (
            "foreign_issuer_token",
            Request::get("/user/profile").bearer(&t.foreign),
        ),
        (
            "id_token_get_before_post",
            Request::get("/user/profile").bearer(&t.id),
        ),
        (
            "post_without_required_scope",
            Request::post("/user/profile", &profile).bearer(&t.read_only),
        ),
        (
            "post_wrong_content_type",
            Request::post("/user/profile", &profile)
                .bearer(&t.access)
                .content_type("text/plain"),
        ),
        (
            "post_invalid_json",
            Request::post("/user/profile", "{\"name\": ").bearer(&t.access),
        ),
        (
            "post_array",
            Request::post("/user/profile", "[1, 2]").bearer(&t.access),
        ),
        (
            "post_too_large",
            Request::post(
                "/user/profile",
                &format!("{{\"a\":\"{}\"}}", "x".repeat(17_000)),
            )
            .bearer(&t.access),
        ),
        (
            "post_if_match_before_any_profile",
            Request::post("/user/profile", &profile)
                .bearer(&t.access)
                .if_match("\"1\""),
        ),
        (
            "post_first_profile",
            Request::post("/user/profile", &profile).bearer(&t.access),
        ),
        (
            "access_token_get_after_post",
            Request::get("/user/profile").bearer(&t.access),
        ),
        (
            "post_with_current_if_match",
            Request::post("/user/profile", "{\"name\":\"Alice B.\"}")
                .bearer(&t.access)
                .if_match("\"1\""),
        ),
        (
            "post_with_stale_if_match",
            Request::post("/user/profile", "{\"name\":\"Mallory\"}")
                .bearer(&t.access)
                .if_match("\"1\""),
        ),
        (
            "get_after_stale_post_is_unchanged",
            Request::get("/user/profile").bearer(&t.access),
        ),
        (
            "post_with_unparseable_if_match",
            Request::post("/user/profile", &profile)
                .bearer(&t.access)
                .if_match("version-2"),
        ),
    ]
}

async fn run_table(runtime: &impl Runtime) {
    let tokens = runtime.tokens();
    for (name, request) in cases(&tokens) {
        let answer: Answer = runtime.send(&request).await;
        insta::assert_snapshot!(name, answer.render());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_server_answers_the_table() {
    let runtime = Standalone::start().await;
    run_table(&runtime).await;
}
