//! AES-128-CBC + PKCS#7 request-body encryption, spec/security-and-sdk.md §1.4.
//!
//! Why this shape: RSA cannot carry a whole body, so the client picks a random AES key and IV,
//! sends them inside the RSA-encrypted auth header (`keys` = base64(key16 || iv16)) and sends the
//! body as the base64 *text* of the CBC ciphertext, with no `Content-Type`. The same key and IV
//! encrypt the few upstream responses that carry secrets (login / SSO `data` strings).
//!
//! CBC is unauthenticated; that is acceptable here only because the key travels inside the
//! header that the password check authenticates, and a tampered body fails either padding or
//! JSON parsing. We validate PKCS#7 strictly (upstream does not and may panic).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockModeDecrypt as _, BlockModeEncrypt as _, KeyIvInit as _};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroize as _;

use crate::error::SecureError;

type Aes128CbcEnc = cbc::Encryptor<aes::Aes128>;
type Aes128CbcDec = cbc::Decryptor<aes::Aes128>;

/// AES block size; the ciphertext must be a whole number of blocks.
const BLOCK: usize = 16;

/// The per-request AES-128 key and CBC IV carried in the header's `keys` field.
/// Wiped from memory on drop; compared in constant time.
#[derive(Clone)]
pub struct AesKey {
    key: [u8; 16],
    iv: [u8; 16],
}

impl Drop for AesKey {
    fn drop(&mut self) {
        self.key.zeroize();
        self.iv.zeroize();
    }
}

impl PartialEq for AesKey {
    fn eq(&self, other: &Self) -> bool {
        (self.key.ct_eq(&other.key) & self.iv.ct_eq(&other.iv)).into()
    }
}

impl Eq for AesKey {}

impl std::fmt::Debug for AesKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AesKey(<redacted>)")
    }
}

impl AesKey {
    /// Length of the transported `keys` value: 16 key bytes then 16 IV bytes.
    pub const TRANSPORT_LEN: usize = 32;

    /// Builds a key from its parts.
    pub fn new(key: [u8; 16], iv: [u8; 16]) -> Self {
        Self { key, iv }
    }

    /// A fresh random key and IV from the OS RNG, as a client does for every request.
    pub fn generate() -> Result<Self, SecureError> {
        let mut bytes = zeroize::Zeroizing::new([0u8; Self::TRANSPORT_LEN]);
        getrandom::fill(bytes.as_mut())
            .map_err(|e| SecureError::Crypto(format!("system RNG: {e}")))?;
        Self::from_transport_bytes(bytes.as_ref())
    }

    /// Splits the transported `key16 || iv16` bytes. Anything but exactly 32 bytes is refused:
    /// AES-128 is the only size upstream uses, and a short IV would make CBC meaningless.
    pub fn from_transport_bytes(bytes: &[u8]) -> Result<Self, SecureError> {
        if bytes.len() != Self::TRANSPORT_LEN {
            return Err(SecureError::BodyKeysInvalid(format!(
                "expected {} bytes (AES-128 key || IV), got {}",
                Self::TRANSPORT_LEN,
                bytes.len()
            )));
        }
        let mut key = [0u8; 16];
        let mut iv = [0u8; 16];
        key.copy_from_slice(&bytes[..16]);
        iv.copy_from_slice(&bytes[16..]);
        Ok(Self { key, iv })
    }

    /// `key16 || iv16`, the bytes the header's `keys` field carries.
    pub fn to_transport_bytes(&self) -> zeroize::Zeroizing<[u8; 32]> {
        let mut out = zeroize::Zeroizing::new([0u8; Self::TRANSPORT_LEN]);
        out[..16].copy_from_slice(&self.key);
        out[16..].copy_from_slice(&self.iv);
        out
    }

    /// The header's `keys` string: standard base64 of [`Self::to_transport_bytes`].
    pub fn to_base64(&self) -> String {
        B64.encode(self.to_transport_bytes().as_ref())
    }

    /// The 16-byte AES key.
    pub fn key(&self) -> &[u8; 16] {
        &self.key
    }

    /// The 16-byte CBC IV.
    pub fn iv(&self) -> &[u8; 16] {
        &self.iv
    }

    /// AES-128-CBC encryption with PKCS#7 padding (always adds 1..=16 bytes).
    pub fn encrypt(&self, plaintext: &[u8]) -> Vec<u8> {
        Aes128CbcEnc::new(&self.key.into(), &self.iv.into()).encrypt_padded_vec::<Pkcs7>(plaintext)
    }

    /// AES-128-CBC decryption with strict PKCS#7 validation.
    pub fn decrypt(&self, ciphertext: &[u8]) -> Result<Vec<u8>, SecureError> {
        if ciphertext.is_empty() || !ciphertext.len().is_multiple_of(BLOCK) {
            return Err(SecureError::BodyContentLengthInvalid(ciphertext.len()));
        }
        Aes128CbcDec::new(&self.key.into(), &self.iv.into())
            .decrypt_padded_vec::<Pkcs7>(ciphertext)
            .map_err(|_| SecureError::BodyDecrypt("AES decrypt failed: invalid padding".into()))
    }

    /// Encrypts a request body into the base64 text that goes on the wire.
    pub fn encrypt_body(&self, plaintext: &[u8]) -> String {
        B64.encode(self.encrypt(plaintext))
    }

    /// Decrypts a request body as received (base64 text of the ciphertext).
    ///
    /// Surrounding ASCII whitespace is tolerated (a trailing newline from a hand-made request
    /// is not an attack); anything else that is not standard padded base64 is refused, where
    /// upstream would silently decode a prefix.
    pub fn decrypt_body(&self, body: &[u8]) -> Result<Vec<u8>, SecureError> {
        let text = body.trim_ascii();
        let ciphertext = B64
            .decode(text)
            .map_err(|e| SecureError::BodyDecrypt(format!("body is not base64: {e}")))?;
        self.decrypt(&ciphertext)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn nist_sp800_38a_cbc_aes128_vector() {
        // NIST SP 800-38A F.2.1, first two blocks; the padded output adds one full block.
        let key: [u8; 16] = hex("2b7e151628aed2a6abf7158809cf4f3c").try_into().unwrap();
        let iv: [u8; 16] = hex("000102030405060708090a0b0c0d0e0f").try_into().unwrap();
        let aes = AesKey::new(key, iv);
        let pt = hex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51");
        let ct = aes.encrypt(&pt);
        assert_eq!(ct.len(), 48);
        assert_eq!(
            &ct[..32],
            &hex("7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2")[..]
        );
        assert_eq!(aes.decrypt(&ct).unwrap(), pt);
    }

    #[test]
    fn body_round_trip_and_transport() {
        let aes = AesKey::generate().unwrap();
        let b64 = aes.to_base64();
        assert_eq!(B64.decode(&b64).unwrap().len(), 32);
        let again = AesKey::from_transport_bytes(&B64.decode(&b64).unwrap()).unwrap();
        assert_eq!(again, aes);
        for body in [&b""[..], b"{}", b"{\"operator\": \"RETRY\"}", &[7u8; 1000]] {
            let wire = aes.encrypt_body(body);
            assert_eq!(aes.decrypt_body(wire.as_bytes()).unwrap(), body);
            let with_nl = format!("{wire}\n");
            assert_eq!(aes.decrypt_body(with_nl.as_bytes()).unwrap(), body);
        }
        assert!(!format!("{aes:?}").contains(&b64));
    }

    #[test]
    fn bad_bodies_map_to_spec_errors() {
        let aes = AesKey::new([1; 16], [2; 16]);
        // Not base64.
        let e = aes.decrypt_body(b"{\"operator\":\"RETRY\"}").unwrap_err();
        assert_eq!(e.err_code(), "Common.Unauthorized");
        assert_eq!(e.code(), 10008);
        // Not a multiple of 16.
        let e = aes
            .decrypt_body(B64.encode([0u8; 20]).as_bytes())
            .unwrap_err();
        assert_eq!(
            e.err_code(),
            "Request.Body.Decrypt.AES.ContentLength.Invalid"
        );
        // Wrong key -> padding check fails (with overwhelming probability for this input).
        let other = AesKey::new([9; 16], [2; 16]);
        let wire = aes.encrypt_body(b"{\"operator\": \"RETRY\"}");
        let e = other.decrypt_body(wire.as_bytes()).unwrap_err();
        assert!(matches!(e, SecureError::BodyDecrypt(_)), "{e:?}");
        assert_eq!(e.http_status(), 401);
        // Bad transport length.
        let e = AesKey::from_transport_bytes(&[0u8; 16]).unwrap_err();
        assert_eq!(e.err_code(), "Request.Body.Decrypt.AES.KeyAndIv.Invalid");
    }
}
