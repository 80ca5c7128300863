//! `GET /api/v1/tenants/{tenant}/members`: the tenant's members (200, readonly).

#[tokio::main]
async fn main() -> Result<(), kupe_shared::runtime::Error> {
    kupe_shared::runtime::run_http::<kupe_shared::api::members::ListMembers>().await
}
