//! The HTTP proxy integration: the request goes to the backend as the client sent it (method, path,
//! query, headers including `Authorization`, body), changed only by the route's parameter mappings.
//! Claims reach the backend only where a mapping puts them (`overwrite:header.x-user-sub` =
//! `$context.authorizer.claims.sub`), as with API Gateway's `RequestParameters`.
//!
//! Bodies stream both ways through bounded buffers: nothing is held whole. An answer whose
//! `Content-Length` passes API Gateway's 10 MB is API Gateway's error; a chunked one that passes
//! it is cut there (API Gateway buffers the answer and would answer its error instead; a status
//! already sent cannot be taken back, so the client sees an incomplete answer, never a whole one).

use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use http_body::{Body as _, Frame, SizeHint};
use http_body_util::{BodyExt, Limited};
use portcullis_axum::serve::gateway_answer as api_error;
use portcullis_claims::Caller;
use portcullis_config::{MappingAction, MappingTarget, MappingValue, Route};

/// The largest answer API Gateway passes on from an integration (HTTP API quotas: payload 10 MB).
/// What it answers past that is undocumented (**U**): here, its answer to a failed integration.
pub const ANSWER_BYTES: u64 = portcullis_axum::serve::BODY_BYTES as u64;

/// Hop-by-hop headers (RFC 9110 §7.6.1) and the ones the client connection owns: never forwarded.
const HOP_BY_HOP: [&str; 10] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

/// One request the authorizer let through, for the backend.
#[derive(Debug)]
pub struct Forward<'a> {
    /// The matched route (its parameter mappings apply).
    pub route: &'a Route,
    /// The client's method.
    pub method: &'a Method,
    /// The client's path and query.
    pub uri: &'a Uri,
    /// The client's headers.
    pub headers: &'a HeaderMap,
    /// The client's body, streamed on as it arrives.
    pub body: Body,
    /// The verified caller, on protected routes.
    pub caller: Option<&'a Caller>,
    /// `$context.requestId`.
    pub request_id: &'a str,
}

/// Sends `request` to `base` and answers with the backend's response; an unreachable backend is
/// API Gateway's `500 {"message":"Internal Server Error"}`, a timeout its `503`.
pub async fn forward(
    client: &reqwest::Client,
    base: &reqwest::Url,
    request: Forward<'_>,
) -> Response {
    let (url, headers) = backend_request(base, &request);
    let method = match reqwest::Method::from_bytes(request.method.as_str().as_bytes()) {
        Ok(method) => method,
        Err(_) => return api_error(StatusCode::NOT_FOUND, "Not Found"),
    };
    let mut outgoing = client.request(method, url);
    for (name, value) in &headers {
        outgoing = outgoing.header(name.as_str(), value.as_bytes());
    }
    let Forward { body, .. } = request;
    if body.size_hint().exact() != Some(0) {
        outgoing = outgoing.body(reqwest::Body::wrap(Shared(Mutex::new(body))));
    }
    let answer = match outgoing.send().await {
        Ok(answer) => answer,
        Err(error) if error.is_timeout() => {
            return api_error(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable");
        }
        Err(error) if portcullis_axum::serve::over_the_body_limit(&error) => {
            // A chunked body that passed API Gateway's 10 MB on its way to the backend.
            return api_error(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
        }
        Err(error) => {
            tracing::error!(error = %error, "the backend did not answer");
            return api_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
        }
    };
    // Headers the backend's `Connection` header names are hop-by-hop too (RFC 9110 §7.6.1).
    let named = connection_named(answer.headers());
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response_headers = HeaderMap::new();
    for (name, value) in answer.headers() {
        if HOP_BY_HOP.contains(&name.as_str()) || named.iter().any(|n| n == name.as_str()) {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_str().as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            response_headers.append(name, value);
        }
    }
    if answer
        .content_length()
        .is_some_and(|length| length > ANSWER_BYTES)
    {
        tracing::error!(
            length = answer.content_length(),
            "the backend's answer is over API Gateway's 10 MB: answered as API Gateway answers a failed integration"
        );
        return api_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    }
    let streamed = Limited::new(reqwest::Body::from(answer), ANSWER_BYTES as usize).map_err(|error| {
        tracing::error!(%error, "the backend's answer was cut (over API Gateway's 10 MB, or the backend failed mid-way)");
        error
    });
    let mut response = Response::new(Body::new(streamed));
    *response.status_mut() = status;
    *response.headers_mut() = response_headers;
    response
}

/// The backend's URL and headers: the client's, with the route's mappings applied in order.
///
/// An `overwrite` removes what the client sent under that name first, so a mapping whose value is
/// absent (a claim the token does not carry) leaves the parameter unset, never the client's forgery.
/// The query string goes on byte for byte unless a mapping changes it.
fn backend_request(base: &reqwest::Url, request: &Forward<'_>) -> (reqwest::Url, HeaderMap) {
    // Headers the client's `Connection` header names are hop-by-hop too (RFC 9110 §7.6.1).
    let named = connection_named(request.headers);
    let mut headers = HeaderMap::new();
    for (name, value) in request.headers {
        if !HOP_BY_HOP.contains(&name.as_str()) && !named.iter().any(|n| n == name.as_str()) {
            headers.append(name.clone(), value.clone());
        }
    }
    let mut path = request.uri.path().to_owned();
    let raw_query = request.uri.query().map(str::to_owned);
    let mut query: Option<Vec<(String, String)>> = None;
    let claims = request.caller.map(|c| c.claims.gateway_claims());
    for mapping in request.route.parameters() {
        let value = mapping.value.as_ref().and_then(|value| match value {
            MappingValue::Static(text) => Some(text.clone()),
            MappingValue::RequestHeader(name) => request
                .headers
                .get(name.as_str())
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
            MappingValue::RequestQueryString(name) => request.uri.query().and_then(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.into_owned())
            }),
            MappingValue::RequestPath => Some(request.uri.path().to_owned()),
            MappingValue::Claim(name) => claims.as_ref().and_then(|c| c.get(name).cloned()),
            MappingValue::RequestId => Some(request.request_id.to_owned()),
            MappingValue::RouteKey => Some(request.route.key()),
        });
        match &mapping.target {
            MappingTarget::Header(name) => {
                let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
                    continue;
                };
                let existing: Vec<u8> = headers
                    .get_all(&name)
                    .iter()
                    .map(|v| v.as_bytes())
                    .collect::<Vec<_>>()
                    .join(&b","[..]);
                headers.remove(&name);
                let value = value.and_then(|v| HeaderValue::from_str(&v).ok());
                match (mapping.action, value) {
                    (MappingAction::Remove, _) | (_, None) => {
                        // An append of nothing keeps what the client sent; anything else sets nothing.
                        if mapping.action == MappingAction::Append
                            && let Ok(kept) = HeaderValue::from_bytes(&existing)
                            && !existing.is_empty()
                        {
                            headers.insert(name, kept);
                        }
                    }
                    (MappingAction::Append, Some(value)) if !existing.is_empty() => {
                        let mut joined = existing;
                        joined.push(b',');
                        joined.extend_from_slice(value.as_bytes());
                        if let Ok(joined) = HeaderValue::from_bytes(&joined) {
                            headers.insert(name, joined);
                        }
                    }
                    (_, Some(value)) => {
                        headers.insert(name, value);
                    }
                }
            }
            MappingTarget::QueryString(name) => {
                let pairs = query.get_or_insert_with(|| {
                    raw_query
                        .as_deref()
                        .map(|q| {
                            url::form_urlencoded::parse(q.as_bytes())
                                .into_owned()
                                .collect()
                        })
                        .unwrap_or_default()
                });
                if mapping.action != MappingAction::Append {
                    pairs.retain(|(k, _)| k != name);
                }
                if mapping.action != MappingAction::Remove
                    && let Some(value) = value
                {
                    pairs.push((name.clone(), value));
                }
            }
            MappingTarget::Path => {
                // A mapped path obeys the rule the client's path did (no dot segments, no
                // encoded slashes), so it cannot climb out of the backend's base path.
                if let Some(value) = value
                    .filter(|v| v.starts_with('/') && !portcullis_axum::serve::ambiguous_path(v))
                {
                    path = value;
                }
            }
        }
    }
    let mut url = base.clone();
    let prefix = base.path().trim_end_matches('/').to_owned();
    url.set_path(&format!("{prefix}{path}"));
    match query {
        Some(pairs) if pairs.is_empty() => url.set_query(None),
        Some(pairs) => {
            url.query_pairs_mut().clear().extend_pairs(&pairs);
        }
        None => url.set_query(raw_query.as_deref()),
    }
    (url, headers)
}

/// The header names a `Connection` header lists (lower case).
fn connection_named<'a>(
    headers: impl IntoIterator<Item = (&'a HeaderName, &'a HeaderValue)>,
) -> Vec<String> {
    headers
        .into_iter()
        .filter(|(name, _)| *name == header::CONNECTION)
        .filter_map(|(_, v)| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|n| n.trim().to_ascii_lowercase())
        .collect()
}

/// The client's body as the HTTP client takes it (`Sync`; axum's body is only `Send`). The lock is
/// never contended: the body is polled through `&mut`, and the size read only between polls.
struct Shared(Mutex<Body>);

impl http_body::Body for Shared {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let body = self
            .get_mut()
            .0
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Pin::new(body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.0
            .lock()
            .map(|body| body.is_end_stream())
            .unwrap_or(false)
    }

    fn size_hint(&self) -> SizeHint {
        self.0
            .lock()
            .map(|body| body.size_hint())
            .unwrap_or_default()
    }
}
