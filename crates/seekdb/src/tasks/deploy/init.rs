//! `InitSeekdbTask` ("Initialize and start seekdb"): the first start, in initialize mode.
//! It ends when the daemon runs; the next node waits for SQL.
//!
//! Before launching it records what it is about to create (`created_paths`) and, right after,
//! the pid: the context is saved even when the attempt fails, so rollback can kill the process
//! and remove exactly those paths. A directory that existed (empty, as the check demanded)
//! loses only its contents; one the deploy created is removed whole.

use std::path::{Path, PathBuf};
use std::time::Instant;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use task::{Capabilities, TaskContext, TaskFailure, TaskKind, TaskResult, TaskRun};

use crate::error::SeekdbError;
use crate::layout::Layout;
use crate::locate::locate;
use crate::process::pid::find_pid;
use crate::process::start::{initialize, start_existing};
use crate::process::stop::kill_now;
use crate::tasks::common::{timings_additional_data, Attempt, Timer};
use crate::tasks::deploy::{options, DeployOptions};
use crate::tasks::names::{data, NODE_INIT, STRUCT_INIT};
use crate::tasks::start::kill_started;

/// A path the deploy created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedPath {
    pub path: PathBuf,
    /// Remove the directory itself (it did not exist), or only its contents (it existed, empty).
    pub whole: bool,
}

#[derive(Default)]
pub struct InitSeekdbTask;

impl InitSeekdbTask {
    async fn init(
        &self,
        run: &mut TaskRun,
        opts: &DeployOptions,
        layout: &Layout,
        t: &mut Timer,
    ) -> Result<(), SeekdbError> {
        let exe = match run.get_data::<PathBuf>(data::EXECUTABLE) {
            Ok(p) => p,
            Err(_) => locate(opts.executable.as_deref()).await?,
        };
        if layout.is_initialized() {
            // Only a re-run of this node gets here (the check demanded an empty directory).
            if let Some(pid) = find_pid(layout) {
                run.info(format!(
                    "seekdb already initialized and running (pid {pid})"
                ))
                .await;
                run.set_data(data::STARTED_PID, pid);
                run.set_data(data::STARTED_BY_TASK, true);
                return Ok(());
            }
            run.info("seekdb already initialized; starting it").await;
            let t0 = Instant::now();
            let l = start_existing(&exe, layout).await?;
            t.seekdb(t0.elapsed());
            run.set_data(data::STARTED_PID, l.pid);
            run.set_data(data::STARTED_BY_TASK, true);
            return Ok(());
        }
        let created: Vec<CreatedPath> = opts
            .dirs()
            .into_iter()
            .map(|p| CreatedPath {
                whole: !p.exists(),
                path: p,
            })
            .collect();
        run.set_data(data::CREATED_PATHS, &created);
        run.info(format!(
            "initializing seekdb in {}: {} --base-dir {} {}",
            layout.base().display(),
            exe.display(),
            layout.base().display(),
            opts.init.args().join(" ")
        ))
        .await;
        let t0 = Instant::now();
        let launched = initialize(&exe, layout, &opts.init).await?;
        t.seekdb(t0.elapsed());
        run.set_data(data::STARTED_PID, launched.pid);
        run.set_data(data::STARTED_BY_TASK, true);
        run.set_data(data::LOG_OFFSET, launched.log_offset);
        run.info(format!("seekdb launched (pid {})", launched.pid))
            .await;
        Ok(())
    }
}

/// Removes what the deploy created, never anything else.
fn remove_created(created: &[CreatedPath]) -> Vec<String> {
    let mut errors = Vec::new();
    for c in created.iter().rev() {
        let r = if c.whole {
            match std::fs::remove_dir_all(&c.path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                r => r,
            }
        } else {
            remove_contents(&c.path)
        };
        if let Err(e) = r {
            errors.push(format!("{}: {e}", c.path.display()));
        }
    }
    errors
}

fn remove_contents(dir: &Path) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for e in entries {
        let e = e?;
        let p = e.path();
        if e.file_type()?.is_dir() {
            std::fs::remove_dir_all(&p)?;
        } else {
            std::fs::remove_file(&p)?;
        }
    }
    Ok(())
}

#[async_trait]
impl TaskKind for InitSeekdbTask {
    fn struct_name(&self) -> &'static str {
        STRUCT_INIT
    }

    fn name(&self) -> &str {
        NODE_INIT
    }

    /// Cancel, continue, retry and rollback: a re-run adopts or restarts the instance it
    /// initialized, and rollback undoes it completely. Not pass: the later nodes need it.
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            can_pass: false,
            ..Capabilities::ALL
        }
    }

    async fn execute(&self, run: &mut TaskRun) -> TaskResult {
        let opts = options(run)?;
        let layout = Layout::new(&opts.base_dir).map_err(|e| TaskFailure::new(e.to_string()))?;
        let mut a = Attempt::begin(layout);
        let r = self.init(run, &opts, &a.layout, &mut a.timer).await;
        a.end(run, STRUCT_INIT, r).await
    }

    async fn rollback(&self, run: &mut TaskRun) -> TaskResult {
        let opts = options(run)?;
        let layout = Layout::new(&opts.base_dir).map_err(|e| TaskFailure::new(e.to_string()))?;
        kill_started(run, &layout).await?;
        // a process of this (deploy-owned) directory that we did not record, e.g. after an
        // agent crash between launch and the context write
        if let Some(pid) = find_pid(&layout) {
            run.warn(format!(
                "killing unrecorded seekdb pid {pid} of {}",
                layout.base().display()
            ))
            .await;
            kill_now(&layout, pid)
                .await
                .map_err(|e| TaskFailure::new(format!("[{}]: {e}", e.err_code())))?;
        }
        let created: Vec<CreatedPath> = match run.get_data(data::CREATED_PATHS) {
            Ok(c) => c,
            // Not recorded (the attempt was cancelled, or the agent died before saving it).
            // The check node demanded absent-or-empty directories under this DAG's lock, so
            // what is in them now is the deploy's: seekdb's entries of the base dir, and the
            // contents of the data/redo dirs.
            Err(_) => {
                let mut c: Vec<CreatedPath> = layout
                    .created_entries()
                    .into_iter()
                    .map(|path| CreatedPath { path, whole: true })
                    .collect();
                c.extend(
                    opts.init
                        .data_dir
                        .iter()
                        .chain(opts.init.redo_dir.iter())
                        .map(|p| CreatedPath {
                            path: p.clone(),
                            whole: false,
                        }),
                );
                c
            }
        };
        let errors = remove_created(&created);
        for c in created.iter().filter(|c| !c.whole || !c.path.exists()) {
            run.info(format!(
                "removed {}{}",
                c.path.display(),
                if c.whole { "" } else { " (contents only)" }
            ))
            .await;
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(TaskFailure::new(format!(
                "could not remove: {}",
                errors.join("; ")
            )))
        }
    }

    /// A cancelled deploy must not leave a starting seekdb behind; rollback removes the files.
    async fn cancel(&self, run: &mut TaskRun) {
        if let Ok(opts) = options(run) {
            if let Ok(layout) = Layout::new(&opts.base_dir) {
                let _ = kill_started(run, &layout).await;
            }
        }
    }

    fn additional_data(&self, ctx: &TaskContext) -> Option<Map<String, Value>> {
        timings_additional_data(ctx, STRUCT_INIT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_only_what_was_created() {
        let root = tempfile::tempdir().unwrap();
        let kept = root.path().join("kept");
        std::fs::create_dir(&kept).unwrap();
        std::fs::create_dir_all(kept.join("store/x")).unwrap();
        std::fs::write(kept.join("log"), "x").unwrap();
        let made = root.path().join("made");
        std::fs::create_dir_all(made.join("a")).unwrap();
        let sibling = root.path().join("sibling");
        std::fs::write(&sibling, "keep me").unwrap();
        let errors = remove_created(&[
            CreatedPath {
                path: kept.clone(),
                whole: false,
            },
            CreatedPath {
                path: made.clone(),
                whole: true,
            },
            CreatedPath {
                path: root.path().join("never-made"),
                whole: true,
            },
        ]);
        assert!(errors.is_empty(), "{errors:?}");
        assert!(kept.is_dir());
        assert_eq!(std::fs::read_dir(&kept).unwrap().count(), 0);
        assert!(!made.exists());
        assert!(sibling.exists());
    }
}
