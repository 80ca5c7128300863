//! `PATCH /api/v1/tenants/{tenant}/members/{email}`: change a member's role (200).

#[tokio::main]
async fn main() -> Result<(), kupe_shared::runtime::Error> {
    kupe_shared::runtime::run_http::<kupe_shared::api::members::UpdateMember>().await
}
