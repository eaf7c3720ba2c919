//! `portcullis`: API Gateway's JWT checks in front of any API on this machine, and the way to AWS.
//!
//! One `main` that parses the declared flags ([`flags`]) and runs the command. Usage errors are one
//! line on stderr with exit status 2; failures one line with exit status 1; `--help` and
//! `--version` print to stdout and exit 0.

mod build;
mod console;
mod deploy;
mod dev;
mod flags;
mod gateway;
#[cfg(feature = "aws")]
mod info;
mod invoke;
mod login;
#[cfg(feature = "aws")]
mod logs;
mod token;

use std::process::ExitCode;
use std::sync::OnceLock;

use clap::Parser;
use clap::error::ErrorKind;

use crate::flags::{Cli, Command};

static INVOKED_AS: OnceLock<String> = OnceLock::new();

/// How the user ran this program, for the commands printed in messages (`portcullis remove …`, or
/// `cargo xtask remove …` when xtask forwarded the command).
pub(crate) fn invoked_as() -> &'static str {
    INVOKED_AS.get().map_or("portcullis", String::as_str)
}

/// A command stopped by Ctrl-C: its message, and exit status 130 (128 + SIGINT), as shells report.
#[derive(Debug)]
pub(crate) struct Interrupted(pub(crate) String);

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Interrupted {}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(&error),
    };
    if let Some(name) = &cli.invoked_as {
        let _ = INVOKED_AS.set(name.clone());
    }
    let result = match cli.command {
        Command::Dev(args) => dev::dev(&args),
        Command::Gateway(args) => gateway::gateway(&args),
        Command::Build(args) => build::build(&args),
        Command::Deploy(args) => deploy::deploy(&args),
        Command::Remove(args) => deploy::remove(&args),
        #[cfg(feature = "aws")]
        Command::Info(args) => info::info(&args),
        #[cfg(feature = "aws")]
        Command::Logs(args) => logs::logs(&args),
        Command::Invoke(args) => invoke::invoke(&args),
        #[cfg(not(feature = "aws"))]
        Command::Info(_) => Err(anyhow::anyhow!(deploy::without_aws("info"))),
        #[cfg(not(feature = "aws"))]
        Command::Logs(_) => Err(anyhow::anyhow!(deploy::without_aws("logs"))),
        Command::Token(args) => token::token(&args),
        Command::Login(args) => login::login(&args),
        Command::LambdaBootstrap => dev::lambda_bootstrap(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", one_line(&format!("{error:#}")));
            if error.downcast_ref::<Interrupted>().is_some() {
                ExitCode::from(130)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// `--help` and `--version` go to stdout (exit 0); a usage error is one line on stderr (exit 2).
fn usage_error(error: &clap::Error) -> ExitCode {
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            print!("{error}");
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            eprint!("{error}");
            ExitCode::from(2)
        }
        _ => {
            let text = error.render().to_string();
            let lines: Vec<&str> = text
                .lines()
                .map(str::trim)
                .filter(|l| {
                    !l.is_empty()
                        && !l.starts_with("For more information")
                        && !l.starts_with("Usage:")
                })
                .collect();
            let message = lines.join(" ");
            let message = message.strip_prefix("error: ").unwrap_or(&message);
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

/// Error chains can hold a line break (a child's output); a failure stays one line.
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
