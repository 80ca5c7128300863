//! `GET /api/v1/tenants/{tenant}/alertmanager/receivers`: list the tenant's Alertmanager receivers (200).

#[tokio::main]
async fn main() -> Result<(), kupe_shared::runtime::Error> {
    kupe_shared::runtime::run_http::<kupe_shared::api::alertmanager::ListReceivers>().await
}
