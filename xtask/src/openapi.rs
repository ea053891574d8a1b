//! `cargo xtask openapi` (`make openapi`): writes the OpenAPI document,
//! exactly as the docs function serves it, to `clients/openapi.json` (the
//! TypeScript client is generated from that file). The suite fails while
//! the committed file is stale (`docs::`).

use std::process::ExitCode;

use todo_shared::web::handlers::docs::served_json;
use todo_shared::web::openapi::document_json;

pub fn run(args: &[String]) -> ExitCode {
    if !args.is_empty() {
        eprintln!("usage: cargo xtask openapi");
        return ExitCode::FAILURE;
    }
    let path = todo_tests::root().join(todo_tests::OPENAPI_FILE);
    match std::fs::write(&path, served_json(&document_json())) {
        Ok(()) => {
            println!("wrote {}", path.display());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{}: {error}", path.display());
            ExitCode::FAILURE
        }
    }
}
