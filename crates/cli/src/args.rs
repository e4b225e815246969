//! Command-line arguments (clap derive). Every command's help ends with examples.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::task_view::Format;

const ABOUT: &str =
    "obshell-rs: the agent that runs database operations as durable, steerable DAG tasks";

const EXAMPLES: &str = "Examples:
  obshell agent start --base-dir /data/obshell          start the agent of that home
  obshell task show                                      list unfinished tasks
  obshell task show -i 22130706433028869 -d              one task with nodes, sub-tasks, logs
  obshell task watch -i 22130706433028869                follow a task live
  obshell task retry -i 22130706433028869 -y             retry a failed task

The agent home is --base-dir, else $OBSHELL_BASE_DIR, else the current directory.";

#[derive(Debug, Parser)]
#[command(name = "obshell", version, about = ABOUT, after_help = EXAMPLES)]
pub struct Cli {
    /// The agent home (holds .meta, run/, log_obshell/).
    #[arg(
        long = "base-dir",
        value_name = "DIR",
        global = true,
        env = "OBSHELL_BASE_DIR"
    )]
    pub base_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// `--base-dir`, `$OBSHELL_BASE_DIR`, or the current directory.
    pub fn home_dir(&self) -> PathBuf {
        self.base_dir
            .clone()
            .or_else(|| std::env::var_os("OBSHELL_INTERNAL_BASE_DIR").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("."))
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start, stop or inspect the agent of a home.
    #[command(subcommand, after_help = AGENT_EXAMPLES)]
    Agent(AgentCommand),
    /// Inspect and steer tasks (DAGs): show, watch, retry, rollback, cancel, pass.
    #[command(subcommand, alias = "utilities", after_help = TASK_EXAMPLES)]
    Task(TaskCommand),
    /// Deploy and manage a seekdb instance: deploy, takeover, start, stop, restart, show.
    #[command(subcommand, after_help = crate::seekdb_cmd::SEEKDB_EXAMPLES)]
    Seekdb(crate::seekdb_cmd::SeekdbCommand),
    /// Print the version, commit and build date.
    Version,
    /// Run the agent server in the foreground (used by the daemon).
    #[command(hide = true)]
    Server(ServerArgs),
    /// Run the daemon that guards the server (used by `agent start`).
    #[command(hide = true)]
    Daemon(ServerArgs),
}

const AGENT_EXAMPLES: &str = "Examples:
  obshell agent start --base-dir /data/obshell --port 2886
  obshell agent status --base-dir /data/obshell
  obshell agent restart --base-dir /data/obshell
  obshell agent stop --base-dir /data/obshell      (never stops the database)";

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Start the agent (a daemon that runs and guards the server) and wait until it answers.
    #[command(after_help = AGENT_EXAMPLES)]
    Start(ListenArgs),
    /// Stop the agent's daemon and server; the database keeps running.
    Stop,
    /// Stop, then start the agent.
    Restart(ListenArgs),
    /// Show whether the agent runs, its pids, identity and state.
    Status,
}

#[derive(Debug, Clone, Args)]
pub struct ListenArgs {
    /// Address the HTTP API listens on (IPv4 or IPv6; 0.0.0.0 or :: for all).
    #[arg(long, default_value = "0.0.0.0")]
    pub ip: IpAddr,
    /// TCP port of the HTTP API.
    #[arg(long, default_value_t = 2886)]
    pub port: u16,
}

const TASK_EXAMPLES: &str = "Examples:
  obshell task show                                    unfinished tasks (YAML)
  obshell task show -i 22130706433028869 -d --format table
  obshell task watch -i 22130706433028869
  obshell task rollback -i 22130706433028869 -y
  obshell task show --host 10.0.0.5 --port 2886 --password '***'   a remote agent over TCP

Locally the CLI talks to <home>/run/obshell.sock (no password). With --host it uses TCP and
the encrypted password header, as the obshell SDK does.";

#[derive(Debug, Subcommand)]
pub enum TaskCommand {
    /// Show one task (-i) or all unfinished tasks.
    Show(ShowArgs),
    /// Follow a task live until it finishes; exits non-zero if it fails.
    Watch(IdArgs),
    /// Retry a failed task: roll back the failed sub-tasks, run them again, continue.
    #[command(alias = "rerun")]
    Retry(OperateArgs),
    /// Roll back a failed task, node by node in reverse.
    Rollback(OperateArgs),
    /// Cancel a running task; running sub-tasks are stopped.
    #[command(alias = "stop")]
    Cancel(OperateArgs),
    /// Mark a failed task as passed (skips the failed and remaining nodes).
    #[command(alias = "skip")]
    Pass(OperateArgs),
}

#[derive(Debug, Clone, Args)]
pub struct Remote {
    /// Talk to the agent at this host over TCP instead of the local unix socket.
    #[arg(long, global = true)]
    pub host: Option<String>,
    /// TCP port of the agent given by --host.
    #[arg(long, global = true, default_value_t = 2886)]
    pub port: u16,
    /// Password for --host (the root password; empty for an agent without one).
    #[arg(long, global = true, env = "OBSHELL_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// Print every API call.
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Task (DAG) id.
    #[arg(short, long)]
    pub id: Option<String>,
    /// Include nodes, sub-tasks and their logs.
    #[arg(short = 'd', long = "show_detail", alias = "detail")]
    pub detail: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Yaml)]
    pub format: Format,
    #[command(flatten)]
    pub remote: Remote,
}

#[derive(Debug, Args)]
pub struct IdArgs {
    /// Task (DAG) id.
    #[arg(short, long)]
    pub id: String,
    #[command(flatten)]
    pub remote: Remote,
}

#[derive(Debug, Args)]
pub struct OperateArgs {
    /// Task (DAG) id.
    #[arg(short, long)]
    pub id: String,
    /// Do not ask for confirmation.
    #[arg(short, long)]
    pub yes: bool,
    #[command(flatten)]
    pub remote: Remote,
}

#[derive(Debug, Clone, Args)]
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
    /// The seekdb executable whose version /api/v1/info reports (default: PATH, then the
    /// pylibseekdb wheel of the Python in $OBSHELL_PYTHON or on PATH).
    #[arg(long = "seekdb-bin", value_name = "PATH", env = "OBSHELL_SEEKDB_BIN")]
    pub seekdb_bin: Option<PathBuf>,
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
        let Command::Server(a) = cli.command else {
            panic!("not server")
        };
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
        let Command::Server(a) = cli.command else {
            panic!("not server")
        };
        assert!(a.ip.is_ipv6());
    }

    #[test]
    fn task_aliases_and_flags() {
        let cli = Cli::parse_from(["obshell", "task", "rerun", "-i", "21", "-y"]);
        assert!(
            matches!(cli.command, Command::Task(TaskCommand::Retry(ref a)) if a.yes && a.id == "21")
        );
        let cli = Cli::parse_from(["obshell", "task", "stop", "-i", "21"]);
        assert!(matches!(cli.command, Command::Task(TaskCommand::Cancel(_))));
        let cli = Cli::parse_from(["obshell", "task", "skip", "-i", "21"]);
        assert!(matches!(cli.command, Command::Task(TaskCommand::Pass(_))));
        let cli = Cli::parse_from(["obshell", "utilities", "show", "-d", "--format", "json"]);
        assert!(
            matches!(cli.command, Command::Task(TaskCommand::Show(ref a)) if a.detail && a.format == Format::Json)
        );
    }
}
