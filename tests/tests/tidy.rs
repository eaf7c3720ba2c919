//! Architecture rules that show only as an absence, read from `cargo metadata`.
//! See ARCHITECTURE.md: `cli → {deploy, emulator, config, tutorial}`, `tutorial → {axum, lambda, config}`,
//! `{axum, lambda, emulator, config, providers} → claims`; xtask depends on none of them.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;

struct Graph {
    /// Package id → (name, version).
    packages: BTreeMap<String, (String, String)>,
    /// Package id → ids it needs at build or run time (dev-dependencies left out).
    edges: BTreeMap<String, Vec<String>>,
    workspace: BTreeSet<String>,
}

fn graph() -> Graph {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // Only what this machine builds: Windows-only crates do not count against us on Linux.
    let rustc = Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("rustc -vV runs");
    let rustc = String::from_utf8_lossy(&rustc.stdout).into_owned();
    let host = rustc
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("host triple");
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--locked",
            "--filter-platform",
            host,
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let packages = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| {
            let field = |k: &str| p[k].as_str().expect("string").to_owned();
            (field("id"), (field("name"), field("version")))
        })
        .collect();
    let edges_where = |keep: &dyn Fn(&Value) -> bool| -> BTreeMap<String, Vec<String>> {
        meta["resolve"]["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .map(|node| {
                let deps = node["deps"]
                    .as_array()
                    .expect("deps")
                    .iter()
                    .filter(|d| d["dep_kinds"].as_array().expect("kinds").iter().any(keep))
                    .map(|d| d["pkg"].as_str().expect("pkg").to_owned())
                    .collect();
                (node["id"].as_str().expect("id").to_owned(), deps)
            })
            .collect()
    };
    let edges = edges_where(&|kind| kind["kind"] != "dev");
    let workspace = meta["workspace_members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| m.as_str().expect("id").to_owned())
        .collect();
    Graph {
        packages,
        edges,
        workspace,
    }
}

impl Graph {
    fn id(&self, name: &str) -> String {
        self.packages
            .iter()
            .find(|(_, (n, _))| n == name)
            .map(|(id, _)| id.clone())
            .unwrap_or_else(|| panic!("no package {name}"))
    }
    fn name(&self, id: &str) -> &str {
        &self.packages[id].0
    }
    fn direct_workspace_deps(&self, id: &str) -> Vec<&str> {
        self.edges[id]
            .iter()
            .filter(|d| self.workspace.contains(*d))
            .map(|d| self.name(d))
            .collect()
    }
}

/// Package lines (`name vX.Y.Z`) that `cargo tree` prints for these arguments, for this machine's
/// target and with resolver-2 feature resolution (unlike `cargo metadata`, which unites features).
fn cargo_tree(args: &[&str]) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .arg("tree")
        .args(args)
        .args(["--prefix", "none", "--format", "{p}", "--locked"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.trim_end_matches(" (*)").to_owned())
        .collect()
}

#[test]
fn claims_depends_on_no_workspace_crate_web_framework_or_aws_sdk() {
    let g = graph();
    assert!(
        g.direct_workspace_deps(&g.id("portcullis-claims"))
            .is_empty()
    );
    let forbidden: Vec<String> = cargo_tree(&["-p", "portcullis-claims", "-e", "normal,build"])
        .into_iter()
        .filter(|line| {
            let name = line.split(' ').next().unwrap_or_default();
            ["axum", "lambda_http", "lambda_runtime", "actix-web", "warp"].contains(&name)
                || name.starts_with("aws-sdk-")
                || name.starts_with("portcullis-") && name != "portcullis-claims"
        })
        .collect();
    assert!(
        forbidden.is_empty(),
        "portcullis-claims must stay framework- and SDK-free: {forbidden:?}"
    );
}

#[test]
fn workspace_edges_follow_the_architecture() {
    let g = graph();
    // Which workspace crates each crate may depend on (normal and build dependencies).
    let allowed: BTreeMap<&str, &[&str]> = BTreeMap::from([
        ("portcullis-claims", &[][..]),
        ("portcullis-cognito", &["portcullis-claims"][..]),
        ("portcullis-auth0", &["portcullis-claims"][..]),
        ("portcullis-okta", &["portcullis-claims"][..]),
        (
            "portcullis-config",
            &[
                "portcullis-claims",
                "portcullis-cognito",
                "portcullis-auth0",
                "portcullis-okta",
            ][..],
        ),
        ("portcullis-testkit", &[][..]),
        ("portcullis-axum", &["portcullis-claims"][..]),
        ("portcullis-lambda", &["portcullis-claims"][..]),
        (
            "portcullis-deploy",
            &["portcullis-config", "portcullis-cognito"][..],
        ),
        (
            "portcullis-emulator",
            &["portcullis-claims", "portcullis-config", "portcullis-axum"][..],
        ),
        (
            "portcullis-tutorial",
            &[
                "portcullis-claims",
                "portcullis-axum",
                "portcullis-config",
                "portcullis-lambda",
            ][..],
        ),
        ("portcullis-tests", &[][..]),
        (
            "portcullis-cli",
            &[
                "portcullis-claims",
                "portcullis-cognito",
                "portcullis-config",
                "portcullis-deploy",
                "portcullis-emulator",
                "portcullis-axum",
                "portcullis-tutorial",
                "portcullis-testkit",
            ][..],
        ),
        (
            "portcullis-examples",
            &[
                "portcullis-claims",
                "portcullis-axum",
                "portcullis-lambda",
                "portcullis-auth0",
            ][..],
        ),
        // Thin: `test`, and forwarding to the portcullis binary through cargo.
        ("xtask", &[][..]),
    ]);
    for id in &g.workspace {
        let name = g.name(id);
        let permitted = allowed
            .get(name)
            .unwrap_or_else(|| panic!("{name} is not in the architecture table of tidy.rs"));
        for dep in g.direct_workspace_deps(id) {
            assert!(
                permitted.contains(&dep),
                "forbidden edge {name} → {dep}: see ARCHITECTURE.md"
            );
        }
    }
    // The testkit is a dev-dependency only, except for the command line's development issuer.
    for id in g
        .workspace
        .iter()
        .filter(|id| g.name(id) != "portcullis-cli")
    {
        assert!(
            !g.direct_workspace_deps(id).contains(&"portcullis-testkit"),
            "{} ships the testkit",
            g.name(id)
        );
    }
}

/// The AWS SDK crates (SDKs, smithy runtime, aws-config) that `cargo tree ARGS` would build.
fn aws_sdk_crates(args: &[&str]) -> Vec<String> {
    cargo_tree(&[args, &["-e", "normal,build"][..]].concat())
        .into_iter()
        .filter(|line| {
            line.starts_with("aws-sdk-")
                || line.starts_with("aws-smithy-")
                || line.starts_with("aws-config")
        })
        .collect()
}

#[test]
fn auth0_users_build_no_aws_sdk() {
    let sdk = aws_sdk_crates(&["-p", "portcullis-auth0", "-p", "portcullis-claims"]);
    assert!(
        sdk.is_empty(),
        "portcullis-claims + portcullis-auth0 must not build the AWS SDK: {sdk:?}"
    );
}

#[test]
fn the_command_line_without_its_aws_feature_builds_no_aws_sdk() {
    // What `cargo xtask dev` and `gateway` compile: the first run must not wait on the SDK.
    let sdk = aws_sdk_crates(&["-p", "portcullis-cli", "--no-default-features"]);
    assert!(
        sdk.is_empty(),
        "portcullis-cli without `aws` must not build the AWS SDK: {sdk:?}"
    );
}

#[test]
fn lambda_packages_hold_no_sqlite_and_no_credential_chain() {
    // What `portcullis build --runtime lambda` compiles for each provider: DynamoDB with the
    // environment's credentials, so neither SQLite nor aws-config (STS, SSO, IMDS) is in the zip.
    for provider in ["cognito", "auth0", "okta"] {
        let features = format!("{provider},dynamodb,lambda");
        let heavy: Vec<String> = cargo_tree(&[
            "-p",
            "portcullis-tutorial",
            "--no-default-features",
            "--features",
            &features,
            "-e",
            "normal,build",
        ])
        .into_iter()
        .filter(|line| {
            [
                "aws-config ",
                "aws-sdk-sts ",
                "rusqlite ",
                "libsqlite3-sys ",
            ]
            .iter()
            .any(|name| line.starts_with(name))
        })
        .collect();
        assert!(
            heavy.is_empty(),
            "the {provider} Lambda package would build {heavy:?}"
        );
    }
}

#[test]
fn cognito_runtime_profile_builds_no_aws_sdk_without_the_sdk_feature() {
    let sdk: Vec<String> = cargo_tree(&["-p", "portcullis-cognito", "-e", "normal,build"])
        .into_iter()
        .filter(|line| line.starts_with("aws-sdk-"))
        .collect();
    assert!(
        sdk.is_empty(),
        "portcullis-cognito without `sdk` must not build the AWS SDK: {sdk:?}"
    );
}

#[test]
fn no_crate_is_built_in_two_versions() {
    // Versions that cannot be unified today, each with its reason. Keep this list short.
    let tolerated: &[(&str, &str)] = &[
        (
            "syn",
            "criterion (dev) reaches syn 2 through ciborium → half → zerocopy-derive; url's ICU crates use syn 3",
        ),
        (
            "base64",
            "lambda_http, lambda_runtime and aws_lambda_events require 0.22; hyper-util (reqwest, axum) requires 0.23",
        ),
        // aws-config's `sso` feature (IAM Identity Center credentials for `cargo xtask deploy`) pins
        // sha1 0.10 on digest 0.10, while aws-sigv4's hmac is on digest 0.11 (aws-config 1.13 is the
        // newest). Small hash plumbing only: no second crypto backend.
        (
            "digest",
            "aws-config sso → sha1 0.10; aws-sigv4 → hmac 0.13",
        ),
        ("block-buffer", "follows digest 0.10 / 0.11"),
        ("crypto-common", "follows digest 0.10 / 0.11"),
        ("cpufeatures", "follows sha1 0.10 / digest 0.11 users"),
    ];
    let duplicated: Vec<String> = cargo_tree(&[
        "--workspace",
        "--duplicates",
        "-e",
        "normal,build,dev",
        "--depth",
        "0",
    ])
    .into_iter()
    .filter(|line| {
        let name = line.split(' ').next().unwrap_or_default();
        !tolerated.iter().any(|(t, _)| *t == name)
    })
    .collect();
    assert!(
        duplicated.is_empty(),
        "built in several versions (unify, or justify in `tolerated`): {duplicated:?}"
    );
}
