//! `DELETE /api/v1/tenants/{tenant}/alertmanager/receivers/{name}`: delete an Alertmanager receiver no route uses (204).

#[tokio::main]
async fn main() -> Result<(), kupe_shared::runtime::Error> {
    kupe_shared::runtime::run_http::<kupe_shared::api::alertmanager::DeleteReceiver>().await
}
