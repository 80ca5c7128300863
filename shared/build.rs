//! Writes the trusted TLS roots (Mozilla's set from `webpki-root-certs`) as one PEM bundle into
//! `OUT_DIR`, so that `kupe_shared::config::trusted_roots_pem` is a constant: encoding the
//! ~150 certificates at start-up cost about 0.14 ms of every Init.

use base64::{engine::general_purpose::STANDARD, Engine};

fn main() {
    let mut pem = String::with_capacity(webpki_root_certs::TLS_SERVER_ROOT_CERTS.len() * 2_200);
    for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        let b64 = STANDARD.encode(cert.as_ref());
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("trusted_roots.pem"), pem).expect("write the PEM bundle");
    println!("cargo::rerun-if-changed=build.rs");
}
