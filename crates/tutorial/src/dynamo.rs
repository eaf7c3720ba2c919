//! Profiles in a DynamoDB table (feature `dynamodb`): item
//! `{sub: S (the key), issuer: S, subject: S, body: S (JSON), version: N}`, where the key is the
//! issuer and subject as a JSON array (`["https://issuer.example.com/","alice"]`), which no two
//! profiles share. Every write is one conditional `UpdateItem`, so the version check and the
//! write are atomic.
//!
//! The table's key attribute is still called `sub` (a table's key cannot change): releases before
//! profiles were keyed by issuer wrote `{sub: S (the subject), body, version}`. Such an item is
//! adopted the first time its user is read or written under the store's legacy issuer: one
//! transaction writes it under its new key (version kept) and deletes the old item, so nothing is
//! lost and no scan of the table is ever needed.
//!
//! The store speaks DynamoDB's JSON protocol itself (one SigV4-signed HTTPS `POST` per call, see
//! `sigv4.rs`) instead of linking the AWS SDK: the SDK's client, runtime and HTTP/2 stack were
//! a third of a Lambda package. Throttling and server errors are retried a bounded number of times.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

pub use crate::sigv4::Credentials;
use crate::store::{
    Precondition, ProfileKey, ProfileStore, StoreError, StoreFuture, StoredProfile,
};

/// DynamoDB's JSON protocol version (`X-Amz-Target: DynamoDB_20120810.GetItem`).
const TARGET_PREFIX: &str = "DynamoDB_20120810";
/// Attempts per call: the first and up to three retries after 50, 100 and 200 ms.
const ATTEMPTS: u32 = 4;
/// Errors DynamoDB documents as worth retrying ("Error handling with DynamoDB").
const RETRYABLE: [&str; 5] = [
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "LimitExceededException",
];

/// Where credentials come from.
enum CredentialSource {
    /// Fixed: the Lambda environment's, or a test's.
    Fixed(Credentials),
    /// aws-config's chain (profiles, SSO, web identity, ECS, instance roles). The chain itself
    /// does not cache, so what it last gave is kept until five minutes before it expires.
    #[cfg(feature = "aws-config")]
    Chain {
        provider: aws_credential_types::provider::SharedCredentialsProvider,
        cached: tokio::sync::Mutex<Option<(Credentials, Option<SystemTime>)>>,
    },
}

impl CredentialSource {
    async fn current(&self) -> Result<Credentials, StoreError> {
        match self {
            CredentialSource::Fixed(credentials) => Ok(credentials.clone()),
            #[cfg(feature = "aws-config")]
            CredentialSource::Chain { provider, cached } => {
                use aws_credential_types::provider::ProvideCredentials;
                let mut cached = cached.lock().await;
                let fresh = |expiry: &Option<SystemTime>| {
                    expiry.is_none_or(|at| {
                        at.duration_since(SystemTime::now())
                            .is_ok_and(|left| left > Duration::from_secs(300))
                    })
                };
                if let Some((credentials, expiry)) = cached.as_ref()
                    && fresh(expiry)
                {
                    return Ok(credentials.clone());
                }
                let found = provider.provide_credentials().await.map_err(|e| {
                    StoreError::Backend(format!("DynamoDB: no AWS credentials ({e})"))
                })?;
                let credentials = Credentials {
                    access_key_id: found.access_key_id().to_owned(),
                    secret_access_key: found.secret_access_key().to_owned(),
                    session_token: found.session_token().map(str::to_owned),
                };
                *cached = Some((credentials.clone(), found.expiry()));
                Ok(credentials)
            }
        }
    }
}

/// A DynamoDB table of profiles keyed by `sub`.
#[derive(Clone)]
pub struct DynamoStore {
    http: reqwest::Client,
    endpoint: reqwest::Url,
    /// The `host` header as signed (with the port when it is not the scheme's default).
    host: String,
    region: String,
    credentials: Arc<CredentialSource>,
    table: String,
    /// Whose the items keyed by subject alone are (see the module documentation).
    legacy_issuer: Option<String>,
}

impl std::fmt::Debug for DynamoStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoStore")
            .field("endpoint", &self.endpoint.as_str())
            .field("region", &self.region)
            .field("table", &self.table)
            .field("legacy_issuer", &self.legacy_issuer)
            .finish()
    }
}

/// The root certificates AWS service endpoints chain to: Amazon Trust Services' Amazon Root CA 1–4
/// and Starfield Services Root G2, which cross-signs them ("Amazon Trust Services" repository).
fn aws_roots() -> Vec<reqwest::Certificate> {
    let names: [&[u8]; 2] = [
        b"Amazon Root CA ",
        b"Starfield Services Root Certificate Authority - G2",
    ];
    webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .filter(|der| {
            names
                .iter()
                .any(|name| der.windows(name.len()).any(|window| window == *name))
        })
        .filter_map(|der| reqwest::Certificate::from_der(der).ok())
        .collect()
}

/// What a DynamoDB call can end with.
#[derive(Debug)]
enum CallError {
    /// DynamoDB refused: its error type (`ConditionalCheckFailedException`) and message.
    Service { kind: String, message: String },
    /// No answer, or not one DynamoDB sends.
    Transport(String),
}

impl DynamoStore {
    /// A store over `table` in `region`, at `endpoint_url` (default: the Region's DynamoDB
    /// endpoint), signing with `credentials`.
    pub fn new(
        table: &str,
        region: &str,
        endpoint_url: Option<&str>,
        credentials: Credentials,
    ) -> Result<DynamoStore, StoreError> {
        DynamoStore::with_source(
            table,
            region,
            endpoint_url,
            CredentialSource::Fixed(credentials),
        )
    }

    fn with_source(
        table: &str,
        region: &str,
        endpoint_url: Option<&str>,
        credentials: CredentialSource,
    ) -> Result<DynamoStore, StoreError> {
        let invalid = |why: String| StoreError::Backend(format!("DynamoDB store: {why}"));
        if region.is_empty()
            || !region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(invalid(format!(
                "region {region:?}: expected a Region name like us-east-1"
            )));
        }
        let default_endpoint = if region.starts_with("cn-") {
            format!("https://dynamodb.{region}.amazonaws.com.cn")
        } else {
            format!("https://dynamodb.{region}.amazonaws.com")
        };
        let text = endpoint_url.unwrap_or(&default_endpoint);
        let endpoint = reqwest::Url::parse(text)
            .ok()
            .filter(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.host_str().is_some()
                    && u.query().is_none()
                    && u.fragment().is_none()
                    && u.username().is_empty()
                    && u.password().is_none()
            })
            .ok_or_else(|| {
                invalid(format!(
                    "endpoint {text:?}: expected an http(s) URL without credentials, query or fragment"
                ))
            })?;
        let host = match (endpoint.host_str(), endpoint.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            (None, _) => return Err(invalid(format!("endpoint {text:?} has no host"))),
        };
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(3))
            .redirect(reqwest::redirect::Policy::none());
        // Which certificate authorities the store trusts. Reading the system's trust store (146
        // files here) was most of a Lambda cold start, so: AWS's own endpoint trusts only the
        // roots AWS's certificates chain to; a plain-http endpoint (a local emulator) needs none;
        // any other https endpoint the system's.
        if endpoint_url.is_none() {
            builder = builder.tls_certs_only(aws_roots());
        } else if endpoint.scheme() == "http" {
            builder = builder.tls_certs_only([]);
        }
        let http = builder.build().map_err(|e| invalid(e.to_string()))?;
        Ok(DynamoStore {
            http,
            endpoint,
            host,
            region: region.to_owned(),
            credentials: Arc::new(credentials),
            table: table.to_owned(),
            legacy_issuer: None,
        })
    }

    /// The store, adopting items an older release kept by subject alone as `issuer`'s profiles
    /// (the issuer the service trusted when they were written). Without it they are never read.
    pub fn with_legacy_issuer(mut self, issuer: impl Into<String>) -> DynamoStore {
        self.legacy_issuer = Some(issuer.into());
        self
    }

    /// A store from the environment, with optional region and endpoint overrides: with feature
    /// `aws-config` the whole credential chain and `AWS_REGION` or the profile's region; without it
    /// (Lambda packages) the variables Lambda sets, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_SESSION_TOKEN` and `AWS_REGION`.
    pub async fn from_env(
        table: &str,
        region: Option<&str>,
        endpoint_url: Option<&str>,
    ) -> Result<DynamoStore, StoreError> {
        #[cfg(feature = "aws-config")]
        {
            let mut loader = aws_config::from_env();
            if let Some(region) = region {
                loader = loader.region(aws_config::Region::new(region.to_owned()));
            }
            let config = loader.load().await;
            let region = config
                .region()
                .map(|r| r.as_ref().to_owned())
                .ok_or_else(|| {
                    StoreError::Backend(
                        "the DynamoDB store needs a Region: set store.region or AWS_REGION".into(),
                    )
                })?;
            let provider = config.credentials_provider().ok_or_else(|| {
                StoreError::Backend("the DynamoDB store found no AWS credentials provider".into())
            })?;
            DynamoStore::with_source(
                table,
                &region,
                endpoint_url,
                CredentialSource::Chain {
                    provider,
                    cached: tokio::sync::Mutex::new(None),
                },
            )
        }
        #[cfg(not(feature = "aws-config"))]
        {
            let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
            let missing = |what: &str| {
                StoreError::Backend(format!(
                    "the DynamoDB store needs {what} in the environment (Lambda sets it); this build reads \
                     only environment credentials: build with cargo feature \"aws-config\" for profiles, SSO \
                     or instance roles"
                ))
            };
            let region = region
                .map(str::to_owned)
                .or_else(|| var("AWS_REGION"))
                .or_else(|| var("AWS_DEFAULT_REGION"))
                .ok_or_else(|| missing("AWS_REGION"))?;
            let credentials = Credentials {
                access_key_id: var("AWS_ACCESS_KEY_ID")
                    .ok_or_else(|| missing("AWS_ACCESS_KEY_ID"))?,
                secret_access_key: var("AWS_SECRET_ACCESS_KEY")
                    .ok_or_else(|| missing("AWS_SECRET_ACCESS_KEY"))?,
                session_token: var("AWS_SESSION_TOKEN"),
            };
            DynamoStore::new(table, &region, endpoint_url, credentials)
        }
    }

    /// Creates the table (on-demand capacity) unless it exists. For development and tests; deployed
    /// tables come from the deployment plan.
    pub async fn ensure_table(&self) -> Result<(), StoreError> {
        let created = self
            .call(
                "CreateTable",
                json!({
                    "TableName": self.table,
                    "BillingMode": "PAY_PER_REQUEST",
                    "AttributeDefinitions": [{"AttributeName": "sub", "AttributeType": "S"}],
                    "KeySchema": [{"AttributeName": "sub", "KeyType": "HASH"}],
                }),
            )
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(CallError::Service { kind, .. }) if kind == "ResourceInUseException" => Ok(()),
            Err(error) => Err(self.backend("CreateTable", error)),
        }
    }

    fn backend(&self, operation: &str, error: CallError) -> StoreError {
        let why = match error {
            CallError::Service { kind, message } => format!("{kind}: {message}"),
            CallError::Transport(why) => why,
        };
        StoreError::Backend(format!(
            "DynamoDB {operation} on table {}: {why}",
            self.table
        ))
    }

    /// One DynamoDB operation, retried when DynamoDB refused it for throttling (nothing was
    /// applied); after a server error or a lost connection only reads and table creation are
    /// retried: a write whose answer was lost may have been applied, and must not be applied twice.
    async fn call(&self, operation: &str, input: Value) -> Result<Value, CallError> {
        let idempotent = operation != "UpdateItem";
        let body = input.to_string();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = self.send(operation, &body).await;
            let retry = match &outcome {
                // A server error may come after the write was applied: only refusals for
                // throttling are safe to resend for a write.
                Err(CallError::Service { kind, .. }) if !idempotent => {
                    kind != "InternalServerError" && RETRYABLE.contains(&kind.as_str())
                }
                Err(CallError::Service { kind, .. }) => RETRYABLE.contains(&kind.as_str()),
                Err(CallError::Transport(_)) => idempotent,
                Ok(_) => false,
            };
            if !retry || attempt >= ATTEMPTS {
                return outcome;
            }
            tokio::time::sleep(Duration::from_millis(25 << attempt)).await;
        }
    }

    async fn send(&self, operation: &str, body: &str) -> Result<Value, CallError> {
        let credentials = self
            .credentials
            .current()
            .await
            .map_err(|e| CallError::Transport(e.to_string()))?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let date = crate::sigv4::amz_date(now);
        let target = format!("{TARGET_PREFIX}.{operation}");
        let mut headers = vec![
            ("content-type", "application/x-amz-json-1.0"),
            ("host", self.host.as_str()),
            ("x-amz-date", date.as_str()),
            ("x-amz-target", target.as_str()),
        ];
        if let Some(token) = &credentials.session_token {
            headers.push(("x-amz-security-token", token.as_str()));
        }
        let signed = crate::sigv4::Request {
            method: "POST",
            path: self.endpoint.path(),
            headers: &headers,
            body: body.as_bytes(),
        };
        let authorization =
            crate::sigv4::authorization(&signed, &credentials, &self.region, "dynamodb", &date);
        let mut request = self
            .http
            .post(self.endpoint.clone())
            .header("authorization", authorization)
            .body(body.to_owned());
        for (name, value) in headers.iter().filter(|(name, _)| *name != "host") {
            request = request.header(*name, *value);
        }
        let response = request
            .send()
            .await
            .map_err(|e| CallError::Transport(format!("no answer from {}: {e}", self.endpoint)))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| CallError::Transport(format!("reading the answer: {e}")))?;
        let parsed: Result<Value, _> = serde_json::from_str(&text);
        if status.is_success() {
            return parsed.map_err(|_| {
                CallError::Transport(format!(
                    "HTTP {status} with a body that is not DynamoDB's JSON"
                ))
            });
        }
        let answer = parsed.unwrap_or(Value::Null);
        // `{"__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException", "message": …}`
        let kind = answer["__type"]
            .as_str()
            .map(|t| t.rsplit('#').next().unwrap_or(t).to_owned());
        match kind {
            Some(kind) => Err(CallError::Service {
                kind,
                message: answer["message"]
                    .as_str()
                    .or_else(|| answer["Message"].as_str())
                    .unwrap_or_default()
                    .to_owned(),
            }),
            None if status.is_server_error() => Err(CallError::Service {
                kind: "InternalServerError".into(),
                message: format!("HTTP {status}"),
            }),
            None => Err(CallError::Transport(format!(
                "HTTP {status} without a DynamoDB error"
            ))),
        }
    }
}

/// DynamoDB's refusal of a write whose condition did not hold.
const CONDITION_FAILED: &str = "ConditionalCheckFailedException";

/// The item key of `key`: its issuer and subject as a JSON array.
fn item_key(key: &ProfileKey) -> String {
    Value::from(vec![key.issuer.as_str(), key.subject.as_str()]).to_string()
}

fn decode(item: &Value) -> Result<StoredProfile, StoreError> {
    let body = item["body"]["S"].as_str();
    let version = item["version"]["N"].as_str().and_then(|n| n.parse().ok());
    match (body, version) {
        (Some(body), Some(version)) => crate::store::decode(body, version),
        _ => Err(StoreError::Backend(
            "a stored profile item lacks a JSON body or a version".into(),
        )),
    }
}

/// Whether `item` is `key`'s profile, not an older release's item whose subject happens to spell
/// `key`'s item key.
fn holds(item: &Value, key: &ProfileKey) -> bool {
    item["issuer"]["S"].as_str() == Some(key.issuer.as_str())
        && item["subject"]["S"].as_str() == Some(key.subject.as_str())
}

/// What a write requires of the item besides the caller's precondition.
#[derive(Debug, Clone, Copy)]
enum Guard {
    /// The item exists under its new key (every write after a user's first).
    Keyed,
    /// No older release's item sits on the key.
    NotLegacy,
}

impl DynamoStore {
    /// Whether `key` is the legacy issuer's, whose users may still have items keyed by subject.
    fn adopts(&self, key: &ProfileKey) -> bool {
        self.legacy_issuer.as_deref() == Some(key.issuer.as_str())
    }

    async fn get_item(&self, item_key: &str) -> Result<Option<Value>, StoreError> {
        let answer = self
            .call(
                "GetItem",
                json!({
                    "TableName": self.table,
                    "Key": {"sub": {"S": item_key}},
                    "ConsistentRead": true,
                }),
            )
            .await
            .map_err(|e| self.backend("GetItem", e))?;
        Ok(answer.get("Item").filter(|item| item.is_object()).cloned())
    }

    /// `key`'s profile under its own key.
    async fn get_keyed(&self, key: &ProfileKey) -> Result<Option<StoredProfile>, StoreError> {
        match self.get_item(&item_key(key)).await? {
            Some(item) if holds(&item, key) => decode(&item).map(Some),
            _ => Ok(None),
        }
    }

    /// Moves the older release's item of `key.subject`, if there is one and `key` is the legacy
    /// issuer's, to `key`: one transaction puts it under the new key (unless something is there)
    /// and deletes the old item (unless it changed meanwhile). Returns what `key` holds then.
    async fn adopt(&self, key: &ProfileKey) -> Result<Option<StoredProfile>, StoreError> {
        if !self.adopts(key) {
            return Ok(None);
        }
        let Some(item) = self.get_item(&key.subject).await? else {
            return Ok(None);
        };
        if item.get("issuer").is_some() {
            // A profile of this release whose item key happens to be this subject.
            return Ok(None);
        }
        let profile = decode(&item)?;
        let version = json!({"N": profile.version.to_string()});
        let moved = self
            .call(
                "TransactWriteItems",
                json!({"TransactItems": [
                    {"Put": {
                        "TableName": self.table,
                        "Item": {
                            "sub": {"S": item_key(key)},
                            "issuer": {"S": key.issuer},
                            "subject": {"S": key.subject},
                            "body": item["body"],
                            "version": version,
                        },
                        "ConditionExpression": "attribute_not_exists(#key)",
                        "ExpressionAttributeNames": {"#key": "sub"},
                    }},
                    {"Delete": {
                        "TableName": self.table,
                        "Key": {"sub": {"S": key.subject}},
                        "ConditionExpression": "attribute_not_exists(#issuer) AND #version = :version",
                        "ExpressionAttributeNames": {"#issuer": "issuer", "#version": "version"},
                        "ExpressionAttributeValues": {":version": version},
                    }},
                ]}),
            )
            .await;
        match moved {
            Ok(_) => {
                tracing::info!(
                    table = %self.table,
                    issuer = %key.issuer,
                    version = profile.version,
                    "a profile kept by subject alone is now kept by issuer and subject"
                );
                Ok(Some(profile))
            }
            // Another request moved it (or wrote the new key) first: what is there now holds.
            Err(CallError::Service { kind, .. }) if kind == "TransactionCanceledException" => {
                self.get_keyed(key).await
            }
            Err(error) => Err(self.backend("TransactWriteItems", error)),
        }
    }

    /// One conditional `UpdateItem` writing `body` as `key`'s profile.
    async fn update(
        &self,
        key: &ProfileKey,
        body: &Map<String, Value>,
        precondition: Precondition,
        guard: Guard,
    ) -> Result<Value, CallError> {
        let mut names = json!({
            "#body": "body", "#issuer": "issuer", "#subject": "subject", "#version": "version",
        });
        let mut values = json!({
            ":body": {"S": Value::Object(body.clone()).to_string()},
            ":issuer": {"S": key.issuer},
            ":subject": {"S": key.subject},
            ":zero": {"N": "0"},
            ":one": {"N": "1"},
        });
        let mut conditions = vec![match guard {
            Guard::Keyed => "attribute_exists(#issuer)",
            Guard::NotLegacy => {
                names["#key"] = json!("sub");
                "(attribute_not_exists(#key) OR attribute_exists(#issuer))"
            }
        }];
        match precondition {
            Precondition::None => {}
            Precondition::Exists => conditions.push("attribute_exists(#version)"),
            Precondition::Version(v) => {
                conditions.push("#version = :expected");
                values[":expected"] = json!({"N": v.to_string()});
            }
        }
        let input = json!({
            "TableName": self.table,
            "Key": {"sub": {"S": item_key(key)}},
            "UpdateExpression":
                "SET #body = :body, #issuer = :issuer, #subject = :subject, \
                 #version = if_not_exists(#version, :zero) + :one",
            "ConditionExpression": conditions.join(" AND "),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ReturnValues": "ALL_NEW",
        });
        self.call("UpdateItem", input).await
    }
}

impl ProfileStore for DynamoStore {
    fn get<'a>(&'a self, key: &'a ProfileKey) -> StoreFuture<'a, Option<StoredProfile>> {
        Box::pin(async move {
            match self.get_keyed(key).await? {
                Some(profile) => Ok(Some(profile)),
                None => self.adopt(key).await,
            }
        })
    }

    fn put<'a>(
        &'a self,
        key: &'a ProfileKey,
        body: Map<String, Value>,
        precondition: Precondition,
    ) -> StoreFuture<'a, StoredProfile> {
        Box::pin(async move {
            if self.adopts(key) {
                // Most writes find the profile under its key; a user's first write may first
                // have to adopt an older release's item.
                match self.update(key, &body, precondition, Guard::Keyed).await {
                    Ok(answer) => return decode(&answer["Attributes"]),
                    Err(CallError::Service { kind, .. }) if kind == CONDITION_FAILED => {
                        self.adopt(key).await?;
                    }
                    Err(error) => return Err(self.backend("UpdateItem", error)),
                }
            }
            match self
                .update(key, &body, precondition, Guard::NotLegacy)
                .await
            {
                Ok(answer) => decode(&answer["Attributes"]),
                Err(CallError::Service { kind, .. }) if kind == CONDITION_FAILED => {
                    match self.get_item(&item_key(key)).await? {
                        Some(item) if !holds(&item, key) => Err(StoreError::Backend(format!(
                            "DynamoDB table {}: an item this release did not write holds a \
                             profile's key; left as it is",
                            self.table
                        ))),
                        item => Err(StoreError::Conflict {
                            current: item.as_ref().map(decode).transpose()?.map(|p| p.version),
                        }),
                    }
                }
                Err(error) => Err(self.backend("UpdateItem", error)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn aws_endpoints_trust_exactly_the_amazon_trust_services_roots() {
        // Amazon Root CA 1, 2, 3, 4 and Starfield Services Root G2.
        assert_eq!(super::aws_roots().len(), 5);
    }
}
