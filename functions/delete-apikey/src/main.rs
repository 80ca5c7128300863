//! `DELETE /api/v1/tenants/{tenant}/apikeys/{id}`: revoke a key (204).

#[tokio::main]
async fn main() -> Result<(), kupe_shared::runtime::Error> {
    kupe_shared::runtime::run_http::<kupe_shared::api::apikeys::DeleteApiKey>().await
}
