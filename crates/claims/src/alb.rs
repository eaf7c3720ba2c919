//! The user-claims token an Application Load Balancer signs and forwards in `x-amzn-oidc-data`
//! after its `authenticate-oidc` or `authenticate-cognito` action ("Authenticate users using an
//! Application Load Balancer", section "User claims encoding and signature verification").
//!
//! It is a JWT in form only, and the ways to get it wrong are well known (the 2024 "ALBeast"
//! research found most backends skipped the `signer` check, so any ALB in the region, in any
//! account, could mint tokens they took). [`AlbVerifier`] holds it to:
//!
//! 1. at most 16 KiB (the ALB refuses user claims and access token over 11 KB together);
//! 2. three segments, base64 with or without `=` padding (the ALB pads them, which strict JWT
//!    decoders refuse); the signature covers the segments exactly as sent;
//! 3. a header with `alg` ES256 only (never `none`, never HMAC keyed with the public key), a `kid`
//!    that is a UUID (checked before it goes near a URL), a `signer` equal to one of the
//!    configured ALB ARNs (required configuration), `client` one of the configured client ids and
//!    `iss` the configured issuer when those are given, and `exp` not passed (with the leeway);
//! 4. the key by `kid` from the key endpoint of the signer's region (a PEM P-256 public key),
//!    fetched over https with a 1.5 s timeout and a 4 KiB cap, cached by `kid` (64 at most), a
//!    `kid` the endpoint does not know remembered for a minute; a failed fetch never admits;
//! 5. the signature as JOSE's raw R‖S (64 bytes; DER refused);
//! 6. the payload a JSON object whose `exp`, when present, has not passed either.
//!
//! Refusals are [`AuthError`]s with stable reasons, as every gate's are.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::GeneralPurpose;
use lru::LruCache;
use serde_json::{Map, Value};
use url::Url;

use crate::config::{FETCH_TIMEOUT, check_fetchable};
use crate::json::parse_object;
use crate::{AlgName, AuthError, Claims, Clock, ConfigError, lock};

/// The most of an `x-amzn-oidc-data` value read: the ALB answers 500 itself when the user claims
/// and the access token pass 11 KB together, and base64 adds a third.
pub const MAX_ALB_TOKEN_BYTES: usize = 16 * 1024;

/// A P-256 public key's PEM is about 180 bytes: more is not a key.
const MAX_KEY_BYTES: usize = 4 * 1024;

/// Keys remembered by `kid` (an ALB rotates its key; a few regions' keys fit many times over).
const KEY_CACHE_ENTRIES: usize = 64;

/// How long a `kid` the key endpoint did not know is answered without asking again, and how many
/// such `kid`s are remembered.
const UNKNOWN_KID_FOR: Duration = Duration::from_secs(60);
const UNKNOWN_KID_ENTRIES: usize = 1024;

/// Fetches of keys not yet cached: a burst of 5, then one per 200 ms. Everything checked before
/// the signature (signer, client, issuer, exp) is public, so anyone who reaches the service can
/// name a new `kid` with every request: this bounds the fetches that buys them (a fetch past the
/// budget fails closed, `keys_unavailable`).
const FETCH_BURST: f64 = 5.0;
const FETCH_EVERY: Duration = Duration::from_millis(200);

/// The DER prefix of a P-256 SubjectPublicKeyInfo (id-ecPublicKey, prime256v1, a 66-byte bit
/// string): what follows it is the uncompressed point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// The regions whose key endpoint is known (AWS's list of Regions, 2026). A signer elsewhere is
/// refused at load, naming the region; [`AlbConfig::with_key_endpoint`] covers a newer one.
const REGIONS: [&str; 39] = [
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-south-1",
    "eu-south-2",
    "eu-north-1",
    "il-central-1",
    "me-south-1",
    "me-central-1",
    "mx-central-1",
    "sa-east-1",
    "cn-north-1",
    "cn-northwest-1",
    "us-gov-west-1",
    "us-gov-east-1",
    "eusc-de-east-1",
];

/// Base64 of either alphabet, padded or not: the ALB pads its segments, and early tokens used the
/// standard alphabet. The signature is checked over the segments as sent, so leniency here
/// cannot change what was signed.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(false),
);

/// An ALB, by its ARN: `arn:aws:elasticloadbalancing:REGION:ACCOUNT:loadbalancer/app/NAME/ID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlbSigner {
    arn: String,
    region: String,
    partition: &'static str,
}

impl AlbSigner {
    /// Parses an ALB's ARN: partition `aws`, `aws-cn` or `aws-us-gov` (matching the region), a
    /// known region, a 12-digit account, and `loadbalancer/app/NAME/ID`.
    pub fn parse(arn: &str) -> Result<AlbSigner, ConfigError> {
        let expected = "an Application Load Balancer ARN, arn:aws:elasticloadbalancing:REGION:ACCOUNT:loadbalancer/app/NAME/ID";
        let invalid = || ConfigError::new("alb.signers", arn, expected);
        let mut parts = arn.splitn(6, ':');
        let (
            Some("arn"),
            Some(partition),
            Some("elasticloadbalancing"),
            Some(region),
            Some(account),
            Some(resource),
        ) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        )
        else {
            return Err(invalid());
        };
        let partition = match partition {
            "aws" => "aws",
            "aws-cn" => "aws-cn",
            "aws-us-gov" => "aws-us-gov",
            "aws-eusc" => "aws-eusc",
            _ => return Err(invalid()),
        };
        if !REGIONS.contains(&region) {
            return Err(ConfigError::new(
                "alb.signers",
                arn,
                "a known AWS region in the ARN (for another, set the key endpoint yourself)",
            ));
        }
        let region_partition = if region.starts_with("cn-") {
            "aws-cn"
        } else if region.starts_with("us-gov-") {
            "aws-us-gov"
        } else if region.starts_with("eusc-") {
            "aws-eusc"
        } else {
            "aws"
        };
        let mut resource_parts = resource.split('/');
        let resource_ok = matches!(
            (
                resource_parts.next(),
                resource_parts.next(),
                resource_parts.next(),
                resource_parts.next(),
                resource_parts.next(),
            ),
            (Some("loadbalancer"), Some("app"), Some(name), Some(id), None)
                if !name.is_empty()
                    && name.len() <= 32
                    && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !id.is_empty()
                    && id.bytes().all(|b| b.is_ascii_hexdigit())
        );
        if region_partition != partition
            || account.len() != 12
            || !account.bytes().all(|b| b.is_ascii_digit())
            || !resource_ok
        {
            return Err(invalid());
        }
        Ok(AlbSigner {
            arn: arn.to_owned(),
            region: region.to_owned(),
            partition,
        })
    }

    /// The ARN as configured.
    pub fn arn(&self) -> &str {
        &self.arn
    }

    /// The region named in the ARN.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Where the ALB's public key `kid` (a checked UUID) is published: the regional endpoint;
    /// GovCloud's is an S3 bucket.
    fn key_url(&self, kid: &str) -> String {
        let region = &self.region;
        match self.partition {
            "aws-us-gov" => {
                format!("https://s3-{region}.amazonaws.com/aws-elb-public-keys-prod-{region}/{kid}")
            }
            // **U**: AWS names no China or European Sovereign Cloud endpoint; these follow each
            // partition's domain. A wrong guess fails closed; `with_key_endpoint` sets the right one.
            "aws-cn" => format!("https://public-keys.auth.elb.{region}.amazonaws.com.cn/{kid}"),
            "aws-eusc" => format!("https://public-keys.auth.elb.{region}.amazonaws.eu/{kid}"),
            _ => format!("https://public-keys.auth.elb.{region}.amazonaws.com/{kid}"),
        }
    }
}

/// What an [`AlbVerifier`] requires. There is no default signer: an ALB token proves only that
/// *some* ALB signed it until the signer is checked.
#[derive(Debug, Clone)]
pub struct AlbConfig {
    signers: Vec<AlbSigner>,
    clients: Vec<String>,
    issuer: Option<String>,
    leeway: Duration,
    key_endpoint: Option<Url>,
}

impl AlbConfig {
    /// Tokens signed by one of `signers` (ALB ARNs; at least one).
    pub fn new<S: AsRef<str>>(
        signers: impl IntoIterator<Item = S>,
    ) -> Result<AlbConfig, ConfigError> {
        let signers = signers
            .into_iter()
            .map(|s| AlbSigner::parse(s.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        if signers.is_empty() {
            return Err(ConfigError::new(
                "alb.signers",
                "[]",
                "one or more ALB ARNs: the signer check is what tells your ALB from anyone's",
            ));
        }
        Ok(AlbConfig {
            signers,
            clients: Vec::new(),
            issuer: None,
            leeway: Duration::ZERO,
            key_endpoint: None,
        })
    }

    /// Also requires the header's `client` to be one of `clients` (the IdP client ids).
    pub fn with_clients<S: Into<String>>(
        mut self,
        clients: impl IntoIterator<Item = S>,
    ) -> Result<AlbConfig, ConfigError> {
        self.clients = clients.into_iter().map(Into::into).collect();
        if self.clients.iter().any(String::is_empty) {
            return Err(ConfigError::new(
                "alb.clients",
                "\"\"",
                "non-empty client ids",
            ));
        }
        Ok(self)
    }

    /// Also requires the header's `iss` to be exactly `issuer`.
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> AlbConfig {
        self.issuer = Some(issuer.into());
        self
    }

    /// Accepts `exp` this long past.
    pub fn with_leeway(mut self, leeway: Duration) -> AlbConfig {
        self.leeway = leeway;
        self
    }

    /// Fetches keys from `endpoint` + `/{kid}` instead of the signer's regional endpoint: a region
    /// newer than this crate, or a local stand-in (https, or plain http to a loopback host).
    pub fn with_key_endpoint(mut self, endpoint: &str) -> Result<AlbConfig, ConfigError> {
        let url = check_fetchable("alb.key_endpoint", endpoint)?;
        self.key_endpoint = Some(url);
        Ok(self)
    }

    /// The signers, as configured.
    pub fn signers(&self) -> &[AlbSigner] {
        &self.signers
    }
}

/// Verifies `x-amzn-oidc-data` values. Clones share the key cache.
#[derive(Clone)]
pub struct AlbVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    config: AlbConfig,
    http: reqwest::Client,
    clock: Clock,
    keys: Mutex<LruCache<String, Arc<UnparsedPublicKey<Vec<u8>>>>>,
    unknown: Mutex<LruCache<String, Instant>>,
    /// One fetch at a time (requests for the same new `kid` wait for it, then find it cached),
    /// and the fetch budget: tokens left, and when they were counted.
    fetching: tokio::sync::Mutex<(f64, Instant)>,
    fetches: AtomicU64,
}

impl std::fmt::Debug for AlbVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlbVerifier")
            .field("signers", &self.inner.config.signers)
            .finish_non_exhaustive()
    }
}

/// What a verified token holds.
#[derive(Debug, Clone)]
pub struct AlbClaims {
    /// The ALB that signed it (one of the configured signers).
    pub signer: String,
    /// The user claims from the IdP's user info endpoint (`sub`, `email`, …).
    pub claims: Claims,
}

impl AlbVerifier {
    /// A verifier for `config`, on the system clock.
    pub fn new(config: AlbConfig) -> Result<AlbVerifier, ConfigError> {
        AlbVerifier::with_clock(config, Clock::system())
    }

    /// A verifier for `config` whose `exp` checks read `clock`.
    pub fn with_clock(config: AlbConfig, clock: Clock) -> Result<AlbVerifier, ConfigError> {
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ConfigError::new("alb", e, "an HTTP client"))?;
        let entries = |n: usize| NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN);
        Ok(AlbVerifier {
            inner: Arc::new(Inner {
                config,
                http,
                clock,
                keys: Mutex::new(LruCache::new(entries(KEY_CACHE_ENTRIES))),
                unknown: Mutex::new(LruCache::new(entries(UNKNOWN_KID_ENTRIES))),
                fetching: tokio::sync::Mutex::new((FETCH_BURST, Instant::now())),
                fetches: AtomicU64::new(0),
            }),
        })
    }

    /// Key fetches made so far (successful or not).
    pub fn fetch_count(&self) -> u64 {
        self.inner.fetches.load(Ordering::Relaxed)
    }

    /// Judges the value of an `x-amzn-oidc-data` header (`None`: the header is absent).
    pub async fn verify(&self, value: Option<&str>) -> Result<AlbClaims, AuthError> {
        let token = value
            .filter(|v| !v.is_empty())
            .ok_or(AuthError::MissingToken)?;
        if token.len() > MAX_ALB_TOKEN_BYTES {
            return Err(AuthError::TokenTooLarge);
        }
        let decoded = decode(token)?;
        let config = &self.inner.config;
        let signer = config
            .signers
            .iter()
            .find(|s| s.arn == decoded.signer)
            .ok_or(AuthError::WrongSigner)?;
        if !config.clients.is_empty()
            && !decoded
                .header
                .get("client")
                .and_then(Value::as_str)
                .is_some_and(|c| config.clients.iter().any(|known| known == c))
        {
            return Err(AuthError::InvalidAudience);
        }
        if let Some(issuer) = &config.issuer
            && decoded.header.get("iss").and_then(Value::as_str) != Some(issuer.as_str())
        {
            return Err(AuthError::InvalidIssuer);
        }
        let now = self.inner.clock.unix().as_secs_f64();
        let leeway = config.leeway.as_secs_f64();
        let header_exp = decoded
            .header
            .get("exp")
            .and_then(Value::as_f64)
            .ok_or(AuthError::InvalidExpiry)?;
        if now >= header_exp + leeway {
            return Err(AuthError::Expired);
        }
        let key = self.key(signer, &decoded.kid).await?;
        key.verify(decoded.signing_input.as_bytes(), &decoded.signature)
            .map_err(|_| AuthError::InvalidSignature)?;
        let payload = parse_object(&decoded.payload).ok_or(AuthError::InvalidPayload)?;
        match payload.get("exp") {
            None => {}
            Some(exp) => {
                let exp = exp.as_f64().ok_or(AuthError::InvalidExpiry)?;
                if now >= exp + leeway {
                    return Err(AuthError::Expired);
                }
            }
        }
        Ok(AlbClaims {
            signer: signer.arn.clone(),
            claims: Claims::from_map(payload),
        })
    }

    /// The key `kid` of `signer`'s region: cached, or fetched once.
    async fn key(
        &self,
        signer: &AlbSigner,
        kid: &str,
    ) -> Result<Arc<UnparsedPublicKey<Vec<u8>>>, AuthError> {
        let url = match &self.inner.config.key_endpoint {
            Some(base) => format!("{}/{kid}", base.as_str().trim_end_matches('/')),
            None => signer.key_url(kid),
        };
        if let Some(known) = self.cached(&url) {
            return known;
        }
        let mut budget = self.inner.fetching.lock().await;
        // Whoever fetched while this request waited may have fetched this very key.
        if let Some(known) = self.cached(&url) {
            return known;
        }
        let (tokens, counted) = &mut *budget;
        *tokens = (*tokens + counted.elapsed().as_secs_f64() / FETCH_EVERY.as_secs_f64())
            .min(FETCH_BURST);
        *counted = Instant::now();
        if *tokens < 1.0 {
            tracing::warn!(kid = %kid, "an ALB key fetch refused: more unknown kids than the fetch budget");
            return Err(AuthError::KeysUnavailable);
        }
        *tokens -= 1.0;
        self.inner.fetches.fetch_add(1, Ordering::Relaxed);
        match self.fetch(&url).await {
            Ok(key) => {
                let key = Arc::new(key);
                lock(&self.inner.keys).put(url, key.clone());
                Ok(key)
            }
            Err(Fetched::NotFound) => {
                lock(&self.inner.unknown).put(url, Instant::now());
                Err(AuthError::UnknownKid)
            }
            Err(Fetched::Failed(why)) => {
                tracing::warn!(kid = %kid, reason = why, "the ALB's key could not be fetched");
                Err(AuthError::KeysUnavailable)
            }
        }
    }

    /// The cached key for `url`, or the remembered answer that there is none.
    fn cached(&self, url: &str) -> Option<Result<Arc<UnparsedPublicKey<Vec<u8>>>, AuthError>> {
        if let Some(key) = lock(&self.inner.keys).get(url) {
            return Some(Ok(key.clone()));
        }
        match lock(&self.inner.unknown).get(url) {
            Some(since) if since.elapsed() < UNKNOWN_KID_FOR => Some(Err(AuthError::UnknownKid)),
            _ => None,
        }
    }

    async fn fetch(&self, url: &str) -> Result<UnparsedPublicKey<Vec<u8>>, Fetched> {
        let response = self
            .inner
            .http
            .get(url)
            .send()
            .await
            .map_err(|_| Fetched::Failed("no answer"))?;
        match response.status().as_u16() {
            200 => {}
            404 => return Err(Fetched::NotFound),
            // Also S3's answer for a missing object (GovCloud), but a throttle's or a firewall's
            // too: never remembered as "no such key", which would refuse a real one for a minute.
            _ => return Err(Fetched::Failed("an error status")),
        }
        let body = crate::jwks::capped_body(response, MAX_KEY_BYTES)
            .await
            .map_err(|_| Fetched::Failed("the answer broke off"))?
            .ok_or(Fetched::Failed("over the size cap"))?;
        let point = p256_point_from_pem(&body).ok_or(Fetched::Failed("not a P-256 public key"))?;
        Ok(UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point))
    }
}

enum Fetched {
    NotFound,
    Failed(&'static str),
}

/// A token whose header has been checked, before any key or signature.
#[derive(Debug)]
struct Decoded<'t> {
    header: Map<String, Value>,
    kid: String,
    signer: String,
    payload: Vec<u8>,
    signing_input: &'t str,
    signature: Vec<u8>,
}

/// Splits and decodes an ALB token, checking its header (algorithm, `kid`, `signer` present)
/// before the payload is decoded. Never panics, whatever `token` holds.
fn decode(token: &str) -> Result<Decoded<'_>, AuthError> {
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::Malformed);
    };
    let header = parse_object(&lenient_b64(header_b64)?).ok_or(AuthError::InvalidHeader)?;
    match header.get("alg").and_then(Value::as_str) {
        Some("ES256") => {}
        Some(none) if none.eq_ignore_ascii_case("none") => return Err(AuthError::Unsigned),
        other => return Err(AuthError::AlgorithmNotAllowed(AlgName::of(other))),
    }
    if header.contains_key("crit") {
        return Err(AuthError::UnsupportedCritical);
    }
    let kid = match header.get("kid") {
        Some(Value::String(kid)) if is_uuid(kid) => kid.clone(),
        Some(Value::String(_)) => return Err(AuthError::InvalidKid),
        _ => return Err(AuthError::MissingKid),
    };
    let signer = match header.get("signer") {
        Some(Value::String(signer)) => signer.clone(),
        _ => return Err(AuthError::WrongSigner),
    };
    let payload = lenient_b64(payload_b64)?;
    let signature = lenient_b64(signature_b64)?;
    let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
    Ok(Decoded {
        header,
        kid,
        signer,
        payload,
        signing_input,
        signature,
    })
}

fn lenient_b64(segment: &str) -> Result<Vec<u8>, AuthError> {
    let urlsafe: std::borrow::Cow<'_, str> = if segment.contains(['+', '/']) {
        segment.replace('+', "-").replace('/', "_").into()
    } else {
        segment.into()
    };
    LENIENT
        .decode(urlsafe.as_bytes())
        .map_err(|_| AuthError::InvalidBase64)
}

/// `8-4-4-4-12` hexadecimal digits: all a `kid` may be before it is put in a URL.
fn is_uuid(kid: &str) -> bool {
    let bytes = kid.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// The uncompressed point of a PEM `PUBLIC KEY` holding a P-256 SubjectPublicKeyInfo.
fn p256_point_from_pem(pem: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(pem).ok()?.trim();
    let body = text
        .strip_prefix("-----BEGIN PUBLIC KEY-----")?
        .strip_suffix("-----END PUBLIC KEY-----")?;
    let compact: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()?;
    let point = der.strip_prefix(&P256_SPKI_PREFIX[..])?;
    (point.len() == 65 && point[0] == 0x04).then(|| point.to_vec())
}

/// The ALB parsers for the fuzz targets: a token decoded before any key (its `kid` and `signer`),
/// a key endpoint's answer read as a key, a configured signer.
#[cfg(feature = "fuzzing")]
pub(crate) mod fuzzing {
    /// The `kid` and `signer` of a token that decodes.
    pub(crate) fn decode(token: &str) -> Option<(String, String)> {
        super::decode(token).ok().map(|d| (d.kid, d.signer))
    }

    /// The P-256 point of a PEM key.
    pub(crate) fn key(pem: &[u8]) -> Option<Vec<u8>> {
        super::p256_point_from_pem(pem)
    }

    /// Whether `arn` is taken as a signer, and its key URL for `kid` then.
    pub(crate) fn signer(arn: &str, kid: &str) -> Option<String> {
        super::AlbSigner::parse(arn).ok().map(|s| s.key_url(kid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_uuid_is_a_kid() {
        assert!(is_uuid("0b1f2e3d-4c5b-6a79-8877-665544332211"));
        for kid in [
            "",
            "../../etc/passwd",
            "0b1f2e3d-4c5b-6a79-8877-66554433221",
            "0b1f2e3d-4c5b-6a79-8877-6655443322111",
            "0b1f2e3d_4c5b-6a79-8877-665544332211",
            "0b1f2e3d-4c5b-6a79-8877-66554433221g",
            "0b1f2e3d-4c5b-6a79-8877-66554433221/",
        ] {
            assert!(!is_uuid(kid), "{kid}");
        }
    }

    #[test]
    fn signers_are_alb_arns_in_a_known_region_of_their_partition() {
        let ok = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/my-alb/50dc6c495c0c9188";
        let signer = AlbSigner::parse(ok).expect("an ALB ARN");
        assert_eq!(signer.region(), "eu-west-1");
        assert_eq!(
            signer.key_url("k"),
            "https://public-keys.auth.elb.eu-west-1.amazonaws.com/k"
        );
        let gov = AlbSigner::parse(
            "arn:aws-us-gov:elasticloadbalancing:us-gov-west-1:123456789012:loadbalancer/app/a/1",
        )
        .expect("GovCloud");
        assert_eq!(
            gov.key_url("k"),
            "https://s3-us-gov-west-1.amazonaws.com/aws-elb-public-keys-prod-us-gov-west-1/k"
        );
        for bad in [
            "",
            "arn:aws:elasticloadbalancing:xx-nowhere-1:123456789012:loadbalancer/app/a/1",
            "arn:aws:elasticloadbalancing:eu-west-1:12345678901:loadbalancer/app/a/1",
            "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/net/a/1",
            "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/a/1/x",
            "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/a.evil.com/1",
            "arn:aws-cn:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/a/1",
            "arn:aws:elasticloadbalancing:cn-north-1:123456789012:loadbalancer/app/a/1",
            "arn:aws:iam::123456789012:role/x",
        ] {
            assert!(AlbSigner::parse(bad).is_err(), "{bad}");
        }
        assert!(AlbConfig::new(Vec::<String>::new()).is_err());
    }

    #[test]
    fn padded_unpadded_and_standard_alphabet_segments_all_decode() {
        for segment in ["eyJhIjoxfQ", "eyJhIjoxfQ==", "-_8", "+/8"] {
            assert!(lenient_b64(segment).is_ok(), "{segment}");
        }
        assert!(lenient_b64("e@J").is_err());
    }
}
