//! Cross-crate tests, one binary: architecture rules (tidy), the one admission through every
//! caller, and interop with real third-party issuers on loopback.

mod admission;
mod interop_cognito;
mod interop_oidc;
mod tidy;
