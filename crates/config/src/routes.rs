//! The `[routes]` table: route keys (`"GET /items/{id}"`), the authorization each route has (a JWT
//! authorizer with scopes, or none), and the request parameter mappings an HTTP proxy integration
//! applies, as API Gateway HTTP API routes and integrations have them.
//!
//! Matching follows API Gateway's documented priority ("Working with routes for HTTP APIs"): the most
//! specific path wins (a literal segment over `{param}`, `{param}` over a greedy `{proxy+}`), an
//! exact method over `ANY`, and `$default` catches what nothing else matches.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

use portcullis_claims::ConfigError;
use portcullis_claims::limits::MAX_ROUTE_SCOPES;

use crate::SettingsError;
use crate::mapping::parse_mapping;
pub use crate::mapping::{MappingAction, MappingTarget, MappingValue, ParameterMapping};
use crate::raw;

/// An HTTP method of a route key; `ANY` matches every method, as in API Gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[allow(missing_docs)]
pub enum Method {
    Any,
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
    Options,
}

impl Method {
    const ALL: [(&'static str, Method); 8] = [
        ("ANY", Method::Any),
        ("GET", Method::Get),
        ("POST", Method::Post),
        ("PUT", Method::Put),
        ("PATCH", Method::Patch),
        ("DELETE", Method::Delete),
        ("HEAD", Method::Head),
        ("OPTIONS", Method::Options),
    ];

    /// Parses a method name, in any letter case.
    pub fn parse(name: &str) -> Option<Method> {
        Self::ALL
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, m)| *m)
    }

    /// The upper-case name.
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, m)| *m == self)
            .map_or("ANY", |(n, _)| n)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who may call a route: API Gateway's route `AuthorizationType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authorization {
    /// The JWT authorizer judges every request (the default).
    Jwt,
    /// No authorizer: the request goes to the integration as it came.
    None,
}

/// A route of the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    method: Method,
    /// `None` for `$default`.
    path: Option<String>,
    authorization: Authorization,
    scopes: Vec<String>,
    parameters: Vec<ParameterMapping>,
}

impl Route {
    /// A route protected by the JWT authorizer, requiring one of `scopes` (none: any valid token).
    pub fn protected(method: Method, path: &str, scopes: Vec<String>) -> Route {
        Route {
            method,
            path: Some(path.to_owned()),
            authorization: Authorization::Jwt,
            scopes,
            parameters: Vec::new(),
        }
    }

    /// The `$default` route, protected by the JWT authorizer with no scopes: every request that no
    /// other route matches is judged.
    pub fn protected_default() -> Route {
        Route {
            method: Method::Any,
            path: None,
            authorization: Authorization::Jwt,
            scopes: Vec::new(),
            parameters: Vec::new(),
        }
    }

    /// The method (`ANY` for `$default`).
    pub fn method(&self) -> Method {
        self.method
    }

    /// The path template, e.g. `/items/{id}`; `None` for the `$default` route.
    pub fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    /// The route key as API Gateway writes it: `GET /items/{id}` or `$default`.
    pub fn key(&self) -> String {
        match &self.path {
            Some(path) => format!("{} {path}", self.method),
            None => "$default".to_owned(),
        }
    }

    /// Whether the JWT authorizer judges requests to this route.
    pub fn is_protected(&self) -> bool {
        self.authorization == Authorization::Jwt
    }

    /// The authorization scopes, at least one of which a token must hold (empty: any valid token).
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// The request parameter mappings of the route's HTTP proxy integration.
    pub fn parameters(&self) -> &[ParameterMapping] {
        &self.parameters
    }

    /// The route with its path variables unnamed: two routes of one shape match the same requests.
    fn shape(&self) -> (Method, Option<String>) {
        let path = self.path.as_ref().map(|path| {
            path.split('/')
                .map(|segment| {
                    if segment.starts_with('{') && segment.ends_with("+}") {
                        "{+}"
                    } else if segment.starts_with('{') {
                        "{}"
                    } else {
                        segment
                    }
                })
                .collect::<Vec<_>>()
                .join("/")
        });
        (self.method, path)
    }

    /// How specifically this route matches `method path`, or `None` when it does not match.
    fn specificity(&self, method: Method, path: &str) -> Option<(Vec<u8>, u8)> {
        let method_rank = if self.method == method {
            1
        } else if self.method == Method::Any {
            0
        } else {
            return None;
        };
        let Some(template) = &self.path else {
            return Some((Vec::new(), method_rank));
        };
        let mut ranks = Vec::new();
        let mut wanted = path.split('/').skip(1);
        let mut segments = template.split('/').skip(1).peekable();
        while let Some(segment) = segments.next() {
            if segment.starts_with('{') && segment.ends_with("+}") {
                // Greedy: one or more segments, and nothing may follow it in the template.
                wanted.next().filter(|s| !s.is_empty())?;
                for _ in wanted.by_ref() {}
                ranks.push(1);
                return Some((ranks, method_rank));
            }
            let got = wanted.next()?;
            if segment.starts_with('{') {
                if got.is_empty() {
                    return None;
                }
                ranks.push(2);
            } else if segment == got {
                ranks.push(3);
            } else {
                return None;
            }
            if segments.peek().is_none() && wanted.clone().next().is_some() {
                return None;
            }
        }
        Some((ranks, method_rank))
    }
}

/// The routes of the API. Routes not listed: the example service's routes need no entry (any
/// valid token); the local gateway answers 404 for them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Routes {
    routes: Vec<Route>,
}

impl Routes {
    pub(crate) fn parse(raw: BTreeMap<String, raw::Route>) -> Result<Routes, SettingsError> {
        let mut routes: Vec<Route> = Vec::new();
        for (key, route) in raw {
            let (method, path) = parse_key(&key)?;
            let key_name = |field: &str| format!("routes.\"{key}\".{field}");
            let authorization = match route.authorization.as_deref() {
                None | Some("jwt") => Authorization::Jwt,
                Some("none") => Authorization::None,
                Some(other) => {
                    return Err(ConfigError::new(
                        &key_name("authorization"),
                        other,
                        "\"jwt\" (the JWT authorizer, the default) or \"none\"",
                    )
                    .into());
                }
            };
            if authorization == Authorization::None && !route.scopes.is_empty() {
                return Err(ConfigError::new(
                    &key_name("scopes"),
                    format!("{:?}", route.scopes),
                    "no scopes on a route with authorization = \"none\" (nothing would check them)",
                )
                .into());
            }
            if method == Method::Options && !route.scopes.is_empty() {
                return Err(ConfigError::new(
                    &key_name("scopes"),
                    format!("{:?}", route.scopes),
                    "no scopes on OPTIONS: CORS preflight carries no token and must never be refused",
                )
                .into());
            }
            if route.scopes.len() > MAX_ROUTE_SCOPES {
                return Err(ConfigError::new(
                    &key_name("scopes"),
                    format!("{} scopes", route.scopes.len()),
                    "at most 10 scopes per route (API Gateway's quota)",
                )
                .into());
            }
            if let Some(bad) = route
                .scopes
                .iter()
                .find(|s| s.is_empty() || s.chars().any(|c| c.is_whitespace() || c == '"'))
            {
                return Err(ConfigError::new(
                    &key_name("scopes"),
                    bad,
                    "scope names without spaces or quotes",
                )
                .into());
            }
            let mut parameters = Vec::new();
            for parameter in route.parameters {
                let mapping = parse_mapping(&key_name("parameters"), parameter)?;
                if mapping
                    .value
                    .as_ref()
                    .is_some_and(|v| matches!(v, MappingValue::Claim(_)))
                    && authorization == Authorization::None
                {
                    return Err(ConfigError::new(
                        &key_name("parameters"),
                        &mapping.raw_value,
                        "claims only on routes the JWT authorizer protects",
                    )
                    .into());
                }
                if parameters
                    .iter()
                    .any(|p: &ParameterMapping| p.target == mapping.target)
                {
                    return Err(ConfigError::new(
                        &key_name("parameters"),
                        &mapping.key,
                        "each header, query-string parameter or path mapped once",
                    )
                    .into());
                }
                parameters.push(mapping);
            }
            let route = Route {
                method,
                path,
                authorization,
                scopes: route.scopes,
                parameters,
            };
            if let Some(twin) = routes.iter().find(|r| r.shape() == route.shape()) {
                // `GET /users/{id}` and `GET /users/{name}` match the same requests: which one
                // decides their authorization must not depend on the order of the file.
                return Err(ConfigError::new(
                    "routes",
                    &key,
                    &format!(
                        "each route once; it matches the same requests as \"{}\"",
                        twin.key()
                    ),
                )
                .into());
            }
            routes.push(route);
        }
        Ok(Routes { routes })
    }

    /// The route API Gateway would choose for `method path`, if any.
    pub fn find(&self, method: &str, path: &str) -> Option<&Route> {
        let method = Method::parse(method)?;
        self.routes
            .iter()
            .filter_map(|route| Some((route.specificity(method, path)?, route)))
            .max_by(|(a, _), (b, _)| compare(a, b))
            .map(|(_, route)| route)
    }

    /// The scopes a request to `method path` must hold one of: the matched route's, else none.
    pub fn scopes(&self, method: &str, path: &str) -> &[String] {
        self.find(method, path).map_or(&[], Route::scopes)
    }

    /// Every configured route.
    pub fn iter(&self) -> impl Iterator<Item = &Route> {
        self.routes.iter()
    }

    /// Whether no route is configured.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// A service's own routes (`(method, path, protected)`) added to the configured ones: a served
    /// route the configuration does not list gets the scopes of the configured route that matches
    /// it (none if none does), or no authorizer when the service serves it unprotected.
    pub fn with_served(&self, served: &[(&str, &str, bool)]) -> Routes {
        let mut routes = self.routes.clone();
        for (method, path, protected) in served {
            let Some(method) = Method::parse(method) else {
                continue;
            };
            let key = format!("{method} {path}");
            if routes.iter().any(|r| r.key() == key) {
                continue;
            }
            let mut route =
                Route::protected(method, path, self.scopes(method.as_str(), path).to_vec());
            if !protected {
                route.authorization = Authorization::None;
                route.scopes.clear();
            }
            routes.push(route);
        }
        Routes { routes }
    }
}

impl FromIterator<Route> for Routes {
    fn from_iter<T: IntoIterator<Item = Route>>(iter: T) -> Self {
        Routes {
            routes: iter.into_iter().collect(),
        }
    }
}

fn compare(a: &(Vec<u8>, u8), b: &(Vec<u8>, u8)) -> Ordering {
    a.0.cmp(&b.0).then(a.1.cmp(&b.1))
}

fn parse_key(key: &str) -> Result<(Method, Option<String>), SettingsError> {
    if key == "$default" {
        return Ok((Method::Any, None));
    }
    let invalid = |expected: &str| SettingsError::from(ConfigError::new("routes", key, expected));
    let (method, path) = key
        .split_once(' ')
        .ok_or_else(|| invalid("a route key like \"POST /user/profile\", or \"$default\""))?;
    let method = Method::parse(method).ok_or_else(|| {
        invalid("a method of ANY, GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS, then a path")
    })?;
    if !path.starts_with('/')
        || path.contains(char::is_whitespace)
        || path.contains('?')
        || path.contains('#')
    {
        return Err(invalid(
            "a path starting with / and without spaces, query or fragment",
        ));
    }
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    for (index, segment) in segments.iter().enumerate() {
        let variable = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}'));
        match variable {
            Some(name) => {
                let (name, greedy) = match name.strip_suffix('+') {
                    Some(name) => (name, true),
                    None => (name, false),
                };
                if name.is_empty()
                    || !name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                {
                    return Err(invalid(
                        "path variables like {id} or a greedy {proxy+}, named with letters, digits, _ or -",
                    ));
                }
                if greedy && index + 1 != segments.len() {
                    return Err(invalid(
                        "a greedy path variable {name+} only as the last segment",
                    ));
                }
            }
            None if segment.contains('{') || segment.contains('}') => {
                return Err(invalid(
                    "braces only around a whole segment: /items/{id}, not /items/id{n}",
                ));
            }
            None => {}
        }
    }
    Ok((method, Some(path.to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes(keys: &[&str]) -> Routes {
        let raw = keys
            .iter()
            .map(|k| {
                (
                    (*k).to_owned(),
                    raw::Route {
                        scopes: vec![format!("scope-of:{k}").replace(' ', "_")],
                        authorization: None,
                        parameters: Vec::new(),
                    },
                )
            })
            .collect();
        Routes::parse(raw).expect("valid routes")
    }

    #[test]
    fn the_most_specific_route_wins_as_in_api_gateway_s_example() {
        // The example of "Working with routes for HTTP APIs".
        let table = routes(&[
            "GET /pets/dog/1",
            "GET /pets/dog/{id}",
            "GET /pets/{proxy+}",
            "ANY /{proxy+}",
            "$default",
        ]);
        let chosen = |method: &str, path: &str| table.find(method, path).map(Route::key);
        let cases = [
            ("GET", "/pets/dog/1", "GET /pets/dog/1"),
            ("GET", "/pets/dog/2", "GET /pets/dog/{id}"),
            ("GET", "/pets/cat/1", "GET /pets/{proxy+}"),
            ("POST", "/pets/dog/1", "ANY /{proxy+}"),
            ("GET", "/", "$default"),
        ];
        for (method, path, key) in cases {
            assert_eq!(
                chosen(method, path).as_deref(),
                Some(key),
                "{method} {path}"
            );
        }
    }

    #[test]
    fn a_path_variable_matches_one_non_empty_segment() {
        let table = routes(&["GET /items/{id}"]);
        assert!(table.find("GET", "/items/42").is_some());
        assert!(table.find("GET", "/items/").is_none());
        assert!(table.find("GET", "/items/42/parts").is_none());
        assert!(table.find("GET", "/items").is_none());
        assert!(table.find("POST", "/items/42").is_none());
        assert_eq!(
            table.scopes("GET", "/items/42"),
            ["scope-of:GET_/items/{id}"],
            "scopes follow the matched route, not the raw path"
        );
    }

    #[test]
    fn an_exact_method_wins_over_any_on_the_same_path() {
        let table = routes(&["ANY /admin", "DELETE /admin"]);
        assert_eq!(
            table.find("DELETE", "/admin").map(Route::key).as_deref(),
            Some("DELETE /admin")
        );
        assert_eq!(
            table.find("GET", "/admin").map(Route::key).as_deref(),
            Some("ANY /admin")
        );
    }

    #[test]
    fn bad_route_keys_name_the_rule() {
        let cases = [
            (
                "GET /a/{proxy+}/b",
                "a greedy path variable {name+} only as the last segment",
            ),
            ("GET /a/x{id}", "braces only around a whole segment"),
            ("GET /a/{}", "path variables like {id}"),
            ("FETCH /a", "a method of ANY"),
            ("/a", "a route key like"),
        ];
        for (key, expected) in cases {
            let raw = BTreeMap::from([(
                key.to_owned(),
                raw::Route {
                    scopes: Vec::new(),
                    authorization: None,
                    parameters: Vec::new(),
                },
            )]);
            let error = Routes::parse(raw).expect_err(key).to_string();
            assert!(error.contains(expected), "{key}: {error}");
        }
    }

    #[test]
    fn routes_that_differ_only_in_variable_names_are_refused() {
        let raw = ["GET /users/{id}", "GET /users/{name}"]
            .into_iter()
            .map(|k| {
                (
                    k.to_owned(),
                    raw::Route {
                        scopes: Vec::new(),
                        authorization: None,
                        parameters: Vec::new(),
                    },
                )
            })
            .collect();
        let error = Routes::parse(raw).expect_err("ambiguous").to_string();
        assert!(
            error.contains("matches the same requests as \"GET /users/{id}\""),
            "{error}"
        );
    }

    #[test]
    fn parameter_mappings_parse_as_api_gateway_writes_them() {
        let mapping = |key: &str, value: Option<&str>| {
            parse_mapping(
                "routes.\"GET /a\".parameters",
                raw::Parameter {
                    key: key.to_owned(),
                    value: value.map(str::to_owned),
                },
            )
        };
        let sub = mapping(
            "overwrite:header.X-User-Sub",
            Some("$context.authorizer.claims.sub"),
        )
        .expect("valid");
        assert_eq!(sub.target, MappingTarget::Header("x-user-sub".into()));
        assert_eq!(sub.value, Some(MappingValue::Claim("sub".into())));
        let groups = mapping(
            "append:querystring.g",
            Some("$context.authorizer.claims.cognito:groups"),
        )
        .expect("valid");
        assert_eq!(
            groups.value,
            Some(MappingValue::Claim("cognito:groups".into()))
        );
        assert_eq!(
            mapping("remove:header.cookie", None).expect("valid").value,
            None
        );
        let refused = [
            (mapping("overwrite:header.host", Some("x")), "reserved"),
            (
                mapping("overwrite:header.x-amzn-trace-id", Some("x")),
                "reserved",
            ),
            (
                mapping("replace:header.a", Some("x")),
                "overwrite, append or remove",
            ),
            (
                mapping("overwrite:body", Some("x")),
                "header.NAME, querystring.NAME or path",
            ),
            (
                mapping("overwrite:header.a", Some("$context.identity.sourceIp")),
                "$request.header.NAME",
            ),
            (mapping("overwrite:header.a", None), "a value"),
            (mapping("remove:path", None), "cannot be removed"),
            (
                mapping("overwrite:header.a", Some("line\rbreak")),
                "visible ASCII",
            ),
            (
                mapping("overwrite:path", Some("relative")),
                "starting with /",
            ),
            (mapping("remove:header.a", Some("x")), "no value"),
            (mapping("header.a", Some("x")), "ACTION:TARGET"),
        ];
        for (result, expected) in refused {
            let error = result.expect_err(expected).to_string();
            assert!(error.contains(expected), "{error}");
        }
    }
}
