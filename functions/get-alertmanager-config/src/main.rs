//! `GET /api/v1/tenants/{tenant}/alertmanager/config`: the assembled Alertmanager configuration, with its YAML (200).

#[tokio::main]
async fn main() -> Result<(), kupe_shared::runtime::Error> {
    kupe_shared::runtime::run_http::<kupe_shared::api::alertmanager::GetAlertmanagerConfig>().await
}
