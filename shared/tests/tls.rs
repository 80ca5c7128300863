//! Which roots the SDK's HTTPS client trusts: the Mozilla set compiled into the binary, loaded
//! without touching the OS certificate store (whose scan was most of our Init above a
//! hello-world bootstrap). No network: a local TLS server with a self-signed certificate that
//! the OS store is told to trust (`SSL_CERT_FILE`, `SSL_CERT_DIR`, which a client with the
//! SDK's default trust store reads) shows which store a client consults.

use rustls_pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

#[test]
fn the_compiled_in_roots_all_parse_as_trust_anchors() {
    let pem = kupe_shared::config::trusted_roots_pem();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .expect("the bundle is PEM");
    // What the SDK's rustls provider does with a PEM trust store.
    let mut store = rustls::RootCertStore::empty();
    let (valid, invalid) = store.add_parsable_certificates(certs);
    assert!(valid > 100, "only {valid} roots");
    assert_eq!(invalid, 0);
}

/// Serves TLS on 127.0.0.1 with `cert`; reports each handshake's outcome.
async fn tls_server(
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
) -> (u16, tokio::sync::mpsc::UnboundedReceiver<bool>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                match acceptor.accept(tcp).await {
                    Ok(mut tls) => {
                        let _ = tx.send(true);
                        let _ = tls
                            .write_all(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                            .await;
                        let _ = tls.shutdown().await;
                    }
                    Err(_) => {
                        let _ = tx.send(false);
                    }
                }
            });
        }
    });
    (port, rx)
}

#[tokio::test]
async fn the_sdk_client_trusts_the_compiled_in_roots_and_never_reads_the_os_store() {
    // A certificate for localhost, made the OS store's only root.
    let issued = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let dir = std::env::temp_dir().join(format!("kupe-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, issued.cert.pem()).unwrap();
    let cert = issued.cert.der().clone();
    let key = PrivateKeyDer::try_from(issued.key_pair.serialize_der()).unwrap();
    let (port, mut handshakes) = tls_server(cert, key).await;
    // Set before any client exists in this process (nextest runs each test in its own).
    std::env::set_var("SSL_CERT_FILE", &ca);
    std::env::set_var("SSL_CERT_DIR", &dir);
    std::env::set_var("AWS_ENDPOINT_URL", format!("https://localhost:{port}"));
    std::env::set_var("AWS_REGION", "us-east-1");
    std::env::set_var("AWS_ACCESS_KEY_ID", "local");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "local");
    std::env::set_var("AWS_MAX_ATTEMPTS", "1");

    // Ours: the handshake fails (the self-signed root is not in the compiled-in set).
    let ours = kupe_shared::config::sdk_config().await;
    let err = aws_sdk_dynamodb::Client::new(&ours)
        .list_tables()
        .send()
        .await
        .expect_err("an untrusted server");
    assert!(
        format!("{err:?}").to_lowercase().contains("certificate"),
        "{err:?}"
    );
    assert_eq!(handshakes.recv().await, Some(false));

    // The control, so this test can fail: the same client as the SDK's default builds it (the
    // workspace has no `default-https-client`, so it is built here), whose trust store includes
    // the OS store, trusts the root the variables name and completes the handshake.
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
    let os_store = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let default = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(os_store)
        .load()
        .await;
    let _ = aws_sdk_dynamodb::Client::new(&default)
        .list_tables()
        .send()
        .await;
    assert_eq!(handshakes.recv().await, Some(true));
    let _ = std::fs::remove_dir_all(&dir);
}
