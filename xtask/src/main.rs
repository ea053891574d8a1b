//! `cargo xtask <command>`: the project's developer tools and the test
//! runner, in the manner of rust-analyzer's xtask (the alias is in
//! `.cargo/config.toml`; `make`'s targets call these). Each is a module;
//! the test kit (`todo-tests`) is their library, and `scripts/install.sh`
//! installs what Rust cannot.
//!
//! Each command is listed, with what it does, in [`USAGE`], which
//! `cargo xtask` prints without one.

use std::process::ExitCode;

mod arm64;
mod bench;
mod check;
mod cold_start;
mod command;
mod deploy;
mod deploy_check;
mod dev;
mod install;
mod local;
mod openapi;
mod phases;
mod postgres;
mod summary;
mod test;
mod token;

/// Every command.
const USAGE: &str = "usage: cargo xtask <command>
  test [--conformance-only]      everything but the deployment checks (make test, make conformance)
  test-full                      test, deploy-check and bench --smoke (make test-full: what CI runs)
  ci-summary LOG STATUS          each phase's duration and `N passed, N failed` from a run's output
  check                          cargo fmt --check and clippy (make check)
  deploy-check                   the deployment, checked offline (make deploy-check)
  deploy                         sam build, sam deploy, migrate, the URLs (make deploy [ENV=prod])
  bench [--smoke]                the benchmark (make bench, make bench-smoke)
  cold-start                     what reading the secrets adds to a cold start
  dev                            the whole API locally on one port (make dev)
  token USER [TTL]               a local HS256 token (make token)
  openapi                        write clients/openapi.json (make openapi)
  postgres start DATA PORT       make dev's PostgreSQL (made on first use), started
  postgres stop DATA             ... and stopped";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::FAILURE;
    };
    let flag = |name: &str| rest.iter().any(|arg| arg == name);
    match command.as_str() {
        "test" => {
            let scope = if flag("--conformance-only") {
                test::Scope::ConformanceOnly
            } else {
                test::Scope::Full
            };
            phases::run("test", |phases| {
                test::all(phases, scope);
            })
        }
        "test-full" => phases::run("test-full", |phases| {
            let arm64_build = test::all(phases, test::Scope::ThenDeployCheck);
            deploy_check::all(phases, arm64_build);
            bench::all(phases, true);
        }),
        "ci-summary" => summary::run(rest),
        "check" => phases::run("check", |_| check::all()),
        "deploy" => phases::run("deploy", deploy::all),
        "deploy-check" => phases::run("deploy-check", |phases| deploy_check::all(phases, None)),
        "bench" => phases::run("bench", |phases| bench::all(phases, flag("--smoke"))),
        "cold-start" => cold_start::run(),
        "dev" => phases::run("dev", |_| dev::all()),
        "token" => token::run(rest),
        "openapi" if rest.is_empty() => phases::run("openapi", |_| openapi::all()),
        "postgres" => postgres::run(rest),
        _ => {
            eprintln!("{USAGE}");
            ExitCode::FAILURE
        }
    }
}
