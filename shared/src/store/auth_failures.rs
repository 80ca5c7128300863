//! Authentication failures per client IP: a TTL'd counter that the request's one read already
//! fetches, so checking it costs nothing; counting a failure costs one small write.

use super::{
    item::{to_item, AuthFailureItem},
    schema::*,
    write::Values,
    Store, StoreError,
};
use aws_sdk_dynamodb::types::AttributeValue;

/// Recent authentication failures from one client IP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthFailures {
    /// Failures in the current window.
    pub count: u32,
    /// No request from the IP is served before this (epoch seconds).
    pub blocked_until: u64,
    /// The record lapses at this time (epoch seconds; DynamoDB TTL deletes it later).
    pub expires_at: u64,
}

impl From<AuthFailureItem> for AuthFailures {
    fn from(it: AuthFailureItem) -> Self {
        AuthFailures {
            count: it.failures,
            blocked_until: it.blocked_until,
            expires_at: it.ttl,
        }
    }
}

impl AuthFailures {
    /// Seconds the IP must still wait at `now` (epoch seconds, rounded down), if blocked. The
    /// block ends at the start of second `blocked_until`, so `blocked_until - now` is the true
    /// time left rounded up: a retry after exactly this many seconds (`Retry-After`) is served.
    pub fn wait(&self, now: u64) -> Option<u64> {
        (self.expires_at > now && self.blocked_until > now).then(|| self.blocked_until - now)
    }

    /// Failures that still count at `now`.
    pub fn live_count(&self, now: u64) -> u32 {
        if self.expires_at > now {
            self.count
        } else {
            0
        }
    }
}

/// The authentication-failure counters of the table.
#[derive(Debug, Clone, Copy)]
pub struct AuthFailureCounters<'a> {
    pub(super) store: &'a Store,
}

impl AuthFailureCounters<'_> {
    /// Stores `next` as the IP's counter, conditional on the count `previous` read (or on there
    /// being none). Losing that race is harmless: the other failure counted.
    ///
    /// # Errors
    /// [`StoreError`] on DynamoDB failure.
    pub async fn record(
        &self,
        ip: &str,
        previous: Option<&AuthFailures>,
        next: AuthFailures,
    ) -> Result<(), StoreError> {
        let item = AuthFailureItem {
            pk: authfail_pk(ip),
            sk: AUTHFAIL_SK.into(),
            failures: next.count,
            blocked_until: next.blocked_until,
            ttl: next.expires_at,
        };
        let (condition, values) = match previous {
            Some(p) => (
                COND_FAILURES_SINCE,
                Values::from([(":old".into(), AttributeValue::N(p.count.to_string()))]),
            ),
            None => (COND_FIRST_FAILURE, Values::new()),
        };
        let write = self.store.put(to_item(&item)?, condition, values);
        self.store.write(write, None).await?;
        Ok(())
    }
}
