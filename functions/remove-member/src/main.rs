//! `DELETE /api/v1/tenants/{tenant}/members/{email}`: remove a member (204).

#[tokio::main]
async fn main() -> Result<(), kupe_shared::runtime::Error> {
    kupe_shared::runtime::run_http::<kupe_shared::api::members::RemoveMember>().await
}
