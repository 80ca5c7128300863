//! `kupe_shared::config::sdk_config` takes the region and the credentials from Lambda's
//! variables when they are set, which is what the SDK's default chains would resolve them to
//! (without building the chains at Init), and leaves the chains to run when they are not.
//! One test: it changes the process environment step by step.

use aws_credential_types::provider::ProvideCredentials;

async fn access_key(sdk: &aws_config::SdkConfig) -> String {
    let creds = sdk
        .credentials_provider()
        .expect("a credentials provider")
        .provide_credentials()
        .await
        .expect("credentials");
    creds.access_key_id().to_string()
}

#[tokio::test]
async fn lambda_variables_give_what_the_default_chains_give_and_the_chains_run_without_them() {
    for name in [
        "AWS_PROFILE",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "HOME",
    ] {
        std::env::remove_var(name);
    }
    std::env::set_var("AWS_REGION", "eu-west-3");
    std::env::set_var("AWS_DEFAULT_REGION", "ap-south-1");
    std::env::set_var("AWS_ACCESS_KEY_ID", "AKIDLAMBDAROLE");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "secret");
    std::env::set_var("AWS_SESSION_TOKEN", "token");

    // Lambda's variables: the same region and keys as the SDK's own chains resolve.
    let ours = kupe_shared::config::sdk_config().await;
    let chains = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(kupe_shared::config::https_client())
        .load()
        .await;
    assert_eq!(ours.region(), chains.region());
    assert_eq!(ours.region().map(|r| r.as_ref()), Some("eu-west-3"));
    assert_eq!(access_key(&ours).await, "AKIDLAMBDAROLE");
    assert_eq!(access_key(&chains).await, "AKIDLAMBDAROLE");
    let provider = format!("{:?}", ours.credentials_provider());
    assert!(provider.contains("EnvironmentVariable"), "{provider}");

    // No keys (blank counts as none, as for the SDK): the default credentials chain, built
    // as before (not asked here: its later providers would reach for IMDS).
    std::env::set_var("AWS_ACCESS_KEY_ID", " ");
    let ours = kupe_shared::config::sdk_config().await;
    let provider = format!("{:?}", ours.credentials_provider());
    assert!(provider.contains("DefaultCredentialsChain"), "{provider}");

    // No AWS_REGION: the default region chain, which falls back to AWS_DEFAULT_REGION.
    std::env::remove_var("AWS_REGION");
    let ours = kupe_shared::config::sdk_config().await;
    assert_eq!(ours.region().map(|r| r.as_ref()), Some("ap-south-1"));
}
