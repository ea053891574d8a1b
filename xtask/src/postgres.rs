//! `make dev`'s PostgreSQL, with the test kit's code: made on first use
//! (its data kept in a folder of the developer's), started on loopback,
//! the database `todo` made if missing; stopped when `make dev` ends.
//! `cargo xtask postgres start DATA PORT` and `cargo xtask postgres stop
//! DATA` do each by hand.

use std::path::Path;
use std::process::ExitCode;

use todo_tests::ScratchServer;

pub fn run(args: &[String]) -> ExitCode {
    match args {
        [start_, data, port] if start_ == "start" => {
            let Ok(port) = port.parse() else {
                eprintln!("PORT must be a port number: {port}");
                return ExitCode::FAILURE;
            };
            start(Path::new(data), port);
            ExitCode::SUCCESS
        }
        [stop, data] if stop == "stop" => {
            ScratchServer::stop_kept(Path::new(data));
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("usage: cargo xtask postgres start DATA PORT | postgres stop DATA");
            ExitCode::FAILURE
        }
    }
}

/// Starts the server whose data is in `data` (made on first use) on
/// 127.0.0.1:`port`, with a database `todo`, and leaves it running.
pub fn start(data: &Path, port: u16) {
    let server = ScratchServer::kept(data, port);
    let owner = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    todo_tests::runtime().block_on(async {
        let client = todo_tests::pg_at(&owner).await;
        let rows = client
            .query("SELECT 1 FROM pg_database WHERE datname = 'todo'", &[])
            .await
            .expect("the databases");
        if rows.is_empty() {
            client
                .batch_execute("CREATE DATABASE todo")
                .await
                .expect("CREATE DATABASE todo");
        }
    });
    // Left running: stopped by `stop`, or by the watchdog below.
    std::mem::forget(server);
}

/// Stops the server in `data` once this process has ended, however it
/// ends, and before its process group is gone (`make dev`'s smoke check
/// waits for the group).
pub fn stop_when_this_process_ends(data: &Path) {
    let xtask = std::env::current_exe().expect("this program");
    todo_tests::services::stop_when_this_group_ends(&format!(
        "{} postgres stop {}; echo 'Stopped the local PostgreSQL.' >&2",
        quoted(&xtask),
        quoted(data)
    ));
}

/// `path` as one word for `sh`, whatever it holds.
fn quoted(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}
