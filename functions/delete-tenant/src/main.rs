//! `DELETE /api/v1/tenants/{tenant}`: delete the tenant, its clusters with `cascade` (202).

#[tokio::main]
async fn main() -> Result<(), kupe_shared::runtime::Error> {
    kupe_shared::runtime::run_http::<kupe_shared::api::tenant_delete::DeleteTenant>().await
}
