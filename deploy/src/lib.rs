//! The infrastructure of one Portcullis deployment as a typed plan: what the stack holds, built from
//! the configuration for a provider × runtime, with back ends that read it. This crate has the plan
//! and the CloudFormation export ([`cloudformation`]); applying it through the AWS SDK comes with
//! `cargo xtask deploy`.
//!
//! Values that only exist once something is created (a Cognito pool id, a function ARN) are
//! [`Value::Ref`]s to the resource that will hold them, so one plan serves both back ends.

#[cfg(feature = "apply")]
pub mod apply;
pub mod cloudformation;
pub mod gate_rules;
pub mod package;
mod plan;
mod yaml;

pub use crate::gate_rules::{GateRules, TrustedIssuer, Undeployable, deployable, gate_rules};
pub use crate::plan::*;
