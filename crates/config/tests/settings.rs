//! Configuration: what each provider derives, what every bad value says, and who wins among file,
//! environment and flags. Messages and derived configurations are `insta` snapshots.

use std::collections::HashMap;

use portcullis_config::{Sources, load};

const COGNITO: &str = r#"
[auth]
provider = "cognito"
[auth.cognito]
region = "us-east-1"
user_pool_id = "us-east-1_AbC123"
client_id = "6p1kqe3vvbh3e6rh2cbqmqtl5a"
"#;

const AUTH0: &str = r#"
[auth]
provider = "auth0"
[auth.auth0]
domain = "tenant.eu.auth0.com"
audience = "https://api.example.com"
roles_claim = "https://example.com/roles"
"#;

const OKTA: &str = r#"
[auth]
provider = "okta"
[auth.okta]
domain = "dev-123.okta.com"
authorization_server = "default"
audience = "api://default"
"#;

const OIDC: &str = r#"
[auth]
provider = "oidc"
issuer = "https://login.example.com/realms/main"
audience = ["account", "api"]
algorithms = ["RS256", "PS256"]
leeway_seconds = 5
"#;

#[test]
fn each_provider_derives_its_authorizer_configuration() {
    let both = COGNITO.replace("client_id =", "issuer_type = \"both\"\nclient_id =");
    let moto = COGNITO.replace(
        "provider = \"cognito\"",
        "provider = \"cognito\"\ntoken_use = \"access\"\nallow_loopback_keys = true\njwks_uri = \"http://127.0.0.1:5000/us-east-1_AbC123/.well-known/jwks.json\"",
    );
    let cases = [
        ("cognito", COGNITO.to_owned()),
        ("cognito_both_issuers", both),
        ("cognito_with_jwks_override", moto),
        ("auth0", AUTH0.to_owned()),
        ("okta", OKTA.to_owned()),
        ("oidc", OIDC.to_owned()),
        (
            "rest_api_two_issuers_and_claims",
            format!(
                "{}\n[[auth.claims]]\nname = \"tenant\"\nvalues = [\"acme\"]\nrequired = true\n\
                 [[auth.issuers]]\nissuer = \"https://idp2.example.com\"\naudience = [\"api\", \"web\"]\n\
                 [[auth.issuers.claims]]\nname = \"plan\"\n",
                OIDC.replace("[auth]", "[auth]\ngate = \"rest-api\"")
                    .replace("\"PS256\"", "\"ES256\"")
            ),
        ),
        (
            "alb_claims_in_three_formats",
            format!(
                "{}\n[[auth.claims]]\nname = \"tenant\"\nvalues = [\"acme\"]\n\
                 [[auth.claims]]\nname = \"roles\"\nformat = \"string-array\"\nvalues = [\"admin\", \"ops\"]\n\
                 [[auth.claims]]\nname = \"scope\"\nformat = \"space-separated-values\"\nvalues = [\"orders:read\"]\n",
                COGNITO.replace("[auth]", "[auth]\ngate = \"alb\"")
            ),
        ),
        (
            "http_api_query_identity_source",
            COGNITO.replace(
                "[auth]",
                "[auth]\nidentity_source = \"$request.querystring.access_token\"",
            ),
        ),
    ];
    for (name, text) in cases {
        let settings = load(&Sources::text(&text)).unwrap_or_else(|e| panic!("{name}: {e}"));
        insta::assert_snapshot!(format!("derived_{name}"), settings.auth.to_string());
    }
}

#[test]
fn every_bad_value_is_refused_naming_key_value_and_expectation() {
    let with = |base: &str, from: &str, to: &str| base.replacen(from, to, 1);
    let many_audiences = format!(
        "[auth]\nprovider = \"oidc\"\nissuer = \"https://id.example.com\"\naudience = [{}]\n",
        (0..51)
            .map(|i| format!("\"a{i}\""))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let eleven_scopes = format!(
        "{COGNITO}\n[routes.\"GET /user/profile\"]\nscopes = [{}]\n",
        (0..11)
            .map(|i| format!("\"s{i}\""))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let cases: Vec<(&str, String)> = vec![
        ("no_auth_section", "[routes]\n".into()),
        (
            "missing_provider",
            "[auth]\nissuer = \"https://id.example.com\"\n".into(),
        ),
        ("unknown_provider", with(OIDC, "\"oidc\"", "\"keycloak\"")),
        (
            "cognito_without_section",
            "[auth]\nprovider = \"cognito\"\n".into(),
        ),
        (
            "cognito_missing_region",
            with(COGNITO, "region = \"us-east-1\"\n", ""),
        ),
        (
            "cognito_bad_region",
            with(COGNITO, "region = \"us-east-1\"", "region = \"useast1\""),
        ),
        (
            "cognito_pool_of_another_region",
            with(COGNITO, "region = \"us-east-1\"", "region = \"eu-west-1\""),
        ),
        (
            "cognito_pool_id_without_underscore",
            with(COGNITO, "us-east-1_AbC123", "AbC123"),
        ),
        (
            "cognito_bad_client_id",
            with(COGNITO, "6p1kqe3vvbh3e6rh2cbqmqtl5a", "6p1k qe3v"),
        ),
        (
            "cognito_bad_issuer_type",
            with(
                COGNITO,
                "client_id =",
                "issuer_type = \"newest\"\nclient_id =",
            ),
        ),
        (
            "cognito_misspelt_key",
            with(COGNITO, "client_id", "clientid"),
        ),
        (
            "auth0_domain_with_scheme",
            with(
                AUTH0,
                "\"tenant.eu.auth0.com\"",
                "\"https://tenant.eu.auth0.com/\"",
            ),
        ),
        (
            "auth0_missing_audience",
            with(AUTH0, "audience = \"https://api.example.com\"\n", ""),
        ),
        (
            "auth0_roles_claim_not_namespaced",
            with(AUTH0, "\"https://example.com/roles\"", "\"roles\""),
        ),
        (
            "okta_org_authorization_server",
            with(
                OKTA,
                "authorization_server = \"default\"",
                "authorization_server = \"org\"",
            ),
        ),
        (
            "okta_admin_domain",
            with(OKTA, "dev-123.okta.com", "dev-123-admin.okta.com"),
        ),
        (
            "oidc_missing_issuer",
            with(
                OIDC,
                "issuer = \"https://login.example.com/realms/main\"\n",
                "",
            ),
        ),
        (
            "oidc_missing_audience",
            with(OIDC, "audience = [\"account\", \"api\"]\n", ""),
        ),
        (
            "oidc_plain_http_issuer",
            with(
                OIDC,
                "https://login.example.com",
                "http://login.example.com",
            ),
        ),
        ("oidc_51_audiences", many_audiences),
        ("hmac_algorithm", with(OIDC, "\"PS256\"", "\"HS256\"")),
        (
            "leeway_too_long",
            with(OIDC, "leeway_seconds = 5", "leeway_seconds = 3600"),
        ),
        (
            "leeway_not_a_number",
            with(OIDC, "leeway_seconds = 5", "leeway_seconds = \"five\""),
        ),
        (
            "token_use_unknown",
            with(OIDC, "leeway_seconds = 5", "token_use = \"refresh\""),
        ),
        (
            "jwks_override_with_two_issuers",
            with(
                COGNITO,
                "client_id =",
                "issuer_type = \"both\"\nclient_id =",
            )
            .replace(
                "provider = \"cognito\"",
                "provider = \"cognito\"\njwks_uri = \"https://keys.example.com/jwks.json\"",
            ),
        ),
        (
            "route_with_unknown_method",
            format!("{COGNITO}\n[routes.\"FETCH /user/profile\"]\nscopes = [\"a\"]\n"),
        ),
        (
            "route_without_leading_slash",
            format!("{COGNITO}\n[routes.\"GET user/profile\"]\nscopes = [\"a\"]\n"),
        ),
        ("route_with_eleven_scopes", eleven_scopes),
        (
            "options_route_with_scopes",
            format!("{COGNITO}\n[routes.\"OPTIONS /user/profile\"]\nscopes = [\"a\"]\n"),
        ),
        (
            "scope_with_space",
            format!("{COGNITO}\n[routes.\"GET /user/profile\"]\nscopes = [\"profile read\"]\n"),
        ),
        ("toml_syntax_error", "[auth\nprovider = \"oidc\"\n".into()),
        (
            "keys_staleness_too_short",
            with(OIDC, "[auth]\n", "[auth]\nkeys_max_staleness_seconds = 5\n"),
        ),
        (
            "server_header_timeout_too_short",
            format!("{COGNITO}\n[server]\nheader_timeout_ms = 50\n"),
        ),
        (
            "server_no_connections",
            format!("{COGNITO}\n[server]\nmax_connections = 0\n"),
        ),
        (
            "function_memory_below_lambda",
            format!("{COGNITO}\n[function]\nmemory_mb = 64\n"),
        ),
        (
            "function_memory_above_lambda",
            format!("{COGNITO}\n[function]\nmemory_mb = 20000\n"),
        ),
        (
            "function_timeout_zero",
            format!("{COGNITO}\n[function]\ntimeout_s = 0\n"),
        ),
        (
            "function_timeout_above_lambda",
            format!("{COGNITO}\n[function]\ntimeout_s = 901\n"),
        ),
        (
            "function_environment_reserved",
            format!("{COGNITO}\n[function]\nenvironment = {{ AWS_REGION = \"eu-west-1\" }}\n"),
        ),
        (
            "function_environment_ours",
            format!("{COGNITO}\n[function]\nenvironment = {{ PORTCULLIS_AUTH__ISSUER = \"x\" }}\n"),
        ),
        (
            "function_environment_bad_name",
            format!("{COGNITO}\n[function]\nenvironment = {{ \"1ST-VAR\" = \"x\" }}\n"),
        ),
        (
            "function_environment_too_large",
            format!(
                "{COGNITO}\n[function]\nenvironment = {{ BIG = \"{}\" }}\n",
                "x".repeat(4100)
            ),
        ),
        (
            "function_unknown_key",
            format!("{COGNITO}\n[function]\nmemory = 512\n"),
        ),
        (
            "gate_unknown",
            with(OIDC, "[auth]", "[auth]\ngate = \"rest\""),
        ),
        ("gate_http_api_es256", with(OIDC, "\"PS256\"", "\"ES256\"")),
        (
            "gate_alb_rs512",
            with(OIDC, "[auth]", "[auth]\ngate = \"alb\"").replace("\"PS256\"", "\"RS512\""),
        ),
        (
            "gate_http_api_claim_rule",
            format!("{COGNITO}\n[[auth.claims]]\nname = \"tenant\"\nvalues = [\"acme\"]\n"),
        ),
        (
            "gate_alb_exp_rule",
            format!(
                "{}\n[[auth.claims]]\nname = \"exp\"\nvalues = [\"1\"]\n",
                COGNITO.replace("[auth]", "[auth]\ngate = \"alb\"")
            ),
        ),
        (
            "gate_rest_string_array",
            format!(
                "{}\n[[auth.claims]]\nname = \"roles\"\nformat = \"string-array\"\nvalues = [\"admin\"]\n",
                COGNITO.replace("[auth]", "[auth]\ngate = \"rest-api\"")
            ),
        ),
        (
            "gate_claim_format_unknown",
            format!(
                "{}\n[[auth.claims]]\nname = \"roles\"\nformat = \"list\"\nvalues = [\"admin\"]\n",
                COGNITO.replace("[auth]", "[auth]\ngate = \"alb\"")
            ),
        ),
        (
            "gate_http_api_second_issuer",
            format!(
                "{COGNITO}\n[[auth.issuers]]\nissuer = \"https://idp2.example.com\"\naudience = \"api\"\n"
            ),
        ),
        (
            "gate_rest_second_issuer_without_audience",
            format!(
                "{}\n[[auth.issuers]]\nissuer = \"https://idp2.example.com\"\n",
                COGNITO.replace("[auth]", "[auth]\ngate = \"rest-api\"")
            ),
        ),
        (
            "gate_rest_query_identity_source",
            COGNITO.replace(
                "[auth]",
                "[auth]\ngate = \"rest-api\"\nidentity_source = \"$request.querystring.token\"",
            ),
        ),
        (
            "gate_alb_cors",
            format!(
                "{}\n[cors]\nallow_origins = [\"https://app.example.com\"]\n",
                COGNITO.replace("[auth]", "[auth]\ngate = \"alb\"")
            ),
        ),
        (
            "gate_alb_parameter_mappings",
            format!(
                "{}\n[routes.\"GET /items\"]\nparameters = [{{ key = \"overwrite:header.x-sub\", value = \"$context.authorizer.claims.sub\" }}]\n",
                COGNITO.replace("[auth]", "[auth]\ngate = \"alb\"")
            ),
        ),
        (
            "gate_alb_other_header",
            COGNITO.replace(
                "[auth]",
                "[auth]\ngate = \"alb\"\nidentity_source = \"$request.header.X-Token\"",
            ),
        ),
    ];
    for (name, text) in cases {
        let error = load(&Sources::text(&text)).expect_err(name);
        insta::assert_snapshot!(format!("error_{name}"), error.to_string());
    }
}

#[test]
fn function_settings_default_to_256_mb_and_10_s_and_keep_names_as_written() {
    let defaults = load(&Sources::text(COGNITO)).expect("settings").function;
    assert_eq!((defaults.memory_mb, defaults.timeout_s), (256, 10));
    assert!(defaults.environment.is_empty());
    let text = format!(
        "{COGNITO}\n[function]\nmemory_mb = 10240\ntimeout_s = 900\nenvironment = {{ Log_Level = \"debug\" }}\n"
    );
    let function = load(&Sources::text(&text)).expect("settings").function;
    assert_eq!((function.memory_mb, function.timeout_s), (10240, 900));
    assert_eq!(
        function.environment.get("Log_Level").map(String::as_str),
        Some("debug"),
        "{function:?}"
    );
}

#[test]
fn missing_file_is_named() {
    let sources = Sources {
        file: Some("does/not/exist.toml".into()),
        env: Some(HashMap::new()),
        ..Sources::default()
    };
    assert_eq!(
        load(&sources).unwrap_err().to_string(),
        "cannot read configuration from does/not/exist.toml: no such file"
    );
}

#[test]
fn environment_overrides_the_file_and_flags_override_both() {
    let mut env = HashMap::new();
    let both = format!(
        "{COGNITO}{}",
        AUTH0.replace("[auth]\nprovider = \"auth0\"\n", "")
    );
    env.insert("PORTCULLIS_AUTH__PROVIDER".to_owned(), "auth0".to_owned());
    env.insert(
        "PORTCULLIS_AUTH__AUDIENCE".to_owned(),
        "https://a.example.com,https://b.example.com".to_owned(),
    );
    env.insert(
        "PORTCULLIS_AUTH__COGNITO__USER_POOL_ID".to_owned(),
        "us-east-1_Zz9".to_owned(),
    );
    let sources = Sources {
        text: Some(both.clone()),
        env: Some(env.clone()),
        ..Sources::default()
    };
    let settings = load(&sources).expect("env applies");
    assert_eq!(settings.auth.provider.name(), "auth0");
    assert_eq!(
        settings.auth.configs[0].audiences(),
        ["https://a.example.com", "https://b.example.com"]
    );

    let flags = Sources {
        text: Some(both),
        env: Some(env),
        overrides: vec![("auth.provider".into(), "cognito".into())],
        ..Sources::default()
    };
    let settings = load(&flags).expect("flags apply");
    assert_eq!(settings.auth.provider.name(), "cognito");
    assert_eq!(
        settings.auth.configs[0].issuer(),
        "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Zz9",
        "the environment's pool id still applies under the flag's provider"
    );
}

#[test]
fn route_scopes_keep_path_case_and_fall_back_to_any() {
    let text = format!(
        "{COGNITO}\n[routes.\"POST /User/Profile\"]\nscopes = [\"profile/write\"]\n[routes.\"ANY /admin\"]\nscopes = [\"admin\"]\n"
    );
    let settings = load(&Sources::text(&text)).expect("valid");
    assert_eq!(
        settings.routes.scopes("POST", "/User/Profile"),
        ["profile/write"]
    );
    assert_eq!(
        settings.routes.scopes("post", "/User/Profile"),
        ["profile/write"]
    );
    assert!(
        settings.routes.scopes("POST", "/user/profile").is_empty(),
        "paths are case-sensitive"
    );
    assert!(settings.routes.scopes("GET", "/User/Profile").is_empty());
    assert_eq!(settings.routes.scopes("DELETE", "/admin"), ["admin"]);
}

#[test]
fn the_key_staleness_bound_is_configurable() {
    let text = OIDC.replacen("[auth]\n", "[auth]\nkeys_max_staleness_seconds = 3600\n", 1);
    let settings = load(&Sources::text(&text)).expect("settings");
    assert_eq!(
        settings.auth.keys_max_staleness,
        Some(std::time::Duration::from_secs(3600))
    );
    assert_eq!(
        load(&Sources::text(OIDC))
            .expect("settings")
            .auth
            .keys_max_staleness,
        None,
        "unset: the verifier's default bound"
    );
}

#[test]
fn records_are_kept_under_the_token_issuer_and_one_name_per_cognito_pool() {
    let original = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123";
    let updated = "https://issuer-cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123";
    // A pool moving from the original issuer form through both to the updated one keeps one name
    // for its users' records, whichever form their token carries.
    for issuer_type in ["original", "both", "updated"] {
        let text = COGNITO.replace(
            "client_id =",
            &format!("issuer_type = \"{issuer_type}\"\nclient_id ="),
        );
        let auth = load(&Sources::text(&text)).expect("settings").auth;
        assert_eq!(auth.legacy_record_issuer(), original, "{issuer_type}");
        for iss in [original, updated] {
            let trusted = auth.configs.iter().any(|c| c.issuer() == iss);
            assert_eq!(
                auth.record_issuer(iss).as_deref(),
                trusted.then_some(original),
                "{issuer_type}: {iss}"
            );
        }
    }
    // Another issuer is its own name; an untrusted one has none.
    let oidc = load(&Sources::text(OIDC)).expect("settings").auth;
    let issuer = "https://login.example.com/realms/main";
    assert_eq!(oidc.record_issuer(issuer).as_deref(), Some(issuer));
    assert_eq!(oidc.legacy_record_issuer(), issuer);
    assert_eq!(oidc.record_issuer(original), None);
    assert_eq!(
        oidc.record_issuer("https://login.example.com/realms/main/"),
        None
    );
}

#[test]
fn cors_is_read_from_the_file_or_the_environment_and_bad_values_name_their_key() {
    let file = format!(
        "{OIDC}[cors]\nallow_origins = \"https://app.example.com\"\nallow_methods = [\"get\", \"*\"]\n\
         allow_headers = [\"Authorization\"]\nmax_age_seconds = -1\n"
    );
    let cors = load(&Sources::text(&file))
        .expect("settings")
        .cors
        .expect("a [cors] section");
    assert_eq!(cors.allow_origins, ["https://app.example.com"]);
    assert_eq!(cors.allow_methods, ["GET", "*"]);
    assert_eq!(cors.allow_headers, ["authorization"]);
    assert_eq!(cors.max_age_seconds, Some(-1));
    assert!(!cors.allow_credentials);
    assert!(load(&Sources::text(OIDC)).expect("settings").cors.is_none());

    let mut env = HashMap::new();
    env.insert(
        "PORTCULLIS_CORS__ALLOW_ORIGINS".to_owned(),
        "https://a.example.com,http://localhost:5173".to_owned(),
    );
    env.insert(
        "PORTCULLIS_CORS__ALLOW_CREDENTIALS".to_owned(),
        "true".to_owned(),
    );
    let sources = Sources {
        text: Some(OIDC.to_owned()),
        env: Some(env),
        ..Sources::default()
    };
    let cors = load(&sources)
        .expect("settings")
        .cors
        .expect("from the environment");
    assert_eq!(
        cors.allow_origins,
        ["https://a.example.com", "http://localhost:5173"]
    );
    assert!(cors.allow_credentials);

    for (section, start) in [
        ("[cors]\n", "invalid cors.allow_origins \"[]\""),
        (
            "[cors]\nallow_origins = [\"https://app.example.com/path\"]\n",
            "invalid cors.allow_origins \"https://app.example.com/path\"",
        ),
        (
            "[cors]\nallow_origins = [\"*\"]\nmax_age_seconds = 90000\n",
            "invalid cors.max_age_seconds \"90000\"",
        ),
        (
            // A typo is refused, never ignored.
            "[cors]\nallow_origins = [\"*\"]\nallowed_origins = [\"*\"]\n",
            "unknown field `allowed_origins`",
        ),
    ] {
        let error = load(&Sources::text(&format!("{OIDC}{section}")))
            .expect_err(section)
            .to_string();
        assert!(error.contains(start), "{section}: {error}");
    }
}

/// `[server]`, `[store]`, `[lambda]` and `[metrics]`: every refusal names the key, the value and
/// what was expected; every good value is taken as written.
#[test]
fn server_store_lambda_and_metrics_sections_refuse_bad_values_by_name() {
    let cases: [(&str, &str); 20] = [
        (
            "[server]\nlisten = \"localhost\"\n",
            r#"invalid server.listen "localhost": expected an address and port like 127.0.0.1:3000"#,
        ),
        (
            "[server]\nlisten = \"127.0.0.1\"\n",
            r#"invalid server.listen "127.0.0.1": expected an address and port like 127.0.0.1:3000"#,
        ),
        (
            "[server]\nbody_limit_bytes = 0\n",
            r#"invalid server.body_limit_bytes "0": expected between 1 byte and 10 MiB"#,
        ),
        (
            "[server]\nbody_limit_bytes = 10485761\n",
            r#"invalid server.body_limit_bytes "10485761": expected between 1 byte and 10 MiB"#,
        ),
        (
            "[server]\nrequest_timeout_ms = 99\n",
            r#"invalid server.request_timeout_ms "99": expected between 100 and 300000 milliseconds"#,
        ),
        (
            "[server]\nrequest_timeout_ms = 300001\n",
            r#"invalid server.request_timeout_ms "300001": expected between 100 and 300000 milliseconds"#,
        ),
        (
            "[server]\nheader_timeout_ms = 300001\n",
            r#"invalid server.header_timeout_ms "300001": expected between 100 and 300000 milliseconds"#,
        ),
        (
            "[server]\nmax_connections = 65537\n",
            r#"invalid server.max_connections "65537": expected between 1 and 65536"#,
        ),
        (
            "[server]\nlog_format = \"text\"\n",
            r#"invalid server.log_format "text": expected "json" or "pretty""#,
        ),
        (
            "[store]\nkind = \"postgres\"\n",
            r#"invalid store.kind "postgres": expected "sqlite" or "dynamodb""#,
        ),
        (
            "[store]\ntable = \"profiles\"\n",
            r#"invalid store.table "profiles": expected no table for kind = "sqlite" (use path)"#,
        ),
        (
            "[store]\npath = \"  \"\n",
            r#"invalid store.path "  ": expected a file path for the SQLite database"#,
        ),
        (
            "[store]\nkind = \"dynamodb\"\ntable = \"ab\"\n",
            r#"invalid store.table "ab": expected 3 to 255 letters, digits, _ - or . (DynamoDB's rule)"#,
        ),
        (
            "[store]\nkind = \"dynamodb\"\ntable = \"my table\"\n",
            r#"invalid store.table "my table": expected 3 to 255 letters, digits, _ - or . (DynamoDB's rule)"#,
        ),
        (
            "[store]\nkind = \"dynamodb\"\ntable = \"profiles\"\nendpoint_url = \"localhost:8000\"\n",
            r#"invalid store.endpoint_url "localhost:8000": expected an http(s) URL"#,
        ),
        (
            "[lambda]\nmode = \"trust\"\n",
            r#"invalid lambda.mode "trust": expected "gateway" (behind an HTTP API JWT authorizer) or "verify""#,
        ),
        (
            "[metrics]\nlisten = \"9464\"\n",
            r#"invalid metrics.listen "9464": expected an address and port like 127.0.0.1:9464, apart from server.listen"#,
        ),
        (
            "[metrics]\nlisten = \"127.0.0.1:3000\"\n",
            r#"invalid metrics.listen "127.0.0.1:3000": expected an address apart from server.listen (the metrics stay off the API's listener)"#,
        ),
        (
            "[server]\nlisten = \"0.0.0.0:8080\"\n[metrics]\nlisten = \"0.0.0.0:8080\"\n",
            r#"invalid metrics.listen "0.0.0.0:8080": expected an address apart from server.listen (the metrics stay off the API's listener)"#,
        ),
        (
            "[lambda]\nmode = \"Gateway\"\n",
            r#"invalid lambda.mode "Gateway": expected "gateway" (behind an HTTP API JWT authorizer) or "verify""#,
        ),
    ];
    for (section, expected) in cases {
        let text = format!("{COGNITO}\n{section}");
        let error = load(&Sources::text(&text)).expect_err(section).to_string();
        assert_eq!(error, expected, "{section}");
    }
    let missing = load(&Sources::text(&format!(
        "{COGNITO}\n[store]\nkind = \"dynamodb\"\n"
    )))
    .expect_err("no table")
    .to_string();
    assert!(missing.contains("store.table"), "{missing}");

    let good = format!(
        "{COGNITO}\n[server]\nlisten = \"0.0.0.0:8080\"\nbody_limit_bytes = 10485760\n\
         request_timeout_ms = 100\nheader_timeout_ms = 300000\nmax_connections = 1\nlog_format = \"pretty\"\n\
         [store]\nkind = \"dynamodb\"\ntable = \"my-profiles.v2\"\nregion = \"eu-west-1\"\n\
         endpoint_url = \"http://127.0.0.1:5000\"\n[lambda]\nmode = \"verify\"\n\
         [metrics]\nlisten = \"127.0.0.1:9464\"\nemf = true\n"
    );
    let settings = load(&Sources::text(&good)).expect("good values");
    assert_eq!(
        settings.metrics,
        portcullis_config::MetricsSettings {
            listen: Some("127.0.0.1:9464".parse().expect("address")),
            emf: true,
        }
    );
    let without = load(&Sources::text(COGNITO)).expect("no [metrics]");
    assert_eq!(
        without.metrics,
        portcullis_config::MetricsSettings::default(),
        "off unless asked for"
    );
    assert_eq!(settings.server.listen.to_string(), "0.0.0.0:8080");
    assert_eq!(settings.server.body_limit, 10 * 1024 * 1024);
    assert_eq!(
        settings.server.request_timeout,
        std::time::Duration::from_millis(100)
    );
    assert_eq!(
        settings.server.header_timeout,
        std::time::Duration::from_secs(300)
    );
    assert_eq!(settings.server.max_connections, 1);
    assert_eq!(
        settings.server.log_format,
        portcullis_config::LogFormat::Pretty
    );
    assert_eq!(
        settings.store,
        portcullis_config::StoreSettings::DynamoDb {
            table: "my-profiles.v2".into(),
            region: Some("eu-west-1".into()),
            endpoint_url: Some("http://127.0.0.1:5000".into()),
        }
    );
    assert_eq!(settings.lambda, portcullis_config::LambdaMode::Verify);
}

#[test]
fn an_alb_gate_asks_no_audience_of_provider_oidc_and_an_api_gateway_gate_does() {
    let without = "[auth]\nprovider = \"oidc\"\nissuer = \"https://login.example.com\"\n";
    let alb = load(&Sources::text(
        &without.replace("[auth]", "[auth]\ngate = \"alb\""),
    ))
    .expect("the ALB checks no audience, so none is asked for");
    assert!(alb.auth.configs.iter().all(|c| c.audiences().is_empty()));
    let http = load(&Sources::text(without)).expect_err("the HTTP API checks one");
    assert!(http.to_string().contains("missing auth.audience"), "{http}");
}
