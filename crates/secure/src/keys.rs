//! The agent's RSA key pair and "sectional" (chunked) RSA, spec/security-and-sdk.md §1.1.
//!
//! Why RSA at all: it is what upstream obshell and the Python SDK speak. Every auth header, every
//! stored password and every peer message is RSA PKCS#1 v1.5 (not OAEP) in *chunks*, because a
//! 1024-bit key can only carry 117 bytes per block and the header JSON is longer than that.
//!
//! Chunking rules, and why each side differs:
//! - Encrypting splits the *plaintext* into pieces of at most `L` bytes and encrypts each into
//!   exactly `k` (= modulus bytes) ciphertext bytes. Upstream's server uses `L = k - 11` (the most
//!   PKCS#1 v1.5 allows); the Python and Go SDKs always use `L = 53` (the 512-bit value, valid for
//!   every `k >= 64`). Both are fine, so we expose both ([`PeerPublicKey::encrypt`] and
//!   [`PeerPublicKey::encrypt_with_chunk_len`]).
//! - Decrypting therefore must split on the *ciphertext* side, in `k`-byte blocks with `k` taken
//!   from our private key, and never assume a plaintext chunk size.
//!
//! Formats are upstream's, so keys and ciphertexts can be moved between implementations:
//! public key = base64(PKCS#1 `RSAPublicKey` DER) (not SubjectPublicKeyInfo: Go peers call
//! `x509.ParsePKCS1PublicKey`), private key = base64(PKCS#1 `RSAPrivateKey` DER), ciphertexts =
//! standard padded base64 of the concatenated blocks.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use getrandom::SysRng;
use rsa::pkcs1::der::Decode as _;
use rsa::pkcs1::{DecodeRsaPrivateKey as _, EncodeRsaPrivateKey as _, EncodeRsaPublicKey as _};
use rsa::traits::PublicKeyParts as _;
use rsa::{BoxedUint, PrivateKey, PublicKey};
use zeroize::Zeroizing;

use crate::error::SecureError;

/// Size of the keys we generate. Upstream's `crypto.KEY_SIZE`; the SDKs depend on nothing larger.
pub const KEY_BITS: usize = 1024;

/// Plaintext chunk length the Python and Go SDKs use whatever the key size (64 - 11).
pub const SDK_CHUNK_LEN: usize = 53;

/// PKCS#1 v1.5 encryption padding overhead (0x00 0x02, >= 8 random non-zero bytes, 0x00).
const PKCS1V15_OVERHEAD: usize = 11;

/// Smallest peer key we still encrypt to. Older upstream agents served 512-bit keys and the SDKs
/// accept them, so our client must as well, even though we never *generate* such keys.
const MIN_PEER_KEY_BITS: usize = 512;
/// Largest peer key we accept; bounds the work an untrusted `/api/v1/secret` answer can cause.
const MAX_PEER_KEY_BITS: usize = 8192;

/// File name of the persisted private key inside the caller's directory. Named after upstream's
/// `ocs_info` row (`name='private_key'`); the content is byte-identical to that row's `value`.
pub const KEY_FILE_NAME: &str = "private_key";

/// The agent's own RSA key pair: decrypts auth headers and passwords at rest, and is published
/// (public half only) by `GET /api/v1/secret`.
pub struct AgentKeys {
    private: PrivateKey,
    /// Cached because `/api/v1/secret` is served on every SDK handshake.
    public_b64: String,
}

impl std::fmt::Debug for AgentKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the private half.
        f.debug_struct("AgentKeys")
            .field("bits", &self.bits())
            .field("public_key", &self.public_b64)
            .finish_non_exhaustive()
    }
}

impl AgentKeys {
    /// Generates a fresh [`KEY_BITS`]-bit key pair (exponent 65537) from the OS RNG.
    pub fn generate() -> Result<Self, SecureError> {
        let private = PrivateKey::new(&mut SysRng, KEY_BITS)
            .map_err(|e| SecureError::Crypto(format!("RSA key generation failed: {e}")))?;
        Self::from_private(private)
    }

    /// Parses a base64 PKCS#1 `RSAPrivateKey` DER, the format upstream keeps in sqlite.
    ///
    /// Any size the RSA library can handle is accepted (including 512-bit keys of old
    /// upstream stores); see [`Self::bits`] to decide on an upgrade.
    pub fn from_private_key_base64(b64: &str) -> Result<Self, SecureError> {
        let der = Zeroizing::new(
            B64.decode(b64.trim())
                .map_err(|e| SecureError::InvalidKey(format!("private key base64: {e}")))?,
        );
        let private = PrivateKey::from_pkcs1_der(&der)
            .map_err(|e| SecureError::InvalidKey(format!("private key PKCS#1 DER: {e}")))?;
        Self::from_private(private)
    }

    fn from_private(private: PrivateKey) -> Result<Self, SecureError> {
        let public_der = private
            .to_public_key()
            .to_pkcs1_der()
            .map_err(|e| SecureError::InvalidKey(format!("public key encoding: {e}")))?;
        let public_b64 = B64.encode(public_der.as_bytes());
        Ok(Self {
            private,
            public_b64,
        })
    }

    /// base64(PKCS#1 DER) of the private key, for callers that persist it elsewhere (for
    /// example in sqlite like upstream). Zeroized when dropped.
    pub fn private_key_base64(&self) -> Result<Zeroizing<String>, SecureError> {
        let der = self
            .private
            .to_pkcs1_der()
            .map_err(|e| SecureError::InvalidKey(format!("private key encoding: {e}")))?;
        Ok(Zeroizing::new(B64.encode(der.as_bytes())))
    }

    /// Loads the key persisted in `dir`, or generates and persists a new one if there is none.
    ///
    /// Safe against a concurrent first start of several processes using the same `dir`: the new
    /// key is written to a private temporary file and then hard-linked into place, which fails
    /// if another process won the race, in which case the winner's key is loaded. Everyone thus
    /// ends up with the key that is on disk. The file is created with mode 0600 and the
    /// directory (if missing) with 0700, because the key decrypts every stored password.
    ///
    /// A key of another size than [`KEY_BITS`] is returned as is: replacing it also needs the
    /// stored passwords re-encrypted (see [`crate::reencrypt_password`]), which only the caller
    /// can do; then it calls [`Self::store`].
    pub fn load_or_create(dir: &Path) -> Result<Self, SecureError> {
        if let Some(keys) = Self::load(dir)? {
            return Ok(keys);
        }
        create_private_dir(dir)?;
        let keys = Self::generate()?;
        let path = dir.join(KEY_FILE_NAME);
        let tmp = write_temp_key(dir, &keys)?;
        let linked = fs::hard_link(&tmp, &path);
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => {
                sync_dir(dir);
                Ok(keys)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Self::load(dir)?.ok_or_else(|| SecureError::KeyStore {
                    path: path.clone(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "key file vanished after a concurrent create",
                    ),
                })
            }
            // Some file systems refuse hard links; fall back to an atomic rename. That loses
            // only the race protection, never leaves a half-written file.
            Err(_) => {
                keys.store(dir)?;
                Ok(keys)
            }
        }
    }

    /// Loads the key persisted in `dir`; `Ok(None)` if there is no key file yet.
    pub fn load(dir: &Path) -> Result<Option<Self>, SecureError> {
        let path = dir.join(KEY_FILE_NAME);
        match fs::read_to_string(&path) {
            Ok(text) => {
                let text = Zeroizing::new(text);
                Self::from_private_key_base64(&text).map(Some)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(SecureError::KeyStore { path, source }),
        }
    }

    /// Persists this key into `dir`, atomically replacing any existing key file (temp file,
    /// fsync, rename). Used for the 512 -> 1024-bit upgrade; first starts use
    /// [`Self::load_or_create`].
    pub fn store(&self, dir: &Path) -> Result<(), SecureError> {
        create_private_dir(dir)?;
        let path = dir.join(KEY_FILE_NAME);
        let tmp = write_temp_key(dir, self)?;
        fs::rename(&tmp, &path).map_err(|source| {
            let _ = fs::remove_file(&tmp);
            SecureError::KeyStore {
                path: path.clone(),
                source,
            }
        })?;
        sync_dir(dir);
        Ok(())
    }

    /// Modulus size in bits (1024 for keys we generate; 512 for old upstream stores).
    pub fn bits(&self) -> usize {
        self.private.size() * 8
    }

    /// The public key as served by `GET /api/v1/secret`: base64 of PKCS#1 `RSAPublicKey` DER.
    pub fn public_key_base64(&self) -> &str {
        &self.public_b64
    }

    /// The public half, for encrypting to ourselves (passwords at rest).
    pub fn public_key(&self) -> PeerPublicKey {
        PeerPublicKey {
            key: self.private.to_public_key(),
        }
    }

    /// Decrypts a base64 sectional-RSA ciphertext (k-byte blocks, PKCS#1 v1.5 each).
    ///
    /// Note the RSA library uses *implicit rejection*: a block with bad padding does not fail,
    /// it decrypts to deterministic garbage (so no padding oracle exists). A successful return
    /// therefore proves nothing; callers must validate what they get (the header JSON parse and
    /// the password check do exactly that).
    pub fn decrypt_base64(&self, b64: &str) -> Result<Vec<u8>, SecureError> {
        self.decrypt_base64_detail(b64).map_err(SecureError::Crypto)
    }

    /// Decrypts raw sectional-RSA ciphertext bytes; see [`Self::decrypt_base64`].
    pub fn decrypt(&self, ciphertext: &[u8]) -> Result<Vec<u8>, SecureError> {
        self.decrypt_detail(ciphertext).map_err(SecureError::Crypto)
    }

    /// Like [`Self::decrypt_base64`] with a bare reason string, so each caller can wrap it in
    /// the error its context calls for (a header failure is not a stored-password failure).
    pub(crate) fn decrypt_base64_detail(&self, b64: &str) -> Result<Vec<u8>, String> {
        let ciphertext = B64
            .decode(b64.trim())
            .map_err(|e| format!("base64 decode: {e}"))?;
        self.decrypt_detail(&ciphertext)
    }

    fn decrypt_detail(&self, ciphertext: &[u8]) -> Result<Vec<u8>, String> {
        let k = self.private.size();
        if !ciphertext.len().is_multiple_of(k) {
            return Err(format!(
                "RSA ciphertext length {} is not a multiple of the key size {k}",
                ciphertext.len()
            ));
        }
        let mut plain = Vec::with_capacity(ciphertext.len());
        for block in ciphertext.chunks(k) {
            let part = self
                .private
                .pkcs1v15_decrypt(block)
                .map_err(|e| format!("RSA decrypt: {e}"))?;
            plain.extend_from_slice(&part);
        }
        Ok(plain)
    }
}

/// A peer's (or our own) RSA public key, used to encrypt headers, bodies' key transport and
/// passwords. Accepts 512..=8192-bit moduli because old upstream agents still serve 512 bits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerPublicKey {
    key: PublicKey,
}

impl PeerPublicKey {
    /// Parses the `public_key` string of `GET /api/v1/secret` (base64 PKCS#1 DER).
    pub fn from_base64(b64: &str) -> Result<Self, SecureError> {
        let der = B64
            .decode(b64.trim())
            .map_err(|e| SecureError::InvalidKey(format!("public key base64: {e}")))?;
        // Decode the two integers ourselves: the RSA library's own PKCS#1 decoder refuses
        // moduli under 1024 bits, but the size range is a policy we set here.
        let parsed = rsa::pkcs1::RsaPublicKeyRef::from_der(&der)
            .map_err(|e| SecureError::InvalidKey(format!("public key PKCS#1 DER: {e}")))?;
        let n = BoxedUint::from_be_slice_vartime(parsed.modulus.as_bytes());
        let e = BoxedUint::from_be_slice_vartime(parsed.public_exponent.as_bytes());
        let key = PublicKey::new_with_size_limits(n, e, MIN_PEER_KEY_BITS..=MAX_PEER_KEY_BITS)
            .map_err(|e| SecureError::InvalidKey(format!("public key: {e}")))?;
        Ok(Self { key })
    }

    /// base64(PKCS#1 DER), the same format [`Self::from_base64`] reads.
    pub fn to_base64(&self) -> Result<String, SecureError> {
        let der = self
            .key
            .to_pkcs1_der()
            .map_err(|e| SecureError::InvalidKey(format!("public key encoding: {e}")))?;
        Ok(B64.encode(der.as_bytes()))
    }

    /// Modulus size in bytes (`k`), which is also the size of every ciphertext block.
    pub fn size(&self) -> usize {
        self.key.size()
    }

    /// Sectional-RSA encryption with the largest chunk PKCS#1 v1.5 allows (`k - 11`), as the
    /// upstream server does; returns standard base64.
    pub fn encrypt(&self, plaintext: &[u8]) -> Result<String, SecureError> {
        self.encrypt_with_chunk_len(plaintext, self.size() - PKCS1V15_OVERHEAD)
    }

    /// Sectional-RSA encryption with an explicit plaintext chunk length (for example
    /// [`SDK_CHUNK_LEN`] to produce exactly what the SDKs produce).
    ///
    /// An empty plaintext still yields one block, as upstream does, so "empty password" and
    /// "no value" stay distinguishable in storage.
    pub fn encrypt_with_chunk_len(
        &self,
        plaintext: &[u8],
        chunk_len: usize,
    ) -> Result<String, SecureError> {
        let max = self.size() - PKCS1V15_OVERHEAD;
        if chunk_len == 0 || chunk_len > max {
            return Err(SecureError::Crypto(format!(
                "RSA chunk length {chunk_len} outside 1..={max} for a {}-bit key",
                self.size() * 8
            )));
        }
        let mut out = Vec::with_capacity(plaintext.len().div_ceil(chunk_len).max(1) * self.size());
        let mut encrypt_one = |chunk: &[u8]| -> Result<(), SecureError> {
            let block = self
                .key
                .pkcs1v15_encrypt_with_rng(&mut SysRng, chunk)
                .map_err(|e| SecureError::Crypto(format!("RSA encrypt: {e}")))?;
            out.extend_from_slice(&block);
            Ok(())
        };
        if plaintext.is_empty() {
            encrypt_one(&[])?;
        }
        for chunk in plaintext.chunks(chunk_len) {
            encrypt_one(chunk)?;
        }
        Ok(B64.encode(out))
    }
}

/// Creates `dir` (mode 0700) if it does not exist; an existing directory is left alone.
fn create_private_dir(dir: &Path) -> Result<(), SecureError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|source| SecureError::KeyStore {
        path: dir.to_path_buf(),
        source,
    })
}

/// Writes the key to a fresh, uniquely named 0600 file in `dir` and fsyncs it.
fn write_temp_key(dir: &Path, keys: &AgentKeys) -> Result<PathBuf, SecureError> {
    let mut nonce = [0u8; 8];
    getrandom::fill(&mut nonce).map_err(|e| SecureError::Crypto(format!("system RNG: {e}")))?;
    let tmp = dir.join(format!(
        ".{KEY_FILE_NAME}.{}.{:016x}.tmp",
        std::process::id(),
        u64::from_le_bytes(nonce)
    ));
    let io_err = |source| SecureError::KeyStore {
        path: tmp.clone(),
        source,
    };
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp).map_err(io_err)?;
    let text = keys.private_key_base64()?;
    let written = file
        .write_all(text.as_bytes())
        .and_then(|()| file.sync_all());
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(io_err(e));
    }
    Ok(tmp)
}

/// Best effort: make the new directory entry durable. Failing here is not worth failing a start.
fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::OnceLock;

    /// Key generation is slow in debug builds; share one key across unit tests.
    pub(crate) fn test_keys() -> &'static AgentKeys {
        static KEYS: OnceLock<AgentKeys> = OnceLock::new();
        KEYS.get_or_init(|| AgentKeys::generate().expect("generate"))
    }

    /// A 512-bit PKCS#1 private key as old upstream agents stored it (made with
    /// `openssl genrsa -traditional 512`, test-only).
    pub(crate) const LEGACY_512_PRIVATE_KEY: &str = "MIIBOwIBAAJBAMKZtbV6TnAxUGKqkFIHC3/UsHLzLG1+GoQzmuotOjlB7JjgaEUfMR+3/69Nqg6Bs36RTSBrxHOghE/qezkkCiUCAwEAAQJBAKXZNoH6QMthW+8bCnC+TFCfxdnR4bVXWeX9zTNzZEHSrgv0FbVgFSfPAqMBg1w86f5U14zTQgyghQggpDHjgMECIQDwBM/kmzbtX3vs7bLSoQXt/gFuBv4BV+/u4/YUnInzuQIhAM+OupYxM00hBpL0CibZfn4yjJAVWuI/h3jrVmH/mFfNAiEAoJB3itUS36UawBsbn7A8yUM9LZ/b2IY9ajBx9MPrvXECIFfpDiJ7KE1sxYoMjxgxWqA87MhCI0JcwhZ3JxlO1smpAiBhNJNJsLahfgU8ga/i2VO6jPwidkuxhL36p0wwv/6k5Q==";

    #[test]
    fn generated_key_is_1024_bit_with_pkcs1_public_key() {
        let keys = test_keys();
        assert_eq!(keys.bits(), 1024);
        // 1024-bit PKCS#1 RSAPublicKey DER is 140 bytes -> 188 base64 characters (spec §1.1).
        assert_eq!(keys.public_key_base64().len(), 188);
        // PKCS#1 starts with SEQUENCE { INTEGER n ...}: 30 81 89 02 81 81 00 ...; SPKI would
        // instead carry the rsaEncryption AlgorithmIdentifier first.
        let der = B64.decode(keys.public_key_base64()).unwrap();
        assert_eq!(&der[..6], &[0x30, 0x81, 0x89, 0x02, 0x81, 0x81]);
        let peer = PeerPublicKey::from_base64(keys.public_key_base64()).unwrap();
        assert_eq!(peer.to_base64().unwrap(), keys.public_key_base64());
        assert_eq!(peer, keys.public_key());
    }

    #[test]
    fn private_key_round_trips_through_base64() {
        let keys = test_keys();
        let b64 = keys.private_key_base64().unwrap();
        let again = AgentKeys::from_private_key_base64(&b64).unwrap();
        assert_eq!(again.public_key_base64(), keys.public_key_base64());
        assert!(!format!("{keys:?}").contains(b64.as_str()));
    }

    #[test]
    fn chunked_round_trip_any_chunk_len() {
        let keys = test_keys();
        let peer = keys.public_key();
        let plain: Vec<u8> = (0..=255u8).cycle().take(700).collect();
        for chunk_len in [1, 53, 100, 117] {
            let ct = peer.encrypt_with_chunk_len(&plain, chunk_len).unwrap();
            let raw = B64.decode(&ct).unwrap();
            assert_eq!(raw.len(), plain.len().div_ceil(chunk_len) * 128);
            assert_eq!(keys.decrypt_base64(&ct).unwrap(), plain);
        }
        // k - 11 is the default.
        let ct = peer.encrypt(&plain).unwrap();
        assert_eq!(B64.decode(&ct).unwrap().len(), 700usize.div_ceil(117) * 128);
        assert!(peer.encrypt_with_chunk_len(&plain, 118).is_err());
        assert!(peer.encrypt_with_chunk_len(&plain, 0).is_err());
    }

    #[test]
    fn empty_plaintext_is_one_block() {
        let keys = test_keys();
        let ct = keys.public_key().encrypt(b"").unwrap();
        assert_eq!(B64.decode(&ct).unwrap().len(), 128);
        assert_eq!(keys.decrypt_base64(&ct).unwrap(), b"");
    }

    #[test]
    fn decrypt_rejects_bad_input() {
        let keys = test_keys();
        assert!(matches!(
            keys.decrypt_base64("not base64!"),
            Err(SecureError::Crypto(_))
        ));
        // Not a whole number of blocks.
        assert!(keys.decrypt(&[1u8; 100]).is_err());
        // A block numerically >= n is not a valid RSA representative.
        assert!(keys.decrypt(&[0xffu8; 128]).is_err());
    }

    #[test]
    fn legacy_512_bit_keys_still_work() {
        let keys = AgentKeys::from_private_key_base64(LEGACY_512_PRIVATE_KEY).unwrap();
        assert_eq!(keys.bits(), 512);
        let peer = PeerPublicKey::from_base64(keys.public_key_base64()).unwrap();
        assert_eq!(peer.size(), 64);
        let msg = b"{\"auth\": \"pw\", \"ts\": \"1\", \"uri\": \"/x\", \"keys\": null}";
        let ct = peer.encrypt(msg).unwrap(); // k - 11 = 53 here, like the SDK.
        assert_eq!(keys.decrypt_base64(&ct).unwrap(), msg);
    }

    #[test]
    fn peer_key_rejects_garbage_and_spki() {
        assert!(PeerPublicKey::from_base64("%%%").is_err());
        assert!(PeerPublicKey::from_base64("AAAA").is_err());
        // The SPKI form of a key is not accepted: the wire format is PKCS#1.
        let spki = {
            use rsa::pkcs8::EncodePublicKey as _;
            let der = test_keys()
                .private
                .to_public_key()
                .to_public_key_der()
                .unwrap();
            B64.encode(der.as_bytes())
        };
        assert!(PeerPublicKey::from_base64(&spki).is_err());
    }

    #[test]
    fn load_or_create_persists_and_reloads() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("nested").join("keys");
        assert!(AgentKeys::load(&dir).unwrap().is_none());
        let first = AgentKeys::load_or_create(&dir).unwrap();
        let second = AgentKeys::load_or_create(&dir).unwrap();
        assert_eq!(first.public_key_base64(), second.public_key_base64());
        let on_disk = fs::read_to_string(dir.join(KEY_FILE_NAME)).unwrap();
        assert_eq!(on_disk, first.private_key_base64().unwrap().as_str());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(dir.join(KEY_FILE_NAME))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
            let dmode = fs::metadata(&dir).unwrap().permissions().mode();
            assert_eq!(dmode & 0o777, 0o700);
        }
        // No temp files left behind.
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(KEY_FILE_NAME)]);
    }

    #[test]
    fn concurrent_first_starts_agree_on_one_key() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(4));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let (dir, barrier) = (dir.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    AgentKeys::load_or_create(&dir)
                        .unwrap()
                        .public_key_base64()
                        .to_owned()
                })
            })
            .collect();
        let keys: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let on_disk = AgentKeys::load(&dir).unwrap().unwrap();
        for k in &keys {
            assert_eq!(k, on_disk.public_key_base64());
        }
    }

    #[test]
    fn load_or_create_keeps_legacy_key_and_store_replaces_it() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join(KEY_FILE_NAME), LEGACY_512_PRIVATE_KEY).unwrap();
        let legacy = AgentKeys::load_or_create(tmp.path()).unwrap();
        assert_eq!(legacy.bits(), 512);
        test_keys().store(tmp.path()).unwrap();
        let now = AgentKeys::load(tmp.path()).unwrap().unwrap();
        assert_eq!(now.public_key_base64(), test_keys().public_key_base64());
    }

    #[test]
    fn corrupt_key_file_is_an_error_not_a_silent_new_key() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join(KEY_FILE_NAME), "garbage").unwrap();
        let err = AgentKeys::load_or_create(tmp.path()).unwrap_err();
        assert!(matches!(err, SecureError::InvalidKey(_)), "{err:?}");
        assert_eq!(
            fs::read_to_string(tmp.path().join(KEY_FILE_NAME)).unwrap(),
            "garbage"
        );
    }
}
