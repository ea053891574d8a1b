//! The repository's statement of the HTTP contract (`docs/api.md`) and the
//! OpenAPI document generated from the code (`clients/openapi.json`) name
//! the same routes, status codes and error codes, so neither drifts.

use std::collections::BTreeSet;

use serde_json::Value;
use todo_tests::{OPENAPI_FILE, root};

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The rows of the Markdown table under `## heading` in `text`, each split
/// into its cells.
fn table(text: &str, heading: &str) -> Vec<Vec<String>> {
    let section = text
        .split("\n## ")
        .find(|s| s.starts_with(heading))
        .unwrap_or_else(|| panic!("no section {heading:?}"));
    section
        .lines()
        .filter(|line| line.starts_with('|') && !line.starts_with("|---"))
        .skip(1) // the header
        .map(|line| {
            line.trim_matches('|')
                .split(" | ")
                .map(|cell| cell.trim().to_owned())
                .collect()
        })
        .collect()
}

/// Every `` `code` `` span of a Markdown text.
fn code_spans(markdown: &str) -> impl Iterator<Item = &str> {
    markdown.split('`').skip(1).step_by(2)
}

fn document() -> Value {
    serde_json::from_str(&read(OPENAPI_FILE)).expect("the OpenAPI document")
}

#[test]
fn the_contract_and_the_openapi_document_name_the_same_routes() {
    let documented: BTreeSet<String> = table(&read("docs/api.md"), "Routes")
        .iter()
        .flat_map(|row| code_spans(&row[1]).map(str::to_owned).collect::<Vec<_>>())
        .collect();
    let document = document();
    let generated: BTreeSet<String> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, operations)| {
            operations
                .as_object()
                .unwrap()
                .keys()
                .map(move |method| format!("{} {path}", method.to_uppercase()))
        })
        .collect();
    assert_eq!(documented, generated);
}

#[test]
fn the_contract_and_the_openapi_document_name_the_same_statuses_and_error_codes() {
    let contract = read("docs/api.md");
    let rows = table(&contract, "Status codes and errors");
    let statuses: BTreeSet<String> = rows.iter().map(|row| row[1].clone()).collect();
    let codes: BTreeSet<String> = rows
        .iter()
        .filter_map(|row| code_spans(&row[2]).next())
        .filter(|code| code.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .map(str::to_owned)
        .collect();

    let document = document();
    let mut responses: BTreeSet<String> = document["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|operations| operations.as_object().unwrap().values())
        .flat_map(|operation| operation["responses"].as_object().unwrap().keys().cloned())
        .collect();
    // API Gateway's throttling answer: in the document on every operation,
    // in the contract's text (not its table: no function sends it).
    assert!(responses.remove("429"), "429 in the document");
    assert!(contract.contains("`429`"), "429 in the contract");
    // A method a path does not serve has no operation to document it.
    responses.insert("405".into());
    assert_eq!(statuses, responses);

    let enum_codes: BTreeSet<String> = document["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .expect("the ErrorCode enum")
        .iter()
        .map(|code| code.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes, enum_codes);
}
