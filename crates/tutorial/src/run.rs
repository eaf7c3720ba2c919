//! Configuration → service → runtime, once for every way the service runs: the standalone binary,
//! the Lambda `bootstrap`, and `portcullis dev`, which runs the same service in its own process.

use portcullis_axum::AuthLayer;
use portcullis_axum::runtime::harden;
use portcullis_axum::serve::{Limits, serve, serve_with};
use portcullis_claims::VerifierOptions;
use portcullis_claims::metrics::{Metrics, PROMETHEUS_CONTENT_TYPE};
use portcullis_config::{ServerSettings, Settings};

use crate::keys::{embedded_jwks_path, load_keys};
use crate::{ProfileIssuers, Service, app, open_store};

/// Serves the standalone server on `listener` until `shutdown` completes, and `GET /metrics`
/// (Prometheus text) on `metrics` when given: a listener of its own, so the API's clients never
/// reach it.
pub async fn standalone(
    settings: &Settings,
    listener: tokio::net::TcpListener,
    metrics: Option<tokio::net::TcpListener>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let issuers = ProfileIssuers::from_settings(&settings.auth);
    let store = open_store(&settings.store, issuers.legacy())
        .await
        .map_err(|e| e.to_string())?;
    let authorizer = settings
        .auth
        .authorizer(VerifierOptions::default())
        .map_err(|e| e.to_string())?;
    // Warm the key cache so the first request does not wait on the issuer: embedded key sets
    // beside the binary, else a fetch now.
    load_keys(&authorizer, embedded_jwks_path().as_deref()).await;
    let counted = metrics.map(|listener| (listener, Metrics::with_keys_of(&authorizer)));
    let rejections = counted.as_ref().map(|(_, metrics)| metrics.clone());
    let routes = settings.routes.clone();
    let mut auth = AuthLayer::new(
        authorizer,
        settings.auth.mapping.clone(),
        move |method, path| routes.scopes(method.as_str(), path).to_vec(),
    );
    let metrics_server = counted.map(|(listener, metrics)| {
        auth = auth.clone().with_metrics(metrics.clone());
        tokio::spawn(serve(
            listener,
            metrics_router(metrics),
            std::future::pending(),
        ))
    });
    let service = Service::new(store, settings.server.body_limit, issuers);
    let app = harden(
        with_cors(with_gate(app(service, auth), settings), settings),
        settings.server.request_timeout,
    );
    let served = serve_with(
        listener,
        app,
        limits(&settings.server),
        rejections,
        shutdown,
    )
    .await
    .map_err(|e| e.to_string());
    if let Some(task) = metrics_server {
        task.abort();
    }
    served
}

/// What `[server]` lets one client hold of a listener (header timeout, connections), with API
/// Gateway's sizes: for every listener a command runs, the local gateway's included.
pub fn limits(server: &ServerSettings) -> Limits {
    Limits {
        header_timeout: server.header_timeout,
        max_connections: server.max_connections,
        ..Limits::default()
    }
}

/// `GET /metrics`: everything `metrics` counted, in Prometheus text format.
pub fn metrics_router(metrics: Metrics) -> axum::Router {
    axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let text = metrics.prometheus();
            async move {
                (
                    [(axum::http::header::CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE)],
                    text,
                )
            }
        }),
    )
}

/// `router` behind the settings' `[cors]`, as the HTTP API in front of it would be: preflights
/// answered before routing and judging, CORS headers on cross-origin answers. Unchanged without.
pub fn with_cors(router: axum::Router, settings: &Settings) -> axum::Router {
    match &settings.cors {
        Some(cors) => router.layer(portcullis_axum::cors::CorsLayer::new(cors.clone())),
        None => router,
    }
}

/// `router` with the configured gate in every request's extensions, so a handler reached without
/// an admission refuses as that gate refuses (`portcullis_axum::Authenticated`).
pub fn with_gate(router: axum::Router, settings: &Settings) -> axum::Router {
    router.layer(axum::Extension(settings.auth.gate()))
}

/// Logs as the function's logging configuration says (`AWS_LAMBDA_LOG_FORMAT`,
/// `AWS_LAMBDA_LOG_LEVEL`, then `RUST_LOG`).
#[cfg(feature = "lambda")]
pub use portcullis_lambda::init_logging as init_lambda_logging;

/// Serves the Lambda function on the Runtime API named by `AWS_LAMBDA_RUNTIME_API`; with
/// `[metrics] emf`, each decision's embedded metric format lines go to `emf_out` (the binary's
/// stdout, which CloudWatch Logs reads).
#[cfg(feature = "lambda")]
pub async fn lambda(
    settings: &Settings,
    emf_out: portcullis_claims::metrics::EmfWriter,
) -> Result<(), BoxError> {
    use portcullis_config::LambdaMode;
    use portcullis_lambda::VouchedLayer;

    let issuers = ProfileIssuers::from_settings(&settings.auth);
    let store = open_store(&settings.store, issuers.legacy())
        .await
        .map_err(|e| e.to_string())?;
    let service = Service::new(store, settings.server.body_limit, issuers);
    let routes = settings.routes.clone();
    let scopes = move |method: &portcullis_lambda::http::Method, path: &str| {
        routes.scopes(method.as_str(), path).to_vec()
    };
    // Embedded metric format lines on stdout, which CloudWatch Logs turns into metrics.
    let emf = settings.metrics.emf;
    let app = match settings.lambda {
        LambdaMode::Gateway => {
            let auth = &settings.auth;
            let source = auth
                .configs
                .first()
                .map(|config| config.identity_source().clone())
                .unwrap_or_default();
            let issuers = auth.configs.iter().map(|c| c.issuer().to_owned()).collect();
            let mut layer =
                VouchedLayer::behind(auth.gate(), source, issuers, auth.mapping.clone(), scopes);
            if emf {
                layer = layer.with_metrics(Metrics::writing_emf(None, emf_out));
            }
            crate::router(service).route_layer(layer)
        }
        LambdaMode::Verify => {
            let authorizer = settings
                .auth
                .authorizer(VerifierOptions::default())
                .map_err(|e| e.to_string())?;
            // Keys are loaded during init (not billed as request latency, and not on the first
            // request): from the package's embedded key sets when built with them, else fetched.
            load_keys(&authorizer, embedded_jwks_path().as_deref()).await;
            let metrics = emf.then(|| Metrics::writing_emf(Some(&authorizer), emf_out));
            let mut layer = AuthLayer::new(authorizer, settings.auth.mapping.clone(), scopes);
            if let Some(metrics) = metrics {
                layer = layer.with_metrics(metrics);
            }
            app(service, layer)
        }
    };
    portcullis_lambda::run(harden(
        with_gate(app, settings),
        settings.server.request_timeout,
    ))
    .await
}

/// What the Lambda runtime reports as an init or invocation failure.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
