//! `POST /api/v1/tenants/{tenant}/apikeys`: issue an API key (201, the raw key shown once).
//!
//! The handler the Lambda runtime (`main.rs`) and the local stack both call.

use kupe_shared::{
    api::{apikeys, serve},
    Ctx,
};
use lambda_http::{Body, Request, Response};

/// Serves one request; never fails (every error is a response).
pub async fn handler(ctx: &Ctx, req: Request) -> Response<Body> {
    serve(&req, |req, _token| async move {
        apikeys::create(ctx, req).await
    })
    .await
}
