#![cfg(feature = "aws")]
//! The commands a team runs after a deploy, against moto's server on 127.0.0.1: `deploy --json`,
//! `info` (text and `--json`, read from the live resources), `logs` (events written through the
//! Logs API and read back), `--profile` (a shared-config profile instead of environment keys), and
//! `remove` asking on a terminal.

use crate::common;

use std::process::Command;

use common::{KEYS, fail, host_arch, package, portcullis, scratch, succeed};
use portcullis_deploy::apply::Aws;
use portcullis_testkit::external::start_moto;

#[test]
fn deploy_json_info_logs_profile_and_a_confirmed_remove() {
    let moto = start_moto().expect("moto");
    let dir = scratch("deploy-commands");
    let package = package(&dir);
    let env: Vec<(&str, &str)> = KEYS
        .iter()
        .copied()
        .chain([("AWS_REGION", "us-east-1")])
        .collect();
    let target = [
        "--provider",
        "cognito",
        "--stage",
        "cmds",
        "--endpoint-url",
        moto.url(),
    ];
    let with = |command: &str, extra: &[&str]| {
        let mut args = vec![command];
        args.extend(target);
        args.extend(extra);
        args.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let run = |args: &[String], env: &[(&str, &str)]| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        portcullis(&dir, &args, env)
    };

    let package_arg = package.to_str().expect("utf-8").to_owned();
    let would = |stdout: &str| -> Vec<String> {
        stdout
            .lines()
            .filter(|l| l.starts_with("  ") && l.contains(" would be "))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect()
    };
    let dry_run = || {
        succeed(run(
            &with(
                "deploy",
                &[
                    "--arch",
                    host_arch(),
                    "--package",
                    &package_arg,
                    "--dry-run",
                ],
            ),
            &env,
        ))
    };
    // --dry-run on an empty account: everything would be created, and nothing is.
    let dry = dry_run();
    assert!(dry.contains("nothing is changed"), "{dry}");
    assert_eq!(would(&dry).len(), 15, "{dry}");
    assert!(
        would(&dry).iter().all(|l| l.ends_with("would be created")),
        "{dry}"
    );
    assert!(
        dry.contains("15 would be created, 0 updated, 0 deleted, 0 unchanged"),
        "{dry}"
    );
    let none = fail(run(&with("info", &[]), &env));
    assert!(none.contains("no deployment portcullis-cmds"), "{none}");

    // deploy --json: one document on stdout, progress on stderr.
    let output = run(
        &with(
            "deploy",
            &[
                "--arch",
                host_arch(),
                "--package",
                package.to_str().expect("utf-8"),
                "--json",
            ],
        ),
        &env,
    );
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let stdout = succeed(output);
    let deployed: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON document");
    assert!(
        stderr.contains("==> deploy portcullis-cmds"),
        "progress on stderr:\n{stderr}"
    );
    assert_eq!(deployed["stack"], "portcullis-cmds");
    assert_eq!(deployed["changed"], true);
    let endpoint = deployed["endpoint"].as_str().expect("endpoint").to_owned();
    assert!(endpoint.starts_with("https://"), "{deployed}");
    let pool = deployed["cognito"]["user_pool_id"]
        .as_str()
        .expect("pool")
        .to_owned();
    assert!(
        deployed["resources"]
            .as_array()
            .expect("resources")
            .iter()
            .all(|r| r["action"] == "created"),
        "{deployed}"
    );
    assert_eq!(
        deployed["routes"][1]["url"].as_str(),
        Some(format!("{endpoint}/user/profile").as_str())
    );

    // info: read back from the live resources.
    let info = succeed(run(&with("info", &[]), &env));
    assert!(info.contains(&format!("endpoint: {endpoint}")), "{info}");
    assert!(
        info.contains(&format!(
            "issuer https://cognito-idp.us-east-1.amazonaws.com/{pool}"
        )),
        "{info}"
    );
    assert!(info.contains("GET /healthz"), "{info}");
    assert!(
        info.contains("function portcullis-cmds-profile: Active, last update Successful"),
        "{info}"
    );
    assert!(
        info.contains("table portcullis-cmds-profiles: ACTIVE"),
        "{info}"
    );
    assert!(
        info.contains("amazoncognito.com/login?client_id="),
        "{info}"
    );
    let info_json: serde_json::Value =
        serde_json::from_str(&succeed(run(&with("info", &["--json"]), &env))).expect("json");
    assert_eq!(info_json["endpoint"], endpoint.as_str());
    assert_eq!(info_json["function"]["state"], "Active");
    assert_eq!(info_json["function"]["memory_mb"], 256);
    assert_eq!(info_json["cognito"]["user_pool_id"], pool.as_str());
    assert_eq!(info_json["routes"].as_array().map(Vec::len), Some(3));

    // --dry-run against the deployed stack with one route's scopes changed names exactly that.
    std::fs::write(
        dir.join("portcullis.toml"),
        "[routes.\"POST /user/profile\"]\nscopes = [\"email\"]\n",
    )
    .expect("config");
    let dry = dry_run();
    assert_eq!(
        would(&dry),
        ["route POST /user/profile would be updated"],
        "{dry}"
    );
    assert!(
        dry.contains("0 would be created, 1 updated, 0 deleted, 14 unchanged"),
        "{dry}"
    );
    let still: serde_json::Value =
        serde_json::from_str(&succeed(run(&with("info", &["--json"]), &env))).expect("json");
    let post = still["routes"]
        .as_array()
        .expect("routes")
        .iter()
        .find(|r| r["route"] == "POST /user/profile")
        .expect("POST route");
    assert_eq!(
        post["scopes"],
        serde_json::json!([]),
        "the dry run changed nothing"
    );
    std::fs::remove_file(dir.join("portcullis.toml")).expect("config");

    // logs: events written through the Logs API come back, oldest first.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let aws = rt.block_on(Aws::with_static_credentials(
        "us-east-1",
        Some(moto.url()),
        "test",
        "test",
    ));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    rt.block_on(async {
        let group = "/aws/lambda/portcullis-cmds-profile";
        aws.logs
            .create_log_stream()
            .log_group_name(group)
            .log_stream_name("2026/12/02/[$LATEST]abc")
            .send()
            .await
            .expect("stream");
        let event = |at: i64, message: &str| {
            portcullis_deploy::apply::sdk::cloudwatchlogs::types::InputLogEvent::builder()
                .timestamp(at)
                .message(message)
                .build()
                .expect("event")
        };
        aws.logs
            .put_log_events()
            .log_group_name(group)
            .log_stream_name("2026/12/02/[$LATEST]abc")
            .log_events(event(now - 3 * 3_600_000, "an old line"))
            .log_events(event(now - 60_000, "START RequestId: 1"))
            .log_events(event(
                now - 30_000,
                "{\"level\":\"INFO\",\"message\":\"profile read\"}",
            ))
            .send()
            .await
            .expect("events");
    });
    let logs = succeed(run(&with("logs", &["--since", "1h"]), &env));
    let lines: Vec<&str> = logs.lines().collect();
    assert_eq!(lines.len(), 2, "only the last hour:\n{logs}");
    assert!(
        lines[0].ends_with("2026/12/02/[$LATEST]abc START RequestId: 1"),
        "{logs}"
    );
    assert!(lines[1].contains("profile read"), "{logs}");
    let all = succeed(run(&with("logs", &["--since", "1d"]), &env));
    assert_eq!(all.lines().count(), 3, "{all}");

    // --profile: credentials and Region from the shared files, none in the environment.
    std::fs::write(
        dir.join("aws-config"),
        "[profile team]\nregion = us-east-1\n",
    )
    .expect("config");
    std::fs::write(
        dir.join("aws-credentials"),
        "[team]\naws_access_key_id = test\naws_secret_access_key = test\n",
    )
    .expect("credentials");
    let files = [
        ("AWS_CONFIG_FILE", dir.join("aws-config")),
        ("AWS_SHARED_CREDENTIALS_FILE", dir.join("aws-credentials")),
    ];
    let profiled = |args: &[String]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_portcullis"));
        command
            .args(args)
            .current_dir(&dir)
            .env("HOME", &dir)
            .env("AWS_EC2_METADATA_DISABLED", "true");
        for (key, _) in std::env::vars() {
            if key.starts_with("AWS_") {
                command.env_remove(key);
            }
        }
        command.envs(files.iter().map(|(k, v)| (*k, v.as_os_str())));
        command.output().expect("run")
    };
    let info = succeed(profiled(&with("info", &["--profile", "team"])));
    assert!(info.contains(&endpoint), "{info}");
    let missing = fail(profiled(&with("info", &["--profile", "nobody"])));
    assert!(missing.contains("nobody"), "names the profile: {missing}");

    // remove on a terminal asks first; "n" deletes nothing.
    let remove: Vec<String> = with("remove", &[]);
    let line = format!("{} {}", env!("CARGO_BIN_EXE_portcullis"), remove.join(" "));
    let on_terminal = |answer: &str| {
        let mut command = Command::new("script");
        command
            .args(["-qec", &line, "/dev/null"])
            .current_dir(&dir)
            .env("HOME", &dir)
            .env("AWS_CONFIG_FILE", dir.join("none"))
            .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("none"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped());
        let mut child = command.spawn().expect("script");
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(answer.as_bytes())
            .expect("answer");
        let output = child.wait_with_output().expect("exit");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let declined = on_terminal("n\n");
    assert!(
        declined.contains("Delete every resource of portcullis-cmds"),
        "{declined}"
    );
    assert!(declined.contains("nothing removed"), "{declined}");
    assert!(
        succeed(run(&with("info", &[]), &env)).contains(&endpoint),
        "still deployed"
    );
    let confirmed = on_terminal("y\n");
    assert!(confirmed.contains("removed"), "{confirmed}");
    let gone = fail(run(&with("info", &[]), &env));
    assert!(gone.contains("no deployment portcullis-cmds"), "{gone}");
    assert!(
        gone.contains("deploy --provider cognito --stage cmds"),
        "{gone}"
    );
    // Without a terminal, --yes is not needed (scripts); with it, nothing is asked either.
    let again = succeed(run(&with("remove", &["--yes"]), &env));
    assert!(again.contains("nothing to remove"), "{again}");
}
