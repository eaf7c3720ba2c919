//! The plan and the exported CloudFormation template for every provider × runtime: `insta` snapshots,
//! and the templates pass cfn-lint (installed from PyPI into the project-local `.cache/venv`).

use portcullis_config::{Gate, Sources, load};
use portcullis_deploy::{
    Arch, GateRules, Issuer, Runtime, Target, cloudformation, gate_rules, plan,
};

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

/// The `dev` stage on arm64 for `runtime`, without `[function]` or `[cors]`.
fn target(runtime: Runtime) -> Target {
    Target {
        stage: "dev".into(),
        runtime,
        arch: Arch::Arm64,
        domain_suffix: "x7k2".into(),
        function: Default::default(),
        cors: None,
        served: &portcullis_tutorial::API_ROUTES,
    }
}

/// Every deployment shape: the tutorial's new Cognito pool, and each configured provider.
/// The plan for `issuer`, and the HTTP API's rules for it (what its template is rendered with).
fn http_api_plan(
    issuer: Issuer<'_>,
    routes: &portcullis_config::Routes,
    target: &Target,
) -> (portcullis_deploy::Plan, GateRules) {
    let plan = plan(issuer, routes, target);
    let rules = gate_rules(issuer, Gate::HttpApi, &plan).expect("the HTTP API deploys it");
    (plan, rules)
}

fn cases() -> Vec<(String, (portcullis_deploy::Plan, GateRules))> {
    let mut cases = Vec::new();
    for runtime in [Runtime::Lambda, Runtime::Standalone] {
        let runtime_name = match runtime {
            Runtime::Lambda => "lambda",
            Runtime::Standalone => "standalone",
        };
        let target = target(runtime);
        let routes = load(&Sources::text(&configured("oidc")))
            .expect("settings")
            .routes;
        cases.push((
            format!("cognito_new_pool_{runtime_name}"),
            http_api_plan(Issuer::TutorialCognitoPool, &routes, &target),
        ));
        for provider in ["cognito", "auth0", "okta", "oidc"] {
            let settings = load(&Sources::text(&configured(provider))).expect("settings");
            cases.push((
                format!("{provider}_{runtime_name}"),
                http_api_plan(
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
            http_api_plan(
                Issuer::Configured(&settings.auth),
                &settings.routes,
                &with_cors,
            ),
        ));
        // The HTTP API takes its token from a query-string parameter when configured so.
        let text = configured("oidc").replace(
            "[auth]\n",
            "[auth]\nidentity_source = \"$request.querystring.access_token\"\n",
        );
        let settings = load(&Sources::text(&text)).expect("settings");
        cases.push((
            format!("oidc_{runtime_name}_with_query_token"),
            http_api_plan(
                Issuer::Configured(&settings.auth),
                &settings.routes,
                &target,
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
                http_api_plan(
                    Issuer::Configured(&settings.auth),
                    &settings.routes,
                    &target,
                ),
            ));
        }
    }
    cases
}

/// The REST API and ALB gates: each runtime, the tutorial's new pool and configured providers,
/// with claim rules and (REST) a second issuer.
fn gate_cases() -> Vec<(String, portcullis_deploy::Plan, GateRules)> {
    let mut cases = Vec::new();
    for runtime in [Runtime::Lambda, Runtime::Standalone] {
        let runtime_name = match runtime {
            Runtime::Lambda => "lambda",
            Runtime::Standalone => "standalone",
        };
        let target = target(runtime);
        for gate in [Gate::RestApi, Gate::Alb] {
            let gate_name = gate.as_str().replace('-', "_");
            let routes = load(&Sources::text(&configured("oidc")))
                .expect("settings")
                .routes;
            let new_pool = plan(Issuer::TutorialCognitoPool, &routes, &target);
            let rules =
                gate_rules(Issuer::TutorialCognitoPool, gate, &new_pool).expect("deployable");
            cases.push((
                format!("{gate_name}_cognito_new_pool_{runtime_name}"),
                new_pool,
                rules,
            ));
            let text = match gate {
                Gate::RestApi => format!(
                    "{}[[auth.claims]]\nname = \"tenant\"\nvalues = [\"acme\"]\nrequired = true\n\
                     [[auth.issuers]]\nissuer = \"https://idp2.example.com\"\naudience = \"api\"\n",
                    configured("oidc").replace(
                        "[auth]\n",
                        "[auth]\ngate = \"rest-api\"\nalgorithms = [\"RS256\", \"ES256\"]\n"
                    )
                ),
                _ => format!(
                    "{}[[auth.claims]]\nname = \"roles\"\nformat = \"string-array\"\nvalues = [\"admin\", \"ops\"]\n",
                    configured("cognito").replace("[auth]\n", "[auth]\ngate = \"alb\"\n")
                ),
            };
            let settings = load(&Sources::text(&text)).expect("settings");
            let provider = if gate == Gate::RestApi {
                "oidc"
            } else {
                "cognito"
            };
            let configured_plan = plan(
                Issuer::Configured(&settings.auth),
                &settings.routes,
                &target,
            );
            let rules = gate_rules(Issuer::Configured(&settings.auth), gate, &configured_plan)
                .expect("deployable");
            cases.push((
                format!("{gate_name}_{provider}_{runtime_name}"),
                configured_plan,
                rules,
            ));
        }
    }
    cases
}

#[test]
fn plans_and_templates_match_their_snapshots() {
    for (name, (plan, rules)) in cases() {
        insta::assert_debug_snapshot!(format!("plan_{name}"), plan);
        insta::assert_snapshot!(
            format!("template_{name}"),
            cloudformation::render(&plan, &rules)
        );
    }
    for (name, plan, rules) in gate_cases() {
        insta::assert_snapshot!(format!("rules_{name}"), format!("{rules:#?}"));
        insta::assert_snapshot!(
            format!("template_{name}"),
            cloudformation::render(&plan, &rules)
        );
    }
}

/// What a gate cannot take as configured is refused before anything is written, naming the
/// setting and what to change.
#[test]
fn settings_a_gate_cannot_deploy_are_refused_by_name() {
    let target = target(Runtime::Lambda);
    let both = configured("cognito")
        .replace("[auth]\n", "[auth]\ngate = \"alb\"\n")
        .replace("client_id =", "issuer_type = \"both\"\nclient_id =");
    let oidc_alb = configured("oidc").replace("[auth]\n", "[auth]\ngate = \"alb\"\n");
    let judged = |settings: &portcullis_config::Settings, gate, target: &Target| {
        let plan = plan(Issuer::Configured(&settings.auth), &settings.routes, target);
        gate_rules(Issuer::Configured(&settings.auth), gate, &plan)
    };
    let mut refusals = Vec::new();
    for (gate, text) in [(Gate::Alb, both), (Gate::Alb, oidc_alb)] {
        let settings = load(&Sources::text(&text)).expect("settings");
        refusals.push(judged(&settings, gate, &target).unwrap_err().to_string());
    }
    let cors = load(&Sources::text(&format!(
        "{}[cors]\nallow_origins = [\"https://app.example.com\"]\n",
        configured("oidc").replace("[auth]\n", "[auth]\ngate = \"rest-api\"\n")
    )))
    .expect("settings");
    let with_cors = Target {
        cors: cors.cors.clone(),
        ..target.clone()
    };
    refusals.push(
        judged(&cors, Gate::RestApi, &with_cors)
            .unwrap_err()
            .to_string(),
    );
    let mappings = load(&Sources::text(&format!(
        "{}[routes.\"GET /user/profile\"]\nparameters = [{{ key = \"overwrite:header.x-sub\", value = \"$context.authorizer.claims.sub\" }}]\n",
        configured("oidc").replace("[auth]\n", "[auth]\ngate = \"rest-api\"\n")
    )))
    .expect("settings");
    let standalone = Target {
        runtime: Runtime::Standalone,
        ..target.clone()
    };
    refusals.push(
        judged(&mappings, Gate::RestApi, &standalone)
            .unwrap_err()
            .to_string(),
    );
    let http_both = load(&Sources::text(
        &configured("cognito").replace("client_id =", "issuer_type = \"both\"\nclient_id ="),
    ))
    .expect("settings");
    let mapped =
        judged(&http_both, Gate::HttpApi, &target).expect("the HTTP API maps two issuers onto one");
    refusals.extend(mapped.notes);
    insta::assert_snapshot!("gate_refusals", refusals.join("\n"));
}

#[test]
fn every_template_passes_cfn_lint() {
    let cfn_lint = portcullis_testkit::external::ensure_cfn_lint().expect("cfn-lint installs");
    let dir = std::env::temp_dir().join(format!("portcullis-templates-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch");
    let mut files = Vec::new();
    let every = cases()
        .into_iter()
        .map(|(name, (plan, rules))| (name, plan, rules))
        .chain(gate_cases());
    for (name, plan, rules) in every {
        let file = dir.join(format!("{name}.yaml"));
        std::fs::write(&file, cloudformation::render(&plan, &rules)).expect("write");
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
    for (name, (plan, _)) in cases() {
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
                    portcullis_deploy::Value::Ref(id) => resolved(id)
                        .unwrap_or_else(|| panic!("{name}: unexpected reference {id:?}"))
                        .into(),
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

/// What a deployment would resolve each reference of a function's environment to.
fn resolved(reference: &str) -> Option<&'static str> {
    match reference {
        "ProfilesTable" => Some("portcullis-dev-profiles"),
        "UserPool" => Some("eu-west-1_Ab12Cd"),
        "UserPoolClient" => Some("1example23456789"),
        "AWS::Region" => Some("eu-west-1"),
        _ => None,
    }
}

/// Behind the REST API and the ALB, the exported function's environment (the template's, with
/// what the gate adds) is a configuration the bootstrap accepts, for that gate and every issuer
/// the gate trusts.
#[test]
fn each_gate_s_function_environment_names_its_gate_and_issuers() {
    for (name, plan, rules) in gate_cases() {
        if plan.function.is_none() {
            continue;
        }
        let template = cloudformation::template(&plan, &rules);
        let variables = template
            .pointer("/Resources/ProfileFunction/Properties/Environment/Variables")
            .and_then(serde_json::Value::as_object)
            .unwrap_or_else(|| panic!("{name}: the function's environment"));
        let env: std::collections::HashMap<String, String> = variables
            .iter()
            .map(|(k, v)| {
                let reference = v.get("Ref").and_then(|r| r.as_str());
                let text = match (v.as_str(), reference.and_then(resolved)) {
                    (Some(text), _) => text.to_owned(),
                    (_, Some(text)) => text.to_owned(),
                    _ => panic!("{name}: unexpected value {v}"),
                };
                (k.clone(), text)
            })
            .collect();
        let settings = load(&Sources {
            env: Some(env),
            ..Sources::default()
        })
        .unwrap_or_else(|e| panic!("{name}: the function would not start: {e}"));
        assert_eq!(settings.auth.gate(), rules.gate, "{name}");
        assert_eq!(settings.auth.configs.len(), rules.issuers.len(), "{name}");
    }
}
