//! `GET /api/v1/tenants/{tenant}/apikeys`: the tenant's keys, metadata only.
//!
//! The handler the Lambda runtime (`main.rs`) and the local stack both call.

use kupe_shared::{
    api::{apikeys, serve},
    Ctx,
};
use lambda_http::{Body, Request, Response};

/// Serves one request; never fails (every error is a response).
pub async fn handler(ctx: &Ctx, req: Request) -> Response<Body> {
    serve(
        &req,
        |req, _token| async move { apikeys::list(ctx, req).await },
    )
    .await
}
