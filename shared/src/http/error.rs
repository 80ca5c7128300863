//! The one error type every route answers with and its one mapping to an HTTP status. Each error
//! carries a code from a fixed catalog ([`Code`]), a message that is safe to show (a 500's cause
//! is logged, never returned) and, when one field is at fault, that field's JSON path.

use lambda_http::http::StatusCode;
use std::{borrow::Cow, fmt};

/// The machine-readable error codes. The catalog is fixed: clients branch on these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// 400: the request is malformed or breaks a rule.
    ValidationFailed,
    /// 401: missing, malformed, unknown, expired or revoked key.
    Unauthenticated,
    /// 403: the key belongs to another tenant.
    NotAMember,
    /// 403: a readonly key tried to write.
    AdminRequired,
    /// 403: the tenant's plan has no room for it.
    QuotaExceeded,
    /// 403: the tenant's plan does not include it.
    NotInPlan,
    /// 404.
    NotFound,
    /// 405: the path exists, the method does not.
    MethodNotAllowed,
    /// 409: the name is taken.
    AlreadyExists,
    /// 409: the resource's state does not allow it now.
    Conflict,
    /// 409: `DELETE /tenants/{tenant}` without `cascade` while clusters exist. Spelled as Kupe's
    /// CLI matches it (`clusters_exist`), so `kupe tenant delete` suggests `--cascade`.
    ClustersExist,
    /// 409: `DELETE /tenants/{tenant}` of a tenant already being deleted. Spelled as Kupe's CLI
    /// matches it (`already_terminating`).
    AlreadyTerminating,
    /// 409: `DELETE` of a cluster whose `deletionProtection` is on (and of a tenant, with
    /// `cascade`, while one of its clusters is protected).
    DeletionProtected,
    /// 409: `POST …/operations/{id}/retry` of an operation that did not fail, or that a newer
    /// generation replaced.
    OperationNotRetryable,
    /// 412: `If-Match` does not match the current version.
    PreconditionFailed,
    /// 429, with `Retry-After`.
    RateLimited,
    /// 500.
    InternalError,
    /// 501: a route Kupe documents that this server does not serve yet.
    NotImplemented,
    /// 503: the resource is not ready yet.
    NotReady,
    /// 503, with `Retry-After`: the store is throttling.
    Throttled,
}

impl Code {
    /// The HTTP status of this code.
    pub fn status(self) -> StatusCode {
        match self {
            Code::ValidationFailed => StatusCode::BAD_REQUEST,
            Code::Unauthenticated => StatusCode::UNAUTHORIZED,
            Code::NotAMember | Code::AdminRequired | Code::QuotaExceeded | Code::NotInPlan => {
                StatusCode::FORBIDDEN
            }
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Code::AlreadyExists
            | Code::Conflict
            | Code::ClustersExist
            | Code::AlreadyTerminating
            | Code::DeletionProtected
            | Code::OperationNotRetryable => StatusCode::CONFLICT,
            Code::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Code::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Code::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            Code::NotImplemented => StatusCode::NOT_IMPLEMENTED,
            Code::NotReady | Code::Throttled => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The code as clients read it.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::ValidationFailed => "ValidationFailed",
            Code::Unauthenticated => "Unauthenticated",
            Code::NotAMember => "NotAMember",
            Code::AdminRequired => "AdminRequired",
            Code::QuotaExceeded => "QuotaExceeded",
            Code::NotInPlan => "NotInPlan",
            Code::NotFound => "NotFound",
            Code::MethodNotAllowed => "MethodNotAllowed",
            Code::AlreadyExists => "AlreadyExists",
            Code::Conflict => "Conflict",
            Code::ClustersExist => "clusters_exist",
            Code::AlreadyTerminating => "already_terminating",
            Code::DeletionProtected => "DeletionProtected",
            Code::OperationNotRetryable => "OperationNotRetryable",
            Code::PreconditionFailed => "PreconditionFailed",
            Code::RateLimited => "RateLimited",
            Code::InternalError => "InternalError",
            Code::NotImplemented => "NotImplemented",
            Code::NotReady => "NotReady",
            Code::Throttled => "Throttled",
        }
    }
}

/// Every way a request can fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    code: Code,
    message: Cow<'static, str>,
    field: Option<String>,
    retry_after: Option<u64>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    /// An error with a code and a message.
    pub fn new(code: Code, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    /// Names the field at fault (a JSON path such as `resources.cpu`).
    pub fn at(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// The code.
    pub fn code(&self) -> Code {
        self.code
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    /// The field at fault, if one is.
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// Seconds a client should wait before retrying (`Retry-After`), if any.
    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }

    /// The JSON body of this error: `{error, code, message, field?}`. `error` and `message` hold
    /// the same text, for clients that read either.
    pub fn body(&self) -> serde_json::Value {
        let mut body = serde_json::json!({
            "error": self.message,
            "code": self.code.as_str(),
            "message": self.message,
        });
        if let Some(field) = &self.field {
            body["field"] = serde_json::json!(field);
        }
        body
    }

    /// 400.
    pub fn invalid(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Code::ValidationFailed, message)
    }

    /// 401.
    pub fn unauthenticated(message: &'static str) -> Self {
        Self::new(Code::Unauthenticated, message)
    }

    /// 403 for another tenant's path: nothing about that tenant in the body.
    pub fn not_a_member() -> Self {
        Self::new(Code::NotAMember, "Not a member of this tenant")
    }

    /// 403 for a readonly key that writes.
    pub fn admin_required() -> Self {
        Self::new(Code::AdminRequired, "Admin access required")
    }

    /// 404.
    pub fn not_found(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Code::NotFound, message)
    }

    /// 409 for a state that forbids the request now.
    pub fn conflict(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Code::Conflict, message)
    }

    /// 412.
    pub fn precondition_failed() -> Self {
        Self::new(
            Code::PreconditionFailed,
            "ETag mismatch: the cluster changed since you read it; re-fetch and retry",
        )
    }

    /// 429 with `Retry-After`.
    pub fn rate_limited(seconds: u64) -> Self {
        let mut e = Self::new(
            Code::RateLimited,
            format!("Too many requests; retry after {seconds} seconds"),
        );
        e.retry_after = Some(seconds);
        e
    }

    /// 503 with `Retry-After`: the store is throttling or briefly unavailable.
    pub fn throttled() -> Self {
        let mut e = Self::new(
            Code::Throttled,
            "The service is busy; retry after the Retry-After delay",
        );
        e.retry_after = Some(THROTTLED_RETRY_AFTER_SECS);
        e
    }

    /// 500: the cause is logged by the caller, never returned.
    pub fn internal() -> Self {
        Self::new(Code::InternalError, "Internal server error")
    }
}

/// Seconds a client is asked to wait after a 503 `Throttled`: DynamoDB's throttling clears
/// within a second or two once the burst that caused it eases.
pub const THROTTLED_RETRY_AFTER_SECS: u64 = 1;

/// The one mapping of store failures: what may pass if sent again later is 503 `Throttled` with
/// `Retry-After`; anything else is a 500 whose cause is logged, never returned.
impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        if let crate::store::StoreError::Throttled { .. } = e {
            tracing::warn!(error = %e, "store throttled");
            return ApiError::throttled();
        }
        tracing::error!(error = %e, "store failure");
        ApiError::internal()
    }
}

impl From<crate::domain::Invalid> for ApiError {
    fn from(e: crate::domain::Invalid) -> Self {
        let field = e.field.clone();
        let error = ApiError::invalid(e.message);
        match field {
            Some(f) => error.at(f),
            None => error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_its_status() {
        assert_eq!(
            ApiError::not_a_member().status(),
            StatusCode::FORBIDDEN,
            "403"
        );
        assert_eq!(ApiError::rate_limited(3).retry_after(), Some(3));
        assert_eq!(
            ApiError::internal().body(),
            serde_json::json!({"error": "Internal server error", "code": "InternalError",
                "message": "Internal server error"})
        );
        let at = ApiError::invalid("resources.cpu must be greater than 0").at("resources.cpu");
        assert_eq!(at.body()["field"], "resources.cpu");
        assert_eq!(Code::NotReady.status(), StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn a_throttled_store_is_503_with_retry_after_and_other_store_failures_500() {
        use crate::store::StoreError;
        let e = ApiError::from(StoreError::Throttled {
            operation: "GetItem",
            cause: "ProvisionedThroughputExceededException: slow down".into(),
        });
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.body()["code"], "Throttled");
        assert_eq!(e.retry_after(), Some(THROTTLED_RETRY_AFTER_SECS));
        assert!(!e.to_string().contains("Provisioned"), "no internals");
        let e = ApiError::from(StoreError::Corrupt("x".into()));
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(e.retry_after(), None);
    }
}
