//! Route keys (`"POST /user/profile"`) and the scopes each route requires, as API Gateway routes have
//! authorization scopes.

use std::collections::BTreeMap;
use std::fmt;

use portcullis_claims::{ConfigError, MAX_ROUTE_SCOPES};

use crate::SettingsError;
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

/// The scopes per route. A route not listed requires no scope (any valid token).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Routes {
    routes: BTreeMap<(String, Method), Vec<String>>,
}

impl Routes {
    pub(crate) fn parse(raw: BTreeMap<String, raw::Route>) -> Result<Routes, SettingsError> {
        let mut routes = BTreeMap::new();
        for (key, route) in raw {
            let (method, path) = parse_key(&key)?;
            let key_name = format!("routes.\"{key}\".scopes");
            if method == Method::Options && !route.scopes.is_empty() {
                return Err(ConfigError::new(
                    &key_name,
                    format!("{:?}", route.scopes),
                    "no scopes on OPTIONS: CORS preflight carries no token and must never be refused",
                )
                .into());
            }
            if route.scopes.len() > MAX_ROUTE_SCOPES {
                return Err(ConfigError::new(
                    &key_name,
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
                    &key_name,
                    bad,
                    "scope names without spaces or quotes",
                )
                .into());
            }
            if routes
                .insert((path.clone(), method), route.scopes)
                .is_some()
            {
                return Err(ConfigError::new("routes", &key, "each route once").into());
            }
        }
        Ok(Routes { routes })
    }

    /// The scopes a request to `method path` must hold one of: the exact route's, else the path's
    /// `ANY` route's, else none.
    pub fn scopes(&self, method: &str, path: &str) -> &[String] {
        let method = Method::parse(method).unwrap_or(Method::Any);
        self.routes
            .get(&(path.to_owned(), method))
            .or_else(|| self.routes.get(&(path.to_owned(), Method::Any)))
            .map_or(&[], Vec::as_slice)
    }

    /// Every configured route with its scopes.
    pub fn iter(&self) -> impl Iterator<Item = (Method, &str, &[String])> {
        self.routes
            .iter()
            .map(|((path, method), scopes)| (*method, path.as_str(), scopes.as_slice()))
    }
}

fn parse_key(key: &str) -> Result<(Method, String), SettingsError> {
    let invalid = |expected: &str| SettingsError::from(ConfigError::new("routes", key, expected));
    let (method, path) = key
        .split_once(' ')
        .ok_or_else(|| invalid("a route key like \"POST /user/profile\""))?;
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
    Ok((method, path.to_owned()))
}
