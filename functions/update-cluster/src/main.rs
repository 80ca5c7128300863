#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    kupe_shared::runtime::run_http(update_cluster::handler).await
}
