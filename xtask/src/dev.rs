//! `cargo xtask dev` (`make dev`): the whole API locally on one port, as
//! the API Gateway URL serves it.
//!
//! Uses `DATABASE_URL` when set (in the environment or `.env`); otherwise
//! starts a project-local PostgreSQL whose data lives in `.local/pgdata`
//! (`LOCAL_PG_DATA`, on `LOCAL_PG_PORT`), so tasks survive a restart.
//! Applies the migrations as in AWS (as the owner; the API serves as the
//! restricted role they make), then runs `cargo lambda watch` with the
//! router in Cargo.toml, on loopback unless `DEV_ADDRESS` says otherwise:
//! cargo lambda's default, `::`, would serve the API and its runtime
//! emulator (`/.rt`, which carries every invocation, tokens included) to
//! the whole network. Ctrl-C stops everything it started.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use todo_tests::root;

use crate::command::{check, tool};
use crate::install::install;
use crate::local::{Settings, dev_secret};
use crate::postgres;

pub fn all() {
    let settings = Settings::read();
    let mut env = settings.for_children();
    let port = settings.get("PORT").unwrap_or_else(|| "9000".into());
    if settings.get("DATABASE_URL").is_none() {
        let pg_port = settings
            .get("LOCAL_PG_PORT")
            .unwrap_or_else(|| "54329".into());
        let pg_port: u16 = pg_port
            .parse()
            .unwrap_or_else(|_| panic!("LOCAL_PG_PORT must be a port number: {pg_port}"));
        let data = settings
            .get("LOCAL_PG_DATA")
            .map_or_else(|| root().join(".local/pgdata"), PathBuf::from);
        postgres::start(&data, pg_port);
        postgres::stop_when_this_process_ends(&data);
        let url = |role: &str| format!("postgres://{role}@127.0.0.1:{pg_port}/todo");
        env.push(("MIGRATE_DATABASE_URL".into(), url("postgres")));
        env.push(("DATABASE_URL".into(), url("todo_api")));
        println!(
            "Local PostgreSQL: {} (data in {})",
            url("todo_api"),
            data.display()
        );
    }
    // A local secret, so `make token` works even next to a configured Better Auth.
    if settings.get("BETTER_AUTH_SECRET").is_none() {
        let secret = dev_secret().unwrap_or_else(|e| panic!("make dev's secret: {e}"));
        env.push(("BETTER_AUTH_SECRET".into(), secret));
    }
    check(
        Command::new("cargo")
            .args(["run", "--quiet", "-p", "migrate"])
            .envs(env.iter().map(|(name, value)| (name, value)))
            .current_dir(root()),
        "migrate",
    );
    install(&["tools", "cargo-lambda"]);

    println!(
        "
  Todo API on http://localhost:{port}  (GET /health, /api/tasks, /api/tasks/{{id}}, /api/tasks/{{id}}/complete)
  A token:     TOKEN=$(make -s token USER=alice)
  Try it:      curl -H \"Authorization: Bearer $TOKEN\" http://localhost:{port}/api/tasks
"
    );
    let address = settings
        .get("DEV_ADDRESS")
        .unwrap_or_else(|| "127.0.0.1".into());
    // Ctrl-C reaches the whole group: the watch server stops on it, and this
    // waits for it to end instead of ending at once. make waits for this
    // process; a child that dies of the very signal make is handling can be
    // reaped twice, and make then stops with "wait: No child processes" and
    // status 2 (1 Ctrl-C in 5 here). The local PostgreSQL's watchdog stops
    // the server after this ends.
    let interrupted = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGINT, interrupted)
        .expect("a handler for Ctrl-C");
    let _ = tool("cargo")
        .args([
            "lambda",
            "watch",
            "--invoke-address",
            &address,
            "--invoke-port",
            &port,
        ])
        .envs(env.iter().map(|(name, value)| (name, value)))
        .status();
}
