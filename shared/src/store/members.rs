//! The member aggregate: a tenant's people, one item each under the tenant's partition
//! (`MEMBER#<email lowercased>`). Every write is ONE `TransactWriteItems` of the member item and
//! the tenant item: the member is put, changed or deleted only if the tenant exists, is not
//! `Terminating` and (when the caller names one) is still at the version expected, and the
//! tenant's `resourceVersion` (the ETag members are written against) goes up by one in the same
//! transaction. A cancelled transaction becomes a [`MemberWrite`], decided from the items
//! DynamoDB returns with the cancellation.

use super::{
    item::{from_item, key, to_item, Item, MemberItem},
    schema::*,
    write::{s, unbuilt, Outcome},
    Store, StoreError,
};
use crate::domain::{
    apikey::Role,
    etag::ResourceVersion,
    member::{Email, Member},
    names::TenantName,
    tenant_phase::TenantPhase,
};
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, Put, ReturnValuesOnConditionCheckFailure as OnFailure,
    TransactWriteItem, Update,
};

/// The members of the table.
#[derive(Debug, Clone, Copy)]
pub struct Members<'a> {
    pub(super) store: &'a Store,
}

/// What became of a member write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberWrite {
    /// Written (possibly by an earlier attempt of this same request).
    Written,
    /// Add: a member with this email (in any case) exists.
    Exists,
    /// Change or remove: there is no such member.
    NotFound,
    /// The tenant is being deleted.
    TenantTerminating,
    /// The tenant is not at the version the write was conditioned on.
    TenantChanged,
    /// The tenant item is gone.
    TenantGone,
}

/// A member as read from its item.
fn member(it: MemberItem) -> Result<Member, StoreError> {
    let role = Role::parse(&it.role)
        .ok_or_else(|| StoreError::Corrupt(format!("member role {}", it.role)))?;
    Ok(Member {
        email: it.email,
        role,
        created_at: it.created_at,
    })
}

fn terminating(item: &Item) -> bool {
    let phase = item.get(attr::PHASE).and_then(|v| v.as_s().ok());
    TenantPhase::from_stored(phase.map(String::as_str)) == TenantPhase::Terminating
}

/// Judges a cancelled `[member, tenant]` transaction, in the API's order: the tenant is gone or
/// terminating (409), the member is taken or missing (409 / 404), then the version (412).
fn judge(reasons: &[Option<Outcome<Item>>]) -> Result<MemberWrite, StoreError> {
    let [member, tenant] = reasons else {
        return Err(StoreError::Corrupt(
            "unexpected cancellation reasons".into(),
        ));
    };
    Ok(match (member, tenant) {
        // The tenant carries this attempt's token: our transaction landed, its reply was lost.
        (_, Some(Outcome::AlreadyOurs(_))) | (Some(Outcome::AlreadyOurs(_)), _) => {
            MemberWrite::Written
        }
        (_, Some(Outcome::Absent)) => MemberWrite::TenantGone,
        (_, Some(Outcome::Conflict(t))) if terminating(t) => MemberWrite::TenantTerminating,
        (Some(Outcome::Conflict(_)), _) => MemberWrite::Exists,
        (Some(Outcome::Absent), _) => MemberWrite::NotFound,
        (_, Some(Outcome::Conflict(_))) => MemberWrite::TenantChanged,
        (Some(Outcome::Written(_)), _) | (_, Some(Outcome::Written(_))) | (None, None) => {
            return Err(StoreError::Corrupt(
                "a cancelled transaction without a reason".into(),
            ))
        }
    })
}

impl Members<'_> {
    fn key(tenant: &TenantName, email_key: &str) -> Item {
        key(tenant_pk(tenant.as_str()), member_sk(email_key))
    }

    /// Every member of a tenant, in the order of their lowercased emails (strongly consistent).
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure or a malformed item.
    pub async fn list(&self, tenant: &TenantName) -> Result<Vec<Member>, StoreError> {
        self.store
            .query_prefix(tenant.as_str(), MEMBER_SK_PREFIX)
            .await?
            .into_iter()
            .map(|it| member(from_item(it)?))
            .collect()
    }

    /// The tenant part of a member write: bump its version, conditioned on it being active and
    /// (when given) at `expected`.
    fn tenant_bump(
        &self,
        tenant: &TenantName,
        expected: Option<ResourceVersion>,
        token: &str,
    ) -> Result<TransactWriteItem, StoreError> {
        let condition = match expected {
            None => COND_TENANT_ACTIVE,
            Some(ResourceVersion(0)) => COND_TENANT_ACTIVE_AT_ZERO,
            Some(_) => COND_TENANT_ACTIVE_AT,
        };
        let expr = format!("{TENANT_BUMP_UPDATE} {condition}");
        let mut values = super::write::Values::from([
            (":token".to_string(), s(token)),
            (":one".into(), AttributeValue::N("1".into())),
            (":terminating".into(), s(TenantPhase::Terminating.as_str())),
        ]);
        if let Some(v) = expected {
            values.insert(":expected_rv".into(), AttributeValue::N(v.0.to_string()));
        }
        let update = Update::builder()
            .table_name(&self.store.table)
            .set_key(Some(key(tenant_pk(tenant.as_str()), TENANT_SK)))
            .update_expression(TENANT_BUMP_UPDATE)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names_used(&expr)))
            .set_expression_attribute_values(Some(values_used(&expr, values)))
            .return_values_on_condition_check_failure(OnFailure::AllOld)
            .build()
            .map_err(unbuilt)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    async fn send(
        &self,
        member: TransactWriteItem,
        tenant: TransactWriteItem,
        token: &str,
    ) -> Result<MemberWrite, StoreError> {
        match self.store.transact(vec![member, tenant], token).await? {
            Ok(()) => Ok(MemberWrite::Written),
            Err(reasons) => judge(&reasons),
        }
    }

    /// Adds a member, unless one with this email (in any case) exists.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure.
    pub async fn add(
        &self,
        tenant: &TenantName,
        email: &Email,
        role: Role,
        created_at: &str,
        expected: Option<ResourceVersion>,
        token: &str,
    ) -> Result<MemberWrite, StoreError> {
        let item = MemberItem {
            pk: tenant_pk(tenant.as_str()),
            sk: member_sk(&email.key()),
            tenant: tenant.to_string(),
            email: email.to_string(),
            role: role.as_str().into(),
            created_at: created_at.into(),
            write_token: Some(token.into()),
        };
        let put = Put::builder()
            .table_name(&self.store.table)
            .set_item(Some(to_item(&item)?))
            .condition_expression(COND_NEW_MEMBER)
            .set_expression_attribute_names(Some(names_used(COND_NEW_MEMBER)))
            .return_values_on_condition_check_failure(OnFailure::AllOld)
            .build()
            .map_err(unbuilt)?;
        let member = TransactWriteItem::builder().put(put).build();
        let tenant_part = self.tenant_bump(tenant, expected, token)?;
        self.send(member, tenant_part, token).await
    }

    /// Changes a member's role.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure.
    pub async fn set_role(
        &self,
        tenant: &TenantName,
        email_key: &str,
        role: Role,
        expected: Option<ResourceVersion>,
        token: &str,
    ) -> Result<MemberWrite, StoreError> {
        let update_expr = "SET #role = :role, #token = :token";
        let expr = format!("{update_expr} {COND_MEMBER_EXISTS}");
        let update = Update::builder()
            .table_name(&self.store.table)
            .set_key(Some(Self::key(tenant, email_key)))
            .update_expression(update_expr)
            .condition_expression(COND_MEMBER_EXISTS)
            .set_expression_attribute_names(Some(names_used(&expr)))
            .expression_attribute_values(":role", s(role.as_str()))
            .expression_attribute_values(":token", s(token))
            .return_values_on_condition_check_failure(OnFailure::AllOld)
            .build()
            .map_err(unbuilt)?;
        let member = TransactWriteItem::builder().update(update).build();
        let tenant_part = self.tenant_bump(tenant, expected, token)?;
        self.send(member, tenant_part, token).await
    }

    /// Removes a member.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure.
    pub async fn remove(
        &self,
        tenant: &TenantName,
        email_key: &str,
        expected: Option<ResourceVersion>,
        token: &str,
    ) -> Result<MemberWrite, StoreError> {
        let delete = Delete::builder()
            .table_name(&self.store.table)
            .set_key(Some(Self::key(tenant, email_key)))
            .condition_expression(COND_MEMBER_EXISTS)
            .set_expression_attribute_names(Some(names_used(COND_MEMBER_EXISTS)))
            .return_values_on_condition_check_failure(OnFailure::AllOld)
            .build()
            .map_err(unbuilt)?;
        let member = TransactWriteItem::builder().delete(delete).build();
        let tenant_part = self.tenant_bump(tenant, expected, token)?;
        self.send(member, tenant_part, token).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(phase: Option<&str>) -> Item {
        let mut it = key("TENANT#a", TENANT_SK);
        if let Some(p) = phase {
            it.insert(attr::PHASE.into(), s(p));
        }
        it
    }

    #[test]
    fn a_cancelled_member_write_is_judged_in_the_apis_order() {
        let c = |i: Item| Some(Outcome::Conflict(i));
        let cases = [
            (vec![None, Some(Outcome::Absent)], MemberWrite::TenantGone),
            (
                vec![c(Item::new()), c(tenant(Some("Terminating")))],
                MemberWrite::TenantTerminating,
            ),
            (vec![c(Item::new()), c(tenant(None))], MemberWrite::Exists),
            (
                vec![Some(Outcome::Absent), c(tenant(None))],
                MemberWrite::NotFound,
            ),
            (vec![None, c(tenant(None))], MemberWrite::TenantChanged),
            (
                vec![c(Item::new()), Some(Outcome::AlreadyOurs(tenant(None)))],
                MemberWrite::Written,
            ),
        ];
        for (reasons, want) in cases {
            assert_eq!(judge(&reasons).unwrap(), want, "{reasons:?}");
        }
        assert!(judge(&[None]).is_err());
    }
}
