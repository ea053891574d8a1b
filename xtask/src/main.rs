//! `cargo xtask <tool>`: the project's developer tools, in the manner of
//! rust-analyzer's xtask (the alias is in `.cargo/config.toml`). Each is a
//! module; the test kit (`todo-tests`) is their library.
//!
//! Each command is listed, with what it does, in [`USAGE`], which
//! `cargo xtask` prints without one.

use std::process::ExitCode;

mod cold_start;
mod dev_smoke;
mod openapi;
mod postgres;
mod test;
mod token;

/// Every command.
const USAGE: &str = "usage: cargo xtask <command>
  token USER [TTL]               a local HS256 token (make token)
  dev-secret                     make dev's own BETTER_AUTH_SECRET (made once)
  openapi                        write clients/openapi.json (make openapi)
  postgres start DATA PORT       make dev's PostgreSQL (made on first use), started
  postgres stop DATA             ... and stopped
  cold-start                     what reading the secrets adds to a cold start
  test [--conformance-only]      make test's phases that need services
  dev-smoke                      make dev's smoke check, as an ordinary user";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((tool, rest)) = args.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::FAILURE;
    };
    match tool.as_str() {
        "token" => token::run(rest),
        "dev-secret" => token::print_dev_secret(),
        "openapi" => openapi::run(rest),
        "postgres" => postgres::run(rest),
        "cold-start" => cold_start::run(),
        "test" => test::run(rest),
        "dev-smoke" => dev_smoke::run(),
        _ => {
            eprintln!("{USAGE}");
            ExitCode::FAILURE
        }
    }
}
