#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    kupe_shared::runtime::run_event(provisioner::handler).await
}
