#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    kupe_shared::runtime::run_event(reconciler::handler).await
}
