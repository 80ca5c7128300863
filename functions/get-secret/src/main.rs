//! `GET /api/v1/tenants/{tenant}/secrets/{name}`: one managed secret with its sync status.

#[tokio::main]
async fn main() -> Result<(), kupe_shared::runtime::Error> {
    kupe_shared::runtime::run_http::<kupe_shared::api::secrets::GetSecret>().await
}
