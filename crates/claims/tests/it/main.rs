//! The verifier's integration tests, one binary (one link on two cores): each module one concern,
//! against test issuers on 127.0.0.1.

mod common;

mod accepts;
mod alb;
mod config;
mod fuzz;
mod gates;
mod gateway;
mod jwks;
mod refusal_lines;
mod rejections;
mod token_cache;
