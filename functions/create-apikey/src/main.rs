#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    kupe_shared::runtime::run_http(create_apikey::handler).await
}
