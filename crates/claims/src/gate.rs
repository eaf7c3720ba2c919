//! The three AWS gates that judge JSON Web Tokens, each its own rule set: the HTTP API JWT
//! authorizer, the REST API JWT authorizer and the Application Load Balancer's `jwt-validation`
//! listener action. `GATES.md` (in the project's shared notes) sets them side by side with
//! sources; what AWS leaves undocumented is marked **U** here, with the conservative choice
//! emulated.

use std::fmt;
use std::str::FromStr;

use crate::config::{Algorithm, ConfigError};
use crate::error::AuthError;

/// Every rule of any gate, in the order the gates judge them (`token::decode`'s order for the
/// first five); [`Gate::rules`] is each gate's. Every [`AuthError`] belongs to exactly one.
pub const ALL_RULES: [&str; 15] = [
    "size",
    "format",
    "algorithm",
    "header",
    "payload",
    "kid",
    "signature",
    "issuer",
    "audience",
    "token_use",
    "claims",
    "exp",
    "nbf",
    "iat",
    "scopes",
];

/// Which AWS gate a token is judged as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Gate {
    /// API Gateway HTTP API JWT authorizer ("Control access to HTTP APIs with JWT authorizers").
    #[default]
    HttpApi,
    /// API Gateway REST API JWT authorizer ("Control access to REST APIs with JWT authorizers"):
    /// several issuers, each with its audiences and additional claims; RS and ES algorithms.
    RestApi,
    /// Application Load Balancer listener action `jwt-validation` ("Verify JWTs using an
    /// Application Load Balancer"): RS256 only, no audience check, the token passed on untouched.
    Alb,
}

impl Gate {
    /// Every gate, in the order the documentation lists them.
    pub const ALL: [Gate; 3] = [Gate::HttpApi, Gate::RestApi, Gate::Alb];

    /// The configuration name: `http-api`, `rest-api` or `alb`.
    pub fn as_str(self) -> &'static str {
        match self {
            Gate::HttpApi => "http-api",
            Gate::RestApi => "rest-api",
            Gate::Alb => "alb",
        }
    }

    /// The gate as AWS names it.
    pub fn title(self) -> &'static str {
        match self {
            Gate::HttpApi => "API Gateway HTTP API JWT authorizer",
            Gate::RestApi => "API Gateway REST API JWT authorizer",
            Gate::Alb => "Application Load Balancer jwt-validation action",
        }
    }

    /// The algorithms this gate can be configured to accept.
    /// - HTTP API: "RSA-based algorithms" only; the exact list is **U**, so the RSA family.
    /// - REST API: `defaultAlgorithms` ⊆ RS256/384/512, ES256/384/512 (`JwtConfigurationInput`).
    /// - ALB: RS256 only ("Verify JWTs using an Application Load Balancer").
    pub fn algorithms(self) -> &'static [Algorithm] {
        use Algorithm::*;
        match self {
            Gate::HttpApi => &[RS256, RS384, RS512, PS256, PS384, PS512],
            Gate::RestApi => &[RS256, RS384, RS512, ES256, ES384, ES512],
            Gate::Alb => &[RS256],
        }
    }

    /// The algorithms accepted when the configuration names none: API Gateway's RSA set for the
    /// HTTP API; RS256 for REST (AWS has no default there: a deployment writes this out) and the
    /// ALB (its only one).
    pub fn default_algorithms(self) -> &'static [Algorithm] {
        use Algorithm::*;
        match self {
            Gate::HttpApi => &Algorithm::GATEWAY_DEFAULT,
            Gate::RestApi | Gate::Alb => &[RS256],
        }
    }

    /// The rule that refuses `algorithm` on this gate, if it does.
    pub(crate) fn check_algorithm(self, algorithm: Algorithm) -> Result<(), ConfigError> {
        if self.algorithms().contains(&algorithm) {
            return Ok(());
        }
        let allowed: Vec<&str> = self.algorithms().iter().map(|a| a.as_str()).collect();
        Err(ConfigError::new(
            "algorithms",
            algorithm,
            &format!(
                "one of {} (the {} accepts no other)",
                allowed.join(", "),
                self.title()
            ),
        ))
    }

    /// Whether the gate checks `aud` against the configured audiences (the ALB does not: only
    /// through an additional claim named `aud`).
    pub fn checks_audience(self) -> bool {
        !matches!(self, Gate::Alb)
    }

    /// Whether a token without `aud` may match by its `client_id` (HTTP API only: "API Gateway
    /// validates client_id only if aud is not present"; REST requires `aud`, fallback **U**).
    pub fn client_id_fallback(self) -> bool {
        matches!(self, Gate::HttpApi)
    }

    /// The formats an additional claim rule may take on this gate (none on the HTTP API).
    pub fn claim_formats(self) -> &'static [ClaimFormat] {
        match self {
            Gate::HttpApi => &[],
            Gate::RestApi => &[ClaimFormat::SingleString],
            Gate::Alb => &[
                ClaimFormat::SingleString,
                ClaimFormat::StringArray,
                ClaimFormat::SpaceSeparated,
            ],
        }
    }

    /// Claims an additional claim rule may not name (`JwtAdditionalClaim`; the ALB's
    /// `JwtValidationActionAdditionalClaim`).
    pub fn reserved_claims(self) -> &'static [&'static str] {
        match self {
            Gate::HttpApi => &[],
            Gate::RestApi => &["iss", "aud", "exp", "nbf", "iat", "scope", "scp"],
            Gate::Alb => &["exp", "iss", "nbf", "iat"],
        }
    }

    /// The most keys a key set may hold: the ALB forwards nothing for a JWKS of more than 10
    /// keys; the API Gateway limit is **U** (only the 150000-byte bound is documented).
    pub fn max_keys(self) -> Option<usize> {
        match self {
            Gate::Alb => Some(10),
            Gate::HttpApi | Gate::RestApi => None,
        }
    }

    /// Whether this gate judges `rule` (one of [`ALL_RULES`]): the HTTP API has
    /// no claim rules, the ALB no audience check (a route's scopes on the ALB are a `scope` claim
    /// rule of its listener rule, [`Gate::scope_rule`], judged last as the HTTP API judges scopes).
    pub fn judges(self, rule: &str) -> bool {
        match self {
            Gate::HttpApi => rule != "claims",
            Gate::RestApi => true,
            Gate::Alb => rule != "audience",
        }
    }

    /// The rules judged, in this gate's order.
    pub fn rules(self) -> Vec<&'static str> {
        ALL_RULES
            .into_iter()
            .filter(|rule| self.judges(rule))
            .collect()
    }

    /// How a route's scopes are judged:
    /// - HTTP API and REST: at least one in `scope` (space-separated) or `scp` (a list), else 403;
    /// - ALB: it has no scopes feature, so a route's scopes are emulated as the additional claim
    ///   `scope` in `space-separated-values` format on the route's listener rule (any of them), and a
    ///   miss is a 401 like every ALB refusal.
    pub fn scope_rule(self) -> ScopeClaims {
        match self {
            Gate::HttpApi | Gate::RestApi => ScopeClaims::ScopeOrScp,
            Gate::Alb => ScopeClaims::ScopeOnly,
        }
    }

    /// The status of a refusal: 403 for a scope miss on API Gateway, else 401; the ALB answers
    /// every refusal with 401 (**U**: our default until observed).
    pub fn status(self, refusal: &AuthError) -> u16 {
        match self {
            Gate::Alb => 401,
            Gate::HttpApi | Gate::RestApi => refusal.status(),
        }
    }

    /// The refusal's body: API Gateway's `{"message":…}`; the ALB's is empty (**U**).
    pub fn body(self, refusal: &AuthError) -> &'static str {
        match self {
            Gate::Alb => "",
            // REST: the bodies its Cognito and Lambda authorizers answer; the JWT authorizer's
            // own are **U**.
            Gate::HttpApi | Gate::RestApi => refusal.body(),
        }
    }

    /// The `WWW-Authenticate` value of a refusal: API Gateway's form on both API Gateway gates
    /// (documented for HTTP API; **U** for REST, so the same), none from the ALB (**U**).
    pub fn www_authenticate(self, refusal: &AuthError) -> Option<String> {
        match self {
            Gate::Alb => None,
            Gate::HttpApi | Gate::RestApi => Some(refusal.www_authenticate()),
        }
    }
}

impl fmt::Display for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Gate {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Gate::ALL
            .into_iter()
            .find(|g| g.as_str() == s)
            .ok_or_else(|| ConfigError::new("gate", s, "one of http-api, rest-api, alb"))
    }
}

/// Which claims hold a token's scopes for a route's scope rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeClaims {
    /// `scope` (space-separated) or `scp` (a list).
    ScopeOrScp,
    /// `scope` only, space-separated.
    ScopeOnly,
}

/// How an additional claim's value is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClaimFormat {
    /// One string (REST `SINGLE_STRING`, ALB `single-string`).
    SingleString,
    /// A JSON list of strings (ALB `string-array`).
    StringArray,
    /// One string of space-separated values (ALB `space-separated-values`).
    SpaceSeparated,
}

impl ClaimFormat {
    /// The name in configuration: `single-string`, `string-array`, `space-separated-values`.
    pub fn as_str(self) -> &'static str {
        match self {
            ClaimFormat::SingleString => "single-string",
            ClaimFormat::StringArray => "string-array",
            ClaimFormat::SpaceSeparated => "space-separated-values",
        }
    }
}

impl FromStr for ClaimFormat {
    type Err = ConfigError;

    /// The ALB's names; REST's `SINGLE_STRING` is accepted for `single-string`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "single-string" | "SINGLE_STRING" => Ok(ClaimFormat::SingleString),
            "string-array" => Ok(ClaimFormat::StringArray),
            "space-separated-values" => Ok(ClaimFormat::SpaceSeparated),
            _ => Err(ConfigError::new(
                "format",
                s,
                "one of single-string, string-array, space-separated-values",
            )),
        }
    }
}

/// At most 10 additional claims per ALB action (`JwtValidationActionConfig`); REST's per-issuer
/// limit is **U**, so the same bound.
pub const MAX_CLAIM_RULES: usize = 10;
/// At most 10 values per ALB claim rule, each at most 256 characters
/// (`JwtValidationActionAdditionalClaim`).
pub const MAX_CLAIM_VALUES: usize = 10;
/// See [`MAX_CLAIM_VALUES`].
pub const MAX_CLAIM_VALUE_CHARS: usize = 256;

/// An additional claim a token must carry (REST `JwtAdditionalClaim`, ALB
/// `JwtValidationActionAdditionalClaim`).
///
/// Semantics where AWS is silent (**U**), as GATES.md §7 chooses: several values are any-of; the
/// comparison is exact and case-sensitive; a claim of another JSON type than its format is
/// refused; a present but wrong claim is refused even when not `required`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRule {
    name: String,
    format: ClaimFormat,
    values: Vec<String>,
    required: bool,
}

impl ClaimRule {
    /// A rule that `name`, read as `format`, holds one of `values` (none: presence only, REST).
    /// `required`: the claim must be present (ALB rules always are).
    pub fn new<V: Into<String>>(
        name: impl Into<String>,
        format: ClaimFormat,
        values: impl IntoIterator<Item = V>,
        required: bool,
    ) -> ClaimRule {
        ClaimRule {
            name: name.into(),
            format,
            values: values.into_iter().map(Into::into).collect(),
            required,
        }
    }

    /// The claim's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// How its value is read.
    pub fn format(&self) -> ClaimFormat {
        self.format
    }
    /// The accepted values (any one suffices; empty: any value).
    pub fn values(&self) -> &[String] {
        &self.values
    }
    /// Whether the claim must be present.
    pub fn required(&self) -> bool {
        self.required
    }

    /// Refuses a rule `gate` does not allow, naming the rule and the gate's limit.
    pub(crate) fn check_for(&self, gate: Gate) -> Result<(), ConfigError> {
        let key = format!("claims.{}", self.name);
        let refuse = |value: &dyn fmt::Display, expected: String| {
            Err(ConfigError::new(&key, value, &expected))
        };
        if gate.claim_formats().is_empty() {
            return refuse(
                &self.name,
                format!(
                    "no additional claim rules (the {} checks none)",
                    gate.title()
                ),
            );
        }
        if self.name.is_empty() {
            return refuse(&"", "a claim name".to_owned());
        }
        if gate.reserved_claims().contains(&self.name.as_str()) {
            return refuse(
                &self.name,
                format!(
                    "a claim other than {} (the {} checks those itself)",
                    gate.reserved_claims().join(", "),
                    gate.title()
                ),
            );
        }
        if !gate.claim_formats().contains(&self.format) {
            let formats: Vec<&str> = gate.claim_formats().iter().map(|f| f.as_str()).collect();
            return refuse(
                &self.format.as_str(),
                format!("format {} on the {}", formats.join(" or "), gate.title()),
            );
        }
        if gate == Gate::Alb {
            if !self.required {
                return refuse(
                    &"required = false",
                    "a required claim (an ALB claim rule always requires its claim)".to_owned(),
                );
            }
            if self.values.is_empty() || self.values.len() > MAX_CLAIM_VALUES {
                return refuse(
                    &format!("{} values", self.values.len()),
                    format!("1 to {MAX_CLAIM_VALUES} values (the ALB's quota)"),
                );
            }
        }
        for value in &self.values {
            if value.is_empty() {
                return refuse(&"\"\"", "non-empty values".to_owned());
            }
            if gate == Gate::Alb && value.chars().count() > MAX_CLAIM_VALUE_CHARS {
                return refuse(
                    &format!("{} characters", value.chars().count()),
                    format!(
                        "values of at most {MAX_CLAIM_VALUE_CHARS} characters (the ALB's quota)"
                    ),
                );
            }
            if self.format == ClaimFormat::SpaceSeparated && value.contains(' ') {
                return refuse(
                    value,
                    "a value without spaces (space-separated-values compares single words)"
                        .to_owned(),
                );
            }
        }
        Ok(())
    }

    /// Whether `payload` satisfies the rule.
    pub(crate) fn holds(&self, payload: &serde_json::Map<String, serde_json::Value>) -> bool {
        use serde_json::Value;
        let Some(value) = payload.get(&self.name) else {
            return !self.required;
        };
        let accepted = |text: &str| self.values.is_empty() || self.values.iter().any(|v| v == text);
        match (self.format, value) {
            (ClaimFormat::SingleString, Value::String(text)) => accepted(text),
            (ClaimFormat::StringArray, Value::Array(items)) => {
                items.iter().all(Value::is_string)
                    && items.iter().filter_map(Value::as_str).any(accepted)
            }
            (ClaimFormat::SpaceSeparated, Value::String(text)) => {
                text.split(' ').filter(|w| !w.is_empty()).any(accepted)
            }
            _ => false,
        }
    }
}

impl fmt::Display for ClaimRule {
    /// `single-string, required, one of acme ACME` (or `…, any value`), as the settings summary and
    /// the console's explanation show a rule.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let required = if self.required {
            "required"
        } else {
            "optional"
        };
        write!(f, "{}, {required}, ", self.format.as_str())?;
        if self.values.is_empty() {
            f.write_str("any value")
        } else {
            write!(f, "one of {}", self.values.join(" "))
        }
    }
}

/// Refuses a set of rules `gate` does not allow (count, duplicates, each rule).
pub(crate) fn check_claim_rules(gate: Gate, rules: &[ClaimRule]) -> Result<(), ConfigError> {
    if rules.len() > MAX_CLAIM_RULES {
        return Err(ConfigError::new(
            "claims",
            format!("{} rules", rules.len()),
            &format!("at most {MAX_CLAIM_RULES} additional claims"),
        ));
    }
    for (i, rule) in rules.iter().enumerate() {
        rule.check_for(gate)?;
        if rules[..i].iter().any(|r| r.name == rule.name) {
            return Err(ConfigError::new(
                "claims",
                &rule.name,
                "each claim name once",
            ));
        }
    }
    Ok(())
}

/// Where the token is read from: a request header or, on the HTTP API, a query-string parameter
/// (`IdentitySource` `$request.header.NAME` / `$request.querystring.NAME`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IdentitySource {
    /// A header, by its lower-case name.
    Header(String),
    /// A query-string parameter.
    Query(String),
}

impl Default for IdentitySource {
    fn default() -> Self {
        IdentitySource::Header("authorization".to_owned())
    }
}

impl IdentitySource {
    /// Parses API Gateway's expression (`$request.header.Authorization`,
    /// `$request.querystring.token`) for `gate`:
    /// - HTTP API: a header or a query-string parameter;
    /// - REST: a header (the query string and the expression syntax are **U**, so headers only);
    /// - ALB: the `Authorization` header ("a request header", which one **U**).
    pub fn parse(gate: Gate, expression: &str) -> Result<IdentitySource, ConfigError> {
        let header = expression.strip_prefix("$request.header.");
        let query = expression.strip_prefix("$request.querystring.");
        let token_char = |c: char| c.is_ascii_alphanumeric() || "-_.~!#$&'*+^`|".contains(c);
        let valid = |name: &str| !name.is_empty() && name.chars().all(token_char);
        let source = match (header, query) {
            (Some(name), _) if valid(name) => IdentitySource::Header(name.to_ascii_lowercase()),
            (_, Some(name)) if valid(name) => IdentitySource::Query(name.to_owned()),
            _ => {
                return Err(ConfigError::new(
                    "identity_source",
                    expression,
                    "$request.header.NAME or $request.querystring.NAME",
                ));
            }
        };
        match (gate, &source) {
            (Gate::HttpApi, _) | (Gate::RestApi, IdentitySource::Header(_)) => Ok(source),
            (Gate::Alb, IdentitySource::Header(name)) if name == "authorization" => Ok(source),
            (Gate::RestApi, IdentitySource::Query(_)) => Err(ConfigError::new(
                "identity_source",
                expression,
                "a request header (the REST API JWT authorizer reads its token from a header)",
            )),
            (Gate::Alb, _) => Err(ConfigError::new(
                "identity_source",
                expression,
                "$request.header.Authorization (the ALB action has no identity source setting)",
            )),
        }
    }

    /// The expression API Gateway takes (`$request.header.authorization`).
    pub fn expression(&self) -> String {
        match self {
            IdentitySource::Header(name) => format!("$request.header.{name}"),
            IdentitySource::Query(name) => format!("$request.querystring.{name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn gate_names_round_trip_and_unknown_names_are_refused_by_name() {
        for gate in Gate::ALL {
            assert_eq!(gate.as_str().parse::<Gate>(), Ok(gate));
        }
        let error = "rest".parse::<Gate>().unwrap_err();
        assert_eq!(error.value, "rest");
        assert!(error.expected.contains("rest-api"));
    }

    #[test]
    fn each_gate_refuses_the_algorithms_it_does_not_take() {
        assert!(Gate::HttpApi.check_algorithm(Algorithm::ES256).is_err());
        assert!(Gate::RestApi.check_algorithm(Algorithm::ES256).is_ok());
        assert!(Gate::RestApi.check_algorithm(Algorithm::PS256).is_err());
        assert!(Gate::Alb.check_algorithm(Algorithm::RS384).is_err());
        for gate in Gate::ALL {
            assert!(gate.check_algorithm(Algorithm::EdDSA).is_err());
            for algorithm in gate.default_algorithms() {
                assert!(gate.check_algorithm(*algorithm).is_ok());
            }
        }
    }

    #[test]
    fn claim_rules_hold_by_format_any_of_and_exactly() {
        let payload = json!({"tenant": "ACME", "groups": ["admin", "dev"], "scope": "a b", "n": 1});
        let payload = payload.as_object().expect("object");
        let rule = |name: &str, format, values: &[&str], required| {
            ClaimRule::new(name, format, values.iter().copied(), required).holds(payload)
        };
        use ClaimFormat::*;
        assert!(!rule("tenant", SingleString, &["acme"], true));
        assert!(rule("tenant", SingleString, &["acme", "ACME"], true));
        assert!(rule("tenant", SingleString, &[], true));
        assert!(rule("groups", StringArray, &["admin"], true));
        assert!(!rule("groups", SingleString, &["admin"], true));
        assert!(rule("scope", SpaceSeparated, &["b"], true));
        assert!(!rule("scope", SpaceSeparated, &["a b"], true));
        assert!(!rule("n", SingleString, &[], true));
        assert!(rule("missing", SingleString, &["x"], false));
        assert!(!rule("missing", SingleString, &["x"], true));
    }

    #[test]
    fn identity_sources_follow_each_gate() {
        let query = "$request.querystring.access_token";
        assert_eq!(
            IdentitySource::parse(Gate::HttpApi, query),
            Ok(IdentitySource::Query("access_token".into()))
        );
        assert!(IdentitySource::parse(Gate::RestApi, query).is_err());
        assert!(IdentitySource::parse(Gate::Alb, "$request.header.X-Token").is_err());
        assert_eq!(
            IdentitySource::parse(Gate::Alb, "$request.header.Authorization"),
            Ok(IdentitySource::default())
        );
        assert!(IdentitySource::parse(Gate::HttpApi, "$request.header.").is_err());
        assert!(IdentitySource::parse(Gate::HttpApi, "Authorization").is_err());
    }
}
