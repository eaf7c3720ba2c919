//! `portcullis info`: the deployment as it stands, read from the live resources (nothing is built
//! or changed).

use anyhow::{Result, bail};
use portcullis_deploy::apply::{Live, describe};

use crate::deploy::{Options, connect, resolve_plan, same_flags};
use crate::flags::InfoArgs;

pub(crate) fn info(args: &InfoArgs) -> Result<()> {
    let options = Options::from(&args.target);
    let (plan, _) = resolve_plan(&options)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let (aws, account) = runtime.block_on(connect(&options))?;
    let Some(live) = runtime.block_on(describe(&plan, &aws))? else {
        bail!(
            "no deployment {} in {} (account {}): run `{} deploy {}` first",
            plan.name,
            aws.region,
            account.id,
            crate::invoked_as(),
            same_flags(&options)
        );
    };
    let hosted_ui = live
        .cognito
        .as_ref()
        .and_then(|(pool, client)| crate::deploy::hosted_ui(&aws, &plan, pool, client));
    if args.json {
        println!(
            "{}",
            info_json(&plan, &aws.region, &account.id, &live, hosted_ui.as_deref())
        );
        return Ok(());
    }
    let Live {
        api: (_, endpoint),
        authorizer,
        routes,
        table,
        cognito,
        ..
    } = &live;
    println!(
        "{} ({}, stage {}) in {}, account {}",
        plan.name, plan.provider, options.stage, aws.region, account.id
    );
    println!("endpoint: {endpoint}");
    match authorizer {
        Some((issuer, audiences)) => println!(
            "authorizer {}: issuer {issuer}, audiences {}",
            plan.authorizer.name,
            audiences.join(", ")
        ),
        None => println!(
            "authorizer {}: missing (run deploy again)",
            plan.authorizer.name
        ),
    }
    println!("routes:");
    for (key, authorization, scopes) in routes {
        let scopes = if scopes.is_empty() {
            String::new()
        } else {
            format!("  scopes: {}", scopes.join(" "))
        };
        println!("  {key:<24} {authorization}{scopes}");
    }
    if let Some(function) = &plan.function {
        match function_line(live.function.as_ref()) {
            Some(line) => println!("function {}: {line}", function.name),
            None => println!("function {}: missing (run deploy again)", function.name),
        }
    }
    match table {
        Some(status) => println!("table {}: {status}", plan.table.name),
        None => println!("table {}: missing (run deploy again)", plan.table.name),
    }
    if let (Some((pool, client)), Some(url)) = (cognito, &hosted_ui) {
        println!("user pool {pool}, app client {client}");
        println!("sign in (Cognito Hosted UI):\n  {url}");
    }
    Ok(())
}

fn function_line(function: Option<&portcullis_deploy::apply::LiveFunction>) -> Option<String> {
    let f = function?;
    Some(format!(
        "{}, last update {} at {}, {} {}, {} MB, {} s",
        f.state, f.last_update_status, f.last_modified, f.runtime, f.arch, f.memory_mb, f.timeout_s
    ))
}

fn info_json(
    plan: &portcullis_deploy::Plan,
    region: &str,
    account: &str,
    live: &Live,
    hosted_ui: Option<&str>,
) -> serde_json::Value {
    let routes: Vec<serde_json::Value> = live
        .routes
        .iter()
        .map(|(key, authorization, scopes)| {
            serde_json::json!({ "route": key, "authorization": authorization, "scopes": scopes })
        })
        .collect();
    serde_json::json!({
        "stack": plan.name,
        "provider": plan.provider,
        "region": region,
        "account": account,
        "endpoint": live.api.1,
        "api_id": live.api.0,
        "authorizer": live.authorizer.as_ref().map(|(issuer, audiences)| serde_json::json!({
            "name": plan.authorizer.name, "issuer": issuer, "audiences": audiences,
        })),
        "routes": routes,
        "function": live.function.as_ref().map(|f| serde_json::json!({
            "name": plan.function.as_ref().map(|p| p.name.clone()),
            "state": f.state,
            "last_update_status": f.last_update_status,
            "last_modified": f.last_modified,
            "runtime": f.runtime,
            "architecture": f.arch,
            "memory_mb": f.memory_mb,
            "timeout_s": f.timeout_s,
        })),
        "table": live.table.as_ref().map(|status| serde_json::json!({ "name": plan.table.name, "status": status })),
        "cognito": live.cognito.as_ref().map(|(pool, client)| serde_json::json!({
            "user_pool_id": pool, "client_id": client, "hosted_ui": hosted_ui,
        })),
    })
}
