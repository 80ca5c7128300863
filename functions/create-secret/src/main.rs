//! `POST /api/v1/tenants/{tenant}/secrets`: create a managed secret (a vault path and its sync targets).

#[tokio::main]
async fn main() -> Result<(), kupe_shared::runtime::Error> {
    kupe_shared::runtime::run_http::<kupe_shared::api::secrets::CreateSecret>().await
}
