//! `PATCH /api/v1/tenants/{tenant}/secrets/{name}`: replace a managed secret's sync targets.

#[tokio::main]
async fn main() -> Result<(), kupe_shared::runtime::Error> {
    kupe_shared::runtime::run_http::<kupe_shared::api::secrets::UpdateSecret>().await
}
