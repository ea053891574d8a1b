//! The TypeScript client (`clients/typescript`): its types are generated
//! from the committed OpenAPI document (which `docs::` holds to the served
//! one), and it and its Next.js example type-check against them. `make
//! openapi` regenerates both; a stale client fails here.

use todo_tests::root;
use todo_tests::services::npm_ci_once;

#[test]
fn the_typescript_client_is_current_and_type_checks() {
    let client = root().join("clients/typescript");
    npm_ci_once(&client);
    let schema =
        std::env::temp_dir().join(format!("todo-client-schema-{}.d.ts", std::process::id()));
    todo_tests::output_of(
        std::process::Command::new(client.join("node_modules/.bin/openapi-typescript"))
            .arg(root().join(todo_tests::OPENAPI_FILE))
            .arg("--output")
            .arg(&schema)
            .current_dir(&client),
        "openapi-typescript",
    );
    let fresh = std::fs::read_to_string(&schema).unwrap();
    std::fs::remove_file(&schema).unwrap();
    assert!(
        fresh == std::fs::read_to_string(client.join("src/schema.d.ts")).unwrap(),
        "clients/typescript/src/schema.d.ts is stale: run make openapi and commit it"
    );
    todo_tests::output_of(
        std::process::Command::new("npm")
            .arg("--prefix")
            .arg(&client)
            .args(["run", "--silent", "check"]),
        "type-checking the client and its example (npm run check)",
    );
}
