//! `POST /api/v1/tenants/{tenant}/members`: add a member (201 + the tenant's new ETag).

#[tokio::main]
async fn main() -> Result<(), kupe_shared::runtime::Error> {
    kupe_shared::runtime::run_http::<kupe_shared::api::members::AddMember>().await
}
