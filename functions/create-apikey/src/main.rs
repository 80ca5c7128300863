//! `POST /api/v1/tenants/{tenant}/apikeys`: issue an API key (201, the raw key shown once).

#[tokio::main]
async fn main() -> Result<(), kupe_shared::runtime::Error> {
    kupe_shared::runtime::run_http::<kupe_shared::api::apikeys::CreateApiKey>().await
}
