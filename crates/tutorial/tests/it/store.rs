//! The profile-store contract, against a real SQLite file and moto's DynamoDB: versions,
//! preconditions, survival across a restart, concurrent conditional writes with exactly one winner
//! per version, profiles kept per issuer and subject, and the migration of stores an older release
//! wrote (`fixtures/`, keyed by subject alone).

use crate::runtimes;

use std::collections::BTreeMap;
use std::sync::Arc;

use portcullis_tutorial::{Precondition, ProfileKey, ProfileStore, SqliteStore, StoreError};
use runtimes::Scratch;
use serde_json::{Map, Value, json};

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => panic!("an object"),
    }
}

/// The issuer the fixtures' profiles belong to, and another one.
const LEGACY: &str = "https://issuer-a.example.com/";
const OTHER: &str = "https://issuer-b.example.com/";

fn key(issuer: &str, subject: &str) -> ProfileKey {
    ProfileKey::new(issuer, subject)
}

/// The contract every store passes.
async fn contract(store: &dyn ProfileStore) {
    let alice = &key(LEGACY, "alice");
    assert_eq!(store.get(alice).await.expect("get"), None);
    let conflict = store
        .put(alice, object(json!({"a": 1})), Precondition::Version(1))
        .await
        .expect_err("the precondition must fail");
    assert!(
        matches!(conflict, StoreError::Conflict { current: None }),
        "{conflict:?}"
    );
    let conflict = store
        .put(alice, object(json!({"a": 1})), Precondition::Exists)
        .await
        .expect_err("the precondition must fail");
    assert!(matches!(conflict, StoreError::Conflict { current: None }));

    let first = store
        .put(alice, object(json!({"a": 1})), Precondition::None)
        .await
        .expect("put");
    assert_eq!(first.version, 1);
    let second = store
        .put(alice, object(json!({"a": 2})), Precondition::Version(1))
        .await
        .expect("put");
    assert_eq!(second.version, 2);
    let stale = store
        .put(alice, object(json!({"a": 3})), Precondition::Version(1))
        .await
        .expect_err("the precondition must fail");
    assert!(
        matches!(stale, StoreError::Conflict { current: Some(2) }),
        "{stale:?}"
    );
    let current = store.get(alice).await.expect("get").expect("profile");
    assert_eq!(
        (current.version, current.body),
        (2, object(json!({"a": 2}))),
        "a refused write changes nothing"
    );
    assert_eq!(
        store
            .put(alice, object(json!({"a": 4})), Precondition::Exists)
            .await
            .expect("put")
            .version,
        3
    );
    assert_eq!(
        store.get(&key(LEGACY, "bob")).await.expect("get"),
        None,
        "profiles are per subject"
    );

    // The same subject at another issuer is another user, with a profile of their own.
    let other_alice = &key(OTHER, "alice");
    assert_eq!(
        store.get(other_alice).await.expect("get"),
        None,
        "profiles are per issuer"
    );
    let theirs = store
        .put(other_alice, object(json!({"b": 1})), Precondition::None)
        .await
        .expect("put");
    assert_eq!(theirs.version, 1);
    let mine = store.get(alice).await.expect("get").expect("profile");
    assert_eq!(
        (mine.version, mine.body),
        (3, object(json!({"a": 4}))),
        "another issuer's user does not touch it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_keeps_the_contract_and_survives_a_restart() {
    let scratch = Scratch::new("store");
    let path = scratch.0.join("nested/profiles.db");
    {
        let store = SqliteStore::open(&path, None).expect("open");
        contract(&store).await;
    }
    let reopened = SqliteStore::open(&path, None).expect("reopen");
    let profile = reopened
        .get(&key(LEGACY, "alice"))
        .await
        .expect("get")
        .expect("still there");
    assert_eq!(
        (profile.version, profile.body),
        (3, object(json!({"a": 4})))
    );
}

/// A profile read once is served again without reading the file while nothing was committed, and
/// every commit is seen by the next read: this store's own write, another connection's, and
/// another process's (Python's sqlite3, another build of SQLite, writing the same file).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_reads_are_remembered_until_any_process_commits() {
    let scratch = Scratch::new("read-cache");
    let path = scratch.0.join("profiles.db");
    let store = SqliteStore::open(&path, None).expect("open");
    let alice = key(LEGACY, "alice");
    let read = |expected: (u64, Value), reads: u64| {
        let (store, alice) = (&store, &alice);
        async move {
            let profile = store.get(alice).await.expect("get").expect("a profile");
            assert_eq!((profile.version, Value::Object(profile.body)), expected);
            assert_eq!(store.file_reads(), reads, "reads of the file so far");
        }
    };
    assert_eq!(store.get(&alice).await.expect("get"), None);
    assert_eq!(store.get(&alice).await.expect("get"), None);
    assert_eq!(store.file_reads(), 1, "no profile is remembered too");

    store
        .put(&alice, object(json!({"a": 1})), Precondition::None)
        .await
        .expect("write");
    read((1, json!({"a": 1})), 2).await;
    read((1, json!({"a": 1})), 2).await;

    let other = rusqlite::Connection::open(&path).expect("a second connection");
    other
        .execute(
            "UPDATE profiles SET body = '{\"a\":2}', version = 2 WHERE sub = 'alice'",
            [],
        )
        .expect("another connection commits");
    read((2, json!({"a": 2})), 3).await;
    read((2, json!({"a": 2})), 3).await;

    let script = "import sqlite3, sys\n\
        db = sqlite3.connect(sys.argv[1])\n\
        db.execute(\"UPDATE profiles SET body = '{\\\"a\\\":3}', version = 3 WHERE sub = 'alice'\")\n\
        db.commit()\n\
        assert db.execute('PRAGMA journal_mode').fetchone()[0] == 'wal'\n";
    let python = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&path)
        .output()
        .expect("python3 runs");
    assert!(
        python.status.success(),
        "python3 wrote: {}",
        String::from_utf8_lossy(&python.stderr)
    );
    read((3, json!({"a": 3})), 4).await;
    read((3, json!({"a": 3})), 4).await;

    other
        .execute("DELETE FROM profiles WHERE sub = 'alice'", [])
        .expect("another connection deletes");
    assert_eq!(store.get(&alice).await.expect("get"), None);
    assert_eq!(store.file_reads(), 5);
}

/// SQLite follows a symbolic link to the database and names its WAL index after the file it found:
/// the cache reads that index, not one beside the link (which, left over from another file, would
/// never change).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_opened_through_a_symbolic_link_reads_the_real_files_wal_index() {
    let scratch = Scratch::new("read-cache-link");
    let real = scratch.0.join("real/profiles.db");
    std::fs::create_dir_all(real.parent().expect("parent")).expect("dir");
    drop(SqliteStore::open(&real, None).expect("create"));
    let link = scratch.0.join("link.db");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");
    // A stale index beside the link, copied from a live one: a cache reading it would never see
    // a commit.
    let live = SqliteStore::open(&real, None).expect("hold the real file open");
    std::fs::copy(
        scratch.0.join("real/profiles.db-shm"),
        scratch.0.join("link.db-shm"),
    )
    .expect("a stale index beside the link");
    let store = SqliteStore::open(&link, None).expect("open through the link");
    let alice = key(LEGACY, "alice");
    store
        .put(&alice, object(json!({"a": 1})), Precondition::None)
        .await
        .expect("write");
    for _ in 0..3 {
        assert_eq!(
            store.get(&alice).await.expect("get").map(|p| p.version),
            Some(1)
        );
    }
    assert_eq!(store.file_reads(), 1, "remembered: the real index was read");
    live.put(&alice, object(json!({"a": 2})), Precondition::Version(1))
        .await
        .expect("another store writes");
    assert_eq!(
        store.get(&alice).await.expect("get").map(|p| p.version),
        Some(2)
    );
}

/// Reads do not queue behind writes: the file is in WAL mode, and a read sees the last committed
/// profile at once while another connection holds SQLite's write lock with an uncommitted change;
/// concurrent reads take read connections from a bounded pool, and a write waits for the lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_reads_go_beside_a_held_write_lock() {
    let scratch = Scratch::new("readers");
    let path = scratch.0.join("profiles.db");
    let store = Arc::new(SqliteStore::open(&path, None).expect("open"));
    let alice = key(LEGACY, "alice");
    store
        .put(&alice, object(json!({"a": 1})), Precondition::None)
        .await
        .expect("first write");

    let other = rusqlite::Connection::open(&path).expect("a second connection");
    let journal: String = other
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("journal mode");
    assert_eq!(journal, "wal");
    other
        .execute_batch("BEGIN IMMEDIATE; UPDATE profiles SET version = 99, body = '{}';")
        .expect("hold the write lock with an uncommitted change");

    let reads = (0..32).map(|_| {
        let (store, alice) = (store.clone(), alice.clone());
        tokio::spawn(async move { store.get(&alice).await })
    });
    let within = std::time::Duration::from_secs(2);
    for read in reads {
        let profile = tokio::time::timeout(within, read)
            .await
            .expect("a read does not wait for the writer")
            .expect("task")
            .expect("get")
            .expect("the committed profile");
        assert_eq!(
            (profile.version, profile.body),
            (1, object(json!({"a": 1})))
        );
    }
    let idle = store.idle_readers();
    assert!(
        (1..=portcullis_tutorial::sqlite::IDLE_READERS).contains(&idle),
        "{idle} idle readers"
    );

    let write = {
        let (store, alice) = (store.clone(), alice.clone());
        tokio::spawn(async move {
            store
                .put(&alice, object(json!({"a": 2})), Precondition::Version(1))
                .await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(
        !write.is_finished(),
        "a write waits for SQLite's write lock"
    );
    other.execute_batch("ROLLBACK").expect("release the lock");
    let written = write.await.expect("task").expect("the write goes ahead");
    assert_eq!(written.version, 2);
}

/// Reads and writes use separate connections, so an in-memory database (one per connection)
/// would lose every write for the readers: refused by name.
#[test]
fn an_in_memory_sqlite_store_is_refused() {
    let refused = SqliteStore::open(std::path::Path::new(":memory:"), None)
        .expect_err("one database per connection");
    assert!(
        refused.to_string().contains(":memory:") && refused.to_string().contains("name a file"),
        "{refused}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_conditional_writes_have_one_winner_per_version() {
    let scratch = Scratch::new("race");
    race(Arc::new(
        SqliteStore::open(&scratch.0.join("profiles.db"), None).expect("open"),
    ))
    .await;
}

/// 20 clients × 10 conditional writes on one profile: one winner per version, no lost or torn write.
async fn race(store: Arc<dyn ProfileStore>) {
    let shared = key(LEGACY, "shared");
    store
        .put(
            &shared,
            object(json!({"writer": "seed"})),
            Precondition::None,
        )
        .await
        .expect("seed");
    // 20 clients, 10 attempts each (200 POSTs): read the version, write with If-Match on it.
    let mut clients = Vec::new();
    for client in 0..20 {
        let store = store.clone();
        let shared = shared.clone();
        clients.push(tokio::spawn(async move {
            let mut won = Vec::new();
            for attempt in 0..10 {
                let seen = store
                    .get(&shared)
                    .await
                    .expect("get")
                    .expect("profile")
                    .version;
                let body = object(json!({"writer": client, "attempt": attempt, "based_on": seen}));
                match store.put(&shared, body, Precondition::Version(seen)).await {
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
    let last = store.get(&shared).await.expect("get").expect("profile");
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

/// The DynamoDB actions the deployed function's role allows (`portcullis deploy`'s plan for the
/// Lambda runtime), without the `dynamodb:` prefix.
fn deployed_role_actions() -> std::collections::BTreeSet<String> {
    use portcullis_deploy::{Arch, Issuer, Runtime, Target, plan};
    let routes = portcullis_config::load(&portcullis_config::Sources::text(
        "[auth]\nprovider = \"oidc\"\nissuer = \"https://login.example.com\"\naudience = \"api\"\n",
    ))
    .expect("settings")
    .routes;
    let target = Target {
        stage: "dev".into(),
        runtime: Runtime::Lambda,
        arch: Arch::Arm64,
        domain_suffix: "x7k2".into(),
        function: Default::default(),
        cors: None,
        served: &portcullis_tutorial::API_ROUTES,
    };
    let plan = plan(Issuer::TutorialCognitoPool, &routes, &target);
    let role = plan
        .function
        .expect("the Lambda runtime has a function")
        .role;
    role.statements
        .iter()
        .flat_map(|statement| statement.actions.iter())
        .filter_map(|action| action.strip_prefix("dynamodb:"))
        .map(str::to_owned)
        .collect()
}

/// The IAM actions a DynamoDB JSON-protocol call needs, as AWS documents them: `dynamodb:<Operation>`,
/// and for a transaction the actions of its items (Put, Update, Delete and Get are governed by
/// `PutItem`, `UpdateItem`, `DeleteItem` and `GetItem`; ConditionCheck by `ConditionCheckItem`).
fn actions_needed(operation: &str, input: &Value) -> Vec<String> {
    match operation {
        "TransactWriteItems" | "TransactGetItems" => input["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|item| item.as_object()?.keys().next().cloned())
            .map(|kind| match kind.as_str() {
                "ConditionCheck" => "ConditionCheckItem".to_owned(),
                other => format!("{other}Item"),
            })
            .collect(),
        other => vec![other.to_owned()],
    }
}

/// moto's DynamoDB as the deployed function reaches it: moto checks no permission, so this proxy
/// answers a call the role does not allow as AWS does (400 `AccessDeniedException`) and forwards
/// the rest. Returns its URL and the calls it refused.
async fn behind_the_deployed_role(
    moto: &portcullis_testkit::external::Running,
) -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    use axum::http::{HeaderMap, StatusCode};
    let allowed = Arc::new(deployed_role_actions());
    let refused = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (log, upstream) = (refused.clone(), moto.url().to_owned());
    let client = reqwest::Client::new();
    let app = axum::Router::new().fallback(move |headers: HeaderMap, body: String| {
        let (allowed, log, upstream, client) =
            (allowed.clone(), log.clone(), upstream.clone(), client.clone());
        async move {
            let target = headers
                .get("x-amz-target")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let operation = target.rsplit('.').next().unwrap_or_default();
            let input: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            if let Some(missing) = actions_needed(operation, &input)
                .into_iter()
                .find(|action| !allowed.contains(action))
            {
                log.lock().expect("lock").push(format!("{operation}: dynamodb:{missing}"));
                let answer = json!({
                    "__type": "com.amazon.coral.service#AccessDeniedException",
                    "message": format!("User: arn:aws:sts::123456789012:assumed-role/portcullis-dev-profile-role/fn is not authorized to perform: dynamodb:{missing} on resource: arn:aws:dynamodb:us-east-1:123456789012:table/profiles because no identity-based policy allows the dynamodb:{missing} action"),
                });
                return (StatusCode::BAD_REQUEST, answer.to_string());
            }
            let mut forward = client.post(&upstream).body(body);
            for (name, value) in &headers {
                if name != "host" && name != "content-length" {
                    forward = forward.header(name, value);
                }
            }
            let answer = forward.send().await.expect("moto answers");
            let status = StatusCode::from_u16(answer.status().as_u16()).expect("status");
            (status, answer.text().await.expect("moto's body"))
        }
    });
    (serve_on_loopback(app).await, refused)
}

/// A DynamoDB store reaching moto through [`behind_the_deployed_role`], on a table made beforehand.
fn deployed_store(url: &str, table: &str) -> portcullis_tutorial::dynamo::DynamoStore {
    portcullis_tutorial::dynamo::DynamoStore::new(
        table,
        "us-east-1",
        Some(url),
        portcullis_tutorial::dynamo::Credentials {
            access_key_id: "test".into(),
            secret_access_key: "test".into(),
            session_token: None,
        },
    )
    .expect("store")
}

/// The contract, with every call made as the deployed function's role allows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_store_keeps_the_contract() {
    let moto = portcullis_testkit::external::start_moto().expect("moto");
    dynamo(&moto, "profiles").await;
    let (url, refused) = behind_the_deployed_role(&moto).await;
    contract(&deployed_store(&url, "profiles")).await;
    assert_eq!(*refused.lock().expect("lock"), Vec::<String>::new());
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
        key: &'a ProfileKey,
    ) -> portcullis_tutorial::store::StoreFuture<'a, Option<portcullis_tutorial::StoredProfile>>
    {
        Box::pin(async move {
            let _turn = self.turn.lock().await;
            self.store.get(key).await
        })
    }

    fn put<'a>(
        &'a self,
        key: &'a ProfileKey,
        body: Map<String, Value>,
        precondition: Precondition,
    ) -> portcullis_tutorial::store::StoreFuture<'a, portcullis_tutorial::StoredProfile> {
        Box::pin(async move {
            let _turn = self.turn.lock().await;
            self.store.put(key, body, precondition).await
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
    (serve_on_loopback(app).await, seen)
}

/// Serves `app` on an ephemeral port of 127.0.0.1; returns its URL.
async fn serve_on_loopback(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
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
    let item = r#"{"Item":{"sub":{"S":"[\"https://issuer-a.example.com/\",\"u\"]"},"issuer":{"S":"https://issuer-a.example.com/"},"subject":{"S":"u"},"body":{"S":"{\"a\":1}"},"version":{"N":"3"}}}"#;
    let (url, seen) = scripted_dynamodb(vec![THROTTLED, THROTTLED, (200, item)]).await;
    let store = store_at(&url);
    let found = store
        .get(&key(LEGACY, "u"))
        .await
        .expect("the third attempt answers");
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
    let error = store_at(&url)
        .get(&key(LEGACY, "u"))
        .await
        .expect_err("gives up");
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
    let current = r#"{"Item":{"sub":{"S":"[\"https://issuer-a.example.com/\",\"u\"]"},"issuer":{"S":"https://issuer-a.example.com/"},"subject":{"S":"u"},"body":{"S":"{}"},"version":{"N":"7"}}}"#;
    let (url, seen) = scripted_dynamodb(vec![failed, (200, current)]).await;
    let outcome = store_at(&url)
        .put(
            &key(LEGACY, "u"),
            object(json!({"a": 1})),
            Precondition::Version(6),
        )
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

/// The fixtures' profiles, as the release before wrote them: subject, version, body.
fn fixture_profiles() -> Vec<(&'static str, u64, Map<String, Value>)> {
    vec![
        ("alice", 3, object(json!({"name": "Alice", "edit": 3}))),
        ("bob", 1, object(json!({"name": "Bob", "tags": ["a", "b"]}))),
        (
            "ünïcode/ß 1",
            1,
            object(json!({"note": "spaces and non-ASCII in sub"})),
        ),
    ]
}

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sqlite_file_keyed_by_subject_keeps_every_profile_under_the_legacy_issuer() {
    let scratch = Scratch::new("migrate");
    let path = scratch.0.join("profiles.db");
    std::fs::copy(fixture("profiles-v1.db"), &path).expect("copy the fixture");

    // Without the issuer the profiles belong to, the file is refused, and left as it was.
    let refused = SqliteStore::open(&path, None).expect_err("whose are they?");
    assert!(
        refused
            .to_string()
            .contains("3 profiles are keyed by subject alone"),
        "{refused}"
    );

    let store = SqliteStore::open(&path, Some(LEGACY)).expect("open and migrate");
    for (subject, version, body) in fixture_profiles() {
        let found = store.get(&key(LEGACY, subject)).await.expect("get");
        assert_eq!(
            found.map(|p| (p.version, p.body)),
            Some((version, body)),
            "{subject}"
        );
        assert_eq!(
            store.get(&key(OTHER, subject)).await.expect("get"),
            None,
            "another issuer's {subject} is someone else"
        );
    }
    // Versions carry on: a client holding the old ETag writes on it.
    let next = store
        .put(
            &key(LEGACY, "alice"),
            object(json!({"edit": 4})),
            Precondition::Version(3),
        )
        .await
        .expect("put");
    assert_eq!(next.version, 4);
    drop(store);

    // Migrated once: reopening (with or without the legacy issuer) changes nothing.
    let reopened = SqliteStore::open(&path, None).expect("reopen");
    assert_eq!(
        reopened
            .get(&key(LEGACY, "alice"))
            .await
            .expect("get")
            .map(|p| p.version),
        Some(4)
    );
    assert_eq!(
        reopened
            .get(&key(LEGACY, "bob"))
            .await
            .expect("get")
            .map(|p| p.version),
        Some(1)
    );
}

/// Sends one DynamoDB JSON-protocol call to moto (which checks no signature).
async fn moto_call(
    moto: &portcullis_testkit::external::Running,
    target: &str,
    input: Value,
) -> Value {
    let answer = reqwest::Client::new()
        .post(moto.url())
        .header("x-amz-target", format!("DynamoDB_20120810.{target}"))
        .header("content-type", "application/x-amz-json-1.0")
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=test/20261202/us-east-1/dynamodb/aws4_request, \
             SignedHeaders=host, Signature=0",
        )
        .body(input.to_string())
        .send()
        .await
        .expect("moto answers");
    assert!(
        answer.status().is_success(),
        "{target}: {}",
        answer.status()
    );
    serde_json::from_str(&answer.text().await.expect("body")).expect("JSON")
}

/// Every item of `table`, sorted by key.
async fn scan(moto: &portcullis_testkit::external::Running, table: &str) -> Vec<Value> {
    let answer = moto_call(moto, "Scan", json!({"TableName": table})).await;
    let mut items = answer["Items"].as_array().cloned().unwrap_or_default();
    items.sort_by_key(|item| item["sub"]["S"].as_str().unwrap_or_default().to_owned());
    items
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dynamodb_table_keyed_by_subject_keeps_every_profile_under_the_legacy_issuer() {
    let moto = portcullis_testkit::external::start_moto().expect("moto");
    dynamo(&moto, "profiles").await;
    // The deployed function adopts legacy items: its role must allow the transaction's items.
    let (url, refused) = behind_the_deployed_role(&moto).await;
    let plain = deployed_store(&url, "profiles");
    let items: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(fixture("profiles-v1.dynamodb.json")).expect("fixture"),
    )
    .expect("fixture JSON");
    for item in &items {
        moto_call(
            &moto,
            "PutItem",
            json!({"TableName": "profiles", "Item": item}),
        )
        .await;
    }

    // A store that names no legacy issuer never reads (nor moves) an item keyed by subject.
    assert_eq!(plain.get(&key(LEGACY, "alice")).await.expect("get"), None);
    let store = plain.clone().with_legacy_issuer(LEGACY);
    // Another issuer's alice is someone else: nothing adopted.
    assert_eq!(store.get(&key(OTHER, "alice")).await.expect("get"), None);
    assert_eq!(scan(&moto, "profiles").await, items, "nothing moved yet");

    // Read first: adopted with its version.
    let profiles = fixture_profiles();
    let alice = store
        .get(&key(LEGACY, "alice"))
        .await
        .expect("get")
        .expect("adopted");
    assert_eq!((alice.version, alice.body), (3, profiles[0].2.clone()));
    // Written first, on the old ETag: adopted, then written.
    let bob = store
        .put(
            &key(LEGACY, "bob"),
            object(json!({"name": "Robert"})),
            Precondition::Version(1),
        )
        .await
        .expect("put on the old version");
    assert_eq!(bob.version, 2);
    // Written first on a stale ETag: adopted, and the write refused with the current version.
    let stale = store
        .put(
            &key(LEGACY, "ünïcode/ß 1"),
            object(json!({"note": "lost?"})),
            Precondition::Version(5),
        )
        .await
        .expect_err("stale");
    assert!(
        matches!(stale, StoreError::Conflict { current: Some(1) }),
        "{stale:?}"
    );
    assert_eq!(
        store
            .get(&key(LEGACY, "ünïcode/ß 1"))
            .await
            .expect("get")
            .map(|p| (p.version, p.body)),
        Some((1, profiles[2].2.clone()))
    );

    // Every item is now keyed by issuer and subject; none is left keyed by subject.
    let after = scan(&moto, "profiles").await;
    assert_eq!(after.len(), 3, "{after:#?}");
    for item in &after {
        assert_eq!(item["issuer"]["S"], LEGACY, "{item}");
        let subject = item["subject"]["S"].as_str().expect("subject");
        assert_eq!(
            item["sub"]["S"],
            Value::from(vec![LEGACY, subject]).to_string()
        );
    }
    // And reading again finds them under their keys, as any store does.
    assert_eq!(
        plain
            .get(&key(LEGACY, "alice"))
            .await
            .expect("get")
            .map(|p| p.version),
        Some(3)
    );
    assert_eq!(*refused.lock().expect("lock"), Vec::<String>::new());
}

/// The profile service over the SQLite file at `path`, trusting `issuer` (and keeping profiles
/// for the issuers the settings name, unless `keeps` says otherwise), on 127.0.0.1.
async fn serve_profiles(
    issuer: &str,
    path: &std::path::Path,
    keeps: Option<portcullis_tutorial::ProfileIssuers>,
) -> String {
    let settings = runtimes::settings(issuer);
    let issuers =
        keeps.unwrap_or_else(|| portcullis_tutorial::ProfileIssuers::from_settings(&settings.auth));
    let store = Arc::new(SqliteStore::open(path, Some(issuers.legacy())).expect("store"));
    let authorizer = settings
        .auth
        .authorizer(portcullis_claims::VerifierOptions::default())
        .expect("authorizer");
    let routes = settings.routes.clone();
    let auth =
        portcullis_axum::AuthLayer::new(authorizer, settings.auth.mapping.clone(), move |m, p| {
            routes.scopes(m.as_str(), p).to_vec()
        });
    let app = portcullis_tutorial::app(
        portcullis_tutorial::Service::new(store, settings.server.body_limit, issuers),
        auth,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(portcullis_axum::serve::serve(
        listener,
        app,
        std::future::pending(),
    ));
    base
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_subject_at_two_issuers_is_two_users_with_two_profiles() {
    // One store, as after a provider switch: the service first trusts issuer A, then issuer B,
    // whose user "user-1" is not A's "user-1".
    let scratch = Scratch::new("two-issuers");
    let path = scratch.0.join("profiles.db");
    let jwks = || portcullis_testkit::jwks([portcullis_testkit::TestKey::rsa("dev-key").jwk()]);
    let a = portcullis_testkit::Issuer::start(jwks())
        .await
        .expect("issuer A");
    let b = portcullis_testkit::Issuer::start(jwks())
        .await
        .expect("issuer B");
    let (at_a, at_b) = (
        serve_profiles(a.url(), &path, None).await,
        serve_profiles(b.url(), &path, None).await,
    );
    let (token_a, token_b) = (
        runtimes::Tokens::mint(a.url()).access,
        runtimes::Tokens::mint(b.url()).access,
    );
    let client = reqwest::Client::new();
    let written = client
        .post(format!("{at_a}/user/profile"))
        .bearer_auth(&token_a)
        .header("content-type", "application/json")
        .body(r#"{"secret":"A's user-1 only"}"#)
        .send()
        .await
        .expect("POST");
    assert_eq!(written.status(), 200);
    let profile = |base: String, token: String| {
        let client = client.clone();
        async move {
            let answer = client
                .get(format!("{base}/user/profile"))
                .bearer_auth(token)
                .send()
                .await
                .expect("GET");
            assert_eq!(answer.status(), 200);
            let body: Value =
                serde_json::from_str(&answer.text().await.expect("body")).expect("JSON");
            body["profile"].clone()
        }
    };
    assert_eq!(
        profile(at_b.clone(), token_b).await,
        Value::Null,
        "B's user-1 must not read A's user-1's profile"
    );
    assert_eq!(
        profile(at_a, token_a).await,
        json!({"secret": "A's user-1 only"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_of_an_issuer_the_service_keeps_no_profiles_for_is_refused() {
    // The authorizer let the token through (as a gateway configured for another issuer would),
    // but profiles are kept only for OTHER: no profile is read or written under a guessed issuer.
    let scratch = Scratch::new("unkept-issuer");
    let issuer = portcullis_testkit::Issuer::start(portcullis_testkit::jwks([
        portcullis_testkit::TestKey::rsa("dev-key").jwk(),
    ]))
    .await
    .expect("issuer");
    let base = serve_profiles(
        issuer.url(),
        &scratch.0.join("profiles.db"),
        Some(portcullis_tutorial::ProfileIssuers::single(OTHER)),
    )
    .await;
    let token = runtimes::Tokens::mint(issuer.url()).access;
    let client = reqwest::Client::new();
    for request in [
        client.get(format!("{base}/user/profile")),
        client
            .post(format!("{base}/user/profile"))
            .header("content-type", "application/json")
            .body("{}"),
    ] {
        let answer = request.bearer_auth(&token).send().await.expect("answer");
        assert_eq!(answer.status(), 403);
        assert_eq!(
            answer.text().await.expect("body"),
            r#"{"message":"Forbidden"}"#
        );
    }
}
