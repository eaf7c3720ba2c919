//! What the REST API and ALB gates need beyond the [`crate::Plan`]: each trusted issuer with its
//! audiences, additional claim rules and (for the ALB) its explicit key-set endpoint, and the
//! algorithms. Settings a gate cannot take as configured are refused here, before anything is
//! written or created; settings it takes differently are said ([`GateRules::notes`]).

use portcullis_config::{AuthSettings, ClaimRule, Gate, Provider};

use portcullis_config::Routes;

use crate::{CREATED_POOL_ISSUER, Issuer, Plan, Runtime, Value, ids};

/// Why a configuration cannot be deployed as it is: each names the setting and what to change.
/// Decided here, before anything is written or created; the command line only reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Undeployable {
    /// Several issuers behind an ALB, whose action takes one.
    #[error(
        "auth: {count} issuers are trusted, and an ALB jwt-validation action takes one issuer \
         (set auth.cognito.issuer_type to original or updated, or use gate = \"rest-api\")"
    )]
    AlbIssuers {
        /// How many are trusted.
        count: usize,
    },
    /// `[cors]` behind a REST API, whose CORS is not exported.
    #[error(
        "[cors]: a REST API's CORS (OPTIONS methods and gateway responses) is not exported; \
         answer CORS in the service and remove [cors], or use gate = \"http-api\""
    )]
    RestCors,
    /// A route's parameter mappings behind a REST API.
    #[error(
        "routes.\"{route}\".parameters: a REST API's integration request mappings \
         (integration.request.header.*) are not exported; map the claims in the service, or use \
         gate = \"http-api\""
    )]
    RestParameterMappings {
        /// The route key.
        route: String,
    },
    /// A route no ALB listener rule can match.
    #[error(
        "routes.\"{route}\": an ALB listener rule matches one method and a literal path; \
         templates, ANY and $default are not exported"
    )]
    AlbRoute {
        /// The route key.
        route: String,
    },
    /// A `scope` claim rule beside route scopes, which the ALB writes as that same rule.
    #[error(
        "auth.claims.scope: a route's scopes are the ALB rule's scope claim; a claim rule \
         named scope beside them would be a second one"
    )]
    AlbScopeRule,
    /// No key-set URL for the ALB, which reads no discovery document.
    #[error(
        "auth.jwks_uri: the ALB takes an explicit JwksEndpoint and reads no \
         discovery document: set it to {issuer}'s https key set URL"
    )]
    AlbJwksMissing {
        /// The issuer without one.
        issuer: String,
    },
    /// A key-set URL the ALB cannot fetch.
    #[error("auth.jwks_uri {url:?}: an ALB fetches keys from a public https URL")]
    AlbJwksNotHttps { url: String },
    /// Parameter mappings on a route of the Lambda runtime, which has no HTTP proxy integration.
    #[error(
        "routes.\"{route}\".parameters: request parameter mappings apply to an HTTP proxy integration \
         (--runtime standalone); a Lambda function gets the claims in its event instead"
    )]
    LambdaParameterMappings {
        /// The route key.
        route: String,
    },
}

/// What `gate` is deployed with for `issuer`, the `plan` made for it and the configured `routes`,
/// or why that cannot be deployed ([`gate_rules`], and the runtime's own limits).
pub fn deployable(
    issuer: Issuer<'_>,
    gate: Gate,
    plan: &Plan,
    routes: &Routes,
) -> Result<GateRules, Undeployable> {
    let rules = gate_rules(issuer, gate, plan)?;
    if plan.runtime == Runtime::Lambda
        && let Some(route) = routes.iter().find(|r| !r.parameters().is_empty())
    {
        return Err(Undeployable::LambdaParameterMappings { route: route.key() });
    }
    Ok(rules)
}

/// The gate's rules as a deployment writes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateRules {
    /// The gate deployed.
    pub gate: Gate,
    /// The accepted algorithms (REST's `DefaultAlgorithms`).
    pub algorithms: Vec<String>,
    /// The trusted issuers, in configuration order.
    pub issuers: Vec<TrustedIssuer>,
    /// How a setting was mapped onto the gate, for the deploy to print.
    pub notes: Vec<String>,
}

/// One trusted issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedIssuer {
    /// Compared exactly with `iss`.
    pub issuer: Value,
    /// Accepted `aud` values (REST; the ALB checks none).
    pub audiences: Vec<Value>,
    /// Additional claim rules.
    pub claims: Vec<ClaimRule>,
    /// The ALB's `JwksEndpoint` (it reads no discovery document).
    pub jwks_endpoint: Option<Value>,
}

/// The rules `gate` is deployed with for `issuer` and the `plan` made for it, or why it cannot be
/// deployed as configured (the setting, and what to change).
pub fn gate_rules(issuer: Issuer<'_>, gate: Gate, plan: &Plan) -> Result<GateRules, Undeployable> {
    let mut notes = Vec::new();
    let (issuers, algorithms) = match issuer {
        Issuer::TutorialCognitoPool => (
            vec![TrustedIssuer {
                issuer: Value::Sub(CREATED_POOL_ISSUER.to_owned()),
                audiences: vec![Value::Ref(ids::USER_POOL_CLIENT)],
                claims: Vec::new(),
                jwks_endpoint: Some(Value::Sub(format!(
                    "{CREATED_POOL_ISSUER}/.well-known/jwks.json"
                ))),
            }],
            vec!["RS256".to_owned()],
        ),
        Issuer::Configured(auth) => configured(auth, gate)?,
    };
    match gate {
        Gate::HttpApi | Gate::Alb if issuers.len() > 1 => {
            let first = match &issuers[0].issuer {
                Value::Literal(text) => text.clone(),
                _ => "the first issuer".to_owned(),
            };
            if gate == Gate::Alb {
                return Err(Undeployable::AlbIssuers {
                    count: issuers.len(),
                });
            }
            let others: Vec<String> = issuers[1..]
                .iter()
                .map(|i| match &i.issuer {
                    Value::Literal(text) => text.clone(),
                    _ => "another issuer".to_owned(),
                })
                .collect();
            notes.push(format!(
                "the HTTP API JWT authorizer takes one issuer: it is deployed with {first}, and \
                 tokens of {} are refused at the gate (gate = \"rest-api\" trusts several)",
                others.join(", ")
            ));
        }
        _ => {}
    }
    if gate == Gate::RestApi && plan.cors.is_some() {
        return Err(Undeployable::RestCors);
    }
    if gate == Gate::RestApi
        && let Some(route) = plan.routes.iter().find(|r| !r.parameters.is_empty())
    {
        return Err(Undeployable::RestParameterMappings {
            route: route.key.clone(),
        });
    }
    if gate == Gate::Alb {
        // A listener rule matches literal paths and methods: a path template or ANY would never
        // match, and its requests would reach the listener's default action unchecked.
        if let Some(route) = plan.routes.iter().find(|r| {
            let (method, path) = r.key.split_once(' ').unwrap_or(("ANY", "$default"));
            method == "ANY" || path.contains('{') || r.key == "$default"
        }) {
            return Err(Undeployable::AlbRoute {
                route: route.key.clone(),
            });
        }
        if plan.routes.iter().any(|r| !r.scopes.is_empty())
            && issuers
                .iter()
                .any(|i| i.claims.iter().any(|c| c.name() == "scope"))
        {
            return Err(Undeployable::AlbScopeRule);
        }
        notes.push(
            "the ALB checks no audience: add an [[auth.claims]] rule named aud to check one"
                .to_owned(),
        );
        notes.push(
            "each route's scopes become a scope claim rule (space-separated-values) on its listener rule"
                .to_owned(),
        );
    }
    if let Issuer::Configured(auth) = issuer
        && let Some(token_use) = auth.configs.first().and_then(|c| c.token_use())
    {
        notes.push(format!(
            "auth.token_use = \"{token_use}\" is checked where Portcullis judges tokens, not by the {}: \
             add a claim rule named token_use to have the gate check it{}",
            gate.title(),
            if gate == Gate::HttpApi { " (the HTTP API takes none)" } else { "" }
        ));
    }
    if gate != Gate::HttpApi && plan.runtime == Runtime::Lambda {
        notes.push(format!(
            "the function gets the {} event ({})",
            gate.title(),
            match gate {
                Gate::RestApi => "top-level claims with their JSON types",
                _ => "the request untouched; it reads the forwarded token",
            }
        ));
    }
    Ok(GateRules {
        gate,
        algorithms,
        issuers,
        notes,
    })
}

/// The configured issuers and algorithms.
fn configured(
    auth: &AuthSettings,
    gate: Gate,
) -> Result<(Vec<TrustedIssuer>, Vec<String>), Undeployable> {
    let known_jwks = match &auth.provider {
        Provider::Cognito(pool) => Some(pool.jwks_uri()),
        Provider::Auth0(tenant) => Some(tenant.jwks_uri()),
        Provider::Okta(okta) => Some(okta.jwks_uri()),
        _ => None,
    };
    let mut issuers = Vec::new();
    for config in &auth.configs {
        // Only the ALB takes an explicit key-set URL (API Gateway reads discovery).
        let jwks_endpoint = match gate {
            Gate::Alb => {
                let url = config
                    .jwks_uri()
                    .map(ToString::to_string)
                    .or(known_jwks.clone())
                    .ok_or_else(|| Undeployable::AlbJwksMissing {
                        issuer: config.issuer().to_owned(),
                    })?;
                if !url.starts_with("https://") {
                    return Err(Undeployable::AlbJwksNotHttps { url });
                }
                Some(Value::Literal(url))
            }
            Gate::HttpApi | Gate::RestApi => None,
        };
        issuers.push(TrustedIssuer {
            issuer: Value::Literal(config.issuer().to_owned()),
            audiences: Value::literals(config.audiences()),
            claims: config.claims().to_vec(),
            jwks_endpoint,
        });
    }
    let algorithms = auth
        .configs
        .first()
        .map(|c| {
            c.algorithms()
                .iter()
                .map(|a| a.as_str().to_owned())
                .collect()
        })
        .unwrap_or_default();
    Ok((issuers, algorithms))
}
