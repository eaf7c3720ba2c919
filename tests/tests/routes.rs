//! The service's route table exists twice because the service must not depend on its deployment:
//! `portcullis_tutorial::API_ROUTES` (what the service serves) and `portcullis_deploy::SERVICE_ROUTES`
//! (what the HTTP API, the local gateway and `cargo xtask dev` route). They must never drift.

#[test]
fn deployed_routes_are_the_routes_the_service_serves() {
    assert_eq!(
        portcullis_deploy::SERVICE_ROUTES,
        portcullis_tutorial::API_ROUTES
    );
}
