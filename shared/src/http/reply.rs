//! A successful answer, and the one function that turns an outcome (answer or error) into the
//! HTTP response, with `X-Request-Id` always set.

use super::ApiError;
use lambda_http::{
    http::{header, HeaderValue, StatusCode},
    Body, Response,
};
use serde_json::Value;

/// A successful answer before it becomes an HTTP response.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// Status code.
    pub status: StatusCode,
    /// JSON body, if any.
    pub body: Option<Value>,
    /// `ETag` header, if any.
    pub etag: Option<String>,
    /// `Operation-Id` header: the operation a write started or is part of.
    pub operation_id: Option<String>,
}

impl Reply {
    /// 200 with a JSON body.
    pub fn ok(body: Value) -> Self {
        Self::with_status(StatusCode::OK, body)
    }

    /// A status with a JSON body.
    pub fn with_status(status: StatusCode, body: Value) -> Self {
        Self {
            status,
            body: Some(body),
            etag: None,
            operation_id: None,
        }
    }

    /// A status with no body.
    pub fn empty(status: StatusCode) -> Self {
        Self {
            status,
            body: None,
            etag: None,
            operation_id: None,
        }
    }

    /// Adds an `ETag`.
    pub fn etag(mut self, etag: String) -> Self {
        self.etag = Some(etag);
        self
    }

    /// Adds an `Operation-Id`.
    pub fn operation(mut self, id: String) -> Self {
        self.operation_id = Some(id);
        self
    }
}

/// Renders an outcome as the HTTP response.
pub fn render(outcome: Result<Reply, ApiError>, request_id: &str) -> Response<Body> {
    let (status, body, etag, retry_after, operation) = match outcome {
        Ok(r) => (r.status, r.body, r.etag, None, r.operation_id),
        Err(e) => (e.status(), Some(e.body()), None, e.retry_after(), None),
    };
    let mut builder = Response::builder().status(status);
    if let Ok(v) = HeaderValue::from_str(request_id) {
        builder = builder.header("X-Request-Id", v);
    }
    if let Some(etag) = etag.and_then(|e| HeaderValue::from_str(&e).ok()) {
        builder = builder.header(header::ETAG, etag);
    }
    if let Some(id) = operation.and_then(|o| HeaderValue::from_str(&o).ok()) {
        builder = builder.header("Operation-Id", id);
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
