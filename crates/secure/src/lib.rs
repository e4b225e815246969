//! Hybrid encryption and authentication of obshell-rs, wire-compatible with upstream obshell and
//! the Python SDK `obshell==0.0.9` (spec/security-and-sdk.md §1 and §3).
//!
//! The protocol in one paragraph: the agent owns an RSA-1024 key pair ([`AgentKeys`]) and
//! publishes the public half at `GET /api/v1/secret`. A client picks a random AES-128 key and IV
//! per request ([`AesKey`]), encrypts the body with AES-CBC/PKCS#7 as base64 text, and sends an
//! auth header ([`AuthHeader`]: password, expiry, request URI, the AES key) RSA-encrypted in
//! PKCS#1 v1.5 chunks. The server decodes it ([`decode_header`]), checks URI, expiry and
//! password ([`AuthHeader::check_uri`], [`AuthHeader::verify_password`], ...), then decrypts the
//! body ([`AuthHeader::decrypt_body`]). Stored passwords use the same RSA key
//! ([`encrypt_password`]). Every failure is a [`SecureError`] that knows its `errCode`, HTTP
//! status and legacy numeric code.
//!
//! This crate is pure: no HTTP, no database, no clock except [`now_unix`]. The `api` crate
//! sequences the checks per route and identity; the `client` crate builds headers.
//!
//! # Crate choices
//!
//! - **RSA: RustCrypto `rsa` 0.10** (stable release), with the opt-in `pkcs1v15` feature. The
//!   protocol fixes PKCS#1 v1.5 encryption, which is exactly where the Marvin timing attack
//!   (RUSTSEC-2023-0071) hit `rsa` <= 0.9. 0.10 replaced the variable-time bignum library with
//!   constant-time `crypto-bigint`, blinds private-key operations with the OS RNG by default, and
//!   implements PKCS#1 v1.5 *implicit rejection* (bad padding yields deterministic garbage
//!   instead of an error, removing the padding oracle). We considered OpenSSL / aws-lc bindings
//!   (also constant-time, with implicit rejection in OpenSSL >= 3.2) but they bring a C
//!   toolchain or system library into every build of the agent and the CLI for a few hundred
//!   RSA operations per second at most; with a constant-time pure-Rust release available, pure
//!   Rust wins on build simplicity and static binaries. Consequence of implicit rejection:
//!   "RSA decrypt succeeded" proves nothing, so every caller validates the plaintext (the header
//!   must parse as JSON and carry the right password). `rsa` 0.10 refuses to decode or generate
//!   keys under 1024 bits; we still *decode* 512-bit public keys of old upstream agents
//!   ([`PeerPublicKey::from_base64`]) and load 512-bit private keys from old stores, as the spec
//!   asks, but only ever generate 1024-bit keys. MSRV note: `rsa` 0.10 needs Rust 1.87.
//! - **AES: `aes` 0.9 + `cbc` 0.2** (RustCrypto, constant-time bitsliced/AES-NI backends).
//! - **Randomness: `getrandom` 0.4** (`SysRng`) directly: the OS RNG for keys, IVs and RSA
//!   padding, no userspace PRNG to seed or fork-protect.
//! - **Comparisons: `subtle`** over SHA-256 digests (see [`passwords_equal`]); SHA-256 comes
//!   from `rsa`'s re-export of `sha2` so the digest version always matches.
//! - **`zeroize`** for AES keys, the private key's encoding and decrypted stored passwords.

mod body;
mod error;
mod header;
mod keys;
mod password;

pub use body::AesKey;
pub use error::{SecureError, CODE_HEADER_DECRYPT, CODE_UNAUTHORIZED};
pub use header::{
    decode_header, encode_header, encode_header_with, now_unix, AuthHeader, ForwardAgent,
    ForwardType, PasswordType, AGENT_HEADER, OCEANBASE_HEADER,
};
pub use keys::{AgentKeys, PeerPublicKey, KEY_BITS, KEY_FILE_NAME, SDK_CHUNK_LEN};
pub use password::{decrypt_password, encrypt_password, passwords_equal, reencrypt_password};
