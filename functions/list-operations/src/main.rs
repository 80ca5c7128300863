//! `GET /api/v1/tenants/{tenant}/clusters/{name}/operations`: a cluster's operations, newest first.

#[tokio::main]
async fn main() -> Result<(), kupe_shared::runtime::Error> {
    kupe_shared::runtime::run_http::<kupe_shared::api::operations::ListOperations>().await
}
