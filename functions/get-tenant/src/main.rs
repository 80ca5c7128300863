//! `GET /api/v1/tenants/{tenant}`: one tenant: its settings, plan and pool (200 + ETag, 304 on If-None-Match).

#[tokio::main]
async fn main() -> Result<(), kupe_shared::runtime::Error> {
    kupe_shared::runtime::run_http::<kupe_shared::api::tenants::GetTenant>().await
}
