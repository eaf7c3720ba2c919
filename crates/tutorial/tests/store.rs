//! The profile-store contract, against a real SQLite file: versions, preconditions, survival across a
//! restart, and concurrent conditional writes with exactly one winner per version.

mod runtimes;

use std::collections::BTreeMap;
use std::sync::Arc;

use portcullis_tutorial::{Precondition, ProfileStore, SqliteStore, StoreError};
use runtimes::Scratch;
use serde_json::{Map, Value, json};

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => panic!("an object"),
    }
}

/// The contract every store passes.
async fn contract(store: &dyn ProfileStore) {
    assert_eq!(store.get("alice").await.expect("get"), None);
    let conflict = store
        .put("alice", object(json!({"a": 1})), Precondition::Version(1))
        .await
        .expect_err("the precondition must fail");
    assert!(
        matches!(conflict, StoreError::Conflict { current: None }),
        "{conflict:?}"
    );
    let conflict = store
        .put("alice", object(json!({"a": 1})), Precondition::Exists)
        .await
        .expect_err("the precondition must fail");
    assert!(matches!(conflict, StoreError::Conflict { current: None }));

    let first = store
        .put("alice", object(json!({"a": 1})), Precondition::None)
        .await
        .expect("put");
    assert_eq!(first.version, 1);
    let second = store
        .put("alice", object(json!({"a": 2})), Precondition::Version(1))
        .await
        .expect("put");
    assert_eq!(second.version, 2);
    let stale = store
        .put("alice", object(json!({"a": 3})), Precondition::Version(1))
        .await
        .expect_err("the precondition must fail");
    assert!(
        matches!(stale, StoreError::Conflict { current: Some(2) }),
        "{stale:?}"
    );
    let current = store.get("alice").await.expect("get").expect("profile");
    assert_eq!(
        (current.version, current.body),
        (2, object(json!({"a": 2}))),
        "a refused write changes nothing"
    );
    assert_eq!(
        store
            .put("alice", object(json!({"a": 4})), Precondition::Exists)
            .await
            .expect("put")
            .version,
        3
    );
    assert_eq!(
        store.get("bob").await.expect("get"),
        None,
        "profiles are per subject"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_keeps_the_contract_and_survives_a_restart() {
    let scratch = Scratch::new("store");
    let path = scratch.0.join("nested/profiles.db");
    {
        let store = SqliteStore::open(&path).expect("open");
        contract(&store).await;
    }
    let reopened = SqliteStore::open(&path).expect("reopen");
    let profile = reopened
        .get("alice")
        .await
        .expect("get")
        .expect("still there");
    assert_eq!(
        (profile.version, profile.body),
        (3, object(json!({"a": 4})))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_conditional_writes_have_one_winner_per_version() {
    let scratch = Scratch::new("race");
    race(Arc::new(
        SqliteStore::open(&scratch.0.join("profiles.db")).expect("open"),
    ))
    .await;
}

/// 20 clients × 10 conditional writes on one profile: one winner per version, no lost or torn write.
async fn race(store: Arc<dyn ProfileStore>) {
    store
        .put(
            "shared",
            object(json!({"writer": "seed"})),
            Precondition::None,
        )
        .await
        .expect("seed");
    // 20 clients, 10 attempts each (200 POSTs): read the version, write with If-Match on it.
    let mut clients = Vec::new();
    for client in 0..20 {
        let store = store.clone();
        clients.push(tokio::spawn(async move {
            let mut won = Vec::new();
            for attempt in 0..10 {
                let seen = store
                    .get("shared")
                    .await
                    .expect("get")
                    .expect("profile")
                    .version;
                let body = object(json!({"writer": client, "attempt": attempt, "based_on": seen}));
                match store.put("shared", body, Precondition::Version(seen)).await {
                    Ok(stored) => won.push((stored.version, client, attempt)),
                    Err(StoreError::Conflict { .. }) => {}
                    Err(other) => panic!("store failed: {other}"),
                }
            }
            won
        }));
    }
    let mut winners: BTreeMap<u64, (i32, i32)> = BTreeMap::new();
    for client in clients {
        for (version, who, attempt) in client.await.expect("client") {
            assert!(
                winners.insert(version, (who, attempt)).is_none(),
                "two winners for version {version}"
            );
        }
    }
    assert!(
        winners.len() < 200,
        "the writers interleaved, so some conditional writes must have been refused"
    );
    // Every version from 2 to the last has exactly one winner: no lost or duplicated update.
    let last = store.get("shared").await.expect("get").expect("profile");
    let versions: Vec<u64> = winners.keys().copied().collect();
    assert_eq!(versions, (2..=last.version).collect::<Vec<_>>());
    // The stored body is the last winner's whole write, not a mix (no torn write).
    let (who, attempt) = winners[&last.version];
    assert_eq!(
        last.body,
        object(json!({"writer": who, "attempt": attempt, "based_on": last.version - 1}))
    );
}

/// A DynamoDB store on moto's server (127.0.0.1), with its table created.
async fn dynamo(
    moto: &portcullis_testkit::external::Running,
    table: &str,
) -> portcullis_tutorial::dynamo::DynamoStore {
    let credentials = portcullis_tutorial::dynamo::Credentials {
        access_key_id: "test".into(),
        secret_access_key: "test".into(),
        session_token: None,
    };
    let store = portcullis_tutorial::dynamo::DynamoStore::new(
        table,
        "us-east-1",
        Some(moto.url()),
        credentials,
    )
    .expect("store");
    store.ensure_table().await.expect("table");
    store
        .ensure_table()
        .await
        .expect("creating the table again is a no-op");
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_store_keeps_the_contract() {
    let moto = portcullis_testkit::external::start_moto().expect("moto");
    let store = dynamo(&moto, "profiles").await;
    contract(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_conditional_writes_have_one_winner_per_version() {
    // moto's DynamoDB takes no lock (moto/dynamodb has none): two UpdateItems arriving at once can
    // both pass their condition, which AWS's conditional writes never do. So moto gets one request
    // at a time here, while the twenty writers still interleave their reads and conditional
    // writes: what is tested is that the store sends the condition and maps its refusal to a
    // conflict. (The SQLite race above runs truly concurrently.)
    let moto = portcullis_testkit::external::start_moto().expect("moto");
    let store: Arc<dyn ProfileStore> = Arc::new(OneAtATime {
        store: dynamo(&moto, "race").await,
        turn: tokio::sync::Mutex::new(()),
    });
    race(store).await;
}

/// A store that lets one call at a time through to `store`.
struct OneAtATime<S> {
    store: S,
    turn: tokio::sync::Mutex<()>,
}

impl<S: ProfileStore> ProfileStore for OneAtATime<S> {
    fn get<'a>(
        &'a self,
        sub: &'a str,
    ) -> portcullis_tutorial::store::StoreFuture<'a, Option<portcullis_tutorial::StoredProfile>>
    {
        Box::pin(async move {
            let _turn = self.turn.lock().await;
            self.store.get(sub).await
        })
    }

    fn put<'a>(
        &'a self,
        sub: &'a str,
        body: Map<String, Value>,
        precondition: Precondition,
    ) -> portcullis_tutorial::store::StoreFuture<'a, portcullis_tutorial::StoredProfile> {
        Box::pin(async move {
            let _turn = self.turn.lock().await;
            self.store.put(sub, body, precondition).await
        })
    }
}

/// A stand-in DynamoDB on 127.0.0.1 that answers each request with the next of `answers`
/// (status, body) and records the `X-Amz-Target` and signature header of each.
async fn scripted_dynamodb(
    answers: Vec<(u16, &'static str)>,
) -> (String, Arc<std::sync::Mutex<Vec<(String, String)>>>) {
    use axum::http::{HeaderMap, StatusCode};
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let answers = Arc::new(std::sync::Mutex::new(std::collections::VecDeque::from(
        answers,
    )));
    let record = seen.clone();
    let app = axum::Router::new().fallback(move |headers: HeaderMap| {
        let record = record.clone();
        let answers = answers.clone();
        async move {
            let header = |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned()
            };
            record
                .lock()
                .expect("lock")
                .push((header("x-amz-target"), header("authorization")));
            let (status, body) = answers
                .lock()
                .expect("lock")
                .pop_front()
                .unwrap_or((500, "{}"));
            (
                StatusCode::from_u16(status).expect("status"),
                [("content-type", "application/x-amz-json-1.0")],
                body,
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, seen)
}

fn store_at(url: &str) -> portcullis_tutorial::dynamo::DynamoStore {
    portcullis_tutorial::dynamo::DynamoStore::new(
        "profiles",
        "eu-west-1",
        Some(url),
        portcullis_tutorial::dynamo::Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "secret".into(),
            session_token: Some("token".into()),
        },
    )
    .expect("store")
}

const THROTTLED: (u16, &str) = (
    400,
    r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate exceeded"}"#,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_throttling_is_retried_with_a_bound_and_every_request_is_signed() {
    let item = r#"{"Item":{"sub":{"S":"u"},"body":{"S":"{\"a\":1}"},"version":{"N":"3"}}}"#;
    let (url, seen) = scripted_dynamodb(vec![THROTTLED, THROTTLED, (200, item)]).await;
    let store = store_at(&url);
    let found = store.get("u").await.expect("the third attempt answers");
    assert_eq!(found.map(|p| p.version), Some(3));
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 3);
    for (target, authorization) in &seen {
        assert_eq!(target, "DynamoDB_20120810.GetItem");
        assert!(
            authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
                && authorization.contains("/eu-west-1/dynamodb/aws4_request")
                && authorization.contains(
                    "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target"
                ),
            "{authorization}"
        );
    }

    // Throttled on every attempt: a bounded number of tries, then the error names it.
    let (url, seen) = scripted_dynamodb(vec![THROTTLED; 10]).await;
    let error = store_at(&url).get("u").await.expect_err("gives up");
    assert!(error.to_string().contains("ThrottlingException"), "{error}");
    assert_eq!(
        seen.lock().expect("lock").len(),
        4,
        "four attempts, no more"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_conditional_write_is_a_conflict_and_is_not_retried() {
    let failed = (
        400,
        r#"{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"The conditional request failed"}"#,
    );
    let current = r#"{"Item":{"sub":{"S":"u"},"body":{"S":"{}"},"version":{"N":"7"}}}"#;
    let (url, seen) = scripted_dynamodb(vec![failed, (200, current)]).await;
    let outcome = store_at(&url)
        .put("u", object(json!({"a": 1})), Precondition::Version(6))
        .await;
    assert!(
        matches!(outcome, Err(StoreError::Conflict { current: Some(7) })),
        "{outcome:?}"
    );
    let targets: Vec<String> = seen
        .lock()
        .expect("lock")
        .iter()
        .map(|(t, _)| t.clone())
        .collect();
    assert_eq!(
        targets,
        ["DynamoDB_20120810.UpdateItem", "DynamoDB_20120810.GetItem"]
    );
}
