//! Versions and platform names the agent reports.

/// The obshell version this agent is wire-compatible with, as `VERSION-RELEASE`. Clients gate
/// features on it: the Python SDK needs at least 4.2.4.0 to stay on its modern auth and
/// password paths (spec security-and-sdk §3.2), so we report upstream's current release line.
pub const OBSHELL_VERSION: &str = "4.5.0.0-0";

/// `os` of `ocs_info` / `all_agent`, as Go's `runtime.GOOS`.
pub fn os() -> &'static str {
    std::env::consts::OS
}

/// `architecture`: Go's amd64/arm64 are reported as x86_64/aarch64, which is what Rust's
/// target names already are.
pub fn architecture() -> &'static str {
    std::env::consts::ARCH
}
