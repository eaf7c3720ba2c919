//! The SDK clients of one deployment, built as the AWS CLI builds them, and the account they act in.

use std::time::Duration;

use aws_sdk_apigatewayv2 as apigw;
use aws_sdk_cloudwatchlogs as logs;
use aws_sdk_dynamodb as dynamodb;
use aws_sdk_iam as iam;
use aws_sdk_lambda as lambda;
use aws_sdk_sts as sts;

use super::error::{ApplyError, error_chain, one_line};

/// Attempts per call in the SDK's standard retry mode (exponential backoff with jitter, for
/// throttling and transient errors). The SDK's default of 3 gives up in the bursts a deploy meets
/// on a busy account; AWS's guidance for control-plane calls is to retry throttling longer.
pub const MAX_ATTEMPTS: u32 = 8;

/// Where the clients point and as whom.
#[derive(Debug, Clone, Default)]
pub struct Connection {
    /// Region; `None` takes the environment's or the profile's.
    pub region: Option<String>,
    /// Endpoint override (an emulator, a VPC endpoint).
    pub endpoint_url: Option<String>,
    /// A named profile of the shared AWS config and credentials files.
    pub profile: Option<String>,
}

/// The account the credentials act in, from STS `GetCallerIdentity`: ARNs are built with its
/// partition (`aws`, `aws-cn`, `aws-us-gov`) and id, hosts with its domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The 12-digit account id.
    pub id: String,
    /// The ARN partition.
    pub partition: String,
    /// The partition's domain (`amazonaws.com`, `amazonaws.com.cn`), CloudFormation's
    /// `AWS::URLSuffix`.
    pub url_suffix: String,
    /// Who the credentials are (the caller's ARN).
    pub caller: String,
}

impl Account {
    /// The account of the caller ARN `arn` (`arn:PARTITION:sts::ACCOUNT:…`).
    pub fn from_caller_arn(arn: &str, account: &str) -> Result<Account, ApplyError> {
        let partition = arn.split(':').nth(1).unwrap_or_default();
        let url_suffix = match partition {
            "aws" | "aws-us-gov" => "amazonaws.com",
            "aws-cn" => "amazonaws.com.cn",
            "aws-eusc" => "amazonaws.eu",
            "aws-iso" => "c2s.ic.gov",
            "aws-iso-b" => "sc2s.sgov.gov",
            other => {
                return Err(ApplyError::Setup(format!(
                    "GetCallerIdentity named the caller {arn}: partition {other:?} is not one of aws, aws-cn, aws-us-gov, aws-eusc, aws-iso, aws-iso-b"
                )));
            }
        };
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ApplyError::Setup(format!(
                "GetCallerIdentity answered account {account:?}: expected 12 digits"
            )));
        }
        Ok(Account {
            id: account.to_owned(),
            partition: partition.to_owned(),
            url_suffix: url_suffix.to_owned(),
            caller: arn.to_owned(),
        })
    }
}

/// The SDK clients a deployment uses (all for one Region and, optionally, one endpoint).
#[derive(Debug, Clone)]
pub struct Aws {
    /// The Region (also in ARNs and the Cognito issuer).
    pub region: String,
    /// API Gateway v2 (HTTP APIs).
    pub apigw: apigw::Client,
    pub lambda: lambda::Client,
    pub iam: iam::Client,
    /// CloudWatch Logs.
    pub logs: logs::Client,
    pub dynamodb: dynamodb::Client,
    /// STS (who the credentials are).
    pub sts: sts::Client,
    /// Cognito user pools.
    pub cognito: portcullis_cognito::sdk::CognitoAdmin,
}

impl Aws {
    /// Clients as the AWS CLI would build them: Region from the connection or the
    /// environment/profile, credentials from the default chain (environment, profile, IAM Identity
    /// Center, container, instance). Fails with one line naming what is missing before any call
    /// that changes something.
    pub async fn connect(connection: &Connection) -> Result<Aws, ApplyError> {
        use aws_credential_types::provider::ProvideCredentials;
        use aws_credential_types::provider::error::CredentialsError;
        let config = loader(connection).load().await;
        let profile = connection
            .profile
            .as_deref()
            .map(|p| format!(" (profile {p})"))
            .unwrap_or_default();
        if config.region().is_none() {
            return Err(ApplyError::Setup(format!(
                "no AWS Region{profile}: pass --region, or set AWS_REGION (or a region in your AWS profile)"
            )));
        }
        let found = match config.credentials_provider() {
            Some(provider) => provider.provide_credentials().await.map(|_| ()),
            None => Err(CredentialsError::not_loaded("no credential provider")),
        };
        let fix = "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE / --profile (after `aws configure` or `aws sso login`)";
        match found {
            Ok(()) => Ok(Aws::from_config(&config)),
            Err(CredentialsError::CredentialsNotLoaded(_)) if connection.profile.is_none() => {
                Err(ApplyError::Setup(format!(
                    "no AWS credentials found (environment, profiles, web identity, container and instance \
                     metadata were tried): {fix}"
                )))
            }
            Err(e) => Err(ApplyError::Setup(format!(
                "the AWS credentials{profile} could not be loaded: {}; {fix}",
                error_chain(&e)
            ))),
        }
    }

    /// Clients for `region` with static credentials, optionally at `endpoint_url` (tests and
    /// emulators).
    pub async fn with_static_credentials(
        region: &str,
        endpoint_url: Option<&str>,
        access_key: &str,
        secret_key: &str,
    ) -> Aws {
        let connection = Connection {
            region: Some(region.to_owned()),
            endpoint_url: endpoint_url.map(str::to_owned),
            profile: None,
        };
        let loader =
            loader(&connection).credentials_provider(aws_credential_types::Credentials::new(
                access_key,
                secret_key,
                None,
                None,
                "portcullis-static",
            ));
        Aws::from_config(&loader.load().await)
    }

    fn from_config(config: &aws_config::SdkConfig) -> Aws {
        Aws {
            region: config.region().map(|r| r.to_string()).unwrap_or_default(),
            apigw: apigw::Client::new(config),
            lambda: lambda::Client::new(config),
            iam: iam::Client::new(config),
            logs: logs::Client::new(config),
            dynamodb: dynamodb::Client::new(config),
            sts: sts::Client::new(config),
            cognito: portcullis_cognito::sdk::CognitoAdmin::new(
                aws_sdk_cognitoidentityprovider::Client::new(config),
            ),
        }
    }

    /// One read call before anything is changed (STS `GetCallerIdentity`): an endpoint that
    /// cannot be reached, or credentials AWS refuses, fail here in one line; else the account.
    pub async fn account(&self, endpoint_url: Option<&str>) -> Result<Account, ApplyError> {
        use sts::error::{ProvideErrorMetadata, SdkError};
        let place =
            endpoint_url.map_or_else(|| format!("AWS in {}", self.region), |url| url.to_owned());
        // Two attempts, not MAX_ATTEMPTS: a dead endpoint should fail in seconds, not after the
        // backoff meant for a throttling burst.
        let quick = sts::config::Builder::default()
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(2));
        match self
            .sts
            .get_caller_identity()
            .customize()
            .config_override(quick)
            .send()
            .await
        {
            Ok(me) => Account::from_caller_arn(
                me.arn().unwrap_or_default(),
                me.account().unwrap_or_default(),
            ),
            Err(SdkError::ServiceError(e)) => {
                let code = e.err().code().unwrap_or("unknown error");
                let message = e.err().message().unwrap_or_default();
                Err(ApplyError::Setup(one_line(&format!(
                    "{place} refused the first call (GetCallerIdentity): {code}: {message}; check the credentials and their permissions"
                ))))
            }
            Err(e) => Err(ApplyError::Setup(format!(
                "cannot reach {place}: {}; check --endpoint-url, --region and the network",
                error_chain(&e)
            ))),
        }
    }
}

/// The shared loader: Region, endpoint, profile, the standard retry mode with [`MAX_ATTEMPTS`],
/// and timeouts that end a dead endpoint's wait quickly.
fn loader(connection: &Connection) -> aws_config::ConfigLoader {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(120))
                .build(),
        )
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS));
    if let Some(profile) = &connection.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(region) = &connection.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    if let Some(url) = &connection.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader
}
