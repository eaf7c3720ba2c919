//! Every command and flag of `portcullis`, declared once; the doc comments are the `--help` text.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};

/// API Gateway's JWT authorizer, run on your machine and deployed to AWS.
///
/// `dev` runs the example service behind it; `gateway` puts it in front of your own API; `build`,
/// `deploy` and `remove` take a provider × runtime to AWS; `info`, `logs` and `invoke` show and
/// call what is deployed; `token` and `login` get you a token.
#[derive(Debug, Parser)]
#[command(name = "portcullis", version, propagate_version = true)]
#[command(disable_help_subcommand = true, max_term_width = 100)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
    /// How the user ran this program (`cargo xtask`), for the commands printed in messages.
    #[arg(long, global = true, hide = true, value_name = "PROGRAM")]
    pub(crate) invoked_as: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the example service locally: a development issuer, GET/POST /user/profile, SQLite.
    Dev(DevArgs),
    /// A local HTTP API whose JWT authorizer is Portcullis, in front of your own backend.
    Gateway(GatewayArgs),
    /// Build the example service for one provider and runtime (inside a Portcullis checkout).
    Build(BuildArgs),
    /// Deploy a protected HTTP API to AWS (or an emulator) and print its endpoints.
    Deploy(DeployArgs),
    /// Delete everything `deploy` made for the same provider and stage.
    Remove(RemoveArgs),
    /// Show the deployed API as it stands: endpoints, authorizer, route scopes, function state.
    Info(InfoArgs),
    /// Print the deployed function's log events from CloudWatch Logs.
    Logs(LogsArgs),
    /// Call the deployed API (or, with --local, the one `dev` runs) with a fresh token; print the
    /// status, headers and body.
    Invoke(InvokeArgs),
    /// Print a token for the deployed API (Cognito test user, or client credentials).
    Token(TokenArgs),
    /// Sign in with the authorization code flow and PKCE, and print the tokens.
    Login(LoginArgs),
    /// Serve the example service on the Lambda Runtime API named by AWS_LAMBDA_RUNTIME_API (what
    /// `dev --runtime lambda` runs behind the local HTTP API).
    #[command(hide = true)]
    LambdaBootstrap,
}

/// Who issues the tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Provider {
    Cognito,
    Auth0,
    Okta,
    Oidc,
}

impl Provider {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Provider::Cognito => "cognito",
            Provider::Auth0 => "auth0",
            Provider::Okta => "okta",
            Provider::Oidc => "oidc",
        }
    }

    /// The service's cargo feature that compiles this provider in (`oidc` needs none).
    pub(crate) fn feature(self) -> Option<&'static str> {
        match self {
            Provider::Oidc => None,
            other => Some(other.name()),
        }
    }
}

/// Where the service runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Runtime {
    /// AWS Lambda (`provided.al2023`), behind the HTTP API.
    Lambda,
    /// The `portcullis-server` binary, behind the HTTP API's HTTP proxy integration.
    Standalone,
}

impl From<Runtime> for portcullis_deploy::Runtime {
    fn from(runtime: Runtime) -> Self {
        match runtime {
            Runtime::Lambda => portcullis_deploy::Runtime::Lambda,
            Runtime::Standalone => portcullis_deploy::Runtime::Standalone,
        }
    }
}

/// The Lambda function's processor architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Arch {
    #[value(name = "x86_64")]
    X86_64,
    Arm64,
}

impl From<Arch> for portcullis_deploy::Arch {
    fn from(arch: Arch) -> Self {
        match arch {
            Arch::X86_64 => portcullis_deploy::Arch::X86_64,
            Arch::Arm64 => portcullis_deploy::Arch::Arm64,
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct DevArgs {
    /// Run the standalone server in this process, or the Lambda function behind a local HTTP API.
    #[arg(long, value_enum, default_value = "standalone")]
    pub(crate) runtime: Runtime,
    /// Trust the provider in this file instead of the development issuer.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Where the service (or the local HTTP API) listens.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:3000")]
    pub(crate) listen: String,
    /// Where the SQLite file and the generated configuration live.
    #[arg(long, value_name = "DIR", default_value = ".portcullis/dev")]
    pub(crate) state_dir: PathBuf,
    /// Send the printed requests once, check the answers, and stop.
    #[arg(long)]
    pub(crate) smoke: bool,
    #[command(flatten)]
    pub(crate) gate: GateArgs,
    #[command(flatten)]
    pub(crate) console: ConsoleArgs,
}

/// Which AWS gate is emulated, shared by dev and gateway.
#[derive(Debug, Clone, Args)]
pub(crate) struct GateArgs {
    /// The AWS gate whose rules judge tokens and whose event the function receives: http-api (an
    /// HTTP API JWT authorizer), rest-api (a REST API JWT authorizer) or alb (an Application Load
    /// Balancer's jwt-validation action). Overrides the configuration's `auth.gate`.
    #[arg(long, value_name = "GATE", value_parser = ["http-api", "rest-api", "alb"])]
    pub(crate) gate: Option<String>,
}

impl GateArgs {
    /// The configuration override `--gate` makes, if given.
    pub(crate) fn overrides(&self) -> Vec<(String, String)> {
        self.gate
            .iter()
            .map(|gate| ("auth.gate".to_owned(), gate.clone()))
            .collect()
    }
}

/// The console's listener, shared by dev and gateway.
#[derive(Debug, Clone, Args)]
pub(crate) struct ConsoleArgs {
    /// Where the console listens: a page to mint or paste a token, see the gate's verdict rule by
    /// rule, and call the API with it (a loopback address; port 0 picks one; `off` for none).
    #[arg(long, value_name = "ADDR|off", default_value = "127.0.0.1:0")]
    pub(crate) console: String,
}

/// Which issuer the gateway's authorizer trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum IssuerChoice {
    /// A development issuer on 127.0.0.1 with throwaway keys; a token to try is printed.
    Dev,
    /// The provider in the configuration's `[auth]` section.
    Config,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("backend").required(true).args(["upstream", "lambda"])))]
pub(crate) struct GatewayArgs {
    /// Your HTTP backend, e.g. http://127.0.0.1:8080: requests go there as an HTTP API's HTTP proxy
    /// integration sends them (Authorization passed through, claims only through `[routes]`
    /// parameter mappings).
    #[arg(long, value_name = "URL", value_parser = http_url)]
    pub(crate) upstream: Option<reqwest::Url>,
    /// Your Lambda function's `bootstrap` executable, run behind a local Runtime API with the
    /// gate's events (payload 2.0; a REST proxy event with `--gate rest-api`; an ALB event with
    /// `--gate alb`).
    #[arg(long, value_name = "PATH")]
    pub(crate) lambda: Option<PathBuf>,
    /// Trust a development issuer, or the provider the configuration names.
    #[arg(long, value_enum, default_value = "config")]
    pub(crate) issuer: IssuerChoice,
    /// The configuration with `[auth]` and `[routes]` (default: portcullis.toml in this directory).
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Where the gateway listens.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:3000")]
    pub(crate) listen: String,
    #[command(flatten)]
    pub(crate) gate: GateArgs,
    #[command(flatten)]
    pub(crate) console: ConsoleArgs,
}

#[derive(Debug, Args)]
pub(crate) struct BuildArgs {
    /// The provider compiled in.
    #[arg(long, value_enum)]
    pub(crate) provider: Provider,
    /// The runtime to build for.
    #[arg(long, value_enum)]
    pub(crate) runtime: Runtime,
    /// The target architecture.
    #[arg(long, value_enum, default_value = "x86_64")]
    pub(crate) arch: Arch,
    /// Build with the release profile (small, optimised; what deploy uploads).
    #[arg(long)]
    pub(crate) release: bool,
    /// Fetch the issuers' key sets now and ship them beside the binary (no fetch on a cold start).
    #[arg(long)]
    pub(crate) embed_jwks: bool,
    /// The configuration naming the issuers (default: portcullis.toml).
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
}

/// The flags that name one deployment, shared by deploy, remove, info, logs, token and login.
#[derive(Debug, Clone, Args)]
pub(crate) struct Target {
    /// The identity provider the API trusts.
    #[arg(long, value_enum)]
    pub(crate) provider: Provider,
    #[command(flatten)]
    pub(crate) place: Place,
}

/// Where a deployment is, besides its provider.
#[derive(Debug, Clone, Args)]
pub(crate) struct Place {
    /// Lambda function, or HTTP proxy to your standalone server.
    #[arg(long, value_enum, default_value = "lambda")]
    pub(crate) runtime: Runtime,
    /// The stage: part of every resource name (1 to 20 lowercase letters, digits, hyphens).
    #[arg(long, default_value = "dev", value_parser = stage)]
    pub(crate) stage: String,
    /// The function's architecture.
    #[arg(long, value_enum, default_value = "x86_64")]
    pub(crate) arch: Arch,
    /// The AWS Region (default: from the AWS configuration).
    #[arg(long, value_name = "REGION")]
    pub(crate) region: Option<String>,
    /// Send every AWS call here instead (an emulator such as moto).
    #[arg(long, value_name = "URL", value_parser = http_url_text)]
    pub(crate) endpoint_url: Option<String>,
    /// A profile of your AWS config and credentials files (default: AWS_PROFILE, else `default`).
    #[arg(long, value_name = "NAME", value_parser = profile_name)]
    pub(crate) profile: Option<String>,
    /// The provider's settings (default: portcullis.toml).
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct DeployArgs {
    #[command(flatten)]
    pub(crate) target: Target,
    /// A Lambda zip with an executable `bootstrap` (default: build one).
    #[arg(long, value_name = "ZIP", conflicts_with = "backend_url")]
    pub(crate) package: Option<PathBuf>,
    /// Where your standalone server runs (--runtime standalone).
    #[arg(long, value_name = "URL", value_parser = http_url_text)]
    pub(crate) backend_url: Option<String>,
    /// Ship the issuers' current key sets in the package it builds.
    #[arg(long)]
    pub(crate) embed_jwks: bool,
    /// Write the CloudFormation template here and apply nothing.
    #[arg(long, value_name = "FILE")]
    pub(crate) export: Option<PathBuf>,
    /// The gate to deploy (overrides the configuration's `auth.gate`): http-api is applied through
    /// the SDK or exported; rest-api (a REST API with a JWT authorizer) and alb (listener rules with
    /// jwt-validation for your HTTPS listener) are exported with --export only.
    #[arg(long, value_name = "GATE", value_parser = ["http-api", "rest-api", "alb"])]
    pub(crate) gate: Option<String>,
    /// Print one JSON document (resources, endpoint, Cognito ids) on stdout; progress on stderr.
    #[arg(long)]
    pub(crate) json: bool,
    /// Compare with the live account and print what would be created, updated or left unchanged;
    /// change nothing.
    #[arg(long, conflicts_with = "export")]
    pub(crate) dry_run: bool,
}

#[derive(Debug, Args)]
pub(crate) struct RemoveArgs {
    #[command(flatten)]
    pub(crate) target: Target,
    /// Delete without asking (remove asks only when stdin is a terminal).
    #[arg(long, short = 'y')]
    pub(crate) yes: bool,
}

#[derive(Debug, Args)]
pub(crate) struct InfoArgs {
    #[command(flatten)]
    pub(crate) target: Target,
    /// Print one JSON document instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct LogsArgs {
    #[command(flatten)]
    pub(crate) target: Target,
    /// Events from this long ago: a number with s, m, h or d (`90s`, `10m`, `2h`, `7d`).
    #[arg(long, value_name = "AGE", default_value = "10m", value_parser = age)]
    pub(crate) since: std::time::Duration,
    /// Keep printing new events as they arrive (until Ctrl-C).
    #[arg(long, short = 'f')]
    pub(crate) follow: bool,
}

/// An HTTP method API Gateway routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum HttpMethod {
    #[value(name = "GET")]
    Get,
    #[value(name = "POST")]
    Post,
    #[value(name = "PUT")]
    Put,
    #[value(name = "PATCH")]
    Patch,
    #[value(name = "DELETE")]
    Delete,
    #[value(name = "HEAD")]
    Head,
    #[value(name = "OPTIONS")]
    Options,
}

impl HttpMethod {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
            HttpMethod::Head => "HEAD",
            HttpMethod::Options => "OPTIONS",
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct InvokeArgs {
    /// The method.
    #[arg(value_enum, ignore_case = true)]
    pub(crate) method: HttpMethod,
    /// The path, with its query string: /user/profile.
    #[arg(value_parser = request_path)]
    pub(crate) path: String,
    /// A JSON request body (sent with content-type application/json).
    #[arg(long, value_name = "JSON", value_parser = json_body)]
    pub(crate) data: Option<String>,
    /// Call `portcullis dev` instead (at http://127.0.0.1:3000, or `--local=URL`), with a token of
    /// its development issuer.
    #[arg(long, value_name = "URL", num_args = 0..=1, require_equals = true,
          default_missing_value = "http://127.0.0.1:3000",
          value_parser = http_url_text, conflicts_with_all = ["provider", "url"])]
    pub(crate) local: Option<String>,
    /// Where `dev` keeps its state (its development issuer is named there), with --local
    /// [default: .portcullis/dev].
    #[arg(long, value_name = "DIR", conflicts_with = "provider")]
    pub(crate) state_dir: Option<PathBuf>,
    /// Call this base URL instead of the deployed endpoint (a custom domain).
    #[arg(long, value_name = "URL", value_parser = http_url_text)]
    pub(crate) url: Option<String>,
    /// Ask the token for this scope (repeatable).
    #[arg(long = "scope", value_name = "SCOPE")]
    pub(crate) scopes: Vec<String>,
    /// Cognito: the test user's email (default: a user of this stage).
    #[arg(long, value_name = "EMAIL")]
    pub(crate) username: Option<String>,
    /// Send no Authorization header (see what the gate answers without a token).
    #[arg(long)]
    pub(crate) no_token: bool,
    /// The identity provider of the deployed API (not with --local).
    #[arg(long, value_enum, required_unless_present = "local")]
    pub(crate) provider: Option<Provider>,
    #[command(flatten)]
    pub(crate) place: Place,
}

#[derive(Debug, Args)]
pub(crate) struct TokenArgs {
    #[command(flatten)]
    pub(crate) target: Target,
    /// Cognito: the test user's email (default: a user of this stage).
    #[arg(long, value_name = "EMAIL")]
    pub(crate) username: Option<String>,
    /// Cognito: put the test user in this group (repeatable).
    #[arg(long = "group", value_name = "NAME")]
    pub(crate) groups: Vec<String>,
    /// Ask for this scope (repeatable).
    #[arg(long = "scope", value_name = "SCOPE")]
    pub(crate) scopes: Vec<String>,
    /// The OAuth client (default: OAUTH_CLIENT_ID; the secret only from OAUTH_CLIENT_SECRET).
    #[arg(long, value_name = "ID")]
    pub(crate) client_id: Option<String>,
    /// The token endpoint (default: from the issuer's discovery document).
    #[arg(long, value_name = "URL", value_parser = http_url_text)]
    pub(crate) token_url: Option<String>,
    #[command(flatten)]
    pub(crate) print: PrintArgs,
}

#[derive(Debug, Args)]
pub(crate) struct LoginArgs {
    #[command(flatten)]
    pub(crate) target: Target,
    /// The OAuth client (default: OAUTH_CLIENT_ID).
    #[arg(long, value_name = "ID")]
    pub(crate) client_id: Option<String>,
    /// Ask for this scope (repeatable).
    #[arg(long = "scope", value_name = "SCOPE")]
    pub(crate) scopes: Vec<String>,
    /// Cognito: the Hosted UI domain prefix of a configured pool.
    #[arg(long, value_name = "PREFIX")]
    pub(crate) domain: Option<String>,
    /// Where the listener catches the sign-in's redirect (`http://localhost:PORT/callback`).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:3000")]
    pub(crate) listen: String,
    /// The authorization endpoint (default: from the issuer's discovery document).
    #[arg(long, value_name = "URL", value_parser = http_url_text)]
    pub(crate) authorize_url: Option<String>,
    /// The token endpoint (default: from the issuer's discovery document).
    #[arg(long, value_name = "URL", value_parser = http_url_text)]
    pub(crate) token_url: Option<String>,
    /// Print the sign-in URL only; do not open a browser.
    #[arg(long)]
    pub(crate) no_browser: bool,
    /// Give up waiting for the redirect after this many seconds (1 to 3600).
    #[arg(long, value_name = "SECONDS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub(crate) timeout: u64,
    #[command(flatten)]
    pub(crate) print: PrintArgs,
}

/// What `token` and `login` print.
#[derive(Debug, Args)]
#[group(multiple = false)]
pub(crate) struct PrintArgs {
    /// Print the id token instead of the access token.
    #[arg(long)]
    pub(crate) id: bool,
    /// Print every token as one JSON document.
    #[arg(long)]
    pub(crate) json: bool,
}

/// An `http://` or `https://` URL with a host.
fn http_url(text: &str) -> Result<reqwest::Url, String> {
    match reqwest::Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(url),
        _ => Err("expected an http:// or https:// URL".to_owned()),
    }
}

fn http_url_text(text: &str) -> Result<String, String> {
    http_url(text).map(|_| text.to_owned())
}

/// A request path: starts with `/`, no spaces or control characters, at most 8 KiB.
fn request_path(text: &str) -> Result<String, String> {
    if !text.starts_with('/')
        || text.len() > 8192
        || text.bytes().any(|b| b.is_ascii_control() || b == b' ')
    {
        return Err(
            "expected a path starting with / (its query string included), like /user/profile"
                .to_owned(),
        );
    }
    Ok(text.to_owned())
}

/// A JSON document.
fn json_body(text: &str) -> Result<String, String> {
    serde_json::from_str::<serde_json::Value>(text)
        .map(|_| text.to_owned())
        .map_err(|e| format!("expected a JSON document: {e}"))
}

/// `90s`, `10m`, `2h`, `7d`: at least a second, at most CloudWatch Logs' longest retention (10 years).
fn age(text: &str) -> Result<std::time::Duration, String> {
    let expected = || "expected a number with s, m, h or d, like 90s, 10m, 2h or 7d".to_owned();
    let split = text.len().checked_sub(1).ok_or_else(expected)?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| expected())?;
    let seconds = match unit {
        "s" => Some(number),
        "m" => number.checked_mul(60),
        "h" => number.checked_mul(3600),
        "d" => number.checked_mul(86_400),
        _ => None,
    }
    .ok_or_else(expected)?;
    if seconds == 0 || seconds > 3653 * 86_400 {
        return Err(
            "expected from 1s to 3653d (CloudWatch Logs keeps events at most 10 years)".to_owned(),
        );
    }
    Ok(std::time::Duration::from_secs(seconds))
}

/// A profile name as the AWS config file spells its sections (`[profile NAME]`).
fn profile_name(text: &str) -> Result<String, String> {
    if text.is_empty()
        || text.len() > 128
        || !text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.@+".contains(&b))
    {
        return Err(
            "expected a profile name of letters, digits and - _ . @ + (as in ~/.aws/config)"
                .to_owned(),
        );
    }
    Ok(text.to_owned())
}

/// 1 to 20 lowercase letters, digits and hyphens: the stage is part of every resource name.
fn stage(text: &str) -> Result<String, String> {
    if text.is_empty()
        || text.len() > 20
        || !text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(
            "expected 1 to 20 lowercase letters, digits and hyphens (it is part of every resource name)"
                .to_owned(),
        );
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    #[test]
    fn the_declared_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
