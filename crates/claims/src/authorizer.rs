//! Several trusted issuers behind one authorizer (a Cognito pool's original and updated issuer, say).

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use crate::ConfigError;
use crate::claims::Claims;
use crate::config::AuthorizerConfig;
use crate::error::AuthError;
use crate::jwks::FetchError;
use crate::limits::MAX_TOKEN_BYTES;
use crate::verifier::{Verifier, VerifierOptions, require_scopes};

/// One [`Verifier`] per trusted issuer. A token goes to the verifier whose issuer equals its (not yet
/// trusted) `iss`; a token naming none of them goes to the first, which refuses it exactly as a
/// single-issuer authorizer would. With one issuer this is a plain [`Verifier`].
///
/// ```
/// use portcullis_claims::{Authorizer, AuthorizerConfig, VerifierOptions};
/// let pool = "us-east-1_AbC123";
/// let configs = ["https://cognito-idp.us-east-1.amazonaws.com", "https://issuer-cognito-idp.us-east-1.amazonaws.com"]
///     .map(|host| AuthorizerConfig::new(format!("{host}/{pool}"), ["client"]).unwrap());
/// let authorizer = Authorizer::new(configs, VerifierOptions::default()).unwrap();
/// assert_eq!(authorizer.verifiers().len(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct Authorizer {
    verifiers: Vec<Verifier>,
}

impl Authorizer {
    /// An authorizer trusting each of `configs` (at least one, issuers distinct).
    pub fn new(
        configs: impl IntoIterator<Item = AuthorizerConfig>,
        options: VerifierOptions,
    ) -> Result<Authorizer, ConfigError> {
        let mut verifiers: Vec<Verifier> = Vec::new();
        for config in configs {
            if verifiers
                .iter()
                .any(|v| v.config().issuer() == config.issuer())
            {
                return Err(ConfigError::new(
                    "issuer",
                    config.issuer(),
                    "each issuer once",
                ));
            }
            verifiers.push(Verifier::with_options(config, options.clone())?);
        }
        if let Some(first) = verifiers.first()
            && let Some(other) = verifiers.iter().find(|v| {
                v.config().gate() != first.config().gate()
                    || v.config().identity_source() != first.config().identity_source()
            })
        {
            return Err(ConfigError::new(
                "gate",
                format!("{} beside {}", other.config().gate(), first.config().gate()),
                "one gate and one identity source for every issuer of an authorizer",
            ));
        }
        if verifiers.is_empty() {
            return Err(ConfigError::new(
                "issuer",
                "none",
                "at least one trusted issuer",
            ));
        }
        Ok(Authorizer { verifiers })
    }

    /// From now on, every issuer's verifier keeps statistics for metrics
    /// ([`Verifier::count_statistics`]).
    pub fn count_statistics(&self) {
        for verifier in &self.verifiers {
            verifier.count_statistics();
        }
    }

    /// The gate whose rules judge (every issuer's is the same).
    pub fn gate(&self) -> crate::Gate {
        self.verifiers[0].config().gate()
    }

    /// Where the token is read from (every issuer's is the same).
    pub fn identity_source(&self) -> &crate::IdentitySource {
        self.verifiers[0].config().identity_source()
    }

    /// The verifiers, one per issuer, in configuration order.
    pub fn verifiers(&self) -> &[Verifier] {
        &self.verifiers
    }

    /// Fetches every issuer's keys; the first failure is returned after all were tried.
    pub async fn hydrate(&self) -> Result<usize, FetchError> {
        let mut total = 0;
        let mut first_error = None;
        for verifier in &self.verifiers {
            match verifier.hydrate().await {
                Ok(n) => total += n,
                Err(e) => first_error = first_error.or(Some(e)),
            }
        }
        first_error.map_or(Ok(total), Err)
    }

    /// Every issuer's published key set, fetched now, as one document
    /// `{"<issuer>": {"keys": […]}, …}` to build into a package and [`Authorizer::seed`] from.
    pub async fn key_sets(&self) -> Result<serde_json::Value, FetchError> {
        let mut sets = serde_json::Map::new();
        for verifier in &self.verifiers {
            let document = verifier.keys().fetch_document().await?;
            sets.insert(verifier.config().issuer().to_owned(), document);
        }
        Ok(serde_json::Value::Object(sets))
    }

    /// Starts each issuer named in `document` (as [`Authorizer::key_sets`] writes it) from its key
    /// set there, so the first token needs no fetch; the sets are refreshed as usual once old.
    /// Issuers the document does not name fetch as usual. Returns how many issuers were seeded.
    pub fn seed(&self, document: &[u8]) -> Result<usize, SeedError> {
        let sets: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(document).map_err(|_| SeedError::NotAMap)?;
        let mut seeded = 0;
        for verifier in &self.verifiers {
            let issuer = verifier.config().issuer();
            if let Some(set) = sets.get(issuer) {
                let count = verifier
                    .keys()
                    .seed(set.to_string().as_bytes())
                    .map_err(|_| SeedError::Keys(issuer.to_owned()))?;
                if count == 0 {
                    return Err(SeedError::Keys(issuer.to_owned()));
                }
                seeded += 1;
            }
        }
        Ok(seeded)
    }

    /// As [`Verifier::authorize`], for whichever issuer the token names.
    pub async fn authorize<S: AsRef<str>>(
        &self,
        authorization: Option<&str>,
        route_scopes: &[S],
    ) -> Result<Claims, AuthError> {
        self.judge(authorization, route_scopes).await.verdict
    }

    /// [`Authorizer::authorize`], with what the decision is counted and logged by: the configured
    /// issuer the token named, its `kid`, and how long the judgement took.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use portcullis_claims::{AuthError, Authorizer, AuthorizerConfig, VerifierOptions};
    /// let config = AuthorizerConfig::new("https://issuer.example.com", ["my-api"]).unwrap();
    /// let authorizer = Authorizer::new([config], VerifierOptions::default()).unwrap();
    /// let judgement = authorizer.judge(Some("Bearer not-a-token"), &["profile/read"]).await;
    /// assert_eq!(judgement.verdict.unwrap_err(), AuthError::Malformed);
    /// assert_eq!(judgement.issuer, None); // the token named no configured issuer
    /// # }
    /// ```
    pub async fn judge<S: AsRef<str>>(
        &self,
        authorization: Option<&str>,
        route_scopes: &[S],
    ) -> Judgement<'_> {
        let authorization = authorization.unwrap_or_default();
        let verifier = self.route(authorization);
        // Timed only for metrics (two clock reads are a tenth of a remembered token's cost).
        let started = verifier.counts_statistics().then(Instant::now);
        let (verdict, seen) = verifier.verify_seen(authorization).await;
        let gate = verifier.config().gate();
        let verdict =
            verdict.and_then(|claims| require_scopes(gate, &claims, route_scopes).map(|()| claims));
        // A scope refusal comes after the token verified, which copied no kid: read it now.
        let kid = match (&verdict, seen.kid) {
            (Err(AuthError::InsufficientScope { .. }), None) => {
                crate::token::header_kid(authorization)
            }
            (_, kid) => kid,
        };
        Judgement {
            verdict,
            issuer: seen.names_issuer.then(|| verifier.config().issuer()),
            kid,
            elapsed: started.map_or(Duration::ZERO, |started| started.elapsed()),
        }
    }

    /// As [`Verifier::explain`], for whichever issuer the token names.
    #[cfg(feature = "explain")]
    pub async fn explain(&self, authorization: &str) -> crate::explain::Explanation {
        self.route(authorization).explain(authorization).await
    }

    /// As [`Verifier::verify`], for whichever issuer the token names.
    pub async fn verify(&self, authorization: &str) -> Result<Claims, AuthError> {
        self.route(authorization).verify(authorization).await
    }

    fn route(&self, authorization: &str) -> &Verifier {
        if self.verifiers.len() > 1
            && let Some(iss) = unverified_issuer(authorization)
            && let Some(verifier) = self.verifiers.iter().find(|v| v.config().issuer() == iss)
        {
            return verifier;
        }
        &self.verifiers[0]
    }
}

/// The `iss` a token claims, read without any check: only to choose which issuer's rules judge it.
fn unverified_issuer(authorization: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Iss {
        iss: String,
    }
    if authorization.len() > MAX_TOKEN_BYTES {
        return None;
    }
    let token = authorization.rsplit(' ').next()?;
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice::<Iss>(&bytes).ok().map(|i| i.iss)
}

/// One decision of an [`Authorizer`]: the verdict, and what it is counted and logged by.
#[derive(Debug)]
pub struct Judgement<'a> {
    /// The claims, or the refusal API Gateway would answer.
    pub verdict: Result<Claims, AuthError>,
    /// The configured issuer the token named in its `iss` (verified or not); `None` when it named
    /// none of them or could not be read. Never a sender's free text: a metrics label stays bounded.
    pub issuer: Option<&'a str>,
    /// For a refusal, the token header's `kid` (at most 64 characters of the sender's words),
    /// once the token decoded; `None` for an acceptance, which needs no copy of it.
    pub kid: Option<String>,
    /// How long the judgement took, key fetches included; zero unless the authorizer keeps
    /// statistics ([`Authorizer::count_statistics`], which metrics turn on).
    pub elapsed: Duration,
}

impl Judgement<'_> {
    /// A refusal made before any token was read (the identity source itself was refused).
    pub fn unread(refusal: AuthError) -> Self {
        Judgement {
            verdict: Err(refusal),
            issuer: None,
            kid: None,
            elapsed: Duration::ZERO,
        }
    }
}

/// Why a key-set document could not seed an authorizer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeedError {
    /// Not a JSON object of issuer → key set.
    #[error("the embedded key sets are not a JSON object of issuer to JSON Web Key Set")]
    NotAMap,
    /// The set for this issuer has no usable key.
    #[error("the embedded key set for {0} has no usable key")]
    Keys(String),
}
