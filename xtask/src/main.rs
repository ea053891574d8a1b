//! `cargo xtask <tool>`: the project's developer tools, in the manner of
//! rust-analyzer's xtask (the alias is in `.cargo/config.toml`). Each is a
//! module; the test kit (`todo-tests`) is their library.
//!
//! - `token USER [TTL]`: a local HS256 token (`make token`).
//! - `openapi [--check]`: write `clients/openapi.json` (`make openapi`), or
//!   fail when the committed one is stale.
//! - `local-api HOST:PORT`: the handlers behind a plain local HTTP server.
//! - `postgres start DATA PORT`, `postgres stop DATA`: `make dev`'s
//!   PostgreSQL.
//! - `cold-start`: what reading the secrets adds to a cold start
//!   (`make bench-cold-start`).
//! - `test [--conformance-only]`: the phases of `make test` that need
//!   services (`scripts/test.sh` installs and builds first).

use std::process::ExitCode;

mod cold_start;
mod local_api;
mod openapi;
mod postgres;
mod test;
mod token;

const USAGE: &str =
    "usage: cargo xtask <token USER [TTL] | openapi [--check] | local-api HOST:PORT | cold-start>";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((tool, rest)) = args.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::FAILURE;
    };
    match tool.as_str() {
        "token" => token::run(rest),
        "openapi" => openapi::run(rest),
        "local-api" => local_api::run(rest),
        "postgres" => postgres::run(rest),
        "cold-start" => cold_start::run(),
        "test" => test::run(rest),
        _ => {
            eprintln!("{USAGE}");
            ExitCode::FAILURE
        }
    }
}
