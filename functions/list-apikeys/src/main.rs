//! `GET /api/v1/tenants/{tenant}/apikeys`: the tenant's keys, metadata only.

#[tokio::main]
async fn main() -> Result<(), kupe_shared::runtime::Error> {
    kupe_shared::runtime::run_http::<kupe_shared::api::apikeys::ListApiKeys>().await
}
