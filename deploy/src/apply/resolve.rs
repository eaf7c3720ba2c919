//! The plan's values made concrete: `Ref`s and `${…}` placeholders resolved against the account,
//! the Region and the resources made so far.

use std::collections::BTreeMap;

use super::{Account, ApplyError};
use crate::{Plan, Value, ids};

/// Values that exist once resources do: the account, the Region and the plan's resources by
/// logical id.
pub struct Resolved {
    region: String,
    account: Account,
    refs: BTreeMap<&'static str, String>,
}

impl Resolved {
    /// For the plan's resources named so far (`ProfilesTable`, `ProfileLogGroup`).
    pub fn new(plan: &Plan, region: &str, account: &Account) -> Resolved {
        let mut refs = BTreeMap::from([(ids::TABLE, plan.table.name.clone())]);
        if let Some(function) = &plan.function {
            refs.insert(ids::LOG_GROUP, function.log_group.name.clone());
        }
        Resolved {
            region: region.to_owned(),
            account: account.clone(),
            refs,
        }
    }

    /// Adds the value of logical id `id` (a pool id, an API id).
    pub fn set(&mut self, id: &'static str, value: &str) {
        self.refs.insert(id, value.to_owned());
    }

    fn lookup(&self, name: &str, value: &Value) -> Result<String, ApplyError> {
        match name {
            "AWS::Region" => Ok(self.region.clone()),
            "AWS::Partition" => Ok(self.account.partition.clone()),
            "AWS::AccountId" => Ok(self.account.id.clone()),
            "AWS::URLSuffix" => Ok(self.account.url_suffix.clone()),
            other => self
                .refs
                .get(other)
                .cloned()
                .ok_or_else(|| ApplyError::Unresolved {
                    value: format!("{value:?}"),
                    name: other.to_owned(),
                }),
        }
    }

    /// The text of `value`.
    pub fn text(&self, value: &Value) -> Result<String, ApplyError> {
        match value {
            Value::Literal(text) => Ok(text.clone()),
            Value::Ref(name) => self.lookup(name, value),
            Value::Sub(template) => {
                let mut out = String::new();
                let mut rest = template.as_str();
                while let Some(start) = rest.find("${") {
                    out.push_str(&rest[..start]);
                    let after = &rest[start + 2..];
                    let end = after.find('}').ok_or_else(|| ApplyError::Unresolved {
                        value: template.clone(),
                        name: "an unclosed ${".into(),
                    })?;
                    out.push_str(&self.lookup(&after[..end], value)?);
                    rest = &after[end + 1..];
                }
                out.push_str(rest);
                Ok(out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::Account;

    fn account(partition: &str) -> Account {
        Account::from_caller_arn(
            &format!("arn:{partition}:sts::123456789012:assumed-role/deployer/me"),
            "123456789012",
        )
        .expect("account")
    }

    #[test]
    fn placeholders_resolve_to_the_account_partition_and_resources() {
        let mut resolved = Resolved {
            region: "cn-north-1".into(),
            account: account("aws-cn"),
            refs: BTreeMap::from([(ids::TABLE, "portcullis-dev-profiles".to_owned())]),
        };
        resolved.set(ids::USER_POOL, "cn-north-1_Abc");
        assert_eq!(
            resolved
                .text(&Value::Sub(
                    "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${ProfilesTable}".into()
                ))
                .expect("resolves"),
            "arn:aws-cn:dynamodb:cn-north-1:123456789012:table/portcullis-dev-profiles"
        );
        assert_eq!(
            resolved
                .text(&Value::Sub(crate::CREATED_POOL_ISSUER.into()))
                .expect("resolves"),
            "https://cognito-idp.cn-north-1.amazonaws.com.cn/cn-north-1_Abc"
        );
        let unknown = resolved
            .text(&Value::Ref(ids::HTTP_API))
            .expect_err("no API yet");
        assert!(unknown.to_string().contains("HttpApi"), "{unknown}");
        let unclosed = resolved.text(&Value::Sub("arn:${AWS::Partition".into()));
        assert!(unclosed.is_err());
    }

    #[test]
    fn the_partition_comes_from_the_caller_and_unknown_ones_are_refused() {
        assert_eq!(account("aws").url_suffix, "amazonaws.com");
        assert_eq!(account("aws-us-gov").partition, "aws-us-gov");
        assert_eq!(account("aws-cn").url_suffix, "amazonaws.com.cn");
        let refused =
            Account::from_caller_arn("arn:aws-mars:sts::123456789012:user/x", "123456789012")
                .expect_err("unknown partition");
        assert!(refused.to_string().contains("\"aws-mars\""), "{refused}");
        assert!(Account::from_caller_arn("arn:aws:sts::1:user/x", "1").is_err());
    }
}
