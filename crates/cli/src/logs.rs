//! `portcullis logs`: the deployed function's log events from CloudWatch Logs, once or followed.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Result, bail};

use crate::deploy::{Options, connect, resolve_plan, same_flags};
use crate::flags::LogsArgs;

/// How often `--follow` asks for new events.
const FOLLOW_EVERY: Duration = Duration::from_secs(2);

pub(crate) fn logs(args: &LogsArgs) -> Result<()> {
    let options = Options::from(&args.target);
    let (plan, _) = resolve_plan(&options)?;
    let Some(function) = &plan.function else {
        bail!("--runtime standalone has no Lambda function: your server's logs are where it runs");
    };
    let group = function.log_group.name.clone();
    let runtime = tokio::runtime::Runtime::new()?;
    let (aws, _) = runtime.block_on(connect(&options))?;
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let mut start = now_ms - args.since.as_millis() as i64;
    runtime.block_on(async {
        loop {
            let mut pages = aws
                .logs
                .filter_log_events()
                .log_group_name(&group)
                .start_time(start)
                .into_paginator()
                .send();
            let mut printed = 0usize;
            while let Some(page) = pages.next().await {
                let page = match page {
                    Ok(page) => page,
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|s| s.is_resource_not_found_exception()) =>
                    {
                        bail!(
                            "no log group {group}: deploy the function first (`{} deploy {}`)",
                            crate::invoked_as(),
                            same_flags(&options)
                        );
                    }
                    // The error's sources are printed by main, one line.
                    Err(e) => {
                        return Err(anyhow::Error::new(e)
                            .context(format!("FilterLogEvents for {group} failed")));
                    }
                };
                for event in page.events() {
                    let at = event.timestamp().unwrap_or_default();
                    start = start.max(at + 1);
                    println!(
                        "{} {} {}",
                        rfc3339(at),
                        event.log_stream_name().unwrap_or_default(),
                        event.message().unwrap_or_default().trim_end()
                    );
                    printed += 1;
                }
            }
            if !args.follow {
                if printed == 0 {
                    eprintln!(
                        "no events in {group} in the last {} s",
                        args.since.as_secs()
                    );
                }
                return Ok(());
            }
            tokio::select! {
                _ = tokio::time::sleep(FOLLOW_EVERY) => {}
                _ = tokio::signal::ctrl_c() => return Ok(()),
            }
        }
    })
}

/// Milliseconds since the epoch as `2026-12-02T01:02:03.456Z`.
fn rfc3339(ms: i64) -> String {
    let t = portcullis_claims::UtcTime::from_epoch(ms.max(0).div_euclid(1000) as u64);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year,
        t.month,
        t.day,
        t.hour,
        t.minute,
        t.second,
        ms.max(0).rem_euclid(1000)
    )
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn timestamps_print_as_utc_with_milliseconds() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_510_111_042), "2026-11-24T08:48:31.042Z");
    }
}
