//! `GET /api/v1/tenants/{tenant}/clusters/{name}/kubeconfig`: the cluster's connection details
//! (`endpoint`, base64 PEM `certificateAuthority`); 503 until the cluster is running.

use kupe_shared::{
    api::{clusters, serve},
    Ctx,
};
use lambda_http::{Body, Request, Response};

/// Serves one request; never fails (every error is a response).
pub async fn handler(ctx: &Ctx, req: Request) -> Response<Body> {
    serve(&req, |req, _token| async move {
        clusters::kubeconfig(ctx, req).await
    })
    .await
}
