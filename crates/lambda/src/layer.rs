//! [`VouchedLayer`]: what the gate in front vouched for, through the one admission.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use lambda_http::http;
use lambda_http::request::RequestContext;
use portcullis_claims::http::{Admission, Inbound, Route};
use portcullis_claims::metrics::Metrics;
use portcullis_claims::{Gate, IdentityMapping, IdentitySource};
use tower::{Layer, Service};

use crate::context::{route_name, vouched_claims};

/// Trusts what the gate in front of the function vouched for (mode `gateway`), through the one
/// [`Admission`] every runtime calls: a request without claims is refused with 401, and a route's
/// configured scopes are checked again (403), so a misconfigured API fails closed.
#[derive(Clone, Debug)]
pub struct VouchedLayer {
    admission: Admission,
}

impl VouchedLayer {
    /// Maps gateway claims with `mapping`; `scopes` names each route's required scopes. Behind an
    /// HTTP API, its token in `Authorization`; it names no configured issuer, so with
    /// [`VouchedLayer::with_metrics`] every decision is counted under the empty issuer: use
    /// [`VouchedLayer::behind`] to name the gate, the identity source and the issuers.
    pub fn new(
        mapping: Arc<dyn IdentityMapping>,
        scopes: impl Fn(&http::Method, &str) -> Vec<String> + Send + Sync + 'static,
    ) -> VouchedLayer {
        VouchedLayer::behind(
            Gate::HttpApi,
            IdentitySource::default(),
            Vec::new(),
            mapping,
            scopes,
        )
    }

    /// Trusts `gate`'s events only, its token read from `source` ([`vouched_claims`]): the
    /// gate and identity source the function is deployed behind. `issuers` are the configured
    /// issuers, the only ones a decision is counted under.
    pub fn behind(
        gate: Gate,
        source: IdentitySource,
        issuers: Vec<String>,
        mapping: Arc<dyn IdentityMapping>,
        scopes: impl Fn(&http::Method, &str) -> Vec<String> + Send + Sync + 'static,
    ) -> VouchedLayer {
        VouchedLayer {
            admission: Admission::vouched(gate, source, issuers, mapping, scopes),
        }
    }

    /// Counts every decision in `metrics`, by the route API Gateway matched, the issuer (the
    /// claims' `iss` when it is one of the issuers given to [`VouchedLayer::behind`], else none)
    /// and reason. Each refusal is logged either way.
    pub fn with_metrics(self, metrics: Metrics) -> VouchedLayer {
        VouchedLayer {
            admission: self.admission.with_metrics(metrics),
        }
    }
}

impl<S> Layer<S> for VouchedLayer {
    type Service = VouchedService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        VouchedService {
            inner,
            admission: self.admission.clone(),
        }
    }
}

/// The service of [`VouchedLayer`].
#[derive(Clone)]
pub struct VouchedService<S> {
    inner: S,
    admission: Admission,
}

impl<S> std::fmt::Debug for VouchedService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VouchedService")
    }
}

impl<S, B, ResBody> Service<http::Request<B>> for VouchedService<S>
where
    S: Service<http::Request<B>, Response = http::Response<ResBody>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    ResBody: From<String> + Send + 'static,
{
    type Response = http::Response<ResBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        // Every method is judged: OPTIONS reaches the function only through a route (API
        // Gateway answers CORS preflights itself when the API has a CORS configuration).
        let admission = &self.admission;
        let vouched = vouched_claims(&request, admission.gate(), admission.identity_source());
        let context = request.extensions().get::<RequestContext>();
        let name = || route_name(context);
        let inbound = Inbound {
            method: request.method(),
            uri: request.uri(),
            headers: request.headers(),
            route: Route::Lookup { name: &name },
        };
        let admitted = admission.admit_vouched(&inbound, vouched);
        Box::pin(async move {
            match admitted {
                Ok(caller) => {
                    request.extensions_mut().insert(caller);
                    inner.call(request).await
                }
                Err(refusal) => Ok(refusal),
            }
        })
    }
}
