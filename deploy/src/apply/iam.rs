//! The function's execution role and its inline policy.

use std::collections::HashMap;

use aws_sdk_iam as iam;

use super::error::{ApplyError, call, required};
use super::{Action, Aws};
use crate::Role;

/// The role with its trust policy and the inline `policy` (rendered for this account): created,
/// its policy updated when it differs, or left alone. Answers the role's ARN.
pub(crate) async fn ensure_role(
    aws: &Aws,
    role: &Role,
    policy: &serde_json::Value,
    tags: &HashMap<String, String>,
    dry: bool,
) -> Result<(String, Action), ApplyError> {
    let name = role.name.as_str();
    let trust = role.assume_policy();
    let (arn, mut action) = match aws.iam.get_role().role_name(name).send().await {
        Ok(found) => {
            if !role_is_ours(found.role(), tags) {
                return Err(super::not_ours("role", name, tags));
            }
            let arn = required(found.role().map(|r| r.arn()), "GetRole", name, "a role ARN")?;
            // A trust policy that is not Lambda's would look like a role still propagating.
            let trusted = found
                .role()
                .and_then(|r| r.assume_role_policy_document())
                .and_then(|d| serde_json::from_str::<serde_json::Value>(&percent_decode(d)).ok());
            if trusted.as_ref() == Some(&trust) {
                (arn, Action::Unchanged)
            } else {
                if !dry {
                    aws.iam
                        .update_assume_role_policy()
                        .role_name(name)
                        .policy_document(trust.to_string())
                        .send()
                        .await
                        .map_err(call("UpdateAssumeRolePolicy", name))?;
                }
                (arn, Action::Updated)
            }
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_no_such_entity_exception()) =>
        {
            if dry {
                return Ok((String::new(), Action::Created));
            }
            let mut request = aws
                .iam
                .create_role()
                .role_name(name)
                .assume_role_policy_document(trust.to_string());
            for (k, v) in tags {
                let tag = iam::types::Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .map_err(call("CreateRole", name))?;
                request = request.tags(tag);
            }
            let created = request.send().await.map_err(call("CreateRole", name))?;
            (
                required(
                    created.role().map(|r| r.arn()),
                    "CreateRole",
                    name,
                    "a role ARN",
                )?,
                Action::Created,
            )
        }
        Err(e) => return Err(call("GetRole", name)(e)),
    };
    let current = aws
        .iam
        .get_role_policy()
        .role_name(name)
        .policy_name(role.policy_name)
        .send()
        .await;
    let current = match current {
        Ok(found) => Some(found),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_no_such_entity_exception()) =>
        {
            None
        }
        Err(e) => return Err(call("GetRolePolicy", name)(e)),
    };
    // IAM answers the document URL-encoded.
    let same = current.as_ref().is_some_and(|p| {
        serde_json::from_str::<serde_json::Value>(&percent_decode(p.policy_document()))
            .ok()
            .as_ref()
            == Some(policy)
    });
    if same {
        return Ok((arn, action));
    }
    if action == Action::Unchanged {
        action = Action::Updated;
    }
    if dry {
        return Ok((arn, action));
    }
    aws.iam
        .put_role_policy()
        .role_name(name)
        .policy_name(role.policy_name)
        .policy_document(policy.to_string())
        .send()
        .await
        .map_err(call("PutRolePolicy", name))?;
    Ok((arn, action))
}

fn role_is_ours(role: Option<&iam::types::Role>, tags: &HashMap<String, String>) -> bool {
    let found = role.map(|r| r.tags()).unwrap_or_default();
    super::is_ours(tags, found.iter().map(|t| (t.key(), t.value())))
}

/// Deletes the role and its inline policy, when it is this stack's.
pub(crate) async fn delete_role(
    aws: &Aws,
    role: &Role,
    tags: &HashMap<String, String>,
) -> Result<Action, ApplyError> {
    let name = role.name.as_str();
    match aws.iam.get_role().role_name(name).send().await {
        Ok(found) if role_is_ours(found.role(), tags) => {}
        Ok(_) => return Ok(Action::Foreign),
        Err(e) if not_found(&e) => return Ok(Action::Absent),
        Err(e) => return Err(call("GetRole", name)(e)),
    }
    // The inline policy first: IAM refuses to delete a role that still has one.
    match aws
        .iam
        .delete_role_policy()
        .role_name(name)
        .policy_name(role.policy_name)
        .send()
        .await
    {
        Ok(_) => {}
        Err(e) if not_found(&e) => {}
        Err(e) => return Err(call("DeleteRolePolicy", name)(e)),
    }
    let result = aws.iam.delete_role().role_name(name).send().await;
    super::error::deletion(result, not_found, "DeleteRole", name)
}

fn not_found(error: &impl iam::error::ProvideErrorMetadata) -> bool {
    error.code() == Some("NoSuchEntity")
}

/// Decodes `%XX` escapes.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(hex) = text.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn percent_decoding_keeps_what_is_not_an_escape() {
        assert_eq!(percent_decode("%7B%22a%22%3A1%7D"), "{\"a\":1}");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%"), "%zz%");
        // A multi-byte character right after '%' is not sliced through.
        assert_eq!(percent_decode("%é"), "%é");
    }
}
