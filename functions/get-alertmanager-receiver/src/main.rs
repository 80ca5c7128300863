//! `GET /api/v1/tenants/{tenant}/alertmanager/receivers/{name}`: one Alertmanager receiver (200).

#[tokio::main]
async fn main() -> Result<(), kupe_shared::runtime::Error> {
    kupe_shared::runtime::run_http::<kupe_shared::api::alertmanager::GetReceiver>().await
}
