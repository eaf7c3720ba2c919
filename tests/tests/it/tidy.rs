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
        ("portcullis-grant", &["portcullis-claims"][..]),
        (
            "portcullis-auth0",
            &["portcullis-claims", "portcullis-grant"][..],
        ),
        (
            "portcullis-okta",
            &["portcullis-claims", "portcullis-grant"][..],
        ),
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
        ("portcullis-checkout", &[][..]),
        (
            "portcullis-bench",
            &[
                "portcullis-checkout",
                "portcullis-claims",
                "portcullis-config",
                "portcullis-deploy",
                "portcullis-emulator",
                "portcullis-testkit",
                "portcullis-tutorial",
            ][..],
        ),
        (
            "portcullis-cli",
            &[
                "portcullis-checkout",
                "portcullis-claims",
                "portcullis-grant",
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
        // Thin: `test`, and forwarding to the portcullis binary and the bench through cargo.
        ("xtask", &["portcullis-checkout"][..]),
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
    // The testkit is a dev-dependency only, except for the command line's development issuer and
    // the bench's issuer.
    for id in g
        .workspace
        .iter()
        .filter(|id| !["portcullis-cli", "portcullis-bench"].contains(&g.name(id)))
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

#[test]
fn a_verify_only_build_compiles_the_listed_crates_and_no_more() {
    // `portcullis-claims` without features is the verifier alone: no admission (`http`), no
    // metrics, explanation or CORS model, no web framework, no AWS SDK. The list is the crate
    // README's; a new dependency shows here as a snapshot change to review.
    let mut crates: Vec<String> = cargo_tree(&[
        "-p",
        "portcullis-claims",
        "--no-default-features",
        "-e",
        "normal",
        "--no-dedupe",
    ])
    .into_iter()
    .map(|line| line.split(' ').next().unwrap_or_default().to_owned())
    .collect();
    crates.sort();
    crates.dedup();
    // (reqwest, the key-set fetcher, brings hyper's client and tower-http's redirect layer.)
    for forbidden in [
        "axum",
        "lambda_http",
        "lambda_runtime",
        "aws-config",
        "aws-smithy-runtime",
    ] {
        assert!(
            !crates.iter().any(|c| c == forbidden),
            "a verify-only build compiles {forbidden}"
        );
    }
    insta::assert_snapshot!("verify_only_crates", crates.join("\n"));
}

#[test]
fn no_library_writes_to_stdout() {
    // Core parts do not touch the outside world: a library returns what it has to say, or writes
    // where its caller told it to (EMF lines go to the writer the Lambda binary passes, a step's
    // progress lines to the one the command passes). Binaries (`src/bin/`, `main.rs`, bin-only
    // crates) wire stdout.
    let meta = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["metadata", "--format-version", "1", "--no-deps", "--locked"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    let meta: Value = serde_json::from_slice(&meta.stdout).expect("metadata JSON");
    let mut offenders = Vec::new();
    for package in meta["packages"].as_array().expect("packages") {
        let libraries = package["targets"]
            .as_array()
            .expect("targets")
            .iter()
            .filter(|t| {
                t["kind"]
                    .as_array()
                    .expect("kinds")
                    .iter()
                    .any(|k| k == "lib")
            });
        for library in libraries {
            let root = std::path::Path::new(library["src_path"].as_str().expect("src_path"));
            let dir = root.parent().expect("a source folder");
            let mut pending = vec![dir.to_path_buf()];
            while let Some(path) = pending.pop() {
                if path.is_dir() {
                    if path.file_name().is_some_and(|n| n == "bin") {
                        continue;
                    }
                    for entry in std::fs::read_dir(&path).expect("readable") {
                        pending.push(entry.expect("entry").path());
                    }
                } else if path.extension().is_some_and(|e| e == "rs")
                    && path.file_name().is_some_and(|n| n != "main.rs")
                {
                    let text = std::fs::read_to_string(&path).expect("UTF-8 source");
                    for (number, line) in text.lines().enumerate() {
                        let code = line.split("//").next().unwrap_or_default();
                        // `eprintln!` and `eprint!` write to stderr: not matched.
                        let writes = ["println!", "print!(", "stdout()"].iter().any(|word| {
                            code.match_indices(word)
                                .any(|(at, _)| !code[..at].ends_with('e'))
                        });
                        if writes {
                            offenders.push(format!("{}:{}", path.display(), number + 1));
                        }
                    }
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "stdout written by a library: {offenders:?}"
    );
}
