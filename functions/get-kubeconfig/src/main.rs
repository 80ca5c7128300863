//! `GET /api/v1/tenants/{tenant}/clusters/{name}/kubeconfig`: connection details; 503 until ready.

#[tokio::main]
async fn main() -> Result<(), kupe_shared::runtime::Error> {
    kupe_shared::runtime::run_http::<kupe_shared::api::clusters::GetKubeconfig>().await
}
