#![cfg(feature = "aws")]
//! `portcullis deploy` and `portcullis remove`, the commands a user runs, against moto's server on
//! 127.0.0.1: for each provider the API, its JWT authorizer (issuer, audience), the routes (auth type,
//! scopes), the function (package, architecture), the table and, for Cognito, the pool, app client
//! and domain are read back through the SDK; a second deploy changes nothing and says so; remove
//! leaves nothing; bad input fails in one line before anything is created.
//!
//! The package is a real ELF for the host's architecture (moto stores it; it does not run it). The
//! real `bootstrap` answering requests behind an emulated gateway is tested in portcullis-tutorial.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{KEYS, fail, host_arch, on_moto, package, package_for, portcullis, scratch, succeed};
use portcullis_deploy::apply::Aws;
use portcullis_testkit::external::start_moto;

/// What the deployment of `stage` looks like through the SDK.
struct Seen {
    issuer: String,
    audience: Vec<String>,
    routes: Vec<(String, String, Vec<String>)>,
    integration: (String, String),
}

async fn read_back(aws: &Aws, stage: &str) -> Option<Seen> {
    let name = format!("portcullis-{stage}");
    let apis = aws.apigw.get_apis().send().await.expect("apis");
    let api = apis.items().iter().find(|a| a.name() == Some(&name))?;
    assert_eq!(
        api.tags()
            .and_then(|t| t.get("portcullis:stack"))
            .map(String::as_str),
        Some(name.as_str()),
        "tagged"
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
    assert_eq!(
        authorizer.authorizer_type().map(|t| t.as_str()),
        Some("JWT")
    );
    let jwt = authorizer.jwt_configuration().expect("jwt configuration");
    let integrations = aws
        .apigw
        .get_integrations()
        .api_id(api_id)
        .send()
        .await
        .expect("integrations");
    assert_eq!(integrations.items().len(), 1, "one integration");
    let integration = &integrations.items()[0];
    Some(Seen {
        issuer: jwt.issuer().unwrap_or_default().to_owned(),
        audience: jwt.audience().to_vec(),
        routes: seen,
        integration: (
            integration
                .integration_type()
                .map(|t| t.as_str().to_owned())
                .unwrap_or_default(),
            integration.integration_uri().unwrap_or_default().to_owned(),
        ),
    })
}

fn routes(post_scopes: &[&str]) -> Vec<(String, String, Vec<String>)> {
    vec![
        ("GET /healthz".into(), "NONE".into(), vec![]),
        ("GET /user/profile".into(), "JWT".into(), vec![]),
        (
            "POST /user/profile".into(),
            "JWT".into(),
            post_scopes.iter().map(|s| s.to_string()).collect(),
        ),
    ]
}

/// The function, its package and its environment.
async fn check_function(
    aws: &Aws,
    stage: &str,
    arch: &str,
    package: &Path,
) -> Vec<(String, String)> {
    let function = aws
        .lambda
        .get_function()
        .function_name(format!("portcullis-{stage}-profile"))
        .send()
        .await
        .expect("the function exists");
    let config = function.configuration().expect("configuration");
    assert_eq!(
        config
            .architectures()
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>(),
        [arch]
    );
    assert_eq!(
        config.runtime().map(|r| r.as_str()),
        Some("provided.al2023")
    );
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        &std::fs::read(package).expect("package"),
    );
    use base64::Engine;
    assert_eq!(
        config.code_sha256(),
        Some(
            base64::engine::general_purpose::STANDARD
                .encode(digest.as_ref())
                .as_str()
        ),
        "the function holds exactly the package"
    );
    aws.dynamodb
        .describe_table()
        .table_name(format!("portcullis-{stage}-profiles"))
        .send()
        .await
        .expect("the table exists");
    let mut environment: Vec<(String, String)> = config
        .environment()
        .and_then(|e| e.variables())
        .expect("environment")
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    environment.sort();
    environment
}

/// Nothing of `stage` is left: API, function, role, log group, table.
async fn check_gone(aws: &Aws, stage: &str) {
    assert!(read_back(aws, stage).await.is_none(), "the API is gone");
    let name = format!("portcullis-{stage}");
    assert!(
        aws.lambda
            .get_function()
            .function_name(format!("{name}-profile"))
            .send()
            .await
            .is_err(),
        "the function is gone"
    );
    assert!(
        aws.iam
            .get_role()
            .role_name(format!("{name}-profile-role"))
            .send()
            .await
            .is_err(),
        "the role is gone"
    );
    let groups = aws
        .logs
        .describe_log_groups()
        .log_group_name_prefix(format!("/aws/lambda/{name}"))
        .send()
        .await
        .expect("log groups");
    assert!(groups.log_groups().is_empty(), "the log group is gone");
    assert!(
        aws.dynamodb
            .describe_table()
            .table_name(format!("{name}-profiles"))
            .send()
            .await
            .is_err(),
        "the table is gone"
    );
}

/// Deploy twice (the second changes nothing), then remove twice (the second finds nothing).
fn deploy_then_redeploy_then_remove(
    dir: &Path,
    moto: &str,
    deploy: &[&str],
    remove: &[&str],
    check: impl Fn(&str),
) {
    let region = [("AWS_REGION", "us-east-1")];
    let env: Vec<(&str, &str)> = KEYS.iter().chain(&region).copied().collect();
    let mut args = deploy.to_vec();
    args.extend(["--endpoint-url", moto]);
    let first = succeed(portcullis(dir, &args, &env));
    let created = actions(&first);
    assert!(
        created.len() >= 8 && created.iter().all(|(_, action)| action == "created"),
        "every resource created, one line each:\n{first}"
    );
    check(&first);
    let second = succeed(portcullis(dir, &args, &env));
    assert_eq!(
        actions(&second),
        created
            .iter()
            .map(|(resource, _)| (resource.clone(), "unchanged".to_owned()))
            .collect::<Vec<_>>(),
        "a second deploy finds every resource unchanged:\n{second}"
    );
    assert!(
        second.contains("nothing changed: all"),
        "and says so:\n{second}"
    );
    let mut args = remove.to_vec();
    args.extend(["--endpoint-url", moto]);
    let removed = actions(&succeed(portcullis(dir, &args, &env)));
    let mut expected: Vec<(String, String)> = created
        .iter()
        // Integration, routes, authorizer, stage and permission go with the API and the function.
        .filter(|(resource, _)| {
            [
                "table",
                "role",
                "log group",
                "function",
                "http api",
                "user pool",
                "app client",
                "domain",
            ]
            .iter()
            .any(|kind| resource.starts_with(&format!("{kind} ")))
        })
        .map(|(resource, _)| (resource.clone(), "deleted".to_owned()))
        .collect();
    let mut sorted = removed.clone();
    sorted.sort();
    expected.sort();
    assert_eq!(sorted, expected, "remove deletes what deploy made");
    let again = succeed(portcullis(dir, &args, &env));
    assert!(
        actions(&again).iter().all(|(_, action)| action == "absent"),
        "{again}"
    );
    assert!(again.contains("nothing to remove"), "{again}");
}

/// The progress lines `  kind  name  action` of a run, as (`kind name`, action).
fn actions(stdout: &str) -> Vec<(String, String)> {
    stdout
        .lines()
        .filter(|line| line.starts_with("  ") && !line.contains(" - "))
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let (action, resource) = words.split_last()?;
            matches!(
                *action,
                "created" | "updated" | "unchanged" | "deleted" | "absent"
            )
            .then(|| (resource.join(" "), action.to_string()))
        })
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("runtime")
}

#[test]
fn deploy_cognito_creates_the_tutorial_pool_client_domain_and_api_then_removes_them() {
    let (moto, dir, rt, aws) = on_moto("deploy-cognito");
    let package = package(&dir);
    let arch = host_arch();
    let package_arg = package.to_str().expect("utf-8 path");
    deploy_then_redeploy_then_remove(
        &dir,
        moto.url(),
        &[
            "deploy",
            "--provider",
            "cognito",
            "--stage",
            "e2ecog",
            "--arch",
            arch,
            "--package",
            package_arg,
        ],
        &["remove", "--provider", "cognito", "--stage", "e2ecog"],
        |stdout| {
            rt.block_on(async {
                let pool_id = aws
                    .cognito
                    .find_user_pool("portcullis-e2ecog-users")
                    .await
                    .expect("list pools")
                    .expect("the pool exists");
                let client_id = aws
                    .cognito
                    .find_app_client(&pool_id, "portcullis-e2ecog-web")
                    .await
                    .expect("list clients")
                    .expect("the app client exists");
                assert_eq!(
                    aws.cognito
                        .domain_owner("service-user-pool-domain-e2ecog-portcullis")
                        .await
                        .expect("domain"),
                    Some(pool_id.clone()),
                    "the domain belongs to the pool"
                );
                let seen = read_back(&aws, "e2ecog").await.expect("the API exists");
                assert_eq!(
                    seen.issuer,
                    format!("https://cognito-idp.us-east-1.amazonaws.com/{pool_id}")
                );
                assert_eq!(seen.audience, std::slice::from_ref(&client_id));
                assert_eq!(seen.routes, routes(&[]));
                assert_eq!(seen.integration.0, "AWS_PROXY");
                let environment = check_function(&aws, "e2ecog", host_arch(), &package).await;
                assert!(environment.contains(&(
                    "PORTCULLIS_AUTH__COGNITO__USER_POOL_ID".into(),
                    pool_id.clone()
                )));
                assert!(environment.contains(&(
                    "PORTCULLIS_AUTH__COGNITO__CLIENT_ID".into(),
                    client_id.clone()
                )));
                assert!(
                    stdout.contains(&format!(
                        "https://service-user-pool-domain-e2ecog-portcullis.auth.us-east-1.amazoncognito.com/login?client_id={client_id}"
                    )),
                    "the Hosted UI sign-in URL is printed:\n{stdout}"
                );
                assert!(stdout.contains("  GET - https://"), "{stdout}");
                assert!(stdout.contains("/user/profile\n"), "{stdout}");
                assert!(stdout.contains("  POST - https://"), "{stdout}");
            })
        },
    );
    rt.block_on(async {
        check_gone(&aws, "e2ecog").await;
        assert_eq!(
            aws.cognito
                .find_user_pool("portcullis-e2ecog-users")
                .await
                .expect("list pools"),
            None,
            "the pool is gone"
        );
        assert_eq!(
            aws.cognito
                .domain_owner("service-user-pool-domain-e2ecog-portcullis")
                .await
                .expect("domain"),
            None,
            "the domain is gone"
        );
    });
}

/// Deploys `provider` configured by `config` and checks issuer, audience and scopes.
fn configured_provider(
    provider: &str,
    arch: &str,
    stage: &str,
    config: &str,
    issuer: &str,
    audience: &str,
) {
    let (moto, dir, rt, aws) = on_moto(&format!("deploy-{provider}"));
    let package = package_for(&dir, arch);
    std::fs::write(dir.join("portcullis.toml"), config).expect("config");
    let package_arg = package.to_str().expect("utf-8 path");
    deploy_then_redeploy_then_remove(
        &dir,
        moto.url(),
        &[
            "deploy",
            "--provider",
            provider,
            "--stage",
            stage,
            "--arch",
            arch,
            "--package",
            package_arg,
        ],
        &["remove", "--provider", provider, "--stage", stage],
        |_| {
            rt.block_on(async {
                let seen = read_back(&aws, stage).await.expect("the API exists");
                assert_eq!(seen.issuer, issuer);
                assert_eq!(seen.audience, [audience]);
                assert_eq!(seen.routes, routes(&["profile/write"]));
                assert_eq!(seen.integration.0, "AWS_PROXY");
                let environment = check_function(&aws, stage, arch, &package).await;
                assert!(
                    environment.contains(&("PORTCULLIS_AUTH__PROVIDER".into(), provider.into())),
                    "{environment:?}"
                );
            })
        },
    );
    rt.block_on(check_gone(&aws, stage));
}

const WRITE_SCOPE: &str = "[routes.\"POST /user/profile\"]\nscopes = [\"profile/write\"]\n";

#[test]
fn deploy_auth0_creates_the_api_with_the_tenant_issuer_then_removes_it() {
    configured_provider(
        "auth0",
        host_arch(),
        "e2eauth0",
        &format!(
            "[auth]\nprovider = \"auth0\"\n[auth.auth0]\ndomain = \"tenant.eu.auth0.com\"\naudience = \"https://api.example.com\"\n{WRITE_SCOPE}"
        ),
        "https://tenant.eu.auth0.com/",
        "https://api.example.com",
    );
}

#[test]
fn deploy_okta_creates_the_api_with_the_authorization_server_issuer_then_removes_it() {
    configured_provider(
        "okta",
        "arm64",
        "e2eokta",
        &format!(
            "[auth]\nprovider = \"okta\"\n[auth.okta]\ndomain = \"dev-123.okta.com\"\nauthorization_server = \"default\"\naudience = \"api://default\"\n{WRITE_SCOPE}"
        ),
        "https://dev-123.okta.com/oauth2/default",
        "api://default",
    );
}

#[test]
fn deploy_oidc_creates_the_api_with_the_configured_issuer_then_removes_it() {
    configured_provider(
        "oidc",
        host_arch(),
        "e2eoidc",
        &format!(
            "[auth]\nprovider = \"oidc\"\nissuer = \"https://login.example.com\"\naudience = [\"profile-api\"]\n{WRITE_SCOPE}"
        ),
        "https://login.example.com",
        "profile-api",
    );
}

#[test]
fn deploy_standalone_forwards_every_route_to_the_backend_url() {
    let (moto, dir, rt, aws) = on_moto("deploy-standalone");
    std::fs::write(
        dir.join("portcullis.toml"),
        "[auth]\nprovider = \"auth0\"\n[auth.auth0]\ndomain = \"tenant.eu.auth0.com\"\naudience = \"https://api.example.com\"\n",
    )
    .expect("config");
    let common = [
        "--provider",
        "auth0",
        "--stage",
        "e2esa",
        "--runtime",
        "standalone",
    ];
    let mut deploy = vec!["deploy"];
    deploy.extend(common);
    deploy.extend(["--backend-url", "https://profiles.example.com"]);
    let mut remove = vec!["remove"];
    remove.extend(common);
    deploy_then_redeploy_then_remove(&dir, moto.url(), &deploy, &remove, |_| {
        rt.block_on(async {
            let seen = read_back(&aws, "e2esa").await.expect("the API exists");
            assert_eq!(seen.issuer, "https://tenant.eu.auth0.com/");
            assert_eq!(seen.routes, routes(&[]));
            assert_eq!(
                seen.integration,
                (
                    "HTTP_PROXY".to_owned(),
                    "https://profiles.example.com".to_owned()
                )
            );
            assert!(
                aws.lambda
                    .get_function()
                    .function_name("portcullis-e2esa-profile")
                    .send()
                    .await
                    .is_err(),
                "no function for the standalone runtime"
            );
        })
    });
    rt.block_on(async {
        assert!(read_back(&aws, "e2esa").await.is_none(), "the API is gone");
    });
}

/// Each route's integration as deployed: route key → the integration's request parameters.
/// `deploy` of the auth0 provider on the standalone runtime at `stage` (backend
/// https://profiles.example.com), against the AWS endpoint `endpoint`, and the `remove` of it.
fn standalone_auth0<'a>(stage: &'a str, endpoint: &'a str) -> ([&'a str; 11], [&'a str; 9]) {
    let deploy = [
        "deploy",
        "--provider",
        "auth0",
        "--stage",
        stage,
        "--runtime",
        "standalone",
        "--backend-url",
        "https://profiles.example.com",
        "--endpoint-url",
        endpoint,
    ];
    let remove = [
        "remove",
        "--provider",
        "auth0",
        "--stage",
        stage,
        "--runtime",
        "standalone",
        "--endpoint-url",
        endpoint,
    ];
    (deploy, remove)
}

async fn route_parameters(aws: &Aws, stage: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let name = format!("portcullis-{stage}");
    let apis = aws.apigw.get_apis().send().await.expect("apis");
    let api = apis
        .items()
        .iter()
        .find(|a| a.name() == Some(&name))
        .expect("the API");
    let api_id = api.api_id().expect("id");
    let integrations = aws
        .apigw
        .get_integrations()
        .api_id(api_id)
        .send()
        .await
        .expect("integrations");
    let routes = aws
        .apigw
        .get_routes()
        .api_id(api_id)
        .send()
        .await
        .expect("routes");
    routes
        .items()
        .iter()
        .map(|route| {
            let target = route.target().unwrap_or_default();
            let integration = integrations
                .items()
                .iter()
                .find(|i| {
                    Some(target)
                        == i.integration_id()
                            .map(|id| format!("integrations/{id}"))
                            .as_deref()
                })
                .unwrap_or_else(|| panic!("{target} is one of the API's integrations"));
            (
                route.route_key().unwrap_or_default().to_owned(),
                integration
                    .request_parameters()
                    .map(|p| p.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn deploy_standalone_gives_routes_their_parameter_mappings_and_replaces_them_when_they_change() {
    let (moto, dir, rt, aws) = on_moto("deploy-mappings");
    let config = |mapping: &str| {
        format!(
            "[auth]\nprovider = \"auth0\"\n[auth.auth0]\ndomain = \"tenant.eu.auth0.com\"\naudience = \"https://api.example.com\"\n\
             [routes.\"GET /user/profile\"]\nparameters = [{{ key = \"{mapping}\", value = \"$context.authorizer.claims.sub\" }}]\n"
        )
    };
    std::fs::write(
        dir.join("portcullis.toml"),
        config("overwrite:header.x-user-sub"),
    )
    .expect("config");
    let env: Vec<(&str, &str)> = KEYS
        .iter()
        .copied()
        .chain([("AWS_REGION", "us-east-1")])
        .collect();
    let (deploy, remove) = standalone_auth0("e2emap", moto.url());
    let path = ("overwrite:path".to_owned(), "$request.path".to_owned());
    let expected = |mapping: &str| {
        BTreeMap::from([
            ("GET /healthz".to_owned(), BTreeMap::from([path.clone()])),
            (
                "GET /user/profile".to_owned(),
                BTreeMap::from([
                    path.clone(),
                    (
                        mapping.to_owned(),
                        "$context.authorizer.claims.sub".to_owned(),
                    ),
                ]),
            ),
            (
                "POST /user/profile".to_owned(),
                BTreeMap::from([path.clone()]),
            ),
        ])
    };
    succeed(portcullis(&dir, &deploy, &env));
    assert_eq!(
        rt.block_on(route_parameters(&aws, "e2emap")),
        expected("overwrite:header.x-user-sub")
    );
    let again = succeed(portcullis(&dir, &deploy, &env));
    assert!(again.contains("nothing changed: all"), "{again}");

    // The mapping changes: the route moves to a new integration, the old one is deleted.
    std::fs::write(
        dir.join("portcullis.toml"),
        config("overwrite:header.x-caller"),
    )
    .expect("config");
    let changed = actions(&succeed(portcullis(&dir, &deploy, &env)));
    assert!(
        changed.contains(&("route GET /user/profile".to_owned(), "updated".to_owned())),
        "{changed:?}"
    );
    assert_eq!(
        changed
            .iter()
            .filter(|(resource, action)| resource.starts_with("integration ") && action == "deleted")
            .count(),
        1,
        "the integration of the old mappings is deleted: {changed:?}"
    );
    assert_eq!(
        rt.block_on(route_parameters(&aws, "e2emap")),
        expected("overwrite:header.x-caller")
    );

    // The same mappings on the Lambda runtime are refused before anything is made.
    let line = fail(portcullis(
        &dir,
        &[
            "deploy",
            "--provider",
            "auth0",
            "--stage",
            "e2emapl",
            "--endpoint-url",
            moto.url(),
        ],
        &env,
    ));
    assert!(
        line.starts_with(
            "error: routes.\"GET /user/profile\".parameters: request parameter mappings apply to an HTTP proxy integration"
        ),
        "{line}"
    );
    succeed(portcullis(&dir, &remove, &env));
}

/// The CORS configuration of `stage`'s API as GetApi reports it: origins, methods, headers,
/// expose headers, max age, credentials.
type CorsSeen = (
    Vec<String>,
    Vec<String>,
    Vec<String>,
    Vec<String>,
    Option<i32>,
    Option<bool>,
);

async fn api_cors(aws: &Aws, stage: &str) -> Option<CorsSeen> {
    let name = format!("portcullis-{stage}");
    let apis = aws.apigw.get_apis().send().await.expect("apis");
    let id = apis
        .items()
        .iter()
        .find(|a| a.name() == Some(&name))
        .and_then(|a| a.api_id())
        .expect("the API")
        .to_owned();
    let api = aws.apigw.get_api().api_id(id).send().await.expect("GetApi");
    api.cors_configuration().map(|cors| {
        (
            cors.allow_origins().to_vec(),
            cors.allow_methods().to_vec(),
            cors.allow_headers().to_vec(),
            cors.expose_headers().to_vec(),
            cors.max_age(),
            cors.allow_credentials(),
        )
    })
}

#[test]
fn deploy_gives_the_api_the_cors_configuration_changes_it_and_deletes_it_with_the_section() {
    let (moto, dir, rt, aws) = on_moto("deploy-cors");
    let config = |cors: &str| {
        format!(
            "[auth]\nprovider = \"auth0\"\n[auth.auth0]\ndomain = \"tenant.eu.auth0.com\"\naudience = \"https://api.example.com\"\n{cors}"
        )
    };
    let cors = |max_age: u32| {
        format!(
            "[cors]\nallow_origins = [\"https://app.example.com\"]\nallow_methods = [\"get\", \"POST\"]\n\
             allow_headers = [\"Authorization\", \"content-type\"]\nexpose_headers = [\"etag\"]\n\
             max_age_seconds = {max_age}\nallow_credentials = true\n"
        )
    };
    let env: Vec<(&str, &str)> = KEYS
        .iter()
        .copied()
        .chain([("AWS_REGION", "us-east-1")])
        .collect();
    let (deploy, remove) = standalone_auth0("e2ecors", moto.url());
    let expected = |max_age: i32| {
        Some((
            vec!["https://app.example.com".to_owned()],
            vec!["GET".to_owned(), "POST".to_owned()],
            vec!["authorization".to_owned(), "content-type".to_owned()],
            vec!["etag".to_owned()],
            Some(max_age),
            Some(true),
        ))
    };
    std::fs::write(dir.join("portcullis.toml"), config(&cors(600))).expect("config");
    succeed(portcullis(&dir, &deploy, &env));
    assert_eq!(rt.block_on(api_cors(&aws, "e2ecors")), expected(600));
    let again = succeed(portcullis(&dir, &deploy, &env));
    assert!(again.contains("nothing changed: all"), "{again}");

    // A changed section updates the API in place.
    std::fs::write(dir.join("portcullis.toml"), config(&cors(60))).expect("config");
    let changed = actions(&succeed(portcullis(&dir, &deploy, &env)));
    assert!(
        changed.contains(&(
            "http api portcullis-e2ecors".to_owned(),
            "updated".to_owned()
        )),
        "{changed:?}"
    );
    assert_eq!(rt.block_on(api_cors(&aws, "e2ecors")), expected(60));

    // Without the section the API has no CORS configuration: OPTIONS is routed again.
    std::fs::write(dir.join("portcullis.toml"), config("")).expect("config");
    let changed = actions(&succeed(portcullis(&dir, &deploy, &env)));
    assert!(
        changed.contains(&(
            "http api portcullis-e2ecors".to_owned(),
            "updated".to_owned()
        )),
        "{changed:?}"
    );
    assert_eq!(rt.block_on(api_cors(&aws, "e2ecors")), None);

    // A section API Gateway would refuse is refused before anything is made.
    std::fs::write(
        dir.join("portcullis.toml"),
        config("[cors]\nallow_origins = [\"*\"]\nallow_credentials = true\n"),
    )
    .expect("config");
    let line = fail(portcullis(&dir, &deploy, &env));
    assert!(line.contains("cors.allow_credentials"), "{line}");

    std::fs::write(dir.join("portcullis.toml"), config("")).expect("config");
    succeed(portcullis(&dir, &remove, &env));
}

#[test]
fn bad_input_fails_in_one_line_naming_what_to_fix_before_anything_is_created() {
    let moto = start_moto().expect("moto");
    let dir = scratch("deploy-bad-input");
    let package = package(&dir);
    let package_arg = package.to_str().expect("utf-8 path");
    let region = [("AWS_REGION", "us-east-1")];
    let keys_and_region: Vec<(&str, &str)> = KEYS.iter().chain(&region).copied().collect();
    let deploy = |extra: &[&str], env: &[(&str, &str)]| {
        let mut args = vec!["deploy"];
        args.extend(extra);
        fail(portcullis(&dir, &args, env))
    };
    let endpoint = ["--endpoint-url", moto.url()];
    let cognito: Vec<&str> = [
        "--provider",
        "cognito",
        "--package",
        package_arg,
        "--arch",
        host_arch(),
    ]
    .into_iter()
    .chain(endpoint)
    .collect();

    let cases: Vec<(String, &str)> = vec![
        (
            deploy(&["--provider", "keycloak"], &keys_and_region),
            "error: invalid value 'keycloak' for '--provider <PROVIDER>' [possible values: cognito, auth0, okta, oidc]",
        ),
        (
            deploy(
                &["--provider", "auth0", "--runtime", "ec2"],
                &keys_and_region,
            ),
            "error: invalid value 'ec2' for '--runtime <RUNTIME>' [possible values: lambda, standalone]",
        ),
        (
            deploy(&["--provider", "auth0"], &keys_and_region),
            "error: the auth0 provider needs settings: missing auth.auth0: expected an [auth.auth0] section",
        ),
        (
            deploy(&cognito, &KEYS),
            "error: no AWS Region: pass --region, or set AWS_REGION",
        ),
        (
            deploy(&cognito, &region),
            "error: no AWS credentials found (environment, profiles, web identity, container and instance metadata were tried): set AWS_ACCESS_KEY_ID",
        ),
        (
            deploy(
                &[
                    "--provider",
                    "cognito",
                    "--package",
                    package_arg,
                    "--arch",
                    host_arch(),
                    "--endpoint-url",
                    "http://127.0.0.1:9",
                ],
                &keys_and_region,
            ),
            "error: cannot reach http://127.0.0.1:9: ",
        ),
        (
            deploy(
                &[
                    "--provider",
                    "cognito",
                    "--package",
                    "/nonexistent/bootstrap.zip",
                ],
                &keys_and_region,
            ),
            "error: --package /nonexistent/bootstrap.zip: cannot open it",
        ),
        (
            deploy(
                &["--provider", "cognito", "--package", "/bin/true"],
                &keys_and_region,
            ),
            "error: --package /bin/true: not a zip file",
        ),
        (
            deploy(
                &[
                    "--provider",
                    "cognito",
                    "--package",
                    package_arg,
                    "--arch",
                    if host_arch() == "arm64" {
                        "x86_64"
                    } else {
                        "arm64"
                    },
                ],
                &keys_and_region,
            ),
            "error: --package ",
        ),
        (
            deploy(
                &["--provider", "cognito", "--runtime", "standalone"],
                &keys_and_region,
            ),
            "error: --runtime standalone needs --backend-url https://…",
        ),
        (
            deploy(
                &[
                    "--provider",
                    "cognito",
                    "--runtime",
                    "standalone",
                    "--backend-url",
                    "profiles.example.com",
                ],
                &keys_and_region,
            ),
            "error: invalid value 'profiles.example.com' for '--backend-url <URL>': expected an http:// or https:// URL",
        ),
        (
            deploy(
                &[
                    "--provider",
                    "cognito",
                    "--runtime",
                    "standalone",
                    "--backend-url",
                    "https://profiles.example.com",
                    "--embed-jwks",
                ],
                &keys_and_region,
            ),
            "error: --embed-jwks builds the Lambda package; for the standalone server use `portcullis build --runtime standalone --embed-jwks`",
        ),
        (
            deploy(
                &["--provider", "cognito", "--stage", "Prod"],
                &keys_and_region,
            ),
            "error: invalid value 'Prod' for '--stage <STAGE>': expected 1 to 20 lowercase letters, digits and hyphens",
        ),
        (
            fail(portcullis(
                &dir,
                &["remove", "--provider", "okta", "--endpoint-url", moto.url()],
                &keys_and_region,
            )),
            "error: the okta provider needs settings: missing auth.okta: expected an [auth.okta] section",
        ),
    ];
    for (line, expected) in &cases {
        assert!(
            line.starts_with(expected),
            "expected a line starting {expected:?}, got {line:?}"
        );
    }
    // None of those created anything on the live endpoint.
    let rt = runtime();
    rt.block_on(async {
        let aws = Aws::with_static_credentials("us-east-1", Some(moto.url()), "test", "test").await;
        assert!(
            aws.apigw
                .get_apis()
                .send()
                .await
                .expect("apis")
                .items()
                .is_empty()
        );
        assert_eq!(
            aws.cognito
                .find_user_pool("portcullis-dev-users")
                .await
                .expect("pools"),
            None
        );
        assert!(
            aws.dynamodb
                .list_tables()
                .send()
                .await
                .expect("tables")
                .table_names()
                .is_empty()
        );
    });
}

#[test]
fn a_deploy_that_stops_half_way_names_what_exists_and_remove_clears_it() {
    let (moto, dir, rt, aws) = on_moto("deploy-half-way");
    let package = package(&dir);
    // Someone else's pool already holds the Hosted UI prefix this stage wants.
    rt.block_on(async {
        let other = aws
            .cognito
            .ensure_user_pool("someone-elses-pool")
            .await
            .expect("pool")
            .0;
        aws.cognito
            .ensure_domain(&other, "service-user-pool-domain-half-portcullis")
            .await
            .expect("domain");
    });
    let region = [("AWS_REGION", "us-east-1")];
    let env: Vec<(&str, &str)> = KEYS.iter().chain(&region).copied().collect();
    let line = fail(portcullis(
        &dir,
        &[
            "deploy",
            "--provider",
            "cognito",
            "--stage",
            "half",
            "--arch",
            host_arch(),
            "--package",
            package.to_str().expect("utf-8 path"),
            "--endpoint-url",
            moto.url(),
        ],
        &env,
    ));
    assert!(
        line.contains("the domain belongs to another pool"),
        "names the cause: {line}"
    );
    assert!(
        line.contains(
            "these exist now: table portcullis-half-profiles, user pool portcullis-half-users, app client portcullis-half-web."
        ),
        "names what exists: {line}"
    );
    assert!(
        line.contains(&format!(
            "`portcullis remove --provider cognito --stage half --endpoint-url {}`",
            moto.url()
        )),
        "says how to remove it: {line}"
    );
    let removed = succeed(portcullis(
        &dir,
        &[
            "remove",
            "--provider",
            "cognito",
            "--stage",
            "half",
            "--endpoint-url",
            moto.url(),
        ],
        &env,
    ));
    assert!(removed.contains("removed 3 resources"), "{removed}");
    rt.block_on(async {
        check_gone(&aws, "half").await;
        assert_eq!(
            aws.cognito
                .find_user_pool("portcullis-half-users")
                .await
                .expect("pools"),
            None
        );
        assert!(
            aws.cognito
                .domain_owner("service-user-pool-domain-half-portcullis")
                .await
                .expect("domain")
                .is_some(),
            "the other pool's domain is left alone"
        );
    });
}
