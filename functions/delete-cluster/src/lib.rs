//! `DELETE /api/v1/tenants/{tenant}/clusters/{name}`: start the teardown (204).
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
        clusters::delete(ctx, req, &token).await
    })
    .await
}
