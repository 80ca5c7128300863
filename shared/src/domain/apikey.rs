//! API keys: `kupe_<8 hex>_<secret>`. The 8 hex digits are the key's id (`ak-<8 hex>`), the
//! secret is 43 base62 characters (≈256 bits). Only the SHA-256 of the whole key is stored; with
//! a secret this long a fast hash is the right one (NIST SP 800-63B: no salt or stretching is
//! needed for high-entropy secrets), and it is compared in constant time.

use rand::{rngs::OsRng, Rng};
use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;

/// The one 401 message for a key that is not usable, whatever the reason (unknown, wrong
/// secret, expired, revoked): a caller learns nothing about which.
pub const INVALID_KEY: &str = "Invalid, expired or revoked API key";

const SECRET_LEN: usize = 43;
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A key id, `ak-` plus 8 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyId(String);

impl KeyId {
    /// Parses `ak-<8 hex>`.
    pub fn parse(s: &str) -> Option<KeyId> {
        let hex = s.strip_prefix("ak-")?;
        is_id_hex(hex).then(|| KeyId(hex.to_string()))
    }

    /// The 8 hex digits.
    pub fn hex(&self) -> &str {
        &self.0
    }

    /// A fresh random id.
    pub fn random() -> KeyId {
        KeyId(format!("{:08x}", OsRng.gen::<u32>()))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ak-{}", self.0)
    }
}

fn is_id_hex(s: &str) -> bool {
    s.len() == 8
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A raw API key as presented by a caller. Its `Debug` never shows the secret.
#[derive(Clone)]
pub struct RawKey {
    id: KeyId,
    whole: String,
}

impl fmt::Debug for RawKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawKey({}, <secret>)", self.id)
    }
}

impl RawKey {
    /// Parses `kupe_<8 hex>_<secret>`; `None` when the shape is wrong.
    pub fn parse(s: &str) -> Option<RawKey> {
        let rest = s.strip_prefix("kupe_")?;
        let (hex, secret) = rest.split_once('_')?;
        if !is_id_hex(hex) || secret.len() < 16 || secret.len() > 128 {
            return None;
        }
        if !secret.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return None;
        }
        Some(RawKey {
            id: KeyId(hex.to_string()),
            whole: s.to_string(),
        })
    }

    /// Generates a new key with the given id.
    pub fn generate(id: KeyId) -> RawKey {
        let mut rng = OsRng;
        let secret: String = (0..SECRET_LEN)
            .map(|_| BASE62[rng.gen_range(0..BASE62.len())] as char)
            .collect();
        let whole = format!("kupe_{}_{}", id.hex(), secret);
        RawKey { id, whole }
    }

    /// The key id.
    pub fn id(&self) -> &KeyId {
        &self.id
    }

    /// The whole key, to show once at creation.
    pub fn expose(&self) -> &str {
        &self.whole
    }

    /// SHA-256 of the whole key, hex encoded: what is stored.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.whole.as_bytes()))
    }

    /// Whether this key hashes to `stored_hash`, compared in constant time.
    pub fn verify(&self, stored_hash: &str) -> bool {
        let mine = Sha256::digest(self.whole.as_bytes());
        match hex::decode(stored_hash) {
            Ok(theirs) if theirs.len() == mine.len() => mine.as_slice().ct_eq(&theirs).into(),
            _ => false,
        }
    }
}

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Read and write.
    Admin,
    /// List and get resources, download kubeconfig; no changes.
    Readonly,
}

impl Role {
    /// Parses `admin` or `readonly`.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "readonly" => Some(Role::Readonly),
            _ => None,
        }
    }

    /// The role as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Readonly => "readonly",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_parses_back_and_verifies_against_its_hash() {
        let key = RawKey::generate(KeyId::random());
        let parsed = RawKey::parse(key.expose()).unwrap();
        assert_eq!(parsed.id(), key.id());
        assert!(parsed.verify(&key.hash()));
        assert_eq!(key.expose().len(), "kupe_".len() + 8 + 1 + SECRET_LEN);
    }

    #[test]
    fn a_different_secret_does_not_verify() {
        let key = RawKey::generate(KeyId::random());
        let other = RawKey::generate(key.id().clone());
        assert!(!other.verify(&key.hash()));
        assert!(!key.verify("not-hex"));
        assert!(!key.verify("abcd"));
    }

    #[test]
    fn malformed_keys_are_refused() {
        for bad in [
            "",
            "kupe_",
            "kupe_1234567_aaaaaaaaaaaaaaaaaaaa",
            "kupe_1234567g_aaaaaaaaaaaaaaaaaaaa",
            "kupe_12345678_short",
            "kupe_12345678_aaaaaaaaaaaaaaaaaaa!",
            "KUPE_12345678_aaaaaaaaaaaaaaaaaaaa",
            "kupe_ABCDEF12_aaaaaaaaaaaaaaaaaaaa",
        ] {
            assert!(RawKey::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn debug_output_never_shows_the_secret() {
        let key = RawKey::generate(KeyId::random());
        let secret = key.expose().rsplit('_').next().unwrap().to_string();
        assert!(!format!("{key:?}").contains(&secret));
    }

    #[test]
    fn key_ids_have_the_ak_prefix() {
        let id = KeyId::random();
        assert!(KeyId::parse(&id.to_string()).is_some());
        assert!(KeyId::parse("ak-1234").is_none());
        assert!(KeyId::parse("12345678").is_none());
    }
}
