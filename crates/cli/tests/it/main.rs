//! The `portcullis` command's end-to-end tests, one binary: the real binary, real servers on
//! 127.0.0.1 (moto, oauth2-mock-server, Chromium), one module per command or concern.

mod common;
#[cfg(feature = "aws")]
mod faults;

mod build;
mod cli;
mod console;
mod deploy_commands;
mod deploy_faults;
mod deploy_moto;
mod gateway;
mod invoke;
mod token;
