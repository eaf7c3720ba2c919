//! The HTTP API: the API itself, its JWT authorizer, integrations, routes and stage. Every list is
//! read to its last page (an account holds other teams' APIs; API Gateway pages them).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;

use aws_sdk_apigatewayv2 as apigw;

use super::Aws;
use super::error::{ApplyError, call, required};
use crate::Plan;

/// More pages than any account holds: a list that does not end is an error, not a hang.
const MAX_PAGES: usize = 10_000;

/// Every item of a paged list: `page(token)` answers one page and the next token.
pub(crate) async fn all_pages<T, Fut>(
    operation: &'static str,
    resource: &str,
    mut page: impl FnMut(Option<String>) -> Fut,
) -> Result<Vec<T>, ApplyError>
where
    Fut: Future<Output = Result<(Vec<T>, Option<String>), ApplyError>>,
{
    let mut items = Vec::new();
    let mut token = None;
    for _ in 0..MAX_PAGES {
        let (mut batch, next) = page(token.take()).await?;
        items.append(&mut batch);
        match next {
            Some(next) if !next.is_empty() => token = Some(next),
            _ => return Ok(items),
        }
    }
    Err(ApplyError::Setup(format!(
        "{operation} for {resource} did not end after {MAX_PAGES} pages"
    )))
}

/// The HTTP API of this plan: the one named `plan.name` carrying the plan's stack tag (the oldest,
/// when a create the SDK re-sent made two).
pub(crate) async fn find_api(
    aws: &Aws,
    plan: &Plan,
) -> Result<Option<apigw::types::Api>, ApplyError> {
    Ok(find_apis(aws, plan).await?.into_iter().next())
}

/// Every API named `plan.name` carrying the plan's stack tag, oldest first.
pub(crate) async fn find_apis(
    aws: &Aws,
    plan: &Plan,
) -> Result<Vec<apigw::types::Api>, ApplyError> {
    let apis = all_pages("GetApis", &plan.name, |token| async move {
        let page = aws
            .apigw
            .get_apis()
            .set_next_token(token)
            .send()
            .await
            .map_err(call("GetApis", &plan.name))?;
        Ok((page.items().to_vec(), page.next_token().map(str::to_owned)))
    })
    .await?;
    let stack = plan.tags.get(super::STACK_TAG);
    let mut ours: Vec<apigw::types::Api> = apis
        .into_iter()
        .filter(|api| {
            api.name() == Some(plan.name.as_str())
                && api.tags().and_then(|t| t.get(super::STACK_TAG)) == stack
        })
        .collect();
    ours.sort_by_key(|api| api.created_date().map(|d| (d.secs(), d.subsec_nanos())));
    Ok(ours)
}

/// The API's id and endpoint, and whether it was made now.
pub(crate) struct Api {
    pub(crate) id: String,
    pub(crate) endpoint: String,
}

pub(crate) async fn ensure_api(
    aws: &Aws,
    plan: &Plan,
    tags: &HashMap<String, String>,
    dry: bool,
) -> Result<(Api, super::Action), ApplyError> {
    if let Some(api) = find_api(aws, plan).await? {
        let found = Api {
            id: required(api.api_id(), "GetApis", &plan.name, "an api id")?,
            endpoint: required(api.api_endpoint(), "GetApis", &plan.name, "an api endpoint")?,
        };
        let wanted = cors_configuration(plan);
        if same_cors(api.cors_configuration(), wanted.as_ref()) {
            return Ok((found, super::Action::Unchanged));
        }
        if !dry {
            match wanted {
                Some(cors) => {
                    aws.apigw
                        .update_api()
                        .api_id(&found.id)
                        .cors_configuration(cors)
                        .send()
                        .await
                        .map_err(call("UpdateApi", &plan.name))?;
                }
                None => {
                    aws.apigw
                        .delete_cors_configuration()
                        .api_id(&found.id)
                        .send()
                        .await
                        .map_err(call("DeleteCorsConfiguration", &plan.name))?;
                }
            }
        }
        return Ok((found, super::Action::Updated));
    }
    if dry {
        let api = Api {
            id: String::new(),
            endpoint: String::new(),
        };
        return Ok((api, super::Action::Created));
    }
    let created = aws
        .apigw
        .create_api()
        .name(&plan.name)
        .protocol_type(apigw::types::ProtocolType::Http)
        .set_cors_configuration(cors_configuration(plan))
        .set_tags(Some(tags.clone()))
        .send()
        .await
        .map_err(call("CreateApi", &plan.name))?;
    let api = Api {
        id: required(created.api_id(), "CreateApi", &plan.name, "an api id")?,
        endpoint: required(
            created.api_endpoint(),
            "CreateApi",
            &plan.name,
            "an api endpoint",
        )?,
    };
    Ok((api, super::Action::Created))
}

/// The plan's `[cors]` as the API's `CorsConfiguration`.
fn cors_configuration(plan: &Plan) -> Option<apigw::types::Cors> {
    let cors = plan.cors.as_ref()?;
    let list = |items: &[String]| (!items.is_empty()).then(|| items.to_vec());
    Some(
        apigw::types::Cors::builder()
            .set_allow_origins(list(&cors.allow_origins))
            .set_allow_methods(list(&cors.allow_methods))
            .set_allow_headers(list(&cors.allow_headers))
            .set_expose_headers(list(&cors.expose_headers))
            .set_max_age(cors.max_age_seconds)
            .allow_credentials(cors.allow_credentials)
            .build(),
    )
}

/// Whether the API's CORS configuration is the plan's: lists compared as sets, ignoring case (API
/// Gateway matches origins, methods and headers so), an absent list as an empty one, credentials
/// off as absent.
fn same_cors(live: Option<&apigw::types::Cors>, wanted: Option<&apigw::types::Cors>) -> bool {
    type Shape = ([std::collections::BTreeSet<String>; 4], Option<i32>, bool);
    let shape = |cors: &apigw::types::Cors| -> Shape {
        let set = |items: &[String]| items.iter().map(|i| i.to_ascii_lowercase()).collect();
        (
            [
                set(cors.allow_origins()),
                set(cors.allow_methods()),
                set(cors.allow_headers()),
                set(cors.expose_headers()),
            ],
            cors.max_age(),
            cors.allow_credentials().unwrap_or(false),
        )
    };
    live.map(shape) == wanted.map(shape)
}

/// Deletes the plan's API (its routes, integrations, authorizer and stage go with it): every API
/// of the stack, a duplicate made by a re-sent create included.
pub(crate) async fn delete_api(aws: &Aws, plan: &Plan) -> Result<super::Action, ApplyError> {
    let apis = find_apis(aws, plan).await?;
    if apis.is_empty() {
        return Ok(super::Action::Absent);
    }
    for api in apis {
        let id = required(api.api_id(), "GetApis", &plan.name, "an api id")?;
        aws.apigw
            .delete_api()
            .api_id(&id)
            .send()
            .await
            .map_err(call("DeleteApi", &plan.name))?;
    }
    Ok(super::Action::Deleted)
}

/// Every route of `api_id`.
pub(crate) async fn routes(
    aws: &Aws,
    api_id: &str,
) -> Result<Vec<apigw::types::Route>, ApplyError> {
    all_pages("GetRoutes", api_id, |token| async move {
        let page = aws
            .apigw
            .get_routes()
            .api_id(api_id)
            .set_next_token(token)
            .send()
            .await
            .map_err(call("GetRoutes", api_id))?;
        Ok((page.items().to_vec(), page.next_token().map(str::to_owned)))
    })
    .await
}

/// Every integration of `api_id`.
pub(crate) async fn integrations(
    aws: &Aws,
    api_id: &str,
) -> Result<Vec<apigw::types::Integration>, ApplyError> {
    all_pages("GetIntegrations", api_id, |token| async move {
        let page = aws
            .apigw
            .get_integrations()
            .api_id(api_id)
            .set_next_token(token)
            .send()
            .await
            .map_err(call("GetIntegrations", api_id))?;
        Ok((page.items().to_vec(), page.next_token().map(str::to_owned)))
    })
    .await
}

/// The authorizer named `name` of `api_id`, with its JWT configuration: first among those the
/// API's `routes` point at, then (unless the API was made just now and has none) among those it
/// lists. moto's server does not implement GetAuthorizers; real API Gateway answers both ways.
/// An authorizer found by name: its id, JWT configuration and identity source.
pub(crate) type FoundAuthorizer = (String, Option<apigw::types::JwtConfiguration>, Vec<String>);

pub(crate) async fn find_authorizer(
    aws: &Aws,
    api_id: &str,
    routes: &[apigw::types::Route],
    name: &str,
    fresh_api: bool,
) -> Result<Option<FoundAuthorizer>, ApplyError> {
    use apigw::error::ProvideErrorMetadata;
    let mut ids: Vec<&str> = routes.iter().filter_map(|r| r.authorizer_id()).collect();
    ids.sort();
    ids.dedup();
    for id in ids {
        let found = aws
            .apigw
            .get_authorizer()
            .api_id(api_id)
            .authorizer_id(id)
            .send()
            .await
            .map_err(call("GetAuthorizer", name))?;
        if found.name() == Some(name) {
            return Ok(Some((
                id.to_owned(),
                found.jwt_configuration().cloned(),
                found.identity_source().to_vec(),
            )));
        }
    }
    if fresh_api {
        return Ok(None);
    }
    let listed = all_pages("GetAuthorizers", api_id, |token| async move {
        let page = aws
            .apigw
            .get_authorizers()
            .api_id(api_id)
            .set_next_token(token)
            .send()
            .await;
        match page {
            Ok(page) => Ok((page.items().to_vec(), page.next_token().map(str::to_owned))),
            // moto's server lacks the operation and answers an HTML error page: the routes were
            // the answer. Any other failure (a real 5xx answers JSON) stops the deploy.
            Err(e)
                if e.code().is_none()
                    && e.raw_response().is_some_and(|r| {
                        r.headers()
                            .get("content-type")
                            .is_some_and(|t| t.starts_with("text/html"))
                    }) =>
            {
                Ok((Vec::new(), None))
            }
            Err(e) => Err(call("GetAuthorizers", api_id)(e)),
        }
    })
    .await?;
    match listed.iter().find(|a| a.name() == Some(name)) {
        Some(found) => Ok(Some((
            required(
                found.authorizer_id(),
                "GetAuthorizers",
                name,
                "an authorizer id",
            )?,
            found.jwt_configuration().cloned(),
            found.identity_source().to_vec(),
        ))),
        None => Ok(None),
    }
}

/// The plan's JWT authorizer with `issuer` and `audiences`: created, updated or left alone.
pub(crate) async fn ensure_authorizer(
    aws: &Aws,
    api_id: &str,
    routes: &[apigw::types::Route],
    authorizer: &crate::Authorizer,
    (issuer, audiences): (&str, &[String]),
    fresh_api: bool,
    dry: bool,
) -> Result<(String, super::Action), ApplyError> {
    use apigw::types::{AuthorizerType, JwtConfiguration};
    let name = authorizer.name.as_str();
    // Always the whole JWT configuration: an update carrying only part of it clears the rest.
    let jwt = JwtConfiguration::builder()
        .issuer(issuer)
        .set_audience(Some(audiences.to_vec()))
        .build();
    match find_authorizer(aws, api_id, routes, name, fresh_api).await? {
        Some((id, current, source)) => {
            let current = current.as_ref();
            if current.and_then(|j| j.issuer()) == Some(issuer)
                && current.map(|j| j.audience()) == Some(audiences)
                && source == [authorizer.identity_source.clone()]
            {
                return Ok((id, super::Action::Unchanged));
            }
            if dry {
                return Ok((id, super::Action::Updated));
            }
            aws.apigw
                .update_authorizer()
                .api_id(api_id)
                .authorizer_id(&id)
                .authorizer_type(AuthorizerType::from(authorizer.kind))
                .identity_source(authorizer.identity_source.clone())
                .jwt_configuration(jwt)
                .send()
                .await
                .map_err(call("UpdateAuthorizer", name))?;
            Ok((id, super::Action::Updated))
        }
        None if dry => Ok((String::new(), super::Action::Created)),
        None => {
            let created = aws
                .apigw
                .create_authorizer()
                .api_id(api_id)
                .name(name)
                .authorizer_type(AuthorizerType::from(authorizer.kind))
                .identity_source(authorizer.identity_source.clone())
                .jwt_configuration(jwt)
                .send()
                .await
                .map_err(call("CreateAuthorizer", name))?;
            let id = required(
                created.authorizer_id(),
                "CreateAuthorizer",
                name,
                "an authorizer id",
            )?;
            Ok((id, super::Action::Created))
        }
    }
}

/// The integration behind a route.
#[derive(Clone, Copy)]
pub(crate) enum Integration<'a> {
    /// Lambda proxy to this function ARN, payload 2.0.
    Lambda(&'a str),
    /// HTTP proxy to this base URL with these request parameters (the path passed on, and the
    /// route's mappings).
    Http(&'a str, &'a BTreeMap<String, String>),
}

impl Integration<'_> {
    fn uri(&self) -> &str {
        match self {
            Integration::Lambda(arn) => arn,
            Integration::Http(url, _) => url,
        }
    }

    /// Whether `existing` is this integration.
    pub(crate) fn is(&self, existing: &apigw::types::Integration) -> bool {
        let parameters: Option<BTreeMap<String, String>> = existing
            .request_parameters()
            .map(|p| p.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
        existing.integration_uri() == Some(self.uri())
            && match self {
                Integration::Lambda(_) => true,
                Integration::Http(_, wanted) => parameters.as_ref() == Some(*wanted),
            }
    }
}

/// `integration` among `existing`, or created.
pub(crate) async fn ensure_integration(
    aws: &Aws,
    api_id: &str,
    existing: &[apigw::types::Integration],
    (integration, shape): (Integration<'_>, &crate::IntegrationShape),
    dry: bool,
) -> Result<(String, super::Action), ApplyError> {
    use apigw::types::IntegrationType;
    if let Some(found) = existing.iter().find(|i| integration.is(i)) {
        let id = required(
            found.integration_id(),
            "GetIntegrations",
            api_id,
            "an integration id",
        )?;
        return Ok((id, super::Action::Unchanged));
    }
    if dry {
        return Ok((String::new(), super::Action::Created));
    }
    let request = aws
        .apigw
        .create_integration()
        .api_id(api_id)
        .integration_uri(integration.uri())
        .integration_type(IntegrationType::from(shape.kind))
        .set_integration_method(shape.method.map(str::to_owned))
        .payload_format_version(shape.payload_format_version);
    let request = match integration {
        Integration::Lambda(_) => request,
        // Without the path mapping, an HTTP API sends every route to the bare base URL.
        Integration::Http(_, parameters) => request.set_request_parameters(Some(
            parameters
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )),
    };
    let created = request
        .send()
        .await
        .map_err(call("CreateIntegration", api_id))?;
    let id = required(
        created.integration_id(),
        "CreateIntegration",
        api_id,
        "an integration id",
    )?;
    Ok((id, super::Action::Created))
}

/// Deletes integration `id` of `api_id`.
pub(crate) async fn delete_integration(
    aws: &Aws,
    api_id: &str,
    id: &str,
) -> Result<(), ApplyError> {
    aws.apigw
        .delete_integration()
        .api_id(api_id)
        .integration_id(id)
        .send()
        .await
        .map_err(call("DeleteIntegration", id))?;
    Ok(())
}

/// Whether `existing` already is `route` with this authorizer and integration.
pub(crate) fn route_matches(
    existing: &apigw::types::Route,
    route: &crate::Route,
    authorizer_id: &str,
    integration_id: &str,
) -> bool {
    use apigw::types::AuthorizationType;
    let (kind, authorizer) = if route.authorized {
        (AuthorizationType::Jwt, Some(authorizer_id))
    } else {
        (AuthorizationType::None, None)
    };
    existing.authorization_type() == Some(&kind)
        && existing.authorizer_id() == authorizer
        && existing.target() == Some(crate::route_target(integration_id).as_str())
        && existing.authorization_scopes() == route.scopes.as_slice()
}

/// Creates `route`, or updates `existing` (the API's route with the same key) when it differs.
pub(crate) async fn ensure_route(
    aws: &Aws,
    api_id: &str,
    route: &crate::Route,
    existing: Option<&apigw::types::Route>,
    authorizer_id: &str,
    integration_id: &str,
    dry: bool,
) -> Result<super::Action, ApplyError> {
    use apigw::types::AuthorizationType;
    let target = crate::route_target(integration_id);
    let (kind, authorizer) = if route.authorized {
        (AuthorizationType::Jwt, Some(authorizer_id))
    } else {
        (AuthorizationType::None, None)
    };
    let scopes = (!route.scopes.is_empty()).then(|| route.scopes.clone());
    match existing {
        Some(existing) => {
            if route_matches(existing, route, authorizer_id, integration_id) {
                return Ok(super::Action::Unchanged);
            }
            if dry {
                return Ok(super::Action::Updated);
            }
            let route_id = required(existing.route_id(), "GetRoutes", &route.key, "a route id")?;
            // The scopes always, an empty list included: an update leaves out what it omits, so
            // scopes removed from the configuration would stay enforced.
            aws.apigw
                .update_route()
                .api_id(api_id)
                .route_id(route_id)
                .route_key(&route.key)
                .target(&target)
                .authorization_type(kind)
                .set_authorizer_id(authorizer.map(str::to_owned))
                .set_authorization_scopes(Some(route.scopes.clone()))
                .send()
                .await
                .map_err(call("UpdateRoute", &route.key))?;
            Ok(super::Action::Updated)
        }
        None if dry => Ok(super::Action::Created),
        None => {
            aws.apigw
                .create_route()
                .api_id(api_id)
                .route_key(&route.key)
                .target(&target)
                .authorization_type(kind)
                .set_authorizer_id(authorizer.map(str::to_owned))
                .set_authorization_scopes(scopes)
                .send()
                .await
                .map_err(call("CreateRoute", &route.key))?;
            Ok(super::Action::Created)
        }
    }
}

/// Whether `api_id` has stage `name`.
pub(crate) async fn has_stage(aws: &Aws, api_id: &str, name: &str) -> Result<bool, ApplyError> {
    let stages = all_pages("GetStages", api_id, |token| async move {
        let page = aws
            .apigw
            .get_stages()
            .api_id(api_id)
            .set_next_token(token)
            .send()
            .await
            .map_err(call("GetStages", api_id))?;
        Ok((page.items().to_vec(), page.next_token().map(str::to_owned)))
    })
    .await?;
    Ok(stages.iter().any(|s| s.stage_name() == Some(name)))
}

/// The plan's auto-deployed stage, created if absent.
pub(crate) async fn ensure_stage(
    aws: &Aws,
    api_id: &str,
    stage: &crate::Stage,
    dry: bool,
) -> Result<super::Action, ApplyError> {
    let name = stage.name;
    if has_stage(aws, api_id, name).await? {
        return Ok(super::Action::Unchanged);
    }
    if dry {
        return Ok(super::Action::Created);
    }
    aws.apigw
        .create_stage()
        .api_id(api_id)
        .stage_name(name)
        .auto_deploy(stage.auto_deploy)
        .send()
        .await
        .map_err(call("CreateStage", api_id))?;
    Ok(super::Action::Created)
}
