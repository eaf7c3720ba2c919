//! The command line as a user meets it, through the real binary: `--help` of every command (stdout,
//! exit 0, snapshots), `--version`, and a usage error per command (stderr, exit 2, one line naming
//! the flag and what was expected).

use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .env_remove("CARGO")
        .output()
        .expect("portcullis runs")
}

const COMMANDS: [&str; 10] = [
    "dev", "gateway", "build", "deploy", "remove", "info", "logs", "invoke", "token", "login",
];

#[test]
fn every_command_answers_help_on_stdout_with_exit_0() {
    let top = run(&["--help"]);
    assert_eq!(top.status.code(), Some(0));
    assert!(top.stderr.is_empty());
    insta::assert_snapshot!("help", String::from_utf8_lossy(&top.stdout));
    for command in COMMANDS {
        let output = run(&[command, "--help"]);
        assert_eq!(output.status.code(), Some(0), "{command} --help");
        assert!(output.stderr.is_empty(), "{command} --help wrote to stderr");
        insta::assert_snapshot!(
            format!("help_{command}"),
            String::from_utf8_lossy(&output.stdout)
        );
    }
}

#[test]
fn version_prints_the_package_version() {
    let output = run(&["--version"]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("portcullis {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn a_usage_error_is_one_line_naming_the_flag_and_what_was_expected_with_exit_2() {
    let cases: [(&[&str], &str); 24] = [
        (
            &["dev", "--runtime", "ec2"],
            "error: invalid value 'ec2' for '--runtime <RUNTIME>' [possible values: lambda, standalone]",
        ),
        (
            &["gateway", "--issuer", "dev"],
            "error: the following required arguments were not provided: <--upstream <URL>|--lambda <PATH>>",
        ),
        (
            &["gateway", "--upstream", "ftp://127.0.0.1"],
            "error: invalid value 'ftp://127.0.0.1' for '--upstream <URL>': expected an http:// or https:// URL",
        ),
        (
            &["build", "--provider", "auth0"],
            "error: the following required arguments were not provided: --runtime <RUNTIME>",
        ),
        (
            &[
                "build",
                "--provider",
                "auth0",
                "--runtime",
                "lambda",
                "--arch",
                "riscv",
            ],
            "error: invalid value 'riscv' for '--arch <ARCH>' [possible values: x86_64, arm64]",
        ),
        (
            &["deploy", "--provider", "keycloak"],
            "error: invalid value 'keycloak' for '--provider <PROVIDER>' [possible values: cognito, auth0, okta, oidc]",
        ),
        (
            &[
                "deploy",
                "--provider",
                "auth0",
                "--package",
                "a.zip",
                "--backend-url",
                "https://x",
            ],
            "error: the argument '--package <ZIP>' cannot be used with '--backend-url <URL>'",
        ),
        (
            &["remove", "--provider", "auth0", "--stage", "Prod"],
            "error: invalid value 'Prod' for '--stage <STAGE>': expected 1 to 20 lowercase letters, digits and hyphens (it is part of every resource name)",
        ),
        (
            &["token", "--provider", "auth0", "--id", "--json"],
            "error: the argument '--id' cannot be used with '--json'",
        ),
        (
            &["login", "--provider", "auth0", "--timeout", "0"],
            "error: invalid value '0' for '--timeout <SECONDS>': 0 is not in 1..=3600",
        ),
        (
            &["logs", "--provider", "auth0", "--since", "10x"],
            "error: invalid value '10x' for '--since <AGE>': expected a number with s, m, h or d, like 90s, 10m, 2h or 7d",
        ),
        (
            &["logs", "--provider", "auth0", "--since", "0s"],
            "error: invalid value '0s' for '--since <AGE>': expected from 1s to 3653d (CloudWatch Logs keeps events at most 10 years)",
        ),
        (
            &["info", "--provider", "okta", "--profile", "my team"],
            "error: invalid value 'my team' for '--profile <NAME>': expected a profile name of letters, digits and - _ . @ + (as in ~/.aws/config)",
        ),
        (
            &["info", "--provider", "okta", "--follow"],
            "error: unexpected argument '--follow' found",
        ),
        (
            &["remove", "--provider", "okta", "--yes=no"],
            "error: unexpected value 'no' for '--yes' found; no more were expected",
        ),
        (
            &["deploy", "--provider", "okta", "--json", "--json"],
            "error: the argument '--json' cannot be used multiple times",
        ),
        (
            &[
                "deploy",
                "--provider",
                "okta",
                "--dry-run",
                "--export",
                "t.yaml",
            ],
            "error: the argument '--dry-run' cannot be used with '--export <FILE>'",
        ),
        (
            &["invoke", "GET", "user/profile", "--local"],
            "error: invalid value 'user/profile' for '<PATH>': expected a path starting with / (its query string included), like /user/profile",
        ),
        (
            &[
                "invoke",
                "POST",
                "/user/profile",
                "--local",
                "--data",
                "{name",
            ],
            "error: invalid value '{name' for '--data <JSON>': expected a JSON document: key must be a string at line 1 column 2",
        ),
        (
            &[
                "invoke",
                "GET",
                "/",
                "--local",
                "--url",
                "https://api.example.com",
            ],
            "error: the argument '--local[=<URL>]' cannot be used with '--url <URL>'",
        ),
        (
            &["invoke", "FETCH", "/user/profile", "--local"],
            "error: invalid value 'FETCH' for '<METHOD>' [possible values: GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS] tip: a similar value exists: 'PATCH'",
        ),
        (
            &[
                "invoke",
                "GET",
                "/",
                "--provider",
                "okta",
                "--state-dir",
                "s",
            ],
            "error: the argument '--provider <PROVIDER>' cannot be used with '--state-dir <DIR>'",
        ),
        (
            &[
                "invoke",
                "GET",
                "/",
                "--provider",
                "okta",
                "--url",
                "ftp://api.example.com",
            ],
            "error: invalid value 'ftp://api.example.com' for '--url <URL>': expected an http:// or https:// URL",
        ),
        (
            &["deplyo"],
            "error: unrecognized subcommand 'deplyo' tip: a similar subcommand exists: 'deploy'",
        ),
    ];
    for (args, expected) in cases {
        let output = run(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?}");
        assert_eq!(
            stderr.lines().count(),
            1,
            "{args:?}: one line, got {stderr}"
        );
        assert_eq!(stderr.trim_end(), expected, "{args:?}");
    }
}

#[test]
fn flags_take_their_value_after_a_space_or_an_equals_sign() {
    for args in [
        &["dev", "--runtime=ec2"][..],
        &["dev", "--runtime", "ec2"][..],
    ] {
        let output = run(args);
        assert_eq!(output.status.code(), Some(2));
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("invalid value 'ec2' for '--runtime"),
            "{args:?}"
        );
    }
}

/// `deploy --gate rest-api|alb --export` writes that gate's template from the configuration, with
/// what the mapping means on stderr; without `--export` it refuses before any AWS call, and a
/// setting the gate cannot take is refused by name before anything is written.
#[test]
fn deploy_exports_each_gate_and_applies_only_the_http_api() {
    let dir = std::env::temp_dir().join(format!("portcullis-gate-export-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch");
    let config = dir.join("portcullis.toml");
    std::fs::write(
        &config,
        "[auth]\nprovider = \"oidc\"\nissuer = \"https://login.example.com\"\naudience = \"api\"\n\
         jwks_uri = \"https://login.example.com/keys\"\n\
         [routes.\"POST /user/profile\"]\nscopes = [\"profile/write\"]\n",
    )
    .expect("config");
    let config = config.to_str().expect("utf-8 path");
    for (gate, expected) in [
        ("rest-api", "Type: \"AWS::ApiGateway::Authorizer\""),
        ("alb", "Type: \"jwt-validation\""),
    ] {
        let file = dir.join(format!("{gate}.yaml"));
        let output = run(&[
            "deploy",
            "--provider",
            "oidc",
            "--gate",
            gate,
            "--config",
            config,
            "--export",
            file.to_str().expect("utf-8 path"),
        ]);
        assert!(output.status.success(), "{gate}: {output:?}");
        let template = std::fs::read_to_string(&file).expect("template written");
        assert!(template.contains(expected), "{gate}: {template}");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            stdout.starts_with(&format!("wrote {}", file.display())),
            "{stdout}"
        );
        let output = run(&[
            "deploy",
            "--provider",
            "oidc",
            "--gate",
            gate,
            "--config",
            config,
            "--endpoint-url",
            "http://127.0.0.1:9",
        ]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{gate}: {stderr}");
        assert!(
            stderr.contains("deployed through CloudFormation only"),
            "{gate}: {stderr}"
        );
    }
    let alb_notes = run(&[
        "deploy",
        "--provider",
        "oidc",
        "--gate",
        "alb",
        "--config",
        config,
        "--export",
        dir.join("again.yaml").to_str().expect("utf-8 path"),
    ]);
    assert!(
        String::from_utf8_lossy(&alb_notes.stderr).contains("note: the ALB checks no audience"),
        "{alb_notes:?}"
    );
    std::fs::write(
        dir.join("no-keys.toml"),
        "[auth]\nprovider = \"oidc\"\nissuer = \"https://login.example.com\"\naudience = \"api\"\n",
    )
    .expect("config");
    let refused = dir.join("refused.yaml");
    let output = run(&[
        "deploy",
        "--provider",
        "oidc",
        "--gate",
        "alb",
        "--config",
        dir.join("no-keys.toml").to_str().expect("utf-8 path"),
        "--export",
        refused.to_str().expect("utf-8 path"),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("auth.jwks_uri"), "{stderr}");
    assert!(!refused.exists(), "nothing is written for a refused gate");
    let _ = std::fs::remove_dir_all(&dir);
}
