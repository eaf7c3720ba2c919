//! The Lambda function (`provided.al2023` custom runtime): configuration → service → Lambda runtime.
//!
//! Configuration comes from `PORTCULLIS_…` environment variables and, when packaged beside the binary,
//! `portcullis.toml`. `[lambda] mode = "gateway"` (default) trusts the HTTP API JWT authorizer's claims;
//! `"verify"` checks the `Authorization` header here, with keys fetched during init.

use portcullis_axum::AuthLayer;
use portcullis_axum::runtime::{Logs, harden, init_logging};
use portcullis_claims::VerifierOptions;
use portcullis_config::{LambdaMode, Sources, load};
use portcullis_lambda::GatewayLayer;
use portcullis_profile::keys::{embedded_jwks_path, load_keys};
use portcullis_profile::{Service, app, open_store, router};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    init_logging(Logs::Json);
    let settings = load(&Sources::default()).map_err(|e| format!("configuration: {e}"))?;
    let store = open_store(&settings.store)
        .await
        .map_err(|e| e.to_string())?;
    let service = Service::new(store, settings.server.body_limit);
    let routes = settings.routes.clone();
    let scopes = move |method: &portcullis_lambda::http::Method, path: &str| {
        routes.scopes(method.as_str(), path).to_vec()
    };
    let app = match settings.lambda {
        LambdaMode::Gateway => {
            router(service).route_layer(GatewayLayer::new(settings.auth.mapping.clone(), scopes))
        }
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

type BoxError = Box<dyn std::error::Error + Send + Sync>;
