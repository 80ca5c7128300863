//! `PATCH /api/v1/tenants/{tenant}/clusters/{name}`: merge-patch the spec (If-Match → 412).

#[tokio::main]
async fn main() -> Result<(), kupe_shared::runtime::Error> {
    kupe_shared::runtime::run_http::<kupe_shared::api::clusters::UpdateCluster>().await
}
