//! `PUT /api/v1/tenants/{tenant}/alertmanager/global`: replace the tenant's Alertmanager global section (200).

#[tokio::main]
async fn main() -> Result<(), kupe_shared::runtime::Error> {
    kupe_shared::runtime::run_http::<kupe_shared::api::alertmanager::PutAlertmanagerGlobal>().await
}
