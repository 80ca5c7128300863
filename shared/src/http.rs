//! The HTTP edge: the one error type every route answers with, its mapping to status and
//! `{"error": "..."}` body, and the request helpers (headers, path parameters, JSON bodies) that
//! never panic on what a client sends.

use lambda_http::{
    http::{header, HeaderValue, StatusCode},
    request::RequestContext,
    Body, Request, RequestExt, Response,
};
use serde_json::Value;

/// Largest request body accepted, after base64 decoding.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Every way a request can fail, each with its status. Messages are safe to show: they never
/// carry internal error text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 401: missing, malformed, unknown, expired or revoked key.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// 403: the key belongs to another tenant.
    #[error("Not a member of this tenant")]
    NotMember,
    /// 403: a readonly key tried to write.
    #[error("Admin access required")]
    AdminRequired,
    /// 403: the tenant's plan does not allow it.
    #[error("{0}")]
    PlanForbids(String),
    /// 400: the request is malformed or breaks a rule.
    #[error("{0}")]
    BadRequest(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 405: the path exists, the method does not.
    #[error("Method not allowed")]
    MethodNotAllowed,
    /// 409.
    #[error("{0}")]
    Conflict(String),
    /// 412: `If-Match` does not match the current version.
    #[error("ETag mismatch: the cluster changed since you read it; re-fetch and retry")]
    PreconditionFailed,
    /// 429 with `Retry-After` seconds.
    #[error("Too many requests; retry after {0} seconds")]
    TooManyRequests(u64),
    /// 503.
    #[error("{0}")]
    Unavailable(String),
    /// 500. The cause is logged, never returned.
    #[error("Internal server error")]
    Internal,
}

impl ApiError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::NotMember | ApiError::AdminRequired | ApiError::PlanForbids(_) => {
                StatusCode::FORBIDDEN
            }
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// 400 with a message.
    pub fn bad(msg: impl Into<String>) -> Self {
        ApiError::BadRequest(msg.into())
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        tracing::error!(error = %e, "store failure");
        ApiError::Internal
    }
}

/// A successful answer before it becomes an HTTP response.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// Status code.
    pub status: StatusCode,
    /// JSON body, if any.
    pub body: Option<Value>,
    /// `ETag` header, if any.
    pub etag: Option<String>,
}

impl Reply {
    /// 200 with a JSON body.
    pub fn ok(body: Value) -> Self {
        Self {
            status: StatusCode::OK,
            body: Some(body),
            etag: None,
        }
    }
    /// A status with a JSON body.
    pub fn with_status(status: StatusCode, body: Value) -> Self {
        Self {
            status,
            body: Some(body),
            etag: None,
        }
    }
    /// A status with no body.
    pub fn empty(status: StatusCode) -> Self {
        Self {
            status,
            body: None,
            etag: None,
        }
    }
    /// Adds an `ETag`.
    pub fn etag(mut self, etag: String) -> Self {
        self.etag = Some(etag);
        self
    }
}

/// The request id to echo in `X-Request-Id`: API Gateway's, or a fresh one when there is none.
pub fn request_id(req: &Request) -> String {
    let from_context = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(ctx)) => ctx.request_id.clone(),
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone(),
        _ => None,
    };
    from_context
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// Renders an outcome as the HTTP response, with `X-Request-Id` always set.
pub fn render(outcome: Result<Reply, ApiError>, request_id: &str) -> Response<Body> {
    let (status, body, etag, retry_after) = match outcome {
        Ok(r) => (r.status, r.body, r.etag, None),
        Err(e) => {
            let retry = match e {
                ApiError::TooManyRequests(s) => Some(s),
                _ => None,
            };
            (
                e.status(),
                Some(serde_json::json!({ "error": e.to_string() })),
                None,
                retry,
            )
        }
    };
    let mut builder = Response::builder().status(status);
    if let Ok(v) = HeaderValue::from_str(request_id) {
        builder = builder.header("X-Request-Id", v);
    }
    if let Some(etag) = etag.and_then(|e| HeaderValue::from_str(&e).ok()) {
        builder = builder.header(header::ETAG, etag);
    }
    if let Some(secs) = retry_after {
        builder = builder.header(header::RETRY_AFTER, secs.to_string());
    }
    let body = match body {
        Some(v) => {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
            Body::Text(v.to_string())
        }
        None => Body::Empty,
    };
    builder.body(body).unwrap_or_else(|_| {
        let mut r = Response::new(Body::Text(r#"{"error":"Internal server error"}"#.into()));
        *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}

/// A header as text; `Err` when present but not visible ASCII.
///
/// # Errors
/// 400 naming the header.
pub fn header_str<'a>(req: &'a Request, name: &str) -> Result<Option<&'a str>, ApiError> {
    match req.headers().get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(Some)
            .map_err(|_| ApiError::bad(format!("header {name} is not valid text"))),
    }
}

/// A path parameter: from API Gateway's `pathParameters`, or, when absent, from the path itself
/// (`…/tenants/{tenant}/clusters/{name}/…`, the segment after the collection name).
pub fn path_param(req: &Request, name: &str) -> Option<String> {
    if let Some(v) = req.path_parameters_ref().and_then(|p| p.first(name)) {
        return Some(v.to_string());
    }
    let after = match name {
        "tenant" => "tenants",
        "name" => "clusters",
        "id" => "apikeys",
        _ => return None,
    };
    let segments: Vec<&str> = req.uri().path().split('/').collect();
    let at = segments.iter().position(|s| *s == after)?;
    segments
        .get(at + 1)
        .filter(|s| !s.is_empty())
        .map(|s| s.to_string())
}

/// A query-string parameter.
pub fn query_param(req: &Request, name: &str) -> Option<String> {
    req.query_string_parameters_ref()
        .and_then(|q| q.first(name))
        .map(str::to_string)
}

/// The request body as a JSON object: checks `Content-Type` (`application/json`, or also
/// `application/merge-patch+json` when `merge_patch` is allowed), the 64 KiB limit, and that the
/// body is a JSON object.
///
/// # Errors
/// 400 with a message saying which check failed.
pub fn json_object(
    req: &Request,
    merge_patch: bool,
) -> Result<serde_json::Map<String, Value>, ApiError> {
    let ctype = header_str(req, "content-type")?.unwrap_or("");
    let media = ctype
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let accepted =
        media == "application/json" || (merge_patch && media == "application/merge-patch+json");
    if !accepted {
        let want = if merge_patch {
            "application/json or application/merge-patch+json"
        } else {
            "application/json"
        };
        return Err(ApiError::bad(format!("Content-Type must be {want}")));
    }
    let bytes: &[u8] = match req.body() {
        Body::Empty => b"",
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => b"",
    };
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::bad(format!(
            "request body exceeds {MAX_BODY_BYTES} bytes"
        )));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad("request body is required"));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad("request body must be a JSON object")),
        Err(e) => Err(ApiError::bad(format!("malformed JSON: {e}"))),
    }
}
