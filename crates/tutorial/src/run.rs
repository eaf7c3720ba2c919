//! Configuration → service → runtime, once for every way the service runs: the standalone binary,
//! the Lambda `bootstrap`, and `portcullis dev`, which runs the same service in its own process.

use portcullis_axum::AuthLayer;
use portcullis_axum::runtime::{Limits, harden, serve_with};
use portcullis_claims::VerifierOptions;
use portcullis_config::Settings;

use crate::keys::{embedded_jwks_path, load_keys};
use crate::{ProfileIssuers, Service, app, open_store};

/// Serves the standalone server on `listener` until `shutdown` completes.
pub async fn standalone(
    settings: &Settings,
    listener: tokio::net::TcpListener,
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
    let routes = settings.routes.clone();
    let auth = AuthLayer::new(
        authorizer,
        settings.auth.mapping.clone(),
        move |method, path| routes.scopes(method.as_str(), path).to_vec(),
    );
    let service = Service::new(store, settings.server.body_limit, issuers);
    let app = harden(
        with_cors(app(service, auth), settings),
        settings.server.request_timeout,
    );
    let limits = Limits {
        header_timeout: settings.server.header_timeout,
        max_connections: settings.server.max_connections,
    };
    serve_with(listener, app, limits, shutdown)
        .await
        .map_err(|e| e.to_string())
}

/// `router` behind the settings' `[cors]`, as the HTTP API in front of it would be: preflights
/// answered before routing and judging, CORS headers on cross-origin answers. Unchanged without.
pub fn with_cors(router: axum::Router, settings: &Settings) -> axum::Router {
    match &settings.cors {
        Some(cors) => router.layer(portcullis_axum::cors::CorsLayer::new(cors.clone())),
        None => router,
    }
}

/// Logs as the function's logging configuration says (`AWS_LAMBDA_LOG_FORMAT`,
/// `AWS_LAMBDA_LOG_LEVEL`, then `RUST_LOG`).
#[cfg(feature = "lambda")]
pub use portcullis_lambda::init_logging as init_lambda_logging;

/// Serves the Lambda function on the Runtime API named by `AWS_LAMBDA_RUNTIME_API`.
#[cfg(feature = "lambda")]
pub async fn lambda(settings: &Settings) -> Result<(), BoxError> {
    use portcullis_config::LambdaMode;
    use portcullis_lambda::GatewayLayer;

    let issuers = ProfileIssuers::from_settings(&settings.auth);
    let store = open_store(&settings.store, issuers.legacy())
        .await
        .map_err(|e| e.to_string())?;
    let service = Service::new(store, settings.server.body_limit, issuers);
    let routes = settings.routes.clone();
    let scopes = move |method: &portcullis_lambda::http::Method, path: &str| {
        routes.scopes(method.as_str(), path).to_vec()
    };
    let app = match settings.lambda {
        LambdaMode::Gateway => crate::router(service)
            .route_layer(GatewayLayer::new(settings.auth.mapping.clone(), scopes)),
        LambdaMode::Verify => {
            let authorizer = settings
                .auth
                .authorizer(VerifierOptions::default())
                .map_err(|e| e.to_string())?;
            // Keys are loaded during init (not billed as request latency, and not on the first
            // request): from the package's embedded key sets when built with them, else fetched.
            load_keys(&authorizer, embedded_jwks_path().as_deref()).await;
            app(
                service,
                AuthLayer::new(authorizer, settings.auth.mapping.clone(), scopes),
            )
        }
    };
    portcullis_lambda::run(harden(app, settings.server.request_timeout)).await
}

/// What the Lambda runtime reports as an init or invocation failure.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
