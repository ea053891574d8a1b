//! Running the programs the commands are made of: to their end, failing the
//! command unless they succeed, with the project's tools on `PATH`.

use std::ffi::OsStr;
use std::process::Command;

use todo_tests::services::tools_path;

/// `program` with the project's virtualenv first on `PATH`, where the
/// installers put the Python tools (`sam`, `cargo lambda`, moto...).
pub fn tool(program: impl AsRef<OsStr>) -> Command {
    let mut command = Command::new(program);
    command
        .env("PATH", tools_path())
        .env("SAM_CLI_TELEMETRY", "0")
        .current_dir(todo_tests::root());
    command
}

/// Runs `command` to its end, its output passed through; panics (the
/// command has failed, and says so) unless it succeeds.
pub fn check(command: &mut Command, what: &str) {
    let status = command.status().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(status.success(), "{what} failed ({status})");
}
