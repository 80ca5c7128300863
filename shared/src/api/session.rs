//! The start and end of every route. [`Session::open`] makes the request's one read (the key,
//! the IP's failures, the tenant and the addressed item together), then judges, in order: the
//! IP's authentication backoff (429), the key (401, counted as a failure), the tenant and role
//! (403), and the path's tenant name (400). Keys are checked against their current record on
//! every request (no cache), so a revocation takes effect on the next one.
//! [`Session::close`] ends a successful request.

use crate::{
    config::ApiContext,
    domain::{
        apikey::{RawKey, Role, INVALID_KEY},
        names::{ClusterName, SecretName, TenantName},
        plan::Plan,
    },
    http::{ApiError, Caller, Code, Reply},
    store::{item::Item, schema, ApiKeyRecord, AuthFailures, StoredCluster, TenantRecord},
};
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

/// How stale `lastUsedAt` may get before a successful request refreshes it: at most one extra
/// write per key per this many seconds, never one per request.
pub const LAST_USED_GRANULARITY_SECS: i64 = 300;

/// The item of the tenant's partition a request addresses, read with the key and the tenant.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// None.
    Nothing,
    /// A cluster (none when the name did not parse: that 400 comes after 401 and 403).
    Cluster(Option<&'a ClusterName>),
    /// A managed secret (likewise).
    Secret(Option<&'a SecretName>),
}

/// An authenticated, authorized request.
#[derive(Debug)]
pub struct Session {
    /// The caller's key record.
    pub caller: ApiKeyRecord,
    /// The path's tenant.
    pub tenant: TenantName,
    /// The tenant's record (absent if the tenant was removed while its keys remain).
    pub tenant_record: Option<TenantRecord>,
    target: Option<Item>,
}

/// Checks the presented key against its stored record, the path's tenant and the role the
/// route needs.
fn authorize(
    key: &RawKey,
    record: Option<&ApiKeyRecord>,
    path_tenant: &str,
    need: Role,
    now: OffsetDateTime,
) -> Result<ApiKeyRecord, ApiError> {
    let record = record.ok_or_else(|| ApiError::unauthenticated(INVALID_KEY))?;
    if !key.verify(&record.secret_hash) {
        return Err(ApiError::unauthenticated(INVALID_KEY));
    }
    if let Some(expires) = &record.expires_at {
        // An unreadable expiry fails closed.
        let alive = OffsetDateTime::parse(expires, &Rfc3339).is_ok_and(|at| now < at);
        if !alive {
            return Err(ApiError::unauthenticated(INVALID_KEY));
        }
    }
    if record.tenant != path_tenant {
        return Err(ApiError::not_a_member());
    }
    if need == Role::Admin && record.role != Role::Admin {
        return Err(ApiError::admin_required());
    }
    Ok(record.clone())
}

impl Session {
    /// Authenticates and authorizes `caller` for a route that needs `need`, reading `target` in
    /// the same request.
    ///
    /// # Errors
    /// 429, 401, 403, then 400 for a malformed tenant name; 500 when the store fails.
    pub async fn open(
        ctx: &ApiContext,
        caller: &Caller,
        need: Role,
        target: Target<'_>,
    ) -> Result<Session, ApiError> {
        let key = caller.key.clone()?;
        let tenant = TenantName::parse(&caller.tenant).ok();
        let target_sk = match target {
            Target::Cluster(Some(name)) => Some(schema::cluster_sk(name.as_str())),
            Target::Secret(Some(name)) => Some(schema::secret_sk(name.as_str())),
            Target::Cluster(None) | Target::Secret(None) | Target::Nothing => None,
        };
        let snap = ctx
            .store
            .snapshot(key.id(), &caller.ip, tenant.as_ref(), target_sk)
            .await?;
        let now = OffsetDateTime::now_utc();
        let epoch = u64::try_from(now.unix_timestamp()).unwrap_or(0);
        if let Some(wait) = snap.auth_failures.and_then(|f| f.wait(epoch)) {
            return Err(ApiError::rate_limited(wait));
        }
        let record = match authorize(&key, snap.key.as_ref(), &caller.tenant, need, now) {
            Err(e) if e.code() == Code::Unauthenticated => {
                count_failure(ctx, &caller.ip, snap.auth_failures.as_ref(), epoch).await;
                return Err(e);
            }
            other => other?,
        };
        let tenant = TenantName::parse(&caller.tenant)
            .map_err(|e| ApiError::invalid(e.to_string()).at("tenant"))?;
        Ok(Session {
            caller: record,
            tenant,
            tenant_record: snap.tenant,
            target: snap.target,
        })
    }

    /// The tenant's plan.
    ///
    /// # Errors
    /// 403 when the key's tenant record is gone (it belongs to no tenant any more); 500 for a
    /// plan the catalog does not know.
    pub fn plan(&self) -> Result<&'static Plan, ApiError> {
        let tenant = self
            .tenant_record
            .as_ref()
            .ok_or_else(ApiError::not_a_member)?;
        Plan::by_name(&tenant.plan).ok_or_else(|| {
            tracing::error!(plan = %tenant.plan, "tenant has an unknown plan");
            ApiError::internal()
        })
    }

    /// The addressed cluster as read (live or a tombstone), taken out of the session.
    ///
    /// # Errors
    /// 500 when the item is malformed.
    pub fn take_cluster(&mut self) -> Result<Option<StoredCluster>, ApiError> {
        Ok(self
            .target
            .take()
            .map(StoredCluster::from_item)
            .transpose()?)
    }

    /// The addressed secret as read (live or a tombstone), taken out of the session.
    ///
    /// # Errors
    /// 500 when the item is malformed.
    pub fn take_secret(&mut self) -> Result<Option<crate::store::secrets::StoredSecret>, ApiError> {
        Ok(self
            .target
            .take()
            .map(crate::store::secrets::StoredSecret::from_item)
            .transpose()?)
    }

    /// Ends a successful request: refreshes the caller's `lastUsedAt` when it is older than
    /// [`LAST_USED_GRANULARITY_SECS`]. Only successes count as use, so a rejected request still
    /// writes nothing.
    ///
    /// # Errors
    /// Never: a failed refresh is logged and only delays the next one.
    pub async fn close(&self, ctx: &ApiContext, reply: Reply) -> Result<Reply, ApiError> {
        let now = OffsetDateTime::now_utc();
        let stale = self.caller.last_used_at.as_deref().is_none_or(|at| {
            OffsetDateTime::parse(at, &Rfc3339).map_or(true, |at| {
                (now - at).whole_seconds() >= LAST_USED_GRANULARITY_SECS
            })
        });
        if stale {
            let at = crate::domain::format_rfc3339(now);
            if let Err(e) = ctx.store.api_keys().touch(&self.caller, &at).await {
                tracing::warn!(error = %e, "lastUsedAt not refreshed");
            }
        }
        Ok(reply)
    }
}

/// Counts an authentication failure from `ip` and sets its backoff. Best effort: a failure to
/// count must not turn a 401 into a 500.
async fn count_failure(ctx: &ApiContext, ip: &str, previous: Option<&AuthFailures>, now: u64) {
    let backoff = &ctx.auth_backoff;
    let count = previous.map_or(0, |p| p.live_count(now)).saturating_add(1);
    // `now` is rounded down to the second: counting the block from the next whole second makes
    // it last at least `wait_after` seconds (not anywhere from 0 to that).
    let wait = backoff.wait_after(count);
    let next = AuthFailures {
        count,
        blocked_until: if wait == 0 { now } else { now + 1 + wait },
        expires_at: now + backoff.window_secs,
    };
    if let Err(err) = ctx.store.auth_failures().record(ip, previous, next).await {
        tracing::warn!(error = %err, "authentication failure not counted");
    }
}
