//! The three AWS gates side by side: the twelve tokens of GATES.md §6 (one gate accepts, another
//! refuses), each judged by all three through the request path every runtime shares
//! (`Authorizer::judge_request`), against real issuers on 127.0.0.1. The verdicts are one `insta`
//! snapshot, `gates__twelve_tokens`, which the README's "Which AWS gate?" section quotes verbatim
//! (checked by `the_readme_quotes_the_table`). Then each gate's own refusals, with their exact
//! status, body and challenge.

use crate::common;

use std::fmt::Write as _;

use http::{HeaderMap, HeaderValue, Uri, header};
use portcullis_claims::http::refusal as gate_refusal;
use portcullis_claims::{
    Algorithm, Authorizer, AuthorizerConfig, ClaimFormat, ClaimRule, Gate, IdentitySource,
};
use portcullis_testkit::{Issuer, TestKey, claims_for, jwks, unix_now};
use serde_json::{Value, json};

const AUDIENCE: &str = "api";

/// The base configuration of GATES.md §6: one issuer `P`, audience `api`, RS256 key `k1`; a
/// second trusted issuer for REST; `k2` (ES256) and `k512` (RS512) published too.
struct World {
    p: Issuer,
    p2: Issuer,
    /// An issuer publishing eleven keys (the ALB takes at most ten).
    crowded: Issuer,
}

impl World {
    async fn start() -> World {
        let published = jwks([
            TestKey::rsa("k1").jwk(),
            TestKey::es256("k2").jwk(),
            TestKey::rsa_alg("k512", "RS512").jwk(),
        ]);
        let crowded = jwks((0..11).map(|i| {
            if i == 0 {
                TestKey::rsa("k1").jwk()
            } else {
                TestKey::rsa_other(&format!("spare{i}")).jwk()
            }
        }));
        World {
            p: Issuer::start(published).await.expect("issuer P"),
            p2: Issuer::start(jwks([TestKey::rsa("k1").jwk()]))
                .await
                .expect("issuer P2"),
            crowded: Issuer::start(crowded).await.expect("crowded issuer"),
        }
    }
}

/// How a case sets a gate up beyond the base configuration.
#[derive(Default, Clone)]
struct Setup {
    /// Additional claim rules, per gate (the HTTP API takes none).
    rest_claims: Vec<ClaimRule>,
    alb_claims: Vec<ClaimRule>,
    /// The HTTP API's identity source (the others read the `Authorization` header).
    http_source: Option<IdentitySource>,
    /// The route's scopes on API Gateway, and whether the ALB's listener rule maps them to a
    /// `scope` claim rule (`Gate::scope_rule`).
    scopes: Vec<&'static str>,
    alb_maps_scopes: bool,
    /// Judge against the issuer publishing eleven keys.
    crowded: bool,
}

/// A case: its number and words in GATES.md §6, the request, and the set-up.
struct Case {
    id: &'static str,
    what: &'static str,
    /// The request's path and query, and its `Authorization` value.
    uri: String,
    authorization: Option<String>,
    setup: Setup,
    /// Publish `k3` after the gate first fetched the keys (a fresh rotation).
    rotate: bool,
}

fn bearer(token: &str) -> Option<String> {
    Some(format!("Bearer {token}"))
}

fn cases(world: &World) -> Vec<Case> {
    let p = world.p.url();
    let k1 = TestKey::rsa("k1");
    let base = |changes: Value| {
        let mut claims = claims_for(p, AUDIENCE, 3600);
        for (k, v) in changes.as_object().expect("object") {
            if v.is_null() {
                claims.as_object_mut().expect("object").remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        claims
    };
    let case = |id, what, token: String| Case {
        id,
        what,
        uri: "/orders".to_owned(),
        authorization: bearer(&token),
        setup: Setup::default(),
        rotate: false,
    };
    let rule =
        |name: &str, format, value: &str, required| ClaimRule::new(name, format, [value], required);
    vec![
        case(
            "1",
            "Cognito access token: client_id api, no aud",
            k1.mint(&base(
                json!({"aud": null, "client_id": AUDIENCE, "scope": "x", "token_use": "access"}),
            )),
        ),
        case("2", "aud other", k1.mint(&base(json!({"aud": "other"})))),
        case(
            "3a",
            "ES256 (listed on REST)",
            TestKey::es256("k2").mint(&base(json!({}))),
        ),
        case(
            "3b",
            "RS512 (listed on REST)",
            TestKey::rsa_alg("k512", "RS512").mint(&base(json!({}))),
        ),
        case(
            "4",
            "iss from a second trusted IdP",
            k1.mint(&claims_for(world.p2.url(), AUDIENCE, 3600)),
        ),
        case(
            "5",
            "iss with a trailing slash the configuration lacks",
            k1.mint(&base(json!({"iss": format!("{p}/")}))),
        ),
        case("6", "no exp", k1.mint(&base(json!({"exp": null})))),
        Case {
            setup: Setup {
                scopes: vec!["write"],
                ..Setup::default()
            },
            ..case(
                "7",
                "scope read on a route needing write (ALB: no scope claim rule)",
                k1.mint(&base(json!({"scope": "read"}))),
            )
        },
        Case {
            setup: Setup {
                scopes: vec!["write"],
                alb_maps_scopes: true,
                ..Setup::default()
            },
            ..case(
                "7b",
                "the same, the route's scopes mapped to the ALB rule's scope claim",
                k1.mint(&base(json!({"scope": "read"}))),
            )
        },
        Case {
            setup: Setup {
                rest_claims: vec![rule("tenant", ClaimFormat::SingleString, "acme", false)],
                alb_claims: vec![rule("tenant", ClaimFormat::SingleString, "acme", true)],
                ..Setup::default()
            },
            ..case(
                "8",
                "tenant ACME, the rule expects acme",
                k1.mint(&base(json!({"tenant": "ACME"}))),
            )
        },
        Case {
            setup: Setup {
                rest_claims: vec![rule("groups", ClaimFormat::SingleString, "admin", false)],
                alb_claims: vec![rule("groups", ClaimFormat::StringArray, "admin", true)],
                ..Setup::default()
            },
            ..case(
                "9",
                "groups [admin, dev], the rule wants admin",
                k1.mint(&base(json!({"groups": ["admin", "dev"]}))),
            )
        },
        Case {
            uri: format!("/orders?access_token={}", k1.mint(&base(json!({})))),
            authorization: None,
            setup: Setup {
                http_source: Some(IdentitySource::Query("access_token".into())),
                ..Setup::default()
            },
            ..case("10", "token in ?access_token=", String::new())
        },
        Case {
            rotate: true,
            ..case(
                "11",
                "signed by k3, published after the keys were fetched",
                TestKey::rsa_other("k3").mint(&base(json!({}))),
            )
        },
        Case {
            setup: Setup {
                crowded: true,
                ..Setup::default()
            },
            ..case(
                "12",
                "a JWKS of 11 keys",
                k1.mint(&claims_for(world.crowded.url(), AUDIENCE, 3600)),
            )
        },
    ]
}

/// The authorizer `gate` runs for `setup`: the base configuration plus the case's rules.
fn authorizer(world: &World, gate: Gate, setup: &Setup) -> Authorizer {
    let issuer = if setup.crowded {
        world.crowded.url()
    } else {
        world.p.url()
    };
    let audiences: &[&str] = if gate == Gate::Alb { &[] } else { &[AUDIENCE] };
    let config = AuthorizerConfig::for_gate(gate, issuer, audiences.iter().copied())
        .expect("base configuration");
    let configs = match gate {
        Gate::HttpApi => {
            let source = setup.http_source.clone().unwrap_or_default();
            vec![config.with_identity_source(source).expect("source")]
        }
        Gate::RestApi => {
            let algorithms = [Algorithm::RS256, Algorithm::RS512, Algorithm::ES256];
            let second = AuthorizerConfig::for_gate(gate, world.p2.url(), [AUDIENCE])
                .and_then(|c| c.with_algorithms(algorithms))
                .expect("second issuer");
            let first = config
                .with_algorithms(algorithms)
                .and_then(|c| c.with_claims(setup.rest_claims.clone()))
                .expect("REST configuration");
            vec![first, second]
        }
        Gate::Alb => vec![
            config
                .with_claims(setup.alb_claims.clone())
                .expect("ALB configuration"),
        ],
    };
    Authorizer::new(configs, common::fast_options()).expect("authorizer")
}

/// `✓ 200`, or `✗ STATUS reason` as the gate answers.
async fn verdict(world: &World, gate: Gate, case: &Case) -> String {
    let authorizer = authorizer(world, gate, &case.setup);
    if case.rotate {
        world.p.set_jwks(jwks([
            TestKey::rsa("k1").jwk(),
            TestKey::es256("k2").jwk(),
            TestKey::rsa_alg("k512", "RS512").jwk(),
        ]));
        authorizer
            .hydrate()
            .await
            .expect("keys before the rotation");
        world.p.set_jwks(jwks([
            TestKey::rsa("k1").jwk(),
            TestKey::es256("k2").jwk(),
            TestKey::rsa_alg("k512", "RS512").jwk(),
            TestKey::rsa_other("k3").jwk(),
        ]));
    }
    let uri: Uri = case.uri.parse().expect("uri");
    let mut headers = HeaderMap::new();
    if let Some(value) = &case.authorization {
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(value).expect("header"),
        );
    }
    let scopes: &[&str] = match gate {
        Gate::Alb if !case.setup.alb_maps_scopes => &[],
        _ => &case.setup.scopes,
    };
    let answer = match authorizer
        .judge_request(&uri, &headers, scopes)
        .await
        .verdict
    {
        Ok(_) => "✓ 200".to_owned(),
        Err(refusal) => format!("✗ {} {}", gate.status(&refusal), refusal.reason()),
    };
    if case.rotate {
        world.p.set_jwks(jwks([
            TestKey::rsa("k1").jwk(),
            TestKey::es256("k2").jwk(),
            TestKey::rsa_alg("k512", "RS512").jwk(),
        ]));
    }
    answer
}

/// The table as the README shows it.
async fn table(world: &World) -> String {
    let mut out =
        String::from("| # | token | HTTP API | REST API | ALB |\n|---|---|---|---|---|\n");
    for case in cases(world) {
        let mut row = format!("| {} | {} |", case.id, case.what);
        for gate in Gate::ALL {
            write!(row, " {} |", verdict(world, gate, &case).await).expect("string");
        }
        out.push_str(&row);
        out.push('\n');
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twelve_tokens_show_exactly_where_the_gates_differ() {
    let world = World::start().await;
    let table = table(&world).await;
    insta::assert_snapshot!("twelve_tokens", table);
}

/// The README's "Which AWS gate?" table is this test's snapshot, word for word.
#[test]
fn the_readme_quotes_the_table() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let snapshot =
        std::fs::read_to_string(dir.join("tests/it/snapshots/it__gates__twelve_tokens.snap"))
            .expect("the table's snapshot");
    let table = snapshot
        .splitn(3, "---\n")
        .nth(2)
        .expect("a snapshot body after its header")
        .trim();
    let readme = std::fs::read_to_string(dir.join("../../README.md")).expect("README.md");
    assert!(
        readme.contains(table),
        "README.md must quote crates/claims/tests/it/snapshots/it__gates__twelve_tokens.snap verbatim:\n{table}"
    );
}

/// Each gate's own refusals, answered as that gate answers: status, body, challenge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_gate_refuses_in_its_own_words() {
    let world = World::start().await;
    let p = world.p.url();
    let k1 = TestKey::rsa("k1");
    let now = unix_now();
    let token = |claims: Value| bearer(&k1.mint(&claims));
    let valid = claims_for(p, AUDIENCE, 3600);
    let with = |changes: Value| {
        let mut claims = valid.clone();
        for (k, v) in changes.as_object().expect("object") {
            claims[k] = v.clone();
        }
        claims
    };
    let rest_rules = vec![
        ClaimRule::new("tenant", ClaimFormat::SingleString, ["acme"], true),
        ClaimRule::new("plan", ClaimFormat::SingleString, [""; 0], false),
    ];
    let alb_rules = vec![
        ClaimRule::new("tenant", ClaimFormat::SingleString, ["acme"], true),
        ClaimRule::new("roles", ClaimFormat::StringArray, ["admin", "ops"], true),
        ClaimRule::new("scope", ClaimFormat::SpaceSeparated, ["orders:read"], true),
    ];
    let good_for_alb = with(json!({"tenant": "acme", "roles": ["ops"], "scope": "a orders:read"}));
    type Row = (Gate, &'static str, Option<String>, Vec<&'static str>);
    let rows: Vec<Row> = vec![
        (Gate::RestApi, "no token", None, vec![]),
        (
            Gate::RestApi,
            "valid with the tenant",
            token(with(json!({"tenant": "acme"}))),
            vec![],
        ),
        (
            Gate::RestApi,
            "required claim missing",
            token(valid.clone()),
            vec![],
        ),
        (
            Gate::RestApi,
            "required claim another case",
            token(with(json!({"tenant": "Acme"}))),
            vec![],
        ),
        (
            Gate::RestApi,
            "required claim a number",
            token(with(json!({"tenant": 7}))),
            vec![],
        ),
        (
            Gate::RestApi,
            "optional claim present but not a string",
            token(with(json!({"tenant": "acme", "plan": ["gold"]}))),
            vec![],
        ),
        (
            Gate::RestApi,
            "client_id without aud",
            token(with(
                json!({"tenant": "acme", "aud": null, "client_id": AUDIENCE}),
            )),
            vec![],
        ),
        (
            Gate::RestApi,
            "scope miss",
            token(with(json!({"tenant": "acme", "scope": "read"}))),
            vec!["write"],
        ),
        (
            Gate::RestApi,
            "expired",
            token(with(json!({"tenant": "acme", "exp": now - 5}))),
            vec![],
        ),
        (Gate::Alb, "no token", None, vec![]),
        (
            Gate::Alb,
            "valid with every claim",
            token(good_for_alb.clone()),
            vec![],
        ),
        (
            Gate::Alb,
            "aud other is not checked",
            token(with(
                json!({"tenant": "acme", "roles": ["ops"], "scope": "orders:read", "aud": "other"}),
            )),
            vec![],
        ),
        (
            Gate::Alb,
            "string-array claim holds none of the values",
            token(with(
                json!({"tenant": "acme", "roles": ["dev"], "scope": "orders:read"}),
            )),
            vec![],
        ),
        (
            Gate::Alb,
            "string-array claim is a string",
            token(with(
                json!({"tenant": "acme", "roles": "admin", "scope": "orders:read"}),
            )),
            vec![],
        ),
        (
            Gate::Alb,
            "space-separated claim lacks the word",
            token(with(
                json!({"tenant": "acme", "roles": ["ops"], "scope": "orders:readonly"}),
            )),
            vec![],
        ),
        (
            Gate::Alb,
            "route scope mapped to the scope claim: scp does not count",
            token(with(
                json!({"tenant": "acme", "roles": ["ops"], "scope": "orders:read", "scp": ["write"]}),
            )),
            vec!["write"],
        ),
        (
            Gate::Alb,
            "RS384",
            bearer(&TestKey::rsa_alg("k1", "RS384").mint(&good_for_alb)),
            vec![],
        ),
        (
            Gate::Alb,
            "nbf in the future",
            token(with(
                json!({"tenant": "acme", "roles": ["ops"], "scope": "orders:read", "nbf": now + 600}),
            )),
            vec![],
        ),
    ];
    let mut out = String::new();
    for (gate, what, authorization, scopes) in rows {
        let (audiences, rules): (&[&str], _) = match gate {
            Gate::Alb => (&[], alb_rules.clone()),
            _ => (&[AUDIENCE], rest_rules.clone()),
        };
        let config = AuthorizerConfig::for_gate(gate, p, audiences.iter().copied())
            .and_then(|c| c.with_claims(rules))
            .expect("configuration");
        let authorizer = Authorizer::new([config], common::fast_options()).expect("authorizer");
        let verdict = authorizer
            .authorize(authorization.as_deref(), &scopes)
            .await;
        let line = match verdict {
            Ok(_) => "200".to_owned(),
            Err(refusal) => {
                let response = gate_refusal::<String>(gate, &refusal);
                let challenge = response
                    .headers()
                    .get(header::WWW_AUTHENTICATE)
                    .map_or("-".to_owned(), |v| v.to_str().expect("ascii").to_owned());
                format!(
                    "{} ({}) body={:?} www-authenticate={challenge}",
                    response.status().as_u16(),
                    refusal.reason(),
                    response.body()
                )
            }
        };
        writeln!(out, "{gate} | {what}: {line}").expect("string");
    }
    insta::assert_snapshot!("each_gate_refuses", out);
}

/// What a gate does not allow is refused when the configuration is built, naming the key, the
/// value and the gate's rule.
#[test]
fn settings_a_gate_does_not_take_are_refused_by_name() {
    let p = "https://idp.example.com";
    let refusals = [
        AuthorizerConfig::new(p, [AUDIENCE])
            .and_then(|c| c.with_algorithms([Algorithm::ES256]))
            .unwrap_err(),
        AuthorizerConfig::for_gate(Gate::RestApi, p, [AUDIENCE])
            .and_then(|c| c.with_algorithms([Algorithm::PS256]))
            .unwrap_err(),
        AuthorizerConfig::for_gate(Gate::Alb, p, [""; 0])
            .and_then(|c| c.with_algorithms([Algorithm::RS512]))
            .unwrap_err(),
        AuthorizerConfig::new(p, [AUDIENCE])
            .and_then(|c| {
                c.with_claims([ClaimRule::new(
                    "tenant",
                    ClaimFormat::SingleString,
                    ["a"],
                    true,
                )])
            })
            .unwrap_err(),
        AuthorizerConfig::for_gate(Gate::Alb, p, [""; 0])
            .and_then(|c| {
                c.with_claims([ClaimRule::new(
                    "exp",
                    ClaimFormat::SingleString,
                    ["1"],
                    true,
                )])
            })
            .unwrap_err(),
        AuthorizerConfig::for_gate(Gate::RestApi, p, [AUDIENCE])
            .and_then(|c| {
                c.with_claims([ClaimRule::new(
                    "roles",
                    ClaimFormat::StringArray,
                    ["a"],
                    true,
                )])
            })
            .unwrap_err(),
        AuthorizerConfig::for_gate(Gate::RestApi, p, [AUDIENCE])
            .and_then(|c| {
                c.with_claims([ClaimRule::new(
                    "scope",
                    ClaimFormat::SingleString,
                    ["a"],
                    true,
                )])
            })
            .unwrap_err(),
        AuthorizerConfig::for_gate(Gate::Alb, p, [""; 0])
            .and_then(|c| {
                c.with_claims([ClaimRule::new(
                    "scope",
                    ClaimFormat::SpaceSeparated,
                    ["a b"],
                    true,
                )])
            })
            .unwrap_err(),
        AuthorizerConfig::for_gate(Gate::Alb, p, [""; 0])
            .and_then(|c| {
                c.with_claims([ClaimRule::new(
                    "tenant",
                    ClaimFormat::SingleString,
                    [""; 0],
                    true,
                )])
            })
            .unwrap_err(),
        AuthorizerConfig::for_gate(Gate::Alb, p, [""; 0])
            .and_then(|c| {
                c.with_claims((0..11).map(|i| {
                    ClaimRule::new(format!("c{i}"), ClaimFormat::SingleString, ["v"], true)
                }))
            })
            .unwrap_err(),
        AuthorizerConfig::for_gate(
            Gate::RestApi,
            "https://idp.example.com/?tenant=1",
            [AUDIENCE],
        )
        .unwrap_err(),
        AuthorizerConfig::for_gate(Gate::RestApi, p, [""; 0]).unwrap_err(),
        AuthorizerConfig::for_gate(Gate::RestApi, p, [AUDIENCE])
            .and_then(|c| c.with_identity_source(IdentitySource::Query("t".into())))
            .unwrap_err(),
    ];
    let text: Vec<String> = refusals.iter().map(ToString::to_string).collect();
    insta::assert_snapshot!("settings_refused", text.join("\n"));
}
