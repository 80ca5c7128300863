//! Every route Kupe documents that this server does not serve yet (invoices, secrets,
//! Alertmanager): 501 `NotImplemented`, never 404.

#[tokio::main]
async fn main() -> Result<(), kupe_shared::runtime::Error> {
    kupe_shared::runtime::run_not_served().await
}
