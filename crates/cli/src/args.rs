//! Command-line arguments (clap derive).

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "obshell",
    version,
    about = "obshell-rs: the database host agent"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the agent server in the foreground (stops on SIGTERM or SIGINT).
    Server(ServerArgs),
}

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// The agent home: holds .meta, run/obshell.sock and log_obshell/. Must exist.
    #[arg(long = "base-dir", value_name = "DIR")]
    pub base_dir: PathBuf,
    /// Address to listen on (IPv4 or IPv6); 0.0.0.0 or :: listens everywhere.
    #[arg(long, default_value = "0.0.0.0")]
    pub ip: IpAddr,
    /// TCP port of the HTTP API.
    #[arg(long, default_value_t = 2886)]
    pub port: u16,
    /// Interval of the engine's safety sweep, which also picks up DAGs written into .meta by
    /// other processes.
    #[arg(long = "sweep-interval-ms", default_value_t = 5000, hide = true)]
    pub sweep_interval_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn server_defaults_and_ipv6() {
        let cli = Cli::parse_from(["obshell", "server", "--base-dir", "/tmp/x"]);
        let Command::Server(a) = cli.command;
        assert_eq!((a.ip.to_string().as_str(), a.port), ("0.0.0.0", 2886));
        let cli = Cli::parse_from([
            "obshell",
            "server",
            "--base-dir",
            "d",
            "--ip",
            "::1",
            "--port",
            "1",
        ]);
        let Command::Server(a) = cli.command;
        assert!(a.ip.is_ipv6());
    }
}
