//! `POST /api/v1/tenants/{tenant}/clusters/{name}/operations/{id}/retry`: retries a failed operation from its failed step.

#[tokio::main]
async fn main() -> Result<(), kupe_shared::runtime::Error> {
    kupe_shared::runtime::run_http::<kupe_shared::api::operations::RetryOperation>().await
}
