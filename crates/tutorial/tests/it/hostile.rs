//! The real `portcullis-server` against the hostile client of `portcullis_testkit::hostile`, on
//! the listener it shares with the local gateway (`portcullis_axum::serve`; the gateway's own run
//! is the CLI's `gateway::hostile`): ambiguous and oversized requests refused before routing and
//! counted, 200 slow header senders cut while valid requests keep answering.

use std::process::Stdio;
use std::time::Duration;

use portcullis_testkit::hostile::{
    AMBIGUOUS_PATHS, get_of_size, scrape, send_raw, slow_clients_beside_valid_requests,
};
use portcullis_testkit::{Issuer, TestKey, jwks};

use crate::server::{folder_with, start_announcing};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standalone_server_refuses_ambiguous_and_oversized_requests_and_cuts_slow_clients() {
    let issuer = Issuer::start(jwks([TestKey::rsa("hostile-key").jwk()]))
        .await
        .expect("issuer");
    let dir = folder_with(
        "hostile",
        issuer.url(),
        "hostile-client",
        "[metrics]\nlisten = \"127.0.0.1:0\"\n",
    );
    let config = dir.join("portcullis.toml");
    let text = std::fs::read_to_string(&config).expect("config");
    let text = text.replacen("[server]\n", "[server]\nheader_timeout_ms = 1000\n", 1);
    std::fs::write(&config, text).expect("config");
    let (mut server, announced) = start_announcing(&dir, "warn", Stdio::null(), 2);
    let base = announced[0]
        .strip_prefix("listening on ")
        .expect("api line")
        .to_owned();
    let metrics = announced[1]
        .strip_prefix("metrics on ")
        .expect("metrics line")
        .to_owned();
    let address = base.trim_start_matches("http://").to_owned();
    let host = address.as_str();

    // Refused before routing: these paths would otherwise be the service's 404.
    for path in AMBIGUOUS_PATHS {
        let request = format!("GET {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n");
        let answer = send_raw(&address, request.as_bytes()).await;
        assert_eq!(
            (answer.status, answer.body().as_str()),
            (400, r#"{"message":"Bad Request"}"#),
            "{path}"
        );
    }
    for (size, status) in [(10_240, 200), (10_241, 413), (12 * 1024, 413)] {
        let answer = send_raw(&address, &get_of_size("/healthz", host, size)).await;
        assert_eq!(answer.status, status, "{size} bytes: {}", answer.body());
    }
    let scraped = scrape(&metrics).await;
    for line in [
        format!(
            "portcullis_requests_rejected_total{{reason=\"ambiguous_path\",status=\"400\"}} {}",
            AMBIGUOUS_PATHS.len()
        ),
        "portcullis_requests_rejected_total{reason=\"head_too_large\",status=\"413\"} 2".to_owned(),
    ] {
        assert!(scraped.contains(&line), "{line} in:\n{scraped}");
    }

    let pid = server.id();
    let slow = slow_clients_beside_valid_requests(&address, pid, "/healthz").await;
    println!("standalone server, 200 slow header senders: {slow}");
    assert!(slow.longest < Duration::from_secs(6), "{slow}");
    assert!(slow.answered > 0, "{slow}");
    let _ = server.kill();
    let _ = server.wait();
}
