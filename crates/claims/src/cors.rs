//! An HTTP API's CORS configuration and what API Gateway does with it: when an API has one, API
//! Gateway answers a CORS preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`)
//! itself, before routes and authorizers, and puts the configured headers on the answers to
//! cross-origin requests, ignoring any the integration sent. Without one, `OPTIONS` is routed and
//! judged like any method.
//!
//! API Gateway documents the configuration ("Configuring CORS for an HTTP API") but not every
//! detail of its answers; where it is silent this follows the Fetch standard's CORS protocol: a
//! preflight is answered `204` either way, with the CORS headers only when the origin, method and
//! headers are all allowed (a browser then refuses the request itself).
//!
//! ```
//! use portcullis_claims::cors::CorsConfiguration;
//! let cors = CorsConfiguration::new(
//!     ["https://app.example.com"], ["GET", "POST"], ["authorization", "content-type"], ["etag"],
//!     Some(600), false,
//! )?;
//! let headers = cors.preflight("https://app.example.com", "POST", Some("Authorization")).expect("allowed");
//! assert!(headers.contains(&("access-control-allow-origin", "https://app.example.com".into())));
//! assert!(cors.preflight("https://evil.example", "POST", None).is_none());
//! # Ok::<(), portcullis_claims::ConfigError>(())
//! ```

use crate::ConfigError;

/// Methods an `allow_methods` entry may name (or `*`).
const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// The longest preflight cache API Gateway accepts, in seconds.
pub const MAX_AGE_LIMIT: i32 = 86_400;

/// An HTTP API's `CorsConfiguration`, validated as API Gateway validates it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CorsConfiguration {
    /// Origins allowed to call: `scheme://host[:port]`, `*` (any), `https://*` or `http://*`
    /// (any of that scheme).
    pub allow_origins: Vec<String>,
    /// Methods a preflight may ask for (`*`: any), upper case.
    pub allow_methods: Vec<String>,
    /// Request headers a preflight may ask for (`*`: any), lower case.
    pub allow_headers: Vec<String>,
    /// Response headers a cross-origin script may read, lower case.
    pub expose_headers: Vec<String>,
    /// How long a browser may cache a preflight's answer, in seconds (`-1`: not at all; `None`:
    /// the browser's default).
    pub max_age_seconds: Option<i32>,
    /// Whether the browser may send credentials (cookies, HTTP authentication) with requests.
    pub allow_credentials: bool,
}

/// A response header the gate sets: name (lower case) and value.
pub type Header = (&'static str, String);

impl CorsConfiguration {
    /// Checks and normalises a configuration; errors name the `cors.*` key, the value and what
    /// was expected.
    pub fn new(
        allow_origins: impl IntoIterator<Item = impl Into<String>>,
        allow_methods: impl IntoIterator<Item = impl Into<String>>,
        allow_headers: impl IntoIterator<Item = impl Into<String>>,
        expose_headers: impl IntoIterator<Item = impl Into<String>>,
        max_age_seconds: Option<i64>,
        allow_credentials: bool,
    ) -> Result<CorsConfiguration, ConfigError> {
        let allow_origins: Vec<String> = allow_origins.into_iter().map(Into::into).collect();
        if allow_origins.is_empty() {
            return Err(ConfigError::new(
                "cors.allow_origins",
                "[]",
                "at least one origin, like [\"https://app.example.com\"] (or [\"*\"])",
            ));
        }
        for origin in &allow_origins {
            check_origin(origin)?;
        }
        let allow_methods = allow_methods
            .into_iter()
            .map(|method| {
                let method: String = method.into();
                let upper = method.to_ascii_uppercase();
                if upper == "*" || METHODS.contains(&upper.as_str()) {
                    Ok(upper)
                } else {
                    Err(ConfigError::new(
                        "cors.allow_methods",
                        &method,
                        "GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS or *",
                    ))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let allow_headers = header_names("cors.allow_headers", allow_headers)?;
        let expose_headers = header_names("cors.expose_headers", expose_headers)?;
        let max_age_seconds = match max_age_seconds {
            Some(seconds) if (-1..=i64::from(MAX_AGE_LIMIT)).contains(&seconds) => {
                Some(seconds as i32)
            }
            Some(seconds) => {
                return Err(ConfigError::new(
                    "cors.max_age_seconds",
                    seconds,
                    "between -1 (no caching) and 86400 seconds (API Gateway's range)",
                ));
            }
            None => None,
        };
        if allow_credentials && allow_origins.iter().any(|o| o == "*") {
            return Err(ConfigError::new(
                "cors.allow_credentials",
                true,
                "false while cors.allow_origins has \"*\" (API Gateway refuses credentials for any \
                 origin: name the origins)",
            ));
        }
        Ok(CorsConfiguration {
            allow_origins,
            allow_methods,
            allow_headers,
            expose_headers,
            max_age_seconds,
            allow_credentials,
        })
    }

    /// Whether `origin` (a request's `Origin` header) is allowed.
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.allow_origins
            .iter()
            .any(|allowed| match allowed.as_str() {
                "*" => true,
                "https://*" | "http://*" => {
                    let scheme = &allowed[..allowed.len() - 1];
                    origin.len() > scheme.len() && origin.starts_with(scheme)
                }
                exact => exact.eq_ignore_ascii_case(origin),
            })
    }

    /// The answer to a preflight from `origin` asking for `method` and the comma-separated request
    /// `headers`: the CORS headers when all are allowed, else `None` (answered without them).
    pub fn preflight(
        &self,
        origin: &str,
        method: &str,
        headers: Option<&str>,
    ) -> Option<Vec<Header>> {
        if !self.allows_origin(origin) {
            return None;
        }
        if !self.allow_methods.iter().any(|m| m == "*" || m == method) {
            return None;
        }
        let asked: Vec<&str> = headers
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .collect();
        let any_header = self.allow_headers.iter().any(|h| h == "*");
        if !any_header
            && !asked
                .iter()
                .all(|h| self.allow_headers.iter().any(|a| a.eq_ignore_ascii_case(h)))
        {
            return None;
        }
        let mut answer = self.origin_headers(origin);
        let methods = if self.allow_methods.iter().any(|m| m == "*") {
            method.to_owned()
        } else {
            self.allow_methods.join(",")
        };
        answer.push(("access-control-allow-methods", methods));
        let allowed_headers = if any_header {
            asked.join(",").to_ascii_lowercase()
        } else {
            self.allow_headers.join(",")
        };
        if !allowed_headers.is_empty() {
            answer.push(("access-control-allow-headers", allowed_headers));
        }
        if let Some(seconds) = self.max_age_seconds {
            answer.push(("access-control-max-age", seconds.to_string()));
        }
        Some(answer)
    }

    /// The headers an answer to a cross-origin (non-preflight) request from `origin` gets, if the
    /// origin is allowed.
    pub fn response_headers(&self, origin: &str) -> Vec<Header> {
        if !self.allows_origin(origin) {
            return Vec::new();
        }
        let mut answer = self.origin_headers(origin);
        if !self.expose_headers.is_empty() {
            answer.push((
                "access-control-expose-headers",
                self.expose_headers.join(","),
            ));
        }
        answer
    }

    /// `Access-Control-Allow-Origin` (`*` when any origin may call without credentials, else the
    /// origin itself, with `Vary: Origin`) and `Access-Control-Allow-Credentials`.
    fn origin_headers(&self, origin: &str) -> Vec<Header> {
        let any = self.allow_origins.iter().any(|o| o == "*");
        let mut answer = if any && !self.allow_credentials {
            vec![("access-control-allow-origin", "*".to_owned())]
        } else {
            vec![
                ("access-control-allow-origin", origin.to_owned()),
                ("vary", "origin".to_owned()),
            ]
        };
        if self.allow_credentials {
            answer.push(("access-control-allow-credentials", "true".to_owned()));
        }
        answer
    }
}

fn header_names(
    key: &str,
    names: impl IntoIterator<Item = impl Into<String>>,
) -> Result<Vec<String>, ConfigError> {
    names
        .into_iter()
        .map(|name| {
            let name: String = name.into();
            let token = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if token {
                Ok(name.to_ascii_lowercase())
            } else {
                Err(ConfigError::new(key, &name, "an HTTP header name (or *)"))
            }
        })
        .collect()
}

/// An origin as a browser sends it (`scheme://host[:port]`, nothing after, no default port), or
/// one of the wildcards.
fn check_origin(origin: &str) -> Result<(), ConfigError> {
    if matches!(origin, "*" | "https://*" | "http://*") {
        return Ok(());
    }
    let expected = "an origin like https://app.example.com or http://localhost:5173 (scheme, host \
                    and port only), or *, https://*, http://*";
    let refused = || ConfigError::new("cors.allow_origins", origin, expected);
    // API Gateway documents no wildcard but these three (no `https://*.example.com`).
    if origin.contains('*') {
        return Err(refused());
    }
    let parsed = url::Url::parse(origin).map_err(|_| refused())?;
    let rebuilt = parsed.origin().ascii_serialization();
    if matches!(parsed.scheme(), "http" | "https") && rebuilt.eq_ignore_ascii_case(origin) {
        Ok(())
    } else {
        Err(refused())
    }
}

#[cfg(test)]
mod tests {
    use super::CorsConfiguration;

    fn app() -> CorsConfiguration {
        CorsConfiguration::new(
            ["https://app.example.com", "http://*"],
            ["GET", "post"],
            ["Authorization", "content-type"],
            ["ETag"],
            Some(600),
            true,
        )
        .expect("valid")
    }

    #[test]
    fn a_preflight_is_answered_only_for_allowed_origin_method_and_headers() {
        let cors = app();
        let allowed = cors
            .preflight(
                "https://app.example.com",
                "POST",
                Some("authorization, Content-Type"),
            )
            .expect("allowed");
        assert_eq!(
            allowed,
            [
                (
                    "access-control-allow-origin",
                    "https://app.example.com".into()
                ),
                ("vary", "origin".into()),
                ("access-control-allow-credentials", "true".into()),
                ("access-control-allow-methods", "GET,POST".into()),
                (
                    "access-control-allow-headers",
                    "authorization,content-type".into()
                ),
                ("access-control-max-age", "600".into()),
            ]
        );
        assert!(
            cors.preflight("http://localhost:5173", "GET", None)
                .is_some()
        );
        for (origin, method, headers) in [
            ("https://evil.example", "GET", None),
            ("https://app.example.com.evil.example", "GET", None),
            ("http://", "GET", None),
            ("https://app.example.com", "DELETE", None),
            ("https://app.example.com", "get", None),
            ("https://app.example.com", "GET", Some("x-secret")),
            (
                "https://app.example.com",
                "GET",
                Some("authorization, x-secret"),
            ),
        ] {
            assert_eq!(
                cors.preflight(origin, method, headers),
                None,
                "{origin} {method} {headers:?}"
            );
        }
    }

    #[test]
    fn wildcards_echo_what_was_asked_and_any_origin_without_credentials_is_a_star() {
        let any = CorsConfiguration::new(["*"], ["*"], ["*"], Vec::<String>::new(), None, false)
            .expect("valid");
        assert_eq!(
            any.preflight("https://x.example", "PATCH", Some("X-One,x-two")),
            Some(vec![
                ("access-control-allow-origin", "*".into()),
                ("access-control-allow-methods", "PATCH".into()),
                ("access-control-allow-headers", "x-one,x-two".into()),
            ])
        );
        assert_eq!(
            any.response_headers("https://x.example"),
            [("access-control-allow-origin", "*".into())]
        );
        assert_eq!(
            app().response_headers("https://app.example.com"),
            [
                (
                    "access-control-allow-origin",
                    "https://app.example.com".into()
                ),
                ("vary", "origin".into()),
                ("access-control-allow-credentials", "true".into()),
                ("access-control-expose-headers", "etag".into()),
            ]
        );
        assert!(app().response_headers("https://evil.example").is_empty());
    }

    #[test]
    fn every_bad_value_is_refused_naming_key_value_and_expectation() {
        let none = Vec::<String>::new;
        let cases: [(Result<CorsConfiguration, _>, &str, &str); 8] = [
            (
                CorsConfiguration::new(none(), none(), none(), none(), None, false),
                "cors.allow_origins",
                "[]",
            ),
            (
                CorsConfiguration::new(
                    vec!["https://app.example.com/".to_owned()],
                    none(),
                    none(),
                    none(),
                    None,
                    false,
                ),
                "cors.allow_origins",
                "https://app.example.com/",
            ),
            (
                CorsConfiguration::new(
                    vec!["app.example.com".to_owned()],
                    none(),
                    none(),
                    none(),
                    None,
                    false,
                ),
                "cors.allow_origins",
                "app.example.com",
            ),
            (
                CorsConfiguration::new(
                    vec!["https://*.example.com".to_owned()],
                    none(),
                    none(),
                    none(),
                    None,
                    false,
                ),
                "cors.allow_origins",
                "https://*.example.com",
            ),
            (
                CorsConfiguration::new(
                    vec!["*".to_owned()],
                    vec!["FETCH".to_owned()],
                    none(),
                    none(),
                    None,
                    false,
                ),
                "cors.allow_methods",
                "FETCH",
            ),
            (
                CorsConfiguration::new(
                    vec!["*".to_owned()],
                    none(),
                    vec!["x y".to_owned()],
                    none(),
                    None,
                    false,
                ),
                "cors.allow_headers",
                "x y",
            ),
            (
                CorsConfiguration::new(
                    vec!["*".to_owned()],
                    none(),
                    none(),
                    none(),
                    Some(86_401),
                    false,
                ),
                "cors.max_age_seconds",
                "86401",
            ),
            (
                CorsConfiguration::new(vec!["*".to_owned()], none(), none(), none(), None, true),
                "cors.allow_credentials",
                "true",
            ),
        ];
        for (outcome, key, value) in cases {
            let error = outcome.expect_err(key).to_string();
            assert!(
                error.starts_with(&format!("invalid {key} {value:?}: expected ")),
                "{error}"
            );
        }
    }
}
