//! `GET /api/v1/tenants/{tenant}/clusters`: the tenant's clusters, optionally paged.

#[tokio::main]
async fn main() -> Result<(), kupe_shared::runtime::Error> {
    kupe_shared::runtime::run_http::<kupe_shared::api::clusters::ListClusters>().await
}
