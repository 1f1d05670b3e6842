//! [`Sha256Secrets`]: the domain's [`SecretDigest`] port for refresh tokens and guest device
//! ids.
//!
//! A secret is 32 bytes from the operating system's generator, URL-safe base64 without padding
//! (43 characters). Its digest is SHA-256 in hex: a 256-bit random secret cannot be guessed, so
//! it needs no salt and no slow hash (unlike a password), and a lookup by digest is one index
//! probe. Device ids are chosen by clients, not by us; they are at least 16 characters and
//! stored the same way, so a leaked table does not give them away directly.

use amity_domain::ports::SecretDigest;
use argon2::password_hash::rand_core::{OsRng, RngCore};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Random secrets and their SHA-256 digests.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sha256Secrets;

impl SecretDigest for Sha256Secrets {
    fn generate(&self) -> String {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn digest(&self, secret: &str) -> String {
        let hash = Sha256::digest(secret.as_bytes());
        let mut hex = String::with_capacity(64);
        for byte in hash {
            hex.push(char::from_digit(u32::from(byte >> 4), 16).unwrap_or('0'));
            hex.push(char::from_digit(u32::from(byte & 0xf), 16).unwrap_or('0'));
        }
        hex
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_url_safe_and_digests_stable() {
        let a = Sha256Secrets.generate();
        let b = Sha256Secrets.generate();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        // The SHA-256 test vector of "abc".
        assert_eq!(
            Sha256Secrets.digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(Sha256Secrets.digest(&a), Sha256Secrets.digest(&a));
    }
}
