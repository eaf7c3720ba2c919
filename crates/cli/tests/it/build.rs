//! `portcullis build --embed-jwks`: the issuers' key sets are fetched before compiling and shipped
//! beside the binary in the Lambda zip, next to the executable `bootstrap`; bad input stops before
//! compiling, in one line. (The service reading them is tested in portcullis-tutorial.)

use crate::common;

use std::io::Read;
use std::path::Path;

use common::{fail, portcullis, scratch, scratch_with_config, succeed};
use portcullis_testkit::{Issuer, TestKey, jwks};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embed_jwks_ships_the_issuers_key_sets_in_the_lambda_zip() {
    let issuer = Issuer::start(jwks([TestKey::rsa("build-key").jwk()]))
        .await
        .expect("issuer");
    let dir = scratch_with_config(
        "build-embed",
        &format!(
            "[auth]\nprovider = \"oidc\"\nissuer = \"{}\"\naudience = \"profile-api\"\n",
            issuer.url()
        ),
    );
    let config = dir.join("portcullis.toml");
    let config_arg = config.to_str().expect("utf-8 path").to_owned();
    // The nested build gets a target directory of its own: other tests run the workspace's own
    // `target/debug/bootstrap` meanwhile, and a rebuild with one provider's features must not
    // replace it under them. It also shows that builds go where CARGO_TARGET_DIR says.
    let nested_target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("nested-build-target");
    let nested = nested_target.to_str().expect("utf-8 path").to_owned();
    // The host's own architecture: a cross build would need a cross linker this machine may lack.
    let arch = common::host_arch();
    let dir_for_build = dir.clone();
    let output = tokio::task::spawn_blocking(move || {
        portcullis(
            &dir_for_build,
            &[
                "build",
                "--provider",
                "oidc",
                "--runtime",
                "lambda",
                "--embed-jwks",
                "--arch",
                arch,
                "--config",
                &config_arg,
            ],
            &[("CARGO_TARGET_DIR", &nested)],
        )
    })
    .await
    .expect("build");
    let stdout = succeed(output);
    assert!(
        stdout.contains(&format!("==> embedding the key sets of {}", issuer.url())),
        "{stdout}"
    );
    assert_eq!(issuer.jwks_fetches(), 1);

    let zip = nested_target.join(format!("lambda/oidc-{arch}/bootstrap.zip"));
    let mut archive =
        zip::ZipArchive::new(std::fs::File::open(&zip).expect("the package")).expect("a zip");
    let names: Vec<String> = archive
        .file_names()
        .map(|name| name.expect("entry name").into_owned())
        .collect();
    assert_eq!(names, ["bootstrap", "jwks.json"]);
    assert_eq!(
        archive
            .by_name("bootstrap")
            .expect("bootstrap")
            .unix_mode()
            .map(|m| m & 0o777),
        Some(0o755)
    );
    let mut entry = archive.by_name("jwks.json").expect("key sets");
    assert_eq!(entry.unix_mode().map(|m| m & 0o777), Some(0o644));
    let mut text = String::new();
    entry.read_to_string(&mut text).expect("read");
    let document: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(document[issuer.url()]["keys"][0]["kid"], "build-key");
}

#[test]
fn embed_jwks_without_settings_or_with_an_unreachable_issuer_stops_before_compiling() {
    let dir = scratch("build-embed-bad");
    let line = fail(portcullis(
        &dir,
        &[
            "build",
            "--provider",
            "auth0",
            "--runtime",
            "lambda",
            "--embed-jwks",
        ],
        &[],
    ));
    assert!(
        line.starts_with(
            "error: --embed-jwks needs the issuers' settings and portcullis.toml does not exist"
        ),
        "{line}"
    );
    std::fs::write(
        dir.join("portcullis.toml"),
        "[auth]\nprovider = \"oidc\"\nissuer = \"http://127.0.0.1:9\"\naudience = \"profile-api\"\n",
    )
    .expect("config");
    let output = portcullis(
        &dir,
        &[
            "build",
            "--provider",
            "oidc",
            "--runtime",
            "lambda",
            "--embed-jwks",
        ],
        &[],
    );
    assert!(
        !String::from_utf8_lossy(&output.stdout).contains("==> build"),
        "nothing compiled"
    );
    let line = fail(output);
    assert!(
        line.starts_with("error: --embed-jwks: fetching the issuers' key sets: "),
        "{line}"
    );
    assert!(line.contains("127.0.0.1:9"), "names the issuer: {line}");
}
