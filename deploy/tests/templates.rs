//! The plan and the exported CloudFormation template for every provider × runtime: `insta` snapshots,
//! and the templates pass cfn-lint (installed from PyPI into the project-local `.cache/venv`).

use portcullis_config::{Sources, load};
use portcullis_deploy::{Arch, Issuer, Runtime, Target, cloudformation, plan};

const ROUTES: &str = "[routes.\"POST /user/profile\"]\nscopes = [\"profile/write\"]\n";

fn configured(provider: &str) -> String {
    let section = match provider {
        "cognito" => {
            "[auth.cognito]\nregion = \"eu-west-1\"\nuser_pool_id = \"eu-west-1_AbC123\"\nclient_id = \"6p1kqe3vvbh3e6rh2cbqmqtl5a\"\n"
        }
        "auth0" => {
            "[auth.auth0]\ndomain = \"tenant.eu.auth0.com\"\naudience = \"https://api.example.com\"\n"
        }
        "okta" => "[auth.okta]\ndomain = \"dev-123.okta.com\"\n",
        _ => "",
    };
    let oidc = if provider == "oidc" {
        "issuer = \"https://login.example.com/realms/main\"\naudience = [\"account\", \"api\"]\n"
    } else {
        ""
    };
    format!("[auth]\nprovider = \"{provider}\"\n{oidc}{section}{ROUTES}")
}

/// Every deployment shape: the tutorial's new Cognito pool, and each configured provider.
fn cases() -> Vec<(String, portcullis_deploy::Plan)> {
    let mut cases = Vec::new();
    for runtime in [Runtime::Lambda, Runtime::Standalone] {
        let runtime_name = match runtime {
            Runtime::Lambda => "lambda",
            Runtime::Standalone => "standalone",
        };
        let target = Target {
            stage: "dev".into(),
            runtime,
            arch: Arch::Arm64,
            domain_suffix: "x7k2".into(),
            function: Default::default(),
            cors: None,
        };
        let routes = load(&Sources::text(&configured("oidc")))
            .expect("settings")
            .routes;
        cases.push((
            format!("cognito_new_pool_{runtime_name}"),
            plan(Issuer::TutorialCognitoPool, &routes, &target),
        ));
        for provider in ["cognito", "auth0", "okta", "oidc"] {
            let settings = load(&Sources::text(&configured(provider))).expect("settings");
            cases.push((
                format!("{provider}_{runtime_name}"),
                plan(
                    Issuer::Configured(&settings.auth),
                    &settings.routes,
                    &target,
                ),
            ));
        }
        // [cors] becomes the API's CorsConfiguration.
        let text = format!(
            "{}[cors]\nallow_origins = [\"https://app.example.com\", \"http://localhost:5173\"]\n\
             allow_methods = [\"GET\", \"POST\"]\nallow_headers = [\"authorization\", \"content-type\"]\n\
             expose_headers = [\"etag\"]\nmax_age_seconds = 600\nallow_credentials = true\n",
            configured("oidc")
        );
        let settings = load(&Sources::text(&text)).expect("settings");
        let with_cors = Target {
            cors: settings.cors.clone(),
            ..target.clone()
        };
        cases.push((
            format!("oidc_{runtime_name}_with_cors"),
            plan(
                Issuer::Configured(&settings.auth),
                &settings.routes,
                &with_cors,
            ),
        ));
        if runtime == Runtime::Standalone {
            // A route with request parameter mappings gets an HTTP proxy integration of its own.
            let text = format!(
                "{}[routes.\"GET /user/profile\"]\nparameters = [\n  {{ key = \"overwrite:header.x-user-sub\", value = \"$context.authorizer.claims.sub\" }},\n  {{ key = \"remove:header.cookie\" }},\n]\n",
                configured("auth0")
            );
            let settings = load(&Sources::text(&text)).expect("settings");
            cases.push((
                "auth0_standalone_with_mappings".to_owned(),
                plan(
                    Issuer::Configured(&settings.auth),
                    &settings.routes,
                    &target,
                ),
            ));
        }
    }
    cases
}

#[test]
fn plans_and_templates_match_their_snapshots() {
    for (name, plan) in cases() {
        insta::assert_debug_snapshot!(format!("plan_{name}"), plan);
        insta::assert_snapshot!(format!("template_{name}"), cloudformation::render(&plan));
    }
}

#[test]
fn every_template_passes_cfn_lint() {
    let cfn_lint = portcullis_testkit::external::ensure_cfn_lint().expect("cfn-lint installs");
    let dir = std::env::temp_dir().join(format!("portcullis-templates-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch");
    let mut files = Vec::new();
    for (name, plan) in cases() {
        let file = dir.join(format!("{name}.yaml"));
        std::fs::write(&file, cloudformation::render(&plan)).expect("write");
        files.push(file);
    }
    let output = std::process::Command::new(cfn_lint)
        .args(&files)
        .output()
        .expect("cfn-lint runs");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        output.status.success(),
        "cfn-lint found problems ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_function_environment_is_a_configuration_the_bootstrap_accepts() {
    for (name, plan) in cases() {
        let Some(function) = &plan.function else {
            continue;
        };
        // What CloudFormation resolves the references to, in the shape they take on AWS.
        let env: std::collections::HashMap<String, String> = function
            .environment
            .iter()
            .map(|(k, v)| {
                let text = match v {
                    portcullis_deploy::Value::Literal(text) => text.clone(),
                    portcullis_deploy::Value::Ref("ProfilesTable") => {
                        "portcullis-dev-profiles".into()
                    }
                    portcullis_deploy::Value::Ref("UserPool") => "eu-west-1_Ab12Cd".into(),
                    portcullis_deploy::Value::Ref("UserPoolClient") => "1example23456789".into(),
                    portcullis_deploy::Value::Ref("AWS::Region") => "eu-west-1".into(),
                    other => panic!("{name}: unexpected reference {other:?}"),
                };
                (k.clone(), text)
            })
            .collect();
        let settings = load(&Sources {
            env: Some(env),
            ..Sources::default()
        })
        .unwrap_or_else(|e| panic!("{name}: the function would not start: {e}"));
        assert_eq!(settings.auth.provider.name(), plan.provider, "{name}");
        assert_eq!(
            settings.lambda,
            portcullis_config::LambdaMode::Gateway,
            "{name}"
        );
        assert!(
            matches!(
                settings.store,
                portcullis_config::StoreSettings::DynamoDb { .. }
            ),
            "{name}"
        );
    }
}
