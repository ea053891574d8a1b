//! `cargo xtask openapi` (`make openapi`): writes the OpenAPI document,
//! exactly as the docs function serves it, to `clients/openapi.json` (the
//! TypeScript client is generated from that file). `--check` writes
//! nothing and fails while the committed file is stale (as a test does).

use std::process::ExitCode;

use todo_shared::web::handlers::docs::served_json;
use todo_shared::web::openapi::document_json;

pub fn run(args: &[String]) -> ExitCode {
    let path = todo_tests::root().join(todo_tests::OPENAPI_FILE);
    let served = served_json(&document_json());
    match args {
        [] => match std::fs::write(&path, served) {
            Ok(()) => {
                println!("wrote {}", path.display());
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("{}: {error}", path.display());
                ExitCode::FAILURE
            }
        },
        [check] if check == "--check" => {
            if std::fs::read_to_string(&path).is_ok_and(|committed| committed == served) {
                ExitCode::SUCCESS
            } else {
                eprintln!(
                    "{} is stale: run `make openapi` and commit it",
                    path.display()
                );
                ExitCode::FAILURE
            }
        }
        _ => {
            eprintln!("usage: cargo xtask openapi [--check]");
            ExitCode::FAILURE
        }
    }
}
