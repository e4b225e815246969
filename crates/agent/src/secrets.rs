//! Secrets at rest (spec security-and-sdk §1.1, §1.10): the agent's RSA private key lives in
//! `ocs_info.private_key` (base64 PKCS#1 DER, upstream's format, so an upstream `.meta` keeps
//! its key), and the agent password in `ocs_info.agentRootPwd`, RSA-encrypted with that key.

use secure::AgentKeys;
use zeroize::Zeroizing;

use crate::error::AgentError;
use crate::meta::{keys, MetaDb};

/// Restores the agent key from `ocs_info`, or generates and stores one on the first start.
pub async fn load_or_create_keys(meta: &MetaDb) -> Result<AgentKeys, AgentError> {
    if let Some(stored) = meta.get(keys::PRIVATE_KEY).await? {
        let stored = Zeroizing::new(stored);
        let keys = AgentKeys::from_private_key_base64(&stored)?;
        if keys.bits() != secure::KEY_BITS {
            // Upstream replaces old 512-bit keys (re-encrypting stored passwords); we keep
            // serving with them until that migration exists, which clients accept.
            tracing::warn!(bits = keys.bits(), "agent key is not 1024 bits");
        }
        return Ok(keys);
    }
    let keys = AgentKeys::generate()?;
    let encoded = keys.private_key_base64()?;
    meta.set(keys::PRIVATE_KEY, &encoded).await?;
    tracing::info!("generated a new agent key");
    Ok(keys)
}

/// The agent password stored in `ocs_info`, decrypted; `None` when never set.
pub async fn load_agent_password(
    meta: &MetaDb,
    agent_keys: &AgentKeys,
) -> Result<Option<Zeroizing<String>>, AgentError> {
    match meta.get(keys::AGENT_PASSWORD).await? {
        None => Ok(None),
        Some(stored) if stored.is_empty() => Ok(None),
        Some(stored) => Ok(Some(Zeroizing::new(secure::decrypt_password(
            agent_keys, &stored,
        )?))),
    }
}

/// Encrypts and stores a new agent password.
pub async fn store_agent_password(
    meta: &MetaDb,
    agent_keys: &AgentKeys,
    password: &str,
) -> Result<(), AgentError> {
    let encrypted = secure::encrypt_password(agent_keys, password)?;
    meta.set(keys::AGENT_PASSWORD, &encrypted).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn key_and_password_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".meta");
        let meta = MetaDb::open(&path).await.unwrap();
        let k1 = load_or_create_keys(&meta).await.unwrap();
        assert!(load_agent_password(&meta, &k1).await.unwrap().is_none());
        store_agent_password(&meta, &k1, "s3cret").await.unwrap();
        let stored = meta.get(keys::AGENT_PASSWORD).await.unwrap().unwrap();
        assert!(!stored.contains("s3cret"));
        meta.close().await;

        let meta = MetaDb::open(&path).await.unwrap();
        let k2 = load_or_create_keys(&meta).await.unwrap();
        assert_eq!(k1.public_key_base64(), k2.public_key_base64());
        let pwd = load_agent_password(&meta, &k2).await.unwrap().unwrap();
        assert_eq!(pwd.as_str(), "s3cret");
    }
}
