//! "Deploy seekdb": ours, beyond upstream (whose agent can only take over an instance
//! initialized by hand, spec §3.2). Nodes, in order:
//! 1. [`check`] — options valid, directories absent or empty, ports free, executable found;
//! 2. [`init`] — first start in initialize mode (the daemon is running when it ends);
//! 3. [`wait`] — until the instance accepts SQL, logging seekdb's start stages;
//! 4. [`root_password`] — sets root's password to the one the agent holds;
//! 5. [`take_over`] — gathers what the agent records and hands it over.
//!
//! Rollback stops the process and removes only what the deploy created (recorded by `init`
//! before it launches, so even a failed launch is cleaned up).

pub mod check;
pub mod init;
pub mod root_password;
pub mod take_over;
pub mod wait;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use task::{TaskFailure, TaskRun};

use crate::error::{Result, SeekdbError};
use crate::process::start::InitOptions;
use crate::tasks::names::param;

/// What a deploy is asked to do (context param `deploy`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployOptions {
    /// The new instance's base directory: absent or empty.
    pub base_dir: PathBuf,
    /// Ports, parameters, variables, data/redo dirs, log level.
    #[serde(flatten)]
    pub init: InitOptions,
    /// The seekdb executable; found by [`crate::locate::locate`] when absent.
    #[serde(default)]
    pub executable: Option<PathBuf>,
}

impl DeployOptions {
    pub fn new(base_dir: impl Into<PathBuf>, port: u16, rpc_port: u16) -> DeployOptions {
        DeployOptions {
            base_dir: base_dir.into(),
            init: InitOptions::new(port, rpc_port),
            executable: None,
        }
    }

    /// Checks the options themselves (not the host; that is the check node's job).
    pub fn validate(&self) -> Result<()> {
        check_dir_option(&self.base_dir, "base_dir")?;
        self.init.validate()?;
        for d in [&self.init.data_dir, &self.init.redo_dir]
            .into_iter()
            .flatten()
        {
            check_dir_option(d, "data_dir/redo_dir")?;
        }
        Ok(())
    }

    /// Directories the deploy may create, with whether each must be empty: the base dir, and
    /// the data/redo dirs when given.
    pub(crate) fn dirs(&self) -> Vec<PathBuf> {
        let mut v = vec![self.base_dir.clone()];
        v.extend(self.init.data_dir.iter().cloned());
        v.extend(self.init.redo_dir.iter().cloned());
        v
    }
}

fn check_dir_option(p: &Path, what: &str) -> Result<()> {
    if !p.is_absolute() {
        return Err(SeekdbError::invalid(format!(
            "{what} {} must be an absolute path",
            p.display()
        )));
    }
    if p.parent().is_none() {
        return Err(SeekdbError::invalid(format!("{what} cannot be /")));
    }
    if p.components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(SeekdbError::invalid(format!(
            "{what} {} must not contain '..'",
            p.display()
        )));
    }
    Ok(())
}

/// The deploy options of a run.
pub(crate) fn options(run: &TaskRun) -> std::result::Result<DeployOptions, TaskFailure> {
    Ok(run.get_param(param::DEPLOY)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_round_trip_and_validate() {
        let mut o = DeployOptions::new("/data/sdb", 3000, 3001);
        o.init.parameters.insert("cpu_count".into(), "2".into());
        let v = serde_json::to_value(&o).unwrap();
        assert_eq!(v["port"], 3000);
        assert_eq!(v["rpc_port"], 3001);
        let back: DeployOptions = serde_json::from_value(v).unwrap();
        assert_eq!(back, o);
        o.validate().unwrap();
        for bad in ["rel", "/", "/a/../b"] {
            let mut b = o.clone();
            b.base_dir = bad.into();
            assert!(b.validate().is_err(), "{bad}");
        }
    }
}
