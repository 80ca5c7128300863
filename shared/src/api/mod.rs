//! Use cases behind the routes. Each takes the context and the request, does its one read and
//! at most one conditional write, and returns a [`Reply`](crate::http::Reply) or an
//! [`ApiError`](crate::http::ApiError). Failing requests are judged in the order 401, 403, 400,
//! 404, 409, 412, and a rejected request writes nothing.

pub mod auth;
pub mod clusters;

use crate::http::{render, request_id, ApiError, Reply};
use lambda_http::{Body, Request, Response};
use std::future::Future;

/// Runs a use case and renders its outcome with the request's `X-Request-Id`. Every HTTP
/// function's handler is this call around its use case.
pub async fn serve<'a, F, Fut>(req: &'a Request, use_case: F) -> Response<Body>
where
    F: FnOnce(&'a Request, String) -> Fut,
    Fut: Future<Output = Result<Reply, ApiError>> + 'a,
{
    let id = request_id(req);
    let outcome = use_case(req, id.clone()).await;
    if let Err(e) = &outcome {
        tracing::info!(request_id = %id, status = e.status().as_u16(), error = %e, "request refused");
    }
    render(outcome, &id)
}
