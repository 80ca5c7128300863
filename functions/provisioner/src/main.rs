//! The provisioner: work-queue task messages → one provider step → `SendTask*`.

#[tokio::main]
async fn main() -> Result<(), kupe_shared::runtime::Error> {
    kupe_shared::runtime::run_provisioner().await
}
