//! [`run`]: any tower service on the Lambda Runtime API, each event normalised first.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use lambda_http::request::LambdaRequest;
use lambda_http::{Body, Request, Response};
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::Value;
use tower::Service;

use crate::normalize_event;

/// Serves `service` on the Lambda Runtime API, normalising each event first (see [`normalize_event`]).
pub async fn run<S, R>(service: S) -> Result<(), lambda_runtime::Error>
where
    S: Service<Request, Response = R, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
    R: lambda_http::IntoResponse + 'static,
{
    lambda_runtime::run(Lenient {
        adapter: lambda_http::Adapter::from(service),
    })
    .await
}

/// Normalises the raw event, then hands it to `lambda_http`'s own adapter.
struct Lenient<A> {
    adapter: A,
}

impl<A> Service<LambdaEvent<Value>> for Lenient<A>
where
    A: Service<LambdaEvent<LambdaRequest>, Error = Infallible>,
    A::Future: Send + 'static,
    A::Response: Send + 'static,
{
    type Response = A::Response;
    type Error = Diagnostic;
    type Future = Pin<Box<dyn Future<Output = Result<A::Response, Diagnostic>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.adapter.poll_ready(cx).map_err(|never| match never {})
    }

    fn call(&mut self, event: LambdaEvent<Value>) -> Self::Future {
        let LambdaEvent {
            mut payload,
            context,
        } = event;
        normalize_event(&mut payload);
        match serde_json::from_value::<LambdaRequest>(payload) {
            Ok(request) => {
                let future = self.adapter.call(LambdaEvent::new(request, context));
                Box::pin(async move { future.await.map_err(|never| match never {}) })
            }
            Err(error) => Box::pin(async move {
                Err(Diagnostic {
                    error_type: "UnsupportedEvent".into(),
                    error_message: format!("not an API Gateway or ALB HTTP event: {error}"),
                })
            }),
        }
    }
}

/// The response type `lambda_http` sends back.
pub type HttpResponse = Response<Body>;
