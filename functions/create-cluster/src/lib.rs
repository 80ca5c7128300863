//! `POST /api/v1/tenants/{tenant}/clusters`: create a cluster (201 + ETag).
//!
//! The handler the Lambda runtime (`main.rs`) and the local stack both call.

use kupe_shared::{
    api::{clusters, serve},
    Ctx,
};
use lambda_http::{Body, Request, Response};

/// Serves one request; never fails (every error is a response).
pub async fn handler(ctx: &Ctx, req: Request) -> Response<Body> {
    serve(&req, |req, token| async move {
        clusters::create(ctx, req, &token).await
    })
    .await
}
