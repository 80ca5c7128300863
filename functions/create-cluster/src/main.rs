//! `POST /api/v1/tenants/{tenant}/clusters`: create a cluster (201 + ETag).

#[tokio::main]
async fn main() -> Result<(), kupe_shared::runtime::Error> {
    kupe_shared::runtime::run_http::<kupe_shared::api::clusters::CreateCluster>().await
}
