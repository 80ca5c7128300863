//! `DELETE /api/v1/tenants/{tenant}/clusters/{name}`: start the teardown (204).

#[tokio::main]
async fn main() -> Result<(), kupe_shared::runtime::Error> {
    kupe_shared::runtime::run_http::<kupe_shared::api::clusters::DeleteCluster>().await
}
