//! One view of the caller, whatever the provider: who, which groups, which scopes, which token.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use crate::claims::Claims;

/// What kind of token the caller presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    /// An OpenID Connect id token (Cognito `token_use = "id"`).
    Id,
    /// An OAuth access token.
    Access,
    /// The token does not say.
    Unknown,
}

/// The caller as handlers see it, mapped from provider-specific claims by an [`IdentityMapping`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// `sub`.
    pub subject: Option<String>,
    /// The provider's user name claim.
    pub username: Option<String>,
    /// `email`.
    pub email: Option<String>,
    /// Group or role memberships (Cognito `cognito:groups`, Okta `groups`, an Auth0 roles claim).
    pub groups: Vec<String>,
    /// Fine-grained permissions (Auth0 RBAC `permissions`).
    pub permissions: Vec<String>,
    /// Every OAuth scope the token carries (`scope` or `scp`), whatever the route requires; in
    /// JSON `scopes`. (Not [`Caller::gateway_scopes`], which is what API Gateway reports.)
    #[serde(rename = "scopes")]
    pub token_scopes: Vec<String>,
    /// The OAuth client the token was issued to (`client_id`, `azp`, `cid`).
    pub client_id: Option<String>,
    /// Id or access token.
    pub token_kind: TokenKind,
}

/// Turns verified claims into an [`Identity`]. Each provider crate implements it with its claim names.
pub trait IdentityMapping: fmt::Debug + Send + Sync {
    /// The identity these claims describe.
    fn identity(&self, claims: &Claims) -> Identity;
}

/// The mapping for any OpenID Connect issuer: standard claim names only.
///
/// ```
/// use portcullis_claims::{Claims, IdentityMapping, OidcMapping, TokenKind};
/// let claims = Claims::from_json(serde_json::json!({
///     "sub": "u1", "preferred_username": "alice", "scope": "read write", "azp": "web",
/// })).unwrap();
/// let who = OidcMapping.identity(&claims);
/// assert_eq!(who.username.as_deref(), Some("alice"));
/// assert_eq!(who.token_scopes, ["read", "write"]);
/// assert_eq!(who.client_id.as_deref(), Some("web"));
/// assert_eq!(who.token_kind, TokenKind::Access); // it carries scopes
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct OidcMapping;

impl IdentityMapping for OidcMapping {
    fn identity(&self, claims: &Claims) -> Identity {
        Identity {
            subject: claims.sub().map(str::to_owned),
            username: first_string(
                claims,
                &["preferred_username", "username", "cognito:username"],
            ),
            email: claims.email().map(str::to_owned),
            groups: owned(claims.groups()),
            permissions: owned(claims.strings("permissions")),
            token_scopes: owned(claims.scopes()),
            client_id: first_string(claims, &["client_id", "azp", "cid"]),
            token_kind: token_kind(claims),
        }
    }
}

/// The first of `names` that is a string claim.
pub fn first_string(claims: &Claims, names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|n| claims.get(n)?.as_str())
        .map(str::to_owned)
}

/// Borrowed strings to owned ones.
pub fn owned(items: Vec<&str>) -> Vec<String> {
    items.into_iter().map(str::to_owned).collect()
}

/// `token_use` when present (Cognito); else an id token if it carries `nonce` or `at_hash`
/// (OIDC Core §2), an access token if it carries `scope`/`scp`; else unknown.
pub fn token_kind(claims: &Claims) -> TokenKind {
    match claims.token_use() {
        Some("id") => TokenKind::Id,
        Some("access") => TokenKind::Access,
        Some(_) => TokenKind::Unknown,
        None if claims.get("nonce").is_some() || claims.get("at_hash").is_some() => TokenKind::Id,
        None if claims.get("scope").is_some() || claims.get("scp").is_some() => TokenKind::Access,
        None => TokenKind::Unknown,
    }
}

/// The authenticated caller of one request, as every runtime hands it to handlers: the verified (or
/// gateway-provided) claims, the mapped identity, and the scopes as API Gateway reports them
/// (`None` on routes without authorization scopes). Made only by its constructors: [`Caller::new`]
/// for claims a verifier judged, [`Caller::from_gateway`] for a context API Gateway built.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Caller {
    /// The claims.
    pub claims: Claims,
    /// Who the claims say the caller is (shared: a remembered token's identity is mapped once).
    pub identity: Arc<Identity>,
    /// `requestContext.authorizer.jwt.scopes` as API Gateway reports them: `None` on routes
    /// without authorization scopes, the token's whole scope list otherwise. (The token's own scopes
    /// on any route are [`Identity::token_scopes`].)
    pub gateway_scopes: Option<Vec<String>>,
}

impl Caller {
    /// A caller from claims, mapped with `mapping`, on a route with or without scopes.
    pub fn new(claims: Claims, mapping: &dyn IdentityMapping, route_has_scopes: bool) -> Caller {
        let gateway_scopes = claims.gateway_scopes(route_has_scopes);
        Caller::from_gateway(claims, mapping, gateway_scopes)
    }

    /// A caller from the claims and scopes an API Gateway JWT authorizer put in the request
    /// context, mapped with `mapping`.
    pub fn from_gateway(
        claims: Claims,
        mapping: &dyn IdentityMapping,
        gateway_scopes: Option<Vec<String>>,
    ) -> Caller {
        let identity = Arc::new(mapping.identity(&claims));
        Caller {
            claims,
            identity,
            gateway_scopes,
        }
    }

    /// As [`Caller::new`], with the identity `mapping` made of these claims the first time kept
    /// with them ([`Claims::identity_by`]): a token the verifier remembers is mapped once.
    pub fn remembered(
        claims: Claims,
        mapping: &Arc<dyn IdentityMapping>,
        route_has_scopes: bool,
    ) -> Caller {
        Caller {
            gateway_scopes: claims.gateway_scopes(route_has_scopes),
            identity: claims.identity_by(mapping),
            claims,
        }
    }

    /// `requestContext.authorizer.jwt` as API Gateway builds it for payload 2.0:
    /// `{"claims": {…strings…}, "scopes": null | [...]}`.
    pub fn gateway_jwt(&self) -> serde_json::Value {
        serde_json::json!({ "claims": self.claims.gateway_claims(), "scopes": self.gateway_scopes })
    }
}
