//! The one way every conditional write is sent and judged. A failed condition is never an
//! error: it becomes an [`Outcome`], decided from the item DynamoDB returns with the failure
//! (`ReturnValuesOnConditionCheckFailure = ALL_OLD`), with no second read:
//!
//! ```text
//!   condition held                               → Written(item after the write)
//!   failed, the item carries this request's token → AlreadyOurs(item)   (the SDK retried a write
//!                                                     whose reply was lost; it did land)
//!   failed, someone else's item is there          → Conflict(item)
//!   failed, nothing is there                      → Absent
//! ```
//!
//! Only throttling keeps its own kind ([`StoreError::Throttled`]); the SDK has already retried
//! it. Conflicts are never retried here.

use super::{
    item::Item,
    schema::{attr, names_used, values_used},
    Store, StoreError,
};
use aws_sdk_dynamodb::{
    error::{ProvideErrorMetadata, SdkError},
    operation::{
        delete_item::{builders::DeleteItemFluentBuilder, DeleteItemError},
        put_item::{builders::PutItemFluentBuilder, PutItemError},
        transact_write_items::TransactWriteItemsError,
        update_item::{builders::UpdateItemFluentBuilder, UpdateItemError},
    },
    types::{ReturnValue, ReturnValuesOnConditionCheckFailure as OnFailure, TransactWriteItem},
};

/// The result of a conditional write.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<T> {
    /// The condition held and the write landed; the item after it (empty unless the write
    /// returns it).
    Written(T),
    /// The condition failed against this request's own earlier write: it landed.
    AlreadyOurs(T),
    /// The condition failed because of what someone else wrote: here is the current item.
    Conflict(T),
    /// The condition failed and there is no item.
    Absent,
}

impl<T> Outcome<T> {
    /// Whether this request's write is in the table (now or from an earlier attempt).
    pub fn landed(&self) -> bool {
        matches!(self, Outcome::Written(_) | Outcome::AlreadyOurs(_))
    }

    /// The same outcome over a decoded item; `None` from `decode` (say, a tombstone) reads as
    /// [`Outcome::Absent`].
    ///
    /// # Errors
    /// What `decode` returns.
    pub fn decode<U>(
        self,
        decode: impl Fn(T) -> Result<Option<U>, StoreError>,
    ) -> Result<Outcome<U>, StoreError> {
        let keep =
            |item, wrap: fn(U) -> Outcome<U>| Ok(decode(item)?.map_or(Outcome::Absent, wrap));
        match self {
            Outcome::Written(i) => keep(i, Outcome::Written),
            Outcome::AlreadyOurs(i) => keep(i, Outcome::AlreadyOurs),
            Outcome::Conflict(i) => keep(i, Outcome::Conflict),
            Outcome::Absent => Ok(Outcome::Absent),
        }
    }
}

/// One conditional write, ready to send (built by [`Store::put`], [`Store::update`] and
/// [`Store::delete`]).
#[derive(Debug)]
pub(crate) enum Write {
    /// A `PutItem`.
    Put(PutItemFluentBuilder),
    /// An `UpdateItem`.
    Update(UpdateItemFluentBuilder),
    /// A `DeleteItem`.
    Delete(DeleteItemFluentBuilder),
}

/// An operation error that may be a failed condition, carrying the item it failed against.
trait FailedCondition: Sized {
    fn failed_condition(self) -> Result<Option<Item>, Self>;
}

macro_rules! failed_condition {
    ($($error:ident),*) => {$(
        impl FailedCondition for $error {
            fn failed_condition(self) -> Result<Option<Item>, Self> {
                match self {
                    $error::ConditionalCheckFailedException(e) => Ok(e.item),
                    other => Err(other),
                }
            }
        }
    )*};
}
failed_condition!(PutItemError, UpdateItemError, DeleteItemError);

/// A failed SDK call (or its service error) as a [`StoreError`], keeping throttling apart.
pub(crate) fn sdk_error<E>(operation: &'static str, e: E) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let throttled = matches!(
        e.code(),
        Some(
            "ProvisionedThroughputExceededException"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "ThrottlingError"
        )
    );
    if throttled {
        return StoreError::Throttled { operation };
    }
    StoreError::Sdk {
        operation,
        message: aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string(),
    }
}

/// Sorts a failed condition's item by whose write it holds.
fn judge(old: Option<Item>, token: Option<&str>) -> Outcome<Item> {
    match old {
        None => Outcome::Absent,
        Some(item) => {
            let ours = token.is_some()
                && item
                    .get(attr::WRITE_TOKEN)
                    .and_then(|v| v.as_s().ok())
                    .map(String::as_str)
                    == token;
            if ours {
                Outcome::AlreadyOurs(item)
            } else {
                Outcome::Conflict(item)
            }
        }
    }
}

fn settle<O, E, R>(
    operation: &'static str,
    res: Result<O, SdkError<E, R>>,
    token: Option<&str>,
    written: impl FnOnce(O) -> Item,
) -> Result<Outcome<Item>, StoreError>
where
    E: FailedCondition + ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
    SdkError<E, R>: ProvideErrorMetadata + std::error::Error,
{
    match res {
        Ok(out) => Ok(Outcome::Written(written(out))),
        Err(SdkError::ServiceError(se)) => match se.into_err().failed_condition() {
            Ok(old) => Ok(judge(old, token)),
            Err(other) => Err(sdk_error(operation, other)),
        },
        Err(e) => Err(sdk_error(operation, e)),
    }
}

/// The `:values` of an expression (unused ones are dropped before sending).
pub(crate) type Values = std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>;

/// Adds the table, `condition`, the placeholders `expr` uses (of `values` only those it uses, as
/// DynamoDB refuses unused ones), and the request for the old item on failure to a write builder.
macro_rules! conditioned {
    ($store:expr, $builder:expr, $expr:expr, $condition:expr, $values:expr) => {{
        let values = values_used($expr, $values);
        $builder
            .table_name(&$store.table)
            .condition_expression($condition)
            .set_expression_attribute_names(Some(names_used($expr)))
            .set_expression_attribute_values((!values.is_empty()).then_some(values))
            .return_values_on_condition_check_failure(OnFailure::AllOld)
    }};
}

impl Store {
    /// A `PutItem` of `item` under `condition`.
    pub(crate) fn put(&self, item: Item, condition: &str, values: Values) -> Write {
        let put = self.client.put_item().set_item(Some(item));
        Write::Put(conditioned!(self, put, condition, condition, values))
    }

    /// An `UpdateItem` of the item at `key` under `condition`; the written item comes back.
    pub(crate) fn update(&self, key: Item, update: &str, condition: &str, values: Values) -> Write {
        let expr = format!("{update} {condition}");
        let write = self.client.update_item().set_key(Some(key));
        let write = write
            .update_expression(update)
            .return_values(ReturnValue::AllNew);
        Write::Update(conditioned!(self, write, &expr, condition, values))
    }

    /// A `DeleteItem` of the item at `key` under `condition`.
    pub(crate) fn delete(&self, key: Item, condition: &str, values: Values) -> Write {
        let delete = self.client.delete_item().set_key(Some(key));
        Write::Delete(conditioned!(self, delete, condition, condition, values))
    }

    /// The item at `key`, strongly consistent.
    ///
    /// # Errors
    /// [`StoreError`] when DynamoDB fails.
    pub(crate) async fn get(&self, key: Item) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("GetItem", e))?;
        Ok(out.item)
    }

    /// Sends one conditional write. `token` is the writing request's token when the write
    /// stores it (`writeToken`), so a retried write that already landed is told apart.
    ///
    /// # Errors
    /// [`StoreError`] when DynamoDB fails (not when the condition does).
    pub(crate) async fn write(
        &self,
        write: Write,
        token: Option<&str>,
    ) -> Result<Outcome<Item>, StoreError> {
        match write {
            Write::Put(w) => settle("PutItem", w.send().await, token, |_| Item::new()),
            Write::Update(w) => settle("UpdateItem", w.send().await, token, |o| {
                o.attributes.unwrap_or_default()
            }),
            Write::Delete(w) => settle("DeleteItem", w.send().await, token, |_| Item::new()),
        }
    }

    /// Sends conditional writes as one transaction, idempotent for `token`. On cancellation,
    /// says for each item, in order, `None` when its condition held and its [`Outcome`] when it
    /// failed.
    ///
    /// # Errors
    /// [`StoreError`] when DynamoDB fails (not when a condition does).
    pub(crate) async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
        token: &str,
    ) -> Result<Result<(), Vec<Option<Outcome<Item>>>>, StoreError> {
        // ClientRequestToken allows 36 characters of [a-zA-Z0-9-]: the request id fits.
        let request_token: String = token
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(36)
            .collect();
        let res = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .client_request_token(request_token)
            .send()
            .await;
        match res {
            Ok(_) => Ok(Ok(())),
            Err(SdkError::ServiceError(se)) => match se.into_err() {
                TransactWriteItemsError::TransactionCanceledException(tc) => {
                    let mut per_item = Vec::new();
                    for reason in tc.cancellation_reasons.unwrap_or_default() {
                        match reason.code.as_deref() {
                            Some("ConditionalCheckFailed") => {
                                per_item.push(Some(judge(reason.item, Some(token))));
                            }
                            None | Some("None") => per_item.push(None),
                            Some("ThrottlingError" | "ProvisionedThroughputExceeded") => {
                                return Err(StoreError::Throttled {
                                    operation: "TransactWriteItems",
                                })
                            }
                            Some(other) => {
                                return Err(StoreError::Sdk {
                                    operation: "TransactWriteItems",
                                    message: format!("transaction cancelled: {other}"),
                                })
                            }
                        }
                    }
                    Ok(Err(per_item))
                }
                other => Err(sdk_error("TransactWriteItems", other)),
            },
            Err(e) => Err(sdk_error("TransactWriteItems", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue;

    #[test]
    fn a_failed_condition_is_judged_by_the_token_the_item_holds() {
        let with =
            |t: &str| Item::from([(attr::WRITE_TOKEN.to_string(), AttributeValue::S(t.into()))]);
        assert!(matches!(judge(None, Some("a")), Outcome::Absent));
        assert!(matches!(
            judge(Some(with("a")), Some("a")),
            Outcome::AlreadyOurs(_)
        ));
        assert!(matches!(
            judge(Some(with("b")), Some("a")),
            Outcome::Conflict(_)
        ));
        assert!(matches!(
            judge(Some(Item::new()), None),
            Outcome::Conflict(_)
        ));
        assert!(Outcome::AlreadyOurs(()).landed() && !Outcome::<()>::Absent.landed());
    }
}
