//! The dispatcher: table stream → one lifecycle execution per generation.

#[tokio::main]
async fn main() -> Result<(), kupe_shared::runtime::Error> {
    kupe_shared::runtime::run_dispatcher().await
}
