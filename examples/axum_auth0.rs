//! Your own axum router, protected by Auth0 access tokens exactly as an API Gateway HTTP API JWT
//! authorizer would protect it: 401/403 with API Gateway's bodies, scopes per route.
//!
//! ```sh
//! AUTH0_DOMAIN=your-tenant.eu.auth0.com AUTH0_AUDIENCE=https://api.example.com \
//!   cargo run -p portcullis-examples --bin axum-auth0
//! curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/me
//! ```

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use portcullis_auth0::Auth0Settings;
use portcullis_axum::{AuthLayer, Authenticated};
use portcullis_claims::{Authorizer, VerifierOptions};

/// Who called: the verified token's subject and scopes.
async fn me(Authenticated(caller): Authenticated) -> String {
    format!(
        "subject {} with scopes {:?}\n",
        caller.identity.subject.as_deref().unwrap_or_default(),
        caller.claims.scopes()
    )
}

async fn write() -> &'static str {
    "written\n"
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let var = |name: &str| std::env::var(name).map_err(|_| format!("set {name}"));
    // Issuer https://{domain}/ (with Auth0's trailing slash) and your API's identifier as audience.
    let auth0 = Auth0Settings::new(&var("AUTH0_DOMAIN")?, &var("AUTH0_AUDIENCE")?, None)?;
    let authorizer = Authorizer::new([auth0.authorizer_config()?], VerifierOptions::default())?;
    authorizer.hydrate().await?; // the tenant's keys, fetched once at start-up
    // POST /items needs the `write:items` permission; every other route any valid token.
    let layer = AuthLayer::new(
        authorizer,
        Arc::new(auth0.mapping()),
        |method, path| match (method.as_str(), path) {
            ("POST", "/items") => vec!["write:items".to_owned()],
            _ => Vec::new(),
        },
    );
    let app = Router::new()
        .route("/me", get(me))
        .route("/items", post(write))
        .route_layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
