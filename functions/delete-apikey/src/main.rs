#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    kupe_shared::runtime::run_http(delete_apikey::handler).await
}
