//! `make openapi`: writes the OpenAPI document, exactly as the docs function
//! serves it, to `clients/openapi.json` (the TypeScript client is generated
//! from that file). A test fails while the committed file is stale.

use todo_shared::handlers::docs::served_json;
use todo_shared::openapi::document_json;

fn main() -> std::io::Result<()> {
    let path = todo_tests::root().join(todo_tests::OPENAPI_FILE);
    std::fs::write(&path, served_json(&document_json()))?;
    println!("wrote {}", path.display());
    Ok(())
}
