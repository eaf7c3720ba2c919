//! The example service of the original tutorial, made real: `GET /user/profile` and
//! `POST /user/profile`, protected, written once over [`Caller`] and a [`ProfileStore`], and run
//! unchanged by the standalone server and by AWS Lambda.
//!
//! - `GET /user/profile` → 200 `{identity, claims, scopes, profile, version}`: who the caller is, the
//!   claims exactly as API Gateway passes them to Lambda, and the stored profile (or null), with its
//!   version as `ETag`.
//! - `POST /user/profile` → a JSON object of at most 16 KiB (configurable) becomes the caller's profile
//!   (keyed by issuer and `sub`: see [`ProfileIssuers`]); 200 with `ETag`. `If-Match` with a stale version → 412 and nothing written.
//!   Wrong content type → 415; invalid JSON or not an object → 400 naming the problem; too large → 413.

#[cfg(feature = "dynamodb")]
pub mod dynamo;
pub mod keys;
pub mod run;
#[cfg(feature = "dynamodb")]
mod sigv4;
#[cfg(feature = "sqlite")]
pub mod sqlite;
pub mod store;

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use portcullis_axum::{AuthLayer, Authenticated};
use portcullis_claims::Caller;
use serde_json::{Value, json};

#[cfg(feature = "sqlite")]
pub use crate::sqlite::SqliteStore;
pub use crate::store::{Precondition, ProfileKey, ProfileStore, StoreError, StoredProfile};

/// Opens the store the configuration names. Profiles an older release kept by subject alone
/// become `legacy_issuer`'s ([`ProfileIssuers::legacy`]).
pub async fn open_store(
    settings: &portcullis_config::StoreSettings,
    legacy_issuer: &str,
) -> Result<Arc<dyn ProfileStore>, StoreError> {
    // Read by the compiled-in stores only (a build with neither refuses both kinds).
    let _ = legacy_issuer;
    match settings {
        #[cfg(feature = "sqlite")]
        portcullis_config::StoreSettings::Sqlite { path } => {
            Ok(Arc::new(SqliteStore::open(path, Some(legacy_issuer))?))
        }
        #[cfg(not(feature = "sqlite"))]
        portcullis_config::StoreSettings::Sqlite { .. } => Err(StoreError::Backend(
            "store.kind = \"sqlite\" is not compiled into this build (a Lambda package for DynamoDB): rebuild with cargo feature \"sqlite\"".into(),
        )),
        #[cfg(feature = "dynamodb")]
        portcullis_config::StoreSettings::DynamoDb { table, region, endpoint_url } => Ok(Arc::new(
            dynamo::DynamoStore::from_env(table, region.as_deref(), endpoint_url.as_deref())
                .await?
                .with_legacy_issuer(legacy_issuer),
        )),
        #[cfg(not(feature = "dynamodb"))]
        portcullis_config::StoreSettings::DynamoDb { .. } => Err(StoreError::Backend(
            "store.kind = \"dynamodb\" is not compiled into this build: rebuild with cargo feature \"dynamodb\"".into(),
        )),
    }
}

/// The service's HTTP API routes as a gateway sees them: method, path, and whether the JWT
/// authorizer protects it (scopes come from the configuration's `[routes]`).
pub const API_ROUTES: [(&str, &str, bool); 3] = [
    ("GET", "/user/profile", true),
    ("POST", "/user/profile", true),
    ("GET", "/healthz", false),
];

/// Which issuer a caller's profile is kept under, for each trusted `iss`: the token's issuer,
/// except that a Cognito pool's two issuer forms keep one profile
/// ([`portcullis_config::AuthSettings::record_issuer`]). A token of an issuer it does not name
/// gets no profile (403).
#[derive(Debug, Clone)]
pub struct ProfileIssuers {
    /// `(iss, record issuer)`, the first trusted issuer first.
    issuers: Arc<[(String, String)]>,
}

impl ProfileIssuers {
    /// The issuers the settings trust.
    pub fn from_settings(auth: &portcullis_config::AuthSettings) -> ProfileIssuers {
        ProfileIssuers {
            issuers: auth
                .configs
                .iter()
                .filter_map(|config| {
                    let iss = config.issuer();
                    Some((iss.to_owned(), auth.record_issuer(iss)?))
                })
                .collect(),
        }
    }

    /// Exactly one issuer, its profiles kept under its own name.
    pub fn single(issuer: &str) -> ProfileIssuers {
        ProfileIssuers {
            issuers: Arc::new([(issuer.to_owned(), issuer.to_owned())]),
        }
    }

    /// Whose the profiles an older release kept by subject alone are: the first trusted issuer's.
    pub fn legacy(&self) -> &str {
        self.issuers
            .first()
            .map_or("", |(_, record)| record.as_str())
    }

    /// The key of `caller`'s profile.
    fn key(&self, caller: &Caller) -> Result<ProfileKey, Problem> {
        let subject = caller.identity.subject.as_deref().ok_or_else(|| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "the token has no sub claim to key a profile by",
            )
        })?;
        let iss = caller.claims.iss().unwrap_or_default();
        let issuer = self
            .issuers
            .iter()
            .find(|(trusted, _)| trusted == iss)
            .map(|(_, record)| record)
            .ok_or_else(|| {
                tracing::error!(
                    iss,
                    "a caller's issuer is not one this service keeps profiles for; refusing"
                );
                Problem::new(StatusCode::FORBIDDEN, "Forbidden")
            })?;
        Ok(ProfileKey::new(issuer, subject))
    }
}

/// What the handlers share.
#[derive(Clone)]
pub struct Service {
    store: Arc<dyn ProfileStore>,
    body_limit: usize,
    issuers: ProfileIssuers,
}

impl Service {
    /// The service over `store`, accepting profile bodies up to `body_limit` bytes, keeping each
    /// caller's profile under the issuer `issuers` names.
    pub fn new(
        store: Arc<dyn ProfileStore>,
        body_limit: usize,
        issuers: ProfileIssuers,
    ) -> Service {
        Service {
            store,
            body_limit,
            issuers,
        }
    }
}

/// The routes, without authorization: add an [`AuthLayer`] (or the Lambda gateway layer) with
/// `route_layer`, or use [`app`]. Handlers refuse (401) when no layer ran.
pub fn router(service: Service) -> Router {
    Router::new()
        .route("/user/profile", get(get_profile).post(post_profile))
        .with_state(service)
}

/// The routes behind `auth`. A request no [`API_ROUTES`] entry matches (HEAD, which axum would
/// answer with the GET handler; DELETE; OPTIONS without a CORS configuration) is answered as API
/// Gateway answers a request no route matches, before it is judged: 404 `{"message":"Not Found"}`.
pub fn app(service: Service, auth: AuthLayer) -> Router {
    router(service)
        .route_layer(auth)
        .layer(axum::middleware::from_fn(only_api_routes))
}

async fn only_api_routes(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let routed = API_ROUTES.iter().any(|(method, path, _)| {
        request.method().as_str() == *method && request.uri().path() == *path
    });
    if routed {
        next.run(request).await
    } else {
        Problem::new(StatusCode::NOT_FOUND, "Not Found").into_response()
    }
}

/// A refused request: status, a `{"message": …}` body in API Gateway's style, and the current
/// version's `ETag` where it helps the client retry.
#[derive(Debug)]
pub struct Problem {
    status: StatusCode,
    message: String,
    etag: Option<u64>,
}

impl Problem {
    fn new(status: StatusCode, message: impl Into<String>) -> Problem {
        Problem {
            status,
            message: message.into(),
            etag: None,
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = json!({ "message": self.message });
        json_response(self.status, &body, self.etag)
    }
}

impl From<StoreError> for Problem {
    fn from(error: StoreError) -> Problem {
        match error {
            StoreError::Conflict { current: Some(v) } => Problem {
                etag: Some(v),
                ..Problem::new(
                    StatusCode::PRECONDITION_FAILED,
                    format!("the profile has changed: its current version is \"{v}\""),
                )
            },
            StoreError::Conflict { current: None } => Problem::new(
                StatusCode::PRECONDITION_FAILED,
                "there is no profile to match yet",
            ),
            StoreError::Backend(_) => {
                tracing::error!(%error, "profile store failed");
                Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
            }
        }
    }
}

fn etag(version: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
}

fn json_response(
    status: StatusCode,
    body: &impl serde::Serialize,
    version: Option<u64>,
) -> Response {
    let Ok(text) = serde_json::to_vec(body) else {
        tracing::error!("a response body did not serialize");
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"message":"Internal Server Error"}"#,
        )
            .into_response();
    };
    let mut response = (status, [(header::CONTENT_TYPE, "application/json")], text).into_response();
    if let Some(version) = version {
        response.headers_mut().insert(header::ETAG, etag(version));
    }
    response
}

async fn get_profile(
    State(service): State<Service>,
    Authenticated(caller): Authenticated,
) -> Result<Response, Problem> {
    let stored = service.store.get(&service.issuers.key(&caller)?).await?;
    let version = stored.as_ref().map(|s| s.version);
    let answer = ProfileAnswer {
        claims: caller.claims.gateway_claims(),
        identity: &caller.identity,
        profile: stored.as_ref().map(|s| &s.body),
        scopes: caller.gateway_scopes.as_deref(),
        version,
    };
    Ok(json_response(StatusCode::OK, &answer, version))
}

/// `GET /user/profile`'s body, serialized straight from the caller and the stored profile (no
/// intermediate JSON tree). Its members in name order, as before; the identity's in their
/// declaration order (JSON objects are unordered; every test compares parsed bodies).
#[derive(serde::Serialize)]
struct ProfileAnswer<'a> {
    claims: &'a std::collections::BTreeMap<String, String>,
    identity: &'a portcullis_claims::Identity,
    profile: Option<&'a serde_json::Map<String, Value>>,
    scopes: Option<&'a [String]>,
    version: Option<u64>,
}

async fn post_profile(
    State(service): State<Service>,
    Authenticated(caller): Authenticated,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let key = service.issuers.key(&caller)?;
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "expected Content-Type: application/json",
        ));
    }
    let too_large = || {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the profile is larger than {} bytes", service.body_limit),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > service.body_limit) {
        return Err(too_large());
    }
    let bytes = to_bytes(body, service.body_limit)
        .await
        .map_err(|_| too_large())?;
    let profile = match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(profile)) => profile,
        Ok(other) => {
            let kind = match other {
                Value::Array(_) => "an array",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                Value::Bool(_) => "a boolean",
                _ => "null",
            };
            return Err(Problem::new(
                StatusCode::BAD_REQUEST,
                format!("the profile must be a JSON object, not {kind}"),
            ));
        }
        Err(e) => {
            return Err(Problem::new(
                StatusCode::BAD_REQUEST,
                format!("the body is not valid JSON: {e}"),
            ));
        }
    };
    let stored = service
        .store
        .put(&key, profile, if_match(&headers)?)
        .await?;
    let body = json!({ "profile": Value::Object(stored.body), "version": stored.version });
    Ok(json_response(StatusCode::OK, &body, Some(stored.version)))
}

/// `If-Match: "3"` or `*`. Anything else can never match: 412, as RFC 9110 says; a weak tag
/// (`W/"3"`) included, because If-Match compares entity tags strongly (RFC 9110 §13.1.1).
fn if_match(headers: &HeaderMap) -> Result<Precondition, Problem> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(Precondition::None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    if text == "*" {
        return Ok(Precondition::Exists);
    }
    if text.starts_with("W/") {
        return Err(Problem::new(
            StatusCode::PRECONDITION_FAILED,
            "If-Match compares entity tags strongly: a weak tag (W/\"…\") never matches",
        ));
    }
    text.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .and_then(|t| t.parse::<u64>().ok())
        .map(Precondition::Version)
        .ok_or_else(|| {
            Problem::new(
                StatusCode::PRECONDITION_FAILED,
                "If-Match names no version of this profile",
            )
        })
}
