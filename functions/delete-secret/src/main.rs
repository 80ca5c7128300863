//! `DELETE /api/v1/tenants/{tenant}/secrets/{name}`: delete a managed secret (its synced copies are removed; the vault value stays).

#[tokio::main]
async fn main() -> Result<(), kupe_shared::runtime::Error> {
    kupe_shared::runtime::run_http::<kupe_shared::api::secrets::DeleteSecret>().await
}
