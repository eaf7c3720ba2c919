//! The profile service for load benchmarks (`cargo xtask bench`): the same router as
//! `portcullis-server`, with authorization on (`AuthLayer`, as deployed) or off (a fixed caller is
//! inserted with no verification), so the two runs differ only by what auth costs.
//!
//! `bench_server --config FILE --listen ADDR --auth on|off [--claims-of TOKEN]`. Never deploy
//! `--auth off`: it trusts the claims of `TOKEN` for every request without checking anything.

use std::sync::Arc;

use axum::middleware::{Next, from_fn};
use portcullis_axum::AuthLayer;
use portcullis_axum::runtime::serve;
use portcullis_claims::{Caller, Claims, OidcMapping, VerifierOptions};
use portcullis_config::{Sources, load};
use portcullis_tutorial::{ProfileIssuers, Service, app, open_store, router};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let config = value("--config").ok_or("--config FILE is required")?;
    let listen = value("--listen").unwrap_or_else(|| "127.0.0.1:0".into());
    let auth_on = match value("--auth").as_deref() {
        Some("on") => true,
        Some("off") => false,
        other => return Err(format!("--auth must be on or off, got {other:?}").into()),
    };
    let settings = load(&Sources {
        file: Some(config.into()),
        ..Sources::default()
    })?;
    let issuers = ProfileIssuers::from_settings(&settings.auth);
    let service = Service::new(
        open_store(&settings.store, issuers.legacy()).await?,
        settings.server.body_limit,
        issuers,
    );
    let app = if auth_on {
        let authorizer = settings.auth.authorizer(VerifierOptions::default())?;
        authorizer.hydrate().await?;
        let routes = settings.routes.clone();
        app(
            service,
            AuthLayer::new(authorizer, settings.auth.mapping.clone(), move |m, p| {
                routes.scopes(m.as_str(), p).to_vec()
            }),
        )
    } else {
        let claims = Claims::from_json(serde_json::json!({
            "iss": settings.auth.configs.first().map(|config| config.issuer()),
            "sub": "dev-user",
            "scope": "profile/read profile/write",
        }))
        .ok_or("claims")?;
        let caller = Arc::new(Caller::new(claims, &OidcMapping, false));
        router(service).route_layer(from_fn(
            move |mut request: axum::extract::Request, next: Next| {
                let caller = caller.clone();
                async move {
                    request.extensions_mut().insert((*caller).clone());
                    next.run(request).await
                }
            },
        ))
    };
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("listening on http://{}", listener.local_addr()?);
    serve(listener, app, portcullis_axum::runtime::shutdown_signal()).await?;
    Ok(())
}
