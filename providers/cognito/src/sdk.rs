//! Provisioning and test tokens through `aws-sdk-cognitoidentityprovider` (feature `sdk`).
//!
//! Every call is idempotent where AWS allows it: an existing pool, client, domain, group or user of the
//! same name is found and reused, never duplicated. Every client accepts an endpoint URL override
//! (moto's server in tests, LocalStack, a VPC endpoint).

use aws_sdk_cognitoidentityprovider::Client;
use aws_sdk_cognitoidentityprovider::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_cognitoidentityprovider::error::DisplayErrorContext;
use aws_sdk_cognitoidentityprovider::types::{
    AttributeType, AuthFlowType, ExplicitAuthFlowsType, MessageActionType, OAuthFlowType,
    UsernameAttributeType, VerifiedAttributeType,
};

/// The OAuth scopes of the original tutorial's app client.
pub const TUTORIAL_SCOPES: [&str; 5] = crate::tutorial_client::OAUTH_SCOPES;

/// What an `ensure_…` call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provisioned {
    /// It did not exist and was made.
    Created,
    /// It existed with other settings and was changed.
    Updated,
    /// It existed as asked.
    Unchanged,
}

/// A Cognito call that failed, naming the operation and the resource.
#[derive(Debug, thiserror::Error)]
#[error("Cognito {operation} for {resource} failed: {detail}")]
pub struct CognitoError {
    /// The API operation (`CreateUserPool`, …).
    pub operation: &'static str,
    /// The pool, client, user or domain concerned.
    pub resource: String,
    /// The SDK's full error chain.
    pub detail: String,
}

fn fail<E: std::error::Error>(
    operation: &'static str,
    resource: &str,
) -> impl FnOnce(E) -> CognitoError {
    let resource = resource.to_owned();
    move |e| CognitoError {
        operation,
        resource,
        detail: DisplayErrorContext(e).to_string(),
    }
}

/// Tokens from a sign-in. Debug output never shows them.
#[derive(Clone)]
pub struct Tokens {
    /// The id token.
    pub id_token: String,
    /// The access token.
    pub access_token: String,
    /// The refresh token, when issued.
    pub refresh_token: Option<String>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tokens(<redacted>)")
    }
}

/// A client for `region`, optionally at `endpoint_url`, with static credentials (tests and emulators;
/// real deployments build a [`Client`] from `aws-config` and use [`CognitoAdmin::new`]).
pub fn static_client(
    region: &str,
    endpoint_url: Option<&str>,
    access_key: &str,
    secret_key: &str,
) -> Client {
    let mut config = aws_sdk_cognitoidentityprovider::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .credentials_provider(Credentials::new(
            access_key,
            secret_key,
            None,
            None,
            "portcullis-static",
        ));
    if let Some(url) = endpoint_url {
        config = config.endpoint_url(url);
    }
    Client::from_conf(config.build())
}

/// Cognito administration for Portcullis: the original tutorial's resources, test users, tokens.
#[derive(Debug, Clone)]
pub struct CognitoAdmin {
    client: Client,
}

impl CognitoAdmin {
    /// Wraps an SDK client.
    pub fn new(client: Client) -> CognitoAdmin {
        CognitoAdmin { client }
    }

    /// The pool named `name` (email as user name, email auto-verified), created if absent.
    pub async fn ensure_user_pool(
        &self,
        name: &str,
    ) -> Result<(String, Provisioned), CognitoError> {
        self.ensure_user_pool_tagged(name, &Default::default())
            .await
    }

    /// The same, a new pool carrying `tags`.
    pub async fn ensure_user_pool_tagged(
        &self,
        name: &str,
        tags: &std::collections::HashMap<String, String>,
    ) -> Result<(String, Provisioned), CognitoError> {
        if let Some(id) = self.find_user_pool(name).await? {
            return Ok((id, Provisioned::Unchanged));
        }
        let created = self
            .client
            .create_user_pool()
            .pool_name(name)
            .username_attributes(UsernameAttributeType::Email)
            .auto_verified_attributes(VerifiedAttributeType::Email)
            .set_user_pool_tags((!tags.is_empty()).then(|| tags.clone()))
            .send()
            .await
            .map_err(fail("CreateUserPool", name))?;
        let id = created
            .user_pool()
            .and_then(|p| p.id())
            .map(str::to_owned)
            .ok_or_else(|| missing("CreateUserPool", name, "a pool id"))?;
        Ok((id, Provisioned::Created))
    }

    /// What says whose pool `pool_id` is: its tags and its Hosted UI domain prefix.
    pub async fn pool_marks(
        &self,
        pool_id: &str,
    ) -> Result<(std::collections::HashMap<String, String>, Option<String>), CognitoError> {
        let described = self
            .client
            .describe_user_pool()
            .user_pool_id(pool_id)
            .send()
            .await
            .map_err(fail("DescribeUserPool", pool_id))?;
        let pool = described.user_pool();
        Ok((
            pool.and_then(|p| p.user_pool_tags())
                .cloned()
                .unwrap_or_default(),
            pool.and_then(|p| p.domain())
                .filter(|d| !d.is_empty())
                .map(str::to_owned),
        ))
    }

    /// The id of the pool named `name`, if one exists.
    pub async fn find_user_pool(&self, name: &str) -> Result<Option<String>, CognitoError> {
        let mut pages = self
            .client
            .list_user_pools()
            .max_results(60)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(fail("ListUserPools", name))?;
            if let Some(pool) = page.user_pools().iter().find(|p| p.name() == Some(name)) {
                return Ok(pool.id().map(str::to_owned));
            }
        }
        Ok(None)
    }

    /// The id of the app client named `name` in `pool_id`, if one exists.
    pub async fn find_app_client(
        &self,
        pool_id: &str,
        name: &str,
    ) -> Result<Option<String>, CognitoError> {
        let mut pages = self
            .client
            .list_user_pool_clients()
            .user_pool_id(pool_id)
            .max_results(60)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(fail("ListUserPoolClients", pool_id))?;
            if let Some(client) = page
                .user_pool_clients()
                .iter()
                .find(|c| c.client_name() == Some(name))
            {
                return Ok(client.client_id().map(str::to_owned));
            }
        }
        Ok(None)
    }

    /// The app client `name` of `pool_id` (no secret; implicit and code grants; the tutorial's scopes
    /// and `callback_urls`; user-password sign-in for test tokens): created if absent, updated when
    /// its callbacks or scopes differ, else left alone.
    pub async fn ensure_app_client(
        &self,
        pool_id: &str,
        name: &str,
        callback_urls: &[&str],
    ) -> Result<(String, Provisioned), CognitoError> {
        // The same settings for create and update (an update resets whatever it leaves out).
        macro_rules! settings {
            ($request:expr) => {{
                use crate::tutorial_client as tutorial;
                let mut request = $request
                    .client_name(name)
                    .allowed_o_auth_flows_user_pool_client(true)
                    .set_callback_urls(Some(callback_urls.iter().map(|u| u.to_string()).collect()));
                for flow in tutorial::OAUTH_FLOWS {
                    request = request.allowed_o_auth_flows(OAuthFlowType::from(flow));
                }
                for flow in tutorial::AUTH_FLOWS {
                    request = request.explicit_auth_flows(ExplicitAuthFlowsType::from(flow));
                }
                for provider in tutorial::IDENTITY_PROVIDERS {
                    request = request.supported_identity_providers(provider);
                }
                for scope in tutorial::OAUTH_SCOPES {
                    request = request.allowed_o_auth_scopes(scope);
                }
                request
            }};
        }
        if let Some(id) = self.find_app_client(pool_id, name).await? {
            let described = self
                .client
                .describe_user_pool_client()
                .user_pool_id(pool_id)
                .client_id(&id)
                .send()
                .await
                .map_err(fail("DescribeUserPoolClient", name))?;
            let sorted = |list: &[String]| {
                let mut list = list.to_vec();
                list.sort();
                list
            };
            let client = described.user_pool_client();
            let wanted_callbacks: Vec<String> =
                callback_urls.iter().map(|u| u.to_string()).collect();
            let wanted_scopes: Vec<String> =
                TUTORIAL_SCOPES.iter().map(|s| s.to_string()).collect();
            let same = client.is_some_and(|c| {
                sorted(c.callback_urls()) == sorted(&wanted_callbacks)
                    && sorted(c.allowed_o_auth_scopes()) == sorted(&wanted_scopes)
            });
            if same {
                return Ok((id, Provisioned::Unchanged));
            }
            settings!(
                self.client
                    .update_user_pool_client()
                    .user_pool_id(pool_id)
                    .client_id(&id)
            )
            .send()
            .await
            .map_err(fail("UpdateUserPoolClient", name))?;
            return Ok((id, Provisioned::Updated));
        }
        let created = settings!(
            self.client
                .create_user_pool_client()
                .user_pool_id(pool_id)
                .generate_secret(false)
        )
        .send()
        .await
        .map_err(fail("CreateUserPoolClient", name))?;
        let id = created
            .user_pool_client()
            .and_then(|c| c.client_id())
            .map(str::to_owned)
            .ok_or_else(|| missing("CreateUserPoolClient", name, "a client id"))?;
        Ok((id, Provisioned::Created))
    }

    /// The Hosted UI domain prefix `domain` for `pool_id`, created if absent. A prefix taken by
    /// another pool is an error naming it.
    pub async fn ensure_domain(
        &self,
        pool_id: &str,
        domain: &str,
    ) -> Result<Provisioned, CognitoError> {
        match self.domain_owner(domain).await?.as_deref() {
            Some(owner) if owner == pool_id => Ok(Provisioned::Unchanged),
            Some(owner) => Err(CognitoError {
                operation: "CreateUserPoolDomain",
                resource: domain.to_owned(),
                detail: format!("the domain belongs to another pool, {owner}"),
            }),
            None => {
                self.client
                    .create_user_pool_domain()
                    .domain(domain)
                    .user_pool_id(pool_id)
                    .send()
                    .await
                    .map_err(fail("CreateUserPoolDomain", domain))?;
                Ok(Provisioned::Created)
            }
        }
    }

    /// The pool that owns the Hosted UI domain prefix `domain`, if it is taken.
    pub async fn domain_owner(&self, domain: &str) -> Result<Option<String>, CognitoError> {
        let described = self
            .client
            .describe_user_pool_domain()
            .domain(domain)
            .send()
            .await
            .map_err(fail("DescribeUserPoolDomain", domain))?;
        Ok(described
            .domain_description()
            .and_then(|d| d.user_pool_id())
            .filter(|owner| !owner.is_empty())
            .map(str::to_owned))
    }

    /// Deletes the Hosted UI domain `domain` of `pool_id`; `false` when `pool_id` has no such
    /// domain (a prefix owned by another pool is left alone).
    pub async fn delete_domain(&self, pool_id: &str, domain: &str) -> Result<bool, CognitoError> {
        match self.domain_owner(domain).await? {
            Some(owner) if owner != pool_id => Ok(false),
            None => Ok(false),
            Some(_) => {
                self.client
                    .delete_user_pool_domain()
                    .domain(domain)
                    .user_pool_id(pool_id)
                    .send()
                    .await
                    .map_err(fail("DeleteUserPoolDomain", domain))?;
                Ok(true)
            }
        }
    }

    /// Deletes the pool `pool_id` with its app clients, groups and users (its domain first, with
    /// [`CognitoAdmin::delete_domain`]); `false` when it was not there.
    pub async fn delete_user_pool(&self, pool_id: &str) -> Result<bool, CognitoError> {
        match self
            .client
            .delete_user_pool()
            .user_pool_id(pool_id)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(fail("DeleteUserPool", pool_id)(e)),
        }
    }

    /// Group `name` in `pool_id`, created if absent.
    pub async fn ensure_group(&self, pool_id: &str, name: &str) -> Result<(), CognitoError> {
        match self
            .client
            .create_group()
            .user_pool_id(pool_id)
            .group_name(name)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_group_exists_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(fail("CreateGroup", name)(e)),
        }
    }

    /// A confirmed test user with a permanent password (no invitation sent) in `groups`, created if
    /// absent; an existing user gets the password set again.
    pub async fn ensure_user(
        &self,
        pool_id: &str,
        email: &str,
        password: &str,
        groups: &[&str],
    ) -> Result<(), CognitoError> {
        let email_attribute = |name: &str, value: &str| {
            AttributeType::builder()
                .name(name)
                .value(value)
                .build()
                .map_err(fail("AdminCreateUser", email))
        };
        let created = self
            .client
            .admin_create_user()
            .user_pool_id(pool_id)
            .username(email)
            .message_action(MessageActionType::Suppress)
            .user_attributes(email_attribute("email", email)?)
            .user_attributes(email_attribute("email_verified", "true")?)
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_username_exists_exception()) => {}
            Err(e) => return Err(fail("AdminCreateUser", email)(e)),
        }
        self.client
            .admin_set_user_password()
            .user_pool_id(pool_id)
            .username(email)
            .password(password)
            .permanent(true)
            .send()
            .await
            .map_err(fail("AdminSetUserPassword", email))?;
        for group in groups {
            self.ensure_group(pool_id, group).await?;
            self.client
                .admin_add_user_to_group()
                .user_pool_id(pool_id)
                .username(email)
                .group_name(*group)
                .send()
                .await
                .map_err(fail("AdminAddUserToGroup", email))?;
        }
        Ok(())
    }

    /// Signs in with `USER_PASSWORD_AUTH` (InitiateAuth), as a user's app would.
    pub async fn password_tokens(
        &self,
        client_id: &str,
        username: &str,
        password: &str,
    ) -> Result<Tokens, CognitoError> {
        let answer = self
            .client
            .initiate_auth()
            .auth_flow(AuthFlowType::UserPasswordAuth)
            .client_id(client_id)
            .auth_parameters("USERNAME", username)
            .auth_parameters("PASSWORD", password)
            .send()
            .await
            .map_err(fail("InitiateAuth", username))?;
        tokens(answer.authentication_result(), username)
    }

    /// Signs in with `ADMIN_USER_PASSWORD_AUTH` (AdminInitiateAuth), with administrator credentials.
    pub async fn admin_password_tokens(
        &self,
        pool_id: &str,
        client_id: &str,
        username: &str,
        password: &str,
    ) -> Result<Tokens, CognitoError> {
        let answer = self
            .client
            .admin_initiate_auth()
            .user_pool_id(pool_id)
            .auth_flow(AuthFlowType::AdminUserPasswordAuth)
            .client_id(client_id)
            .auth_parameters("USERNAME", username)
            .auth_parameters("PASSWORD", password)
            .send()
            .await
            .map_err(fail("AdminInitiateAuth", username))?;
        tokens(answer.authentication_result(), username)
    }
}

fn tokens(
    result: Option<&aws_sdk_cognitoidentityprovider::types::AuthenticationResultType>,
    username: &str,
) -> Result<Tokens, CognitoError> {
    let result = result.ok_or_else(|| {
        missing(
            "InitiateAuth",
            username,
            "tokens (a challenge was asked instead)",
        )
    })?;
    Ok(Tokens {
        id_token: result
            .id_token()
            .ok_or_else(|| missing("InitiateAuth", username, "an id token"))?
            .to_owned(),
        access_token: result
            .access_token()
            .ok_or_else(|| missing("InitiateAuth", username, "an access token"))?
            .to_owned(),
        refresh_token: result.refresh_token().map(str::to_owned),
    })
}

fn missing(operation: &'static str, resource: &str, what: &str) -> CognitoError {
    CognitoError {
        operation,
        resource: resource.to_owned(),
        detail: format!("the answer has no {what}"),
    }
}
