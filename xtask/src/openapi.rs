//! `cargo xtask openapi` (`make openapi`): writes the OpenAPI document,
//! exactly as the docs function serves it, to `clients/openapi.json`, then
//! regenerates the TypeScript client's types from it and type-checks the
//! client and its example. Commit both files: the suites fail while either
//! is stale (`docs::`, `client::`).

use std::process::Command;

use todo_shared::web::handlers::docs::served_json;
use todo_shared::web::openapi::document_json;
use todo_tests::root;
use todo_tests::services::npm_ci_once;

use crate::command::check;

pub fn all() {
    let path = root().join(todo_tests::OPENAPI_FILE);
    std::fs::write(&path, served_json(&document_json()))
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    println!("wrote {}", path.display());
    let client = root().join("clients/typescript");
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
    println!(
        "clients/typescript/src/schema.d.ts regenerated; the client and its example type-check"
    );
}
