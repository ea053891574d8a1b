//! `cargo xtask openapi` (`make openapi`): writes the OpenAPI document,
//! exactly as the docs function serves it, to `clients/openapi.json`, then
//! regenerates the TypeScript client's types from it and type-checks the
//! client and its example. Commit both files: the suites fail while either
//! is stale (`docs::`, `client::`).

use std::process::{Command, ExitCode};

use todo_shared::web::handlers::docs::served_json;
use todo_shared::web::openapi::document_json;
use todo_tests::root;
use todo_tests::services::npm_ci_once;

use crate::command::check;

pub fn run(args: &[String]) -> ExitCode {
    if !args.is_empty() {
        eprintln!("usage: cargo xtask openapi");
        return ExitCode::FAILURE;
    }
    let path = root().join(todo_tests::OPENAPI_FILE);
    if let Err(error) = std::fs::write(&path, served_json(&document_json())) {
        eprintln!("{}: {error}", path.display());
        return ExitCode::FAILURE;
    }
    println!("wrote {}", path.display());
    let client = root().join("clients/typescript");
    let outcome = std::panic::catch_unwind(|| {
        npm_ci_once(&client);
        for script in ["generate", "check"] {
            check(
                Command::new("npm")
                    .arg("--prefix")
                    .arg(&client)
                    .args(["run", "--silent", script]),
                &format!("npm run {script} (clients/typescript)"),
            );
        }
    });
    match outcome {
        Ok(()) => {
            println!(
                "clients/typescript/src/schema.d.ts regenerated; the client and its example type-check"
            );
            ExitCode::SUCCESS
        }
        // The panic has said what failed.
        Err(_) => ExitCode::FAILURE,
    }
}
