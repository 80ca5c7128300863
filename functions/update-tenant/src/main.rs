//! `PATCH /api/v1/tenants/{tenant}`: the plan and enforcement flags; 409 when the clusters do not fit the new plan.

#[tokio::main]
async fn main() -> Result<(), kupe_shared::runtime::Error> {
    kupe_shared::runtime::run_http::<kupe_shared::api::tenants::UpdateTenant>().await
}
