//! The one admission: route rule → judge → count and log → [`Caller`] or the gate's refusal.
//!
//! Every place that lets a request in calls it — `portcullis-axum`'s layer and its `Authenticated`
//! extractor, `portcullis-lambda`'s gateway layer, the local gateway — and only translates its own
//! request into an [`Inbound`] and the answer back. The order below is written nowhere else.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{HeaderMap, Method, Response, Uri};

use super::{ScopeRule, identity, rule_method};
use crate::metrics::{Decision, Metrics};
use crate::{AuthError, Authorizer, Caller, Claims, Gate, IdentityMapping, IdentitySource};

/// Admits or refuses requests for one gate: judging their tokens itself ([`Admission::verifying`])
/// or trusting what the gate in front of it already verified ([`Admission::vouched`]). A clone
/// shares everything.
#[derive(Clone)]
pub struct Admission {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    authority: Authority,
    mapping: Arc<dyn IdentityMapping>,
    /// `None`: routes come matched ([`Route::Matched`]); a lookup is refused.
    rules: Option<ScopeRule>,
    metrics: Option<Metrics>,
}

/// Who vouches for the token.
#[derive(Clone)]
enum Authority {
    /// This process: the token is judged by the authorizer.
    Verifier(Authorizer),
    /// The gate in front (API Gateway's authorizer, the ALB's action) verified it and put the
    /// claims in the request; `issuers` are the configured ones, the only issuers a count names.
    Gate {
        gate: Gate,
        source: IdentitySource,
        issuers: Box<[String]>,
    },
}

impl std::fmt::Debug for Admission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = f.debug_struct("Admission");
        match &self.inner.authority {
            Authority::Verifier(authorizer) => out.field("authorizer", authorizer),
            Authority::Gate { gate, .. } => out.field("vouched_by", gate),
        };
        out.field("mapping", &self.inner.mapping)
            .field("metrics", &self.inner.metrics.is_some())
            .finish_non_exhaustive()
    }
}

/// One request as the admission sees it. The rule is looked up by `method` and `path` unless
/// `route` is already [`Route::Matched`].
#[derive(Clone, Copy)]
pub struct Inbound<'r> {
    /// The method as the client sent it.
    pub method: &'r Method,
    /// The target as the client sent it (the path selects the rule; the query may hold the token).
    pub uri: &'r Uri,
    /// The request's headers.
    pub headers: &'r HeaderMap,
    /// Which route the request is judged under.
    pub route: Route<'r>,
}

/// How an [`Inbound`] request's route is known.
#[derive(Clone, Copy)]
pub enum Route<'r> {
    /// Found by the admission's rule table from the request's path and method, HEAD as GET (a
    /// framework router answers HEAD with the GET handler); `name` is how the route is counted and
    /// logged, asked only when a decision is counted or a refusal logged.
    Lookup {
        /// The route as API Gateway names route keys (`GET /items/{id}`, `$default`).
        name: &'r (dyn Fn() -> String + Sync),
    },
    /// Already matched as API Gateway matches it (the local gateway routes before it admits): the
    /// route key and the route's scopes.
    Matched {
        /// The route key.
        key: &'r str,
        /// The route's authorization scopes (empty: any valid token).
        scopes: &'r [String],
    },
}

impl Route<'_> {
    fn name(&self) -> String {
        match self {
            Route::Lookup { name } => name(),
            Route::Matched { key, .. } => (*key).to_owned(),
        }
    }
}

/// What a gate vouched for in the request: the claims, and the scopes it reports (`None` on a
/// route without scopes). `None` as a whole: it vouched for nothing.
pub type Vouched = Option<(Claims, Option<Vec<String>>)>;

impl Admission {
    /// An admission that judges each request's token with `authorizer` (its gate's rules and
    /// identity source), maps claims with `mapping`, and asks `rules` which scopes a request needs
    /// given its method (HEAD as GET) and path, as API Gateway matches routes.
    pub fn verifying(
        authorizer: Authorizer,
        mapping: Arc<dyn IdentityMapping>,
        rules: impl Fn(&Method, &str) -> Vec<String> + Send + Sync + 'static,
    ) -> Admission {
        Admission::with(
            Authority::Verifier(authorizer),
            mapping,
            Some(Arc::new(rules)),
        )
    }

    /// An admission that judges tokens with `authorizer` for routes the caller matched itself
    /// ([`Route::Matched`], as the local gateway matches them as API Gateway does): it has no rule
    /// table, so a request that asks it to look its route up is refused, never taken as needing
    /// no scopes.
    pub fn matched_routes_only(
        authorizer: Authorizer,
        mapping: Arc<dyn IdentityMapping>,
    ) -> Admission {
        Admission::with(Authority::Verifier(authorizer), mapping, None)
    }

    /// An admission behind `gate`, which verified the token (read from `source`) before the
    /// request got here: it refuses a request the gate vouched for nothing in (fail closed) and
    /// checks the route's scopes again. `issuers` are the configured issuers, the only ones a
    /// count names.
    pub fn vouched(
        gate: Gate,
        source: IdentitySource,
        issuers: Vec<String>,
        mapping: Arc<dyn IdentityMapping>,
        rules: impl Fn(&Method, &str) -> Vec<String> + Send + Sync + 'static,
    ) -> Admission {
        let authority = Authority::Gate {
            gate,
            source,
            issuers: issuers.into(),
        };
        Admission::with(authority, mapping, Some(Arc::new(rules)))
    }

    fn with(
        authority: Authority,
        mapping: Arc<dyn IdentityMapping>,
        rules: Option<ScopeRule>,
    ) -> Self {
        Admission {
            inner: Arc::new(Inner {
                authority,
                mapping,
                rules,
                metrics: None,
            }),
        }
    }

    /// Counts every decision in `metrics` (by route, issuer and reason, with its latency). Each
    /// refusal is logged either way ([`Decision::log`]).
    pub fn with_metrics(self, metrics: Metrics) -> Admission {
        if let Authority::Verifier(authorizer) = &self.inner.authority {
            // Judgements are timed, and cache hits counted, only for metrics.
            authorizer.count_statistics();
        }
        let mut inner = (*self.inner).clone();
        inner.metrics = Some(metrics);
        Admission {
            inner: Arc::new(inner),
        }
    }

    /// The gate whose rules and refusals apply.
    pub fn gate(&self) -> Gate {
        match &self.inner.authority {
            Authority::Verifier(authorizer) => authorizer.gate(),
            Authority::Gate { gate, .. } => *gate,
        }
    }

    /// Where the gate reads the token.
    pub fn identity_source(&self) -> &IdentitySource {
        match &self.inner.authority {
            Authority::Verifier(authorizer) => authorizer.identity_source(),
            Authority::Gate { source, .. } => source,
        }
    }

    /// The authorizer that judges tokens (`None` when a gate in front vouches for them).
    pub fn authorizer(&self) -> Option<&Authorizer> {
        match &self.inner.authority {
            Authority::Verifier(authorizer) => Some(authorizer),
            Authority::Gate { .. } => None,
        }
    }

    /// The request's route rule: the matched route's scopes, or the rule table's for its method
    /// (HEAD as GET) and path; `None` when there is no rule table to look it up in.
    fn scopes<'r>(&self, request: &Inbound<'r>) -> Option<std::borrow::Cow<'r, [String]>> {
        match request.route {
            Route::Matched { scopes, .. } => Some(scopes.into()),
            Route::Lookup { .. } => {
                let rules = self.inner.rules.as_ref()?;
                let method = rule_method(request.method);
                Some(rules(&method, request.uri.path()).into())
            }
        }
    }

    /// The fail-closed refusal of a request this admission cannot judge as asked: logged as an
    /// error (`why`), then as any refusal of a missing token.
    fn cannot_judge<B: From<String>>(&self, request: &Inbound<'_>, why: &str) -> Response<B> {
        tracing::error!(path = request.uri.path(), "{why}; refusing");
        refuse(
            self.gate(),
            &request.route.name(),
            self.inner.metrics.as_ref(),
        )
    }

    /// Admits `request` or answers the gate's refusal: its route rule, its token judged against
    /// it, the decision counted and (a refusal) logged, then the [`Caller`] handlers receive.
    /// Behind a vouching gate ([`Admission::vouched`]) use [`Admission::admit_vouched`].
    pub async fn admit<B: From<String>>(
        &self,
        request: &Inbound<'_>,
    ) -> Result<Caller, Response<B>> {
        let Authority::Verifier(authorizer) = &self.inner.authority else {
            // Nothing vouched for through this entry: fail closed.
            return self.admit_vouched(request, None);
        };
        let Some(scopes) = self.scopes(request) else {
            return Err(self.cannot_judge(request, "a route to look up, and no rule table"));
        };
        let judgement = authorizer
            .judge_request(request.uri, request.headers, &scopes)
            .await;
        let metrics = self.inner.metrics.as_ref();
        if metrics.is_some() || (judgement.verdict.is_err() && Decision::logged()) {
            let route = request.route.name();
            Metrics::observe(metrics, &Decision::of(&route, &judgement));
        }
        match judgement.verdict {
            Ok(claims) => Ok(Caller::remembered(
                claims,
                &self.inner.mapping,
                !scopes.is_empty(),
            )),
            Err(refusal) => Err(super::refusal(authorizer.gate(), &refusal)),
        }
    }

    /// Admits `request` on what the gate in front vouched for (`vouched`, read from the request by
    /// the adapter, or `None`): refused when it vouched for nothing, else the route's scopes are
    /// checked again, the decision counted and (a refusal) logged, then the [`Caller`].
    pub fn admit_vouched<B: From<String>>(
        &self,
        request: &Inbound<'_>,
        vouched: Vouched,
    ) -> Result<Caller, Response<B>> {
        let metrics = self.inner.metrics.as_ref();
        // Timed only for metrics, as the verifier times a judgement.
        let started = metrics.is_some().then(Instant::now);
        let elapsed = || started.map_or(Duration::ZERO, |s| s.elapsed());
        let gate = self.gate();
        if let Authority::Verifier(_) = &self.inner.authority {
            // Claims this process did not judge are trusted only behind a gate: fail closed.
            return Err(self.cannot_judge(
                request,
                "claims handed to an admission that verifies tokens",
            ));
        }
        let Some((claims, gateway_scopes)) = vouched else {
            return Err(self.cannot_judge(
                request,
                "no claims from the gate in the request: is the route's authorizer missing?",
            ));
        };
        let Some(scopes) = self.scopes(request) else {
            return Err(self.cannot_judge(request, "a route to look up, and no rule table"));
        };
        let verdict = crate::require_scopes(gate, &claims, &scopes);
        if metrics.is_some() || (verdict.is_err() && Decision::logged()) {
            let issuers: &[String] = match &self.inner.authority {
                Authority::Gate { issuers, .. } => issuers,
                Authority::Verifier(_) => &[], // refused above
            };
            let issuer = claims
                .iss()
                .and_then(|iss| issuers.iter().find(|known| *known == iss));
            // A refusal's line names the token's kid, as the verifying admission's does.
            let kid = verdict.is_err().then(|| {
                identity(request.uri, request.headers, self.identity_source())
                    .ok()
                    .flatten()
                    .and_then(|token| crate::token::header_kid(&token))
            });
            Metrics::observe(
                metrics,
                &Decision {
                    route: &request.route.name(),
                    issuer: issuer.map(String::as_str),
                    kid: kid.flatten().as_deref(),
                    refusal: verdict.as_ref().err(),
                    elapsed: elapsed(),
                },
            );
        }
        match verdict {
            Ok(()) => Ok(Caller::from_gateway(
                claims,
                self.inner.mapping.as_ref(),
                gateway_scopes,
            )),
            Err(refusal) => Err(super::refusal(gate, &refusal)),
        }
    }
}

/// The fail-closed refusal of a request that reached a protected handler without being admitted
/// (no admission ran in front of it): logged as an error and as the refusal line, answered as
/// `gate` answers a request without a token.
pub fn unadmitted<B: From<String>>(gate: Gate, route: &str) -> Response<B> {
    tracing::error!(
        route,
        "a protected handler ran without an admission in front of it; refusing"
    );
    refuse(gate, route, None)
}

/// A missing token's refusal, made before anything was judged (so it took no time): counted,
/// logged, answered as `gate` answers.
fn refuse<B: From<String>>(gate: Gate, route: &str, metrics: Option<&Metrics>) -> Response<B> {
    let refusal = AuthError::MissingToken;
    Metrics::observe(
        metrics,
        &Decision {
            route,
            issuer: None,
            kid: None,
            refusal: Some(&refusal),
            elapsed: Duration::ZERO,
        },
    );
    super::refusal(gate, &refusal)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use http::{HeaderMap, Method, Uri};
    use serde_json::json;

    use super::{Admission, Inbound, Route};
    use crate::{Authorizer, AuthorizerConfig, Claims, Gate, OidcMapping, VerifierOptions};

    fn authorizer() -> Authorizer {
        let config = AuthorizerConfig::new("https://issuer.example.com", ["api"]).expect("config");
        Authorizer::new([config], VerifierOptions::default()).expect("authorizer")
    }

    fn claims() -> Claims {
        let claims =
            json!({"iss": "https://issuer.example.com", "sub": "forged", "exp": 4_102_444_800u64});
        Claims::from_json(claims).expect("claims")
    }

    #[test]
    fn claims_handed_to_a_verifying_admission_are_never_trusted() {
        // Only an admission built behind a gate (`Admission::vouched`) takes claims it did not
        // judge; one that verifies tokens refuses them, whatever they say.
        let (method, uri, headers) = (Method::GET, Uri::from_static("/x"), HeaderMap::new());
        let name = || "GET /x".to_owned();
        let request = Inbound {
            method: &method,
            uri: &uri,
            headers: &headers,
            route: Route::Lookup { name: &name },
        };
        let admission = Admission::verifying(authorizer(), Arc::new(OidcMapping), |_, _| vec![]);
        let answer = admission
            .admit_vouched::<String>(&request, Some((claims(), None)))
            .expect_err("refused");
        assert_eq!(answer.status(), 401);
    }

    #[tokio::test]
    async fn an_admission_without_a_rule_table_refuses_a_route_it_must_look_up() {
        // The local gateway matches routes itself; were a request ever to reach its admission
        // unmatched, no rule table means no admission, not "no scopes needed".
        let admission = Admission::matched_routes_only(authorizer(), Arc::new(OidcMapping));
        let (method, uri) = (Method::GET, Uri::from_static("/x"));
        let mut headers = HeaderMap::new();
        headers.insert("authorization", "Bearer a.b.c".parse().expect("header"));
        let name = || "GET /x".to_owned();
        let request = Inbound {
            method: &method,
            uri: &uri,
            headers: &headers,
            route: Route::Lookup { name: &name },
        };
        let answer = admission
            .admit::<String>(&request)
            .await
            .expect_err("refused");
        assert_eq!(answer.status(), 401);
        assert_eq!(admission.gate(), Gate::HttpApi);
    }
}
