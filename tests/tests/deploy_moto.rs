//! `apply` and `remove` against moto's server on 127.0.0.1 (apigatewayv2, lambda, iam, logs, dynamodb
//! through their real APIs): what the plan says is what gets created, read back through the SDK; a
//! second apply changes nothing and says so; remove leaves nothing behind.

use std::io::Write;

use portcullis_config::{Sources, load};
use portcullis_deploy::apply::{Action, Aws, apply, remove};
use portcullis_deploy::{Arch, Issuer, Runtime, Target, plan};
use portcullis_testkit::external::start_moto;

fn package() -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    writer
        .start_file(
            "bootstrap",
            zip::write::SimpleFileOptions::default().unix_permissions(0o755),
        )
        .expect("entry");
    writer
        .write_all(b"#!/bin/sh\necho stand-in for the bootstrap binary\n")
        .expect("write");
    writer.finish().expect("zip").into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth0_lambda_deploy_creates_what_the_plan_says_then_changes_nothing_then_removes_all() {
    let moto = start_moto().expect("moto");
    let aws = Aws::with_static_credentials("us-east-1", Some(moto.url()), "test", "test");
    let settings = load(&Sources::text(
        "[auth]\nprovider = \"auth0\"\n[auth.auth0]\ndomain = \"tenant.eu.auth0.com\"\naudience = \"https://api.example.com\"\n\
         [routes.\"POST /user/profile\"]\nscopes = [\"profile/write\"]\n",
    ))
    .expect("settings");
    let target = Target {
        stage: "e2e".into(),
        runtime: Runtime::Lambda,
        arch: Arch::Arm64,
        domain_suffix: "t1".into(),
    };
    let plan = plan(
        Issuer::Configured(&settings.auth),
        &settings.routes,
        &target,
    );
    let code = package();

    let first = apply(&plan, &aws, Some(&code), |_| {})
        .await
        .expect("first deploy");
    assert!(
        first.changes.iter().all(|c| c.action == Action::Created),
        "{:#?}",
        first.changes
    );
    assert_eq!(
        first.changes.len(),
        12,
        "table, role, log group, function, api, authorizer, integration, 3 routes, stage, permission: {:#?}",
        first.changes
    );

    // Read back what was made.
    let apis = aws.apigw.get_apis().send().await.expect("apis");
    let api = apis
        .items()
        .iter()
        .find(|a| a.name() == Some("portcullis-e2e"))
        .expect("the API exists");
    assert_eq!(
        api.tags()
            .and_then(|t| t.get("portcullis:stack"))
            .map(String::as_str),
        Some("portcullis-e2e")
    );
    let api_id = api.api_id().expect("id");
    let routes = aws
        .apigw
        .get_routes()
        .api_id(api_id)
        .send()
        .await
        .expect("routes");
    let mut seen: Vec<(String, String, Vec<String>)> = routes
        .items()
        .iter()
        .map(|r| {
            (
                r.route_key().unwrap_or_default().to_owned(),
                r.authorization_type()
                    .map(|t| t.as_str().to_owned())
                    .unwrap_or_default(),
                r.authorization_scopes().to_vec(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("GET /healthz".into(), "NONE".into(), vec![]),
            ("GET /user/profile".into(), "JWT".into(), vec![]),
            (
                "POST /user/profile".into(),
                "JWT".into(),
                vec!["profile/write".to_owned()]
            ),
        ]
    );
    // The routes name their authorizer (moto's server lists no authorizers; GetAuthorizer works).
    let authorizer_id = routes
        .items()
        .iter()
        .find_map(|r| r.authorizer_id())
        .expect("a protected route");
    let authorizer = aws
        .apigw
        .get_authorizer()
        .api_id(api_id)
        .authorizer_id(authorizer_id)
        .send()
        .await
        .expect("authorizer");
    let jwt = authorizer.jwt_configuration().expect("jwt configuration");
    assert_eq!(jwt.issuer(), Some("https://tenant.eu.auth0.com/"));
    assert_eq!(jwt.audience(), ["https://api.example.com"]);
    assert_eq!(
        authorizer.identity_source(),
        ["$request.header.Authorization"]
    );
    let function = aws
        .lambda
        .get_function()
        .function_name("portcullis-e2e-profile")
        .send()
        .await
        .expect("function");
    let config = function.configuration().expect("configuration");
    assert_eq!(
        config
            .architectures()
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>(),
        ["arm64"]
    );
    assert_eq!(
        config.runtime().map(|r| r.as_str()),
        Some("provided.al2023")
    );
    let variables = config
        .environment()
        .and_then(|e| e.variables())
        .expect("environment");
    assert_eq!(
        variables.get("PORTCULLIS_STORE__TABLE").map(String::as_str),
        Some("portcullis-e2e-profiles")
    );
    assert_eq!(
        variables
            .get("PORTCULLIS_AUTH__AUTH0__DOMAIN")
            .map(String::as_str),
        Some("tenant.eu.auth0.com")
    );
    aws.dynamodb
        .describe_table()
        .table_name("portcullis-e2e-profiles")
        .send()
        .await
        .expect("table exists");

    let second = apply(&plan, &aws, Some(&code), |_| {})
        .await
        .expect("second deploy");
    assert!(
        second.changes.iter().all(|c| c.action == Action::Unchanged),
        "{:#?}",
        second.changes
    );

    let removed = remove(&plan, &aws, |_| {}).await.expect("remove");
    assert!(
        removed.iter().all(|c| c.action == Action::Deleted),
        "{removed:#?}"
    );
    let apis = aws.apigw.get_apis().send().await.expect("apis");
    assert!(
        apis.items()
            .iter()
            .all(|a| a.name() != Some("portcullis-e2e")),
        "the API is gone"
    );
    assert!(
        aws.lambda
            .get_function()
            .function_name("portcullis-e2e-profile")
            .send()
            .await
            .is_err(),
        "the function is gone"
    );
    assert!(
        aws.dynamodb
            .describe_table()
            .table_name("portcullis-e2e-profiles")
            .send()
            .await
            .is_err(),
        "the table is gone"
    );
    assert!(
        aws.iam
            .get_role()
            .role_name("portcullis-e2e-profile-role")
            .send()
            .await
            .is_err(),
        "the role is gone"
    );
    let again = remove(&plan, &aws, |_| {}).await.expect("remove again");
    assert!(
        again.iter().all(|c| c.action == Action::Absent),
        "{again:#?}"
    );
}
