//! Passwords: constant-time comparison and storage at rest, spec/security-and-sdk.md §1.10.
//!
//! At rest, upstream keeps the root@sys password (`ob_config.rootPwd`) and the agent password
//! (`ocs_info.agentRootPwd`) as sectional-RSA ciphertext made with the agent's *own* key. We
//! follow that format: it keeps our stores readable by tools that know upstream's, it needs no
//! second secret to manage, and the 512 -> 1024-bit key upgrade has a defined migration
//! ([`reencrypt_password`]). Be clear about what it buys: the private key lives on the same host
//! (see [`crate::AgentKeys::load_or_create`]), so this protects against leaking the database
//! alone (a backup, a shared MySQL-protocol store), not against someone who can read the agent's
//! key file.

use rsa::sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::error::SecureError;
use crate::keys::AgentKeys;

/// Compares two passwords (or tokens) without a timing side channel on their content.
///
/// Both sides are hashed with SHA-256 first and the digests compared with `subtle`: comparing
/// the raw bytes would stop at the first difference (content leak), and even a constant-time
/// slice comparison returns early on a length mismatch (length leak). Hashing time only depends
/// on the length in 64-byte blocks, which for passwords is a single block.
pub fn passwords_equal(provided: &str, expected: &str) -> bool {
    let a = Sha256::digest(provided.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    a.as_slice().ct_eq(b.as_slice()).into()
}

/// Encrypts a password for storage with the agent's own public key (upstream format: standard
/// base64 of PKCS#1 v1.5 blocks, `k - 11`-byte chunks; an empty password is one block).
pub fn encrypt_password(keys: &AgentKeys, password: &str) -> Result<String, SecureError> {
    keys.public_key().encrypt(password.as_bytes())
}

/// Decrypts a password stored by [`encrypt_password`] (or by upstream).
///
/// Because RSA decryption uses implicit rejection, a corrupted value may not fail here but
/// decrypt to garbage; we at least insist on UTF-8 so most such garbage is reported. A wrong
/// stored password then shows up as a failed login, never as a crash.
pub fn decrypt_password(keys: &AgentKeys, stored: &str) -> Result<String, SecureError> {
    let bytes = keys
        .decrypt_base64_detail(stored)
        .map_err(|e| SecureError::Crypto(format!("stored password: {e}")))?;
    String::from_utf8(bytes)
        .map_err(|_| SecureError::Crypto("stored password: decrypted value is not UTF-8".into()))
}

/// Re-encrypts a stored password from `old` to `new` keys, for the key-size upgrade upstream
/// performs at start (`EnsureKeySize`); the caller writes the results and the new key in one
/// transaction so a crash cannot leave passwords unreadable.
pub fn reencrypt_password(
    old: &AgentKeys,
    new: &AgentKeys,
    stored: &str,
) -> Result<String, SecureError> {
    let plain = zeroize::Zeroizing::new(decrypt_password(old, stored)?);
    encrypt_password(new, &plain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::tests::{test_keys, LEGACY_512_PRIVATE_KEY};
    use base64::Engine as _;

    #[test]
    fn equality() {
        assert!(passwords_equal("", ""));
        assert!(passwords_equal("abc", "abc"));
        assert!(!passwords_equal("abc", "abd"));
        assert!(!passwords_equal("abc", "abcd"));
        assert!(!passwords_equal("", "a"));
    }

    #[test]
    fn at_rest_round_trip() {
        let keys = test_keys();
        for pw in ["", "root", "密码 with spaces", &"x".repeat(500)] {
            let stored = encrypt_password(keys, pw).unwrap();
            assert_ne!(stored, pw);
            assert_eq!(decrypt_password(keys, &stored).unwrap(), pw);
        }
        // Two encryptions of the same password differ (random PKCS#1 v1.5 padding).
        assert_ne!(
            encrypt_password(keys, "root").unwrap(),
            encrypt_password(keys, "root").unwrap()
        );
        // One 1024-bit block per 117 bytes: 500 bytes -> 5 blocks.
        let stored = encrypt_password(keys, &"x".repeat(500)).unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(stored)
            .unwrap();
        assert_eq!(raw.len(), 5 * 128);
    }

    #[test]
    fn key_upgrade_reencrypts() {
        let old = AgentKeys::from_private_key_base64(LEGACY_512_PRIVATE_KEY).unwrap();
        let new = test_keys();
        let stored_old = encrypt_password(&old, "root-pw").unwrap();
        let stored_new = reencrypt_password(&old, new, &stored_old).unwrap();
        assert_eq!(decrypt_password(new, &stored_new).unwrap(), "root-pw");
        assert!(decrypt_password(new, &stored_old).is_err());
    }

    #[test]
    fn corrupt_values_are_errors() {
        let keys = test_keys();
        assert!(decrypt_password(keys, "plaintext-password").is_err());
        // An empty stored value is zero blocks, i.e. the empty string (upstream does the same);
        // an *encrypted* empty password is one block (see at_rest_round_trip).
        assert_eq!(decrypt_password(keys, "").unwrap(), "");
    }
}
