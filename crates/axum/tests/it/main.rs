//! The axum adapter's tests, one binary: methods, the runtime around a router, connections.

mod connections;
mod methods;
mod runtime;
