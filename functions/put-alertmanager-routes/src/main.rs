//! `PUT /api/v1/tenants/{tenant}/alertmanager/routes`: replace the tenant's Alertmanager route list (200).

#[tokio::main]
async fn main() -> Result<(), kupe_shared::runtime::Error> {
    kupe_shared::runtime::run_http::<kupe_shared::api::alertmanager::PutAlertmanagerRoutes>().await
}
