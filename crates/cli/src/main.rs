//! The `obshell` binary: see the `cli` library for the commands.

fn main() -> std::process::ExitCode {
    cli::main()
}
