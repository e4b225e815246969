//! The `obshell` command line. For now its only command is the foreground server,
//! `obshell server --base-dir DIR [--ip IP] [--port PORT]`; `agent start|stop` (daemon and
//! process guard) and the task commands will be built around it.

pub mod args;
pub mod server;

use std::process::ExitCode;

use clap::Parser;

/// Parses the command line and runs the command.
pub fn main() -> ExitCode {
    let cli = args::Cli::parse();
    match cli.command {
        args::Command::Server(a) => server::run(a),
    }
}
