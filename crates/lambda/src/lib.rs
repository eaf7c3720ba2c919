//! Portcullis on AWS Lambda, through `lambda_http`.
//!
//! Two ways to know the caller:
//!
//! - **gateway** (behind an HTTP API JWT authorizer): API Gateway has verified the token and passes its
//!   claims in `requestContext.authorizer.jwt.claims` and `scopes` (payload 2.0; payload 1.0 puts them
//!   at `requestContext.authorizer.claims`). [`VouchedLayer`] turns them into the same
//!   [`portcullis_claims::Caller`] the standalone server builds, and refuses a request that carries
//!   none: a route left without an authorizer must not become public. Behind a REST API's JWT
//!   authorizer (JSON-typed claims) or an ALB's `jwt-validation` action (the token passed on
//!   untouched), [`VouchedLayer::behind`] names the gate, and only that gate's events are trusted.
//! - **verify** (function URLs, ALB, or no authorizer): the function checks the `Authorization`
//!   header itself with `portcullis-axum`'s `AuthLayer`, keys hydrated during init.
//!
//! [`run`] serves any tower service (an axum `Router`) on the Lambda Runtime API. Before `lambda_http`
//! reads an event, claim maps are normalised leniently: a number, boolean, list or object where API
//! Gateway promises a string is rendered as API Gateway renders it, so one odd claim never makes the
//! whole event fail to deserialize.

#![warn(missing_docs)]

mod context;
mod event;
mod layer;
mod logging;
mod run;

pub use crate::context::vouched_claims;
pub use crate::event::normalize_event;
pub use crate::layer::{VouchedLayer, VouchedService};
pub use crate::logging::{LogSettings, init_logging};
pub use crate::run::{HttpResponse, run};
pub use lambda_http::http;

/// The README's examples, compiled (and those without `no_run` run) as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;
