//! `cargo xtask postgres start DATA PORT` and `cargo xtask postgres stop
//! DATA`: `make dev`'s PostgreSQL, with the test kit's code. `start` makes
//! the cluster on first use (its data kept in DATA), starts it on
//! 127.0.0.1:PORT, makes the database `todo` if missing, and leaves it
//! running; `stop` stops it.

use std::path::Path;
use std::process::ExitCode;

use todo_tests::ScratchServer;

pub fn run(args: &[String]) -> ExitCode {
    match args {
        [start, data, port] if start == "start" => {
            let Ok(port) = port.parse() else {
                eprintln!("PORT must be a port number: {port}");
                return ExitCode::FAILURE;
            };
            let server = ScratchServer::kept(Path::new(data), port);
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
            // Left running: `make dev` stops it (`stop`) when it ends.
            std::mem::forget(server);
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
