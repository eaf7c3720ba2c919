//! A deployment as it stands (`portcullis info`), read without changing anything.

use super::{ApplyError, Aws, apigw, dynamodb, error, lambda};
use crate::Plan;

/// A deployment as it stands in the account (what `portcullis info` shows), read without changing
/// anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Live {
    /// The API's id and endpoint.
    pub api: (String, String),
    /// The JWT authorizer's issuer and audiences, when it exists.
    pub authorizer: Option<(String, Vec<String>)>,
    /// Each route: key, authorization type, scopes.
    pub routes: Vec<(String, String, Vec<String>)>,
    /// The function, when the plan has one and it exists.
    pub function: Option<LiveFunction>,
    /// The table's status, when it exists.
    pub table: Option<String>,
    /// The tutorial's pool and app client, when the plan makes them and they exist.
    pub cognito: Option<(String, String)>,
}

/// The function as Lambda reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveFunction {
    /// `Active`, `Pending`, `Inactive`, `Failed`.
    pub state: String,
    /// `Successful`, `InProgress`, `Failed`.
    pub last_update_status: String,
    /// When it last changed (ISO 8601).
    pub last_modified: String,
    /// Runtime and architecture.
    pub runtime: String,
    /// Architecture.
    pub arch: String,
    /// Memory in MB and timeout in seconds.
    pub memory_mb: i32,
    /// Timeout in seconds.
    pub timeout_s: i32,
}

/// Reads the deployment of `plan`; `None` when its API does not exist.
pub async fn describe(plan: &Plan, aws: &Aws) -> Result<Option<Live>, ApplyError> {
    let Some(api) = apigw::find_api(aws, plan).await? else {
        return Ok(None);
    };
    let id = error::required(api.api_id(), "GetApis", &plan.name, "an api id")?;
    let endpoint = error::required(api.api_endpoint(), "GetApis", &plan.name, "an api endpoint")?;
    let routes = apigw::routes(aws, &id).await?;
    let authorizer = apigw::find_authorizer(aws, &id, &routes, &plan.authorizer.name, false)
        .await?
        .and_then(|(_, jwt, _)| jwt)
        .map(|jwt| {
            (
                jwt.issuer().unwrap_or_default().to_owned(),
                jwt.audience().to_vec(),
            )
        });
    let mut listed: Vec<(String, String, Vec<String>)> = routes
        .iter()
        .map(|r| {
            (
                r.route_key().unwrap_or_default().to_owned(),
                r.authorization_type()
                    .map(|t| t.as_str().to_owned())
                    .unwrap_or_else(|| "NONE".into()),
                r.authorization_scopes().to_vec(),
            )
        })
        .collect();
    listed.sort();
    let function = match &plan.function {
        Some(function) => lambda::describe_function(aws, &function.name).await?,
        None => None,
    };
    let table = dynamodb::table_status(aws, &plan.table).await?;
    let cognito = match &plan.cognito {
        Some(cognito) => match aws.cognito.find_user_pool(&cognito.pool_name).await? {
            Some(pool) => aws
                .cognito
                .find_app_client(&pool, &cognito.client_name)
                .await?
                .map(|client| (pool, client)),
            None => None,
        },
        None => None,
    };
    Ok(Some(Live {
        api: (id, endpoint),
        authorizer,
        routes: listed,
        function,
        table,
        cognito,
    }))
}
