//! The ALB's user-claims token (`x-amzn-oidc-data`) through `AlbVerifier`, against a key endpoint
//! on 127.0.0.1 standing in for the regional one: one row per rule, each with its reason, and
//! whether the key endpoint was asked (a `kid` that is not a UUID, or a foreign signer, never is).

use std::time::Duration;

use portcullis_claims::AuthError;
use portcullis_claims::alb::{AlbConfig, AlbVerifier};
use portcullis_testkit::alb::{AlbKeyServer, alb_token};
use portcullis_testkit::{TestKey, hs256, unix_now};
use serde_json::{Value, json};

const SIGNER: &str =
    "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/mine/50dc6c495c0c9188";
/// Same region, another account: what ALBeast used.
const FOREIGN_SIGNER: &str =
    "arn:aws:elasticloadbalancing:eu-west-1:210987654321:loadbalancer/app/theirs/1111222233334444";
const KID: &str = "0b1f2e3d-4c5b-6a79-8877-665544332211";
const ROTATED_KID: &str = "9f8e7d6c-5b4a-3928-1706-f5e4d3c2b1a0";
/// Never published, never fetched.
const FRESH_KID: &str = "11111111-2222-3333-4444-555555555555";
const CLIENT: &str = "my-client";
const ISSUER: &str = "https://idp.example.com";

fn header(kid: &str, signer: &str, exp: i64) -> Value {
    json!({"alg": "ES256", "kid": kid, "signer": signer, "iss": ISSUER, "client": CLIENT, "exp": exp, "typ": "JWT"})
}

fn payload(exp: i64) -> Value {
    json!({"sub": "user-1", "email": "user@example.com", "exp": exp, "iss": ISSUER})
}

async fn verifier(keys: &AlbKeyServer) -> AlbVerifier {
    let config = AlbConfig::new([SIGNER])
        .expect("signer")
        .with_clients([CLIENT])
        .expect("clients")
        .with_issuer(ISSUER)
        .with_key_endpoint(keys.url())
        .expect("key endpoint");
    AlbVerifier::new(config).expect("verifier")
}

#[tokio::test]
async fn each_alb_token_rule_refuses_with_its_reason_and_fetches_only_for_a_checked_kid_and_signer()
{
    let key = TestKey::es256(KID);
    let keys = AlbKeyServer::start().await.expect("key server");
    keys.publish(&key);
    let verifier = verifier(&keys).await;
    let later = unix_now() + 60;
    let valid = |padded| alb_token(&key, &header(KID, SIGNER, later), &payload(later), padded);

    // Accepted, padded or not; the key fetched once and then remembered.
    for padded in [true, false] {
        let claims = verifier
            .verify(Some(&valid(padded)))
            .await
            .unwrap_or_else(|e| panic!("padded {padded}: {e}"));
        assert_eq!(claims.signer, SIGNER);
        assert_eq!(claims.claims.sub(), Some("user-1"));
    }
    assert_eq!(keys.fetches(), 1, "the key is fetched once");

    let other_key = TestKey::es256_fresh(KID);
    let tampered = {
        let token = valid(true);
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        parts[1] = alb_token(
            &key,
            &header(KID, SIGNER, later),
            &json!({"sub": "admin", "exp": later}),
            true,
        )
        .split('.')
        .nth(1)
        .expect("payload")
        .to_owned();
        parts.join(".")
    };
    let der_signature = {
        let token = valid(false);
        let (input, signature) = token.rsplit_once('.').expect("signature");
        use base64::Engine as _;
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(signature)
            .expect("raw");
        // The same R and S as a minimal ASN.1 DER SEQUENCE of two INTEGERs: what an ASN.1
        // verifier would take.
        let int = |half: &[u8]| {
            let start = half.iter().position(|b| *b != 0).unwrap_or(half.len() - 1);
            let mut digits = half[start..].to_vec();
            if digits[0] & 0x80 != 0 {
                digits.insert(0, 0);
            }
            let mut v = vec![0x02, digits.len() as u8];
            v.extend(digits);
            v
        };
        let mut body = int(&raw[..32]);
        body.extend(int(&raw[32..]));
        let mut der = vec![0x30, body.len() as u8];
        der.extend(body);
        format!(
            "{input}.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(der)
        )
    };
    let pem = portcullis_testkit::alb::alb_pem(&key);
    let fetched = keys.fetches();
    let rows: Vec<(&str, Option<String>, AuthError)> = vec![
        ("no header", None, AuthError::MissingToken),
        ("empty", Some(String::new()), AuthError::MissingToken),
        (
            "over 16 KiB",
            Some("a".repeat(16 * 1024 + 1)),
            AuthError::TokenTooLarge,
        ),
        ("two segments", Some("a.b".into()), AuthError::Malformed),
        (
            // A kid never fetched: the signer is refused before any fetch.
            "signer of another account",
            Some(alb_token(
                &key,
                &header(FRESH_KID, FOREIGN_SIGNER, later),
                &payload(later),
                true,
            )),
            AuthError::WrongSigner,
        ),
        (
            "no signer",
            Some(alb_token(
                &key,
                &json!({"alg": "ES256", "kid": KID, "client": CLIENT, "iss": ISSUER, "exp": later}),
                &payload(later),
                true,
            )),
            AuthError::WrongSigner,
        ),
        (
            "alg none",
            Some(alb_token(
                &key,
                &json!({"alg": "none", "kid": KID, "signer": SIGNER, "exp": later}),
                &payload(later),
                true,
            )),
            AuthError::Unsigned,
        ),
        (
            "HS256 keyed with the PEM",
            Some(hs256(
                pem.as_bytes(),
                &json!({"alg": "HS256", "kid": KID, "signer": SIGNER, "client": CLIENT, "iss": ISSUER, "exp": later}),
                &payload(later),
            )),
            AuthError::AlgorithmNotAllowed(portcullis_claims::AlgName::of(Some("HS256"))),
        ),
        (
            "RS256",
            Some(TestKey::rsa(KID).mint_with_header(
                &json!({"alg": "RS256", "kid": KID, "signer": SIGNER, "exp": later}),
                &payload(later),
            )),
            AuthError::AlgorithmNotAllowed(portcullis_claims::AlgName::of(Some("RS256"))),
        ),
        (
            "kid with path characters",
            Some(alb_token(
                &key,
                &header("../../latest/meta-data/iam", SIGNER, later),
                &payload(later),
                true,
            )),
            AuthError::InvalidKid,
        ),
        (
            "kid not a UUID",
            Some(alb_token(
                &key,
                &header("key-1", SIGNER, later),
                &payload(later),
                true,
            )),
            AuthError::InvalidKid,
        ),
        (
            "another client",
            Some(alb_token(
                &key,
                &json!({"alg": "ES256", "kid": KID, "signer": SIGNER, "iss": ISSUER, "client": "theirs", "exp": later}),
                &payload(later),
                true,
            )),
            AuthError::InvalidAudience,
        ),
        (
            "another issuer",
            Some(alb_token(
                &key,
                &json!({"alg": "ES256", "kid": KID, "signer": SIGNER, "iss": "https://evil.example.com", "client": CLIENT, "exp": later}),
                &payload(later),
                true,
            )),
            AuthError::InvalidIssuer,
        ),
        (
            "header exp passed",
            Some(alb_token(
                &key,
                &header(KID, SIGNER, unix_now() - 1),
                &payload(later),
                true,
            )),
            AuthError::Expired,
        ),
        (
            "no header exp",
            Some(alb_token(
                &key,
                &json!({"alg": "ES256", "kid": KID, "signer": SIGNER, "iss": ISSUER, "client": CLIENT}),
                &payload(later),
                true,
            )),
            AuthError::InvalidExpiry,
        ),
        (
            "payload exp passed",
            Some(alb_token(
                &key,
                &header(KID, SIGNER, later),
                &payload(unix_now() - 1),
                true,
            )),
            AuthError::Expired,
        ),
        (
            "tampered payload",
            Some(tampered),
            AuthError::InvalidSignature,
        ),
        (
            "signed by another key under the same kid",
            Some(alb_token(
                &other_key,
                &header(KID, SIGNER, later),
                &payload(later),
                true,
            )),
            AuthError::InvalidSignature,
        ),
        (
            "DER signature",
            Some(der_signature),
            AuthError::InvalidSignature,
        ),
    ];
    for (name, value, expected) in rows {
        let refusal = verifier.verify(value.as_deref()).await.expect_err(name);
        assert_eq!(refusal, expected, "{name}");
    }
    assert_eq!(
        keys.fetches(),
        fetched,
        "no row fetched a key (the cached one served those that reached it)"
    );

    // A rotated key: fetched once, then remembered; an unknown kid: one fetch, then remembered as
    // unknown.
    let rotated = TestKey::es256_fresh(ROTATED_KID);
    keys.publish(&rotated);
    let rotated_token = alb_token(
        &rotated,
        &header(ROTATED_KID, SIGNER, later),
        &payload(later),
        true,
    );
    for _ in 0..3 {
        verifier
            .verify(Some(&rotated_token))
            .await
            .expect("rotated");
    }
    assert_eq!(keys.fetches(), fetched + 1, "a rotated kid is fetched once");
    let unknown = "00000000-0000-0000-0000-000000000000";
    let unpublished = TestKey::es256(unknown);
    let token = alb_token(
        &unpublished,
        &header(unknown, SIGNER, later),
        &payload(later),
        true,
    );
    for _ in 0..3 {
        assert_eq!(
            verifier.verify(Some(&token)).await.expect_err("unknown"),
            AuthError::UnknownKid
        );
    }
    assert_eq!(
        keys.fetches(),
        fetched + 2,
        "an unknown kid is asked about once"
    );
}

#[tokio::test]
async fn a_key_endpoint_down_slow_or_over_the_cap_never_admits() {
    let key = TestKey::es256(KID);
    let keys = AlbKeyServer::start().await.expect("key server");
    keys.publish(&key);
    let later = unix_now() + 60;
    let token = alb_token(&key, &header(KID, SIGNER, later), &payload(later), true);
    for (fault, set) in [
        (
            "down",
            &(|k: &AlbKeyServer| k.set_down(true)) as &dyn Fn(&AlbKeyServer),
        ),
        ("slow", &|k: &AlbKeyServer| {
            k.set_delay(Duration::from_secs(3))
        }),
        ("over the cap", &|k: &AlbKeyServer| k.set_oversized(true)),
    ] {
        set(&keys);
        // A new verifier each time: nothing cached.
        let verifier = verifier(&keys).await;
        assert_eq!(
            verifier.verify(Some(&token)).await.expect_err(fault),
            AuthError::KeysUnavailable,
            "{fault}"
        );
        keys.set_down(false);
        keys.set_delay(Duration::ZERO);
        keys.set_oversized(false);
    }
    // Back up: admitted.
    let verifier = verifier(&keys).await;
    verifier
        .verify(Some(&token))
        .await
        .expect("the endpoint is back");
}

#[test]
fn a_verifier_without_a_signer_is_refused_at_load() {
    let refusal = AlbConfig::new(Vec::<&str>::new()).expect_err("no signer");
    assert!(refusal.to_string().contains("alb.signers"), "{refusal}");
    for bad in [
        "arn:aws:elasticloadbalancing:xx-nowhere-1:123456789012:loadbalancer/app/a/1",
        "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/a.evil.com/1",
    ] {
        let refusal = AlbConfig::new([bad]).expect_err(bad);
        assert!(refusal.to_string().contains(bad), "{refusal}");
    }
}

#[tokio::test]
async fn made_up_kids_cost_a_bounded_number_of_fetches_and_never_block_a_real_key() {
    let key = TestKey::es256(KID);
    let keys = AlbKeyServer::start().await.expect("key server");
    keys.publish(&key);
    let verifier = verifier(&keys).await;
    let later = unix_now() + 60;
    // 50 requests, each naming a new kid under the right signer (all public knowledge).
    let started = std::time::Instant::now();
    for n in 0..50u32 {
        let kid = format!("{n:08x}-0000-0000-0000-000000000000");
        let token = alb_token(&key, &header(&kid, SIGNER, later), &payload(later), true);
        let refusal = verifier.verify(Some(&token)).await.expect_err("made up");
        assert!(
            matches!(refusal, AuthError::UnknownKid | AuthError::KeysUnavailable),
            "{refusal:?}"
        );
    }
    // A burst of 5, then one per 200 ms of however long the loop took on this machine.
    let budget = 5 + started.elapsed().as_millis() as u64 / 200 + 1;
    assert!(
        keys.fetches() <= budget,
        "{} fetches for 50 made-up kids in {:?}: the budget allowed {budget}",
        keys.fetches(),
        started.elapsed()
    );
    assert!(keys.fetches() < 50, "the budget held back most of them");
    // The real key, once the budget refills, is fetched and admits.
    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    let token = alb_token(&key, &header(KID, SIGNER, later), &payload(later), true);
    verifier.verify(Some(&token)).await.expect("the real key");
}
