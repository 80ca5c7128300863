//! `GET /api/v1/tenants/{tenant}/clusters/{name}`: one cluster (200 + ETag, 304 on If-None-Match).
//!
//! The handler the Lambda runtime (`main.rs`) and the local stack both call.

use kupe_shared::{
    api::{clusters, serve},
    Ctx,
};
use lambda_http::{Body, Request, Response};

/// Serves one request; never fails (every error is a response).
pub async fn handler(ctx: &Ctx, req: Request) -> Response<Body> {
    serve(
        &req,
        |req, _token| async move { clusters::get(ctx, req).await },
    )
    .await
}
