#![cfg(feature = "aws")]
//! `portcullis deploy` and `remove` against AWS's behaviour, not only moto's: every call goes
//! through the fault-injecting proxy ([`faults`]) in front of moto, which delays role
//! assumability, holds functions Pending / InProgress and answers 409 to overlapping updates, holds
//! tables CREATING, pages every list by two, and throttles every seventh call. Other teams'
//! resources are in the account first. Per provider: a first deploy, a second that changes both
//! code and configuration, then remove — each succeeds, exactly one API of the stack exists
//! throughout, and the other teams' resources are untouched. A deploy killed half-way is finished
//! by the next one.

use crate::common;
use crate::faults;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use common::{KEYS, host_arch, on_moto, portcullis, succeed};
use faults::{Behaviour, Faults};
use portcullis_deploy::apply::Aws;

const OTHER_APIS: [&str; 3] = ["team-a-orders", "team-b-search", "team-c-billing"];
const OTHER_POOLS: [&str; 3] = ["team-a-users", "team-b-users", "team-c-users"];

/// Other teams' resources, made straight on moto: APIs (one with our stack's name but not its tag),
/// pools, a role, a table and log groups under the function's prefix.
async fn other_teams(aws: &Aws, stage: &str) {
    let ours = format!("portcullis-{stage}");
    for name in OTHER_APIS.iter().copied().chain([ours.as_str()]) {
        aws.apigw
            .create_api()
            .name(name)
            .protocol_type(portcullis_deploy::apply::sdk::apigatewayv2::types::ProtocolType::Http)
            .send()
            .await
            .expect("another team's API");
    }
    for name in OTHER_POOLS {
        aws.cognito
            .ensure_user_pool(name)
            .await
            .expect("another team's pool");
    }
    aws.iam
        .create_role()
        .role_name("team-a-role")
        .assume_role_policy_document("{}")
        .send()
        .await
        .expect("another team's role");
    for suffix in ["-archive", "-old"] {
        aws.logs
            .create_log_group()
            .log_group_name(format!("/aws/lambda/{ours}-profile{suffix}"))
            .send()
            .await
            .expect("another team's log group");
    }
}

/// What of the other teams' is still there.
async fn others_left(aws: &Aws, stage: &str) -> (usize, usize, bool, usize) {
    let apis = aws.apigw.get_apis().send().await.expect("apis");
    let untagged = format!("portcullis-{stage}");
    let apis = apis
        .items()
        .iter()
        .filter(|a| {
            OTHER_APIS.contains(&a.name().unwrap_or_default())
                || (a.name() == Some(untagged.as_str()) && a.tags().is_none_or(|t| t.is_empty()))
        })
        .count();
    let mut pools = 0;
    for name in OTHER_POOLS {
        if aws
            .cognito
            .find_user_pool(name)
            .await
            .expect("pools")
            .is_some()
        {
            pools += 1;
        }
    }
    let role = aws
        .iam
        .get_role()
        .role_name("team-a-role")
        .send()
        .await
        .is_ok();
    let groups = aws
        .logs
        .describe_log_groups()
        .log_group_name_prefix(format!("/aws/lambda/portcullis-{stage}-profile-"))
        .send()
        .await
        .expect("log groups")
        .log_groups()
        .len();
    (apis, pools, role, groups)
}

/// How many APIs carry this stack's tag.
async fn stack_apis(aws: &Aws, stage: &str) -> usize {
    let stack = format!("portcullis-{stage}");
    aws.apigw
        .get_apis()
        .send()
        .await
        .expect("apis")
        .items()
        .iter()
        .filter(|a| a.tags().and_then(|t| t.get("portcullis:stack")) == Some(&stack))
        .count()
}

/// The progress lines of one kind of action.
fn lines_with<'a>(stdout: &'a str, word: &str) -> Vec<&'a str> {
    stdout
        .lines()
        .filter(|l| l.starts_with("  ") && l.split_whitespace().last() == Some(word))
        .collect()
}

/// A package whose `bootstrap` differs by `marker` (a new build).
fn package_marked(dir: &Path, marker: u8) -> std::path::PathBuf {
    common::package_marked(dir, host_arch(), Some(marker))
}

fn first_deploy_change_then_remove(provider: &str, stage: &str, config: &str) {
    let (moto, dir, rt, direct) = on_moto(&format!("faults-{provider}"));
    rt.block_on(other_teams(&direct, stage));
    let faults = Faults::start(moto.url(), Behaviour::default());
    let env: Vec<(&str, &str)> = KEYS
        .iter()
        .copied()
        .chain([("AWS_REGION", "us-east-1")])
        .collect();
    std::fs::write(dir.join("portcullis.toml"), config).expect("config");
    let first_package = package_marked(&dir, 1);
    let deploy = |package: &Path| {
        let args = [
            "deploy",
            "--provider",
            provider,
            "--stage",
            stage,
            "--arch",
            host_arch(),
            "--package",
            package.to_str().expect("utf-8"),
            "--endpoint-url",
            faults.url(),
        ];
        succeed(portcullis(&dir, &args, &env))
    };

    let first = deploy(&first_package);
    assert!(!lines_with(&first, "created").is_empty(), "{first}");
    assert!(lines_with(&first, "updated").is_empty(), "{first}");
    assert!(
        first.contains("waiting: CreateFunction: the new role is not yet assumable"),
        "each retry is shown:\n{first}"
    );
    assert!(first.contains("waiting: Pending until Active"), "{first}");
    assert!(
        first.contains("waiting: CREATING until ACTIVE"),
        "the table is waited for:\n{first}"
    );
    assert_eq!(
        rt.block_on(stack_apis(&direct, stage)),
        1,
        "one API of the stack:\n{first}"
    );
    let after_first = faults.counts();

    // A new build and new function settings: code, then configuration, each waited for.
    std::fs::write(
        dir.join("portcullis.toml"),
        format!(
            "{config}\n[function]\nmemory_mb = 512\nenvironment = {{ GREETING = \"hello\" }}\n"
        ),
    )
    .expect("config");
    let second_package = package_marked(&dir, 2);
    let second = deploy(&second_package);
    let updated = lines_with(&second, "updated");
    assert!(
        updated.len() == 1
            && updated[0].contains(&format!("function     portcullis-{stage}-profile ")),
        "only the function changes:\n{second}"
    );
    assert!(
        second.contains("waiting: update InProgress until Successful"),
        "{second}"
    );
    assert_eq!(
        rt.block_on(stack_apis(&direct, stage)),
        1,
        "still one API:\n{second}"
    );
    rt.block_on(async {
        let function = direct
            .lambda
            .get_function()
            .function_name(format!("portcullis-{stage}-profile"))
            .send()
            .await
            .expect("function");
        let config = function.configuration().expect("configuration");
        assert_eq!(config.memory_size(), Some(512));
        let environment = config
            .environment()
            .and_then(|e| e.variables())
            .expect("environment");
        assert_eq!(
            environment.get("GREETING").map(String::as_str),
            Some("hello")
        );
        assert_eq!(
            config.code_sha256(),
            Some(
                portcullis_deploy::apply::code_sha256(
                    &std::fs::read(&second_package).expect("zip")
                )
                .as_str()
            ),
            "the function holds the new build"
        );
    });

    let remove = [
        "remove",
        "--provider",
        provider,
        "--stage",
        stage,
        "--endpoint-url",
        faults.url(),
    ];
    let removed = succeed(portcullis(&dir, &remove, &env));
    assert!(
        lines_with(&removed, "absent").is_empty(),
        "everything found and deleted:\n{removed}"
    );
    assert_eq!(rt.block_on(stack_apis(&direct, stage)), 0, "{removed}");
    let left = rt.block_on(others_left(&direct, stage));
    assert_eq!(
        left,
        (4, 3, true, 2),
        "other teams' APIs, pools, role and log groups stay"
    );

    let counts = faults.counts();
    eprintln!("{provider}: first deploy {after_first}; all runs {counts}");
    assert!(counts.throttled >= 10, "{counts}");
    assert!(counts.role_refusals >= 1, "{counts}");
    assert!(counts.conflicts >= 1, "{counts}");
    assert!(counts.settling_reads >= 2, "{counts}");
    assert!(counts.later_pages >= 3, "{counts}");
}

#[test]
fn cognito_deploys_changes_and_removes_through_aws_behaviour() {
    // The tutorial's pool: the file holds only routes (and, later, [function]).
    first_deploy_change_then_remove(
        "cognito",
        "flt-cog",
        "[routes.\"GET /healthz\"]\nauthorization = \"none\"\n",
    );
}

#[test]
fn auth0_deploys_changes_and_removes_through_aws_behaviour() {
    first_deploy_change_then_remove(
        "auth0",
        "flt-auth0",
        "[auth]\nprovider = \"auth0\"\n[auth.auth0]\ndomain = \"tenant.eu.auth0.com\"\naudience = \"https://api.example.com\"\n",
    );
}

#[test]
fn okta_deploys_changes_and_removes_through_aws_behaviour() {
    first_deploy_change_then_remove(
        "okta",
        "flt-okta",
        "[auth]\nprovider = \"okta\"\n[auth.okta]\ndomain = \"dev-123.okta.com\"\nauthorization_server = \"default\"\naudience = \"api://default\"\n",
    );
}

#[test]
fn a_deploy_interrupted_while_waiting_is_finished_by_the_next_and_cleared_by_remove() {
    let (moto, dir, rt, direct) = on_moto("faults-interrupted");
    let package = package_marked(&dir, 1);
    let args = |endpoint: &str| {
        vec![
            "deploy".to_owned(),
            "--provider".into(),
            "cognito".into(),
            "--stage".into(),
            "flt-int".into(),
            "--arch".into(),
            host_arch().into(),
            "--package".into(),
            package.to_str().expect("utf-8").into(),
            "--endpoint-url".into(),
            endpoint.into(),
        ]
    };
    // The role stays unassumable long enough to interrupt the deploy while it waits.
    let slow = Faults::start(
        moto.url(),
        Behaviour {
            role_lag: std::time::Duration::from_secs(60),
            throttle_every: 0,
            ..Behaviour::default()
        },
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args(slow.url()))
        .current_dir(&dir)
        .env("HOME", &dir)
        .env("AWS_CONFIG_FILE", dir.join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("none"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_REGION", "us-east-1")
        .envs(KEYS)
        .env_remove("AWS_PROFILE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("deploy");
    // Read every line (a closed pipe would fail the deploy's next print), and stop at the wait.
    let stdout = child.stdout.take().expect("stdout");
    let (lines, waiting) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for line in BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .take(500)
        {
            if line.contains("waiting: CreateFunction") {
                let _ = lines.send(());
            }
            seen.push(line);
        }
        seen
    });
    waiting
        .recv_timeout(std::time::Duration::from_secs(120))
        .expect("the deploy waits for the role");
    // Ctrl-C: the deploy says what exists and how to finish.
    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(interrupted.success());
    let output = child.wait_with_output().expect("exit");
    let seen = reader.join().expect("reader");
    assert!(
        !seen
            .iter()
            .any(|l| l.contains("function     ") && l.ends_with("created")),
        "interrupted before the function was made: {seen:#?}"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    for resource in [
        "table portcullis-flt-int-profiles",
        "role portcullis-flt-int-profile-role",
        "user pool portcullis-flt-int-users",
    ] {
        assert!(stderr.contains(resource), "names {resource}:\n{stderr}");
    }
    assert!(
        stderr.contains("remove --provider cognito --stage flt-int"),
        "{stderr}"
    );
    drop(slow);

    let faults = Faults::start(moto.url(), Behaviour::default());
    let env: Vec<(&str, &str)> = KEYS
        .iter()
        .copied()
        .chain([("AWS_REGION", "us-east-1")])
        .collect();
    let args = args(faults.url());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let finished = succeed(portcullis(&dir, &args, &env));
    assert!(
        finished.contains("table        portcullis-flt-int-profiles"),
        "{finished}"
    );
    assert!(
        !lines_with(&finished, "unchanged").is_empty(),
        "what was made is found:\n{finished}"
    );
    assert!(
        lines_with(&finished, "created")
            .iter()
            .any(|l| l.contains("function")),
        "{finished}"
    );
    assert_eq!(rt.block_on(stack_apis(&direct, "flt-int")), 1);
    let removed = succeed(portcullis(
        &dir,
        &[
            "remove",
            "--provider",
            "cognito",
            "--stage",
            "flt-int",
            "--endpoint-url",
            faults.url(),
        ],
        &env,
    ));
    assert!(lines_with(&removed, "absent").is_empty(), "{removed}");
    assert_eq!(rt.block_on(stack_apis(&direct, "flt-int")), 0);
}

#[test]
fn same_named_resources_of_another_stack_are_neither_taken_over_nor_deleted() {
    let (moto, dir, rt, direct) = on_moto("faults-foreign");
    // Someone else's table and role, named as this stack's would be, without its tag.
    rt.block_on(async {
        direct
            .dynamodb
            .create_table()
            .table_name("portcullis-frn-profiles")
            .billing_mode(
                portcullis_deploy::apply::sdk::dynamodb::types::BillingMode::PayPerRequest,
            )
            .attribute_definitions(
                portcullis_deploy::apply::sdk::dynamodb::types::AttributeDefinition::builder()
                    .attribute_name("id")
                    .attribute_type(
                        portcullis_deploy::apply::sdk::dynamodb::types::ScalarAttributeType::S,
                    )
                    .build()
                    .expect("attribute"),
            )
            .key_schema(
                portcullis_deploy::apply::sdk::dynamodb::types::KeySchemaElement::builder()
                    .attribute_name("id")
                    .key_type(portcullis_deploy::apply::sdk::dynamodb::types::KeyType::Hash)
                    .build()
                    .expect("key"),
            )
            .send()
            .await
            .expect("their table");
        direct
            .iam
            .create_role()
            .role_name("portcullis-frn-profile-role")
            .assume_role_policy_document("{}")
            .send()
            .await
            .expect("their role");
        // Cognito pools carry no tags on moto: their own Hosted UI domain marks them as theirs.
        let (pool, _) = direct
            .cognito
            .ensure_user_pool("portcullis-frn-users")
            .await
            .expect("their pool");
        direct
            .cognito
            .ensure_domain(&pool, "team-x-frn-login")
            .await
            .expect("their domain");
    });
    let faults = Faults::start(moto.url(), Behaviour::default());
    let env: Vec<(&str, &str)> = KEYS
        .iter()
        .copied()
        .chain([("AWS_REGION", "us-east-1")])
        .collect();
    let package = package_marked(&dir, 1);
    let refused_deploy = || {
        common::fail(portcullis(
            &dir,
            &[
                "deploy",
                "--provider",
                "cognito",
                "--stage",
                "frn",
                "--arch",
                host_arch(),
                "--package",
                package.to_str().expect("utf-8"),
                "--endpoint-url",
                faults.url(),
            ],
            &env,
        ))
    };
    let refused = refused_deploy();
    assert!(
        refused.contains(
            "a user pool named portcullis-frn-users exists but is not tagged portcullis:stack=portcullis-frn"
        ),
        "{refused}"
    );
    assert!(refused.contains("nothing was created"), "{refused}");
    let removed = succeed(portcullis(
        &dir,
        &[
            "remove",
            "--provider",
            "cognito",
            "--stage",
            "frn",
            "--endpoint-url",
            faults.url(),
        ],
        &env,
    ));
    for line in [
        "role         portcullis-frn-profile-role                  left alone (not tagged as this stack's)",
        "table        portcullis-frn-profiles                      left alone (not tagged as this stack's)",
        "user pool    portcullis-frn-users                         left alone (not tagged as this stack's)",
    ] {
        assert!(removed.contains(line), "{line}\n{removed}");
    }
    assert!(removed.contains("left alone: 3 resources"), "{removed}");
    rt.block_on(async {
        assert!(
            direct
                .dynamodb
                .describe_table()
                .table_name("portcullis-frn-profiles")
                .send()
                .await
                .is_ok(),
            "their table stays"
        );
        assert!(
            direct
                .iam
                .get_role()
                .role_name("portcullis-frn-profile-role")
                .send()
                .await
                .is_ok(),
            "their role stays"
        );
        assert!(
            direct
                .cognito
                .find_user_pool("portcullis-frn-users")
                .await
                .expect("pools")
                .is_some(),
            "their pool stays"
        );
    });
    // With their pool gone, deploy meets their table first, and refuses it the same way.
    rt.block_on(async {
        let pool = direct
            .cognito
            .find_user_pool("portcullis-frn-users")
            .await
            .expect("pools")
            .expect("their pool");
        direct
            .cognito
            .delete_domain(&pool, "team-x-frn-login")
            .await
            .expect("their domain");
        direct
            .cognito
            .delete_user_pool(&pool)
            .await
            .expect("their pool");
    });
    let refused = refused_deploy();
    assert!(
        refused.contains("a table named portcullis-frn-profiles exists but is not tagged"),
        "{refused}"
    );
    assert!(refused.contains("nothing was created"), "{refused}");
}
