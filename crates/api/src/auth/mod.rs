//! Authentication: the pipeline every request passes (header and body decryption) and the
//! Verify step of protected routes (passwords by identity, unix-socket uid check).

pub mod peer;
pub mod pipeline;
pub mod verify;
