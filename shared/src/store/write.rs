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
//! What may succeed if sent again later (throttling, a transaction conflict, a 5xx, a timeout)
//! keeps its own kind, [`StoreError::Throttled`], once the SDK's own retries are spent: the API
//! answers it 503 with `Retry-After`. Conflicts are never retried here.

use super::{
    item::Item,
    schema::{attr, names_used, values_used},
    Store, StoreError,
};
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::{
    error::{ProvideErrorMetadata, SdkError},
    operation::{
        delete_item::{builders::DeleteItemFluentBuilder, DeleteItemError},
        put_item::{builders::PutItemFluentBuilder, PutItemError},
        transact_write_items::TransactWriteItemsError,
        update_item::{builders::UpdateItemFluentBuilder, UpdateItemError},
    },
    types::{
        CancellationReason, ReturnValue, ReturnValuesOnConditionCheckFailure as OnFailure,
        TransactWriteItem,
    },
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

/// Error codes of a request that may succeed if sent again later: throttling (by the table, the
/// account or the AWS front end) and transactions that collided with another one.
const RETRYABLE_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "Throttling",
    "ThrottlingError",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "TransactionConflictException",
    "TransactionInProgressException",
    "InternalServerError",
    "ServiceUnavailable",
];

/// The same, as a cancelled transaction's per-item reason codes.
const RETRYABLE_REASONS: &[&str] = &[
    "ThrottlingError",
    "ProvisionedThroughputExceeded",
    "TransactionConflict",
];

/// A failed SDK call as a [`StoreError`]: what may succeed later (see [`service_error`], and
/// timeouts and connection failures) is [`StoreError::Throttled`], the rest [`StoreError::Sdk`].
pub(crate) fn sdk_error<E>(operation: &'static str, e: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let transient = match &e {
        SdkError::ServiceError(se) => {
            return service_error(operation, se.raw().status().as_u16(), se.err())
        }
        SdkError::TimeoutError(_) => true,
        SdkError::DispatchFailure(d) => d.is_timeout() || d.is_io(),
        SdkError::ResponseError(r) => r.raw().status().is_server_error(),
        _ => false,
    };
    let message = aws_sdk_dynamodb::error::DisplayErrorContext(&e).to_string();
    if transient {
        StoreError::Throttled {
            operation,
            cause: message,
        }
    } else {
        StoreError::Sdk { operation, message }
    }
}

/// A service error (answered with `status`) as a [`StoreError`]: throttling, a transaction
/// conflict and any 5xx are [`StoreError::Throttled`], the rest [`StoreError::Sdk`].
pub(crate) fn service_error<E>(operation: &'static str, status: u16, e: &E) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let message = aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string();
    let retryable = e.code().is_some_and(|c| RETRYABLE_CODES.contains(&c));
    if retryable || status >= 500 {
        StoreError::Throttled {
            operation,
            cause: message,
        }
    } else {
        StoreError::Sdk { operation, message }
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

fn settle<O, E>(
    operation: &'static str,
    res: Result<O, SdkError<E, HttpResponse>>,
    token: Option<&str>,
    written: impl FnOnce(O) -> Item,
) -> Result<Outcome<Item>, StoreError>
where
    E: FailedCondition + ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match res {
        Ok(out) => Ok(Outcome::Written(written(out))),
        Err(SdkError::ServiceError(se)) => {
            let status = se.raw().status().as_u16();
            match se.into_err().failed_condition() {
                Ok(old) => Ok(judge(old, token)),
                Err(other) => Err(service_error(operation, status, &other)),
            }
        }
        Err(e) => Err(sdk_error(operation, e)),
    }
}

/// What a sent transaction did: `Ok` when it committed, else per item, in order, `None` when
/// its condition held and its [`Outcome`] when it failed.
pub(crate) type Transacted = Result<(), Vec<Option<Outcome<Item>>>>;

/// A cancelled transaction, item by item: `None` where the condition held, the [`Outcome`]
/// where it failed; a throttled or conflicting item makes the whole transaction
/// [`StoreError::Throttled`].
fn cancelled(reasons: Vec<CancellationReason>, token: &str) -> Result<Transacted, StoreError> {
    let operation = "TransactWriteItems";
    let mut per_item = Vec::new();
    for reason in reasons {
        match reason.code.as_deref() {
            Some("ConditionalCheckFailed") => per_item.push(Some(judge(reason.item, Some(token)))),
            None | Some("None") => per_item.push(None),
            Some(code) if RETRYABLE_REASONS.contains(&code) => {
                return Err(StoreError::Throttled {
                    operation,
                    cause: format!("transaction cancelled: {code}"),
                })
            }
            Some(other) => {
                return Err(StoreError::Sdk {
                    operation,
                    message: format!("transaction cancelled: {other}"),
                })
            }
        }
    }
    Ok(Err(per_item))
}

/// The `:values` of an expression (unused ones are dropped before sending).
pub(crate) type Values = std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>;

/// A string value (`S`).
pub(crate) fn s(v: impl Into<String>) -> aws_sdk_dynamodb::types::AttributeValue {
    aws_sdk_dynamodb::types::AttributeValue::S(v.into())
}

/// A counter or version (`N`).
pub(crate) fn n(v: u64) -> aws_sdk_dynamodb::types::AttributeValue {
    aws_sdk_dynamodb::types::AttributeValue::N(v.to_string())
}

/// A signed amount (`N`): pool allocations and what a release gives back.
pub(crate) fn i(v: i64) -> aws_sdk_dynamodb::types::AttributeValue {
    aws_sdk_dynamodb::types::AttributeValue::N(v.to_string())
}

/// A request the SDK refused to build (a missing required field): a bug of ours, reported as
/// corrupt rather than retried.
pub(crate) fn unbuilt(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

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
    ) -> Result<Transacted, StoreError> {
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
            Err(SdkError::ServiceError(se)) => {
                let status = se.raw().status().as_u16();
                match se.into_err() {
                    TransactWriteItemsError::TransactionCanceledException(tc) => {
                        cancelled(tc.cancellation_reasons.unwrap_or_default(), token)
                    }
                    other => Err(service_error("TransactWriteItems", status, &other)),
                }
            }
            Err(e) => Err(sdk_error("TransactWriteItems", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue;

    #[test]
    fn throttling_conflicts_and_5xx_are_throttled_and_the_rest_is_not() {
        use aws_sdk_dynamodb::{error::ErrorMetadata, operation::get_item::GetItemError};
        let err = |code: &str| GetItemError::generic(ErrorMetadata::builder().code(code).build());
        let throttled = |code: &str, status: u16| {
            matches!(
                service_error("GetItem", status, &err(code)),
                StoreError::Throttled { .. }
            )
        };
        for code in [
            "ProvisionedThroughputExceededException",
            "ThrottlingException",
            "RequestLimitExceeded",
            "TransactionConflictException",
        ] {
            assert!(throttled(code, 400), "{code}");
        }
        assert!(throttled("InternalServerError", 500));
        assert!(throttled("Whatever", 503), "any 5xx");
        assert!(!throttled("ValidationException", 400));
        assert!(!throttled("ResourceNotFoundException", 400));
        let reason = |code: &str| CancellationReason::builder().code(code).build();
        assert!(matches!(
            cancelled(vec![reason("None"), reason("TransactionConflict")], "t"),
            Err(StoreError::Throttled { .. })
        ));
        assert!(matches!(
            cancelled(vec![reason("ValidationError")], "t"),
            Err(StoreError::Sdk { .. })
        ));
        assert!(matches!(
            cancelled(vec![reason("None"), reason("ConditionalCheckFailed")], "t"),
            Ok(Err(v)) if v[0].is_none() && v[1] == Some(Outcome::Absent)
        ));
    }

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
