//! `GET /api/v1/tenants/{tenant}/secrets`: the tenant's managed secrets, by name.

#[tokio::main]
async fn main() -> Result<(), kupe_shared::runtime::Error> {
    kupe_shared::runtime::run_http::<kupe_shared::api::secrets::ListSecrets>().await
}
