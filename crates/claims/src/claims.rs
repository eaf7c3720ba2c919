//! Verified claims, and the string map API Gateway hands to Lambda (payload format 2.0).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use serde_json::{Map, Value};

use crate::identity::{Identity, IdentityMapping};

/// Claims whose numeric values API Gateway renders as strings and we turn back into numbers.
const NUMERIC_DATES: [&str; 4] = ["exp", "iat", "nbf", "auth_time"];

/// The claims of a token: the raw JSON object plus typed accessors. Cheap to clone.
///
/// ```
/// use portcullis_claims::Claims;
/// use serde_json::json;
///
/// let claims = Claims::from_json(json!({
///     "sub": "1234", "scope": "profile/read openid", "cognito:groups": ["admin", "poweruser"],
///     "exp": 1700000000, "address": {"country": "NL"}, "nickname": null,
/// })).expect("an object");
/// assert_eq!(claims.scopes(), ["profile/read", "openid"]);
///
/// // As API Gateway passes them to a Lambda function (requestContext.authorizer.jwt.claims):
/// let gateway = claims.to_gateway_claims();
/// assert_eq!(gateway["cognito:groups"], "[admin poweruser]");
/// assert_eq!(gateway["exp"], "1700000000");
/// assert_eq!(gateway["address"], r#"{"country":"NL"}"#);
/// assert!(!gateway.contains_key("nickname"));
///
/// // And back, as a Lambda adapter reads them:
/// let back = Claims::from_gateway_claims(&gateway);
/// assert_eq!(back.groups(), ["admin", "poweruser"]);
/// assert_eq!(back.exp(), Some(1700000000));
/// ```
#[derive(Clone)]
pub struct Claims(Arc<Inner>);

/// The claims, and their gateway rendering and mapped identity once asked for: shared by every
/// clone, so a token the verifier remembers is rendered and mapped once however many requests
/// carry it.
struct Inner {
    map: Map<String, Value>,
    gateway: OnceLock<BTreeMap<String, String>>,
    /// The identity made by the first mapping asked for one, with that mapping (kept, so that its
    /// address names it for as long as the identity is kept).
    identity: OnceLock<(Arc<dyn IdentityMapping>, Arc<Identity>)>,
}

impl PartialEq for Claims {
    fn eq(&self, other: &Claims) -> bool {
        self.0.map == other.0.map
    }
}

impl fmt::Debug for Claims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Claims").field(&self.0.map).finish()
    }
}

impl Claims {
    /// Wraps a JSON object (no verification: use [`crate::Verifier`] for tokens).
    pub fn from_json(value: Value) -> Option<Claims> {
        match value {
            Value::Object(map) => Some(Claims::from_map(map)),
            _ => None,
        }
    }

    pub(crate) fn from_map(map: Map<String, Value>) -> Claims {
        Claims(Arc::new(Inner {
            map,
            gateway: OnceLock::new(),
            identity: OnceLock::new(),
        }))
    }

    /// The whole claim set.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0.map
    }

    /// One claim.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.map.get(name)
    }

    fn str(&self, name: &str) -> Option<&str> {
        self.0.map.get(name).and_then(Value::as_str)
    }

    /// `sub`.
    pub fn sub(&self) -> Option<&str> {
        self.str("sub")
    }
    /// `iss`.
    pub fn iss(&self) -> Option<&str> {
        self.str("iss")
    }
    /// A claim that may be a string or a list of strings, as a list (non-strings skipped).
    pub fn strings(&self, name: &str) -> Vec<&str> {
        string_or_list(self.0.map.get(name))
    }
    /// `aud`, whether a string or a list of strings.
    pub fn aud(&self) -> Vec<&str> {
        self.strings("aud")
    }
    /// `client_id` (Cognito access tokens carry it instead of `aud`).
    pub fn client_id(&self) -> Option<&str> {
        self.str("client_id")
    }
    /// Scopes from `scope` (separated by single spaces, U+0020, as RFC 6749 §3.3 defines it: any
    /// other whitespace belongs to a scope's name) and `scp` (list, as Okta issues it), in order.
    pub fn scopes(&self) -> Vec<&str> {
        let mut scopes: Vec<&str> = self
            .str("scope")
            .map(|s| s.split(' ').filter(|scope| !scope.is_empty()).collect())
            .unwrap_or_default();
        scopes.extend(self.strings("scp"));
        scopes
    }
    /// Cognito's `token_use`: `"id"` or `"access"`.
    pub fn token_use(&self) -> Option<&str> {
        self.str("token_use")
    }
    /// `username` (Cognito access tokens) or `cognito:username` (Cognito id tokens).
    pub fn username(&self) -> Option<&str> {
        self.str("username")
            .or_else(|| self.str("cognito:username"))
    }
    /// `email`.
    pub fn email(&self) -> Option<&str> {
        self.str("email")
    }
    /// `cognito:groups`, else `groups` (Okta).
    pub fn groups(&self) -> Vec<&str> {
        match self.0.map.get("cognito:groups") {
            Some(_) => self.strings("cognito:groups"),
            None => self.strings("groups"),
        }
    }
    /// `exp` in whole seconds since the epoch, when it is a number.
    pub fn exp(&self) -> Option<i64> {
        self.numeric_date("exp")
    }
    /// `iat`, when it is a number.
    pub fn iat(&self) -> Option<i64> {
        self.numeric_date("iat")
    }
    /// `nbf`, when it is a number.
    pub fn nbf(&self) -> Option<i64> {
        self.numeric_date("nbf")
    }

    fn numeric_date(&self, name: &str) -> Option<i64> {
        let value = self.0.map.get(name)?;
        value
            .as_i64()
            .or_else(|| value.as_f64().map(|f| f.floor() as i64))
    }

    /// The claims as API Gateway puts them in `requestContext.authorizer.jwt.claims` (payload 2.0)
    /// or `requestContext.authorizer.claims` (payload 1.0): every value a string.
    ///
    /// AWS's sample events ("Working with AWS Lambda proxy integrations for HTTP APIs", API Gateway
    /// developer guide) show only string values (`"claim1": "value1"`). The rest is what several
    /// independent projects observed on real APIs: numbers and booleans as their JSON text, arrays
    /// Go-style in brackets with elements separated by spaces (`"[admin poweruser]"`), objects as
    /// compact JSON text, null claims left out.
    ///
    /// A copy of [`Claims::gateway_claims`].
    pub fn to_gateway_claims(&self) -> BTreeMap<String, String> {
        self.gateway_claims().clone()
    }

    /// The claims as API Gateway renders them ([`Claims::to_gateway_claims`]), made on first use
    /// and kept: every clone of these claims (the verifier's remembered token, each request's
    /// caller) shares the one rendering.
    pub fn gateway_claims(&self) -> &BTreeMap<String, String> {
        self.0.gateway.get_or_init(|| {
            self.0
                .map
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), gateway_value(v)?)))
                .collect()
        })
    }

    /// The identity `mapping` makes of these claims: made on first use and kept with the claims for
    /// that mapping (the one [`Arc`], compared by address), made anew for any other.
    pub fn identity_by(&self, mapping: &Arc<dyn IdentityMapping>) -> Arc<Identity> {
        match self.0.identity.get() {
            Some((kept, identity)) if Arc::ptr_eq(kept, mapping) => identity.clone(),
            Some(_) => Arc::new(mapping.identity(self)),
            None => {
                let identity = Arc::new(mapping.identity(self));
                // A racing request may have kept its own (equal) identity first: either serves.
                let _ = self.0.identity.set((mapping.clone(), identity.clone()));
                identity
            }
        }
    }

    /// `requestContext.authorizer.jwt.scopes`: null on routes without authorization scopes, and the
    /// token's whole scope list on scoped routes.
    pub fn gateway_scopes(&self, route_has_scopes: bool) -> Option<Vec<String>> {
        route_has_scopes.then(|| self.scopes().into_iter().map(str::to_owned).collect())
    }

    /// Reads a gateway claim map back (the inverse of [`Claims::to_gateway_claims`]): bracketed
    /// values become lists of strings, JSON-object text becomes an object, the numeric dates
    /// (`exp`, `iat`, `nbf`, `auth_time`) become numbers, everything else stays a string.
    /// Lossy where API Gateway's rendering is: a list element that contained a space comes back split.
    pub fn from_gateway_claims<K, V>(map: impl IntoIterator<Item = (K, V)>) -> Claims
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        Claims::from_rendering(map, true)
    }

    /// The claims of the bearer token in `authorization` (an `Authorization` header value) when
    /// they render exactly to `rendered`, the claim map a gateway's JWT authorizer put in the
    /// request context after verifying that very header: then they are the verified claims with
    /// their JSON types (lists stay lists, whatever their members hold). The signature is not
    /// checked here — the rendering match is what ties the token to the verdict — so this is only
    /// for a header that is the authorizer's identity source. `None` otherwise.
    pub fn from_verified_header(
        authorization: &str,
        rendered: &BTreeMap<String, String>,
    ) -> Option<Claims> {
        let token = authorization
            .strip_prefix("Bearer ")
            .unwrap_or(authorization)
            .trim();
        let decoded = crate::token::decode(token, &crate::Algorithm::ALL).ok()?;
        let claims = Claims::from_map(decoded.payload);
        (claims.gateway_claims() == rendered).then_some(claims)
    }

    /// The claims of the token in `authorization` (an `Authorization` value, `Bearer ` prefix or
    /// not) that an Application Load Balancer's `jwt-validation` action verified and passed on
    /// unchanged: the ALB forwards the request untouched and puts the claims nowhere else, so its
    /// target reads them from the token. Nothing is checked here but the token's shape (a signed
    /// compact JWS whose header and payload are JSON objects): only for a target every request of
    /// which went through the action. `None` for anything else.
    pub fn from_forwarded_token(authorization: &str) -> Option<Claims> {
        let token = crate::token::identity_source(authorization).ok()?;
        let decoded = crate::token::decode(token, &crate::Algorithm::ALL).ok()?;
        Some(Claims::from_map(decoded.payload))
    }

    /// API Gateway's rendering read without guessing: list renderings (`"[Everyone Not admin]"`)
    /// stay the strings they are, since a member holding a space cannot be told from two members
    /// (splitting would invent a group `admin`). Numeric dates and JSON objects, which render
    /// unambiguously, are read back.
    pub fn from_gateway_rendering<K, V>(map: impl IntoIterator<Item = (K, V)>) -> Claims
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        Claims::from_rendering(map, false)
    }

    fn from_rendering<K, V>(map: impl IntoIterator<Item = (K, V)>, split_lists: bool) -> Claims
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let claims = map
            .into_iter()
            .map(|(k, v)| {
                let (k, v) = (k.as_ref(), v.as_ref());
                (k.to_owned(), from_gateway_string(k, v, split_lists))
            })
            .collect();
        Claims::from_map(claims)
    }
}

fn string_or_list(value: Option<&Value>) -> Vec<&str> {
    match value {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// One claim value as API Gateway renders it in a claim map (see [`Claims::to_gateway_claims`]);
/// `None` for null, which API Gateway leaves out.
pub fn gateway_value(value: &Value) -> Option<String> {
    (!value.is_null()).then(|| gateway_string(value))
}

fn gateway_string(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(gateway_element).collect();
            format!("[{}]", parts.join(" "))
        }
        other => other.to_string(),
    }
}

fn gateway_element(value: &Value) -> String {
    match value {
        Value::Null => "<nil>".to_owned(),
        other => gateway_string(other),
    }
}

fn from_gateway_string(name: &str, text: &str, split_lists: bool) -> Value {
    if NUMERIC_DATES.contains(&name)
        && let Ok(n) = text.parse::<i64>()
    {
        return Value::from(n);
    }
    if split_lists && let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        return Value::Array(
            inner
                .split_whitespace()
                .map(|s| Value::String(s.to_owned()))
                .collect(),
        );
    }
    if text.starts_with('{')
        && let Ok(object @ Value::Object(_)) = serde_json::from_str::<Value>(text)
    {
        return object;
    }
    Value::String(text.to_owned())
}
