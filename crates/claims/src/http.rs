//! The request path every runtime shares (feature `http`, on the `http` crate's types): the one
//! [`Admission`] (route rule → judge → count and log → [`Caller`](crate::Caller) or the gate's
//! refusal) and its pieces: which identity source value is judged, which route rule holds for a
//! method, and the gate's answer to a refusal. `portcullis-axum`'s layer and extractor,
//! `portcullis-lambda`'s gateway layer and the local gateway all admit through it, so they cannot
//! drift apart.

mod admission;

pub use admission::{Admission, Inbound, Route, Vouched, unadmitted};

use std::borrow::Cow;
use std::sync::Arc;

use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};

use crate::{AuthError, Authorizer, Gate, IdentitySource, Judgement};

/// The scopes a route requires, given the request's method and path (empty: any valid token).
/// Built from `portcullis_config::Routes::scopes`, it matches the path as API Gateway matches a
/// route key (`GET /items/{id}` for `/items/42`).
pub type ScopeRule = Arc<dyn Fn(&Method, &str) -> Vec<String> + Send + Sync>;

/// The method whose route rule judges a request: HEAD is answered by the route's GET handler
/// (axum and lambda_http both do), so GET's rule holds for it; any other method is its own.
pub fn rule_method(method: &Method) -> Method {
    if method == Method::HEAD {
        Method::GET
    } else {
        method.clone()
    }
}

/// The request's one `Authorization` value (lossily decoded: a byte that is not UTF-8 makes a
/// token no verifier accepts), `None` without one, and a refusal when there are two or more:
/// which of them a gateway would judge is not ours to guess.
pub fn authorization(headers: &HeaderMap) -> Result<Option<Cow<'_, str>>, AuthError> {
    one_header(headers, header::AUTHORIZATION.as_str())
}

/// The one value of header `name`, as [`authorization`] reads `Authorization`.
fn one_header<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<Cow<'h, str>>, AuthError> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(AuthError::RepeatedToken);
    }
    Ok(first.map(|value| lossy(value.as_bytes())))
}

/// `bytes` as text, invalid UTF-8 replaced (`String::from_utf8_lossy`), checked first with
/// `str::from_utf8`, whose ASCII fast path reads a token several times faster than the lossy
/// reader's chunking (about 1 % of a served request's CPU).
fn lossy(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// The request's one identity source value, read where `source` says: a header (as
/// [`authorization`] reads `Authorization`) or a query-string parameter (percent-decoded; a
/// parameter given twice is refused like a repeated header).
pub fn identity<'r>(
    uri: &'r http::Uri,
    headers: &'r HeaderMap,
    source: &IdentitySource,
) -> Result<Option<Cow<'r, str>>, AuthError> {
    match source {
        IdentitySource::Header(name) => one_header(headers, name),
        IdentitySource::Query(name) => {
            let query = uri.query().unwrap_or_default();
            if query.len() > crate::limits::MAX_TOKEN_BYTES * 4 {
                return Err(AuthError::TokenTooLarge);
            }
            let mut values = url::form_urlencoded::parse(query.as_bytes())
                .filter(|(key, _)| key == name.as_str())
                .map(|(_, value)| value);
            let first = values.next();
            if values.next().is_some() {
                return Err(AuthError::RepeatedToken);
            }
            Ok(first.filter(|value| !value.is_empty()))
        }
    }
}

impl Authorizer {
    /// Judges a request by its identity source ([`identity`]) against `route_scopes`: the
    /// verdict with what it is counted and logged by.
    pub async fn judge_request<S: AsRef<str>>(
        &self,
        uri: &http::Uri,
        headers: &HeaderMap,
        route_scopes: &[S],
    ) -> Judgement<'_> {
        match identity(uri, headers, self.identity_source()) {
            Ok(value) => self.judge(value.as_deref(), route_scopes).await,
            Err(refusal) => Judgement::unread(refusal),
        }
    }
}

/// `gate`'s answer to a refusal ([`Gate::status`], [`Gate::body`], [`Gate::www_authenticate`]):
/// a JSON body from API Gateway, an empty one from the ALB.
pub fn refusal<B: From<String>>(gate: Gate, error: &AuthError) -> Response<B> {
    let body = gate.body(error);
    let mut response = Response::new(B::from(body.to_owned()));
    *response.status_mut() =
        StatusCode::from_u16(gate.status(error)).unwrap_or(StatusCode::UNAUTHORIZED);
    let headers = response.headers_mut();
    if !body.is_empty() {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    if let Some(Ok(value)) = gate
        .www_authenticate(error)
        .map(|value| HeaderValue::from_str(&value))
    {
        headers.insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue, Method, header};

    use super::{authorization, refusal, rule_method};
    use crate::AuthError;
    use crate::Gate;

    #[test]
    fn head_is_judged_by_the_get_rule_and_every_other_method_by_its_own() {
        assert_eq!(rule_method(&Method::HEAD), Method::GET);
        for method in [Method::GET, Method::POST, Method::OPTIONS, Method::DELETE] {
            assert_eq!(rule_method(&method), method);
        }
    }

    #[test]
    fn one_authorization_header_is_read_and_two_are_refused() {
        let mut headers = HeaderMap::new();
        assert_eq!(authorization(&headers).expect("none"), None);
        headers.append(header::AUTHORIZATION, HeaderValue::from_static("Bearer a"));
        assert_eq!(
            authorization(&headers).expect("one").as_deref(),
            Some("Bearer a")
        );
        headers.append(header::AUTHORIZATION, HeaderValue::from_static("junk"));
        assert_eq!(authorization(&headers), Err(AuthError::RepeatedToken));
    }

    #[test]
    fn a_header_of_invalid_utf8_reads_as_the_lossy_text_and_valid_text_is_borrowed() {
        let mut headers = HeaderMap::new();
        let value = HeaderValue::from_bytes(b"Bearer a\xffb\xc3").expect("opaque bytes");
        headers.insert(header::AUTHORIZATION, value);
        assert_eq!(
            authorization(&headers).expect("one").as_deref(),
            Some("Bearer a\u{fffd}b\u{fffd}")
        );
        let utf8 = HeaderValue::from_bytes("Bearer é".as_bytes()).expect("bytes");
        headers.insert(header::AUTHORIZATION, utf8);
        let read = authorization(&headers).expect("one").expect("a value");
        assert!(matches!(read, std::borrow::Cow::Borrowed("Bearer é")));
    }

    #[test]
    fn a_refusal_is_api_gateways_status_body_and_challenge() {
        let response = refusal::<String>(Gate::HttpApi, &AuthError::MissingToken);
        assert_eq!(response.status(), 401);
        assert_eq!(response.body(), r#"{"message":"Unauthorized"}"#);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        assert!(response.headers().contains_key(header::WWW_AUTHENTICATE));
    }
}
