//! What the `/api/v1/seekdb` routes need from the agent that manages a seekdb instance,
//! implemented by the agent crate (which keeps the root password encrypted in `.meta`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use seekdb::tasks::SeekdbHooks;

use crate::error::ApiResult;

#[async_trait]
pub trait SeekdbService: Send + Sync + 'static {
    /// The hooks the seekdb task kinds were registered with (plans are built with them).
    fn hooks(&self) -> Arc<dyn SeekdbHooks>;

    /// The base directory of the instance this agent manages, once deployed or taken over.
    fn base_dir(&self) -> Option<PathBuf>;

    /// The root password of the managed instance (empty when none is known).
    async fn root_password(&self) -> String;

    /// Records (encrypted) the root password a deploy into `base_dir` will set, before the
    /// deploy DAG is created; its nodes read it back through the hooks.
    async fn prepare_deploy(&self, base_dir: &Path, root_password: &str) -> ApiResult<()>;

    /// Records the root password a take-over (or an emergency start) of the existing instance
    /// in `base_dir` logs in with: `root_password` when given, else whatever the agent knows
    /// (its environment, its stored password). Defaults to `prepare_deploy` with the given
    /// password (empty when none).
    async fn prepare_takeover(
        &self,
        base_dir: &Path,
        root_password: Option<&str>,
    ) -> ApiResult<()> {
        self.prepare_deploy(base_dir, root_password.unwrap_or_default())
            .await
    }
}
