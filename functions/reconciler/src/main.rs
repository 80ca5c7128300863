//! The reconciler: executions that died outside their own `Catch` → `Failed`.

#[tokio::main]
async fn main() -> Result<(), kupe_shared::runtime::Error> {
    kupe_shared::runtime::run_reconciler().await
}
