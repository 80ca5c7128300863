#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    kupe_shared::runtime::run_http(list_apikeys::handler).await
}
