//! `PUT /api/v1/tenants/{tenant}/alertmanager/receivers/{name}`: create (201) or replace (200) an Alertmanager receiver.

#[tokio::main]
async fn main() -> Result<(), kupe_shared::runtime::Error> {
    kupe_shared::runtime::run_http::<kupe_shared::api::alertmanager::PutReceiver>().await
}
