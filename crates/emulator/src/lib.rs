//! A local stand-in for what sits around a deployed API, on 127.0.0.1: an HTTP API whose JWT
//! authorizer is Portcullis, in front of either a Lambda function (through a local Lambda Runtime
//! API) or an HTTP backend (an HTTP proxy integration). Development and tests only.
//!
//! - [`gateway`]: the route table (API Gateway's matching, `404 {"message":"Not Found"}` otherwise),
//!   the JWT authorizer on protected routes (answering 401/403 itself, as API Gateway does), then the
//!   route's integration.
//! - [`event`]: the payload-2.0 event a Lambda proxy integration sends, and the function's answer
//!   turned back into an HTTP response.
//! - [`runtime_api`]: the documented Runtime API (`/2018-06-01/runtime/invocation/next`,
//!   `…/{id}/response`, `…/{id}/error`, `/2018-06-01/runtime/init/error`) the function's `bootstrap`
//!   polls.
//! - [`upstream`]: the HTTP proxy integration: the request forwarded as it came (the `Authorization`
//!   header included), changed only by the route's parameter mappings.

pub mod event;
pub mod gateway;
pub mod runtime_api;
pub mod upstream;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use portcullis_axum::serve::{Limits, serve_with};
use portcullis_claims::Authorizer;
use portcullis_claims::metrics::Metrics;
use portcullis_config::{CorsSettings, Routes};
use tokio::sync::oneshot;

use crate::runtime_api::Queue;

/// How long the gateway waits for the integration (API Gateway's HTTP API limit is 30 s).
pub const INTEGRATION_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the gateway sends a request its authorizer let through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Integration {
    /// A Lambda proxy integration (payload 2.0), answered by the function polling the local Runtime
    /// API.
    Lambda,
    /// An HTTP proxy integration to this base URL (`http://127.0.0.1:8080`): the request path and
    /// query are appended, as the deployed standalone runtime maps `overwrite:path` to
    /// `$request.path`.
    Http(reqwest::Url),
}

/// A running emulator. Dropping it stops its servers.
pub struct Emulator {
    gateway: SocketAddr,
    runtime_api: SocketAddr,
    queue: Arc<Queue>,
    stop: Vec<oneshot::Sender<()>>,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("gateway", &self.gateway)
            .field("runtime_api", &self.runtime_api)
            .finish()
    }
}

/// What an emulator serves, and how: its authorizer and routes, with neither CORS nor metrics, a
/// Lambda proxy integration and the default [`Limits`] until told otherwise.
#[derive(Debug)]
pub struct Setup {
    /// The JWT authorizer of protected routes.
    pub authorizer: Authorizer,
    /// The routes, matched as API Gateway matches them.
    pub routes: Routes,
    /// With a CORS configuration, the gateway answers preflights and adds CORS headers, as an HTTP
    /// API with that `CorsConfiguration` does.
    pub cors: Option<CorsSettings>,
    /// Where requests the authorizer let through go.
    pub integration: Integration,
    /// What one client may hold of the gateway and the Runtime API.
    pub limits: Limits,
    /// Where the gateway counts its decisions and its listeners their rejections.
    pub metrics: Option<Metrics>,
}

impl Setup {
    /// `routes` judged by `authorizer`, in front of a Lambda function.
    pub fn new(authorizer: Authorizer, routes: Routes) -> Setup {
        Setup {
            authorizer,
            routes,
            cors: None,
            integration: Integration::Lambda,
            limits: Limits::default(),
            metrics: None,
        }
    }
}

impl Emulator {
    /// Starts the gateway `setup` describes on `gateway_listen` (a loopback address; port 0 picks
    /// one) and the Runtime API on an OS-chosen loopback port (idle for an HTTP backend).
    pub async fn start(setup: Setup, gateway_listen: &str) -> std::io::Result<Emulator> {
        let queue = Arc::new(Queue::default());
        let runtime_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let gateway_listener = tokio::net::TcpListener::bind(gateway_listen).await?;
        let runtime_api = runtime_listener.local_addr()?;
        let gateway = gateway_listener.local_addr()?;
        let (limits, metrics) = (setup.limits, setup.metrics.clone());
        let cors = setup.cors.clone();
        let state = gateway::Gateway::new(setup, queue.clone(), gateway.to_string())?;
        let mut stop = Vec::new();
        for (listener, app) in [
            (runtime_listener, runtime_api::router(queue.clone())),
            (gateway_listener, gateway::router(state, cors)),
        ] {
            stop.push(spawn_server(listener, app, limits, metrics.clone()));
        }
        Ok(Emulator {
            gateway,
            runtime_api,
            queue,
            stop,
        })
    }

    /// The events the function was handed, found by the `apigw-requestid` of the gateway's
    /// answer: in memory only, and once [`Queue::keep_recent_events`] asks for them.
    pub fn events(&self) -> Arc<Queue> {
        self.queue.clone()
    }

    /// The gateway's base URL, `http://127.0.0.1:PORT`.
    pub fn gateway_url(&self) -> String {
        format!("http://{}", self.gateway)
    }

    /// The value for the function's `AWS_LAMBDA_RUNTIME_API` variable (`127.0.0.1:PORT`).
    pub fn runtime_api(&self) -> String {
        self.runtime_api.to_string()
    }

    /// Invocations the function has answered so far.
    pub fn invocations(&self) -> u64 {
        self.queue.answered()
    }

    /// Invokes the function directly with `event`, as `aws lambda invoke` does (no gateway, no
    /// authorizer), and waits for its answer: the response document, or the error it reported.
    /// Gives up after [`INTEGRATION_TIMEOUT`] (`TimedOut`).
    pub async fn invoke(&self, event: serde_json::Value) -> std::io::Result<runtime_api::Outcome> {
        let (id, answer) = self.queue.enqueue(event);
        match tokio::time::timeout(INTEGRATION_TIMEOUT, answer).await {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(_)) => Err(std::io::Error::other(
                "the Runtime API dropped the invocation",
            )),
            Err(_) => {
                self.queue.forget(&id);
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no answer from the function in {INTEGRATION_TIMEOUT:?}"),
                ))
            }
        }
    }

    /// The environment a `bootstrap` needs to run against this emulator.
    pub fn function_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_LAMBDA_RUNTIME_API", self.runtime_api()),
            ("AWS_LAMBDA_FUNCTION_NAME", "portcullis-local".into()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".into()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "local".into()),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                "/aws/lambda/portcullis-local".into(),
            ),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        for stop in self.stop.drain(..) {
            let _ = stop.send(());
        }
    }
}

fn spawn_server(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: Limits,
    metrics: Option<Metrics>,
) -> oneshot::Sender<()> {
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(serve_with(listener, app, limits, metrics, async {
        let _ = rx.await;
    }));
    tx
}
