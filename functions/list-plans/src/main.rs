//! `GET /api/v1/plans`: the plan catalog, public.

#[tokio::main]
async fn main() -> Result<(), kupe_shared::runtime::Error> {
    kupe_shared::runtime::run_http::<kupe_shared::api::plans::ListPlans>().await
}
