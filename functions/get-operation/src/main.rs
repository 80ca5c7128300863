//! `GET /api/v1/tenants/{tenant}/clusters/{name}/operations/{id}`: one operation with its steps and error.

#[tokio::main]
async fn main() -> Result<(), kupe_shared::runtime::Error> {
    kupe_shared::runtime::run_http::<kupe_shared::api::operations::GetOperation>().await
}
